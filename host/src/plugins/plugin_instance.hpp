#pragma once

#include <memory>
#include <string>

#include "plugins/plugin_library.hpp"

namespace nomnom::host {

class RowBatch;

// What a plugin wrote into its error buffer, or "(the plugin gave no reason)".
std::string reason_or_default(const char* reason);

// One created plugin instance; destroyed through the plugin before its library may unload.
class PluginInstance {
  public:
    // Calls create() with `api` (which must outlive the instance); throws
    // PluginRefused("create failed: <plugin's reason>").
    PluginInstance(std::shared_ptr<PluginLibrary> library, const std::string& config_json,
                   const nomnom_host_api* api);
    ~PluginInstance();
    PluginInstance(const PluginInstance&) = delete;
    PluginInstance& operator=(const PluginInstance&) = delete;

    nomnom_instance* get() const { return instance_; }
    const nomnom_plugin_descriptor& descriptor() const { return library_->descriptor(); }

    // Parses `message` into `rows` as message `index`. Its rows stay only when the result is
    // NOMNOM_OK; otherwise `reason` says why. A row the tables refuse turns the plugin's OK into
    // NOMNOM_INVALID.
    int parse(const nomnom_message& message, RowBatch& rows, uint32_t index,
              std::string& reason) const;

  private:
    std::shared_ptr<PluginLibrary> library_;
    nomnom_instance* instance_ = nullptr;
};

}  // namespace nomnom::host
