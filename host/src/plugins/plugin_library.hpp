#pragma once

#include <nomnom/plugin.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace nomnom::host {

// Raised when a plugin file cannot be used; the message says exactly why.
class PluginRefused : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A dlopen()ed plugin whose descriptor passed validation. Unloads on destruction, so it must
// outlive every instance created from it and every thread that may call into it.
//
// The library is loaded from a private copy of the file, because dlopen() caches by path: a new
// build installed under the same name would otherwise never be loaded while the old one is.
class PluginLibrary {
  public:
    // Checks `file`'s permissions, loads a private copy, resolves the entry symbol and validates
    // the descriptor; throws PluginRefused.
    static std::shared_ptr<PluginLibrary> open(const std::filesystem::path& file);

    ~PluginLibrary();
    PluginLibrary(const PluginLibrary&) = delete;
    PluginLibrary& operator=(const PluginLibrary&) = delete;

    const nomnom_plugin_descriptor& descriptor() const { return *descriptor_; }
    const std::filesystem::path& file() const { return file_; }
    // The private copy that was loaded, kept while this object lives: what a worker process
    // loads, whatever happens to file() meanwhile.
    const std::filesystem::path& loaded_copy() const { return copy_; }
    // Content hash of the file as loaded; a reload replaces the plugin when it changes.
    const std::string& content_hash() const { return hash_; }
    std::string name() const { return descriptor_->name; }
    std::string version() const { return descriptor_->version; }
    std::vector<std::string> subjects() const;

  private:
    PluginLibrary(std::filesystem::path file, std::filesystem::path copy, std::string hash,
                  void* handle, const nomnom_plugin_descriptor* d)
        : file_(std::move(file)),
          copy_(std::move(copy)),
          hash_(std::move(hash)),
          handle_(handle),
          descriptor_(d) {}

    std::filesystem::path file_;
    std::filesystem::path copy_;
    std::string hash_;
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

// FNV-1a 64 of the file's bytes, in hex; throws PluginRefused when it cannot be read.
std::string file_content_hash(const std::filesystem::path& file);

// The *.so files directly inside `dir`, sorted by name (other names, like the temporary name of
// a file being installed, are ignored); throws PluginRefused when the directory cannot be read.
std::vector<std::filesystem::path> list_plugin_files(const std::filesystem::path& dir);

}  // namespace nomnom::host
