#pragma once

#include <array>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "pipeline/batch_processor.hpp"

namespace nomnom::host {

// Fetches a worker's next batch, on a thread of its own, while the worker processes the one
// before, as long as a backlog waits. A worker that fetched between batches waited for each
// fetch: about a fifth of its time in bench/run.sh, with the cores idle meanwhile.
//
// A worker holds two batches at most: the one it processes and the next, taken in as any batch
// (decoded, in an in-flight record, kept in progress on the server). The two alternate between
// the worker's two records, so that a process that dies holding both leaves both to the
// recovery, and the next batch's messages are not charged the death.
class Prefetcher {
  public:
    Prefetcher(PluginRunner& runner, const ConsumerSpec& spec,
               std::array<InflightRecord*, 2> records);
    // Joins the fetching thread, which ends once the runner stops or goes FATAL. The worker's
    // last batch must be settled by then: its acks go through the subscription.
    ~Prefetcher();
    Prefetcher(const Prefetcher&) = delete;
    Prefetcher& operator=(const Prefetcher&) = delete;

    // The next batch; nullopt once the runner stopped and no batch is left. A batch fetched
    // before the stop is still handed out, to be settled like the one in process.
    std::optional<BatchProcessor::Received> next();

  private:
    void run();

    PluginRunner& runner_;
    const ConsumerSpec& spec_;
    std::array<InflightRecord*, 2> records_;
    // Outlives every batch fetched through it (cnats acks a message through its subscription),
    // so it is replaced only while the worker holds none, and destroyed last.
    std::unique_ptr<PullSubscription> subscription_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::optional<BatchProcessor::Received> ready_;
    bool worker_holds_batch_ = false;  // from next() handing one out to the next call
    bool done_ = false;
    std::thread thread_;
};

}  // namespace nomnom::host
