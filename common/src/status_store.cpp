#include "nomnom/common/status_store.hpp"

#include <spdlog/spdlog.h>

namespace nomnom {

std::string status_subject(const std::string& bucket, const std::string& key) {
    return "$KV." + bucket + "." + key;
}

StatusStore::StatusStore(NatsClient& nats, const StatusConfig& config) : bucket_(config.bucket) {
    jsCtx* jetstream = nats.jetstream();
    natsStatus status = js_KeyValue(&store_, jetstream, config.bucket.c_str());
    if (status == NATS_NOT_FOUND) {
        kvConfig bucket;
        kvConfig_Init(&bucket);
        bucket.Bucket = config.bucket.c_str();
        bucket.Description = "nomnom message statuses (GET /ingest/status)";
        bucket.History = 1;
        bucket.TTL = config.ttl_s * 1000000000LL;
        bucket.StorageType = config.storage == "memory" ? js_MemoryStorage : js_FileStorage;
        status = js_CreateKeyValue(&store_, jetstream, &bucket);
        if (status == NATS_OK) {
            spdlog::info("created status bucket {} (entries expire after {} s)", config.bucket,
                         config.ttl_s);
        }
    }
    check_nats(status, "status bucket " + config.bucket);
    connection_ = nats.connection();
}

StatusStore::~StatusStore() {
    kvStore_Destroy(store_);
}

std::optional<std::string> StatusStore::get(const std::string& id) const {
    kvEntry* entry = nullptr;
    const natsStatus status = kvStore_Get(&entry, store_, id.c_str());
    if (status == NATS_NOT_FOUND) return std::nullopt;
    check_nats(status, "reading status of " + id);
    std::string value(static_cast<const char*>(kvEntry_Value(entry)),
                      static_cast<size_t>(kvEntry_ValueLen(entry)));
    kvEntry_Destroy(entry);
    return value;
}

void StatusStore::create_unconfirmed(const std::string& id, const std::string& json) {
    const std::string subject = status_subject(bucket_, id);
    natsMsg* message = nullptr;
    natsStatus status = natsMsg_Create(&message, subject.c_str(), nullptr, json.data(),
                                       static_cast<int>(json.size()));
    const NatsMsgPtr owned(message);
    // JetStream refuses the write when the key has any entry: a later status (the host may
    // record "persisted" before this arrives) is never overwritten by an earlier one.
    if (status == NATS_OK) {
        status = natsMsgHeader_Set(message, "Nats-Expected-Last-Subject-Sequence", "0");
    }
    if (status == NATS_OK) status = natsConnection_PublishMsg(connection_, message);
    if (status != NATS_OK) ++write_failures_;
}

}  // namespace nomnom
