#include "dlq_tool.hpp"

#include <chrono>
#include <ctime>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <set>

#include "nomnom/common/nats_client.hpp"
#include "ops/dead_letter_queue.hpp"
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
    "  --class C    only dead letters of class C (invalid, data, retries_exhausted, crashed,\n"
    "               timeout)\n"
    "  --since T    only those dead-lettered since T (RFC 3339 like 2026-01-31T12:00:00Z, or an\n"
    "               age like 30m, 12h, 7d)\n"
    "  --seq N      only the dead letter with DLQ stream sequence N\n"
    "  --limit N    at most N dead letters\n"
    "  --yes        confirm purge\n";

struct Options {
    std::string command;
    std::string config;
    DeadLetterFilter filter;
    uint64_t limit = UINT64_MAX;
    bool yes = false;
};

void print_line(uint64_t seq, natsMsg* message) {
    std::cout << seq << "  " << header_of(message, dlq_header::kTimestamp) << "  "
              << header_of(message, dlq_header::kPlugin) << "  "
              << header_of(message, dlq_header::kErrorClass) << "  "
              << header_of(message, dlq_header::kSubject) << "#"
              << header_of(message, dlq_header::kStreamSequence) << "  "
              << header_of(message, dlq_header::kError) << "\n";
}

void print_full(DeadLetterQueue& queue, uint64_t seq, natsMsg* message) {
    std::cout << "dead letter " << seq << "\n";
    const auto print_headers = [](natsMsg* of) {
        for_each_header(of, [](const char* key, const char* value) {
            std::cout << key << ": " << value << "\n";
        });
    };
    print_headers(message);
    const NatsMsgPtr original = queue.original_of(seq, message);
    if (original) {
        std::cout << "\noriginal, read from stream " << header_of(message, dlq_header::kStream)
                  << " seq " << header_of(message, dlq_header::kStreamSequence) << ":\n";
        print_headers(original.get());
    }
    std::cout << "\n";
    natsMsg* source = original ? original.get() : message;
    std::cout.write(natsMsg_GetData(source), natsMsg_GetDataLength(source));
    std::cout << "\n";
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
            options.filter.plugin = args[++i];
        } else if ((arg == "--class" || arg == "--since") && has_value) {
            try {
                if (arg == "--class") {
                    options.filter.error_class = dead_letter_class(args[++i]);
                } else {
                    options.filter.since = since_timestamp(args[++i]);
                }
            } catch (const std::invalid_argument& e) {
                std::cerr << "nomnom-host dlq: --" << e.what() << "\n";
                return std::nullopt;
            }
        } else if (arg == "--seq" && has_value) {
            options.filter.seq = std::stoull(args[++i]);
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
    if (options.command == "show" && !options.filter.seq) {
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
        DeadLetterQueue queue(client, config.dlq);
        // The selected letters, oldest first, at most --limit.
        const auto for_each = [&](const DeadLetterQueue::Visit& visit) {
            uint64_t visited = 0;
            queue.for_each(options->filter, [&](uint64_t seq, natsMsg* letter) {
                if (visited == options->limit) return false;
                ++visited;
                visit(seq, letter);
                return true;
            });
        };
        size_t done = 0;
        size_t failed = 0;
        if (options->command == "list") {
            for_each([&](uint64_t seq, natsMsg* m) {
                print_line(seq, m);
                ++done;
            });
            std::cerr << done << " dead letter(s)\n";
        } else if (options->command == "show") {
            for_each([&](uint64_t seq, natsMsg* m) {
                print_full(queue, seq, m);
                ++done;
            });
            if (done == 0) std::cerr << "no dead letter " << *options->filter.seq << "\n";
        } else if (options->command == "replay") {
            for_each([&](uint64_t seq, natsMsg* letter) {
                try {
                    queue.replay(seq, letter);
                    std::cout << "replayed " << seq << " to "
                              << header_of(letter, dlq_header::kSubject) << "\n";
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
            for_each([&](uint64_t seq, natsMsg*) { selected.push_back(seq); });
            if (!options->yes) {
                std::cerr << "would delete " << selected.size()
                          << " dead letter(s); run again with --yes to delete them\n";
                return selected.empty() ? 0 : 1;
            }
            size_t deleted = 0;
            for (const uint64_t seq : selected) deleted += queue.remove(seq) ? 1 : 0;
            std::cerr << deleted << " dead letter(s) deleted\n";
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
