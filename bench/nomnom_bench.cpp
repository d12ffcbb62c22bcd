// nomnom-bench: the ceilings bench/run.sh measures the host against, on the same machine and
// data, each as small as the operation allows:
//   nomnom-bench stream URL STREAM SUBJECT           (re)create STREAM capturing SUBJECT, empty
//   nomnom-bench fetch-ack URL STREAM SUBJECT COUNT BATCH
//                                                    a bare pull consumer: fetch + ack COUNT
//   nomnom-bench parse FILE                          RapidJSON parse of every line of FILE
//   nomnom-bench plugin-parse PLUGIN.so SUBJECT FILE the host's parse path alone: every line of
//                                                    FILE through the plugin into row buffers, in
//                                                    batches of 1000 (not a ceiling: what the host
//                                                    spends parsing; run it under callgrind for
//                                                    repeatable instruction counts)
// Each measuring command prints one line "<name>_per_s=<rate> count=<n> seconds=<s>".
#include <nats/nats.h>
#include <rapidjson/document.h>

#include "db/plugin_db_api.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/row_batch.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what, natsStatus status) {
    std::cerr << "nomnom-bench: " << what << ": " << natsStatus_GetText(status) << " "
              << nats_GetLastError(nullptr) << "\n";
    std::exit(1);
}

void check(natsStatus status, const std::string& what) {
    if (status != NATS_OK) fail(what, status);
}

struct Connection {
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;

    explicit Connection(const std::string& url) {
        check(natsConnection_ConnectTo(&nc, url.c_str()), "connect " + url);
        check(natsConnection_JetStream(&js, nc, nullptr), "jetstream");
    }
    ~Connection() {
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
    }
};

void report(const char* name, std::size_t count, Clock::duration elapsed) {
    const double seconds = std::chrono::duration<double>(elapsed).count();
    std::printf("%s_per_s=%.0f count=%zu seconds=%.3f\n", name, count / seconds, count, seconds);
}

int stream(const std::string& url, const std::string& name, const std::string& subject) {
    Connection c(url);
    jsErrCode error = jsErrCode(0);
    js_DeleteStream(c.js, name.c_str(), nullptr, &error);
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = name.c_str();
    const char* subjects[] = {subject.c_str()};
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    check(js_AddStream(nullptr, c.js, &config, nullptr, &error), "create stream " + name);
    return 0;
}

int fetch_ack(const std::string& url, const std::string& stream_name, const std::string& subject,
              std::size_t count, int batch) {
    Connection c(url);
    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = stream_name.c_str();
    options.Config.AckPolicy = js_AckExplicit;
    options.Config.DeliverPolicy = js_DeliverAll;
    options.Config.MaxAckPending = -1;
    natsSubscription* subscription = nullptr;
    jsErrCode error = jsErrCode(0);
    check(js_PullSubscribe(&subscription, c.js, subject.c_str(), "nomnom-bench-ceiling", nullptr,
                           &options, &error),
          "pull subscribe");
    std::size_t done = 0;
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::minutes(10);
    while (done < count && Clock::now() < deadline) {
        natsMsgList list{};
        const natsStatus status = natsSubscription_Fetch(&list, subscription, batch, 2000, &error);
        if (status == NATS_TIMEOUT) continue;
        check(status, "fetch");
        for (int k = 0; k < list.Count; ++k) check(natsMsg_Ack(list.Msgs[k], nullptr), "ack");
        done += static_cast<std::size_t>(list.Count);
        natsMsgList_Destroy(&list);
    }
    check(natsConnection_Flush(c.nc), "flush acks");
    const auto elapsed = Clock::now() - start;
    js_DeleteConsumer(c.js, stream_name.c_str(), "nomnom-bench-ceiling", nullptr, &error);
    natsSubscription_Destroy(subscription);
    if (done < count) {
        std::cerr << "nomnom-bench: fetched " << done << " of " << count << " in 10 minutes\n";
        return 1;
    }
    report("fetch_ack", done, elapsed);
    return 0;
}

std::vector<std::string> read_lines(const std::string& file) {
    std::ifstream in(file);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) lines.push_back(std::move(line));
    }
    return lines;
}

int parse(const std::string& file) {
    const std::vector<std::string> lines = read_lines(file);
    std::size_t items = 0;
    const auto start = Clock::now();
    for (const auto& line : lines) {
        rapidjson::Document document;
        document.Parse<rapidjson::kParseFullPrecisionFlag>(line.data(), line.size());
        if (document.HasParseError() || !document.IsObject()) continue;
        const auto found = document.FindMember("line_items");
        if (found != document.MemberEnd() && found->value.IsArray()) {
            items += found->value.Size();
        }
    }
    const auto elapsed = Clock::now() - start;
    report("parse", lines.size(), elapsed);
    return items > 0 ? 0 : 1;
}

int plugin_parse(const std::string& plugin, const std::string& subject, const std::string& file) {
    const std::vector<std::string> lines = read_lines(file);
    const auto library = nomnom::host::PluginLibrary::open(plugin);
    nomnom::host::PluginInstance instance(library, "{}", nomnom::host::host_api());
    nomnom::host::RowBatch rows(library->descriptor());
    constexpr uint32_t kBatch = 1000;
    std::size_t refused = 0;
    std::string reason;
    const auto start = Clock::now();
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (i % kBatch == 0) rows.clear();
        nomnom_message message{};
        message.struct_size = sizeof message;
        message.payload = {lines[i].data(), lines[i].size()};
        message.subject = {subject.data(), subject.size()};
        message.delivery_count = 1;
        if (instance.parse(message, rows, static_cast<uint32_t>(i % kBatch), reason) != NOMNOM_OK) {
            ++refused;
        }
    }
    const auto elapsed = Clock::now() - start;
    if (refused > 0) {
        std::cerr << "nomnom-bench: the plugin refused " << refused << " of " << lines.size()
                  << " messages, the last because: " << reason << "\n";
        return 1;
    }
    report("plugin_parse", lines.size(), elapsed);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 4 && args[0] == "stream") return stream(args[1], args[2], args[3]);
    if (args.size() == 6 && args[0] == "fetch-ack") {
        return fetch_ack(args[1], args[2], args[3], std::stoul(args[4]), std::stoi(args[5]));
    }
    if (args.size() == 2 && args[0] == "parse") return parse(args[1]);
    if (args.size() == 4 && args[0] == "plugin-parse") {
        return plugin_parse(args[1], args[2], args[3]);
    }
    std::cerr << "usage: nomnom-bench stream URL STREAM SUBJECT\n"
                 "       nomnom-bench fetch-ack URL STREAM SUBJECT COUNT BATCH\n"
                 "       nomnom-bench parse FILE\n"
                 "       nomnom-bench plugin-parse PLUGIN.so SUBJECT FILE\n";
    return 2;
}
