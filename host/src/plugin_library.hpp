#pragma once

#include <nomnom/plugin.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace nomnom {

// Raised when a plugin file cannot be used; the message says exactly why.
class PluginRefused : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A dlopen()ed plugin whose descriptor passed validation. Unloads on destruction, so it must
// outlive every instance created from it and every thread that may call into it.
class PluginLibrary {
  public:
    // Opens `file`, resolves the entry symbol and validates the descriptor; throws PluginRefused.
    static std::shared_ptr<PluginLibrary> open(const std::filesystem::path& file);

    ~PluginLibrary();
    PluginLibrary(const PluginLibrary&) = delete;
    PluginLibrary& operator=(const PluginLibrary&) = delete;

    const nomnom_plugin_descriptor& descriptor() const { return *descriptor_; }
    const std::filesystem::path& file() const { return file_; }
    std::string name() const { return descriptor_->name; }
    std::string version() const { return descriptor_->version; }
    std::vector<std::string> subjects() const;

  private:
    PluginLibrary(std::filesystem::path file, void* handle, const nomnom_plugin_descriptor* d)
        : file_(std::move(file)), handle_(handle), descriptor_(d) {}

    std::filesystem::path file_;
    void* handle_;
    const nomnom_plugin_descriptor* descriptor_;
};

// Checks a descriptor against what this host understands; returns the reason it is unusable,
// or an empty string.
std::string validate_descriptor(const nomnom_plugin_descriptor* descriptor);

// Loading a .so runs its code: refuses a file (symlinks resolved) that someone other than root
// or the host's user owns or could write, or that sits under a directory (up to /) others could
// write to without the sticky bit.
std::string check_plugin_permissions(const std::filesystem::path& path);

struct PluginScan {
    std::vector<std::shared_ptr<PluginLibrary>> loaded;
    std::vector<std::pair<std::filesystem::path, std::string>> refused;  // file, reason
};

// Loads every *.so directly inside `dir` (sorted by file name). A refused file never stops the
// others from loading.
PluginScan scan_plugin_dir(const std::filesystem::path& dir);

}  // namespace nomnom
