#!/usr/bin/env python3
"""Checks of the deployment files in docker/ that need no container engine or cluster.

    check_deploy.py CHECK --source DIR --host-bin PATH --plugins DIR

CHECK is one of: compose, grafana, k8s, configs, systemd, dockerfile. Exit 0 when the check
passes, 1 with the reasons when it fails, 77 when it cannot run here (ctest reports a skip).
"""

import argparse
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib

import yaml

SKIP = 77


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def run(command, env=None, **kwargs):
    merged = dict(os.environ, **(env or {}))
    return subprocess.run(command, env=merged, capture_output=True, text=True, timeout=120,
                          **kwargs)


def check_compose(args):
    compose = os.path.join(args.source, "docker", "docker-compose.yml")
    binary = shutil.which("docker-compose")
    if binary is None:
        fail("docker-compose is not installed (scripts/deps.sh installs it)")
    secrets = {name: "check" for name in
               ("POSTGRES_PASSWORD", "NATS_PASSWORD", "NOMNOM_API_TOKENS", "GRAFANA_ADMIN_PASSWORD")}
    result = run([binary, "-f", compose, "config"], env=secrets)
    if result.returncode != 0:
        fail("docker-compose config: " + result.stderr)
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    for name in ("nats", "postgres", "api", "host", "prometheus", "grafana"):
        if name not in services:
            fail("no service " + name)
    if services["nats"]["command"] != ["-c", "/etc/nats/nats.conf"]:
        fail("nats must run with compose/nats.conf: " + str(services["nats"]["command"]))
    nats_conf = open(os.path.join(args.source, "docker", "compose", "nats.conf")).read()
    if 'store_dir: "/data"' not in nats_conf or "password: $NATS_PASSWORD" not in nats_conf:
        fail("compose/nats.conf must run JetStream in /data with a password from the environment")
    # Only the API is reachable from other machines, behind its tokens.
    for name, service in services.items():
        for port in service.get("ports", []):
            published = port if isinstance(port, str) else str(port.get("published", ""))
            if name != "api" and not published.startswith("127.0.0.1:"):
                fail(f"{name} publishes {port} beyond 127.0.0.1")
    if services["grafana"]["environment"].get("GF_AUTH_ANONYMOUS_ENABLED") != "false":
        fail("grafana must not let anonymous users in")
    nats_server = shutil.which("nats-server")
    if nats_server is not None:
        result = run([nats_server, "-c", os.path.join(args.source, "docker", "compose",
                                                      "nats.conf"), "-t"],
                     env={"NATS_PASSWORD": "check"})
        if result.returncode != 0:
            fail("nats-server refuses compose/nats.conf: " + result.stdout + result.stderr)
    for name, port in (("api", 8080), ("host", 9464)):
        test = services[name]["healthcheck"]["test"]
        if f"http://127.0.0.1:{port}/ready" not in test:
            fail(f"{name} healthcheck should GET /ready on {port}: {test}")
    if services["api"]["command"] != ["nomnom-api", "--config", "/etc/nomnom/api.toml"]:
        fail("api command: " + str(services["api"]["command"]))
    if services["host"]["command"] != ["nomnom-host", "--config", "/etc/nomnom/worker.toml"]:
        fail("host command: " + str(services["host"]["command"]))
    # Without any one secret the file refuses to start instead of using a default that works.
    for name in secrets:
        result = run([binary, "-f", compose, "config"], env=dict(secrets, **{name: ""}))
        if result.returncode == 0:
            fail("docker-compose config accepted an unset " + name)
    prometheus = yaml.safe_load(open(os.path.join(args.source, "docker", "prometheus.yml")))
    targets = json.dumps(prometheus["scrape_configs"])
    if "api:8080" not in targets or '"host"' not in targets or "9464" not in targets:
        fail("prometheus.yml should scrape api:8080 and host:9464: " + targets)
    print("docker-compose.yml and prometheus.yml: ok")


def exported_metric_names(source):
    names = set()
    for directory in ("host/src", "api/src", "common/src"):
        for root, _, files in os.walk(os.path.join(source, directory)):
            for file in files:
                if file.endswith(".cpp"):
                    text = open(os.path.join(root, file)).read()
                    names.update(re.findall(r"nomnom_[a-z_]+", text))
    return names


def documented_host_metrics(source):
    """{name: type} from the table of README.md's "### Metrics" section. The integration test
    `every metric family /metrics serves is in README's metrics table...` keeps that table equal
    to what the host serves."""
    families = {}
    section = False
    for line in open(os.path.join(source, "README.md")):
        if line.startswith("### "):
            section = line.strip() == "### Metrics"
        if section and line.startswith("| `"):
            cells = line.split("|")
            for name in re.findall(r"`([^`]+)`", cells[1]):
                families[name] = cells[2].strip()
    if not families:
        fail("README.md: no metrics table under ### Metrics")
    return families


# Counter and histogram families of the host that the dashboard leaves out on purpose, with the
# reason; every other one has a panel.
NOT_CHARTED = {}


def check_grafana(args):
    grafana = os.path.join(args.source, "docker", "grafana")
    dashboards = os.path.join(grafana, "dashboards")
    known = exported_metric_names(args.source)
    families = documented_host_metrics(args.source)
    files = [f for f in os.listdir(dashboards) if f.endswith(".json")]
    if not files:
        fail("no dashboard in " + dashboards)
    for file in files:
        dashboard = json.load(open(os.path.join(dashboards, file)))
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        if not exprs:
            fail(file + ": no queries")
        charted = set()
        for expr in exprs:
            for metric in re.findall(r"nomnom_[a-z_]+", expr):
                base = re.sub(r"_(bucket|sum|count)$", "", metric)
                if base not in known:
                    fail(f"{file}: {metric} is not a metric the host exports ({expr})")
                charted.add(base if families.get(base) == "histogram" else metric)
        for name, kind in sorted(families.items()):
            if kind in ("counter", "histogram") and name not in charted | NOT_CHARTED.keys():
                fail(f"{file}: no panel on the {kind} {name} (chart it, or add it to "
                     "NOT_CHARTED in check_deploy.py with the reason)")
        used = " ".join(exprs)
        for wanted in ("nomnom_consumer_pending", "nomnom_db_pool_in_use",
                       "nomnom_plugins_refused"):
            if wanted not in used:
                fail(f"{file}: no panel on {wanted}")
        for histogram in ("nomnom_batch_seconds", "nomnom_end_to_end_seconds",
                          "nomnom_parse_seconds", "nomnom_write_seconds"):
            for quantile, shown in (("0.5", "p50"), ("0.99", "p99")):
                if f"histogram_quantile({quantile}, sum by (le, plugin) (rate({histogram}_bucket" \
                        not in used:
                    fail(f"{file}: no {shown} of {histogram}")
    for sub in ("datasources", "dashboards"):
        for file in os.listdir(os.path.join(grafana, "provisioning", sub)):
            yaml.safe_load(open(os.path.join(grafana, "provisioning", sub, file)))
    print(f"grafana: {len(files)} dashboard(s) parse; every metric they query is exported; "
          f"every counter and histogram of the host is charted")


def k8s_documents(source):
    directory = os.path.join(source, "docker", "k8s")
    documents = []
    for file in sorted(os.listdir(directory)):
        if file.endswith(".yaml"):
            for document in yaml.safe_load_all(open(os.path.join(directory, file))):
                if not isinstance(document, dict) or "kind" not in document:
                    fail(f"{file}: a document without kind")
                documents.append(document)
    return documents


def find(documents, kind, name):
    for document in documents:
        if document["kind"] == kind and document["metadata"]["name"] == name:
            return document
    fail(f"no {kind} {name} in docker/k8s")


def host_consumers(args, worker_toml):
    """The durable consumer names the host uses with this config (from `nomnom-host status`)."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "worker.toml")
        with open(path, "w") as out:
            out.write(worker_toml)
        result = run([args.host_bin, "status", "--config", path],
                     env={"NATS_URL": "nats://127.0.0.1:1", "POSTGRES_HOST": "127.0.0.1",
                          "POSTGRES_PASSWORD": "check", "NATS_PASSWORD": "check",
                          "NOMNOM_PLUGINS_DIR": args.plugins})
    if result.returncode != 0:
        fail("nomnom-host status: " + result.stdout + result.stderr)
    return set(re.findall(r"consumer (\S+) \(", result.stdout))


def check_k8s(args):
    documents = k8s_documents(args.source)
    for name, port in (("nomnom-host", 9464), ("nomnom-api", 8080)):
        deployment = find(documents, "Deployment", name)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        if container["readinessProbe"]["httpGet"]["path"] != "/ready":
            fail(name + ": readiness probe should GET /ready")
        if container["livenessProbe"]["httpGet"]["path"] != "/health":
            fail(name + ": liveness probe should GET /health")
        if container["ports"][0]["containerPort"] != port:
            fail(f"{name}: container port {port} expected")
    service = find(documents, "Service", "nomnom-api")
    if service["spec"]["selector"] != {"app.kubernetes.io/name": "nomnom-api"}:
        fail("Service nomnom-api selects " + str(service["spec"]["selector"]))
    worker = find(documents, "ConfigMap", "nomnom-worker")["data"]["worker.toml"]
    scaled = find(documents, "ScaledObject", "nomnom-host")
    if scaled["spec"]["scaleTargetRef"]["name"] != "nomnom-host":
        fail("the ScaledObject should scale Deployment nomnom-host")
    stream = re.search(r'^name = "([^"]+)"', worker, re.M).group(1)
    triggers = scaled["spec"]["triggers"]
    for trigger in triggers:
        if trigger["type"] != "nats-jetstream" or trigger["metadata"]["stream"] != stream:
            fail("trigger on another stream or scaler: " + str(trigger))
    keda = {t["metadata"]["consumer"] for t in triggers}
    host = host_consumers(args, worker)
    if not host or keda != host:
        fail(f"KEDA watches consumers {sorted(keda)}, the host uses {sorted(host)}")
    print(f"k8s: {len(documents)} documents parse; KEDA watches the host's consumers "
          f"{sorted(host)}")


def check_configs(args):
    """The worker.toml files of docker/ pass --check-config against the shipped plugins."""
    env = {"NATS_URL": "nats://127.0.0.1:1", "POSTGRES_HOST": "127.0.0.1",
           "POSTGRES_PASSWORD": "check", "NATS_PASSWORD": "check",
           "NOMNOM_PLUGINS_DIR": args.plugins}
    with tempfile.TemporaryDirectory() as directory:
        k8s = os.path.join(directory, "worker.toml")
        with open(k8s, "w") as out:
            out.write(find(k8s_documents(args.source), "ConfigMap",
                           "nomnom-worker")["data"]["worker.toml"])
        for config in (os.path.join(args.source, "docker", "compose", "worker.toml"), k8s):
            result = run([args.host_bin, "--config", config, "--check-config"], env=env)
            if result.returncode != 0:
                fail(f"--check-config {config}:\n{result.stdout}{result.stderr}")
    # nomnom-api is built on its own branch: its config is only checked to be TOML here.
    with open(os.path.join(args.source, "docker", "compose", "api.toml"), "rb") as file:
        tomllib.load(file)
    print("docker/compose/worker.toml and the k8s worker.toml pass --check-config")


def check_systemd(args):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("SKIP: systemd-analyze is not installed")
        sys.exit(SKIP)
    units = os.path.join(args.source, "docker", "systemd")
    with tempfile.TemporaryDirectory() as directory:
        # The units name the installed paths; point them at the build so that verify finds
        # executables. nomnom-api is built on its own branch: a stand-in when absent.
        api = os.path.join(os.path.dirname(os.path.dirname(args.host_bin)), "api", "nomnom-api")
        if not os.path.exists(api):
            api = os.path.join(directory, "nomnom-api")
            with open(api, "w") as out:
                out.write("#!/bin/sh\n")
            os.chmod(api, 0o755)
        paths = []
        for unit in sorted(os.listdir(units)):
            text = open(os.path.join(units, unit)).read()
            for key in ("User=nomnom", "NoNewPrivileges=yes", "ProtectSystem=strict",
                        "ProtectHome=yes", "PrivateTmp=yes", "Restart=on-failure",
                        "KillSignal=SIGTERM", "TimeoutStopSec="):
                if key not in text:
                    fail(f"{unit}: no {key}")
            # Both reload on SIGHUP: the host its config and plugins, the API its tokens.
            if "ExecReload=/bin/kill -HUP $MAINPID" not in text:
                fail(unit + ": ExecReload with SIGHUP expected")
            if unit == "nomnom-host.service" and "ReadWritePaths=/var/lib/nomnom" not in text:
                fail(unit + ": ReadWritePaths for SQLite expected")
            text = text.replace("/usr/bin/nomnom-host", args.host_bin)
            text = text.replace("/usr/bin/nomnom-api", api)
            path = os.path.join(directory, unit)
            with open(path, "w") as out:
                out.write(text)
            paths.append(path)
        result = run([analyze, "verify", *paths])
        output = result.stdout + result.stderr
        if result.returncode != 0 and ("Failed to initialize manager" in output
                                       or "Failed to connect to bus" in output):
            print("SKIP: systemd-analyze cannot run in this container: " + output)
            sys.exit(SKIP)
        # verify exits 0 on a misspelt directive or a value it cannot parse: it only warns
        # ("Unknown key 'Restatr' in section [Service], ignoring."), naming the unit.
        units_named = tuple(os.path.basename(path) for path in paths)
        warnings = [line for line in output.splitlines() if any(u in line for u in units_named)]
        if result.returncode != 0 or warnings:
            fail("systemd-analyze verify:\n" + output)
    print("systemd units: systemd-analyze verify passes, without a warning")


def runtime_packages(source):
    result = run(["bash", os.path.join(source, "scripts", "deps.sh"), "--list", "--runtime"])
    if result.returncode != 0:
        fail("deps.sh --list --runtime: " + result.stderr)
    return set(result.stdout.split())


@functools.lru_cache(maxsize=None)
def owning_package(path):
    """The Debian package that installed the file at `path` (merged /usr: either spelling)."""
    real = os.path.realpath(path)
    for candidate in (path, real, re.sub(r"^/usr/lib/", "/lib/", real)):
        result = run(["dpkg-query", "-S", candidate])
        if result.returncode == 0:
            return result.stdout.split(":")[0]
    fail(f"no Debian package owns {path}")


def needed_libraries(binary):
    """{soname: path} of the libraries `binary` names in its DT_NEEDED entries."""
    dynamic = run(["readelf", "-d", binary])
    if dynamic.returncode != 0:
        fail(f"readelf -d {binary}: {dynamic.stderr}")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic.stdout)
    linked = run(["ldd", binary]).stdout
    resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)", linked, re.M))
    # The dynamic loader is listed by its path only.
    resolved.update({os.path.basename(path): path
                     for path in re.findall(r"^\s*(/\S+) \(0x", linked, re.M)})
    missing = [soname for soname in needed if soname not in resolved]
    if missing:
        fail(f"{binary}: ldd does not resolve {missing}")
    return {soname: resolved[soname] for soname in needed}


def base_image_packages():
    """What a debian:12-slim image holds: the Essential and Priority: required packages and
    everything they depend on (this machine's dpkg database answers for Debian 12)."""
    listing = run(["dpkg-query", "-W",
                   "-f=${Package}\t${Essential}\t${Priority}\t${Pre-Depends}, ${Depends}\n"])
    depends = {}
    wanted = []
    for line in listing.stdout.splitlines():
        package, essential, priority, relations = line.split("\t")
        # "libc6 (>= 2.34), libfoo | libbar" -> every alternative, without versions.
        depends[package] = re.findall(r"([a-z0-9][a-z0-9.+-]+)(?::\w+)?(?: \([^)]*\))?",
                                      relations)
        if essential == "yes" or priority == "required":
            wanted.append(package)
    base = set()
    while wanted:
        package = wanted.pop()
        if package not in base and package in depends:
            base.add(package)
            wanted.extend(depends[package])
    return base


def check_runtime_packages(args, runtime):
    """Every library the shipped binaries and plugins load directly comes from a package of
    `deps.sh --runtime` or from the base image; the libraries those load in turn are the
    packages' own dependencies."""
    build = os.path.dirname(os.path.dirname(args.host_bin))
    binaries = [os.path.join(build, path) for path in (
        "host/nomnom-host", "host/nomnom-publish", "generator/nomnom-gen", "api/nomnom-api")]
    binaries += [os.path.join(args.plugins, f) for f in os.listdir(args.plugins)
                 if f.endswith(".so")]
    provided = runtime | base_image_packages()
    uncovered = {}
    for binary in binaries:
        if not os.path.exists(binary):
            fail(f"{binary} is not built")
        for soname, path in needed_libraries(binary).items():
            package = owning_package(path)
            if package not in provided:
                uncovered.setdefault(package, set()).add(f"{os.path.basename(binary)}: {soname}")
    # nomnom-api links nomnom_common only: a database client in it means the host's library
    # leaked into the API's link.
    api_databases = [soname for soname in needed_libraries(binaries[3])
                     if re.match(r"lib(pq|sqlite3|soci_)", soname)]
    if api_databases:
        fail("nomnom-api links database libraries: " + ", ".join(api_databases))
    if uncovered:
        fail("scripts/deps.sh RUNTIME_PACKAGES lacks " + "; ".join(
            f"{package} ({', '.join(sorted(users))})" for package, users in uncovered.items()))
    return len(binaries)


def check_dockerfile(args):
    text = open(os.path.join(args.source, "docker", "Dockerfile")).read()
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    if len(stages) < 2 or not all(s.startswith("debian:12") for s in stages):
        fail("a multi-stage build on debian:12 expected: " + str(stages))
    for wanted in ("bash scripts/deps.sh", "bash scripts/build.sh", "build/host/nomnom-host",
                   "build/host/nomnom-publish", "build/generator/nomnom-gen",
                   "build/api/nomnom-api", "build/plugins/*.so", "/usr/lib/nomnom/plugins",
                   "USER nomnom"):
        if wanted not in text:
            fail("Dockerfile: no " + wanted)
    runtime = text[text.rindex("\nFROM "):]
    if "-dev" in runtime or "build-essential" in runtime:
        fail("the runtime stage installs build packages")
    # One package list: the runtime stage installs what deps.sh --runtime lists, nothing by hand.
    if not re.search(r"^RUN bash \S*deps\.sh --runtime\b", runtime, re.M):
        fail("the runtime stage should install its packages with deps.sh --runtime")
    if "apt-get" in text:
        fail("Dockerfile: apt-get outside scripts/deps.sh (keep the package lists there)")
    for script in ("tests/run.sh", "scripts/demo.sh"):
        if "scripts/build.sh" not in open(os.path.join(args.source, script)).read():
            fail(script + " does not build through scripts/build.sh")
    print("Dockerfile: two debian:12 stages, the shared deps/build scripts, non-root runtime")
    if args.no_runtime_libraries:
        print("deps.sh --runtime not checked against this build's libraries (a sanitized build)")
        return
    checked = check_runtime_packages(args, runtime_packages(args.source))
    print(f"deps.sh --runtime covers the libraries of {checked} binaries and plugins")


def main():
    checks = {"compose": check_compose, "grafana": check_grafana, "k8s": check_k8s,
              "configs": check_configs, "systemd": check_systemd,
              "dockerfile": check_dockerfile}
    parser = argparse.ArgumentParser()
    parser.add_argument("check", choices=sorted(checks))
    parser.add_argument("--source", required=True)
    parser.add_argument("--host-bin", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--no-runtime-libraries", action="store_true",
                        help="dockerfile: skip matching deps.sh --runtime against the libraries "
                             "of the build (a build unlike the image's, e.g. sanitized)")
    args = parser.parse_args()
    checks[args.check](args)


if __name__ == "__main__":
    main()
