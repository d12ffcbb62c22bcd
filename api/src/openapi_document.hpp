#pragma once

#include <string_view>

namespace nomnom::api {

// The OpenAPI 3 document of nomnom-api (api/openapi.json, compiled in), served at
// /api-docs/openapi.json.
std::string_view openapi_document();

}  // namespace nomnom::api
