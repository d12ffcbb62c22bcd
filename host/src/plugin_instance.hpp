#pragma once

#include <memory>
#include <string>

#include "plugin_library.hpp"

namespace nomnom {

// One created plugin instance; destroyed through the plugin before its library may unload.
class PluginInstance {
  public:
    // Calls create(); throws PluginRefused("create failed: <plugin's reason>").
    PluginInstance(std::shared_ptr<PluginLibrary> library, const std::string& config_json);
    ~PluginInstance();
    PluginInstance(const PluginInstance&) = delete;
    PluginInstance& operator=(const PluginInstance&) = delete;

    nomnom_instance* get() const { return instance_; }
    const nomnom_plugin_descriptor& descriptor() const { return library_->descriptor(); }

  private:
    std::shared_ptr<PluginLibrary> library_;
    nomnom_instance* instance_ = nullptr;
};

}  // namespace nomnom
