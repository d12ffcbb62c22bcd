// Where a plugin's consumers are found on the server when its subjects change: by subject,
// whatever their names, new ones under free names, starting where the ones they replace stood.

#include <catch2/catch.hpp>

#include "pipeline/jetstream_consumer.hpp"

using nomnom::host::ConsumerPlan;
using nomnom::host::ConsumerSettings;
using nomnom::host::ListedConsumer;
using nomnom::host::plan_plugin_consumers;
using nomnom::host::plugin_consumers;

namespace {

// The description of plugin p's consumers made by this host (older ones have none).
const std::string kMine = "nomnom plugin p";

ListedConsumer listed(const std::string& name, const std::string& subject, uint64_t ack_floor,
                      const std::string& description = "") {
    return {name, subject, description, ack_floor, {}};
}

ConsumerPlan plan(const std::vector<ListedConsumer>& on_server,
                  const std::vector<std::string>& subjects) {
    return plan_plugin_consumers(on_server, "p",
                                 plugin_consumers("S", "p", subjects, ConsumerSettings{}));
}

// "<name> <subject> <start sequence>", or "<name> <subject> existing".
std::vector<std::string> described(const ConsumerPlan& plan) {
    std::vector<std::string> lines;
    for (const auto& planned : plan.consumers) {
        lines.push_back(
            planned.spec.durable + " " + planned.spec.subject + " " +
            (planned.existing ? "existing" : std::to_string(planned.spec.start_sequence)));
    }
    return lines;
}

std::vector<std::string> names(const std::vector<ListedConsumer>& consumers) {
    std::vector<std::string> out;
    for (const auto& consumer : consumers) out.push_back(consumer.name);
    return out;
}

}  // namespace

TEST_CASE("consumer plan: a stream without them gets the plugin's names, read from the start",
          "[consumers]") {
    CHECK(described(plan({}, {"a"})) == std::vector<std::string>{"nomnom-p a 0"});
    CHECK(described(plan({listed("nomnom-other", "x", 7)}, {"a", "b"})) ==
          std::vector<std::string>{"nomnom-p-1 a 0", "nomnom-p-2 b 0"});
}

TEST_CASE("consumer plan: a subject added keeps the others' consumers, the new one is new",
          "[consumers]") {
    const ConsumerPlan more = plan({listed("nomnom-p", "a", 500)}, {"a", "b"});
    CHECK(described(more) == std::vector<std::string>{"nomnom-p a existing", "nomnom-p-2 b 0"});
    CHECK(more.orphans.empty());
    CHECK(more.taken_over.empty());
    // Found by subject whatever their names and order.
    CHECK(
        described(
            plan({listed("nomnom-p-2", "a", 5), listed("nomnom-p", "b", 9)}, {"b", "a", "c"})) ==
        std::vector<std::string>{"nomnom-p b existing", "nomnom-p-2 a existing", "nomnom-p-3 c 0"});
}

TEST_CASE("consumer plan: a subject sharing messages with dropped ones starts after their floor",
          "[consumers]") {
    const ConsumerPlan replaced =
        plan({listed("nomnom-p-1", "o.a", 510, kMine), listed("nomnom-p-2", "b", 300),
              listed("nomnom-p-1x", "c", 1), listed("nomnom-px", "d", 1)},
             {"o.>", "b"});
    CHECK(described(replaced) ==
          std::vector<std::string>{"nomnom-p-3 o.> 511", "nomnom-p-2 b existing"});
    CHECK(names(replaced.orphans) == std::vector<std::string>{"nomnom-p-1"});
    CHECK(names(replaced.taken_over) == std::vector<std::string>{"nomnom-p-1"});
    // Two replaced by one: the lowest floor, nothing either had not acked is skipped.
    CHECK(described(
              plan({listed("nomnom-p-1", "o.a", 41, kMine), listed("nomnom-p-2", "o.b", 17, kMine)},
                   {"o.*"})) == std::vector<std::string>{"nomnom-p o.* 18"});
}

TEST_CASE("consumer plan: a subject sharing nothing with the dropped ones is read from the start",
          "[consumers]") {
    // orders.v1 -> orders.v2: what was stored on orders.v2 before the change was never read.
    const ConsumerPlan renamed = plan({listed("nomnom-p", "orders.v1", 41)}, {"orders.v2"});
    CHECK(described(renamed) == std::vector<std::string>{"nomnom-p-1 orders.v2 0"});
    CHECK(names(renamed.orphans) == std::vector<std::string>{"nomnom-p"});
    CHECK(renamed.taken_over.empty());
    // [a] -> [a.>, c]: a.> overlaps nothing of "a" either (a.> matches a.x, not a).
    CHECK(described(plan({listed("nomnom-p", "a", 9)}, {"a.>", "c"})) ==
          std::vector<std::string>{"nomnom-p-1 a.> 0", "nomnom-p-2 c 0"});
}

TEST_CASE("consumer plan: another plugin's consumers are never taken for this one's",
          "[consumers]") {
    // Plugin "p-2"'s consumer "nomnom-p-2" looks like p's second name: its description says
    // whose it is, and untagged it counts as p's only for a subject p lists.
    const ConsumerPlan tagged =
        plan({listed("nomnom-p-2", "p2.>", 700, "nomnom plugin p-2"), listed("nomnom-p", "a", 5)},
             {"a.*", "b"});
    CHECK(names(tagged.orphans) == std::vector<std::string>{"nomnom-p"});
    CHECK(described(tagged) == std::vector<std::string>{"nomnom-p-1 a.* 0", "nomnom-p-3 b 0"});
    const ConsumerPlan untagged = plan({listed("nomnom-p-2", "p2.>", 700)}, {"b"});
    CHECK(untagged.orphans.empty());
    CHECK(described(untagged) == std::vector<std::string>{"nomnom-p b 0"});
    CHECK(described(plan({listed("nomnom-p-2", "b", 700)}, {"a", "b"})) ==
          std::vector<std::string>{"nomnom-p-1 a 0", "nomnom-p-2 b existing"});
}

TEST_CASE("consumer plan: a consumer left without a successor, or already taken over, stays put",
          "[consumers]") {
    const ConsumerPlan fewer =
        plan({listed("nomnom-p-1", "a", 5), listed("nomnom-p-2", "b", 9, kMine)}, {"a"});
    CHECK(described(fewer) == std::vector<std::string>{"nomnom-p-1 a existing"});
    CHECK(names(fewer.orphans) == std::vector<std::string>{"nomnom-p-2"});
    CHECK(fewer.taken_over.empty());
    const ConsumerPlan later =
        plan({listed("nomnom-p", "o.a", 5, "nomnom plugin p; taken over by nomnom-p-1"),
              listed("nomnom-p-1", "o.>", 900, "nomnom plugin p")},
             {"o.>", "o.c"});
    CHECK(described(later) ==
          std::vector<std::string>{"nomnom-p-1 o.> existing", "nomnom-p-2 o.c 0"});
    CHECK(names(later.orphans) == std::vector<std::string>{"nomnom-p"});
    CHECK(later.taken_over.empty());
}
