#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace nomnom::host {

struct IncomingMessage;

// One batch a worker holds (it has two records: the batch in process and the next one) and what
// it has handed to its plugin, in a memory-mapped file that outlives the process. A host that died
// inside a plugin call (SIGSEGV, abort, the OOM killer) learns at its next start which message did
// it, and sets that message aside instead of calling the plugin on it again. Written with plain
// stores into the mapping: the kernel keeps the pages of a dead process, and only a dead process
// (not a dead machine) is guarded against.
class InflightRecord {
  public:
    enum class Phase : uint32_t { Idle = 0, Parse = 1, Persist = 2 };
    // Why the supervising process killed the worker, written into its records right before.
    enum class KillCause : uint32_t {
        None = 0,
        Timeout = 1,  // this record's call ran past parse_timeout_ms
        Memory = 2,   // over max_memory_mb while this record's call was the only one
        // Over max_memory_mb with several calls in progress: each is only a suspect, as after
        // a kill from outside.
        MemoryShared = 3,
        // Killed for another record's call, or at a shutdown or start deadline: nothing this
        // record holds is to blame.
        Collateral = 4,
    };

    // Claims a record file of `plugin` in `dir` that no live worker holds (flock), sized for
    // batches of up to `capacity` messages. Throws std::runtime_error naming the file.
    static std::unique_ptr<InflightRecord> claim(const std::filesystem::path& dir,
                                                 const std::string& plugin, size_t capacity);
    ~InflightRecord();
    InflightRecord(const InflightRecord&) = delete;
    InflightRecord& operator=(const InflightRecord&) = delete;

    // One fetched message as the record keeps it.
    struct Recorded {
        const IncomingMessage* message;
        uint64_t forgiven;  // deliveries it lost to earlier deaths it did not cause
        bool suspect;       // handed to the plugin alone, since an earlier death implicated it
    };
    // The fetched batch, before anything is done with it: messages beyond `capacity` are not
    // recorded (and would come back after ack_wait if the process died).
    void begin_batch(const std::string& stream, std::span<const Recorded> batch);
    // Right before a call into the plugin: which messages of the batch are in its hands.
    void enter(Phase phase, std::span<const uint32_t> in_hand);
    void leave();
    // The batch is settled: nothing of it is left to recover.
    void end_batch();
    // How long the call into the plugin in progress has run (the time its persist spent in the
    // host's database calls excepted); nullopt between calls and during such a database call.
    std::optional<int64_t> call_elapsed_ms() const;
    // Before the process leaves a call that cannot be interrupted (isolation = "thread"): a
    // call past `limit_ms` is recorded as the timeout that ended the process.
    void mark_stuck_calls(int64_t limit_ms);

  private:
    InflightRecord(int fd, void* mapping, size_t size, std::filesystem::path path);

    int fd_;
    void* mapping_;
    size_t size_;
    std::filesystem::path path_;
    std::vector<uint32_t> in_hand_;
};

// Brackets a host API call a plugin makes from its persist callback (a database statement):
// that time is the database's, so it does not count toward parse_timeout_ms.
class HostCallScope {
  public:
    HostCallScope();
    ~HostCallScope();
    HostCallScope(const HostCallScope&) = delete;
    HostCallScope& operator=(const HostCallScope&) = delete;

  private:
    int64_t started_ms_;
};

// One message a dead worker held.
struct OrphanMessage {
    uint64_t stream_sequence = 0;
    uint64_t delivery_count = 0;
    uint64_t forgiven = 0;  // deliveries lost to earlier deaths it did not cause
    std::string reply;      // its ack subject; empty when it did not fit the record
    bool in_hand = false;
    bool suspect = false;  // it was handed to the plugin alone as a suspect
};

// A record whose worker died with a batch in hand.
struct OrphanBatch {
    std::filesystem::path file;
    int32_t pid = 0;
    InflightRecord::Phase phase = InflightRecord::Phase::Idle;
    int32_t fatal_signal = 0;  // what the plugin call died of; 0: killed from outside
    InflightRecord::KillCause kill_cause = InflightRecord::KillCause::None;
    int64_t kill_detail = 0;   // the limit that was passed (ms or MB)
    int64_t kill_measure = 0;  // what was measured (ms the call ran, MB of RSS)
    std::string stream;
    std::vector<OrphanMessage> messages;
};

// The records of `plugin` in `dir` that no live process holds and that still have a batch:
// what workers of a host that died were doing, the oldest batch first. A missing `dir` has none.
std::vector<OrphanBatch> find_orphan_batches(const std::filesystem::path& dir,
                                             const std::string& plugin);
// A call into the plugin that a worker process is making now, seen from its supervisor.
struct CallInProgress {
    std::filesystem::path file;
    InflightRecord::Phase phase = InflightRecord::Phase::Idle;
    int64_t elapsed_ms = 0;
    int64_t started_ms = 0;     // identifies the call
    bool in_host_call = false;  // its persist waits for the database: not the plugin's time
};
// The calls into `plugin` that the workers of process `pid` (holding their records) are in.
std::vector<CallInProgress> calls_in_progress(const std::filesystem::path& dir,
                                              const std::string& plugin, int32_t pid);
// Tells the recovery why the supervisor is about to kill the process making `call`.
void mark_kill_cause(const CallInProgress& call, InflightRecord::KillCause cause, int64_t detail,
                     int64_t measure);

// Marks an orphan's record empty once its messages are dealt with (unless a live worker claimed
// it meanwhile, which only happens after it was emptied).
void clear_orphan_batch(const OrphanBatch& orphan);

}  // namespace nomnom::host
