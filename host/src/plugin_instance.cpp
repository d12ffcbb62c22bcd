#include "plugin_instance.hpp"

#include "row_batch.hpp"

namespace nomnom {

PluginInstance::PluginInstance(std::shared_ptr<PluginLibrary> library,
                               const std::string& config_json)
    : library_(std::move(library)) {
    char reason[1024] = "";
    nomnom_error error{reason, sizeof reason};
    instance_ = library_->descriptor().create(host_api(), config_json.c_str(), &error);
    if (instance_ == nullptr) {
        throw PluginRefused(std::string("create failed: ") +
                            (reason[0] != '\0' ? reason : "(no reason given)"));
    }
}

PluginInstance::~PluginInstance() {
    library_->descriptor().destroy(instance_);
}

}  // namespace nomnom
