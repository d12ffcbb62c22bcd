#include "parse_tool.hpp"

#include <nats/nats.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "db/database.hpp"
#include "db/plugin_db_api.hpp"
#include "nomnom/common/json_escape.hpp"
#include "nomnom/common/nats_client.hpp"
#include "pipeline/batch_writer.hpp"
#include "pipeline/incoming_message.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_library.hpp"
#include "plugins/row_batch.hpp"
#include "plugins/row_json.hpp"

namespace nomnom::host {
namespace {

constexpr const char* kUsage =
    "usage: nomnom-host parse --plugin PATH.so [options] [FILE...]\n"
    "  Runs messages through the plugin as the host does, without NATS or a database, and\n"
    "  prints the rows. Reads one message per line of each FILE (stdin without FILE).\n"
    "  --subject S               the subject the messages arrive on (default: the plugin's\n"
    "                            first subject, wildcards as in the subject)\n"
    "  --format json|envelope    as consumer.format (default json)\n"
    "  --output jsonl|csv|sql    rows as JSON lines (default), CSV per table, or upserts\n"
    "  --dialect postgresql|sqlite   of --output sql (default postgresql)\n"
    "  --table NAME              only this table's rows\n"
    "  --config-json JSON        the plugin's configuration, as [plugins.<name>.config]\n"
    "  --whole                   each FILE is one message\n"
    "  Exit 0: every message parsed; 1: some were refused (on stderr with their number and\n"
    "  reason); 2: usage error, plugin load error or FATAL.\n";

enum class Output { Jsonl, Csv, Sql };

struct Options {
    std::string plugin;
    std::string subject;
    PayloadFormat format = PayloadFormat::Json;
    Output output = Output::Jsonl;
    Dialect dialect = Dialect::Postgres;
    std::string table;
    std::string config_json = "{}";
    bool whole = false;
    bool help = false;
    std::vector<std::string> files;
};

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

Options parse_options(const std::vector<std::string>& args) {
    Options options;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        const auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size()) throw UsageError(arg + " needs a value");
            return args[++i];
        };
        if (arg == "--plugin") {
            options.plugin = value();
        } else if (arg == "--subject") {
            options.subject = value();
        } else if (arg == "--format") {
            const std::string& format = value();
            if (format != "json" && format != "envelope") {
                throw UsageError("--format " + format + ": json or envelope");
            }
            options.format = format == "json" ? PayloadFormat::Json : PayloadFormat::Envelope;
        } else if (arg == "--output") {
            const std::string& output = value();
            if (output == "jsonl") {
                options.output = Output::Jsonl;
            } else if (output == "csv") {
                options.output = Output::Csv;
            } else if (output == "sql") {
                options.output = Output::Sql;
            } else {
                throw UsageError("--output " + output + ": jsonl, csv or sql");
            }
        } else if (arg == "--dialect") {
            const std::string& dialect = value();
            if (dialect == "postgresql") {
                options.dialect = Dialect::Postgres;
            } else if (dialect == "sqlite") {
                options.dialect = Dialect::Sqlite;
            } else {
                throw UsageError("--dialect " + dialect +
                                 ": postgresql or sqlite (the databases nomnom writes)");
            }
        } else if (arg == "--table") {
            options.table = value();
        } else if (arg == "--config-json") {
            options.config_json = value();
        } else if (arg == "--whole") {
            options.whole = true;
        } else if (arg == "--help" || arg == "-h") {
            options.help = true;
        } else if (arg.starts_with("--")) {
            throw UsageError("unknown option " + arg);
        } else {
            options.files.push_back(arg);
        }
    }
    if (options.plugin.empty() && !options.help) throw UsageError("--plugin is required");
    return options;
}

// A subject as a message would carry it: the plugin's subject pattern with wildcards filled in.
std::string concrete_subject(std::string subject) {
    for (size_t at = 0; (at = subject.find_first_of("*>", at)) != std::string::npos;) {
        subject.replace(at, 1, "x");
    }
    return subject;
}

std::string sql_quote(std::string_view text) {
    std::string quoted = "'";
    for (const char c : text) {
        quoted += c;
        if (c == '\'') quoted += '\'';
    }
    return quoted + "'";
}

std::string csv_field(std::string_view text) {
    if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
    std::string quoted = "\"";
    for (const char c : text) {
        quoted += c;
        if (c == '"') quoted += '"';
    }
    return quoted + "\"";
}

// One cell as CSV or SQL writes it (JSON lines are append_row_json's).
std::string render(const TableRows& rows, const Cell& cell, uint32_t type, Output output,
                   Dialect dialect) {
    if (cell.is_null) return output == Output::Sql ? "NULL" : "";
    switch (type) {
        case NOMNOM_TYPE_I64:
            return std::to_string(cell.i64);
        case NOMNOM_TYPE_F64:
            return shortest_double(cell.f64);
        case NOMNOM_TYPE_BOOL:
            if (output == Output::Sql && dialect == Dialect::Sqlite) return cell.i64 ? "1" : "0";
            return cell.i64 ? "true" : "false";
        default:
            break;
    }
    const std::string_view text = rows.text(cell);
    return output == Output::Sql ? sql_quote(text) : csv_field(text);
}

std::string join(const std::vector<std::string>& parts, const char* separator) {
    std::string joined;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) joined += separator;
        joined += parts[i];
    }
    return joined;
}

class RowPrinter {
  public:
    explicit RowPrinter(const Options& options) : options_(options) {}

    // The rows message `number` produced.
    void print(const RowBatch& rows, uint64_t number) {
        for (const TableRows& table : rows.tables()) {
            const nomnom_table& descriptor = table.table();
            if (!options_.table.empty() && options_.table != descriptor.name) continue;
            for (size_t r = 0; r < table.row_count(); ++r) {
                if (options_.output == Output::Jsonl) {
                    std::string row;
                    append_row_json(row, table, r);
                    std::cout << "{\"table\":\"" << json_escape(descriptor.name)
                              << "\",\"row\":" << row << ",\"message\":" << number << "}\n";
                } else {
                    emit(table, r);
                }
            }
        }
    }

    // CSV is grouped by table, so it is written at the end.
    void finish() const {
        for (const auto& [table, lines] : csv_) {
            if (options_.table.empty()) std::cout << "# table " << table << "\n";
            std::cout << lines;
            if (options_.table.empty()) std::cout << "\n";
        }
    }

  private:
    // Row `row` of `rows` as an SQL statement or a CSV line.
    void emit(const TableRows& rows, size_t row) {
        const nomnom_table& table = rows.table();
        const bool sql = options_.output == Output::Sql;
        std::vector<std::string> columns;
        std::vector<std::string> values;
        for (uint32_t c = 0; c < table.column_count; ++c) {
            const char* name = table.columns[c].name;
            columns.push_back(sql ? quote_identifier(name) : csv_field(name));
            values.push_back(render(rows, rows.cell(row, c), table.columns[c].type, options_.output,
                                    options_.dialect));
        }
        if (sql) {
            std::cout << "INSERT INTO " << quote_identifier(table.name) << " ("
                      << join(columns, ", ") << ") VALUES (" << join(values, ", ") << ")"
                      << (table.conflict_key_count > 0 ? conflict_action(table, false) : "")
                      << ";\n";
            return;
        }
        std::string& lines = csv_[table.name];
        if (lines.empty()) lines = join(columns, ",") + "\n";
        lines += join(values, ",") + "\n";
    }

    const Options& options_;
    std::map<std::string, std::string> csv_;
};

// One input: a file's lines (or the whole file), or stdin's.
struct Input {
    std::string name;
    std::istream* stream;
};

}  // namespace

int run_parse_command(const std::vector<std::string>& args) {
    Options options;
    try {
        options = parse_options(args);
    } catch (const UsageError& e) {
        std::cerr << "nomnom-host parse: " << e.what() << "\n" << kUsage;
        return 2;
    }
    if (options.help) {
        std::cout << kUsage;
        return 0;
    }
    std::shared_ptr<PluginLibrary> library;
    std::optional<PluginInstance> instance;
    try {
        library = PluginLibrary::open(options.plugin);
        instance.emplace(library, options.config_json, host_api());
    } catch (const std::exception& e) {
        std::cerr << "nomnom-host parse: plugin " << options.plugin << " refused: " << e.what()
                  << "\n";
        return 2;
    }
    const nomnom_plugin_descriptor& descriptor = library->descriptor();
    if (!options.table.empty()) {
        bool known = false;
        for (uint32_t t = 0; t < descriptor.table_count; ++t) {
            known = known || options.table == descriptor.tables[t].name;
        }
        if (!known) {
            std::cerr << "nomnom-host parse: --table " << options.table << ": plugin "
                      << library->name() << " has no such table\n";
            return 2;
        }
    }
    if (options.subject.empty()) {
        if (library->subjects().empty()) {
            std::cerr << "nomnom-host parse: plugin " << library->name()
                      << " declares no subject: give --subject\n";
            return 2;
        }
        options.subject = concrete_subject(library->subjects().front());
    }

    // natsMsg_Create/Destroy need the library's globals, even with no connection.
    check_nats(nats_Open(-1), "initialising the NATS client library");
    RowBatch rows(descriptor);
    RowPrinter printer(options);
    uint64_t number = 0;
    uint64_t refused = 0;
    // False once the plugin says FATAL: it cannot be trusted with more.
    const auto handle = [&](std::string_view payload, const std::string& where) {
        ++number;
        natsMsg* raw = nullptr;
        check_nats(natsMsg_Create(&raw, options.subject.c_str(), nullptr, payload.data(),
                                  static_cast<int>(payload.size())),
                   "creating message " + std::to_string(number));
        const auto message =
            decode_message(NatsMsgPtr(raw), options.format, StoredOrigin{"parse", number, 1});
        std::string reason = message->decode_error;
        int status = NOMNOM_INVALID;
        if (reason.empty()) {
            rows.clear();
            status = instance->parse(message->view(), rows, 0, reason);
        }
        if (status == NOMNOM_OK) {
            printer.print(rows, number);
            return true;
        }
        ++refused;
        std::cerr << "message " << number << " (" << where << "): "
                  << (status == NOMNOM_INVALID ? "invalid"
                      : status == NOMNOM_RETRY ? "retry requested"
                                               : "FATAL")
                  << ": " << reason << "\n";
        return status == NOMNOM_INVALID || status == NOMNOM_RETRY;
    };

    std::vector<std::unique_ptr<std::ifstream>> files;
    std::vector<Input> inputs;
    if (options.files.empty()) inputs.push_back({"stdin", &std::cin});
    for (const std::string& file : options.files) {
        files.push_back(std::make_unique<std::ifstream>(file, std::ios::binary));
        if (!*files.back()) {
            std::cerr << "nomnom-host parse: cannot read " << file << "\n";
            return 2;
        }
        inputs.push_back({file, files.back().get()});
    }
    // What parsed before a FATAL is printed all the same.
    const auto parse_all = [&] {
        for (const Input& input : inputs) {
            if (options.whole) {
                std::ostringstream whole;
                whole << input.stream->rdbuf();
                if (!handle(whole.str(), input.name)) return false;
                continue;
            }
            std::string line;
            for (uint64_t line_number = 1; std::getline(*input.stream, line); ++line_number) {
                if (line.empty()) continue;
                if (!handle(line, input.name + ":" + std::to_string(line_number))) return false;
            }
        }
        return true;
    };
    const bool completed = parse_all();
    printer.finish();
    if (!completed) return 2;
    return refused == 0 ? 0 : 1;
}

}  // namespace nomnom::host
