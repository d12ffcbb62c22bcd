#include "dashboard/dashboard.hpp"

#include <Poco/Base64Encoder.h>
#include <Poco/Net/HTTPCookie.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NameValueCollection.h>
#include <Poco/URI.h>
#include <rapidjson/document.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <set>
#include <sstream>
#include <string_view>
#include <vector>

#include "dashboard/host_names.hpp"
#include "dashboard/json_text.hpp"
#include "dashboard/static_files.hpp"
#include "nomnom/common/json_depth.hpp"
#include "nomnom/common/utf8.hpp"
#include "pipeline/dead_letter.hpp"

namespace nomnom::host {

using Poco::Net::HTTPResponse;

namespace {

// Larger bodies are refused: a selection of 10,000 sequences is about 100 KB.
constexpr size_t kMaxBody = 1 << 20;
// One replay or purge of a filter acts on at most this many letters; the answer says whether
// more matched.
constexpr uint64_t kMaxPerAction = 10000;
// A page of the list reads at most this many sequences, so that a filter matching few of tens
// of thousands of letters answers in bounded time; the page's cursor goes on from there.
constexpr uint64_t kMaxScanned = 5000;

const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

struct HttpError {
    HTTPResponse::HTTPStatus status;
    std::string message;
    std::string json = {};  // the answer's body when set; else {"error": message}
};

std::optional<uint64_t> number_of(std::string_view text) {
    uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

const StaticFile* static_file(const std::string& path) {
    const std::string wanted = path == "/" ? "/index.html" : path;
    for (size_t i = 0; i < kStaticFileCount; ++i) {
        if (wanted == kStaticFiles[i].path) return &kStaticFiles[i];
    }
    return nullptr;
}

std::string error_json(const std::string& message) {
    rapidjson::StringBuffer buffer;
    JsonWriter out(buffer);
    out.StartObject();
    out.Key("error");
    put_text(out, message);
    out.EndObject();
    return buffer.GetString();
}

std::string base64(std::string_view bytes) {
    std::ostringstream out;
    Poco::Base64Encoder encoder(out);
    encoder.rdbuf()->setLineLength(0);
    encoder.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    encoder.close();
    return out.str();
}

void put_letter_fields(JsonWriter& out, uint64_t seq, natsMsg* letter) {
    out.Key("seq");
    out.Uint64(seq);
    const std::pair<const char*, const char*> texts[] = {
        {"time", dlq_header::kTimestamp},
        {"plugin", dlq_header::kPlugin},
        {"class", dlq_header::kErrorClass},
        {"subject", dlq_header::kSubject},
        {"stream", dlq_header::kStream},
        {"reason", dlq_header::kError},
        {"plugin_version", dlq_header::kPluginVersion}};
    for (const auto& [key, header] : texts) {
        out.Key(key);
        put_text(out, header_of(letter, header));
    }
    const std::pair<const char*, const char*> numbers[] = {
        {"stream_seq", dlq_header::kStreamSequence},
        {"replays", dlq_header::kReplayCount},
        {"delivery", dlq_header::kDeliveryCount}};
    for (const auto& [key, header] : numbers) {
        out.Key(key);
        const std::string text = header_of(letter, header);
        if (const auto value = number_of(text)) {
            out.Uint64(*value);
        } else if (text.empty() && std::string_view(key) == "replays") {
            out.Uint64(0);
        } else {
            out.Null();
        }
    }
}

// A filter's class or since, as dead_letter_class() or since_timestamp() reads it: what they
// refuse is the client's mistake.
std::string checked(std::string (*read)(const std::string&), const std::string& value) {
    try {
        return read(value);
    } catch (const std::invalid_argument& e) {
        throw HttpError{HTTPResponse::HTTP_BAD_REQUEST, e.what()};
    }
}

void send(Poco::Net::HTTPServerResponse& response, HTTPResponse::HTTPStatus status,
          const std::string& body, const std::string& type = "application/json") {
    response.setStatus(status);
    response.setContentType(type);
    response.setContentLength(static_cast<std::streamsize>(body.size()));
    response.send() << body;
}

// Answers 503 once the dashboard stops: the host is shutting down.
class StoppingHandler final : public Poco::Net::HTTPRequestHandler {
  public:
    void handleRequest(Poco::Net::HTTPServerRequest&,
                       Poco::Net::HTTPServerResponse& response) override {
        response.setKeepAlive(false);
        send(response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE,
             error_json("nomnom-host is shutting down"));
    }
};

}  // namespace

// One request to the dashboard: routing, the admin and cross-site checks, and the answers.
class DashboardRequest final : public Poco::Net::HTTPRequestHandler {
  public:
    explicit DashboardRequest(std::shared_ptr<Dashboard> dashboard)
        : owner_(std::move(dashboard)), dashboard_(*owner_) {}
    ~DashboardRequest() override { dashboard_.request_done(); }
    DashboardRequest(const DashboardRequest&) = delete;
    DashboardRequest& operator=(const DashboardRequest&) = delete;

    void handleRequest(Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) override {
        response.set("X-Content-Type-Options", "nosniff");
        response.set("Referrer-Policy", "no-referrer");
        response.set("X-Frame-Options", "DENY");
        response.set("Cache-Control", "no-store");
        // A kept-alive connection holds one of the endpoint's few threads, and the page polls
        // more often than Poco lets one go: probes and scrapes would wait behind it.
        response.setKeepAlive(false);
        try {
            // All of it before any answer, refusals included: what is left unread on a kept-alive
            // connection would be taken for the start of the next request.
            read_body(request, response);
            route(request, response);
        } catch (const HttpError& e) {
            send(response, e.status, e.json.empty() ? error_json(e.message) : e.json);
        } catch (const NatsError& e) {
            send(response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, error_json(e.what()));
        } catch (const std::exception& e) {
            spdlog::error("dashboard {} {}: {}", request.getMethod(), request.getURI(), e.what());
            send(response, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, error_json(e.what()));
        }
    }

  private:
    void route(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
        const Poco::URI uri(request.getURI());
        const std::string path = uri.getPath();
        const std::string& method = request.getMethod();
        for (const auto& [key, value] : uri.getQueryParameters()) query_.emplace(key, value);
        if (!host_allowed(request.getHost(), dashboard_.settings_.allowed_hosts)) {
            throw HttpError{HTTPResponse::HTTP_FORBIDDEN,
                            "Host " + request.getHost() +
                                " is not one this dashboard answers to: add its name to "
                                "http.allowed_hosts"};
        }
        signed_in_ = signed_in(request);
        if (const StaticFile* file = static_file(path)) {
            expect(method, "GET");
            response.set("Content-Security-Policy", kContentSecurityPolicy);
            send(response, HTTPResponse::HTTP_OK, std::string(file->data, file->size),
                 file->content_type);
        } else if (path == "/api/overview") {
            expect(method, "GET");
            send(response, HTTPResponse::HTTP_OK, overview());
        } else if (path == "/api/dead-letters") {
            expect(method, "GET");
            send(response, HTTPResponse::HTTP_OK, dead_letter_page());
        } else if (const auto seq = letter_seq(path)) {
            expect(method, "GET");
            send(response, HTTPResponse::HTTP_OK, dead_letter(*seq));
        } else if (path == "/api/login") {
            expect(method, "POST");
            refuse_cross_site(request);
            login(request, response);
        } else if (path == "/api/logout") {
            expect(method, "POST");
            refuse_cross_site(request);
            logout(request, response);
        } else if (path == "/api/reload") {
            expect(method, "POST");
            require_admin(request);
            dashboard_.sources_.request_reload();
            send(response, HTTPResponse::HTTP_ACCEPTED, R"({"reload":"requested"})");
        } else if (path == "/api/dead-letters/replay" || path == "/api/dead-letters/purge") {
            expect(method, "POST");
            require_admin(request);
            const rapidjson::Document body = json_body();
            send(response, HTTPResponse::HTTP_OK,
                 path.ends_with("replay") ? replay(body) : purge(body));
        } else {
            throw HttpError{HTTPResponse::HTTP_NOT_FOUND, "no such route: " + path};
        }
    }

    // SEQ of /api/dead-letters/SEQ.
    static std::optional<uint64_t> letter_seq(std::string_view path) {
        static constexpr std::string_view prefix = "/api/dead-letters/";
        if (!path.starts_with(prefix)) return std::nullopt;
        return number_of(path.substr(prefix.size()));
    }

    static void expect(const std::string& method, const char* allowed) {
        if (method != allowed) {
            throw HttpError{HTTPResponse::HTTP_METHOD_NOT_ALLOWED,
                            "method " + method + " not allowed here; use " + allowed};
        }
    }

    bool signed_in(const Poco::Net::HTTPServerRequest& request) {
        AdminAuth& auth = dashboard_.auth_;
        if (!auth.enabled()) return false;
        static const std::string scheme = "Bearer ";
        const std::string authorization = request.get("Authorization", "");
        bearer_ = authorization.starts_with(scheme);
        if (!bearer_) return auth.session_valid(session_of(request), AdminAuth::Clock::now());
        bearer_check_ = auth.check_token(authorization.substr(scheme.size()), client(request),
                                         AdminAuth::Clock::now());
        if (bearer_check_ == AdminAuth::Check::WrongToken) {
            spdlog::warn("dashboard: a wrong admin token (Authorization: Bearer) from {}",
                         client(request));
        }
        return bearer_check_ == AdminAuth::Check::Valid;
    }

    static std::string client(const Poco::Net::HTTPServerRequest& request) {
        return request.clientAddress().host().toString();
    }

    static std::string session_of(const Poco::Net::HTTPServerRequest& request) {
        Poco::Net::NameValueCollection cookies;
        request.getCookies(cookies);
        return cookies.get(AdminAuth::kCookie, "");
    }

    // A browser sends the session cookie with whatever page makes the request; only a page of
    // this origin can add a custom header (anything else needs a CORS preflight, which is
    // never granted), and browsers name the requesting origin. A Bearer token is never sent
    // by a browser on its own, so a script or curl with one needs no header.
    void refuse_cross_site(const Poco::Net::HTTPServerRequest& request) const {
        const std::string origin = request.get("Origin", "");
        const size_t scheme_end = origin.find("://");
        const std::string origin_host =
            scheme_end == std::string::npos ? "" : origin.substr(scheme_end + 3);
        const auto& allowed = dashboard_.settings_.allowed_hosts;
        // Behind a proxy the Host header is the proxy's upstream, the Origin the public name.
        const bool allowed_origin =
            origin_host == request.getHost() ||
            std::any_of(allowed.begin(), allowed.end(), [&](const std::string& name) {
                return host_name_of(origin_host) == host_name_of(name);
            });
        if (!origin.empty() && !allowed_origin) {
            throw HttpError{HTTPResponse::HTTP_FORBIDDEN, "cross-site request refused: Origin " +
                                                              origin + " is not this dashboard's"};
        }
        const std::string site = request.get("Sec-Fetch-Site", "same-origin");
        if (site != "same-origin" && site != "none") {
            throw HttpError{HTTPResponse::HTTP_FORBIDDEN,
                            "cross-site request refused: Sec-Fetch-Site is " + site};
        }
        if (!bearer_ && request.get("X-Nomnom-Csrf", "") != "1") {
            throw HttpError{HTTPResponse::HTTP_FORBIDDEN,
                            "cross-site request refused: the X-Nomnom-Csrf: 1 header the "
                            "dashboard sends is missing (or use Authorization: Bearer)"};
        }
    }

    void require_admin(const Poco::Net::HTTPServerRequest& request) const {
        if (!dashboard_.auth_.enabled()) {
            throw HttpError{HTTPResponse::HTTP_FORBIDDEN,
                            "admin actions are off: set http.admin_token in worker.toml"};
        }
        refuse_cross_site(request);
        if (bearer_check_ == AdminAuth::Check::TooManyAttempts) {
            throw HttpError{HTTPResponse::HTTP_TOO_MANY_REQUESTS,
                            "too many wrong tokens from this address in the last minute; try "
                            "again later"};
        }
        if (!signed_in_) {
            throw HttpError{HTTPResponse::HTTP_UNAUTHORIZED,
                            bearer_ ? "wrong admin token"
                                    : "sign in with http.admin_token (or send Authorization: "
                                      "Bearer TOKEN)"};
        }
    }

    void read_body(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
        char chunk[8192];
        std::istream& in = request.stream();
        while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
            body_.append(chunk, static_cast<size_t>(in.gcount()));
            if (body_.size() > kMaxBody) {
                response.setKeepAlive(false);
                throw HttpError{HTTPResponse::HTTP_REQUEST_ENTITY_TOO_LARGE,
                                "request body over " + std::to_string(kMaxBody) + " bytes"};
            }
        }
    }

    rapidjson::Document json_body() const {
        // RapidJSON recurses per level: a megabyte of '[' would overflow the stack.
        if (json_nests_deeper_than(body_, kMaxJsonDepth)) {
            throw HttpError{
                HTTPResponse::HTTP_BAD_REQUEST,
                "the request body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels"};
        }
        rapidjson::Document document;
        document.Parse(body_.data(), body_.size());
        if (document.HasParseError() || !document.IsObject()) {
            throw HttpError{HTTPResponse::HTTP_BAD_REQUEST,
                            "the request body is not a JSON object"};
        }
        return document;
    }

    static std::string string_member(const rapidjson::Value& object, const char* name) {
        const auto member = object.FindMember(name);
        if (member == object.MemberEnd()) return "";
        if (!member->value.IsString()) {
            throw HttpError{HTTPResponse::HTTP_BAD_REQUEST,
                            std::string("'") + name + "' must be a string"};
        }
        return member->value.GetString();
    }

    void login(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
        const rapidjson::Document body = json_body();
        std::string session;
        switch (dashboard_.auth_.login(string_member(body, "token"), client(request),
                                       AdminAuth::Clock::now(), session)) {
            case AdminAuth::Check::Off:
                throw HttpError{HTTPResponse::HTTP_FORBIDDEN,
                                "admin actions are off: set http.admin_token in worker.toml"};
            case AdminAuth::Check::TooManyAttempts:
                throw HttpError{HTTPResponse::HTTP_TOO_MANY_REQUESTS,
                                "too many wrong tokens from this address in the last minute; "
                                "try again later"};
            case AdminAuth::Check::WrongToken:
                spdlog::warn("dashboard: sign-in with a wrong admin token from {}",
                             client(request));
                throw HttpError{HTTPResponse::HTTP_UNAUTHORIZED, "wrong admin token"};
            case AdminAuth::Check::Valid:
                break;
        }
        response.addCookie(session_cookie(session, AdminAuth::kSessionLifetime, secure(request)));
        send(response, HTTPResponse::HTTP_OK, R"({"signed_in":true})");
    }

    void logout(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
        dashboard_.auth_.logout(session_of(request));
        response.addCookie(session_cookie("", std::chrono::seconds(0), secure(request)));
        send(response, HTTPResponse::HTTP_OK, R"({"signed_in":false})");
    }

    // Served through a TLS proxy (the way to reach it across a network): the cookie then never
    // travels in clear.
    static bool secure(const Poco::Net::HTTPServerRequest& request) {
        return request.get("X-Forwarded-Proto", "") == "https";
    }

    static Poco::Net::HTTPCookie session_cookie(const std::string& value,
                                                std::chrono::seconds lifetime, bool secure) {
        Poco::Net::HTTPCookie cookie(AdminAuth::kCookie, value);
        cookie.setPath("/");
        cookie.setHttpOnly(true);
        cookie.setSecure(secure);
        cookie.setSameSite(Poco::Net::HTTPCookie::SAME_SITE_STRICT);
        cookie.setMaxAge(static_cast<int>(lifetime.count()));
        return cookie;
    }

    std::string overview() {
        OverviewInputs inputs;
        inputs.state = dashboard_.sources_.state();
        inputs.started_at = dashboard_.started_at_;
        inputs.now = std::chrono::system_clock::now();
        inputs.isolation = dashboard_.settings_.isolation;
        inputs.nats_url = dashboard_.settings_.nats_url;
        inputs.database_url = dashboard_.settings_.database_url;
        inputs.admin_enabled = dashboard_.auth_.enabled();
        inputs.signed_in = signed_in_;
        try {
            inputs.dead_letters = queue().counts();
        } catch (const std::exception& e) {
            inputs.dead_letters_error = e.what();
        } catch (const HttpError& e) {
            inputs.dead_letters_error = e.message;
        }
        std::lock_guard lock(dashboard_.mutex_);
        inputs.metrics = dashboard_.latest_;
        inputs.history = &dashboard_.history_;
        return overview_json(inputs);
    }

    DeadLetterQueue queue() const {
        NatsClient* nats = dashboard_.sources_.nats();
        if (!nats || !nats->connected()) {
            throw HttpError{HTTPResponse::HTTP_SERVICE_UNAVAILABLE,
                            "NATS is not connected: the dead-letter stream cannot be read now"};
        }
        return DeadLetterQueue(*nats, dashboard_.settings_.dlq);
    }

    std::string query(const std::string& key) const {
        const auto found = query_.find(key);
        return found == query_.end() ? "" : found->second;
    }

    uint64_t query_number(const std::string& key, uint64_t fallback, uint64_t max) const {
        const std::string text = query(key);
        if (text.empty()) return fallback;
        const auto value = number_of(text);
        if (!value || *value > max) {
            throw HttpError{HTTPResponse::HTTP_BAD_REQUEST, "query parameter " + key + "=" + text +
                                                                " is not a number from 0 to " +
                                                                std::to_string(max)};
        }
        return *value;
    }

    std::string dead_letter_page() {
        const DeadLetterFilter filter{query("plugin"), checked(dead_letter_class, query("class")),
                                      checked(since_timestamp, query("since")), std::nullopt};
        const uint64_t before = query_number("before", 0, UINT64_MAX);
        const uint64_t limit = query_number("limit", 50, 500);
        if (limit == 0) {
            throw HttpError{HTTPResponse::HTTP_BAD_REQUEST,
                            "query parameter limit=0: a page holds 1 to 500 letters"};
        }
        DeadLetterQueue letters = queue();
        rapidjson::StringBuffer buffer;
        JsonWriter out(buffer);
        out.StartObject();
        out.Key("letters");
        out.StartArray();
        const uint64_t next = letters.for_each_newest_first(filter, before, limit, kMaxScanned,
                                                            [&](uint64_t seq, natsMsg* letter) {
                                                                out.StartObject();
                                                                put_letter_fields(out, seq, letter);
                                                                out.EndObject();
                                                            });
        out.EndArray();
        out.Key("next_before");
        if (next == 0) {
            out.Null();
        } else {
            out.Uint64(next);
        }
        out.Key("total");
        out.Uint64(letters.counts().total);
        out.EndObject();
        return buffer.GetString();
    }

    std::string dead_letter(uint64_t seq) {
        DeadLetterQueue letters = queue();
        const NatsMsgPtr letter = letters.letter(seq);
        if (!letter) {
            throw HttpError{HTTPResponse::HTTP_NOT_FOUND,
                            "no dead letter " + std::to_string(seq) +
                                " (never stored, or replayed or purged since)"};
        }
        rapidjson::StringBuffer buffer;
        JsonWriter out(buffer);
        out.StartObject();
        put_letter_fields(out, seq, letter.get());
        if (!signed_in_) {
            out.Key("payload_hidden");
            out.String(dashboard_.auth_.enabled()
                           ? "sign in with the admin token to see headers and payloads"
                           : "headers and payloads are shown only with http.admin_token set");
            out.EndObject();
            return buffer.GetString();
        }
        NatsMsgPtr original;
        std::string original_error;
        try {
            original = letters.original_of(seq, letter.get());
        } catch (const NatsError& e) {
            original_error = e.what();
        }
        natsMsg* source = original ? original.get() : letter.get();
        out.Key("headers");
        out.StartArray();
        const auto put_headers = [&](natsMsg* of) {
            for_each_header(of, [&](const char* key, const char* value) {
                out.StartArray();
                put_text(out, key);
                put_text(out, value);
                out.EndArray();
            });
        };
        put_headers(letter.get());
        if (original) put_headers(original.get());
        out.EndArray();
        if (!original_error.empty()) {
            // The letter points at an original that is gone: its metadata is all there is.
            out.Key("payload_error");
            put_text(out, original_error);
            out.EndObject();
            return buffer.GetString();
        }
        const std::string_view payload(natsMsg_GetData(source),
                                       static_cast<size_t>(natsMsg_GetDataLength(source)));
        const bool text = invalid_utf8_offset(payload) == std::string_view::npos;
        out.Key("payload_encoding");
        out.String(text ? "utf-8" : "base64");
        out.Key("payload");
        put_text(out, text ? std::string(payload) : base64(payload));
        out.Key("payload_bytes");
        out.Uint64(payload.size());
        out.Key("payload_from");
        put_text(out, original ? "original stream " + header_of(letter.get(), dlq_header::kStream) +
                                     " seq " + header_of(letter.get(), dlq_header::kStreamSequence)
                               : std::string("letter"));
        out.EndObject();
        return buffer.GetString();
    }

    // The letters a replay or purge body means: {"seqs": [...]} or {"filter": {...}}.
    struct Selection {
        std::vector<uint64_t> seqs;
        std::optional<DeadLetterFilter> filter;
    };

    static Selection selection_of(const rapidjson::Document& body) {
        Selection selection;
        const auto seqs = body.FindMember("seqs");
        const auto filter = body.FindMember("filter");
        if ((seqs == body.MemberEnd()) == (filter == body.MemberEnd())) {
            throw HttpError{HTTPResponse::HTTP_BAD_REQUEST,
                            "name the dead letters with either \"seqs\": [...] or \"filter\": "
                            "{\"plugin\", \"class\", \"since\"}"};
        }
        if (seqs != body.MemberEnd()) {
            if (!seqs->value.IsArray()) {
                throw HttpError{HTTPResponse::HTTP_BAD_REQUEST, "'seqs' must be an array"};
            }
            if (seqs->value.Size() > kMaxPerAction) {
                throw HttpError{HTTPResponse::HTTP_BAD_REQUEST,
                                "'seqs' names more than " + std::to_string(kMaxPerAction) +
                                    " dead letters; act on them in parts, or by a filter"};
            }
            std::set<uint64_t> seen;
            for (const auto& seq : seqs->value.GetArray()) {
                if (!seq.IsUint64()) {
                    throw HttpError{HTTPResponse::HTTP_BAD_REQUEST,
                                    "'seqs' must hold dead-letter sequence numbers"};
                }
                if (seen.insert(seq.GetUint64()).second) selection.seqs.push_back(seq.GetUint64());
            }
            return selection;
        }
        if (!filter->value.IsObject()) {
            throw HttpError{HTTPResponse::HTTP_BAD_REQUEST, "'filter' must be an object"};
        }
        selection.filter = DeadLetterFilter{
            string_member(filter->value, "plugin"),
            checked(dead_letter_class, string_member(filter->value, "class")),
            checked(since_timestamp, string_member(filter->value, "since")), std::nullopt};
        return selection;
    }

    // Calls `act` for each selected letter that exists, until kMaxPerAction calls returned
    // true (counted) or the dashboard stops; returns whether letters were left for another
    // request. Sequences that do not exist are reported to `missing`.
    bool for_each_selected(DeadLetterQueue& letters, const Selection& selection,
                           const std::function<bool(uint64_t, natsMsg*)>& act,
                           const std::function<void(uint64_t)>& missing) {
        if (!selection.filter) {
            for (const uint64_t seq : selection.seqs) {
                if (dashboard_.stopping()) return true;
                const NatsMsgPtr letter = letters.letter(seq);
                if (letter) {
                    act(seq, letter.get());
                } else {
                    missing(seq);
                }
            }
            return false;
        }
        uint64_t counted = 0;
        bool more = false;
        letters.for_each(*selection.filter, [&](uint64_t seq, natsMsg* letter) {
            if (counted == kMaxPerAction || dashboard_.stopping()) {
                more = true;
                return false;
            }
            counted += act(seq, letter) ? 1 : 0;
            return true;
        });
        return more;
    }

    std::string replay(const rapidjson::Document& body) {
        const Selection selection = selection_of(body);
        DeadLetterQueue letters = queue();
        std::vector<uint64_t> replayed;
        std::vector<std::pair<uint64_t, std::string>> failed;
        uint64_t exhausted = 0;
        const bool more = for_each_selected(
            letters, selection,
            [&](uint64_t seq, natsMsg* letter) {
                // Otherwise the same letters would fail at the head of every filter replay and
                // the ones behind them would never be reached.
                if (selection.filter && letters.replays_exhausted(letter)) {
                    ++exhausted;
                    return false;
                }
                try {
                    letters.replay(seq, letter);
                    replayed.push_back(seq);
                } catch (const NatsError& e) {
                    failed.emplace_back(seq, e.what());
                } catch (const std::logic_error& e) {
                    failed.emplace_back(seq, std::string("a malformed number in its headers (") +
                                                 e.what() + "); not replayed");
                }
                return true;
            },
            [&](uint64_t seq) {
                failed.emplace_back(seq, "no such dead letter (replayed or purged already)");
            });
        spdlog::info(
            "dashboard: replayed {} dead letter(s), {} not replayed, {} at dlq.max_replays",
            replayed.size(), failed.size(), exhausted);
        rapidjson::StringBuffer buffer;
        JsonWriter out(buffer);
        out.StartObject();
        out.Key("replayed");
        out.StartArray();
        for (const uint64_t seq : replayed) out.Uint64(seq);
        out.EndArray();
        out.Key("failed");
        out.StartArray();
        for (const auto& [seq, error] : failed) {
            out.StartObject();
            out.Key("seq");
            out.Uint64(seq);
            out.Key("error");
            put_text(out, error);
            out.EndObject();
        }
        out.EndArray();
        out.Key("skipped_max_replays");
        out.Uint64(exhausted);
        out.Key("more");
        out.Bool(more);
        out.EndObject();
        return buffer.GetString();
    }

    std::string purge(const rapidjson::Document& body) {
        const Selection selection = selection_of(body);
        const auto confirm = body.FindMember("confirm");
        const bool confirmed =
            confirm != body.MemberEnd() && confirm->value.IsBool() && confirm->value.GetBool();
        DeadLetterQueue letters = queue();
        std::vector<uint64_t> selected;
        bool more = for_each_selected(
            letters, selection,
            [&](uint64_t seq, natsMsg*) {
                selected.push_back(seq);
                return true;
            },
            [](uint64_t) {});
        if (!confirmed) {
            rapidjson::StringBuffer buffer;
            JsonWriter out(buffer);
            out.StartObject();
            out.Key("error");
            put_text(out, "would delete " + std::to_string(selected.size()) +
                              (more ? " (and more)" : "") +
                              " dead letter(s); send \"confirm\": true to delete them");
            out.Key("would_delete");
            out.Uint64(selected.size());
            out.Key("more");
            out.Bool(more);
            out.EndObject();
            throw HttpError{HTTPResponse::HTTP_CONFLICT, "", buffer.GetString()};
        }
        uint64_t deleted = 0;
        for (const uint64_t seq : selected) {
            if (dashboard_.stopping()) {
                more = true;
                break;
            }
            // One replayed or purged meanwhile (another page, the CLI) is gone all the same.
            deleted += letters.remove(seq) ? 1 : 0;
        }
        spdlog::info("dashboard: purged {} dead letter(s)", deleted);
        return "{\"deleted\":" + std::to_string(deleted) +
               ",\"more\":" + (more ? "true" : "false") + "}";
    }

    // Keeps the dashboard alive for as long as this request runs.
    std::shared_ptr<Dashboard> owner_;
    Dashboard& dashboard_;
    std::string body_;
    std::map<std::string, std::string> query_;
    bool signed_in_ = false;
    bool bearer_ = false;  // an Authorization: Bearer header came
    AdminAuth::Check bearer_check_ = AdminAuth::Check::Off;
};

Dashboard::Dashboard(DashboardSettings settings, DashboardSources sources)
    : settings_(std::move(settings)),
      sources_(std::move(sources)),
      auth_(settings_.admin_token),
      started_at_(std::chrono::system_clock::now()),
      sampler_([this] { sample_until_stopped(); }) {}

Dashboard::~Dashboard() {
    stop();
}

void Dashboard::stop() {
    std::unique_lock lock(mutex_);
    if (!stopping_) {
        stopping_ = true;
        stop_signal_.notify_all();
        lock.unlock();
        sampler_.join();
        lock.lock();
    }
    stop_signal_.wait(lock, [this] { return in_flight_ == 0; });
}

bool Dashboard::stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
}

void Dashboard::request_done() {
    std::lock_guard lock(mutex_);
    --in_flight_;
    stop_signal_.notify_all();
}

void Dashboard::sample_until_stopped() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        MetricsReading reading;
        try {
            reading = read_metrics(sources_.metrics());
        } catch (const std::exception& e) {
            spdlog::warn("dashboard: reading the metrics: {}", e.what());
        }
        std::map<std::string, double> settled;
        for (const auto& [plugin, numbers] : reading.plugins) settled[plugin] = numbers.settled();
        lock.lock();
        latest_ = std::move(reading);
        history_.record(std::chrono::steady_clock::now(), std::chrono::system_clock::now(),
                        settled);
        stop_signal_.wait_for(lock, settings_.sample_interval, [this] { return stopping_; });
    }
}

Poco::Net::HTTPRequestHandler* Dashboard::handler_for(const Poco::Net::HTTPServerRequest& request) {
    std::string path;
    try {
        path = Poco::URI(request.getURI()).getPath();
    } catch (const Poco::Exception&) {
        return nullptr;  // not a URI: the health server's 404
    }
    if (!path.starts_with("/api/") && !static_file(path)) return nullptr;
    std::lock_guard lock(mutex_);
    if (stopping_) return new StoppingHandler;
    ++in_flight_;
    return new DashboardRequest(shared_from_this());
}

}  // namespace nomnom::host
