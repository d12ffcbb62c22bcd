#!/usr/bin/env python3
"""nomnom benchmark: the host draining TPC-H orders into PostgreSQL (--database mariadb: into
MariaDB), beside the machine's ceilings.

Run through bench/run.sh (which builds first). Throughput mode (default), per repetition:
  ceiling fetch+ack  bare cnats pull consumers fetching and acking the same N messages, as many
                     as the host has workers, sharing one durable consumer
  ceiling COPY       psql \\copy of the same rows (orders + line items) into the same tables, one
                     connection per host worker, each with its share of the rows (and once on a
                     single connection: ratio_vs_copy_1conn, comparable with results before);
                     for MariaDB, LOAD DATA LOCAL INFILE of the same files the same way
  ceiling parse      RapidJSON parsing every order once
  bound              the COPY ceiling again, with fetch+ack and the parse of the same orders
                     running beside it on the same cores (as many consumers and parsers as the
                     host has workers): the best ratio_vs_copy a host adding nothing of its own
                     could reach here (bound_ratio_vs_copy); the same beside the update ceiling
                     (bound_ratio_update_vs_ceiling)
  host               nomnom-host + the generated tpch plugin draining the N orders, published
                     beforehand, into a fresh database, timed until every order is persisted:
                     once with the plugin in a worker process (isolation = process, the
                     default; CPU and memory are the host's and its worker's), once in the
                     host's own process (isolation = thread), for what isolation costs
The tables start empty and every order key is new, so each batch is written by the host's plain
COPY into the tables (under a savepoint, host/src/pipeline/batch_writer.cpp). Then the update
workload (every key stored, every value changed: the upsert path, a COPY into a staging table
then INSERT ... ON CONFLICT DO UPDATE) beside its ceiling (the same statements from psql, one
connection per worker, and on one), and the replay workload (the same messages again).
With --database mariadb, the host writes every batch, new keys or not, as multi-row INSERT ...
ON DUPLICATE KEY UPDATE (host/src/pipeline/mysql_writer.cpp); the update ceiling is LOAD DATA
into a temporary table then one INSERT ... SELECT ... ON DUPLICATE KEY UPDATE per connection.
The host creates its tables itself in the insert drains (auto_migrate, the plugin's DDL for the
database); the bench runs the same DDL for the tables it fills. Every run's rows are counted.
Latency mode (--latency): orders published at a fixed rate while the host runs; end-to-end latency
from JetStream's receive time to the host's commit, read from the host's
nomnom_end_to_end_seconds histogram.
The machine is shared and noisy: each measurement is repeated and reported as median (min-max).
"""
import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
HOST = os.path.join(BUILD, "host", "nomnom-host")
PUBLISH = os.path.join(BUILD, "host", "nomnom-publish")
BENCH = os.path.join(BUILD, "bench", "nomnom-bench")
TPCH_SO = os.path.join(BUILD, "plugins", "tpch.so")
# The plugin's DDL, which the host runs too (auto_migrate), for the tables the bench fills itself.
TPCH_DDL = os.path.join(BUILD, "plugins", "tpch", "tpch-generated", "sql", "postgresql.sql")
TPCH_MYSQL_DDL = os.path.join(BUILD, "plugins", "tpch", "tpch-generated", "sql", "mysql.sql")
GEN = os.environ.get("NOMNOM_GEN_ORDERS",
                     os.path.join(ROOT, "..", "shared", "bench", "gen_orders.py"))
CLK_TCK = os.sysconf("SC_CLK_TCK")

ORDER_COLUMNS = ["order_key", "customer_key", "order_status", "total_price", "order_date",
                 "order_priority", "clerk", "ship_priority", "comment"]
ITEM_COLUMNS = ["order_key", "line_number", "part_key", "supplier_key", "quantity",
                "extended_price", "discount", "tax", "return_flag", "line_status", "ship_date",
                "commit_date", "receipt_date"]
TABLES = ["orders", "order_line_items"]


def table_files(orders_tsv, items_tsv):
    """(table, columns, conflict keys, file of its rows) of both tables."""
    return [("orders", ORDER_COLUMNS, ["order_key"], orders_tsv),
            ("order_line_items", ITEM_COLUMNS, ["order_key", "line_number"], items_tsv)]


def log(text):
    print("bench: " + text, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise RuntimeError("timed out after %ss waiting for %s" % (timeout, what))


def cpu_seconds(pid, children=False):
    """utime+stime of a process (and of its reaped children), 0 when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def child_pids(parent):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == parent:
                    pids.append(int(entry))
        except OSError:
            pass
    return pids


def peak_rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class Postgres:
    """A private cluster (scripts/pg-test-cluster.sh), synchronous_commit on (the default), with
    shared_buffers as a database server would have it: the test cluster's 32 MB, sized for
    dozens of parallel test databases, would make every run evict the tables it writes.
    Its ceilings: psql \\copy into the tables, and \\copy into a temporary table then one
    INSERT ... ON CONFLICT DO UPDATE."""

    NAME = "postgres"
    SHARED_BUFFERS = "1GB"

    def __init__(self, work):
        self.dir = tempfile.mkdtemp(prefix="nomnom-bench-pg.", dir="/tmp")
        os.chmod(self.dir, 0o755)
        try:
            self.url = self.cluster("start").strip().splitlines()[-1]
            self.base = self.url.rsplit("/", 1)[0]
            self.psql("postgres", "-c",
                      "ALTER SYSTEM SET shared_buffers = '%s'" % self.SHARED_BUFFERS)
            self.cluster("stop")
            self.cluster("start")
            log("postgres: shared_buffers %s" % self.scalar("postgres", "SHOW shared_buffers"))
        except BaseException:
            self.stop()
            raise

    def cluster(self, command):
        return subprocess.run(["bash", os.path.join(ROOT, "scripts", "pg-test-cluster.sh"),
                               command, self.dir], check=True, capture_output=True,
                              text=True).stdout

    def postmaster(self):
        for root, _, files in os.walk(self.dir):
            if "postmaster.pid" in files:
                with open(os.path.join(root, "postmaster.pid")) as f:
                    return int(f.readline())
        raise RuntimeError("no postmaster.pid under " + self.dir)

    def cpu(self):
        pid = self.postmaster()
        return cpu_seconds(pid, children=True) + sum(cpu_seconds(c) for c in child_pids(pid))

    def psql_command(self, database, *args):
        return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.base + "/" + database, *args]

    def psql(self, database, *args, **kwargs):
        done = subprocess.run(self.psql_command(database, *args), capture_output=True, text=True,
                              **kwargs)
        if done.returncode != 0:
            raise RuntimeError("psql %s %s: %s" % (database, " ".join(args), done.stderr.strip()))
        return done

    def scalar(self, database, sql):
        return self.psql(database, "-Atc", sql).stdout.strip()

    def fresh_database(self, name):
        self.drop_database(name)
        self.psql("postgres", "-c", "CREATE DATABASE %s" % name)
        return self.base + "/" + name

    def drop_database(self, name):
        self.psql("postgres", "-c", "DROP DATABASE IF EXISTS %s" % name)

    def create_tables(self, database):
        self.psql(database, "-f", TPCH_DDL)

    def analyze(self, database):
        self.psql(database, "-c", "VACUUM ANALYZE")

    def checkpoint(self, database):
        """Before each measurement: otherwise a checkpoint (timed, or forced by the WAL of the
        measurements before) lands inside some measurements and not others, and the first
        change of each page after it writes the whole page to the WAL."""
        self.psql(database, "-c", "CHECKPOINT")

    def load_command(self, database, orders_tsv, items_tsv):
        """One connection copying the rows of both files into the tables."""
        return self.psql_command(
            database, "-c", "\\copy orders(%s) FROM '%s'" % (",".join(ORDER_COLUMNS), orders_tsv),
            "-c", "\\copy order_line_items(%s) FROM '%s'" % (",".join(ITEM_COLUMNS), items_tsv))

    @staticmethod
    def upsert_sql(table, columns, keys, tsv):
        staged = "staged_" + table
        updates = ", ".join("%s = excluded.%s" % (c, c) for c in columns if c not in keys)
        listed = ",".join(columns)
        return ("CREATE TEMP TABLE %s AS SELECT %s FROM %s WITH NO DATA;\n"
                "\\copy %s(%s) FROM '%s'\n"
                "INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (%s) DO UPDATE SET %s;\n"
                % (staged, listed, table, staged, listed, tsv, table, listed, listed, staged,
                   ",".join(keys), updates))

    def upsert_script(self, orders_tsv, items_tsv):
        """One transaction upserting the rows of both files."""
        return ("BEGIN;\n" + "".join(self.upsert_sql(*table)
                                     for table in table_files(orders_tsv, items_tsv))
                + "COMMIT;\n")

    def script_command(self, database, script):
        return self.psql_command(database, "-f", script)

    def count(self, database, table, where="true"):
        return int(self.scalar(database, "SELECT count(*) FROM %s WHERE %s" % (table, where)))

    def stop(self):
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "pg-test-cluster.sh"), "stop",
                        self.dir], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class MariaDB:
    """A private server (scripts/mariadb-test-server.sh: local_infile on, no binary log,
    innodb_flush_log_at_trx_commit 1, the default: every commit durable), with the buffer pool
    and the redo log as a database server would have them, 1 GB each like PostgreSQL's
    shared_buffers and max_wal_size here: the test server's 128 MB and 64 MB, sized for tests,
    would make every run evict the tables it writes and flush them to make room in the log.
    Its ceilings: LOAD DATA LOCAL INFILE into the tables, and LOAD DATA into a temporary table
    then one INSERT ... SELECT ... ON DUPLICATE KEY UPDATE; from the mariadb client, at READ
    COMMITTED as the host's sessions."""

    NAME = "mariadb"
    BUFFER_POOL_BYTES = 1 << 30
    LOG_FILE_BYTES = 1 << 30

    def __init__(self, work):
        self.dir = tempfile.mkdtemp(prefix="nomnom-bench-my.", dir="/tmp")
        os.chmod(self.dir, 0o755)
        try:
            url = self.server("start").strip().splitlines()[-1]
            self.base = url.rsplit("/", 1)[0]
            parts = urllib.parse.urlsplit(url)
            self.port, self.user, self.password = parts.port, parts.username, parts.password
            # Both resized online (InnoDB since 10.2 and 10.9): no restart.
            self.sql("", "SET GLOBAL innodb_buffer_pool_size = %d; "
                     "SET GLOBAL innodb_log_file_size = %d"
                     % (self.BUFFER_POOL_BYTES, self.LOG_FILE_BYTES))
            log("mariadb: %s, innodb_buffer_pool_size %s, innodb_log_file_size %s" % tuple(
                self.scalar("", "SELECT CONCAT_WS(' ', VERSION(), @@innodb_buffer_pool_size, "
                            "@@innodb_log_file_size)").split(" ")))
        except BaseException:
            self.stop()
            raise

    def server(self, command):
        return subprocess.run(["bash", os.path.join(ROOT, "scripts", "mariadb-test-server.sh"),
                               command, self.dir], check=True, capture_output=True,
                              text=True).stdout

    def server_pid(self):
        for root, _, files in os.walk(self.dir):
            if "mariadbd.pid" in files:
                with open(os.path.join(root, "mariadbd.pid")) as f:
                    return int(f.readline())
        raise RuntimeError("no mariadbd.pid under " + self.dir)

    def cpu(self):
        """mariadbd's CPU: one process, every connection a thread of it."""
        return cpu_seconds(self.server_pid())

    def client_command(self, database, *args):
        return ["mariadb", "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1",
                "-P", str(self.port), "-u", self.user, "-p" + self.password, "--local-infile=1",
                "--default-character-set=utf8mb4", "--batch", "--skip-column-names",
                *([database] if database else []), *args]

    def sql(self, database, statements):
        done = subprocess.run(self.client_command(database, "-e", statements),
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError("mariadb %s -e %s: %s" % (database, statements,
                                                          done.stderr.strip()))
        return done

    def scalar(self, database, sql):
        return self.sql(database, sql).stdout.strip()

    def fresh_database(self, name):
        self.drop_database(name)
        self.sql("", "CREATE DATABASE %s" % name)
        return self.base + "/" + name

    def drop_database(self, name):
        self.sql("", "DROP DATABASE IF EXISTS %s" % name)

    def create_tables(self, database):
        with open(TPCH_MYSQL_DDL) as f:
            self.sql(database, f.read())

    def analyze(self, database):
        self.sql(database, "ANALYZE TABLE " + ", ".join(TABLES))

    def checkpoint(self, database):
        """Nothing: a release build of InnoDB has no statement that forces a checkpoint, and
        it writes no full pages to its redo log after one (its doublewrite buffer does that
        work when pages are flushed, whenever that is)."""

    @staticmethod
    def load_sql(table, columns, tsv):
        # The TSVs are COPY text, which is also LOAD DATA's default format (tab, newline,
        # backslash escapes, \N for NULL).
        return ("LOAD DATA LOCAL INFILE '%s' INTO TABLE %s CHARACTER SET utf8mb4 (%s);\n"
                % (tsv, table, ", ".join("`%s`" % c for c in columns)))

    def load_command(self, database, orders_tsv, items_tsv):
        """One connection loading the rows of both files into the tables."""
        return self.client_command(database, "-e", "".join(
            self.load_sql(table, columns, tsv)
            for table, columns, _, tsv in table_files(orders_tsv, items_tsv)))

    @classmethod
    def upsert_sql(cls, table, columns, keys, tsv):
        staged = "staged_" + table
        listed = ", ".join("`%s`" % c for c in columns)
        updates = ", ".join("`%s` = VALUES(`%s`)" % (c, c) for c in columns if c not in keys)
        return ("CREATE TEMPORARY TABLE %s AS SELECT %s FROM %s LIMIT 0;\n%s"
                "INSERT INTO %s (%s) SELECT %s FROM %s ON DUPLICATE KEY UPDATE %s;\n"
                % (staged, listed, table, cls.load_sql(staged, columns, tsv), table, listed,
                   listed, staged, updates))

    def upsert_script(self, orders_tsv, items_tsv):
        """One transaction upserting the rows of both files."""
        return ("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;\nBEGIN;\n"
                + "".join(self.upsert_sql(*table)
                          for table in table_files(orders_tsv, items_tsv))
                + "COMMIT;\n")

    def script_command(self, database, script):
        # Its text with -e, which stops at the first error (the client's source command would
        # go on and exit 0).
        with open(script) as f:
            return self.client_command(database, "-e", f.read())

    def count(self, database, table, where="true"):
        return int(self.scalar(database, "SELECT count(*) FROM %s WHERE %s" % (table, where)))

    def stop(self):
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "mariadb-test-server.sh"), "stop",
                        self.dir], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


DATABASES = {"postgresql": Postgres, "mariadb": MariaDB}


class Nats:
    def __init__(self, work):
        self.port = free_port()
        self.url = "nats://127.0.0.1:%d" % self.port
        self.store = os.path.join(work, "jetstream")
        self.process = subprocess.Popen(
            [shutil.which("nats-server") or "/usr/sbin/nats-server", "-js", "-a", "127.0.0.1",
             "-p", str(self.port), "-sd", self.store],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.ready, 20, "nats-server")

    def ready(self):
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def cpu(self):
        return cpu_seconds(self.process.pid)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)


def write_tsvs(path, prefix):
    """The rows of the orders in `path` as COPY text files; returns them and the item count."""
    items = 0
    orders_tsv = path.replace(".ndjson", "") + "-%s-orders.tsv" % prefix
    items_tsv = path.replace(".ndjson", "") + "-%s-items.tsv" % prefix

    def cell(value):
        if value is None:
            return "\\N"
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    with open(path) as src, open(orders_tsv, "w") as o, open(items_tsv, "w") as i:
        for line in src:
            order = json.loads(line)
            o.write("\t".join(cell(order.get(c)) for c in ORDER_COLUMNS) + "\n")
            for item in order["line_items"]:
                items += 1
                row = dict(item, order_key=order["order_key"])
                i.write("\t".join(cell(row.get(c)) for c in ITEM_COLUMNS) + "\n")
    return items, orders_tsv, items_tsv


def prepare_workload(work, orders):
    path = os.path.join(work, "orders-%d.ndjson" % orders)
    with open(path, "w") as out:
        subprocess.run([sys.executable, GEN, str(orders)], stdout=out, check=True)
    items, orders_tsv, items_tsv = write_tsvs(path, "insert")
    return path, items, orders_tsv, items_tsv


def prepare_updates(path):
    """The same orders (same keys) with every row's values changed: the update workload."""
    updated = path.replace(".ndjson", "-updated.ndjson")
    with open(path) as src, open(updated, "w") as out:
        for line in src:
            order = json.loads(line)
            order["total_price"] = round(order["total_price"] + 1.25, 2)
            order["comment"] = "updated: " + (order.get("comment") or "")
            for item in order["line_items"]:
                if isinstance(item.get("quantity"), int):
                    item["quantity"] += 1
                if isinstance(item.get("extended_price"), (int, float)):
                    item["extended_price"] = round(item["extended_price"] + 1.25, 2)
            out.write(json.dumps(order) + "\n")
    _, orders_tsv, items_tsv = write_tsvs(updated, "update")
    return updated, orders_tsv, items_tsv


def reaped_children_cpu():
    """CPU seconds of every child this process has waited for (the tools and psql)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_tool(*args):
    """Runs nomnom-bench; returns the rate it printed, if any."""
    out = subprocess.run([BENCH, *args], check=True, capture_output=True, text=True).stdout
    fields = dict(part.split("=") for part in out.split())
    return next((float(v) for k, v in fields.items() if k.endswith("_per_s")), None)


def publish(nats, subject, path, extra=()):
    subprocess.run([PUBLISH, "--url", nats.url, "--subject", subject, *extra, path], check=True,
                   capture_output=True)


def split_lines(path, parts):
    """`path` cut into `parts` files of consecutive lines (disjoint keys): one per connection."""
    with open(path) as src:
        lines = src.readlines()
    paths = []
    for k in range(parts):
        part = "%s.part%dof%d" % (path, k, parts)
        with open(part, "w") as out:
            out.writelines(lines[k * len(lines) // parts:(k + 1) * len(lines) // parts])
        paths.append(part)
    return paths


def run_all(commands):
    """Runs the commands at once and waits for every one; seconds from the first start."""
    start = time.monotonic()
    running = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for c in commands]
    for process, command in zip(running, commands):
        _, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(command[:3]), err.strip()))
    return time.monotonic() - start


def fetch_ack_commands(nats, parts, name):
    """A bare pull consumer (process) per file of `parts` (`split_lines`), each fetching and
    acking its messages from a stream of its own, filled here (sharing one durable consumer, a
    process that stops leaves pull requests behind that hold messages until ack_wait)."""
    commands = []
    for k, part in enumerate(parts):
        stream = "BENCH_%s_%d_%d" % (name.upper(), len(parts), k)
        subject = "bench.%s%d.%d" % (name.lower(), len(parts), k)
        run_tool("stream", nats.url, stream, subject)
        publish(nats, subject, part)
        with open(part) as f:
            share = sum(1 for _ in f)
        commands.append([BENCH, "fetch-ack", nats.url, stream, subject, str(share), "1000"])
    return commands


def ceiling_fetch_ack(nats, parts, orders):
    """Rate, and CPU seconds of nats-server and the consumers, of `fetch_ack_commands` at once."""
    commands = fetch_ack_commands(nats, parts, "ceiling")
    cpu0 = nats.cpu() + reaped_children_cpu()
    seconds = run_all(commands)
    return orders / seconds, nats.cpu() + reaped_children_cpu() - cpu0


def load_rows(db, database, orders_tsv, items_tsv):
    run_all([db.load_command(database, orders_tsv, items_tsv)])


def check_rows(db, database, rows, updated=None):
    """Raises unless the tables hold `rows` rows, `updated` of the orders from the update
    workload, when given."""
    got = db.count(database, "orders") + db.count(database, "order_line_items")
    if got != rows:
        raise RuntimeError("%s: expected %d rows, found %d" % (database, rows, got))
    if updated is not None:
        got = db.count(database, "orders", "comment LIKE 'updated: %'")
        if got != updated:
            raise RuntimeError("%s: expected %d updated orders, found %d"
                               % (database, updated, got))


def unavoidable_commands(nats, parts, name):
    """The work of a host that added nothing of its own but the least a message needs besides
    the database: bare fetch+ack (`fetch_ack_commands`) and a bare RapidJSON parse of each
    message once, both of the messages split into `parts` as the host's workers split them. Run
    beside a ceiling, on the same cores, it gives the best ratio to that ceiling any host could
    reach on this machine."""
    return (fetch_ack_commands(nats, parts, name) +
            [[BENCH, "parse", part] for part in parts])


def ceiling_copy(db, parts, rows, alongside=()):
    """The database's bulk load of the rows (PostgreSQL's COPY, MariaDB's LOAD DATA), one
    connection per (orders, items) part at once; with `alongside`, commands run at the same
    time, the rate is until every one has finished."""
    db.fresh_database("bench_copy")
    db.create_tables("bench_copy")
    db.checkpoint("bench_copy")
    cpu0 = db.cpu() + reaped_children_cpu()
    rate = rows / run_all([db.load_command("bench_copy", *part) for part in parts] +
                          list(alongside))
    # psql's backend has exited: its CPU counts once the postmaster has reaped it (MariaDB's
    # connections are threads of mariadbd, counted at once).
    time.sleep(0.5)
    cpu = db.cpu() + reaped_children_cpu() - cpu0
    check_rows(db, "bench_copy", rows)
    # Dropped at once, or autovacuum (InnoDB's page cleaner) would go through its million new
    # rows while the next measurement runs, and bill that one for it.
    db.drop_database("bench_copy")
    return rate, cpu


def ceiling_upsert(work, db, base_tsvs, new_parts, rows, orders, alongside=()):
    """What the database alone needs to update every row: a bulk load of the new rows into a
    temporary table and one INSERT ... ON CONFLICT DO UPDATE (ON DUPLICATE KEY UPDATE) per
    table, over the same rows already stored, one connection (and transaction) per part of the
    new rows at once; `alongside` as for ceiling_copy."""
    db.fresh_database("bench_upsert")
    db.create_tables("bench_upsert")
    load_rows(db, "bench_upsert", *base_tsvs)
    db.analyze("bench_upsert")
    db.checkpoint("bench_upsert")
    scripts = []
    for k, (orders_tsv, items_tsv) in enumerate(new_parts):
        script = os.path.join(work, "upsert-%d-of-%d.sql" % (k, len(new_parts)))
        with open(script, "w") as f:
            f.write(db.upsert_script(orders_tsv, items_tsv))
        scripts.append(script)
    cpu0 = db.cpu() + reaped_children_cpu()
    rate = rows / run_all([db.script_command("bench_upsert", s) for s in scripts] +
                          list(alongside))
    time.sleep(0.5)
    cpu = db.cpu() + reaped_children_cpu() - cpu0
    check_rows(db, "bench_upsert", rows, updated=orders)
    db.drop_database("bench_upsert")
    return rate, cpu


def ceiling_parse(path):
    cpu0 = reaped_children_cpu()
    rate = run_tool("parse", path)
    return rate, reaped_children_cpu() - cpu0


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as response:
        return response.read().decode()


def metric_value(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            if line.split(" ")[0] == name or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def histogram_quantile(text, name, plugin, q):
    """The upper bound of the bucket holding quantile q (Prometheus' histogram_quantile without
    interpolation: honest about the bucket resolution)."""
    buckets = []
    prefix = '%s_bucket{plugin="%s",le="' % (name, plugin)
    for line in text.splitlines():
        if line.startswith(prefix):
            bound = line[len(prefix):].split('"', 1)[0]
            buckets.append((float("inf") if bound == "+Inf" else float(bound),
                            float(line.rsplit(" ", 1)[1])))
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    total = buckets[-1][1]
    for bound, cumulative in buckets:
        if cumulative >= q * total:
            return bound
    return float("inf")


def histogram_mean(text, name, plugin):
    labels = '{plugin="%s"}' % plugin
    count = metric_value(text, name + "_count" + labels)
    return metric_value(text, name + "_sum" + labels) / count if count else float("nan")


class HostRun:
    def __init__(self, work, nats, db_url, args, name, isolation):
        self.dir = os.path.join(work, name)
        os.makedirs(os.path.join(self.dir, "plugins"))
        os.chmod(self.dir, 0o755)
        shutil.copy(TPCH_SO, os.path.join(self.dir, "plugins", "tpch.so"))
        self.port = free_port()
        with open(os.path.join(self.dir, "worker.toml"), "w") as f:
            f.write("""[nats]
url = "%s"
[stream]
name = "BENCH"
subjects = ["messages.ingest.>"]
[consumer]
batch_size = %d
workers = %d
max_wait_ms = 500
max_ack_pending = 100000
[database]
url = "%s"
pool_size = %d
[plugins]
dir = "plugins"
isolation = "%s"
[http]
listen = "127.0.0.1:%d"
[log]
level = "warn"
""" % (nats.url, args.batch_size, args.workers, db_url, args.workers + 1, isolation,
       self.port))
        self.log = open(os.path.join(self.dir, "host.log"), "w")
        self.process = subprocess.Popen([HOST, "--config", os.path.join(self.dir, "worker.toml")],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self.up, 30, "nomnom-host /ready")

    def up(self):
        if self.process.poll() is not None:
            raise RuntimeError("nomnom-host exited; see " + self.log.name)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/ready" % self.port, timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def persisted(self):
        return metric_value(metrics(self.port), 'nomnom_messages_persisted_total{plugin="tpch"}')

    def last_persisted(self):
        """Unix time of the host's last commit."""
        return metric_value(metrics(self.port),
                            'nomnom_last_persisted_timestamp_seconds{plugin="tpch"}')

    def cpu(self):
        """The host's CPU with its plugin worker processes' (isolation = process)."""
        pid = self.process.pid
        return cpu_seconds(pid) + sum(cpu_seconds(c) for c in child_pids(pid))

    def peak_rss_mb(self):
        pid = self.process.pid
        return peak_rss_mb(pid) + sum(peak_rss_mb(c) for c in child_pids(pid))

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self.log.close()


def host_drain(work, db, nats, path, orders, items, args, rep, isolation, stored=None,
               updated=None):
    """The host draining the orders of `path`; `stored`: (orders_tsv, items_tsv) already in
    the tables before it starts (every key exists: the upsert path); `updated`: how many orders
    must hold the update workload's values after it."""
    database = "bench_host"
    db_url = db.fresh_database(database)
    if stored:
        db.create_tables(database)
        load_rows(db, database, *stored)
        db.analyze(database)
    run_tool("stream", nats.url, "BENCH", "messages.ingest.>")
    publish(nats, "messages.ingest.Order", path)
    db.checkpoint(database)
    db_cpu0, nats_cpu0 = db.cpu(), nats.cpu()
    start = time.time()
    host = HostRun(work, nats, db_url, args,
                   "host-%s-%s-%d" % (isolation, "stored" if stored else "new", rep) + (
                       "-" + os.path.basename(path) if stored else ""), isolation)
    profiler = None
    if args.profile:
        # Sampled on CPU time (no hardware counters needed), host only; call graphs from DWARF,
        # since Debian's libraries are built without frame pointers.
        profiler = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "--call-graph",
                                     "dwarf,16384", "-o",
                                     "%s.%s.%d" % (args.profile, isolation, rep), "-p",
                                     ",".join(str(p) for p in [host.process.pid]
                                              + child_pids(host.process.pid))],
                                    stderr=subprocess.DEVNULL)
    try:
        # Polled slowly, since serving /metrics costs the host CPU; the end of the drain is the
        # host's own time of its last commit.
        wait_until(lambda: host.persisted() >= orders, 1800, "%d persisted orders" % orders,
                   interval=0.5)
        elapsed = host.last_persisted() - start
        host_cpu = host.cpu()
        db_cpu, nats_cpu = db.cpu() - db_cpu0, nats.cpu() - nats_cpu0
        total_cpu = host_cpu + db_cpu + nats_cpu
        text = metrics(host.port)
        rss = host.peak_rss_mb()
    finally:
        if profiler:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        host.stop()
    got_orders, got_items = db.count(database, "orders"), db.count(database, "order_line_items")
    got_updated = db.count(database, "orders", "comment LIKE 'updated: %'") if updated else None
    db.drop_database(database)
    if (got_orders, got_items, got_updated) != (orders, items, updated):
        raise RuntimeError("expected %d orders / %d items (%s updated), found %d / %d (%s)"
                           % (orders, items, updated, got_orders, got_items, got_updated))
    return {
        "orders_per_s": orders / elapsed,
        "rows_per_s": (orders + items) / elapsed,
        "host_cpu_s": host_cpu,
        db.NAME + "_cpu_s": db_cpu,
        "nats_cpu_s": nats_cpu,
        "cpu_us_per_order": total_cpu / orders * 1e6,
        "host_peak_rss_mb": rss,
        "batch_p50_ms": histogram_quantile(text, "nomnom_batch_seconds", "tpch", 0.5) * 1000,
        "batch_p99_ms": histogram_quantile(text, "nomnom_batch_seconds", "tpch", 0.99) * 1000,
        # Where a batch's time goes: the plugin's parse and the database write, mean per batch.
        "batch_parse_ms_mean": histogram_mean(text, "nomnom_parse_seconds", "tpch") * 1000,
        "batch_write_ms_mean": histogram_mean(text, "nomnom_write_seconds", "tpch") * 1000,
    }


def latency_run(work, db, nats, path, args, rep):
    db_url = db.fresh_database("bench_latency")
    run_tool("stream", nats.url, "BENCH", "messages.ingest.>")
    host = HostRun(work, nats, db_url, args, "latency-%d" % rep, "process")
    try:
        count = args.rate * args.seconds
        subprocess.run([PUBLISH, "--url", nats.url, "--subject", "messages.ingest.Order",
                        "--rate", str(args.rate), path], check=True, capture_output=True)
        wait_until(lambda: host.persisted() >= count, 120, "%d persisted orders" % count)
        text = metrics(host.port)
    finally:
        host.stop()
    result = {"p%s_ms" % label: histogram_quantile(text, "nomnom_end_to_end_seconds", "tpch", q)
              * 1000 for label, q in (("50", 0.5), ("99", 0.99), ("999", 0.999))}
    result["batch_size_mean"] = histogram_mean(text, "nomnom_batch_size", "tpch")
    result["batch_write_ms_mean"] = histogram_mean(text, "nomnom_write_seconds", "tpch") * 1000
    return result


def tsv_parts(orders_tsv, items_tsv, connections):
    """The rows cut into one (orders, items) pair of files per connection."""
    if connections == 1:
        return [(orders_tsv, items_tsv)]
    return list(zip(split_lines(orders_tsv, connections), split_lines(items_tsv, connections)))


def cpu_shares(workload, drain, db, orders):
    """Where a drain's CPU went, per order: the host (and its worker), the database,
    nats-server."""
    return {"%s_%s_cpu_us_per_order" % (workload, who): drain[who + "_cpu_s"] / orders * 1e6
            for who in ("host", db.NAME, "nats")}


def throughput_run(work, db, nats, path, items, orders_tsv, items_tsv, updates, args, rep):
    """One repetition: the three ceilings, then the host, on the same data; then the update
    workload (every key stored, every value changed) beside its own ceiling, and the replay
    workload (the same messages again over the same rows). The ceilings run at the host's
    parallelism (as many connections and consumers as it has workers), so that a ratio of 1.0
    means the host adds nothing to the work of the database and nats-server; the bulk load and
    the upsert also on one connection, for continuity with earlier results."""
    rows = args.orders + items
    writers = args.workers
    # Each split once, shared by the ceilings and the bounds.
    messages = split_lines(path, writers)
    row_parts = tsv_parts(orders_tsv, items_tsv, writers)
    fetch_ack_rate, fetch_ack_cpu = ceiling_fetch_ack(nats, messages, args.orders)
    copy_rate, copy_cpu = ceiling_copy(db, row_parts, rows)
    copy_1conn_rate, _ = ceiling_copy(db, tsv_parts(orders_tsv, items_tsv, 1), rows)
    bound_copy_rate, _ = ceiling_copy(db, row_parts, rows,
                                      unavoidable_commands(nats, messages, "bound_insert"))
    parse_rate, parse_cpu = ceiling_parse(path)
    run = {
        "ceiling_fetch_ack_per_s": fetch_ack_rate,
        "ceiling_copy_rows_per_s": copy_rate,
        "ceiling_copy_1conn_rows_per_s": copy_1conn_rate,
        "ceiling_parse_per_s": parse_rate,
        # The best ratio_vs_copy of a host adding nothing to fetch+ack, parse and COPY.
        "bound_ratio_vs_copy": bound_copy_rate / copy_rate,
        # What the bare tools spend for the same work: the CPU floor per order.
        "ceiling_fetch_ack_cpu_us_per_order": fetch_ack_cpu / args.orders * 1e6,
        "ceiling_copy_cpu_us_per_order": copy_cpu / args.orders * 1e6,
        "ceiling_parse_cpu_us_per_order": parse_cpu / args.orders * 1e6,
        "ceiling_cpu_us_per_order": (fetch_ack_cpu + copy_cpu + parse_cpu) / args.orders * 1e6,
    }
    run.update(host_drain(work, db, nats, path, args.orders, items, args, rep, "process"))
    run["ratio_vs_copy"] = run["rows_per_s"] / copy_rate
    run["ratio_vs_copy_1conn"] = run["rows_per_s"] / copy_1conn_rate
    run["cpu_vs_ceiling"] = run["cpu_us_per_order"] / run["ceiling_cpu_us_per_order"]
    # The same drain with the plugin in the host's own process, for what isolation costs.
    thread = host_drain(work, db, nats, path, args.orders, items, args, rep, "thread")
    for key in ("orders_per_s", "cpu_us_per_order", "host_cpu_s", "host_peak_rss_mb"):
        run["thread_" + key] = thread[key]
    run["process_vs_thread_orders_per_s"] = run["orders_per_s"] / thread["orders_per_s"]
    run["process_vs_thread_cpu_per_order"] = run["cpu_us_per_order"] / thread["cpu_us_per_order"]

    updated_path, updated_orders_tsv, updated_items_tsv = updates
    updated_row_parts = tsv_parts(updated_orders_tsv, updated_items_tsv, writers)
    upsert_rate, upsert_cpu = ceiling_upsert(work, db, (orders_tsv, items_tsv), updated_row_parts,
                                             rows, args.orders)
    upsert_1conn_rate, _ = ceiling_upsert(work, db, (orders_tsv, items_tsv),
                                          tsv_parts(updated_orders_tsv, updated_items_tsv, 1),
                                          rows, args.orders)
    bound_upsert_rate, _ = ceiling_upsert(
        work, db, (orders_tsv, items_tsv), updated_row_parts, rows, args.orders,
        unavoidable_commands(nats, split_lines(updated_path, writers), "bound_update"))
    update = host_drain(work, db, nats, updated_path, args.orders, items, args, rep, "process",
                        stored=(orders_tsv, items_tsv), updated=args.orders)
    run["ceiling_upsert_rows_per_s"] = upsert_rate
    run["ceiling_upsert_1conn_rows_per_s"] = upsert_1conn_rate
    run["ceiling_upsert_cpu_us_per_order"] = upsert_cpu / args.orders * 1e6
    run["update_orders_per_s"] = update["orders_per_s"]
    run["update_cpu_us_per_order"] = update["cpu_us_per_order"]
    run.update(cpu_shares("update", update, db, args.orders))
    run["update_host_peak_rss_mb"] = update["host_peak_rss_mb"]
    run["ratio_update_vs_ceiling"] = update["rows_per_s"] / upsert_rate
    run["ratio_update_vs_ceiling_1conn"] = update["rows_per_s"] / upsert_1conn_rate
    run["bound_ratio_update_vs_ceiling"] = bound_upsert_rate / upsert_rate
    run["ratio_update_vs_insert"] = update["orders_per_s"] / run["orders_per_s"]
    replay = host_drain(work, db, nats, path, args.orders, items, args, rep, "process",
                        stored=(orders_tsv, items_tsv))
    run["replay_orders_per_s"] = replay["orders_per_s"]
    run["replay_cpu_us_per_order"] = replay["cpu_us_per_order"]
    run.update(cpu_shares("replay", replay, db, args.orders))
    run["ratio_replay_vs_insert"] = replay["orders_per_s"] / run["orders_per_s"]
    return run


def median_line(name, values):
    # Ratios need two decimals; rates and times read fine with one.
    digits = 2 if max(values) < 10 else 1
    return "%-36s %12.*f  (%.*f - %.*f, n=%d)" % (name, digits, statistics.median(values), digits,
                                                 min(values), digits, max(values), len(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=sorted(DATABASES), default="postgresql")
    parser.add_argument("--orders", type=int, default=200000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", metavar="FILE",
                        help="perf record the host during each drain into FILE.<repetition>")
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    if not os.path.exists(GEN):
        sys.exit("bench: workload generator not found: %s (set NOMNOM_GEN_ORDERS)" % GEN)

    work = tempfile.mkdtemp(prefix="nomnom-bench.", dir="/tmp")
    os.chmod(work, 0o755)
    db = nats = None
    try:
        if args.latency:
            args.orders = args.rate * args.seconds
        log("workload: %d orders (%s)" % (args.orders, GEN))
        path, items, orders_tsv, items_tsv = prepare_workload(work, args.orders)
        updates = None if args.latency else prepare_updates(path)
        db = DATABASES[args.database](work)
        nats = Nats(work)
        if not args.latency:
            # The first bulk load after the server starts is slow: in two runs its COPY ceiling
            # was 0.53 and 0.70 of the later ones', at 1.3 times their CPU per row (most likely
            # PostgreSQL creating the WAL segments that later loads recycle). That inflated the
            # first repetition's ratios; this load is not measured.
            ceiling_copy(db, tsv_parts(orders_tsv, items_tsv, args.workers), args.orders + items)
        results = {}
        for rep in range(args.repeat):
            log("repetition %d/%d" % (rep + 1, args.repeat))
            if args.latency:
                run = latency_run(work, db, nats, path, args, rep)
            else:
                run = throughput_run(work, db, nats, path, items, orders_tsv, items_tsv, updates,
                                     args, rep)
            log("  " + " ".join("%s=%.3g" % kv for kv in run.items()))
            for key, value in run.items():
                results.setdefault(key, []).append(value)
        med = {k: statistics.median(v) for k, v in results.items()}
        if args.latency:
            print("rate=%d/s seconds=%d repeat=%d" % (args.rate, args.seconds, args.repeat))
            for key, values in results.items():
                print(median_line(key, values))
            print("bench-latency: rate=%d/s seconds=%d p50_ms<=%g p99_ms<=%g p999_ms<=%g"
                  % (args.rate, args.seconds, med["p50_ms"], med["p99_ms"], med["p999_ms"]))
            return
        print("orders=%d line_items=%d batch_size=%d workers=%d repeat=%d"
              % (args.orders, items, args.batch_size, args.workers, args.repeat))
        for key, values in results.items():
            print(median_line(key, values))
        # The summary line issue 20 defines, exactly; then what earlier results also had.
        print("bench: orders_per_s=%.0f ratio_vs_copy=%.2f cpu_us_per_order=%.1f "
              "cpu_vs_ceiling=%.2f update_orders_per_s=%.0f ratio_update_vs_ceiling=%.2f "
              "ratio_update_vs_insert=%.2f replay_orders_per_s=%.0f ratio_replay_vs_insert=%.2f "
              "host_peak_rss_mb=%.1f"
              % (med["orders_per_s"], med["ratio_vs_copy"], med["cpu_us_per_order"],
                 med["cpu_vs_ceiling"], med["update_orders_per_s"],
                 med["ratio_update_vs_ceiling"], med["ratio_update_vs_insert"],
                 med["replay_orders_per_s"], med["ratio_replay_vs_insert"],
                 max(med["host_peak_rss_mb"], med["update_host_peak_rss_mb"])))
        # PostgreSQL's line as it always was; another database's named first.
        print("bench-more: " + ("" if args.database == "postgresql" else
                                "database=%s " % args.database) +
              "connections=%d ratio_vs_copy_1conn=%.2f "
              "ratio_update_vs_ceiling_1conn=%.2f rows_per_s=%.0f ceiling_copy_rows_per_s=%.0f "
              "ceiling_copy_1conn_rows_per_s=%.0f ceiling_fetch_ack_per_s=%.0f "
              "ceiling_parse_per_s=%.0f thread_orders_per_s=%.0f thread_cpu_us_per_order=%.1f "
              "process_vs_thread_orders_per_s=%.2f bound_ratio_vs_copy=%.2f "
              "bound_ratio_update_vs_ceiling=%.2f"
              % (args.workers, med["ratio_vs_copy_1conn"], med["ratio_update_vs_ceiling_1conn"],
                 med["rows_per_s"], med["ceiling_copy_rows_per_s"],
                 med["ceiling_copy_1conn_rows_per_s"], med["ceiling_fetch_ack_per_s"],
                 med["ceiling_parse_per_s"], med["thread_orders_per_s"],
                 med["thread_cpu_us_per_order"], med["process_vs_thread_orders_per_s"],
                 med["bound_ratio_vs_copy"], med["bound_ratio_update_vs_ceiling"]))
    finally:
        if nats:
            nats.stop()
        if db:
            db.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
