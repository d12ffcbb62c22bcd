// nomnom-publish: sends messages to JetStream and waits until the server stored every one of them.
// For demos, benchmarks and replaying files; HTTP clients use nomnom-api instead.

#include <nats/nats.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "nomnom/common/nats_client.hpp"

namespace {

constexpr const char* kUsage =
    "usage: nomnom-publish --subject SUBJECT [--url nats://127.0.0.1:4222] [--whole] [FILE]\n"
    "  Publishes every non-empty line of FILE (or stdin) as one message, or with --whole the\n"
    "  entire input as a single message, and exits 0 once JetStream acknowledged all of them.\n"
    "  --id-prefix P   set Nats-Msg-Id to P<line number> so that a re-run is deduplicated\n"
    "  --rate N        publish at most N messages per second (paced evenly; for latency tests)\n";

struct Options {
    std::string url = "nats://127.0.0.1:4222";
    std::string subject;
    std::string file;
    std::string id_prefix;
    bool whole = false;
    double rate = 0;  // messages per second; 0: as fast as the window allows
};

// Sleeps until the next message is due, so that messages leave at an even `rate` per second
// from the first one on, whatever each publish call cost.
class Pacer {
  public:
    explicit Pacer(double rate) : rate_(rate) {}
    void wait(size_t number) {
        if (rate_ <= 0) return;
        const auto due = start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                      std::chrono::duration<double>((number - 1) / rate_));
        std::this_thread::sleep_until(due);
    }

  private:
    double rate_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

void publish(jsCtx* js, const Options& options, const std::string& payload, size_t number) {
    natsMsg* message = nullptr;
    nomnom::check_nats(natsMsg_Create(&message, options.subject.c_str(), nullptr, payload.data(),
                                      static_cast<int>(payload.size())),
                       "natsMsg_Create");
    if (!options.id_prefix.empty()) {
        const std::string id = options.id_prefix + std::to_string(number);
        natsMsgHeader_Set(message, "Nats-Msg-Id", id.c_str());
    }
    // On success the library owns the message.
    const natsStatus status = js_PublishMsgAsync(js, &message, nullptr);
    if (status != NATS_OK) natsMsg_Destroy(message);
    nomnom::check_nats(status, "publishing message " + std::to_string(number));
}

int failures = 0;

void on_publish_error(jsCtx*, jsPubAckErr* error, void*) {
    ++failures;
    if (failures <= 5) {
        std::cerr << "nomnom-publish: not stored: " << (error->ErrText ? error->ErrText : "?")
                  << "\n";
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--url" && i + 1 < argc) {
            options.url = argv[++i];
        } else if (arg == "--subject" && i + 1 < argc) {
            options.subject = argv[++i];
        } else if (arg == "--id-prefix" && i + 1 < argc) {
            options.id_prefix = argv[++i];
        } else if (arg == "--rate" && i + 1 < argc) {
            options.rate = std::atof(argv[++i]);
            if (options.rate <= 0) {
                std::cerr << "nomnom-publish: --rate must be a positive number\n";
                return 2;
            }
        } else if (arg == "--whole") {
            options.whole = true;
        } else if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            return 0;
        } else if (!arg.starts_with("--") && options.file.empty()) {
            options.file = arg;
        } else {
            std::cerr << "nomnom-publish: unknown argument '" << arg << "'\n" << kUsage;
            return 2;
        }
    }
    if (options.subject.empty()) {
        std::cerr << "nomnom-publish: --subject is required\n" << kUsage;
        return 2;
    }
    std::ifstream file;
    if (!options.file.empty()) {
        file.open(options.file);
        if (!file) {
            std::cerr << "nomnom-publish: cannot open " << options.file << "\n";
            return 1;
        }
    }
    std::istream& in = options.file.empty() ? std::cin : file;
    try {
        nomnom::NatsConfig config;
        config.url = options.url;
        nomnom::NatsClient client(config);
        // A context of our own: bounded in-flight window, and failures counted, not dropped.
        jsOptions js_options;
        jsOptions_Init(&js_options);
        js_options.PublishAsync.MaxPending = 4096;
        js_options.PublishAsync.ErrHandler = on_publish_error;
        jsCtx* js = nullptr;
        nomnom::check_nats(natsConnection_JetStream(&js, client.connection(), &js_options),
                           "JetStream context");
        std::unique_ptr<jsCtx, decltype(&jsCtx_Destroy)> js_owner(js, jsCtx_Destroy);
        size_t count = 0;
        if (options.whole) {
            std::ostringstream all;
            all << in.rdbuf();
            publish(js, options, all.str(), ++count);
        } else {
            std::string line;
            Pacer pacer(options.rate);
            while (std::getline(in, line)) {
                if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
                pacer.wait(++count);
                publish(js, options, line, count);
            }
        }
        jsPubOptions wait;
        jsPubOptions_Init(&wait);
        wait.MaxWait = 30000;
        nomnom::check_nats(js_PublishAsyncComplete(js, &wait),
                           "waiting for JetStream acknowledgements");
        natsMsgList failed{};
        if (js_PublishAsyncGetPendingList(&failed, js) == NATS_OK) {
            std::cerr << "nomnom-publish: " << failed.Count << " message(s) not acknowledged\n";
            natsMsgList_Destroy(&failed);
            return 1;
        }
        if (failures > 0) {
            std::cerr << "nomnom-publish: " << failures << " message(s) refused by JetStream\n";
            return 1;
        }
        std::cerr << "nomnom-publish: " << count << " message(s) stored on " << options.subject
                  << "\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "nomnom-publish: " << e.what() << "\n";
        return 1;
    }
}
