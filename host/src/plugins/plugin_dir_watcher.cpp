#include "plugins/plugin_dir_watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace nomnom::host {

PluginDirWatcher::PluginDirWatcher(const std::filesystem::path& dir) {
    fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error(std::string("inotify_init1: ") + std::strerror(errno));
    constexpr uint32_t kEvents = IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO |
                                 IN_MOVED_FROM | IN_DELETE | IN_ATTRIB;
    if (::inotify_add_watch(fd_, dir.c_str(), kEvents) < 0) {
        const std::string reason = std::strerror(errno);
        ::close(fd_);
        throw std::runtime_error("plugins.watch: cannot watch " + dir.string() + ": " + reason);
    }
}

PluginDirWatcher::~PluginDirWatcher() {
    ::close(fd_);
}

bool PluginDirWatcher::changed() {
    alignas(inotify_event) char buffer[8192];
    bool any = false;
    ssize_t length;
    while ((length = ::read(fd_, buffer, sizeof buffer)) > 0) {
        any = true;
        for (ssize_t offset = 0; offset < length;) {
            const auto* event = reinterpret_cast<const inotify_event*>(buffer + offset);
            offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
            if (event->len == 0) continue;
            const std::string name = event->name;
            if ((event->mask & (IN_CREATE | IN_MODIFY)) != 0) being_written_.insert(name);
            if ((event->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)) != 0) {
                being_written_.erase(name);
            }
        }
    }
    return any;
}

}  // namespace nomnom::host
