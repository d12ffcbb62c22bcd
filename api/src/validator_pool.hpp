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
// the API. Children are started by the pool's own thread, to which their death signal is tied.
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
    // SIGHUP: new validators with `settings` take the next requests; those in flight finish on
    // the old ones, which are then stopped.
    void reconfigure(const ValidateSettings& settings);

    struct Generation;
    struct Validator;

  private:
    std::shared_ptr<Generation> current() const;
    Verdict ask(Generation& generation, natsMsg* message, const std::string& message_id);
    // Starts a child into `validator` and waits for its plugins to load (on supervise's thread).
    void start(Validator& validator, const ValidateSettings& settings);
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
