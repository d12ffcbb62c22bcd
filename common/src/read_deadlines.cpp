#include "nomnom/common/read_deadlines.hpp"

#include <Poco/Exception.h>

namespace nomnom {

ReadDeadlines::ReadDeadlines() : thread_([this] { run(); }) {}

ReadDeadlines::~ReadDeadlines() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

ReadDeadlines::Watch ReadDeadlines::watch(const Poco::Net::StreamSocket& socket,
                                          Clock::time_point deadline) {
    uint64_t id = 0;
    bool sooner = false;
    {
        std::lock_guard lock(mutex_);
        id = next_id_++;
        entries_.emplace(id, Entry{deadline, socket});
        sooner = deadline < wakes_at_;
    }
    // Deadlines are mostly later than the one the thread waits for: waking it for each request
    // would cost a context switch per request.
    if (sooner) wake_.notify_one();
    return Watch(*this, id);
}

ReadDeadlines::Watch::~Watch() {
    std::lock_guard lock(owner_.mutex_);
    owner_.entries_.erase(id_);
}

bool ReadDeadlines::Watch::expired() const {
    std::lock_guard lock(owner_.mutex_);
    return owner_.entries_.at(id_).expired;
}

void ReadDeadlines::run() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
        const Clock::time_point now = Clock::now();
        Clock::time_point next = Clock::time_point::max();
        for (auto& [id, entry] : entries_) {
            if (entry.expired) continue;
            if (entry.deadline <= now) {
                entry.expired = true;
                try {
                    entry.socket.shutdownReceive();
                } catch (const Poco::Exception&) {
                    // The client is gone already: the read has ended by itself.
                }
            } else if (entry.deadline < next) {
                next = entry.deadline;
            }
        }
        wakes_at_ = next;
        if (next == Clock::time_point::max()) {
            wake_.wait(lock);
        } else {
            wake_.wait_until(lock, next);
        }
    }
}

}  // namespace nomnom
