#pragma once

#include <filesystem>
#include <string_view>

namespace nomnom::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
  public:
    explicit TempDir(std::string_view prefix = "nomnom");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    TempDir(TempDir&& other) noexcept;
    TempDir& operator=(TempDir&& other) noexcept;

    const std::filesystem::path& path() const { return path_; }

  private:
    void remove() noexcept;

    std::filesystem::path path_;
};

}  // namespace nomnom::testing
