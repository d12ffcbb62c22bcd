#pragma once

#include <filesystem>
#include <set>
#include <string>

namespace nomnom::host {

// inotify on the plugins directory, polled from the host's main loop: any file created, written,
// moved or removed there counts as a change. The host reloads only once the directory has been
// quiet for plugins.settle_ms, so a file still being written is not loaded.
class PluginDirWatcher {
  public:
    // Throws std::runtime_error naming the directory when it cannot be watched.
    explicit PluginDirWatcher(const std::filesystem::path& dir);
    ~PluginDirWatcher();
    PluginDirWatcher(const PluginDirWatcher&) = delete;
    PluginDirWatcher& operator=(const PluginDirWatcher&) = delete;

    // Consumes the pending events; true when there was at least one.
    bool changed();

    // Files opened for writing and not closed yet: a writer that pauses longer than the settle
    // time must still not have its half-written file loaded.
    const std::set<std::string>& files_being_written() const { return being_written_; }

  private:
    int fd_ = -1;
    std::set<std::string> being_written_;
};

}  // namespace nomnom::host
