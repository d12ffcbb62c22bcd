// The ceiling for nomnom-api: publishes the same payload straight to JetStream with a
// synchronous PubAck per message (what the API does per request), from C connections at once,
// and prints messages/s and latency percentiles in the shape of wrk's summary.

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "nomnom/common/nats_client.hpp"

namespace {

constexpr const char* kUsage =
    "usage: jetstream_publish_bench --payload FILE [--url nats://127.0.0.1:4222]\n"
    "         [--subject messages.ingest.bench] [--connections 1] [--seconds 10]\n";

struct Options {
    std::string url = "nats://127.0.0.1:4222";
    std::string subject = "messages.ingest.bench";
    std::string payload_file;
    int connections = 1;
    int seconds = 10;
};

Options parse(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc) throw std::runtime_error("missing value after " + arg + "\n" + kUsage);
        const std::string value = argv[++i];
        if (arg == "--url") {
            options.url = value;
        } else if (arg == "--subject") {
            options.subject = value;
        } else if (arg == "--payload") {
            options.payload_file = value;
        } else if (arg == "--connections") {
            options.connections = std::stoi(value);
        } else if (arg == "--seconds") {
            options.seconds = std::stoi(value);
        } else {
            throw std::runtime_error("unknown argument '" + arg + "'\n" + kUsage);
        }
    }
    if (options.payload_file.empty()) throw std::runtime_error(kUsage);
    if (options.connections < 1 || options.seconds < 1) {
        throw std::runtime_error("--connections and --seconds must be at least 1");
    }
    return options;
}

// One connection publishing back to back until `deadline`; latencies in microseconds.
void publish_loop(const Options& options, const std::string& payload, int connection,
                  std::chrono::steady_clock::time_point deadline, std::vector<double>& latencies,
                  std::atomic<int>& failures) {
    nomnom::NatsConfig config;
    config.url = options.url;
    nomnom::NatsClient client(config);
    for (uint64_t n = 0; std::chrono::steady_clock::now() < deadline; ++n) {
        const std::string id = "bench-" + std::to_string(connection) + "-" + std::to_string(n);
        jsPubOptions publish;
        jsPubOptions_Init(&publish);
        publish.MsgId = id.c_str();
        const auto started = std::chrono::steady_clock::now();
        jsPubAck* ack = nullptr;
        const natsStatus status =
            js_Publish(&ack, client.jetstream(), options.subject.c_str(), payload.data(),
                       static_cast<int>(payload.size()), &publish, nullptr);
        jsPubAck_Destroy(ack);
        if (status != NATS_OK) {
            ++failures;
            continue;
        }
        latencies.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started)
                .count());
    }
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const Options options = parse(argc, argv);
        std::ifstream in(options.payload_file);
        if (!in) throw std::runtime_error(options.payload_file + ": cannot open");
        std::ostringstream text;
        text << in.rdbuf();
        std::string payload = text.str();
        while (!payload.empty() && payload.back() == '\n') payload.pop_back();

        std::vector<std::vector<double>> latencies(static_cast<size_t>(options.connections));
        std::atomic<int> failures{0};
        const auto started = std::chrono::steady_clock::now();
        const auto deadline = started + std::chrono::seconds(options.seconds);
        std::vector<std::thread> threads;
        for (int c = 0; c < options.connections; ++c) {
            threads.emplace_back([&, c] {
                publish_loop(options, payload, c, deadline, latencies[static_cast<size_t>(c)],
                             failures);
            });
        }
        for (auto& thread : threads) thread.join();
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::vector<double> all;
        for (const auto& part : latencies) all.insert(all.end(), part.begin(), part.end());
        if (all.empty()) throw std::runtime_error("no publish succeeded");
        std::sort(all.begin(), all.end());
        const auto percentile = [&](double p) {
            return all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))] / 1000.0;
        };
        std::printf(
            "jetstream sync publish: %d connection(s), %zu messages of %zu bytes in %.1f s, %d "
            "failed\n  %.0f msgs/s   p50 %.3f ms   p90 %.3f ms   p99 %.3f ms\n",
            options.connections, all.size(), payload.size(), elapsed, failures.load(),
            static_cast<double>(all.size()) / elapsed, percentile(0.5), percentile(0.9),
            percentile(0.99));
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "jetstream_publish_bench: " << e.what() << "\n";
        return 1;
    }
}
