#pragma once

#include <Poco/Net/StreamSocket.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

namespace nomnom {

// Deadlines for reading whole request bodies. A socket timeout only bounds each wait for the
// next bytes, so a client sending a byte now and then would hold a request thread for as long
// as it likes; here one thread shuts a socket down for reading when its deadline passes, which
// ends a read blocked on it at once (the answer can still be sent).
class ReadDeadlines {
  public:
    using Clock = std::chrono::steady_clock;

    ReadDeadlines();
    ~ReadDeadlines();
    ReadDeadlines(const ReadDeadlines&) = delete;
    ReadDeadlines& operator=(const ReadDeadlines&) = delete;

    // One socket watched until the Watch is destroyed.
    class Watch {
      public:
        Watch(ReadDeadlines& owner, uint64_t id) : owner_(owner), id_(id) {}
        ~Watch();
        Watch(const Watch&) = delete;
        Watch& operator=(const Watch&) = delete;

        // Whether the deadline passed and reading was shut down.
        bool expired() const;

      private:
        ReadDeadlines& owner_;
        uint64_t id_;
    };

    [[nodiscard]] Watch watch(const Poco::Net::StreamSocket& socket, Clock::time_point deadline);

  private:
    struct Entry {
        Clock::time_point deadline;
        Poco::Net::StreamSocket socket;
        bool expired = false;
    };

    void run();

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::map<uint64_t, Entry> entries_;
    uint64_t next_id_ = 0;
    Clock::time_point wakes_at_ = Clock::time_point::max();  // when run() looks next
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace nomnom
