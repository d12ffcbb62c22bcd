#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "api_config.hpp"
#include "api_metrics.hpp"

namespace nomnom::api {

// What the plugins said of a message.
// Kind: Ok (every plugin on its subject accepted it), NoPlugin (none consumes its subject: it is
// published as without [validate]), Invalid (refused, with the plugin's reason), Crashed (the
// plugin killed its validator on it), Timeout (the plugin did not return within
// parse_timeout_ms), Unavailable (no validator could take it: starting, restarting, busy for too
// long, or the plugin said FATAL).
struct Verdict {
    using Kind = ValidationResult;
    Kind kind;
    std::string reason;  // for all but Ok and NoPlugin: the whole error, naming the plugin
};

// nomnom-api's [validate]: `workers` child processes (nomnom-api --validate-child, the same
// binary) each load every plugin of plugins_dir with nomnom-host's checks and run nomnom-host's
// parse step on the message the API is about to publish, one request at a time. A plugin that
// crashes or hangs costs its validator (killed, restarted with back-off) and that request, never
// the API. Children are started by the pool's own thread, to which their death signal is tied;
// it also reaps and restarts one that dies while idle, and never waits on a child: a start,
// whatever its plugins do as they load, costs it no more than a look at the child's socket.
class ValidatorPool {
  public:
    // `config` gives the format, stream and body limit of the messages, and the log settings.
    ValidatorPool(const ApiConfig& config, ApiMetrics& metrics);
    ~ValidatorPool();
    ValidatorPool(const ValidatorPool&) = delete;
    ValidatorPool& operator=(const ValidatorPool&) = delete;

    // The verdict on `message` (as built for publishing) with the Nats-Msg-Id it will carry;
    // NoPlugin, uncounted, while [validate] is off (a SIGHUP may turn it off at any time).
    // Waits at most about parse_timeout_ms per plugin call, and as long for a free validator.
    Verdict validate(natsMsg* message, const std::string& message_id);
    // SIGHUP (and the constructor): new validators with `settings` take the next requests once
    // each has started or failed to; those in flight finish on the old ones, which are then
    // stopped. Waits a few seconds at most for them: the caller is the thread that answers
    // SIGTERM. Until any validator of the first generation is ready, requests get Unavailable.
    void reconfigure(const ValidateSettings& settings);

    struct Generation;
    struct Validator;

  private:
    std::shared_ptr<Generation> current() const;
    Verdict ask(Generation& generation, natsMsg* message, const std::string& message_id);
    // On supervise's thread, holding the validator's `busy`: starts a child into `validator`
    // (its plugins load while the supervisor goes on), or a failure with back-off.
    void start(Validator& validator, const Generation& generation);
    // Starts what is due, takes the "ready" of starting children, reaps dead ones; true once
    // each validator of `generation` has started or failed to at least once.
    bool tend(Generation& generation);
    void tend(Validator& validator, const Generation& generation);
    void supervise();

    const ApiConfig& config_;
    ApiMetrics& metrics_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable started_;
    std::shared_ptr<Generation> generation_;  // null while [validate] is off
    std::shared_ptr<Generation> pending_;     // to be started, then to replace generation_
    bool stopping_ = false;
    std::thread supervisor_;
};

}  // namespace nomnom::api
