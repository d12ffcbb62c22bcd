// nomnom-api: HTTP ingestion into JetStream (see README.md, "nomnom-api").

#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>
#include <string>

#include "api_config.hpp"
#include "api_metrics.hpp"
#include "api_reload.hpp"
#include "api_server.hpp"
#include "bearer_auth.hpp"
#include "ingest_service.hpp"
#include "nomnom/common/logging.hpp"
#include "nomnom/common/nats_client.hpp"
#include "nomnom/common/prometheus.hpp"
#include "nomnom/common/redact.hpp"
#include "nomnom/common/signal_waiter.hpp"
#include "validator_child.hpp"
#include "validator_pool.hpp"

namespace {

constexpr const char* kUsage =
    "usage: nomnom-api [--config api.toml]\n"
    "  Serves POST /ingest/message[/{entity}], POST /ingest/batch, GET /ingest/status/{id},\n"
    "  /health, /ready and /metrics. Without --config the defaults apply; NATS_URL and PORT\n"
    "  override nats.url and the port of http.listen. SIGHUP re-reads the bearer tokens and\n"
    "  log.level and restarts the validators of [validate]; SIGTERM finishes the requests in\n"
    "  flight and exits.\n";

nomnom::api::ApiConfig read_config(int argc, char** argv) {
    std::string path;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--config" && i + 1 < argc) {
            path = argv[++i];
        } else if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            std::exit(0);
        } else {
            throw nomnom::ConfigError("unknown argument '" + arg + "'\n" + kUsage);
        }
    }
    return nomnom::api::read_api_config(path);
}

// Connects (retrying with back-off until SIGTERM/SIGINT) and prepares the stream.
std::unique_ptr<nomnom::NatsClient> connect(const nomnom::api::ApiConfig& config,
                                            nomnom::SignalWaiter& signals) {
    for (int attempt = 1;; ++attempt) {
        try {
            auto nats = std::make_unique<nomnom::NatsClient>(config.nats);
            nats->prepare_stream(config.stream);
            return nats;
        } catch (const std::exception& e) {
            if (!signals.wait_to_retry(attempt, e.what())) return nullptr;
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string_view(argv[1]) == "--validate-child") {
        return nomnom::api::run_validate_child(std::vector<std::string>(argv + 2, argv + argc));
    }
    nomnom::api::ApiConfig config;
    try {
        config = read_config(argc, argv);
    } catch (const nomnom::ConfigError& e) {
        std::cerr << "nomnom-api: " << e.what() << "\n";
        return 2;
    }
    nomnom::setup_logging(config.log);
    try {
        nomnom::api::BearerAuth auth(config.auth);
        nomnom::SignalWaiter signals;
        spdlog::info("nomnom-api {} starting: nats {}, stream {}, subject {}, auth {}",
                     NOMNOM_VERSION, nomnom::redact_url(config.nats.url), config.stream.name,
                     config.ingest.subject, auth.enabled() ? "bearer tokens" : "off");
        const std::unique_ptr<nomnom::NatsClient> nats = connect(config, signals);
        if (!nats) return 0;
        nomnom::api::ApiMetrics metrics(config.stream.name);
        nomnom::api::ValidatorPool validators(config, metrics);
        nomnom::api::IngestService service(config, *nats, metrics, validators);
        nomnom::api::ApiServer server(config, service, metrics, auth, [&] {
            std::string out;
            metrics.render(out);
            nomnom::prometheus_counter(out, "nomnom_api_status_write_failures_total",
                                       "accepted statuses that could not be written",
                                       service.status_write_failures());
            nomnom::prometheus_gauge(out, "nomnom_api_nats_connected",
                                     "1 while the NATS connection is up",
                                     nats->connected() ? 1 : 0);
            return out;
        });
        spdlog::info("nomnom-api listening on port {}", server.port());
        for (int reloads = 0;;) {
            const int signal = signals.wait(1000);
            if (signal == SIGTERM || signal == SIGINT) break;
            if (signal == SIGHUP) {
                ++reloads;
                spdlog::info("reload {} (SIGHUP): re-reading {}", reloads,
                             config.source.empty() ? "the defaults" : config.source.string());
                const bool ok = nomnom::api::reload_api_config(config, auth, validators);
                spdlog::info("reload {} {}", reloads, ok ? "succeeded" : "finished with errors");
            }
        }
        spdlog::info("stopping: finishing requests in flight");
        server.shutdown();
        nats->flush(5000);
        spdlog::info("stopped");
        return 0;
    } catch (const std::exception& e) {
        spdlog::critical("nomnom-api: {}", e.what());
        return 1;
    }
}
