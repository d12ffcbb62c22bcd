#include "isolation/inflight_record.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "pipeline/incoming_message.hpp"

namespace nomnom::host {
namespace {

// A record of another layout (an older host's) is not read as this one.
constexpr char kMagic[8] = {'n', 'o', 'm', 'I', 'N', 'F', 'L', '4'};

// The file's layout; fixed-size fields only, since another process reads it. The entries follow
// the header, so its size keeps them 8-byte aligned.
struct alignas(8) Header {
    char magic[8];
    uint32_t capacity;
    std::atomic<uint32_t> phase;  // InflightRecord::Phase
    uint32_t count;               // messages of the batch recorded; 0: no batch
    int32_t pid;
    // The signal a plugin call died of (SIGSEGV, SIGABRT...), written by the handler on the
    // thread that made the call; 0 when the process was killed from outside (SIGKILL, the OOM
    // killer), which a caught signal cannot tell apart from a kill that only happened to land
    // during the call.
    std::atomic<int32_t> fatal_signal;
    // When the plugin call in progress started (steady clock: CLOCK_MONOTONIC, system-wide),
    // moved forward by the time it spent in the host's database calls, which are not its own.
    std::atomic<int64_t> call_started_ms;
    std::atomic<uint32_t> in_host_call;  // 1 while a persist callback waits for the database
    // Written by the supervising process before it kills this one (InflightRecord::KillCause),
    // with the limit passed, what was measured, and call_started_ms of the call it judged: a
    // call that returned meanwhile is not the one convicted.
    std::atomic<uint32_t> kill_cause;
    std::atomic<int64_t> kill_detail;
    std::atomic<int64_t> kill_measure;
    std::atomic<int64_t> kill_call_started_ms;
    char stream[256];
};

struct Entry {
    uint64_t stream_sequence;
    uint64_t delivery_count;
    uint64_t forgiven;
    uint8_t in_hand;
    uint8_t suspect;  // handed to the plugin alone because an earlier death implicated it
    char reply[486];  // NUL-terminated; empty when the ack subject was longer
};

static_assert(sizeof(Header) % alignof(Entry) == 0);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<int32_t>::is_always_lock_free);
static_assert(std::atomic<int64_t>::is_always_lock_free);

int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// The record of the plugin call this thread is in, for the fatal-signal handler. A thread_local
// of the executable (initial-exec TLS) is safe to read in a signal handler.
thread_local Header* t_calling = nullptr;

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
struct sigaction previous_actions[NSIG];

// Marks the call in progress on this thread as what killed the process, then lets the signal
// do what it did before (the default, or a sanitizer's report): async-signal-safe stores only.
void on_fatal_signal(int signal) {
    if (Header* header = t_calling) {
        int32_t none = 0;
        header->fatal_signal.compare_exchange_strong(none, signal);
    }
    ::sigaction(signal, &previous_actions[signal], nullptr);
    ::raise(signal);  // blocked until this handler returns, then delivered as before
}

void install_fatal_signal_handlers() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_handler = on_fatal_signal;
        sigemptyset(&action.sa_mask);
        // On the alternate stack where a thread has one: a plugin's runaway recursion leaves
        // no room on its own.
        action.sa_flags = SA_ONSTACK;
        for (const int signal : kFatalSignals)
            ::sigaction(signal, &action, &previous_actions[signal]);
    });
}

// An alternate signal stack for the calling thread, unless it has one (a sanitizer's): without
// one, a stack overflow inside the plugin kills the process before the handler can mark it.
void ensure_alternate_stack() {
    struct AlternateStack {
        std::unique_ptr<char[]> memory;
        AlternateStack() {
            stack_t current{};
            if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;
            constexpr size_t kSize = 64 * 1024;
            memory = std::make_unique<char[]>(kSize);
            stack_t stack{};
            stack.ss_sp = memory.get();
            stack.ss_size = kSize;
            if (::sigaltstack(&stack, nullptr) != 0) memory.reset();
        }
        ~AlternateStack() {
            if (!memory) return;
            stack_t off{};
            off.ss_flags = SS_DISABLE;
            ::sigaltstack(&off, nullptr);
        }
    };
    thread_local AlternateStack stack;
}

size_t file_size(size_t capacity) {
    return sizeof(Header) + capacity * sizeof(Entry);
}

Header& header_of(void* mapping) {
    return *static_cast<Header*>(mapping);
}

Entry* entries_of(void* mapping) {
    return reinterpret_cast<Entry*>(static_cast<char*>(mapping) + sizeof(Header));
}

std::runtime_error file_error(const std::filesystem::path& path, const char* what) {
    return std::runtime_error("in-flight record " + path.string() + ": " + what + ": " +
                              std::strerror(errno));
}

// An open, locked record file; closing the descriptor releases the lock.
struct LockedFile {
    int fd = -1;
    ~LockedFile() {
        if (fd >= 0) ::close(fd);
    }
};

// Opens `path` and takes its lock without waiting; fd -1 when a live process holds it.
LockedFile lock_file(const std::filesystem::path& path, bool create) {
    LockedFile file;
    file.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (file.fd < 0) throw file_error(path, "open");
    if (::flock(file.fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) throw file_error(path, "flock");
        ::close(file.fd);
        file.fd = -1;
    }
    return file;
}

// A read-only look at a locked file's content: nullopt when it is not a record.
std::optional<OrphanBatch> read_orphan(int fd, const std::filesystem::path& path) {
    const off_t size = ::lseek(fd, 0, SEEK_END);
    if (size < static_cast<off_t>(sizeof(Header))) return std::nullopt;
    void* mapping = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_SHARED, fd, 0);
    if (mapping == MAP_FAILED) throw file_error(path, "mmap");
    std::optional<OrphanBatch> orphan;
    const Header& header = header_of(mapping);
    const size_t fits = (static_cast<size_t>(size) - sizeof(Header)) / sizeof(Entry);
    if (std::memcmp(header.magic, kMagic, sizeof kMagic) == 0 && header.count > 0 &&
        header.count <= fits) {
        orphan.emplace();
        orphan->file = path;
        orphan->pid = header.pid;
        orphan->phase = static_cast<InflightRecord::Phase>(header.phase.load());
        orphan->fatal_signal = header.fatal_signal.load();
        orphan->kill_cause = static_cast<InflightRecord::KillCause>(header.kill_cause.load());
        const bool judged_one_call = orphan->kill_cause == InflightRecord::KillCause::Timeout ||
                                     orphan->kill_cause == InflightRecord::KillCause::Memory;
        if (judged_one_call &&
            header.kill_call_started_ms.load() != header.call_started_ms.load()) {
            orphan->kill_cause = InflightRecord::KillCause::Collateral;
        }
        orphan->kill_detail = header.kill_detail.load();
        orphan->kill_measure = header.kill_measure.load();
        orphan->stream.assign(header.stream, strnlen(header.stream, sizeof header.stream));
        const Entry* entries = entries_of(mapping);
        for (uint32_t i = 0; i < header.count; ++i) {
            const Entry& entry = entries[i];
            orphan->messages.push_back(
                {entry.stream_sequence, entry.delivery_count, entry.forgiven,
                 std::string(entry.reply, strnlen(entry.reply, sizeof entry.reply)),
                 orphan->phase != InflightRecord::Phase::Idle && entry.in_hand != 0,
                 entry.suspect != 0});
        }
    }
    ::munmap(mapping, static_cast<size_t>(size));
    return orphan;
}

std::vector<std::filesystem::path> record_files(const std::filesystem::path& dir,
                                                const std::string& plugin) {
    std::vector<std::filesystem::path> files;
    std::error_code error;
    for (const auto& item : std::filesystem::directory_iterator(dir, error)) {
        const std::string name = item.path().filename().string();
        if (name.starts_with(plugin + ".") && name.ends_with(".inflight")) {
            files.push_back(item.path());
        }
    }
    return files;
}

}  // namespace

std::unique_ptr<InflightRecord> InflightRecord::claim(const std::filesystem::path& dir,
                                                      const std::string& plugin, size_t capacity) {
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) {
        throw std::runtime_error("in-flight record directory " + dir.string() + ": " +
                                 error.message());
    }
    // Bounded: each index is held by a live worker (two each) or holds an orphan; there are not
    // more of either than twice the workers that ever ran at once.
    for (int index = 0; index < 100000; ++index) {
        const auto path = dir / (plugin + "." + std::to_string(index) + ".inflight");
        LockedFile file = lock_file(path, true);
        if (file.fd < 0) continue;
        // An unheld record with a batch is an orphan, left for the recovery to read.
        if (read_orphan(file.fd, path)) continue;
        const size_t size = file_size(capacity);
        if (::ftruncate(file.fd, static_cast<off_t>(size)) != 0) {
            throw file_error(path, "ftruncate");
        }
        void* mapping = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd, 0);
        if (mapping == MAP_FAILED) throw file_error(path, "mmap");
        Header& header = header_of(mapping);
        std::memcpy(header.magic, kMagic, sizeof kMagic);
        header.capacity = static_cast<uint32_t>(capacity);
        header.phase.store(static_cast<uint32_t>(Phase::Idle));
        header.count = 0;
        header.pid = static_cast<int32_t>(::getpid());
        header.fatal_signal.store(0);
        header.call_started_ms.store(0);
        header.in_host_call.store(0);
        header.kill_cause.store(0);
        header.kill_detail.store(0);
        header.kill_measure.store(0);
        header.kill_call_started_ms.store(0);
        install_fatal_signal_handlers();
        const int fd = std::exchange(file.fd, -1);
        return std::unique_ptr<InflightRecord>(new InflightRecord(fd, mapping, size, path));
    }
    throw std::runtime_error("in-flight records in " + dir.string() + ": no free slot for " +
                             plugin);
}

InflightRecord::InflightRecord(int fd, void* mapping, size_t size, std::filesystem::path path)
    : fd_(fd), mapping_(mapping), size_(size), path_(std::move(path)) {}

InflightRecord::~InflightRecord() {
    ::munmap(mapping_, size_);
    ::close(fd_);
}

void InflightRecord::begin_batch(const std::string& stream, std::span<const Recorded> batch) {
    Header& header = header_of(mapping_);
    Entry* entries = entries_of(mapping_);
    const size_t count = std::min<size_t>(batch.size(), header.capacity);
    for (size_t i = 0; i < count; ++i) {
        Entry& entry = entries[i];
        const IncomingMessage& message = *batch[i].message;
        entry.stream_sequence = message.stream_sequence;
        entry.delivery_count = message.delivery_count;
        entry.forgiven = batch[i].forgiven;
        entry.suspect = batch[i].suspect ? 1 : 0;
        entry.in_hand = 0;
        const char* reply = natsMsg_GetReply(message.message.get());
        const size_t length = reply != nullptr ? std::strlen(reply) : 0;
        if (length < sizeof entry.reply) {
            std::memcpy(entry.reply, reply != nullptr ? reply : "", length + 1);
        } else {
            entry.reply[0] = '\0';
        }
    }
    const size_t stream_length = std::min(stream.size(), sizeof header.stream - 1);
    std::memcpy(header.stream, stream.data(), stream_length);
    header.stream[stream_length] = '\0';
    header.count = static_cast<uint32_t>(count);
}

void InflightRecord::enter(Phase phase, std::span<const uint32_t> in_hand) {
    Header& header = header_of(mapping_);
    Entry* entries = entries_of(mapping_);
    in_hand_.clear();
    for (const uint32_t index : in_hand) {
        if (index >= header.count) continue;
        entries[index].in_hand = 1;
        in_hand_.push_back(index);
    }
    ensure_alternate_stack();
    t_calling = &header;
    header.call_started_ms.store(steady_ms(), std::memory_order_relaxed);
    header.phase.store(static_cast<uint32_t>(phase), std::memory_order_release);
}

void InflightRecord::leave() {
    Header& header = header_of(mapping_);
    header.phase.store(static_cast<uint32_t>(Phase::Idle), std::memory_order_release);
    t_calling = nullptr;
    Entry* entries = entries_of(mapping_);
    for (const uint32_t index : in_hand_) entries[index].in_hand = 0;
    in_hand_.clear();
}

void InflightRecord::end_batch() {
    header_of(mapping_).count = 0;
}

std::optional<int64_t> InflightRecord::call_elapsed_ms() const {
    const Header& header = header_of(mapping_);
    if (header.phase.load(std::memory_order_acquire) == static_cast<uint32_t>(Phase::Idle) ||
        header.in_host_call.load() != 0) {
        return std::nullopt;
    }
    return steady_ms() - header.call_started_ms.load(std::memory_order_relaxed);
}

void InflightRecord::mark_stuck_calls(int64_t limit_ms) {
    const std::optional<int64_t> elapsed = call_elapsed_ms();
    if (!elapsed || *elapsed <= limit_ms) return;
    Header& header = header_of(mapping_);
    header.kill_detail.store(limit_ms);
    header.kill_measure.store(*elapsed);
    header.kill_call_started_ms.store(header.call_started_ms.load());
    header.kill_cause.store(static_cast<uint32_t>(KillCause::Timeout));
}

HostCallScope::HostCallScope() : started_ms_(steady_ms()) {
    if (t_calling != nullptr) t_calling->in_host_call.store(1);
}

HostCallScope::~HostCallScope() {
    if (Header* header = t_calling) {
        header->call_started_ms.fetch_add(steady_ms() - started_ms_);
        header->in_host_call.store(0);
    }
}

namespace {

// A live worker's record, mapped for its supervisor (which takes no lock: the worker holds it).
class MappedHeader {
  public:
    explicit MappedHeader(const std::filesystem::path& path) {
        fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (fd_ < 0) return;
        struct stat info {};
        if (::fstat(fd_, &info) != 0 || info.st_size < static_cast<off_t>(sizeof(Header))) return;
        void* mapping = ::mmap(nullptr, sizeof(Header), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
        if (mapping == MAP_FAILED) return;
        header_ = static_cast<Header*>(mapping);
        if (std::memcmp(header_->magic, kMagic, sizeof kMagic) != 0) {
            ::munmap(header_, sizeof(Header));
            header_ = nullptr;
        }
    }
    ~MappedHeader() {
        if (header_ != nullptr) ::munmap(header_, sizeof(Header));
        if (fd_ >= 0) ::close(fd_);
    }
    MappedHeader(const MappedHeader&) = delete;
    MappedHeader& operator=(const MappedHeader&) = delete;

    Header* get() const { return header_; }
    // Taking the lock succeeds only where no process holds it (and is given back at once).
    bool held_by_live_process() const {
        if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
            ::flock(fd_, LOCK_UN);
            return false;
        }
        return true;
    }

  private:
    int fd_ = -1;
    Header* header_ = nullptr;
};

}  // namespace

std::vector<CallInProgress> calls_in_progress(const std::filesystem::path& dir,
                                              const std::string& plugin, int32_t pid) {
    std::vector<CallInProgress> calls;
    const int64_t now = steady_ms();
    for (const auto& path : record_files(dir, plugin)) {
        const MappedHeader mapped(path);
        const Header* header = mapped.get();
        if (header == nullptr || header->pid != pid) continue;
        const auto phase = static_cast<InflightRecord::Phase>(header->phase.load());
        if (phase == InflightRecord::Phase::Idle) continue;
        // A record its process no longer holds is an orphan left for recovery, whatever its
        // pid says (a pid is reused after a restart).
        if (!mapped.held_by_live_process()) continue;
        const int64_t started = header->call_started_ms.load();
        calls.push_back({path, phase, now - started, started, header->in_host_call.load() != 0});
    }
    return calls;
}

void mark_kill_cause(const CallInProgress& call, InflightRecord::KillCause cause, int64_t detail,
                     int64_t measure) {
    const MappedHeader mapped(call.file);
    if (Header* header = mapped.get()) {
        header->kill_detail.store(detail);
        header->kill_measure.store(measure);
        header->kill_call_started_ms.store(call.started_ms);
        header->kill_cause.store(static_cast<uint32_t>(cause));
    }
}

std::vector<OrphanBatch> find_orphan_batches(const std::filesystem::path& dir,
                                             const std::string& plugin) {
    std::vector<OrphanBatch> orphans;
    for (const auto& path : record_files(dir, plugin)) {
        const LockedFile file = lock_file(path, false);
        if (file.fd < 0) continue;
        if (auto orphan = read_orphan(file.fd, path)) orphans.push_back(std::move(*orphan));
    }
    // The recovery hands messages back in this order, and JetStream redelivers nak'ed messages
    // in the order of the naks: a worker holds two batches, whose records the directory lists
    // in any order.
    const auto first_sequence = [](const OrphanBatch& orphan) {
        return orphan.messages.empty() ? 0 : orphan.messages.front().stream_sequence;
    };
    std::sort(orphans.begin(), orphans.end(), [&](const OrphanBatch& a, const OrphanBatch& b) {
        return first_sequence(a) < first_sequence(b);
    });
    return orphans;
}

void clear_orphan_batch(const OrphanBatch& orphan) {
    const LockedFile file = lock_file(orphan.file, false);
    if (file.fd < 0) return;
    const off_t size = ::lseek(file.fd, 0, SEEK_END);
    if (size < static_cast<off_t>(sizeof(Header))) return;
    void* mapping = ::mmap(nullptr, sizeof(Header), PROT_READ | PROT_WRITE, MAP_SHARED, file.fd, 0);
    if (mapping == MAP_FAILED) throw file_error(orphan.file, "mmap");
    header_of(mapping).phase.store(static_cast<uint32_t>(InflightRecord::Phase::Idle));
    header_of(mapping).count = 0;
    ::munmap(mapping, sizeof(Header));
}

}  // namespace nomnom::host
