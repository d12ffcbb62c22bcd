#include <spdlog/spdlog.h>

#include <cstring>
#include <iostream>

#include "dlq_tool.hpp"
#include "host.hpp"
#include "isolation/worker_process.hpp"
#include "nomnom/common/logging.hpp"
#include "parse_tool.hpp"
#include "status_tool.hpp"
#include "worker_config.hpp"

namespace {

constexpr const char* kUsage =
    "usage: nomnom-host --config worker.toml [--check-config]\n"
    "       nomnom-host dlq list|show|replay|purge --config worker.toml [options]\n"
    "       nomnom-host status --config worker.toml [--endpoint http://HOST:PORT]\n"
    "       nomnom-host parse --plugin PATH.so [options] [FILE...]   (see parse --help)\n"
    "       nomnom-host probe http://HOST:PORT/PATH   (exit 0 on HTTP 2xx: health checks)\n"
    "  --config FILE     worker configuration (TOML); see docker/worker.example.toml\n"
    "  --check-config    validate the config and every plugin (including create), then exit\n"
    "  --version         print the version and the plugin ABI\n";

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "dlq") == 0) {
        return nomnom::host::run_dlq_command(std::vector<std::string>(argv + 2, argv + argc));
    }
    if (argc > 1 && std::strcmp(argv[1], "probe") == 0) {
        return nomnom::host::run_probe_command(std::vector<std::string>(argv + 2, argv + argc));
    }
    if (argc > 1 && std::strcmp(argv[1], "--worker-child") == 0) {
        return nomnom::host::run_worker_child(std::vector<std::string>(argv + 2, argv + argc));
    }
    if (argc > 1 && std::strcmp(argv[1], "parse") == 0) {
        return nomnom::host::run_parse_command(std::vector<std::string>(argv + 2, argv + argc));
    }
    if (argc > 1 && std::strcmp(argv[1], "status") == 0) {
        return nomnom::host::run_status_command(std::vector<std::string>(argv + 2, argv + argc));
    }
    std::string config_path;
    bool check_only = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (std::strcmp(argv[i], "--check-config") == 0) {
            check_only = true;
        } else if (std::strcmp(argv[i], "--version") == 0) {
            std::cout << "nomnom-host " << NOMNOM_VERSION << " (plugin ABI " << NOMNOM_ABI_MAJOR
                      << "." << NOMNOM_ABI_MINOR << ")\n";
            return 0;
        } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
            std::cout << kUsage;
            return 0;
        } else {
            std::cerr << "nomnom-host: unknown argument '" << argv[i] << "'\n" << kUsage;
            return 2;
        }
    }
    if (config_path.empty()) {
        std::cerr << "nomnom-host: --config is required\n" << kUsage;
        return 2;
    }
    nomnom::host::WorkerConfig config;
    try {
        config = nomnom::host::load_worker_config(config_path);
    } catch (const nomnom::ConfigError& e) {
        std::cerr << "nomnom-host: invalid config: " << e.what() << "\n";
        return 2;
    }
    nomnom::setup_logging(config.log);
    if (check_only) return nomnom::host::check_config(config);
    try {
        nomnom::SignalWaiter signals;
        nomnom::host::Host host(std::move(config));
        return host.run(signals);
    } catch (const std::exception& e) {
        spdlog::critical("nomnom-host: {}", e.what());
        return 1;
    }
}
