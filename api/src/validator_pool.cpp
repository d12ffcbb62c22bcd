#include "validator_pool.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <poll.h>

#include <csignal>
#include <cstdlib>
#include <optional>
#include <vector>

#include "nomnom/common/child_process.hpp"
#include "nomnom/common/nats_client.hpp"
#include "nomnom/common/utf8.hpp"
#include "validate_frame.hpp"

namespace nomnom::api {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kChannelFd = 3;  // the child's end of its socket
// How long a child's plugins may take to load (their constructors and create calls).
constexpr int64_t kStartTimeoutMs = 60'000;
// How long the constructor and a SIGHUP wait for new children to start or fail: on the thread
// that answers SIGTERM, so never as long as a start may take.
constexpr auto kReconfigureWait = std::chrono::seconds(5);
constexpr auto kSupervisePeriod = milliseconds(100);
constexpr int64_t kFirstRestartDelayMs = 100;
constexpr int64_t kMaxRestartDelayMs = 5000;

int64_t now_ms() {
    return std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count();
}

// Whether `fd` has something to read, or its other end is closed, without waiting.
bool readable(int fd) {
    pollfd poll_fd{fd, POLLIN, 0};
    return ::poll(&poll_fd, 1, 0) > 0;
}

}  // namespace

// One validator child: none (pid -1, started again at restart_at_ms), starting (until
// start_deadline_ms) or ready. `busy` is held by the request or the supervisor using it; `ready`
// and `restart_at_ms` are read without it.
struct ValidatorPool::Validator {
    std::mutex busy;
    pid_t pid = -1;
    UniqueFd channel;
    int failures = 0;
    int64_t start_deadline_ms = 0;
    bool tried = false;  // started or failed to at least once (the supervisor's)
    std::atomic<bool> ready{false};
    std::atomic<int64_t> restart_at_ms{0};

    // Kills and reaps the child (holding `busy`), unless `reaped` is its wait status already;
    // its wait status. `failed`: restarts after a back-off that doubles with each failure in a
    // row.
    int end(bool failed, std::optional<int> reaped = std::nullopt) {
        ready = false;
        channel.reset();
        int wait_status = reaped.value_or(0);
        if (pid > 0 && !reaped) {
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
    // Taken on the thread that reloads the configuration, which rewrites config_.log.
    std::vector<std::string> child_args;
    std::vector<std::unique_ptr<Validator>> validators;
    bool tried = false;  // each validator started or failed to once (under the pool's mutex_)
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
        pending_.reset();
        return;
    }
    auto fresh = std::make_shared<Generation>();
    fresh->settings = settings;
    // A request frame: the payload (an envelope escapes a byte into at most 6) and headers.
    const int64_t max_frame = config_.ingest.max_body_bytes * 6 + (1 << 20);
    fresh->child_args = {
        "nomnom-api",      "--validate-child",
        "--parent",        std::to_string(::getpid()),
        "--plugins-dir",   settings.plugins_dir.string(),
        "--worker-config", settings.worker_config.string(),
        "--format",        config_.ingest.format == PublishFormat::Envelope ? "envelope" : "json",
        "--stream",        config_.stream.name,
        "--max-frame",     std::to_string(max_frame),
        "--log-level",     config_.log.level,
        "--log-format",    config_.log.format};
    for (int64_t i = 0; i < settings.workers; ++i) {
        fresh->validators.push_back(std::make_unique<Validator>());
    }
    std::unique_lock lock(mutex_);
    // The first generation serves at once (Unavailable until a validator is ready: no message
    // may go out unvalidated meanwhile); a later one once each of its validators started or
    // failed to, the running ones serving until then.
    (generation_ ? pending_ : generation_) = fresh;
    wake_.notify_all();
    started_.wait_for(lock, kReconfigureWait, [&] { return fresh->tried || stopping_; });
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
    int caught = 0;  // the signal the plugin call died of, as the child said
    for (;;) {
        const FrameRead reply = read_frame(validator->channel.get(), kMaxReplyBytes,
                                           Clock::now() + milliseconds(timeout_ms));
        // Once the child said its plugin call died of a signal, it only has dying left to do (a
        // sanitizer's report may take a while): a crash, even if it takes too long.
        if (reply.status == FrameStatus::Timeout && caught == 0) {
            validator->end(true);
            return {Verdict::Kind::Timeout,
                    plugin + " did not return within " + std::to_string(timeout_ms) + " ms"};
        }
        const auto fields = reply.status == FrameStatus::Complete
                                ? split_fields(reply.body)
                                : std::optional<std::vector<std::string_view>>();
        if (!fields || fields->empty()) {
            const int wait_status = validator->end(true);
            const int signal = caught != 0                ? caught
                               : WIFSIGNALED(wait_status) ? WTERMSIG(wait_status)
                                                          : 0;
            const std::string how =
                signal != 0 ? "signal " + signal_name(signal) : death_cause(wait_status);
            spdlog::warn("validate: {} crashed ({}) on message {}; its validator restarts", plugin,
                         how, message_id);
            return {Verdict::Kind::Crashed, plugin + " crashed (" + how + ") on this message"};
        }
        const std::string_view kind = fields->front();
        const size_t count = fields->size();
        const std::string named = count > 1 ? "plugin " + std::string((*fields)[1]) : "";
        const std::string reason = count > 2 ? std::string((*fields)[2]) : "";
        if (kind == reply::kParsing && count == 2) {
            plugin = named;
            continue;
        }
        if (kind == reply::kSignal && count == 2 && caught == 0) {
            caught = std::atoi(std::string((*fields)[1]).c_str());
            continue;
        }
        if (kind == reply::kFatal && count == 3) {
            validator->end(true);
            return {Verdict::Kind::Unavailable, named + " reported FATAL: " + reason};
        }
        if ((kind == reply::kInvalid && count == 3) ||
            ((kind == reply::kOk || kind == reply::kNone) && count == 1)) {
            validator->failures = 0;
            if (kind == reply::kInvalid) return {Verdict::Kind::Invalid, named + ": " + reason};
            return {kind == reply::kOk ? Verdict::Kind::Ok : Verdict::Kind::NoPlugin, ""};
        }
        // Any other answer breaks the protocol: the validator's fault, not the message's. Not
        // NoPlugin (the message would go out unvalidated) nor a 400 (it would blame the
        // message): Unavailable, as after a FATAL, and a new child.
        const pid_t pid = validator->pid;
        validator->end(true);
        spdlog::error(
            "validate: validator process {} answered '{}' with {} field(s), which the protocol "
            "has not; it restarts",
            pid, utf8_prefix(kind, 64), count);
        return {Verdict::Kind::Unavailable,
                "the plugin validator gave an answer it should not have: try again"};
    }
}

void ValidatorPool::start(Validator& validator, const Generation& generation) {
    try {
        int ends[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
            throw system_error("socketpair");
        }
        UniqueFd parent_end(ends[0]);
        UniqueFd child_end(ends[1]);
        parent_end = moved_high(parent_end.release(), "socketpair");
        child_end = moved_high(child_end.release(), "socketpair");
        validator.pid = spawn_self(generation.child_args, {{child_end.get(), kChannelFd}});
        // The child's end is the child's alone from now on: its death is an EOF here at once.
        child_end.reset();
        validator.channel = std::move(parent_end);
    } catch (const std::exception& e) {
        // Out of fds or processes (EMFILE, EAGAIN, ENOMEM): a failed start, tried again later.
        validator.end(true);
        validator.tried = true;
        spdlog::error("validate: cannot start a validator process: {}; trying again", e.what());
        return;
    }
    validator.start_deadline_ms = now_ms() + kStartTimeoutMs;
}

void ValidatorPool::tend(Validator& validator, const Generation& generation) {
    if (validator.pid < 0) {
        if (now_ms() >= validator.restart_at_ms) start(validator, generation);
        return;
    }
    const pid_t pid = validator.pid;
    if (validator.ready) {
        // Idle (a request holds `busy` otherwise), so it has nothing to say: a readable socket is
        // its end closed. waitpid also sees a death whose socket a grandchild keeps open.
        int wait_status = 0;
        const bool reaped = ::waitpid(pid, &wait_status, WNOHANG) == pid;
        if (!reaped && !readable(validator.channel.get())) return;
        wait_status = validator.end(true, reaped ? std::optional(wait_status) : std::nullopt);
        spdlog::warn("validate: validator process {} died while idle ({}); it restarts", pid,
                     death_cause(wait_status));
        return;
    }
    const bool expired = !readable(validator.channel.get());
    if (expired && now_ms() < validator.start_deadline_ms) return;
    std::optional<std::vector<std::string_view>> fields;
    FrameRead said{FrameStatus::Timeout, {}};
    if (!expired) {
        // "ready" is one small frame, sent at once.
        said =
            read_frame(validator.channel.get(), kMaxReplyBytes, Clock::now() + milliseconds(1000));
        if (said.status == FrameStatus::Complete) fields = split_fields(said.body);
    }
    validator.tried = true;
    if (fields && fields->size() == 1 && fields->front() == reply::kReady) {
        validator.ready = true;
        spdlog::info("validate: validator process {} ready on {}", pid,
                     generation.settings.plugins_dir.string());
        return;
    }
    const int wait_status = validator.end(true);
    if (expired) {
        spdlog::error(
            "validate: validator process {} did not start within {} s (killed); trying "
            "again",
            pid, kStartTimeoutMs / 1000);
    } else {
        spdlog::error("validate: validator process {} did not start ({}); trying again", pid,
                      death_cause(wait_status));
    }
}

bool ValidatorPool::tend(Generation& generation) {
    bool tried = true;
    for (const auto& validator : generation.validators) {
        if (validator->busy.try_lock()) {
            tend(*validator, generation);
            generation.release(*validator);
        }
        tried = tried && validator->tried;
    }
    return tried;
}

void ValidatorPool::supervise() {
    for (;;) {
        std::shared_ptr<Generation> generation;
        std::shared_ptr<Generation> pending;
        {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, kSupervisePeriod);
            if (stopping_) {
                generation_.reset();
                pending_.reset();
                started_.notify_all();
                return;
            }
            generation = generation_;
            pending = pending_;
        }
        const bool generation_tried = generation && tend(*generation);
        const bool pending_tried = pending && tend(*pending);
        std::shared_ptr<Generation> old;  // stops once the requests still using it are done
        std::shared_ptr<Generation> serving;
        {
            std::lock_guard lock(mutex_);
            if (generation_tried && !generation->tried && generation_ == generation) {
                generation->tried = true;
                serving = generation;
            }
            if (pending_tried && pending_ == pending) {
                pending->tried = true;
                old = std::exchange(generation_, pending);
                pending_.reset();
                serving = pending;
            }
        }
        if (!serving) continue;
        spdlog::info("validate: {} validator(s) on {}, parse_timeout_ms {}",
                     serving->validators.size(), serving->settings.plugins_dir.string(),
                     serving->settings.parse_timeout_ms);
        started_.notify_all();
    }
}

}  // namespace nomnom::api
