#include "dashboard/overview.hpp"

#include <cmath>
#include <vector>

#include "dashboard/json_text.hpp"
#include "nomnom/common/timestamp.hpp"
#include "ops/prometheus_text.hpp"

namespace nomnom::host {
namespace {

void add_to(std::optional<double>& total, double value) {
    total = total.value_or(0) + value;
}

int64_t unix_ms(std::chrono::system_clock::time_point time) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

// Counters and gauges are whole numbers in Prometheus' doubles: written as such.
void put_number(JsonWriter& out, double value) {
    if (!std::isfinite(value)) {
        out.Null();  // a NaN or Inf sample; JSON has neither
    } else if (value == std::trunc(value) && std::fabs(value) < 9e15) {
        out.Int64(static_cast<int64_t>(value));
    } else {
        out.Double(value);
    }
}

void put_counts(JsonWriter& out, const std::map<std::string, double>& counts) {
    out.StartObject();
    for (const auto& [key, count] : counts) {
        put_text(out, key);
        put_number(out, count);
    }
    out.EndObject();
}

void put_optional(JsonWriter& out, const std::optional<double>& value) {
    if (value) {
        put_number(out, *value);
    } else {
        out.Null();
    }
}

// {"connected": true, "url": "..."}: whether a server is up, and which.
void put_connection(JsonWriter& out, const char* name, const char* up_key, bool up,
                    const std::string& url) {
    out.Key(name);
    out.StartObject();
    out.Key(up_key);
    out.Bool(up);
    out.Key("url");
    put_text(out, url);
    out.EndObject();
}

void put_plugin(JsonWriter& out, const PluginStatus& status, const PluginNumbers& numbers,
                const RateHistory* history) {
    out.StartObject();
    out.Key("name");
    put_text(out, status.name);
    out.Key("version");
    put_text(out, numbers.version);
    out.Key("state");
    put_text(out, status.state);
    out.Key("healthy");
    out.Bool(status.healthy);
    out.Key("rate");
    out.StartArray();
    if (history) {
        for (const RateHistory::Point& point : history->points(status.name)) {
            out.StartObject();
            out.Key("unix_ms");
            out.Int64(point.unix_ms);
            out.Key("per_s");
            put_number(out, point.per_s);
            out.EndObject();
        }
    }
    out.EndArray();
    const double per_s = history ? history->per_second(status.name) : 0;
    out.Key("per_s_1m");
    put_number(out, per_s);
    out.Key("pending");
    put_optional(out, numbers.pending);
    out.Key("in_flight");
    put_optional(out, numbers.in_flight);
    // How long the lag takes at the last minute's rate; unknown without lag or rate.
    std::optional<double> eta;
    const double lag = numbers.pending.value_or(0) + numbers.in_flight.value_or(0);
    if (lag > 0 && per_s > 0) eta = lag / per_s;
    out.Key("eta_s");
    put_optional(out, eta);
    const std::pair<const char*, double> counters[] = {{"fetched", numbers.fetched},
                                                       {"persisted", numbers.persisted},
                                                       {"invalid", numbers.invalid},
                                                       {"dead_lettered", numbers.dead_lettered},
                                                       {"retried", numbers.retried}};
    for (const auto& [key, value] : counters) {
        out.Key(key);
        put_number(out, value);
    }
    out.Key("rows_by_table");
    put_counts(out, numbers.rows_by_table);
    out.Key("worker_deaths");
    put_counts(out, numbers.worker_deaths);
    out.Key("last_error");
    if (status.last_error) {
        out.StartObject();
        out.Key("time");
        put_text(out, utc_timestamp(status.last_error->time));
        out.Key("unix_ms");
        out.Int64(unix_ms(status.last_error->time));
        out.Key("reason");
        put_text(out, status.last_error->reason);
        out.EndObject();
    } else {
        out.Null();
    }
    out.EndObject();
}

}  // namespace

MetricsReading read_metrics(const std::string& prometheus_text) {
    std::vector<PrometheusLine> lines;
    parse_prometheus_text(prometheus_text, 0, lines);
    MetricsReading reading;
    static const std::map<std::string_view, double PluginNumbers::*> counters = {
        {"nomnom_messages_fetched_total", &PluginNumbers::fetched},
        {"nomnom_messages_persisted_total", &PluginNumbers::persisted},
        {"nomnom_messages_invalid_total", &PluginNumbers::invalid},
        {"nomnom_messages_retried_total", &PluginNumbers::retried},
        {"nomnom_messages_dead_lettered_total", &PluginNumbers::dead_lettered}};
    for (const PrometheusLine& line : lines) {
        if (line.kind != PrometheusLine::Kind::sample) continue;
        if (line.name == "nomnom_reloads_total") reading.reloads = line.value;
        if (line.name == "nomnom_reload_failures_total") reading.reload_failures = line.value;
        if (!line.name.starts_with("nomnom_") || line.extra.empty()) continue;
        const std::map<std::string, std::string> labels = prometheus_label_values(line.extra);
        const auto plugin = labels.find("plugin");
        if (plugin == labels.end()) continue;
        PluginNumbers& numbers = reading.plugins[plugin->second];
        const auto label = [&](const char* name) {
            const auto found = labels.find(name);
            return found == labels.end() ? std::string() : found->second;
        };
        if (const auto counter = counters.find(line.name); counter != counters.end()) {
            numbers.*(counter->second) = line.value;
        } else if (line.name == "nomnom_rows_written_total") {
            numbers.rows_by_table[label("table")] = line.value;
        } else if (line.name == "nomnom_plugin_worker_deaths_total") {
            numbers.worker_deaths[label("cause")] = line.value;
        } else if (line.name == "nomnom_plugin_up") {
            numbers.version = label("version");
        } else if (line.name == "nomnom_consumer_pending") {
            add_to(numbers.pending, line.value);
        } else if (line.name == "nomnom_consumer_ack_pending") {
            add_to(numbers.in_flight, line.value);
        }
    }
    return reading;
}

std::string overview_json(const OverviewInputs& inputs) {
    rapidjson::StringBuffer buffer;
    JsonWriter out(buffer);
    out.StartObject();
    out.Key("host");
    out.StartObject();
    out.Key("version");
    out.String(NOMNOM_VERSION);
    out.Key("started_at");
    put_text(out, utc_timestamp(inputs.started_at));
    out.Key("uptime_s");
    out.Int64(
        std::chrono::duration_cast<std::chrono::seconds>(inputs.now - inputs.started_at).count());
    out.Key("reloads");
    put_number(out, inputs.metrics.reloads);
    out.Key("reload_failures");
    put_number(out, inputs.metrics.reload_failures);
    out.Key("isolation");
    put_text(out, inputs.isolation);
    out.Key("starting");
    out.Bool(!inputs.state.started);
    out.EndObject();

    put_connection(out, "nats", "connected", inputs.state.nats_connected, inputs.nats_url);
    put_connection(out, "database", "reachable", inputs.state.database_reachable,
                   inputs.database_url);
    out.Key("admin");
    out.StartObject();
    out.Key("enabled");
    out.Bool(inputs.admin_enabled);
    out.Key("signed_in");
    out.Bool(inputs.signed_in);
    out.EndObject();

    out.Key("dead_letters");
    out.StartObject();
    out.Key("total");
    if (inputs.dead_letters) {
        out.Uint64(inputs.dead_letters->total);
        out.Key("by_plugin");
        out.StartObject();
        for (const auto& [plugin, count] : inputs.dead_letters->by_plugin) {
            put_text(out, plugin);
            out.Uint64(count);
        }
        out.EndObject();
    } else {
        out.Null();
        out.Key("error");
        put_text(out, inputs.dead_letters_error);
    }
    out.EndObject();

    out.Key("plugins");
    out.StartArray();
    static const PluginNumbers none;
    for (const PluginStatus& status : inputs.state.plugins) {
        const auto found = inputs.metrics.plugins.find(status.name);
        put_plugin(out, status, found == inputs.metrics.plugins.end() ? none : found->second,
                   inputs.history);
    }
    out.EndArray();
    out.EndObject();
    return buffer.GetString();
}

}  // namespace nomnom::host
