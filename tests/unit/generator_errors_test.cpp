// Every bad entity YAML must be refused with "file:line: error: <what was expected>", so that a
// user can go straight to the fault; and nomnom-gen must exit with 2 for it.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "diagnostics.hpp"
#include "emitters.hpp"
#include "entity_reader.hpp"
#include "project_reader.hpp"
#include "schema.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace nomnom::generator;
using nomnom::testing::TempDir;

namespace {

// An entity directory (entities/) with an optional nomnom.yaml next to it, checked the way
// nomnom-gen checks it: load and read the project, resolve only when that went well.
class Fixture {
  public:
    Fixture& entity(const std::string& name, const std::string& yaml) {
        write(entities() / name, yaml);
        return *this;
    }
    Fixture& project(const std::string& yaml) {
        write(project_file(), yaml);
        return *this;
    }

    fs::path entities() const { return dir_.path() / "entities"; }
    fs::path project_file() const { return dir_.path() / "nomnom.yaml"; }

    // Runs once: the cases read the errors and the warnings of the same run.
    const Diagnostics& check() {
        if (checked_) return diagnostics_;
        checked_ = true;
        const std::string project = fs::exists(project_file()) ? project_file().string() : "";
        Project read = read_project(project, diagnostics_);
        std::vector<Entity> loaded = load_entities(entities().string(), diagnostics_);
        if (!diagnostics_.failed()) {
            schema_ = resolve(std::move(loaded), std::move(read), diagnostics_);
        }
        return diagnostics_;
    }
    bool resolved() const { return schema_.has_value(); }
    const Schema& schema() const { return *schema_; }
    const ResolvedEntity& entity(const std::string& name) const {
        return schema_->resolved[static_cast<std::size_t>(schema_->find(name))];
    }
    // The entity names in the order their instances are built.
    std::vector<std::string> order() const {
        std::vector<std::string> names;
        for (const int k : schema_->order) names.push_back(schema_->entities[k].name);
        return names;
    }

  private:
    static void write(const fs::path& path, const std::string& text) {
        fs::create_directories(path.parent_path());
        std::ofstream(path) << text;
    }

    TempDir dir_{"nomnom-gen-errors"};
    bool checked_ = false;
    Diagnostics diagnostics_;
    std::optional<Schema> schema_;
};

std::string listed(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines) text += line + "\n";
    return text;
}

// True when one message is exactly at `file:line: <severity>: ` and mentions every word.
bool reported(const std::vector<std::string>& messages, const std::string& severity,
              const fs::path& file, int line, const std::vector<std::string>& words) {
    const std::string prefix = file.string() + ":" + std::to_string(line) + ": " + severity + ": ";
    for (const auto& message : messages) {
        if (!message.starts_with(prefix)) continue;
        bool all = true;
        for (const auto& word : words) all = all && message.find(word) != std::string::npos;
        if (all) return true;
    }
    return false;
}

// Checks that `file` (relative to entities/) has an error at `line` with every word, and shows
// what was reported instead when it has not.
#define CHECK_ERROR(fixture, file, line, ...)                                              \
    do {                                                                                   \
        const auto& found = (fixture).check().errors();                                    \
        INFO("errors:\n" << listed(found));                                                \
        CHECK(reported(found, "error", (fixture).entities() / (file), line, __VA_ARGS__)); \
    } while (false)

// The same for a warning, in a check that has no error.
#define CHECK_WARNING(fixture, file, line, ...)                                                    \
    do {                                                                                           \
        const auto& found = (fixture).check().warnings();                                          \
        INFO("errors:\n" << listed((fixture).check().errors()) << "warnings:\n" << listed(found)); \
        CHECK_FALSE((fixture).check().failed());                                                   \
        CHECK(reported(found, "warning", (fixture).entities() / (file), line, __VA_ARGS__));       \
    } while (false)

// A valid root entity, whose lines the cases below refer to.
const std::string order_yaml = R"(entity:
  name: Order
  source_type: root
  fields:
    - name: order_key
      type: String
    - name: line_items
      type: List[Object]
  persistence:
    database:
      conformant_table: orders
      conformant_id_column: id
      unicity_fields: [order_key]
)";

// A valid v1 entity, from line 3 on: its header is v1_header's two lines.
const std::string vehicle_body = R"(metadata:
  name: Vehicle
spec:
  type: root
  fields:
    - name: vehicleId
      type: string
      constraints: {maxLength: 8}
  persistence:
    table: vehicles
)";

std::string v1_header(const std::string& api_version, const std::string& kind) {
    return "apiVersion: " + api_version + "\nkind: " + kind + "\n";
}

// A derived entity with the given header lines (after name and source_type), at line 4 on.
std::string derived(const std::string& name, const std::string& header) {
    return "entity:\n  name: " + name + "\n  source_type: derived\n" + header +
           "  fields:\n    - {name: order_key, type: String}\n";
}

}  // namespace

TEST_CASE("the valid fixtures used below are accepted", "[generator]") {
    Fixture f;
    f.entity("order.yaml", order_yaml)
        .entity("vehicle.yaml", v1_header("nomnom.io/v1", "Entity") + vehicle_body);
    INFO(listed(f.check().errors()));
    CHECK_FALSE(f.check().failed());
    CHECK(f.resolved());
}

TEST_CASE("a YAML syntax error gives the file and the line of the fault", "[generator]") {
    Fixture f;
    f.entity("order.yaml", R"(entity:
  name: Order
  fields: [a, b
  doc: x
)");
    CHECK_ERROR(f, "order.yaml", 4, {"YAML syntax"});
}

TEST_CASE("unknown keys are errors at their own line", "[generator]") {
    Fixture f;
    SECTION("in a legacy entity") {
        f.entity("order.yaml", R"(entity:
  name: Order
  sorce_type: root
  fields:
    - {name: order_key, type: String}
)");
        CHECK_ERROR(f, "order.yaml", 3, {"unknown key 'sorce_type'", "source_type"});
    }
    SECTION("in a legacy field") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: order_key
      type: String
      nulable: true
)");
        CHECK_ERROR(f, "order.yaml", 6, {"field", "unknown key 'nulable'", "nullable"});
    }
    SECTION("in persistence.database") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: order_key, type: String}
  persistence:
    database:
      conformant_table: orders
      conformant_id_column: id
      unicity_field: [order_key]
)");
        CHECK_ERROR(f, "order.yaml", 9,
                    {"persistence.database", "unknown key 'unicity_field'", "unicity_fields"});
    }
    SECTION("in a v1 spec") {
        f.entity("vehicle.yaml", R"(apiVersion: nomnom.io/v1
kind: Entity
metadata:
  name: Vehicle
spec:
  type: root
  repetitions: singleton
  fields:
    - {name: vehicleId, type: string}
)");
        CHECK_ERROR(f, "vehicle.yaml", 7, {"spec", "unknown key 'repetitions'", "repetition"});
    }
    SECTION("in v1 constraints") {
        f.entity("vehicle.yaml", R"(apiVersion: nomnom.io/v1
kind: Entity
metadata:
  name: Vehicle
spec:
  fields:
    - name: vehicleId
      type: string
      constraints:
        maxLen: 8
)");
        CHECK_ERROR(f, "vehicle.yaml", 10, {"constraints", "unknown key 'maxLen'", "maxLength"});
    }
}

TEST_CASE("a value of the wrong type says what was expected", "[generator]") {
    Fixture f;
    SECTION("nullable: maybe") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: order_key
      type: String
      nullable: maybe
)");
        CHECK_ERROR(f, "order.yaml", 6, {"'nullable' must be true or false"});
    }
    SECTION("fields: 3") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields: 3
)");
        CHECK_ERROR(f, "order.yaml", 3, {"'fields' must be a list"});
    }
    SECTION("args: [abc]") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: order_key
      type: String
      args: [abc]
)");
        CHECK_ERROR(f, "order.yaml", 6, {"order_key", "'args'", "positive integer"});
    }
    SECTION("a field's doc that is not a string") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: order_key
      type: String
      doc: {text: x}
)");
        CHECK_ERROR(f, "order.yaml", 6, {"entity 'Order' field: 'doc' must be a string"});
    }
    SECTION("a v1 field's doc that is not a string") {
        f.entity("vehicle.yaml", v1_header("nomnom.io/v1", "Entity") + R"(metadata:
  name: Vehicle
spec:
  fields:
    - name: vehicleId
      type: string
      doc: [a, b]
)");
        CHECK_ERROR(f, "vehicle.yaml", 9, {"entity 'Vehicle' field: 'doc' must be a string"});
    }
    SECTION("an entity's doc that is not a string") {
        f.entity("order.yaml", order_yaml + "  doc: [a, b]\n");
        CHECK_ERROR(f, "order.yaml", 14, {"entity: 'doc' must be a string"});
    }
    SECTION("a v1 entity's description that is not a string") {
        f.entity("vehicle.yaml", v1_header("nomnom.io/v1", "Entity") +
                                     "metadata:\n  name: Vehicle\n  annotations:\n"
                                     "    description: {text: x}\n" +
                                     vehicle_body.substr(vehicle_body.find("spec:")));
        CHECK_ERROR(f, "vehicle.yaml", 6, {"metadata.annotations: 'description' must be a string"});
    }
}

TEST_CASE("a message shows the control characters of the YAML text it quotes as escapes",
          "[generator]") {
    Fixture f;
    f.entity("order.yaml",
             "entity:\n  name: Order\n  source_type: \"root\\nDROP TABLE x;\\e\\t\"\n");
    CHECK_ERROR(f, "order.yaml", 3,
                {"source_type 'root\\nDROP TABLE x;\\x1b\\t' is not supported"});
    for (const auto& message : f.check().errors()) {
        CHECK(message.find_first_of("\n\x1b\t") == std::string::npos);
    }
}

TEST_CASE("a missing required key is reported on the mapping that lacks it", "[generator]") {
    Fixture f;
    SECTION("entity name") {
        f.entity("order.yaml", R"(entity:
  source_type: root
  fields:
    - {name: order_key, type: String}
)");
        CHECK_ERROR(f, "order.yaml", 2, {"missing required key 'name'"});
    }
    SECTION("field type") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: order_key
      nullable: true
)");
        CHECK_ERROR(f, "order.yaml", 4, {"field", "missing required key 'type'"});
    }
    SECTION("conformant_table") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: order_key, type: String}
  persistence:
    database:
      conformant_id_column: id
)");
        CHECK_ERROR(f, "order.yaml", 7,
                    {"persistence.database", "missing required key 'conformant_table'"});
    }
    SECTION("v1 spec") {
        f.entity("vehicle.yaml", v1_header("nomnom.io/v1", "Entity") + "metadata: {name: V}\n");
        CHECK_ERROR(f, "vehicle.yaml", 1, {"missing required key 'spec'"});
    }
    SECTION("condition equals") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: a, type: String}
    - {name: b, type: String}
    - name: c
      type: String
      computed_from:
        transform: copy_field_conditional
        sources: [{source: self, field: a}, {source: self, field: b}]
        condition:
          field: {source: self, field: a}
)");
        CHECK_ERROR(f, "order.yaml", 12, {"Order.c", "condition", "missing required key 'equals'"});
    }
    SECTION("repeated_for field") {
        f.entity("order.yaml", order_yaml)
            .entity("line.yaml", derived("Line", "  repeated_for: {entity: Order}\n"));
        CHECK_ERROR(f, "line.yaml", 4, {"repeated_for", "missing required key 'field'"});
    }
}

TEST_CASE("an unknown type name lists the known ones", "[generator]") {
    Fixture f;
    f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: order_key
      type: Strnig
)");
    CHECK_ERROR(f, "order.yaml", 5, {"unknown type 'Strnig'", "String", "List[<type>]"});
}

TEST_CASE("an unknown transform is refused where it is used", "[generator]") {
    Fixture f;
    f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: order_key
      type: String
    - name: shouted
      type: String
      computed_from:
        transform: shout
        sources: [{source: self, field: order_key}]
)");
    CHECK_ERROR(f, "order.yaml", 9, {"Order.shouted", "transform 'shout'", "unknown"});
}

TEST_CASE("a transform declared only as Rust asks to be ported to C++", "[generator]") {
    Fixture f;
    f.project(R"(project:
  name: shop
transforms:
  rust:
    shout:
      args: [{name: s, type: "&str"}]
      return_type: "Result<String, String>"
      code: 'Ok(s.to_uppercase())'
)");
    f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: order_key
      type: String
    - name: shouted
      type: String
      computed_from: {transform: shout, sources: [{source: self, field: order_key}]}
)");
    CHECK_ERROR(f, "order.yaml", 8, {"transform 'shout'", "Rust", "port it to C++"});
    CHECK(
        reported(f.check().warnings(), "warning", f.project_file(), 5, {"Rust transform 'shout'"}));
}

TEST_CASE("Rust code for a builtin or a C++ transform is noted as ignored", "[generator]") {
    Fixture f;
    f.project(R"(transforms:
  rust:
    json_get_int:
      code: 'obj.get(field).and_then(|v| v.as_i64())'
    upper:
      code: 's.to_uppercase()'
  cpp:
    sources: []
    functions:
      upper: {returns: String}
)");
    f.entity("order.yaml", order_yaml);
    INFO(listed(f.check().errors()));
    CHECK_FALSE(f.check().failed());
    const auto& notes = f.check().notes();
    INFO(listed(notes));
    CHECK(reported(notes, "note", f.project_file(), 3,
                   {"Rust implementation ignored: builtin json_get_int used"}));
    CHECK(reported(notes, "note", f.project_file(), 5,
                   {"Rust implementation ignored: C++ transform upper"}));
    CHECK_THAT(listed(f.check().warnings()), !Catch::Contains("Rust"));
}

TEST_CASE("an unknown parent is refused at the parent line", "[generator]") {
    Fixture f;
    f.entity("order.yaml", order_yaml).entity("line.yaml", derived("Line", "  parent: Ordre\n"));
    CHECK_ERROR(f, "line.yaml", 4, {"entity 'Line'", "unknown parent 'Ordre'"});
}

TEST_CASE("repeated_for must name an entity and one of its list fields", "[generator]") {
    Fixture f;
    f.entity("order.yaml", order_yaml);
    SECTION("unknown entity") {
        f.entity("line.yaml",
                 derived("Line", "  repeated_for: {entity: Ordre, field: line_items}\n"));
        CHECK_ERROR(f, "line.yaml", 4, {"repeated_for", "unknown entity 'Ordre'"});
    }
    SECTION("not a list") {
        f.entity("line.yaml",
                 derived("Line", "  repeated_for: {entity: Order, field: order_key}\n"));
        CHECK_ERROR(f, "line.yaml", 4, {"'Order.order_key'", "must be a List"});
    }
    SECTION("no such field") {
        f.entity("line.yaml", derived("Line", "  repeated_for: {entity: Order, field: lines}\n"));
        CHECK_ERROR(f, "line.yaml", 4, {"repeated_for field 'lines'", "not a field of 'Order'"});
    }
}

TEST_CASE("a dependency cycle is refused with its path", "[generator]") {
    Fixture f;
    f.entity("order.yaml", order_yaml)
        .entity("a.yaml", derived("A", "  parent: B\n"))
        .entity("b.yaml", derived("B", "  parent: A\n"));
    CHECK_ERROR(f, "a.yaml", 2, {"dependency cycle", "A -> B -> A"});
}

TEST_CASE("a field source naming another single instance orders the entities by it",
          "[generator]") {
    Fixture f;
    const std::string reads_zzz = R"(entity:
  name: Aaa
  source_type: derived
  parent: Order
  fields:
    - name: z
      type: String
      computed_from: {transform: copy_field, sources: [{source: Zzz, field: z}]}
)";
    SECTION("built after the entity it reads, whatever the file order") {
        f.entity("order.yaml", order_yaml)
            .entity("aaa.yaml", reads_zzz)
            .entity("zzz.yaml",
                    derived("Zzz", "  parent: Order\n") + "    - {name: z, type: String}\n");
        INFO(listed(f.check().errors()));
        REQUIRE(f.resolved());
        CHECK(f.order() == std::vector<std::string>{"Order", "Zzz", "Aaa"});
    }
    SECTION("a cycle through field sources is refused with its path") {
        f.entity("order.yaml", order_yaml)
            .entity("aaa.yaml", reads_zzz)
            .entity("zzz.yaml", R"(entity:
  name: Zzz
  source_type: derived
  parent: Order
  fields:
    - name: z
      type: String
      computed_from: {transform: copy_field, sources: [{source: Aaa, field: z}]}
)");
        CHECK_ERROR(f, "aaa.yaml", 2, {"dependency cycle", "Aaa -> Zzz -> Aaa"});
    }
    SECTION("an entity of another root's messages is refused") {
        f.entity("order.yaml", order_yaml)
            .entity("aaa.yaml", reads_zzz)
            .entity("zzz.yaml", R"(entity:
  name: Zzz
  source_type: root
  fields:
    - {name: z, type: String}
)");
        CHECK_ERROR(f, "aaa.yaml", 8, {"source 'Zzz'", "not built from 'Order' messages"});
    }
}

TEST_CASE("an entity defined twice is refused at the second definition", "[generator]") {
    Fixture f;
    f.entity("a.yaml", order_yaml).entity("b.yaml", order_yaml);
    CHECK_ERROR(f, "b.yaml", 2, {"entity 'Order' is defined twice"});
}

TEST_CASE("a field used before it is computed is refused", "[generator]") {
    Fixture f;
    f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: copy
      type: String
      computed_from:
        transform: copy_field
        sources: [{source: self, field: order_key}]
    - name: order_key
      type: String
)");
    CHECK_ERROR(f, "order.yaml", 8, {"field 'order_key'", "used before it is computed"});
}

TEST_CASE("a unicity field must be a column", "[generator]") {
    Fixture f;
    SECTION("legacy unicity_fields") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: order_key, type: String}
  persistence:
    database:
      conformant_table: orders
      conformant_id_column: id
      unicity_fields: [order_id]
)");
        CHECK_ERROR(f, "order.yaml", 9, {"unicity field 'order_id'", "not a column", "'orders'"});
    }
    SECTION("v1 unicity.fields") {
        f.entity("vehicle.yaml", v1_header("nomnom.io/v1", "Entity") + R"(metadata:
  name: Vehicle
spec:
  fields:
    - {name: vehicleId, type: string}
  persistence:
    table: vehicles
    unicity:
      fields: [vehicle]
)");
        CHECK_ERROR(f, "vehicle.yaml", 11, {"unicity field 'vehicle'", "'vehicles'"});
    }
}

TEST_CASE("v1 files must say apiVersion nomnom.io/v1 and kind Entity", "[generator]") {
    Fixture f;
    SECTION("apiVersion") {
        f.entity("vehicle.yaml", v1_header("nomnom.io/v2", "Entity") + vehicle_body);
        CHECK_ERROR(f, "vehicle.yaml", 1, {"apiVersion 'nomnom.io/v2'", "nomnom.io/v1"});
    }
    SECTION("kind") {
        f.entity("vehicle.yaml", v1_header("nomnom.io/v1", "Entities") + vehicle_body);
        CHECK_ERROR(f, "vehicle.yaml", 2, {"kind 'Entities'", "expected Entity"});
    }
}

TEST_CASE("an invalid regular expression pattern is refused", "[generator]") {
    Fixture f;
    f.entity("vehicle.yaml", R"(apiVersion: nomnom.io/v1
kind: Entity
metadata:
  name: Vehicle
spec:
  fields:
    - name: vehicleId
      type: string
      constraints:
        pattern: "^V[0-9+$"
)");
    CHECK_ERROR(f, "vehicle.yaml", 10, {"pattern '^V[0-9+$'", "regular expression"});
}

TEST_CASE("column names reserved for nomnom are refused", "[generator]") {
    Fixture f;
    SECTION("nn_ord") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: order_key, type: String}
    - {name: nn_ord, type: Integer}
  persistence:
    database: {conformant_table: orders, conformant_id_column: id}
)");
        CHECK_ERROR(f, "order.yaml", 5, {"column name 'nn_ord'", "reserved"});
    }
    SECTION("nn_seq") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: order_key, type: String}
    - {name: nn_seq, type: Integer}
  persistence:
    database: {conformant_table: orders, conformant_id_column: id}
)");
        CHECK_ERROR(f, "order.yaml", 5, {"column name 'nn_seq'", "reserved"});
    }
    SECTION("nomnom_ prefix from a v1 camelCase field") {
        f.entity("vehicle.yaml", R"(apiVersion: nomnom.io/v1
kind: Entity
metadata:
  name: Vehicle
spec:
  fields:
    - {name: vehicleId, type: string}
    - {name: nomnomBatch, type: integer}
  persistence:
    table: vehicles
)");
        CHECK_ERROR(f, "vehicle.yaml", 8, {"column name 'nomnom_batch'", "reserved"});
    }
}

TEST_CASE("warnings about keys without effect do not fail the check", "[generator]") {
    Fixture f;
    f.entity("order.yaml", R"(entity:
  name: Order
  prefix: "O"
  fields:
    - {name: order_key, type: String}
  persistence:
    database:
      conformant_table: orders
      conformant_id_column: id
      foreign_keys: [{name: fk, references: "customers.id"}]
)");
    const auto& diagnostics = f.check();
    INFO(listed(diagnostics.errors()));
    CHECK_FALSE(diagnostics.failed());
    CHECK(f.resolved());
    const auto order = f.entities() / "order.yaml";
    CHECK(reported(diagnostics.warnings(), "warning", order, 3, {"'prefix' is ignored"}));
    CHECK(reported(diagnostics.warnings(), "warning", order, 10, {"'foreign_keys' is ignored"}));
}

namespace {

struct Outcome {
    int exit_code = -1;
    std::string err;
};

// Runs nomnom-gen with stdout discarded, so that what is read back is stderr alone.
Outcome run_gen(const std::string& arguments) {
    const std::string command =
        std::string("'") + NOMNOM_GEN_BIN + "' " + arguments + " 2>&1 >/dev/null";
    Outcome outcome;
    FILE* pipe = popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    std::size_t n = 0;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) outcome.err.append(buffer, n);
    const int status = pclose(pipe);
    if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
    return outcome;
}

}  // namespace

TEST_CASE("nomnom-gen exits with 2 and prints file:line on stderr for bad input", "[generator]") {
    Fixture f;
    f.project("project: {name: bad}\n");
    f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: order_key
      type: String
      nulable: true
)");
    const auto out = f.entities().parent_path() / "out";
    const Outcome check = run_gen("check --entities '" + f.entities().string() + "'");
    CHECK(check.exit_code == 2);
    const std::string where = (f.entities() / "order.yaml").string() + ":6: error: ";
    CHECK_THAT(check.err, Catch::Contains(where) && Catch::Contains("unknown key 'nulable'"));

    const Outcome generate =
        run_gen("--entities '" + f.entities().string() + "' --out '" + out.string() + "'");
    CHECK(generate.exit_code == 2);
    CHECK_THAT(generate.err, Catch::Contains(where));
    CHECK_FALSE(fs::exists(out));
}

TEST_CASE("nomnom-gen check accepts the tpch entities", "[generator]") {
    const std::string tpch = std::string(NOMNOM_SOURCE_DIR) + "/plugins/tpch";
    const Outcome check =
        run_gen("check --entities '" + tpch + "/entities' --project '" + tpch + "/nomnom.yaml'");
    INFO(check.err);
    CHECK(check.exit_code == 0);
    CHECK_THAT(check.err, !Catch::Contains("error:"));
    // The Rust code nomnom.yaml gives for the json_get_* builtins: one note each.
    for (const auto& [line, name] :
         std::vector<std::pair<int, std::string>>{{25, "json_get_string"},
                                                  {39, "json_get_int"},
                                                  {52, "json_get_float"},
                                                  {65, "json_get_optional_string"},
                                                  {78, "json_get_optional_float"}}) {
        CHECK_THAT(check.err, Catch::Contains(tpch + "/nomnom.yaml:" + std::to_string(line) +
                                              ": note: Rust implementation ignored: builtin " +
                                              name + " used\n"));
    }
}

// ---- Keys that mean something are honoured; the others are reported, never dropped.

namespace {

// A legacy root with the given field lines (from line 5) and persistence lines after them.
std::string legacy_root(const std::string& fields, const std::string& persistence) {
    return "entity:\n  name: Order\n  source_type: root\n  fields:\n" + fields +
           "  persistence:\n    database:\n      conformant_table: orders\n" + persistence;
}

}  // namespace

TEST_CASE("a legacy field's primary_key: true makes it the primary key", "[generator][keys]") {
    Fixture f;
    SECTION("one field") {
        f.entity("order.yaml", legacy_root("    - {name: order_key, type: String, primary_key: "
                                           "true}\n    - {name: note, type: String}\n",
                                           "      conformant_id_column: order_key\n"));
        INFO(listed(f.check().errors()) << listed(f.check().warnings()));
        REQUIRE(f.resolved());
        CHECK(f.entity("Order").primary_key == std::optional<std::string>("order_key"));
        CHECK(f.entity("Order").conflict_keys == std::vector<std::string>{"order_key"});
        CHECK(f.check().warnings().empty());
    }
    SECTION("a second one is refused") {
        f.entity("order.yaml", legacy_root("    - {name: order_key, type: String, primary_key: "
                                           "true}\n    - {name: note, type: String, primary_key: "
                                           "true}\n",
                                           "      conformant_id_column: order_key\n"));
        CHECK_ERROR(f, "order.yaml", 6, {"field 'note'", "second primary key", "'order_key'"});
    }
    SECTION("with an autogenerated id it is refused") {
        f.entity("order.yaml",
                 legacy_root("    - {name: order_key, type: String, primary_key: true}\n",
                             "      conformant_id_column: id\n"
                             "      autogenerate_conformant_id: true\n"));
        CHECK_ERROR(f, "order.yaml", 5, {"field 'order_key'", "autogenerated 'id'"});
    }
    SECTION("on an entity that is not stored it has no effect, and says so") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: order_key, type: String, primary_key: true}
)");
        CHECK_WARNING(f, "order.yaml", 4, {"'order_key'", "primary key", "not stored"});
    }
}

TEST_CASE("conformant_id_column that is neither autogenerated nor the key is a warning",
          "[generator][keys]") {
    Fixture f;
    SECTION("ignored") {
        f.entity("order.yaml", order_yaml);
        CHECK_WARNING(f, "order.yaml", 12, {"conformant_id_column 'id' is ignored"});
    }
    SECTION("the primary key: no warning") {
        f.entity("order.yaml", legacy_root("    - {name: order_key, type: String}\n",
                                           "      conformant_id_column: order_key\n"
                                           "    primary_key: {name: order_key, type: String}\n"));
        INFO(listed(f.check().errors()));
        CHECK_FALSE(f.check().failed());
        CHECK(f.check().warnings().empty());
    }
}

TEST_CASE("primary_key.type must be the column's type", "[generator][keys]") {
    Fixture f;
    SECTION("a non-generated key") {
        f.entity("order.yaml", legacy_root("    - {name: order_key, type: String}\n",
                                           "      conformant_id_column: order_key\n"
                                           "    primary_key: {name: order_key, type: Integer}\n"));
        CHECK_ERROR(f, "order.yaml", 10,
                    {"primary_key 'order_key' is declared Integer", "the column is String"});
    }
    SECTION("next to autogenerate_conformant_id") {
        f.entity("order.yaml", legacy_root("    - {name: order_key, type: String}\n",
                                           "      conformant_id_column: id\n"
                                           "      autogenerate_conformant_id: true\n"
                                           "    primary_key: {name: order_key, type: String}\n"));
        CHECK_ERROR(f, "order.yaml", 11,
                    {"primary_key 'order_key' is not autogenerated", "give one of them"});
    }
}

TEST_CASE("a nullable key column is refused", "[generator][keys]") {
    Fixture f;
    f.entity("order.yaml", legacy_root("    - {name: order_key, type: String, nullable: true}\n",
                                       "      conformant_id_column: id\n"
                                       "      unicity_fields: [order_key]\n"));
    CHECK_ERROR(f, "order.yaml", 5, {"key column 'order_key' is nullable", "non-nullable"});
}

TEST_CASE("repetition must be what the entity is", "[generator][keys]") {
    Fixture f;
    f.entity("order.yaml", order_yaml);
    SECTION("singleton with repeated_for") {
        f.entity("line.yaml", derived("Line",
                                      "  repetition: singleton\n"
                                      "  repeated_for: {entity: Order, field: line_items}\n"));
        CHECK_ERROR(f, "line.yaml", 4,
                    {"repetition: singleton", "one instance per element of Order.line_items"});
    }
    SECTION("singleton below a repeated parent") {
        f.entity("line.yaml",
                 derived("Line", "  repeated_for: {entity: Order, field: line_items}\n"))
            .entity("tax.yaml", derived("Tax", "  repetition: singleton\n  parent: Line\n"));
        CHECK_ERROR(f, "tax.yaml", 4,
                    {"repetition: singleton", "instance of its repeated parent 'Line'"});
    }
    SECTION("repeated without anything to repeat over") {
        f.entity("note.yaml", derived("Note", "  repetition: repeated\n  parent: Order\n"));
        CHECK_ERROR(f, "note.yaml", 4, {"repetition: repeated", "single instance per message"});
    }
    SECTION("a repeated root, in the v1 form") {
        f.entity("vehicle.yaml", R"(apiVersion: nomnom.io/v1
kind: Entity
metadata: {name: Vehicle}
spec:
  type: root
  repetition: repeated
  fields:
    - {name: vehicleId, type: string}
)");
        CHECK_ERROR(f, "vehicle.yaml", 6, {"repetition: repeated", "(it is a root)"});
    }
    SECTION("on a reference entity it is ignored, with a warning") {
        f.entity("customer.yaml", R"(entity:
  name: Customer
  type: reference
  repetition: singleton
  fields:
    - {name: customer_key, type: String}
)");
        CHECK_WARNING(f, "customer.yaml", 4, {"'repetition' is ignored", "array of rows"});
    }
    SECTION("repeated with repeated_for is accepted") {
        f.entity("line.yaml", derived("Line",
                                      "  repetition: repeated\n"
                                      "  repeated_for: {entity: Order, field: line_items}\n"));
        INFO(listed(f.check().errors()));
        CHECK(f.resolved());
    }
}

TEST_CASE("root_source: false is not a root source, and a named root must be the root",
          "[generator][keys]") {
    Fixture f;
    SECTION("false") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: raw, type: String, root_source: false}
)");
        INFO(listed(f.check().errors()));
        REQUIRE(f.resolved());
        CHECK_FALSE(f.entity("Order").entity->fields[0].root_source);
    }
    SECTION("true and the root's name") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: raw, type: String, root_source: true}
    - {name: raw2, type: json, root_source: Order}
)");
        INFO(listed(f.check().errors()));
        REQUIRE(f.resolved());
        CHECK(f.entity("Order").entity->fields[0].root_source);
        CHECK(f.entity("Order").entity->fields[1].root_source);
    }
    SECTION("another entity") {
        f.entity("order.yaml", order_yaml)
            .entity("line.yaml",
                    "entity:\n  name: Line\n  source_type: derived\n  parent: Order\n  fields:\n"
                    "    - {name: raw, type: String, root_source: Invoice}\n");
        CHECK_ERROR(f, "line.yaml", 6,
                    {"Line.raw", "root_source 'Invoice'", "not the entity whose messages build",
                     "'Order'"});
    }
}

TEST_CASE("v1 metadata other than name and description is reported", "[generator][keys]") {
    Fixture f;
    f.entity("vehicle.yaml", v1_header("nomnom.io/v1", "Entity") + R"(metadata:
  name: Vehicle
  labels: {domain: fleet}
  annotations:
    description: "A vehicle"
    owner: fleet-team
spec:
  fields:
    - {name: vehicleId, type: string}
)");
    CHECK_WARNING(f, "vehicle.yaml", 5, {"'labels' is ignored"});
    CHECK_WARNING(f, "vehicle.yaml", 8, {"'owner' is ignored", "only 'description'"});
    CHECK(f.entity("Vehicle").entity->doc == "A vehicle");
}

TEST_CASE("v1 precision and scale apply to decimals and must make a valid NUMERIC",
          "[generator][keys]") {
    Fixture f;
    const auto with_constraints = [&](const std::string& type, const std::string& constraints) {
        f.entity("vehicle.yaml", v1_header("nomnom.io/v1", "Entity") + R"(metadata: {name: Vehicle}
spec:
  fields:
    - name: price
      type: )" + type + R"(
      constraints: {)" + constraints +
                                     R"(}
)");
    };
    SECTION("on a float") {
        with_constraints("float", "precision: 10, scale: 2");
        CHECK_WARNING(f, "vehicle.yaml", 8, {"'precision' is ignored", "decimal fields only"});
        CHECK_WARNING(f, "vehicle.yaml", 8, {"'scale' is ignored", "decimal fields only"});
    }
    SECTION("scale above precision") {
        with_constraints("decimal", "precision: 4, scale: 6");
        CHECK_ERROR(f, "vehicle.yaml", 8, {"scale must be between 0 and the precision 4"});
    }
    SECTION("precision 0") {
        with_constraints("decimal", "precision: 0");
        CHECK_ERROR(f, "vehicle.yaml", 8, {"precision must be between 1 and 1000"});
    }
    SECTION("scale without precision") {
        with_constraints("decimal", "scale: 2");
        CHECK_WARNING(f, "vehicle.yaml", 8, {"'scale' is ignored", "needs a precision"});
    }
}

TEST_CASE("a second v1 primaryKey is refused", "[generator][keys]") {
    Fixture f;
    f.entity("vehicle.yaml", v1_header("nomnom.io/v1", "Entity") + R"(metadata: {name: Vehicle}
spec:
  fields:
    - {name: vehicleId, type: string, constraints: {primaryKey: true}}
    - {name: plate, type: string, constraints: {primaryKey: true}}
  persistence: {table: vehicles}
)");
    CHECK_ERROR(f, "vehicle.yaml", 7,
                {"field 'plate' is a second primary key", "(the first is 'vehicle_id')"});
}

TEST_CASE("a key given twice in one mapping is refused at the second", "[generator][keys]") {
    Fixture f;
    SECTION("in an entity") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: order_key
      type: String
      type: Integer
)");
        CHECK_ERROR(f, "order.yaml", 6, {"duplicate key 'type'", "first at line 5"});
    }
    SECTION("in nomnom.yaml") {
        f.project("project: {name: a}\nproject: {name: b}\n");
        f.entity("order.yaml", order_yaml);
        const auto& errors = f.check().errors();
        INFO(listed(errors));
        CHECK(reported(errors, "error", f.project_file(), 2,
                       {"duplicate key 'project'", "first at line 1"}));
    }
}

// ---- Values and types that would refuse every message are refused at generation time.

namespace {

// A v1 root with one field `x` (at line 6) of `type` and the given extra lines (from line 8).
std::string v1_one_field(const std::string& type, const std::string& more) {
    return v1_header("nomnom.io/v1", "Entity") + "metadata: {name: Vehicle}\nspec:\n  fields:\n" +
           "    - name: x\n      type: " + type + "\n" + more;
}

}  // namespace

TEST_CASE("a constant or default that does not fit its field is refused", "[generator][types]") {
    Fixture f;
    SECTION("a legacy constant number on a String") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: label
      type: String
      constant: 123
)");
        CHECK_ERROR(f, "order.yaml", 6,
                    {"Order.label", "constant 123", "expected a string, got number 123"});
    }
    SECTION("constant null on a non-nullable field") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: label
      type: String
      constant: null
)");
        CHECK_ERROR(f, "order.yaml", 6, {"constant null", "required, got null"});
    }
    SECTION("constant_value beyond 32 bits on an Integer") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - name: n
      type: Integer
      computed_from: {transform: constant_value, args: {value: 3000000000}}
)");
        CHECK_ERROR(f, "order.yaml", 6, {"constant_value 3000000000", "32-bit integer"});
    }
    SECTION("a v1 constant that is not a date") {
        f.entity("vehicle.yaml",
                 v1_one_field("date", "      source: {constant: \"2024-02-30\"}\n"));
        CHECK_ERROR(f, "vehicle.yaml", 8,
                    {"Vehicle.x", "constant \"2024-02-30\"", "expected a date"});
    }
    SECTION("a v1 default of the wrong type") {
        f.entity("vehicle.yaml", v1_one_field("integer", "      constraints: {default: abc}\n"));
        CHECK_ERROR(f, "vehicle.yaml", 8, {"default \"abc\"", "expected an integer"});
    }
    for (const std::string word : {"inf", "-infinity", "nan"}) {
        DYNAMIC_SECTION("a v1 default that is not a finite number: " << word) {
            f.entity("vehicle.yaml",
                     v1_one_field("float", "      constraints: {default: " + word + "}\n"));
            CHECK_ERROR(f, "vehicle.yaml", 8, {"default \"" + word + "\"", "expected a number"});
        }
    }
    SECTION("a bound that is not a finite number") {
        f.entity("vehicle.yaml", v1_one_field("float", "      constraints: {maximum: nan}\n"));
        CHECK_ERROR(f, "vehicle.yaml", 8, {"maximum", "a number"});
    }
    SECTION("a v1 default outside the constraints") {
        f.entity("vehicle.yaml",
                 v1_one_field("integer", "      constraints: {maximum: 2030, default: 5000}\n"));
        CHECK_ERROR(f, "vehicle.yaml", 8, {"default 5000", "above maximum 2030"});
    }
    SECTION("a v1 enum member that is not of the type") {
        f.entity("vehicle.yaml", v1_one_field("integer", "      constraints: {enum: [1, two]}\n"));
        CHECK_ERROR(f, "vehicle.yaml", 8,
                    {"enum member \"two\"", "never matches a value of type integer"});
    }
    SECTION("fitting values are accepted") {
        f.entity("vehicle.yaml", v1_one_field("decimal",
                                              "      constraints: {default: \"12.50\", minimum: 0, "
                                              "enum: [\"12.50\", 3]}\n"));
        INFO(listed(f.check().errors()));
        CHECK(f.resolved());
    }
}

TEST_CASE("a transform or column whose type never converts to the field's is refused",
          "[generator][types]") {
    Fixture f;
    SECTION("json_get_string into an Integer") {
        f.entity("order.yaml", order_yaml).entity("line.yaml", R"(entity:
  name: Line
  source_type: derived
  repeated_for: {entity: Order, field: line_items, each_known_as: item}
  fields:
    - name: n
      type: Integer
      computed_from: {transform: json_get_string, sources: [item], args: {field: n}}
)");
        CHECK_ERROR(f, "line.yaml", 8,
                    {"Line.n' is Integer", "transform 'json_get_string' gives String"});
    }
    SECTION("copy_field of a Float into an Integer") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: price, type: Float}
    - name: whole
      type: Integer
      computed_from: {transform: copy_field, sources: [{source: self, field: price}]}
)");
        CHECK_ERROR(f, "order.yaml", 7,
                    {"'Order.whole' is Integer", "gives Float from 'Order.price'"});
    }
    SECTION("a C++ transform returning a String into a Boolean") {
        f.project(R"(transforms:
  cpp:
    sources: []
    functions:
      upper: {returns: String}
)");
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: name, type: String}
    - name: flag
      type: Boolean
      computed_from: {transform: upper, sources: [{source: self, field: name}]}
)");
        CHECK_ERROR(f, "order.yaml", 7, {"is Boolean", "'upper' gives String", "returns"});
    }
    SECTION("json_get of a String field") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: name, type: String}
    - name: first
      type: String
      computed_from: {transform: json_get_string, sources: [{source: self, field: name}], args: [a]}
)");
        CHECK_ERROR(f, "order.yaml", 7,
                    {"reads a member of a JSON object", "'Order.name' is String"});
    }
    SECTION("json_get of a list element that is a string") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: tags, type: "List[String]"}
)")
            .entity("tag.yaml", R"(entity:
  name: Tag
  source_type: derived
  repeated_for: {entity: Order, field: tags, each_known_as: tag}
  fields:
    - name: t
      type: String
      computed_from: {transform: json_get_string, sources: [tag], args: [a]}
)");
        CHECK_ERROR(f, "tag.yaml", 8, {"reads a member of a JSON object", "'tag' is String"});
    }
    SECTION("a field_overrides column of another type") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: order_key, type: String}
    - {name: note, type: String}
  persistence:
    database: {conformant_table: orders, conformant_id_column: order_key}
    primary_key: {name: order_key, type: String}
    field_overrides:
      - {name: order_key, type: String}
      - {name: note, type: Integer}
)");
        CHECK_ERROR(f, "order.yaml", 11, {"column 'note' is Integer", "its field is String"});
    }
    SECTION("root_source on an Integer") {
        f.entity("order.yaml", R"(entity:
  name: Order
  fields:
    - {name: raw, type: Integer, root_source: true}
)");
        CHECK_ERROR(f, "order.yaml", 4, {"Order.raw", "root_source", "Integer field cannot hold"});
    }
}

TEST_CASE("constraints that contradict each other or the type are refused", "[generator][types]") {
    Fixture f;
    SECTION("minimum above maximum") {
        f.entity("vehicle.yaml",
                 v1_one_field("integer", "      constraints: {minimum: 10, maximum: 5}\n"));
        CHECK_ERROR(f, "vehicle.yaml", 6, {"minimum 10 is above maximum 5"});
    }
    SECTION("minLength above maxLength") {
        f.entity("vehicle.yaml",
                 v1_one_field("string", "      constraints: {minLength: 4, maxLength: 2}\n"));
        CHECK_ERROR(f, "vehicle.yaml", 6, {"minLength 4 is above maxLength 2"});
    }
    SECTION("a range on a string") {
        f.entity("vehicle.yaml", v1_one_field("string", "      constraints: {minimum: 1}\n"));
        CHECK_ERROR(f, "vehicle.yaml", 6, {"minimum and maximum apply to numbers", "string"});
    }
    SECTION("an enum on a JSON field") {
        f.entity("vehicle.yaml", v1_one_field("json", "      constraints: {enum: [a, b]}\n"));
        CHECK_ERROR(f, "vehicle.yaml", 6, {"Vehicle.x", "enum applies to scalar types, not json"});
    }
    SECTION("a pattern on an integer") {
        f.entity("vehicle.yaml", v1_one_field("integer", "      constraints: {pattern: \"^1\"}\n"));
        CHECK_ERROR(f, "vehicle.yaml", 6, {"pattern apply to strings", "integer"});
    }
}

TEST_CASE("nomnom-gen exits with 2 for a value that would refuse every message",
          "[generator][types]") {
    Fixture f;
    f.entity("vehicle.yaml", v1_one_field("integer", "      constraints: {default: abc}\n"));
    const Outcome check = run_gen("check --entities '" + f.entities().string() + "'");
    CHECK(check.exit_code == 2);
    CHECK_THAT(check.err, Catch::Contains((f.entities() / "vehicle.yaml").string() +
                                          ":8: error: field 'Vehicle.x': default \"abc\""));
}

TEST_CASE("two C++ transform sources with the same file name are refused", "[generator]") {
    Fixture f;
    for (const char* dir : {"a", "b"}) {
        fs::create_directories(f.project_file().parent_path() / dir);
        std::ofstream(f.project_file().parent_path() / dir / "transforms.cpp") << "\n";
    }
    f.project("transforms:\n  cpp:\n    sources: [a/transforms.cpp, b/transforms.cpp]\n");
    f.entity("order.yaml", order_yaml);
    const auto& errors = f.check().errors();
    INFO(listed(errors));
    CHECK(reported(errors, "error", f.project_file(), 3, {"two files are named 'transforms.cpp'"}));
}

TEST_CASE("a C++ transform's name must be a C++ name", "[generator][names]") {
    Fixture f;
    f.project("transforms:\n  cpp:\n    functions:\n      \"up(per)\\n\": {returns: String}\n");
    f.entity("order.yaml", order_yaml);
    const auto& errors = f.check().errors();
    INFO(listed(errors));
    CHECK(reported(errors, "error", f.project_file(), 4,
                   {"transform name 'up(per)\\n': use ASCII letters, digits and _, not starting "
                    "with a digit"}));
}

// ---- The generated plugin is named after the schema, so names that would be the same there
// are refused (names.hpp).

namespace {

// A legacy root with the given name and field lines (from line 5), not stored.
std::string unstored_root(const std::string& name, const std::string& fields) {
    return "entity:\n  name: " + name + "\n  source_type: root\n  fields:\n" + fields;
}

}  // namespace

TEST_CASE("names that would be one C++ name in the generated plugin are refused",
          "[generator][names]") {
    Fixture f;
    SECTION("two entities, Order and order") {
        f.entity("a.yaml", order_yaml)
            .entity("b.yaml", unstored_root("order", "    - {name: order_key, type: String}\n"));
        CHECK_ERROR(f, "b.yaml", 2,
                    {"entity 'order' has the same C++ name in the generated plugin, 'Order', as "
                     "entity 'Order' (" +
                     (f.entities() / "a.yaml").string() + ":2): rename it"});
    }
    // The second of two fields: a camelCase name and its snake_case, a keyword and its C++ name.
    for (const auto& [first, second] : std::vector<std::pair<std::string, std::string>>{
             {"lineItem", "line_item"}, {"class", "class_"}}) {
        DYNAMIC_SECTION("two fields, " << first << " and " << second) {
            f.entity("order.yaml", unstored_root("Order", "    - {name: " + first +
                                                              ", type: String}\n    - {name: " +
                                                              second + ", type: String}\n"));
            CHECK_ERROR(
                f, "order.yaml", 6,
                {"field 'Order." + second + "' has the same C++ name in the generated plugin, '" +
                 second + "', as field 'Order." + first + "' (" +
                 (f.entities() / "order.yaml").string() + ":5): rename it"});
        }
    }
    SECTION("two columns that are not fields") {
        f.entity("order.yaml", legacy_root("    - {name: order_key, type: String}\n",
                                           "      conformant_id_column: id\n"
                                           "    field_overrides:\n"
                                           "      - {name: order_key, type: String}\n"
                                           "      - {name: lineItem, type: String}\n"
                                           "      - {name: line_item, type: String}\n"));
        CHECK_ERROR(f, "order.yaml", 13,
                    {"column 'orders.line_item' has the same C++ name in the generated plugin, "
                     "'line_item', as column 'orders.lineItem' (" +
                     (f.entities() / "order.yaml").string() + ":12): rename it"});
    }
    for (const std::string name : {"GeneratedPlugin", "generated_plugin"}) {
        DYNAMIC_SECTION("an entity named like the plugin class: " << name) {
            f.entity("plugin.yaml", unstored_root(name, "    - {name: order_key, type: String}\n"));
            CHECK_ERROR(f, "plugin.yaml", 2,
                        {"entity '" + name +
                         "' has the same C++ name in the generated plugin, 'GeneratedPlugin', as "
                         "the plugin class: rename it"});
        }
    }
}

TEST_CASE("a name without an ASCII letter or digit is refused", "[generator][names]") {
    Fixture f;
    SECTION("an entity") {
        f.entity("order.yaml", unstored_root("_", "    - {name: order_key, type: String}\n"));
        CHECK_ERROR(f, "order.yaml", 2,
                    {"entity '_': the generated plugin names it after its ASCII letters and "
                     "digits, and it has none"});
    }
    SECTION("a field") {
        f.entity("order.yaml", unstored_root("Order",
                                             "    - {name: order_key, type: String}\n"
                                             "    - {name: \"__\", type: String}\n"));
        CHECK_ERROR(f, "order.yaml", 6,
                    {"field 'Order.__': the generated plugin names it after its ASCII letters "
                     "and digits, and it has none"});
    }
}

// ---- Names go as they are into the DDL, the plugin's comments and the subjects (names.hpp).

TEST_CASE("a name that is not ASCII letters, digits and _ is refused where it is given",
          "[generator][names]") {
    // As the YAML writes it, and as the message shows it.
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"\"Order\\nDROP TABLE x;\"", "Order\\nDROP TABLE x;"},
        {"\"Order\\r\"", "Order\\r"},
        {"\"Order\\e[2J\"", "Order\\x1b[2J"},
        {"\"Order\\\\\"", "Order\\"},
        {"'Order\"'", "Order\""},
        {"Order Line", "Order Line"},
        {"Order.Line", "Order.Line"},
        {"Order-Line", "Order-Line"},
        {"Bestellübersicht", "Bestellübersicht"},
        {"2fa", "2fa"},
    };
    const auto v1_entity = [](const std::string& name, const std::string& field) {
        return v1_header("nomnom.io/v1", "Entity") + "metadata:\n  name: " + name +
               "\nspec:\n  fields:\n    - {name: " + field + ", type: string}\n";
    };
    const auto replaced = [](std::string text, const std::string& from, const std::string& to) {
        return text.replace(text.find(from), from.size(), to);
    };
    for (const auto& [yaml, shown] : bad) {
        // What is named, the file, the line of the name and how the message names it.
        const std::vector<std::tuple<std::string, std::string, int, std::string>> places = {
            {"an entity", unstored_root(yaml, "    - {name: order_key, type: String}\n"), 2,
             "entity name"},
            {"a field", unstored_root("Order", "    - {name: " + yaml + ", type: String}\n"), 5,
             "entity 'Order': field name"},
            {"a v1 entity", v1_entity(yaml, "vehicleId"), 4, "entity name"},
            {"a v1 field", v1_entity("Vehicle", yaml), 7, "entity 'Vehicle': field name"},
            {"a table", replaced(order_yaml, "orders", yaml), 11, "table name"},
            {"a v1 table",
             v1_header("nomnom.io/v1", "Entity") + replaced(vehicle_body, "vehicles", yaml), 12,
             "table name"},
            {"a column that is not a field",
             legacy_root("    - {name: order_key, type: String}\n",
                         "      conformant_id_column: id\n    field_overrides:\n"
                         "      - {name: order_key, type: String}\n"
                         "      - {name: " +
                             yaml + ", type: String}\n"),
             12, "column name"},
            {"an autogenerated id column",
             legacy_root("    - {name: order_key, type: String}\n",
                         "      conformant_id_column: " + yaml +
                             "\n      autogenerate_conformant_id: true\n"),
             9, "column name"},
            {"an autogenerated primary key",
             legacy_root("    - {name: order_key, type: String}\n",
                         "      conformant_id_column: id\n    primary_key: {name: " + yaml +
                             ", type: Integer, autogenerate: true}\n"),
             10, "column name"},
            {"a v1 index",
             v1_header("nomnom.io/v1", "Entity") + vehicle_body +
                 "    indexes:\n      - {name: " + yaml + ", fields: [vehicleId]}\n",
             14, "index name"},
        };
        for (const auto& [what, text, line, named] : places) {
            DYNAMIC_SECTION(what << " " << shown) {
                Fixture f;
                f.entity("e.yaml", text);
                CHECK_ERROR(f, "e.yaml", line,
                            {named + " '" + shown +
                             "': use ASCII letters, digits and _, not starting with a digit"});
                CHECK_FALSE(f.resolved());
            }
        }
    }
}

// ---- The DDL is run as one script: nothing from the YAML may end a comment early.

TEST_CASE("an entity's doc is a SQL comment, line for line", "[generator][ddl]") {
    Fixture f;
    f.entity("order.yaml",
             order_yaml + "  doc: \"Orders.\\r\\nDROP TABLE orders;\\r\\rthe last line \\n\"\n");
    INFO(listed(f.check().errors()));
    REQUIRE(f.resolved());
    for (const Dialect dialect : kDialects) {
        const std::string table = dialect == Dialect::MySql ? "`orders`" : "\"orders\"";
        CHECK_THAT(emit_ddl(f.schema(), dialect),
                   Catch::Contains("\n-- Order: Orders.\n-- DROP TABLE orders;\n--\n"
                                   "-- the last line\nCREATE TABLE IF NOT EXISTS " +
                                   table + " (\n"));
    }
}

namespace {

// Strings in every kind of key and index, beside strings in none.
const std::string account_yaml = R"(apiVersion: nomnom.io/v1
kind: Entity
metadata:
  name: Account
spec:
  type: root
  fields:
    - {name: tenant, type: string}
    - {name: login, type: string, constraints: {maxLength: 40}}
    - {name: email, type: string, constraints: {unique: true}}
    - {name: team, type: string, constraints: {indexed: true, nullable: true}}
    - {name: note, type: string, constraints: {maxLength: 100000, nullable: true}}
    - {name: balance, type: decimal, constraints: {nullable: true}}
    - {name: seenAt, type: timestamp}
  persistence:
    table: accounts
    unicity: {fields: [tenant, login]}
    indexes:
      - {name: accounts_by_seen, fields: [seenAt, team], unique: true}
)";

}  // namespace

TEST_CASE("MySQL DDL: indexed strings are VARCHARs, indexes are made with the table",
          "[generator][ddl]") {
    Fixture f;
    f.entity("account.yaml", account_yaml);
    INFO(listed(f.check().errors()));
    REQUIRE(f.resolved());
    CHECK(emit_ddl(f.schema(), Dialect::MySql) ==
          R"(-- Generated by nomnom-gen. Do not edit: change the entity YAML and regenerate.

-- Account
CREATE TABLE IF NOT EXISTS `accounts` (
    `tenant` VARCHAR(255) NOT NULL,
    `login` VARCHAR(40) NOT NULL,
    `email` VARCHAR(255) NOT NULL,
    `team` VARCHAR(255),
    `note` LONGTEXT,
    `balance` DECIMAL(65, 30),
    `seen_at` DATETIME(6) NOT NULL,
    UNIQUE KEY `accounts_unique` (`tenant`, `login`),
    UNIQUE KEY (`email`),
    KEY `idx_accounts_team` (`team`),
    UNIQUE KEY `accounts_by_seen` (`seen_at`, `team`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
)");
    // The other dialects index TEXT whole, and create indexes apart.
    CHECK_THAT(emit_ddl(f.schema(), Dialect::Postgres),
               Catch::Contains("    \"tenant\" TEXT NOT NULL,\n") &&
                   Catch::Contains("    \"note\" VARCHAR(100000),\n") &&
                   Catch::Contains("\nCREATE UNIQUE INDEX IF NOT EXISTS \"accounts_by_seen\" ON "
                                   "\"accounts\" (\"seen_at\", \"team\");\n"));
}

TEST_CASE(
    "nomnom-gen --mysql-key-length sets the VARCHAR of indexed strings without maxLength, "
    "--pg-fillfactor every PostgreSQL table's fillfactor",
    "[generator][ddl]") {
    struct Flag {
        const char* name;
        const char* value;
        const char* script;
        std::vector<std::string> written;
        std::vector<std::string> unwritten;  // by default
        const char* range;
        std::vector<const char*> refused;
    };
    const std::vector<Flag> flags = {
        {"--mysql-key-length",
         "191",
         "mysql.sql",
         {"`tenant` VARCHAR(191) NOT NULL", "`login` VARCHAR(40) NOT NULL", "`team` VARCHAR(191),"},
         {"VARCHAR(191)"},
         "from 1 to 768",
         {"0", "769", "12x", "-1"}},
        {"--pg-fillfactor",
         "50",
         "postgresql.sql",
         {"\n) WITH (fillfactor = 50);\n"},
         {"fillfactor"},
         "from 10 to 100",
         {"9", "101", "5O", "-50"}},
    };
    Fixture f;
    f.entity("account.yaml", account_yaml);
    const auto out = f.entities().parent_path() / "out";
    const std::string arguments =
        "--name account --entities '" + f.entities().string() + "' --out '" + out.string() + "'";
    const auto script = [&](const char* name) {
        std::ifstream file(out / "sql" / name);
        return std::string{std::istreambuf_iterator<char>(file), {}};
    };
    for (const Flag& flag : flags) {
        INFO(flag.name);
        REQUIRE(run_gen(arguments).exit_code == 0);
        for (const std::string& text : flag.unwritten) {
            CHECK_THAT(script(flag.script), !Catch::Contains(text));
        }
        const Outcome generated = run_gen(arguments + " " + flag.name + " " + flag.value);
        INFO(generated.err);
        REQUIRE(generated.exit_code == 0);
        for (const std::string& text : flag.written) {
            CHECK_THAT(script(flag.script), Catch::Contains(text));
        }
        for (const char* bad : flag.refused) {
            const Outcome refused = run_gen(arguments + " " + flag.name + " " + bad);
            CHECK(refused.exit_code == 2);
            CHECK_THAT(refused.err, Catch::Contains(std::string(flag.name) + " must be a number " +
                                                    flag.range) &&
                                        Catch::Contains(std::string("not '") + bad + "'"));
        }
    }
}
