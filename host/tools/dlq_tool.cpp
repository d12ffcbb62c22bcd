#include "dlq_tool.hpp"

#include <chrono>
#include <ctime>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <set>

#include "nomnom/common/nats_client.hpp"
#include "pipeline/dead_letter.hpp"
#include "worker_config.hpp"

namespace nomnom::host {
namespace {

constexpr const char* kUsage =
    "usage: nomnom-host dlq COMMAND --config worker.toml [options]\n"
    "commands:\n"
    "  list     one line per dead letter: sequence, time, plugin, class, origin, reason\n"
    "  show     headers and payload of the dead letter --seq N\n"
    "  replay   publish the selected dead letters to their original subjects, then delete them\n"
    "  purge    delete the selected dead letters (asks for --yes)\n"
    "options:\n"
    "  --plugin P   only dead letters of plugin P\n"
    "  --since T    only those dead-lettered since T (RFC 3339 like 2026-01-31T12:00:00Z, or an\n"
    "               age like 30m, 12h, 7d)\n"
    "  --seq N      only the dead letter with DLQ stream sequence N\n"
    "  --limit N    at most N dead letters\n"
    "  --yes        confirm purge\n";

struct Options {
    std::string command;
    std::string config;
    std::string plugin;
    std::string since;
    std::optional<uint64_t> seq;
    uint64_t limit = UINT64_MAX;
    bool yes = false;
};

std::string header(natsMsg* message, const char* key) {
    const char* value = nullptr;
    return natsMsgHeader_Get(message, key, &value) == NATS_OK && value ? value : "";
}

// "30m", "12h", "7d" -> a timestamp that far back; anything else is taken as a timestamp.
std::string since_timestamp(const std::string& since) {
    if (since.size() < 2) return since;
    const char unit = since.back();
    const std::string number = since.substr(0, since.size() - 1);
    if (number.find_first_not_of("0123456789") != std::string::npos) return since;
    const long long amount = std::stoll(number);
    const long long seconds = unit == 's'   ? amount
                              : unit == 'm' ? amount * 60
                              : unit == 'h' ? amount * 3600
                              : unit == 'd' ? amount * 86400
                                            : -1;
    if (seconds < 0) return since;
    const std::time_t then = std::time(nullptr) - seconds;
    std::tm parts{};
    ::gmtime_r(&then, &parts);
    char text[40];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S.000Z", &parts);
    return text;
}

class DeadLetterStream {
  public:
    DeadLetterStream(NatsClient& client, std::string name)
        : client_(client), name_(std::move(name)) {}

    // Calls `visit` for every dead letter matching the options, oldest first.
    void for_each(const Options& options, const std::function<void(uint64_t, natsMsg*)>& visit) {
        jsStreamInfo* info = nullptr;
        jsErrCode js_error = jsErrCode(0);
        check_nats(js_GetStreamInfo(&info, client_.jetstream(), name_.c_str(), nullptr, &js_error),
                   "reading dead-letter stream " + name_, js_error);
        uint64_t first = info->State.FirstSeq;
        uint64_t last = info->State.LastSeq;
        jsStreamInfo_Destroy(info);
        if (options.seq) first = last = *options.seq;
        const std::string since = options.since.empty() ? "" : since_timestamp(options.since);
        uint64_t shown = 0;
        for (uint64_t seq = first; seq != 0 && seq <= last && shown < options.limit; ++seq) {
            natsMsg* raw = nullptr;
            const natsStatus status =
                js_GetMsg(&raw, client_.jetstream(), name_.c_str(), seq, nullptr, &js_error);
            if (status == NATS_NOT_FOUND) continue;  // deleted: replayed or purged
            check_nats(status, "reading dead letter " + std::to_string(seq), js_error);
            NatsMsgPtr message(raw);
            if (!options.plugin.empty() && header(raw, dlq_header::kPlugin) != options.plugin) {
                continue;
            }
            if (!since.empty() && header(raw, dlq_header::kTimestamp) < since) continue;
            ++shown;
            visit(seq, raw);
        }
    }

    void remove(uint64_t seq) {
        jsErrCode js_error = jsErrCode(0);
        check_nats(js_DeleteMsg(client_.jetstream(), name_.c_str(), seq, nullptr, &js_error),
                   "deleting dead letter " + std::to_string(seq), js_error);
    }

  private:
    NatsClient& client_;
    std::string name_;
};

void print_line(uint64_t seq, natsMsg* message) {
    std::cout << seq << "  " << header(message, dlq_header::kTimestamp) << "  "
              << header(message, dlq_header::kPlugin) << "  "
              << header(message, dlq_header::kErrorClass) << "  "
              << header(message, dlq_header::kSubject) << "#"
              << header(message, dlq_header::kStreamSequence) << "  "
              << header(message, dlq_header::kError) << "\n";
}

// For a letter too large to hold the payload and the original's headers (dlq_header::kPayload),
// the original in its stream; nullptr for a letter that holds them itself.
NatsMsgPtr original_in_stream(NatsClient& client, uint64_t seq, natsMsg* letter) {
    if (header(letter, dlq_header::kPayload) != dlq_header::kPayloadInStream) return nullptr;
    natsMsg* copy = nullptr;
    const std::string stream = header(letter, dlq_header::kStream);
    const std::string original = header(letter, dlq_header::kStreamSequence);
    jsErrCode js_error = jsErrCode(0);
    const natsStatus status = js_GetMsg(&copy, client.jetstream(), stream.c_str(),
                                        std::stoull(original), nullptr, &js_error);
    if (status == NATS_NOT_FOUND) {
        throw NatsError("the payload of dead letter " + std::to_string(seq) +
                        " was too large to copy and its original (stream " + stream + " seq " +
                        original +
                        ") is gone: aged out of the stream (max_age, max_bytes) or "
                        "deleted");
    }
    check_nats(status, "reading the original of dead letter " + std::to_string(seq), js_error);
    return NatsMsgPtr(copy);
}

void print_full(NatsClient& client, uint64_t seq, natsMsg* message) {
    std::cout << "dead letter " << seq << "\n";
    const auto print_headers = [](natsMsg* of) {
        for_each_header(of, [](const char* key, const char* value) {
            std::cout << key << ": " << value << "\n";
        });
    };
    print_headers(message);
    const NatsMsgPtr original = original_in_stream(client, seq, message);
    if (original) {
        std::cout << "\noriginal, read from stream " << header(message, dlq_header::kStream)
                  << " seq " << header(message, dlq_header::kStreamSequence) << ":\n";
        print_headers(original.get());
    }
    std::cout << "\n";
    natsMsg* source = original ? original.get() : message;
    std::cout.write(natsMsg_GetData(source), natsMsg_GetDataLength(source));
    std::cout << "\n";
}

// Publishes the original payload back to its subject with the original's own headers and a
// bumped replay count; the dead letter's metadata headers stay behind.
void replay(NatsClient& client, const DlqConfig& config, uint64_t seq, natsMsg* letter) {
    const std::string replays_text = header(letter, dlq_header::kReplayCount);
    const int64_t replays = replays_text.empty() ? 0 : std::stoll(replays_text);
    if (replays >= config.max_replays) {
        throw NatsError("dead letter " + std::to_string(seq) + " was replayed " +
                        std::to_string(replays) + " times already (dlq.max_replays = " +
                        std::to_string(config.max_replays) + "); not replayed again");
    }
    const std::string subject = header(letter, dlq_header::kSubject);
    if (subject.empty()) throw NatsError("dead letter " + std::to_string(seq) + " has no subject");
    const NatsMsgPtr original = original_in_stream(client, seq, letter);
    natsMsg* source = original ? original.get() : letter;
    natsMsg* created = nullptr;
    check_nats(natsMsg_Create(&created, subject.c_str(), nullptr, natsMsg_GetData(source),
                              natsMsg_GetDataLength(source)),
               "creating replay");
    const NatsMsgPtr out(created);
    static const std::set<std::string> metadata = {
        dlq_header::kSubject,       dlq_header::kStream,      dlq_header::kStreamSequence,
        dlq_header::kDeliveryCount, dlq_header::kPlugin,      dlq_header::kPluginVersion,
        dlq_header::kErrorClass,    dlq_header::kError,       dlq_header::kHost,
        dlq_header::kTimestamp,     dlq_header::kReplayCount, dlq_header::kPayload};
    for_each_header(source, [&](const char* key, const char* value) {
        if (metadata.contains(key) || std::string_view(key).starts_with("Nats-")) return;
        natsMsgHeader_Set(created, key, value);
    });
    natsMsgHeader_Set(created, dlq_header::kReplayCount, std::to_string(replays + 1).c_str());

    // Replaying the same dead letter twice inside the duplicate window stores it once.
    const std::string id = "nomnom-replay:" + config.stream + ":" + std::to_string(seq);
    const PublishOutcome outcome = client.publish_awaiting_ack(created, {.msg_id = id.c_str()});
    check_nats(outcome.status, "replaying dead letter " + std::to_string(seq) + " to " + subject,
               outcome.js_error);
}

std::optional<Options> parse_options(const std::vector<std::string>& args) {
    Options options;
    if (args.empty()) return std::nullopt;
    options.command = args[0];
    for (size_t i = 1; i < args.size(); ++i) {
        const std::string& arg = args[i];
        const bool has_value = i + 1 < args.size();
        if (arg == "--config" && has_value) {
            options.config = args[++i];
        } else if (arg == "--plugin" && has_value) {
            options.plugin = args[++i];
        } else if (arg == "--since" && has_value) {
            options.since = args[++i];
        } else if (arg == "--seq" && has_value) {
            options.seq = std::stoull(args[++i]);
        } else if (arg == "--limit" && has_value) {
            options.limit = std::stoull(args[++i]);
        } else if (arg == "--yes") {
            options.yes = true;
        } else {
            std::cerr << "nomnom-host dlq: unknown argument '" << arg << "'\n";
            return std::nullopt;
        }
    }
    static const std::set<std::string> commands = {"list", "show", "replay", "purge"};
    if (!commands.contains(options.command) || options.config.empty()) return std::nullopt;
    if (options.command == "show" && !options.seq) {
        std::cerr << "nomnom-host dlq show: --seq N is required\n";
        return std::nullopt;
    }
    return options;
}

}  // namespace

int run_dlq_command(const std::vector<std::string>& args) {
    std::optional<Options> options;
    try {
        options = parse_options(args);
    } catch (const std::exception&) {
        std::cerr << "nomnom-host dlq: --seq and --limit take a number\n";
    }
    if (!options) {
        std::cerr << kUsage;
        return 2;
    }
    try {
        const WorkerConfig config = load_worker_config(options->config);
        NatsClient client(config.nats);
        DeadLetterStream stream(client, config.dlq.stream);
        size_t done = 0;
        size_t failed = 0;
        if (options->command == "list") {
            stream.for_each(*options, [&](uint64_t seq, natsMsg* m) {
                print_line(seq, m);
                ++done;
            });
            std::cerr << done << " dead letter(s)\n";
        } else if (options->command == "show") {
            stream.for_each(*options, [&](uint64_t seq, natsMsg* m) {
                print_full(client, seq, m);
                ++done;
            });
            if (done == 0) std::cerr << "no dead letter " << *options->seq << "\n";
        } else if (options->command == "replay") {
            stream.for_each(*options, [&](uint64_t seq, natsMsg* letter) {
                try {
                    replay(client, config.dlq, seq, letter);
                    stream.remove(seq);
                    std::cout << "replayed " << seq << " to "
                              << header(letter, dlq_header::kSubject) << "\n";
                    ++done;
                } catch (const NatsError& e) {
                    std::cerr << e.what() << "\n";
                    ++failed;
                } catch (const std::logic_error& e) {
                    // std::stoull/stoll on a header an operator or another tool mangled: that
                    // letter only.
                    std::cerr << "dead letter " << seq << ": a malformed number in its headers ("
                              << e.what() << "); not replayed\n";
                    ++failed;
                }
            });
            std::cerr << done << " replayed, " << failed << " not replayed\n";
        } else {
            std::vector<uint64_t> selected;
            stream.for_each(*options, [&](uint64_t seq, natsMsg*) { selected.push_back(seq); });
            if (!options->yes) {
                std::cerr << "would delete " << selected.size()
                          << " dead letter(s); run again with --yes to delete them\n";
                return selected.empty() ? 0 : 1;
            }
            for (const uint64_t seq : selected) stream.remove(seq);
            std::cerr << selected.size() << " dead letter(s) deleted\n";
        }
        if (options->command == "show" && done == 0) return 1;
        return failed == 0 ? 0 : 1;
    } catch (const ConfigError& e) {
        std::cerr << "nomnom-host dlq: invalid config: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "nomnom-host dlq: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace nomnom::host
