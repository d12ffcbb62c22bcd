#include "validator_child.hpp"

#include <nats/nats.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

#include "nomnom/common/logging.hpp"
#include "nomnom/common/nats_client.hpp"
#include "nomnom/common/subject_match.hpp"
#include "pipeline/incoming_message.hpp"
#include "plugins/host_api.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_library.hpp"
#include "plugins/row_batch.hpp"
#include "validate_frame.hpp"
#include "worker_config.hpp"

namespace nomnom::api {
namespace {

using host::PluginInstance;
using host::PluginLibrary;
using host::RowBatch;

constexpr int kChannelFd = 3;

// No database here: a plugin gets a database handle only in persist, which never runs.
const nomnom_host_api kValidatorApi = host::make_host_api(nullptr, nullptr);

// The signal a plugin call dies of goes to the API before it takes its course (the default, or
// a sanitizer's report, which ends in abort()), as the host's inflight record keeps it.
constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
struct sigaction previous_actions[NSIG];
std::string signal_frames[NSIG];  // built before any call: the handler only sends
volatile sig_atomic_t in_plugin_call = 0;
std::atomic<bool> signal_told{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void on_fatal_signal(int signal) {
    if (in_plugin_call != 0 && !signal_told.exchange(true)) {
        const std::string& frame = signal_frames[signal];
        ::send(kChannelFd, frame.data(), frame.size(), MSG_NOSIGNAL);
    }
    ::sigaction(signal, &previous_actions[signal], nullptr);
    ::raise(signal);  // blocked until this handler returns, then delivered as before
}

void install_fatal_signal_handlers() {
    struct sigaction action {};
    action.sa_handler = on_fatal_signal;
    sigemptyset(&action.sa_mask);
    for (const int signal : kFatalSignals) {
        signal_frames[signal] = encode_frame({reply::kSignal, std::to_string(signal)});
        ::sigaction(signal, &action, &previous_actions[signal]);
    }
}

struct LoadedPlugin {
    std::shared_ptr<PluginLibrary> library;
    std::vector<std::string> subjects;  // as the host consumes them
    std::unique_ptr<PluginInstance> instance;
    std::unique_ptr<RowBatch> rows;

    bool consumes(std::string_view subject) const {
        for (const std::string& pattern : subjects) {
            if (subject_covers(pattern, subject)) return true;
        }
        return false;
    }
};

// The plugins of `dir`, each as nomnom-host runs it under `worker` (its configuration, subjects,
// and not at all when disabled); without `worker`, as the plugin declares itself.
std::vector<LoadedPlugin> load_plugins(const std::string& dir,
                                       const std::optional<host::WorkerConfig>& worker) {
    std::vector<LoadedPlugin> plugins;
    std::vector<std::filesystem::path> files;
    try {
        files = host::list_plugin_files(dir);
    } catch (const host::PluginRefused& e) {
        spdlog::error("validator: {}", e.what());
    }
    for (const std::filesystem::path& file : files) {
        try {
            LoadedPlugin plugin;
            plugin.library = PluginLibrary::open(file);
            host::PluginSettings settings;
            if (worker) settings = worker->settings_for(plugin.library->name());
            if (!settings.enabled) {
                spdlog::info("validator: plugin {} is disabled in {}", plugin.library->name(),
                             worker->source.string());
                continue;
            }
            plugin.subjects = settings.consumer.subjects.empty() ? plugin.library->subjects()
                                                                 : settings.consumer.subjects;
            plugin.instance = std::make_unique<PluginInstance>(plugin.library, settings.config_json,
                                                               &kValidatorApi);
            plugin.rows = std::make_unique<RowBatch>(plugin.library->descriptor());
            spdlog::info("validator: plugin {} {} from {} validates {}", plugin.library->name(),
                         plugin.library->version(), file.string(), plugin.subjects.front());
            plugins.push_back(std::move(plugin));
        } catch (const std::exception& e) {
            spdlog::error("validator: plugin file {} refused: {}", file.string(), e.what());
        }
    }
    return plugins;
}

// The message as nomnom-host would receive it from the stream.
std::unique_ptr<host::IncomingMessage> received(const std::vector<std::string_view>& fields,
                                                host::PayloadFormat format,
                                                const std::string& stream) {
    const std::string subject(fields[0]);
    natsMsg* raw = nullptr;
    check_nats(natsMsg_Create(&raw, subject.c_str(), nullptr, fields[1].data(),
                              static_cast<int>(fields[1].size())),
               "creating the message");
    NatsMsgPtr message(raw);
    for (size_t i = 2; i + 1 < fields.size(); i += 2) {
        check_nats(natsMsgHeader_Add(raw, std::string(fields[i]).c_str(),
                                     std::string(fields[i + 1]).c_str()),
                   "setting a header");
    }
    // Before the publish: no stream sequence yet, the first delivery.
    return host::decode_message(std::move(message), format, host::StoredOrigin{stream, 0, 1});
}

// Runs `message` through each plugin that consumes its subject, as BatchProcessor::attempt does;
// false after a FATAL.
bool answer(std::vector<LoadedPlugin>& plugins, const host::IncomingMessage& message) {
    bool consumed = false;
    for (LoadedPlugin& plugin : plugins) {
        if (!plugin.consumes(message.subject)) continue;
        consumed = true;
        const std::string name = plugin.library->name();
        if (!message.decode_error.empty()) {
            return write_frame(kChannelFd, {reply::kInvalid, name, message.decode_error});
        }
        if (!write_frame(kChannelFd, {reply::kParsing, name})) return false;
        const LogFields fields = message.log_fields(name);
        const LogScope scope(fields);
        std::string reason;
        plugin.rows->clear();
        in_plugin_call = 1;
        const int status = plugin.instance->parse(message.view(), *plugin.rows, 0, reason);
        in_plugin_call = 0;
        // RETRY is no refusal: the host would try the message again later.
        if (status == NOMNOM_OK || status == NOMNOM_RETRY) continue;
        if (status == NOMNOM_INVALID) {
            return write_frame(kChannelFd, {reply::kInvalid, name, reason});
        }
        write_frame(kChannelFd, {reply::kFatal, name,
                                 status == NOMNOM_FATAL
                                     ? reason
                                     : "parse returned unknown status " + std::to_string(status)});
        return false;
    }
    return write_frame(kChannelFd, {consumed ? reply::kOk : reply::kNone});
}

}  // namespace

int run_validate_child(const std::vector<std::string>& args) {
    // Dies with the API: nothing else would ever stop it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::map<std::string, std::string> options;
    for (size_t i = 0; i + 1 < args.size(); i += 2) options[args[i]] = args[i + 1];
    if (options["--parent"] != std::to_string(::getppid()) || options["--plugins-dir"].empty()) {
        std::cerr << "nomnom-api --validate-child is started by nomnom-api itself\n";
        return 2;
    }
    ::close_range(kChannelFd + 1, ~0U, 0);
    LogConfig log;
    log.level = options["--log-level"];
    log.format = options["--log-format"];
    setup_logging(log);
    const auto format = options["--format"] == "envelope" ? host::PayloadFormat::Envelope
                                                          : host::PayloadFormat::Json;
    const size_t max_frame = std::stoull(options["--max-frame"]);
    try {
        // natsMsg_Create needs the library's globals, even with no connection.
        check_nats(nats_Open(-1), "initialising the NATS client library");
        install_fatal_signal_handlers();
        std::optional<host::WorkerConfig> worker;
        if (!options["--worker-config"].empty()) {
            worker = host::load_worker_config(options["--worker-config"]);
        }
        std::vector<LoadedPlugin> plugins = load_plugins(options["--plugins-dir"], worker);
        if (!write_frame(kChannelFd, {reply::kReady})) return 0;
        for (;;) {
            const FrameRead request = read_frame(kChannelFd, max_frame);
            if (request.status == FrameStatus::Closed) return 0;
            if (request.status != FrameStatus::Complete) {
                spdlog::error("validator: unreadable request ({}); exiting",
                              static_cast<int>(request.status));
                return 2;
            }
            const auto fields = split_fields(request.body);
            if (!fields || fields->size() < 2 || fields->size() % 2 != 0) {
                spdlog::error("validator: malformed request; exiting");
                return 2;
            }
            if (!answer(plugins, *received(*fields, format, options["--stream"]))) return 3;
        }
    } catch (const std::exception& e) {
        spdlog::critical("nomnom-api validator: {}", e.what());
        return 1;
    }
}

}  // namespace nomnom::api
