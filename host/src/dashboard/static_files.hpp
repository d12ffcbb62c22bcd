#pragma once

#include <cstddef>

namespace nomnom::host {

// The dashboard's page, script and style sheet, compiled into the binary (the page must work
// with no internet and nothing installed beside nomnom-host).
struct StaticFile {
    const char* path;  // "/index.html"
    const char* content_type;
    const char* data;
    size_t size;
};

extern const StaticFile kStaticFiles[];
extern const size_t kStaticFileCount;

}  // namespace nomnom::host
