// A ceiling for nomnom-api: publishes the same payload straight to JetStream, each message with
// a unique Nats-Msg-Id, from C connections at once, and prints messages/s and latency
// percentiles (publish to PubAck) in the shape of wrk's summary. Synchronous: one PubAck awaited
// at a time per connection. --async W: up to W publishes awaiting their PubAck per connection
// (what nomnom-api's window allows), so JetStream and the client are the only limit.

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "nomnom/common/nats_client.hpp"

namespace {

constexpr const char* kUsage =
    "usage: jetstream_publish_bench --payload FILE [--url nats://127.0.0.1:4222]\n"
    "         [--subject messages.ingest.bench] [--connections 1] [--seconds 10]\n"
    "         [--async WINDOW]\n";

struct Options {
    std::string url = "nats://127.0.0.1:4222";
    std::string subject = "messages.ingest.bench";
    std::string payload_file;
    int connections = 1;
    int seconds = 10;
    int async_window = 0;  // 0: synchronous
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
        } else if (arg == "--async") {
            options.async_window = std::stoi(value);
        } else {
            throw std::runtime_error("unknown argument '" + arg + "'\n" + kUsage);
        }
    }
    if (options.payload_file.empty()) throw std::runtime_error(kUsage);
    if (options.connections < 1 || options.seconds < 1 || options.async_window < 0) {
        throw std::runtime_error(
            "--connections and --seconds must be at least 1, --async 0 or more");
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

// The PubAcks of one connection's asynchronous publishes: when each message went out.
struct AsyncAcks {
    std::mutex mutex;
    std::unordered_map<natsMsg*, std::chrono::steady_clock::time_point> sent;
    std::vector<double>* latencies = nullptr;
    std::atomic<int>* failures = nullptr;

    static void on_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr*, void* closure) {
        auto& acks = *static_cast<AsyncAcks*>(closure);
        const auto now = std::chrono::steady_clock::now();
        {
            const std::lock_guard lock(acks.mutex);
            const auto found = acks.sent.find(message);
            if (ack == nullptr) {
                ++*acks.failures;
            } else if (found != acks.sent.end()) {
                acks.latencies->push_back(
                    std::chrono::duration<double, std::micro>(now - found->second).count());
            }
            if (found != acks.sent.end()) acks.sent.erase(found);
        }
        natsMsg_Destroy(message);
    }
};

// One connection publishing with up to options.async_window PubAcks outstanding until
// `deadline`, then waiting for the last of them.
void publish_async_loop(const Options& options, const std::string& payload, int connection,
                        std::chrono::steady_clock::time_point deadline,
                        std::vector<double>& latencies, std::atomic<int>& failures) {
    nomnom::NatsConfig config;
    config.url = options.url;
    nomnom::NatsClient client(config);
    AsyncAcks acks;
    acks.latencies = &latencies;
    acks.failures = &failures;
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.PublishAsync.MaxPending = options.async_window;
    js_options.PublishAsync.StallWait = 5000;
    js_options.PublishAsync.AckHandler = &AsyncAcks::on_ack;
    js_options.PublishAsync.AckHandlerClosure = &acks;
    jsCtx* js = nullptr;
    nomnom::check_nats(natsConnection_JetStream(&js, client.connection(), &js_options),
                       "JetStream context");
    for (uint64_t n = 0; std::chrono::steady_clock::now() < deadline; ++n) {
        const std::string id = "bench-" + std::to_string(connection) + "-" + std::to_string(n);
        jsPubOptions publish;
        jsPubOptions_Init(&publish);
        publish.MsgId = id.c_str();
        publish.MaxWait = 5000;
        natsMsg* message = nullptr;
        natsMsg_Create(&message, options.subject.c_str(), nullptr, payload.data(),
                       static_cast<int>(payload.size()));
        {
            const std::lock_guard lock(acks.mutex);
            acks.sent.emplace(message, std::chrono::steady_clock::now());
        }
        natsMsg* key = message;
        if (js_PublishMsgAsync(js, &message, &publish) != NATS_OK) {
            ++failures;
            const std::lock_guard lock(acks.mutex);
            acks.sent.erase(key);
            natsMsg_Destroy(message);
        }
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 10000;
    js_PublishAsyncComplete(js, &wait);
    jsCtx_Destroy(js);
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
                const auto loop = options.async_window > 0 ? publish_async_loop : publish_loop;
                loop(options, payload, c, deadline, latencies[static_cast<size_t>(c)], failures);
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
            "jetstream %s publish: %d connection(s), %zu messages of %zu bytes in %.1f s, %d "
            "failed\n  %.0f msgs/s   p50 %.3f ms   p90 %.3f ms   p99 %.3f ms\n",
            options.async_window > 0 ? "async" : "sync", options.connections, all.size(),
            payload.size(), elapsed, failures.load(), static_cast<double>(all.size()) / elapsed,
            percentile(0.5), percentile(0.9), percentile(0.99));
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "jetstream_publish_bench: " << e.what() << "\n";
        return 1;
    }
}
