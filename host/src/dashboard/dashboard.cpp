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

#include "dashboard/json_text.hpp"
#include "dashboard/static_files.hpp"
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

std::string valid_class(const std::string& name) {
    static const std::set<std::string> classes = {
        dead_letter_class_name(DeadLetterClass::Invalid),
        dead_letter_class_name(DeadLetterClass::Data),
        dead_letter_class_name(DeadLetterClass::RetriesExhausted),
        dead_letter_class_name(DeadLetterClass::Crashed),
        dead_letter_class_name(DeadLetterClass::Timeout)};
    if (!name.empty() && !classes.contains(name)) {
        throw HttpError{
            HTTPResponse::HTTP_BAD_REQUEST,
            "class '" + name + "' is none of invalid, data, retries_exhausted, crashed, timeout"};
    }
    return name;
}

}  // namespace

// One request to the dashboard: routing, the admin and cross-site checks, and the answers.
class DashboardRequest final : public Poco::Net::HTTPRequestHandler {
  public:
    explicit DashboardRequest(Dashboard& dashboard) : dashboard_(dashboard) {}

    void handleRequest(Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) override {
        response.set("X-Content-Type-Options", "nosniff");
        response.set("Referrer-Policy", "no-referrer");
        response.set("X-Frame-Options", "DENY");
        response.set("Cache-Control", "no-store");
        try {
            // All of it before any answer, refusals included: what is left unread on a kept-alive
            // connection would be taken for the start of the next request.
            read_body(request, response);
            route(request, response);
        } catch (const HttpError& e) {
            send(response, e.status, error_json(e.message));
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
        } else if (path.starts_with("/api/dead-letters/") && method == "GET") {
            const auto seq = number_of(path.substr(std::string("/api/dead-letters/").size()));
            if (!seq) throw HttpError{HTTPResponse::HTTP_NOT_FOUND, "no such route: " + path};
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

    static void expect(const std::string& method, const char* allowed) {
        if (method != allowed) {
            throw HttpError{HTTPResponse::HTTP_METHOD_NOT_ALLOWED,
                            "method " + method + " not allowed here; use " + allowed};
        }
    }

    static void send(Poco::Net::HTTPServerResponse& response, HTTPResponse::HTTPStatus status,
                     const std::string& body, const std::string& type = "application/json") {
        response.setStatus(status);
        response.setContentType(type);
        response.setContentLength(static_cast<std::streamsize>(body.size()));
        response.send() << body;
    }

    bool signed_in(const Poco::Net::HTTPServerRequest& request) {
        AdminAuth& auth = dashboard_.auth_;
        if (!auth.enabled()) return false;
        bearer_ = request.has("Authorization");
        if (bearer_) return auth.bearer_valid(request.get("Authorization"));
        return auth.session_valid(session_of(request), AdminAuth::Clock::now());
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
        if (!origin.empty() && origin != "http://" + request.getHost() &&
            origin != "https://" + request.getHost()) {
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
        switch (dashboard_.auth_.login(string_member(body, "token"), AdminAuth::Clock::now(),
                                       session)) {
            case AdminAuth::Login::Off:
                throw HttpError{HTTPResponse::HTTP_FORBIDDEN,
                                "admin actions are off: set http.admin_token in worker.toml"};
            case AdminAuth::Login::TooManyAttempts:
                throw HttpError{HTTPResponse::HTTP_TOO_MANY_REQUESTS,
                                "too many wrong tokens in the last minute; try again later"};
            case AdminAuth::Login::WrongToken:
                spdlog::warn("dashboard: sign-in with a wrong admin token from {}",
                             request.clientAddress().host().toString());
                throw HttpError{HTTPResponse::HTTP_UNAUTHORIZED, "wrong admin token"};
            case AdminAuth::Login::SignedIn:
                break;
        }
        response.addCookie(session_cookie(session, AdminAuth::kSessionLifetime));
        send(response, HTTPResponse::HTTP_OK, R"({"signed_in":true})");
    }

    void logout(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
        dashboard_.auth_.logout(session_of(request));
        response.addCookie(session_cookie("", std::chrono::seconds(0)));
        send(response, HTTPResponse::HTTP_OK, R"({"signed_in":false})");
    }

    static Poco::Net::HTTPCookie session_cookie(const std::string& value,
                                                std::chrono::seconds lifetime) {
        Poco::Net::HTTPCookie cookie(AdminAuth::kCookie, value);
        cookie.setPath("/");
        cookie.setHttpOnly(true);
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
        const DeadLetterFilter filter{query("plugin"), valid_class(query("class")), query("since"),
                                      std::nullopt};
        const uint64_t before = query_number("before", 0, UINT64_MAX);
        const uint64_t limit = query_number("limit", 50, 500);
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
        const NatsMsgPtr original = letters.original_of(seq, letter.get());
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
            for (const auto& seq : seqs->value.GetArray()) {
                if (!seq.IsUint64()) {
                    throw HttpError{HTTPResponse::HTTP_BAD_REQUEST,
                                    "'seqs' must hold dead-letter sequence numbers"};
                }
                selection.seqs.push_back(seq.GetUint64());
            }
            return selection;
        }
        if (!filter->value.IsObject()) {
            throw HttpError{HTTPResponse::HTTP_BAD_REQUEST, "'filter' must be an object"};
        }
        selection.filter = DeadLetterFilter{string_member(filter->value, "plugin"),
                                            valid_class(string_member(filter->value, "class")),
                                            string_member(filter->value, "since"), std::nullopt};
        return selection;
    }

    // Calls `act` for each selected letter that exists; returns whether a filter matched more
    // than kMaxPerAction. Sequences that do not exist are reported to `missing`.
    bool for_each_selected(DeadLetterQueue& letters, const Selection& selection,
                           const DeadLetterQueue::Visit& act,
                           const std::function<void(uint64_t)>& missing) {
        if (!selection.filter) {
            for (const uint64_t seq : selection.seqs) {
                const NatsMsgPtr letter = letters.letter(seq);
                if (letter) {
                    act(seq, letter.get());
                } else {
                    missing(seq);
                }
            }
            return false;
        }
        uint64_t matched = 0;
        letters.for_each(*selection.filter, kMaxPerAction + 1, [&](uint64_t seq, natsMsg* letter) {
            if (++matched <= kMaxPerAction) act(seq, letter);
        });
        return matched > kMaxPerAction;
    }

    std::string replay(const rapidjson::Document& body) {
        const Selection selection = selection_of(body);
        DeadLetterQueue letters = queue();
        std::vector<uint64_t> replayed;
        std::vector<std::pair<uint64_t, std::string>> failed;
        const bool more = for_each_selected(
            letters, selection,
            [&](uint64_t seq, natsMsg* letter) {
                try {
                    letters.replay(seq, letter);
                    replayed.push_back(seq);
                } catch (const NatsError& e) {
                    failed.emplace_back(seq, e.what());
                } catch (const std::logic_error& e) {
                    failed.emplace_back(seq, std::string("a malformed number in its headers (") +
                                                 e.what() + "); not replayed");
                }
            },
            [&](uint64_t seq) {
                failed.emplace_back(seq, "no such dead letter (replayed or purged already)");
            });
        spdlog::info("dashboard: replayed {} dead letter(s), {} not replayed", replayed.size(),
                     failed.size());
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
        const bool more = for_each_selected(
            letters, selection, [&](uint64_t seq, natsMsg*) { selected.push_back(seq); },
            [](uint64_t) {});
        if (!confirmed) {
            throw HttpError{HTTPResponse::HTTP_CONFLICT,
                            "would delete " + std::to_string(selected.size()) +
                                " dead letter(s); send \"confirm\": true to delete them"};
        }
        for (const uint64_t seq : selected) letters.remove(seq);
        spdlog::info("dashboard: purged {} dead letter(s)", selected.size());
        return "{\"deleted\":" + std::to_string(selected.size()) +
               ",\"more\":" + (more ? "true" : "false") + "}";
    }

    Dashboard& dashboard_;
    std::string body_;
    std::map<std::string, std::string> query_;
    bool signed_in_ = false;
    bool bearer_ = false;
};

Dashboard::Dashboard(DashboardSettings settings, DashboardSources sources)
    : settings_(std::move(settings)),
      sources_(std::move(sources)),
      auth_(settings_.admin_token),
      started_at_(std::chrono::system_clock::now()),
      sampler_([this] { sample_until_stopped(); }) {}

Dashboard::~Dashboard() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    stop_signal_.notify_all();
    sampler_.join();
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
        history_.record(std::chrono::system_clock::now(), settled);
        stop_signal_.wait_for(lock, settings_.sample_interval, [this] { return stopping_; });
    }
}

Poco::Net::HTTPRequestHandler* Dashboard::handler_for(const Poco::Net::HTTPServerRequest& request) {
    const std::string path = Poco::URI(request.getURI()).getPath();
    if (!path.starts_with("/api/") && !static_file(path)) return nullptr;
    return new DashboardRequest(*this);
}

}  // namespace nomnom::host
