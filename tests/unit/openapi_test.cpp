// nomnom-api's OpenAPI document against its routes: every route documented with its one method,
// nothing documented that the server does not answer.

#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include <cctype>
#include <set>
#include <string>

#include "api_server.hpp"
#include "openapi_document.hpp"

TEST_CASE("the OpenAPI document names exactly the routes nomnom-api answers", "[api][openapi]") {
    const std::string_view text = nomnom::api::openapi_document();
    rapidjson::Document document;
    document.Parse(text.data(), text.size());
    REQUIRE_FALSE(document.HasParseError());
    CHECK(std::string(document["openapi"].GetString()).starts_with("3."));
    CHECK(std::string(document["info"]["version"].GetString()) == NOMNOM_VERSION);

    std::set<std::string> documented;
    for (const auto& path : document["paths"].GetObject()) {
        for (const auto& operation : path.value.GetObject()) {
            std::string method = operation.name.GetString();
            for (char& c : method)
                c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            documented.insert(method + " " + path.name.GetString());
            CHECK(operation.value.HasMember("responses"));
        }
    }
    std::set<std::string> served;
    for (const nomnom::api::RouteSpec& route : nomnom::api::routes()) {
        served.insert(std::string(route.method) + " " + route.path);
    }
    CHECK(documented == served);
}
