#include "plugins/plugin_library.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string_view>

#include "plugins/reserved_columns.hpp"
#include "plugins/table_outputs.hpp"

namespace nomnom::host {
namespace {

bool is_identifier(const char* text) {
    if (text == nullptr || *text == '\0') return false;
    if (!(std::isalpha(static_cast<unsigned char>(*text)) || *text == '_')) return false;
    return std::all_of(text, text + std::strlen(text), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
}

// [a-z0-9_]+, or [a-z0-9_-]+ with `dash`.
bool is_lowercase_name(const char* text, bool dash) {
    if (text == nullptr || *text == '\0') return false;
    return std::all_of(text, text + std::strlen(text), [dash](char c) {
        return std::islower(static_cast<unsigned char>(c)) ||
               std::isdigit(static_cast<unsigned char>(c)) || c == '_' || (dash && c == '-');
    });
}

constexpr const char* kArrayElementsNeverGrow = " (array elements never grow within ABI major 1)";

std::string validate_table(const nomnom_table& table, uint32_t index, bool host_writes) {
    const std::string where = "table " + std::to_string(index);
    // Array elements: any other size would be a stride this host steps through wrongly.
    if (table.struct_size != sizeof(nomnom_table)) {
        return where + ": struct_size " + std::to_string(table.struct_size) + ", expected " +
               std::to_string(sizeof(nomnom_table)) + kArrayElementsNeverGrow;
    }
    if (!is_identifier(table.name)) return where + ": name is not a SQL identifier";
    const std::string named = "table '" + std::string(table.name) + "'";
    if (table.column_count == 0 || table.columns == nullptr) return named + ": has no columns";
    std::set<std::string> columns;
    for (uint32_t c = 0; c < table.column_count; ++c) {
        const nomnom_column& column = table.columns[c];
        if (column.struct_size != sizeof(nomnom_column)) {
            return named + ": column " + std::to_string(c) + " has struct_size " +
                   std::to_string(column.struct_size) + ", expected " +
                   std::to_string(sizeof(nomnom_column)) + kArrayElementsNeverGrow;
        }
        if (!is_identifier(column.name)) {
            return named + ": column " + std::to_string(c) + " name is not a SQL identifier";
        }
        if (std::string_view(column.name) == kOrderColumn) {
            return named + ": column name '" + kOrderColumn +
                   "' is reserved by the host (its staging tables order rows with it)";
        }
        if (std::string_view(column.name) == kSequenceColumn) {
            return named + ": column name '" + kSequenceColumn +
                   "' is reserved by the host (it keeps each row's message sequence there)";
        }
        if (column.type < NOMNOM_TYPE_I64 || column.type > NOMNOM_TYPE_JSON) {
            return named + ": column '" + column.name + "' has unknown type " +
                   std::to_string(column.type);
        }
        if (!columns.insert(column.name).second) {
            return named + ": column '" + column.name + "' is declared twice";
        }
    }
    if (table.conflict_key_count > 0 && table.conflict_keys == nullptr) {
        return named + ": conflict_keys is NULL but conflict_key_count is " +
               std::to_string(table.conflict_key_count);
    }
    for (uint32_t k = 0; k < table.conflict_key_count; ++k) {
        const char* key = table.conflict_keys[k];
        if (key == nullptr || !columns.contains(key)) {
            return named + ": conflict key '" + (key ? key : "(null)") +
                   "' is not one of its columns";
        }
        for (uint32_t c = 0; c < table.column_count; ++c) {
            if (std::string_view(table.columns[c].name) == key && table.columns[c].nullable) {
                // NULLs never conflict: a redelivery would insert the row again.
                return named + ": conflict key '" + key + "' is nullable";
            }
        }
    }
    if (host_writes && table.conflict_key_count == 0) {
        return named + ": declares no conflict keys; the host writes it with an idempotent " +
               "upsert and needs them (or the plugin must provide persist, or only publish it)";
    }
    return {};
}

// The host looks a dialect up by the string db_dialect returns, so an entry no such string can
// name, or a second entry for one, would be ignored without a word.
std::string validate_ddl(const nomnom_plugin_descriptor& d) {
    if (!NOMNOM_HOST_HAS(&d, ddl_count) || d.ddl_count == 0) return {};
    if (d.ddl == nullptr) return "ddl is NULL but ddl_count is " + std::to_string(d.ddl_count);
    std::set<std::string_view> dialects;
    for (uint32_t i = 0; i < d.ddl_count; ++i) {
        const nomnom_ddl& entry = d.ddl[i];
        const std::string where = "ddl[" + std::to_string(i) + "]";
        if (entry.dialect == nullptr) return where + ": dialect is NULL";
        if (!is_lowercase_name(entry.dialect, false)) {
            return where + ": dialect '" + entry.dialect + "' must match [a-z0-9_]+";
        }
        if (entry.sql == nullptr) return where + ": sql is NULL";
        if (!dialects.insert(entry.dialect).second) {
            return where + ": dialect '" + entry.dialect + "' is listed twice";
        }
    }
    return {};
}

}  // namespace

std::string validate_descriptor(const nomnom_plugin_descriptor* d) {
    if (d == nullptr) return std::string(NOMNOM_ENTRY_SYMBOL) + " returned NULL";
    if (d->abi_major != NOMNOM_ABI_MAJOR) {
        return "plugin ABI major " + std::to_string(d->abi_major) + ", host supports " +
               std::to_string(NOMNOM_ABI_MAJOR);
    }
    // The 1.0 layout ends where the first field added after it starts.
    constexpr size_t layout_1_0 = offsetof(nomnom_plugin_descriptor, table_outputs);
    if (d->struct_size < layout_1_0) {
        return "descriptor struct_size " + std::to_string(d->struct_size) +
               " is smaller than the 1.0 layout (" + std::to_string(layout_1_0) + ")";
    }
    if (!is_lowercase_name(d->name, true)) return "descriptor name must match [a-z0-9_-]+";
    if (d->version == nullptr || *d->version == '\0') return "descriptor version is empty";
    if (d->subject_count == 0 || d->subjects == nullptr) return "descriptor has no subjects";
    for (uint32_t s = 0; s < d->subject_count; ++s) {
        if (d->subjects[s] == nullptr || *d->subjects[s] == '\0') {
            return "subject " + std::to_string(s) + " is empty";
        }
    }
    if (d->create == nullptr || d->destroy == nullptr || d->parse == nullptr) {
        return "descriptor lacks create, destroy or parse";
    }
    if (d->threading != NOMNOM_THREADING_INSTANCE_PER_THREAD &&
        d->threading != NOMNOM_THREADING_SHARED_INSTANCE) {
        return "unknown threading model " + std::to_string(d->threading);
    }
    if (d->table_count == 0 || d->tables == nullptr) return "descriptor declares no tables";
    std::vector<uint32_t> unknown_outputs;
    const TableOutputs outputs = declared_outputs(*d, &unknown_outputs);
    if (!unknown_outputs.empty()) {
        const uint32_t t = unknown_outputs.front();
        return "table_outputs[" + std::to_string(t) + "] is " +
               std::to_string(d->table_outputs[t]) + ", not a nomnom_output";
    }
    if (std::string reason = validate_ddl(*d); !reason.empty()) return reason;
    std::set<std::string> names;
    for (uint32_t t = 0; t < d->table_count; ++t) {
        const bool host_writes = d->persist == nullptr && outputs[t].store;
        if (std::string reason = validate_table(d->tables[t], t, host_writes); !reason.empty()) {
            return reason;
        }
        if (!names.insert(d->tables[t].name).second) {
            return "table '" + std::string(d->tables[t].name) + "' is declared twice";
        }
    }
    return {};
}

namespace {

std::string check_entry(const std::filesystem::path& path, bool check_owner) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return "cannot stat " + path.string();
    // A sticky directory (like /tmp) lets others add entries but not replace ours.
    const bool sticky_dir = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) != 0;
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && !sticky_dir) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%03o", st.st_mode & 0777);
        return path.string() + " is writable by group or others (mode " + mode +
               "); refusing to load code that someone else could have replaced";
    }
    if (check_owner && st.st_uid != 0 && st.st_uid != ::geteuid()) {
        return path.string() + " is owned by uid " + std::to_string(st.st_uid) +
               ", neither root nor the host's user";
    }
    return {};
}

}  // namespace

std::string check_plugin_permissions(const std::filesystem::path& path) {
    std::error_code error;
    // Symlinks are followed: what matters is who can change the file that gets mapped.
    const std::filesystem::path real = std::filesystem::canonical(path, error);
    if (error) return "cannot stat " + path.string() + ": " + error.message();
    if (std::string reason = check_entry(real, true); !reason.empty()) return reason;
    bool parent = true;
    for (std::filesystem::path dir = real.parent_path();; dir = dir.parent_path()) {
        if (std::string reason = check_entry(dir, parent); !reason.empty()) return reason;
        parent = false;
        if (dir == dir.root_path()) break;
    }
    return {};
}

namespace {

constexpr const char* kCopiesPrefix = "nomnom-plugins-";
// Held (shared) by the directory's owner for as long as it lives: a directory whose lock can be
// taken exclusively has no owner left.
constexpr const char* kOwnerLock = ".owner-lock";

// A host that dies by a signal (kill -9, the OOM killer, a crash outside plugin calls) cannot
// remove its directory; each start removes those of dead hosts of the same user, so that
// restarts after crashes do not fill the disk with copies. Directories without a lock file
// (hosts from before 2026-12-05) are left alone: nothing tells whether they are in use.
void remove_orphaned_copies(const std::filesystem::path& base) {
    std::error_code error;
    size_t removed = 0;
    for (const auto& entry : std::filesystem::directory_iterator(base, error)) {
        if (!entry.path().filename().string().starts_with(kCopiesPrefix)) continue;
        struct stat info {};
        if (::lstat(entry.path().c_str(), &info) != 0 || !S_ISDIR(info.st_mode) ||
            info.st_uid != ::geteuid()) {
            continue;
        }
        const int lock =
            ::open((entry.path() / kOwnerLock).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (lock < 0) continue;
        if (::flock(lock, LOCK_EX | LOCK_NB) == 0) {
            std::error_code ignored;
            std::filesystem::remove_all(entry.path(), ignored);
            ++removed;
        }
        ::close(lock);
    }
    if (removed > 0) {
        spdlog::info("removed {} private plugin directories in {} left by hosts that were killed",
                     removed, base.string());
    }
}

// Private copies live in a directory only this process can write; each copy is unlinked when its
// library is unloaded (worker processes load it meanwhile), and the directory goes when the
// process exits.
class PrivateCopies {
  public:
    PrivateCopies() {
        const char* tmp = std::getenv("TMPDIR");
        const std::filesystem::path base = tmp && *tmp ? tmp : "/tmp";
        remove_orphaned_copies(base);
        std::string pattern = (base / kCopiesPrefix).string() + "XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) return;
        // Locked before it gets its name, so that no other host's start can find it unlocked.
        const std::filesystem::path unnamed = std::filesystem::path(pattern) / ".owner-lock-new";
        owner_lock_ = ::open(unnamed.c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (owner_lock_ < 0 || ::flock(owner_lock_, LOCK_SH) != 0 ||
            ::rename(unnamed.c_str(), (std::filesystem::path(pattern) / kOwnerLock).c_str()) != 0) {
            std::error_code ignored;
            std::filesystem::remove_all(pattern, ignored);
            return;
        }
        dir_ = pattern;
    }
    ~PrivateCopies() {
        std::error_code ignored;
        if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
        if (owner_lock_ >= 0) ::close(owner_lock_);
    }

    std::filesystem::path copy(const std::filesystem::path& file, const std::string& hash) {
        if (dir_.empty()) throw PluginRefused("cannot create a private directory for plugins");
        const auto target =
            dir_ / (file.stem().string() + "-" + hash + "-" + std::to_string(++counter_) + ".so");
        std::error_code error;
        std::filesystem::copy_file(file, target, error);
        if (error)
            throw PluginRefused("cannot copy to " + target.string() + ": " + error.message());
        return target;
    }

  private:
    std::filesystem::path dir_;
    int owner_lock_ = -1;
    std::atomic<uint64_t> counter_{0};
};

PrivateCopies& private_copies() {
    static PrivateCopies copies;
    return copies;
}

}  // namespace

std::string file_content_hash(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw PluginRefused("cannot read " + file.string());
    uint64_t hash = 1469598103934665603ULL;
    char buffer[65536];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        for (std::streamsize i = 0; i < in.gcount(); ++i) {
            hash = (hash ^ static_cast<unsigned char>(buffer[i])) * 1099511628211ULL;
        }
    }
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
    return text;
}

std::vector<std::filesystem::path> list_plugin_files(const std::filesystem::path& dir) {
    std::error_code error;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
        if (entry.path().extension() == ".so") files.push_back(entry.path());
    }
    if (error) {
        throw PluginRefused("cannot read plugins directory " + dir.string() + ": " +
                            error.message());
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::shared_ptr<PluginLibrary> PluginLibrary::open(const std::filesystem::path& file) {
    if (std::string reason = check_plugin_permissions(file); !reason.empty()) {
        throw PluginRefused(reason);
    }
    const std::string hash = file_content_hash(file);
    const std::filesystem::path copy = private_copies().copy(file, hash);
    void* handle = ::dlopen(copy.c_str(), RTLD_NOW | RTLD_LOCAL);
    struct RemoveUnlessKept {
        std::filesystem::path path;
        ~RemoveUnlessKept() {
            std::error_code ignored;
            if (!path.empty()) std::filesystem::remove(path, ignored);
        }
    } remove{copy};
    if (handle == nullptr) throw PluginRefused(std::string("dlopen failed: ") + ::dlerror());
    auto* entry = reinterpret_cast<nomnom_entry_fn>(::dlsym(handle, NOMNOM_ENTRY_SYMBOL));
    if (entry == nullptr) {
        ::dlclose(handle);
        throw PluginRefused(std::string("missing entry symbol ") + NOMNOM_ENTRY_SYMBOL +
                            " (not a nomnom ABI v1 plugin)");
    }
    const nomnom_plugin_descriptor* descriptor = entry();
    if (std::string reason = validate_descriptor(descriptor); !reason.empty()) {
        ::dlclose(handle);
        throw PluginRefused(reason);
    }
    remove.path.clear();
    return std::shared_ptr<PluginLibrary>(new PluginLibrary(file, copy, hash, handle, descriptor));
}

PluginLibrary::~PluginLibrary() {
    ::dlclose(handle_);
    std::error_code ignored;
    std::filesystem::remove(copy_, ignored);
}

std::vector<std::string> PluginLibrary::subjects() const {
    return {descriptor_->subjects, descriptor_->subjects + descriptor_->subject_count};
}

}  // namespace nomnom::host
