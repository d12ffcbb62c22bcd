#include "plugins/plugin_instance.hpp"

#include "plugins/row_batch.hpp"

namespace nomnom::host {

std::string reason_or_default(const char* reason) {
    return reason[0] != '\0' ? reason : "(the plugin gave no reason)";
}

PluginInstance::PluginInstance(std::shared_ptr<PluginLibrary> library,
                               const std::string& config_json, const nomnom_host_api* api)
    : library_(std::move(library)) {
    char reason[1024] = "";
    nomnom_error error{reason, sizeof reason};
    instance_ = library_->descriptor().create(api, config_json.c_str(), &error);
    if (instance_ == nullptr) {
        throw PluginRefused(std::string("create failed: ") +
                            (reason[0] != '\0' ? reason : "(no reason given)"));
    }
}

PluginInstance::~PluginInstance() {
    library_->descriptor().destroy(instance_);
}

int PluginInstance::parse(const nomnom_message& message, RowBatch& rows, uint32_t index,
                          std::string& reason) const {
    char buffer[2048];  // per message: only its first byte is cleared
    buffer[0] = '\0';
    nomnom_error error{buffer, sizeof buffer};
    rows.begin_message(index, message.stream_sequence);
    int status = descriptor().parse(instance_, &message, rows.as_sink(), &error);
    if (status == NOMNOM_OK) {
        rows.finish_message();
        if (rows.message_error().empty()) return NOMNOM_OK;
        status = NOMNOM_INVALID;
        reason = rows.message_error();
    } else {
        reason = reason_or_default(buffer);
    }
    rows.discard_message();
    return status;
}

}  // namespace nomnom::host
