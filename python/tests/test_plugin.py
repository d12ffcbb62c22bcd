"""nomnom.Plugin against the plugins nomnom-host loads: hand-written C (sensor_csv, the ABI 1.0
test plugin), generated C++ (tpch and the test sets legacy_shop and v1_fleet) and the host's test
plugin test_kv. NOMNOM_BUILD_DIR names the build directory (default: build/ of the checkout)."""
import json
import os
import pathlib
import threading

import pytest

import nomnom

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("NOMNOM_BUILD_DIR", ROOT / "build"))
PLUGINS = BUILD / "plugins"
TEST_PLUGINS = BUILD / "tests" / "plugins"


def test_the_descriptor_of_a_hand_written_c_plugin():
    with nomnom.Plugin(PLUGINS / "sensor_csv.so") as plugin:
        assert plugin.name == "sensor_csv"
        assert plugin.version == "1.0.0"
        assert plugin.subjects == ("sensors.readings.>",)
        assert plugin.threading == "shared"
        (readings,) = plugin.tables
        assert readings.name == "readings"
        assert readings.conflict_keys == ("device_id", "ts")
        assert readings.output == "store"  # a 1.0 descriptor: every table is stored
        assert [(c.name, c.type, c.nullable) for c in readings.columns] == [
            ("device_id", "text", False), ("ts", "i64", False), ("temperature", "f64", False),
            ("humidity", "f64", True)]


def test_the_ddl_a_plugin_carries_per_dialect():
    generated = PLUGINS / "tpch" / "tpch-generated" / "sql"
    with nomnom.Plugin(PLUGINS / "tpch.so") as plugin:
        assert plugin.ddl == {dialect: (generated / f"{dialect}.sql").read_text()
                              for dialect in ("postgresql", "sqlite", "mysql")}
    # 1.0 descriptors without DDL: the host derives it for every dialect.
    for path in (PLUGINS / "sensor_csv.so", TEST_PLUGINS / "test_abi_1_0.so"):
        with nomnom.Plugin(path) as plugin:
            assert plugin.ddl == {}


def test_rows_come_with_python_types_and_refusals_with_the_plugins_reason():
    with nomnom.Plugin(PLUGINS / "sensor_csv.so") as plugin:
        assert plugin.parse(b"dev-kitchen,1735689600,21.5,") == {
            "readings": [{"device_id": "dev-kitchen", "ts": 1735689600, "temperature": 21.5,
                          "humidity": None}]}
        with pytest.raises(nomnom.Invalid, match="expected 4 fields"):
            plugin.parse("not a reading")
        # Latin-1, not UTF-8: refused in the host's words.
        with pytest.raises(nomnom.Invalid,
                           match=r"column 'device_id' of table 'readings' is text, plugin wrote "
                                 r"text that is not UTF-8 \(byte 3 of 4\)"):
            plugin.parse(b"caf\xe9,1735689600,21.5,")


def test_the_generated_tpch_plugin_parses_the_original_example_order():
    order = (ROOT / "plugins/tpch/example_order.json").read_bytes()
    with nomnom.Plugin(PLUGINS / "tpch.so") as plugin:
        rows = plugin.parse(order, subject="messages.ingest.Order")
        assert len(rows["orders"]) == 1
        assert rows["orders"][0]["order_key"] == "O12345"
        assert isinstance(rows["orders"][0]["total_price"], float)
        assert [line["line_number"] for line in rows["order_line_items"]] == [1, 2]
        assert rows["customers"] == []


def test_json_columns_of_the_generated_test_sets_are_parsed_json():
    invoice = (ROOT / "tests/generator/legacy_shop/example_invoice.json").read_bytes()
    with nomnom.Plugin(TEST_PLUGINS / "legacy_shop.so") as plugin:
        (row,) = plugin.parse(invoice)["invoices"]
        assert row["invoice_id"] == "INV-1"
        assert row["vip"] is True
        assert isinstance(row["tags"], (list, dict))
    vehicle = (ROOT / "tests/generator/v1_fleet/example_vehicle.json").read_bytes()
    with nomnom.Plugin(TEST_PLUGINS / "v1_fleet.so") as plugin:
        rows = plugin.parse(vehicle)
        assert isinstance(rows["vehicles"][0]["specs"], (dict, list))
        assert len(rows["trips"]) == 2
        # persistence.enabled: false makes a table the host publishes and never stores.
        assert {t.name: t.output for t in plugin.tables} == {
            "vehicles": "store", "trips": "store", "TripCheck": "publish"}
        assert rows["TripCheck"] == [{"trip_no": 1}, {"trip_no": 2}]


def test_the_hosts_row_checks_and_every_status_of_the_plugin():
    with nomnom.Plugin(TEST_PLUGINS / "test_kv.so") as plugin:
        assert plugin.parse('{"k":"a","v":1}') == {"kv": [{"k": "a", "v": 1, "note": None}]}
        # The plugin writes text into the i64 column: the host's check refuses it, in its words.
        with pytest.raises(nomnom.Invalid,
                           match="column 'v' of table 'kv' is i64, plugin wrote text"):
            plugin.parse('{"k":"a","v":1,"action":"bad_type"}')
        with pytest.raises(nomnom.Invalid, match="action=invalid requested"):
            plugin.parse('{"k":"a","action":"invalid"}')
        with pytest.raises(nomnom.Retry, match=r"delivery 1 of 2"):
            plugin.parse('{"k":"a","v":1,"action":"retry_until","until":2}')
        assert plugin.parse('{"k":"a","v":1,"action":"retry_until","until":2}',
                            delivery_count=2)["kv"][0]["v"] == 1
        with pytest.raises(nomnom.Fatal, match="action=fatal requested"):
            plugin.parse('{"k":"a","action":"fatal"}')


def test_parse_many_yields_each_message_with_its_rows_or_its_error():
    lines = ["dev-a,1,2.5,3", "broken", "dev-b,2,3.5,"]
    with nomnom.Plugin(PLUGINS / "sensor_csv.so") as plugin:
        results = list(plugin.parse_many(lines))
    assert [r.number for r in results] == [1, 2, 3]
    assert results[0].rows["readings"][0]["device_id"] == "dev-a"
    assert isinstance(results[1].error, nomnom.Invalid) and results[1].rows is None
    assert results[2].rows["readings"][0]["humidity"] is None


def test_an_instance_per_thread_for_plugins_that_ask_for_it_and_all_freed_on_close():
    plugin = nomnom.Plugin(TEST_PLUGINS / "test_kv.so")
    assert plugin.threading == "per-thread"
    errors = []

    def work(n):
        try:
            for i in range(200):
                assert plugin.parse(f'{{"k":"t{n}-{i}","v":{i}}}')["kv"][0]["v"] == i
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(plugin._instances) == 4
    plugin.close()
    assert plugin._instances == []
    with pytest.raises(nomnom.PluginError, match="closed"):
        plugin.parse('{"k":"a","v":1}')


def test_a_plugin_built_against_the_1_0_header_loads_and_parses():
    with nomnom.Plugin(TEST_PLUGINS / "test_abi_1_0.so") as plugin:
        (row,) = plugin.parse("old", subject="test.abi10.x", stream_sequence=3)["abi10"]
        assert row["k"] == "old"
        assert row["seq"] == 3
        assert row["half"] == 1.5
        assert row["odd"] is True
        assert row["doc"] == {"subject_length": len("test.abi10.x")}


def test_plugins_the_host_refuses_are_refused_here():
    with pytest.raises(nomnom.PluginError, match="ABI major"):
        nomnom.Plugin(TEST_PLUGINS / "test_bad_major.so")
    with pytest.raises(nomnom.PluginError, match="nomnom_plugin_v1"):
        nomnom.Plugin(TEST_PLUGINS / "test_no_symbol.so")
    with pytest.raises(nomnom.PluginError, match="create failed: fail_create requested"):
        nomnom.Plugin(TEST_PLUGINS / "test_kv.so", config={"fail_create": True}).parse("{}")


def test_to_pandas_gives_a_frame_per_table():
    pandas = pytest.importorskip("pandas")
    with nomnom.Plugin(PLUGINS / "sensor_csv.so") as plugin:
        frames = plugin.to_pandas(["dev-a,1,2.5,3", "broken", "dev-b,2,3.5,"])
    assert isinstance(frames["readings"], pandas.DataFrame)
    assert list(frames["readings"]["device_id"]) == ["dev-a", "dev-b"]


def test_close_waits_for_a_parse_under_way():
    plugin = nomnom.Plugin(TEST_PLUGINS / "test_kv.so")
    results = []
    worker = threading.Thread(target=lambda: results.append(
        plugin.parse('{"k":"slow","v":5,"action":"slow","ms":500}')))
    worker.start()
    # The parse holds the instance; close() must not destroy it under the plugin.
    for _ in range(3000):
        if plugin._active:
            break
        threading.Event().wait(0.01)
    assert plugin._active == 1
    plugin.close()
    worker.join(timeout=30)
    assert results == [{"kv": [{"k": "slow", "v": 5, "note": None}]}]
    assert plugin._instances == []
