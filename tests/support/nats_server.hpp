#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "process.hpp"
#include "temp_dir.hpp"

namespace nomnom::testing {

// A private nats-server with JetStream (file store) on 127.0.0.1, in its own TempDir.
// NOMNOM_NATS_SERVER overrides the binary.
class NatsServer {
  public:
    // Starts the server and returns once JetStream answers (at most 10 s, else throws).
    NatsServer();
    ~NatsServer();
    NatsServer(const NatsServer&) = delete;
    NatsServer& operator=(const NatsServer&) = delete;

    // "nats://127.0.0.1:PORT"; stays the same across restart().
    const std::string& url() const { return url_; }
    std::uint16_t port() const { return port_; }
    const std::filesystem::path& store_dir() const { return store_dir_; }
    // The server's stdout and stderr, appended across restarts.
    std::filesystem::path log_file() const;
    bool running();

    // SIGTERM and wait up to 10 s (SIGKILL after that).
    void stop();
    // Stops it if running, then starts it again on the same port and store dir.
    void restart();
    // Simulates a crash: the file store keeps whatever had been synced.
    void kill9();

    // Stops the server process (SIGSTOP) while it lives, as a hung server: connections stay
    // open but nothing is answered. Its destructor resumes the server (SIGCONT) however the
    // test leaves the scope.
    class Frozen {
      public:
        explicit Frozen(Process& process);
        ~Frozen();
        Frozen(const Frozen&) = delete;
        Frozen& operator=(const Frozen&) = delete;

      private:
        Process& process_;
    };
    [[nodiscard]] Frozen freeze() { return Frozen(process_); }

  private:
    void launch();

    TempDir dir_;
    std::filesystem::path store_dir_;
    std::uint16_t port_ = 0;
    std::string url_;
    Process process_;
};

// Three nats-server processes in one cluster, each with JetStream: a stream of 3 replicas
// survives the loss of any one of them. Servers are named nats-0, nats-1 and nats-2.
class NatsCluster {
  public:
    // Starts all three and returns once JetStream answers through each (at most 30 s).
    NatsCluster();
    ~NatsCluster();
    NatsCluster(const NatsCluster&) = delete;
    NatsCluster& operator=(const NatsCluster&) = delete;

    // Every member's client URL, comma-separated, as a client configures a cluster.
    std::string urls() const;
    // The member named `server_name`; throws when there is none.
    size_t index_of(const std::string& server_name) const;
    void kill9(size_t index);

  private:
    struct Member {
        std::string name;
        std::uint16_t port = 0;
        std::uint16_t cluster_port = 0;
        Process process;
    };

    TempDir dir_;
    std::vector<std::unique_ptr<Member>> members_;
};

struct ConsumerStats {
    std::uint64_t num_pending = 0;
    std::int64_t num_ack_pending = 0;
    std::int64_t num_redelivered = 0;
    std::uint64_t delivered_consumer_seq = 0;
    std::uint64_t delivered_stream_seq = 0;
    std::uint64_t ack_floor_stream_seq = 0;
};

struct ListedConsumer {
    std::string name;
    std::string filter_subject;
    ConsumerStats stats;
};

// A test-side NATS connection with a JetStream context. It reconnects by itself (for up to a
// minute) so it survives NatsServer::restart(). Not for concurrent use from several threads.
class JetStreamClient {
  public:
    explicit JetStreamClient(const std::string& url);
    ~JetStreamClient();
    JetStreamClient(const JetStreamClient&) = delete;
    JetStreamClient& operator=(const JetStreamClient&) = delete;

    natsConnection* connection() const { return connection_; }
    jsCtx* js() const { return js_; }

    // Creates a file-backed stream, or updates an existing one to these subjects.
    // `max_msgs` >= 0: the stream refuses what would exceed it (discard new), as a full stream
    // of an operator's does.
    void ensure_stream(const std::string& name, const std::vector<std::string>& subjects,
                       std::int64_t max_msgs = -1);
    // Waits for the PubAck and returns the stream sequence. `msg_id` sets Nats-Msg-Id.
    std::uint64_t publish(const std::string& subject, std::string_view payload,
                          const std::optional<std::string>& msg_id = std::nullopt);
    // Publishes asynchronously and waits until every message is acknowledged; throws on the
    // first failed publish or when the acks do not all arrive within `timeout`.
    void publish_many(const std::string& subject, const std::vector<std::string>& payloads,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));
    ConsumerStats consumer_info(const std::string& stream, const std::string& durable);
    // Every consumer of `stream`; none when it has none.
    std::vector<ListedConsumer> consumers(const std::string& stream);
    std::uint64_t stream_message_count(const std::string& stream);
    // The payload of the newest message `stream` holds on `subject`.
    std::string last_message_data(const std::string& stream, const std::string& subject);
    // The name of the server leading `stream` in a cluster; empty outside of one.
    std::string stream_leader(const std::string& stream);

  private:
    static void on_async_error(jsCtx* js, jsPubAckErr* error, void* closure);

    natsConnection* connection_ = nullptr;
    jsCtx* js_ = nullptr;
    std::mutex async_mutex_;
    std::size_t async_failures_ = 0;
    std::string first_async_error_;
};

}  // namespace nomnom::testing
