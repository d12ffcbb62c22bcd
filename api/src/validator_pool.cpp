#include "validator_pool.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <vector>

#include "nomnom/common/child_process.hpp"
#include "nomnom/common/nats_client.hpp"
#include "validate_frame.hpp"

namespace nomnom::api {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kChannelFd = 3;  // the child's end of its socket
constexpr auto kStartTimeout = std::chrono::seconds(60);
constexpr int64_t kFirstRestartDelayMs = 100;
constexpr int64_t kMaxRestartDelayMs = 5000;

int64_t now_ms() {
    return std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count();
}

}  // namespace

// One validator child. `busy` is held by the request or the start using it; `ready` and
// `restart_at_ms` are read without it.
struct ValidatorPool::Validator {
    std::mutex busy;
    pid_t pid = -1;
    UniqueFd channel;
    int failures = 0;
    std::atomic<bool> ready{false};
    std::atomic<int64_t> restart_at_ms{0};

    // Kills and reaps the child (holding `busy`); its wait status. `failed`: restarts after a
    // back-off that doubles with each failure in a row.
    int end(bool failed) {
        ready = false;
        channel.reset();
        int wait_status = 0;
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
            }
        }
        pid = -1;
        if (failed) {
            const int64_t delay =
                std::min(kMaxRestartDelayMs, kFirstRestartDelayMs << std::min(failures, 10));
            ++failures;
            restart_at_ms = now_ms() + delay;
        }
        return wait_status;
    }
};

struct ValidatorPool::Generation {
    ValidateSettings settings;
    std::vector<std::unique_ptr<Validator>> validators;
    std::mutex free_mutex;
    std::condition_variable freed;

    ~Generation() {
        for (const auto& validator : validators) validator->end(false);
    }

    // A ready validator with its `busy` held; null when none is ready, or none is free by
    // `deadline`.
    Validator* acquire(Clock::time_point deadline) {
        for (;;) {
            bool any_ready = false;
            for (const auto& validator : validators) {
                if (!validator->ready) continue;
                any_ready = true;
                if (!validator->busy.try_lock()) continue;
                if (validator->ready) return validator.get();
                validator->busy.unlock();
            }
            if (!any_ready || Clock::now() >= deadline) return nullptr;
            std::unique_lock lock(free_mutex);
            freed.wait_for(lock,
                           std::min<Clock::duration>(milliseconds(50), deadline - Clock::now()));
        }
    }

    void release(Validator& validator) {
        validator.busy.unlock();
        freed.notify_one();
    }
};

ValidatorPool::ValidatorPool(const ApiConfig& config, ApiMetrics& metrics)
    : config_(config), metrics_(metrics), supervisor_([this] { supervise(); }) {
    reconfigure(config.validate);
}

ValidatorPool::~ValidatorPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    supervisor_.join();
}

std::shared_ptr<ValidatorPool::Generation> ValidatorPool::current() const {
    std::lock_guard lock(mutex_);
    return generation_;
}

void ValidatorPool::reconfigure(const ValidateSettings& settings) {
    if (settings.plugins_dir.empty()) {
        std::shared_ptr<Generation> old;
        std::lock_guard lock(mutex_);
        if (generation_) spdlog::info("validate: off");
        old = std::exchange(generation_, nullptr);
        return;
    }
    auto fresh = std::make_shared<Generation>();
    fresh->settings = settings;
    for (int64_t i = 0; i < settings.workers; ++i) {
        fresh->validators.push_back(std::make_unique<Validator>());
    }
    std::unique_lock lock(mutex_);
    pending_ = fresh;
    wake_.notify_all();
    // The supervisor starts them; until then the running ones serve.
    started_.wait_for(lock, kStartTimeout * settings.workers + std::chrono::seconds(1),
                      [&] { return pending_ != fresh || stopping_; });
}

Verdict ValidatorPool::validate(natsMsg* message, const std::string& message_id) {
    // Taken once: a SIGHUP turning [validate] off empties generation_ at any time.
    const std::shared_ptr<Generation> generation = current();
    if (!generation) return {Verdict::Kind::NoPlugin, ""};
    const Verdict verdict = ask(*generation, message, message_id);
    ++metrics_.validated[static_cast<size_t>(verdict.kind)];
    return verdict;
}

Verdict ValidatorPool::ask(Generation& generation, natsMsg* message,
                           const std::string& message_id) {
    const int64_t timeout_ms = generation.settings.parse_timeout_ms;
    Validator* validator = generation.acquire(Clock::now() + milliseconds(timeout_ms));
    if (validator == nullptr) {
        return {Verdict::Kind::Unavailable,
                "no plugin validator is available (starting, restarting after a plugin crash, "
                "or all busy): try again"};
    }
    struct Release {
        Generation& generation;
        Validator& validator;
        ~Release() { generation.release(validator); }
    } release{generation, *validator};

    std::vector<std::string> headers;
    for_each_header(message, [&](const char* key, const char* value) {
        headers.emplace_back(key);
        headers.emplace_back(value);
    });
    const char* data = natsMsg_GetData(message);
    std::vector<std::string_view> request = {
        natsMsg_GetSubject(message),
        {data ? data : "", static_cast<size_t>(natsMsg_GetDataLength(message))}};
    request.insert(request.end(), headers.begin(), headers.end());
    request.insert(request.end(), {"Nats-Msg-Id", message_id});
    if (!write_frame(validator->channel.get(), request)) {
        validator->end(true);
        return {Verdict::Kind::Unavailable, "the plugin validator is gone: try again"};
    }
    std::string plugin = "the plugin validator";
    for (;;) {
        const FrameRead reply = read_frame(validator->channel.get(), kMaxReplyBytes,
                                           Clock::now() + milliseconds(timeout_ms));
        if (reply.status == FrameStatus::Timeout) {
            validator->end(true);
            return {Verdict::Kind::Timeout,
                    plugin + " did not return within " + std::to_string(timeout_ms) + " ms"};
        }
        const auto fields = reply.status == FrameStatus::Complete
                                ? split_fields(reply.body)
                                : std::optional<std::vector<std::string_view>>();
        if (!fields || fields->empty()) {
            const int wait_status = validator->end(true);
            const std::string how = WIFSIGNALED(wait_status)
                                        ? "signal " + signal_name(WTERMSIG(wait_status))
                                        : death_cause(wait_status);
            spdlog::warn("validate: {} crashed ({}) on message {}; its validator restarts", plugin,
                         how, message_id);
            return {Verdict::Kind::Crashed, plugin + " crashed (" + how + ") on this message"};
        }
        const std::string_view kind = fields->front();
        const std::string named = fields->size() > 1 ? "plugin " + std::string((*fields)[1]) : "";
        const std::string reason = fields->size() > 2 ? std::string((*fields)[2]) : "";
        if (kind == reply::kParsing) {
            plugin = named;
            continue;
        }
        if (kind == reply::kFatal) {
            validator->end(true);
            return {Verdict::Kind::Unavailable, named + " reported FATAL: " + reason};
        }
        validator->failures = 0;
        if (kind == reply::kInvalid) return {Verdict::Kind::Invalid, named + ": " + reason};
        return {kind == reply::kOk ? Verdict::Kind::Ok : Verdict::Kind::NoPlugin, ""};
    }
}

void ValidatorPool::start(Validator& validator, const ValidateSettings& settings) {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
        throw system_error("socketpair");
    }
    UniqueFd parent_end = moved_high(ends[0], "socketpair");
    const UniqueFd child_end = moved_high(ends[1], "socketpair");
    // A request frame: the payload (an envelope escapes a byte into at most 6) and headers.
    const int64_t max_frame = config_.ingest.max_body_bytes * 6 + (1 << 20);
    validator.pid =
        spawn_self({"nomnom-api", "--validate-child", "--parent", std::to_string(::getpid()),
                    "--plugins-dir", settings.plugins_dir.string(), "--format",
                    config_.ingest.format == PublishFormat::Envelope ? "envelope" : "json",
                    "--stream", config_.stream.name, "--max-frame", std::to_string(max_frame),
                    "--log-level", config_.log.level, "--log-format", config_.log.format},
                   {{child_end.get(), kChannelFd}});
    validator.channel = std::move(parent_end);
    const FrameRead ready =
        read_frame(validator.channel.get(), kMaxReplyBytes, Clock::now() + kStartTimeout);
    const auto fields =
        ready.status == FrameStatus::Complete ? split_fields(ready.body) : std::nullopt;
    if (!fields || fields->empty() || fields->front() != reply::kReady) {
        const int wait_status = validator.end(true);
        spdlog::error("validate: a validator process did not start ({}); trying again",
                      death_cause(wait_status));
        return;
    }
    validator.ready = true;
    spdlog::info("validate: validator process {} ready on {}", validator.pid,
                 settings.plugins_dir.string());
}

void ValidatorPool::supervise() {
    for (;;) {
        std::shared_ptr<Generation> generation;
        std::shared_ptr<Generation> pending;
        {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, milliseconds(100));
            if (stopping_) {
                generation_.reset();
                pending_.reset();
                started_.notify_all();
                return;
            }
            generation = generation_;
            pending = pending_;
        }
        if (pending) {
            for (const auto& validator : pending->validators) {
                const std::lock_guard busy(validator->busy);
                start(*validator, pending->settings);
            }
            std::shared_ptr<Generation> old;
            {
                std::lock_guard lock(mutex_);
                old = std::exchange(generation_, pending);
                if (pending_ == pending) pending_.reset();
            }
            spdlog::info("validate: {} validator(s) on {}, parse_timeout_ms {}",
                         pending->validators.size(), pending->settings.plugins_dir.string(),
                         pending->settings.parse_timeout_ms);
            started_.notify_all();
            continue;  // `old` stops once the requests still using it are done
        }
        if (!generation) continue;
        for (const auto& validator : generation->validators) {
            if (validator->ready || now_ms() < validator->restart_at_ms) continue;
            if (!validator->busy.try_lock()) continue;
            start(*validator, generation->settings);
            generation->release(*validator);
        }
    }
}

}  // namespace nomnom::api
