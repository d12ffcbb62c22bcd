#!/usr/bin/env python3
"""Checks of the deployment files in docker/ that need no container engine or cluster.

    check_deploy.py CHECK --source DIR --host-bin PATH --plugins DIR

CHECK is one of: compose, grafana, k8s, configs, systemd, dockerfile. Exit 0 when the check
passes, 1 with the reasons when it fails, 77 when it cannot run here (ctest reports a skip).
"""

import argparse
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
    result = run([binary, "-f", compose, "config"], env={"POSTGRES_PASSWORD": "check"})
    if result.returncode != 0:
        fail("docker-compose config: " + result.stderr)
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    for name in ("nats", "postgres", "api", "host", "prometheus", "grafana"):
        if name not in services:
            fail("no service " + name)
    if "-js" not in services["nats"]["command"] or "/data" not in services["nats"]["command"]:
        fail("nats must run JetStream with its store in /data")
    for name, port in (("api", 8080), ("host", 9464)):
        test = services[name]["healthcheck"]["test"]
        if f"http://127.0.0.1:{port}/ready" not in test:
            fail(f"{name} healthcheck should GET /ready on {port}: {test}")
    if services["api"]["command"] != ["nomnom-api", "--config", "/etc/nomnom/api.toml"]:
        fail("api command: " + str(services["api"]["command"]))
    if services["host"]["command"] != ["nomnom-host", "--config", "/etc/nomnom/worker.toml"]:
        fail("host command: " + str(services["host"]["command"]))
    # Without POSTGRES_PASSWORD the file refuses to start instead of using an empty password.
    result = run([binary, "-f", compose, "config"], env={"POSTGRES_PASSWORD": ""})
    if result.returncode == 0:
        fail("docker-compose config accepted an unset POSTGRES_PASSWORD")
    prometheus = yaml.safe_load(open(os.path.join(args.source, "docker", "prometheus.yml")))
    targets = json.dumps(prometheus["scrape_configs"])
    if "api:8080" not in targets or '"host"' not in targets or "9464" not in targets:
        fail("prometheus.yml should scrape api:8080 and host:9464: " + targets)
    print("docker-compose.yml and prometheus.yml: ok")


def exported_metric_names(source):
    names = set()
    for directory in ("host/src", "api/src"):
        root = os.path.join(source, directory)
        if not os.path.isdir(root):
            continue
        for file in os.listdir(root):
            if file.endswith(".cpp"):
                names.update(re.findall(r"nomnom_[a-z_]+", open(os.path.join(root, file)).read()))
    return names


def check_grafana(args):
    grafana = os.path.join(args.source, "docker", "grafana")
    dashboards = os.path.join(grafana, "dashboards")
    known = exported_metric_names(args.source)
    files = [f for f in os.listdir(dashboards) if f.endswith(".json")]
    if not files:
        fail("no dashboard in " + dashboards)
    for file in files:
        dashboard = json.load(open(os.path.join(dashboards, file)))
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        if not exprs:
            fail(file + ": no queries")
        for expr in exprs:
            for metric in re.findall(r"nomnom_[a-z_]+", expr):
                base = re.sub(r"_(bucket|sum|count)$", "", metric)
                if base not in known:
                    fail(f"{file}: {metric} is not a metric the host exports ({expr})")
        used = " ".join(exprs)
        for wanted in ("nomnom_messages_persisted_total", "nomnom_messages_dead_lettered_total",
                       "nomnom_consumer_pending", "nomnom_batch_seconds_bucket",
                       "nomnom_db_pool_in_use"):
            if wanted not in used:
                fail(f"{file}: no panel on {wanted}")
        if "histogram_quantile(0.99" not in used or "histogram_quantile(0.5" not in used:
            fail(file + ": batch latency p50 and p99 expected")
    for sub in ("datasources", "dashboards"):
        for file in os.listdir(os.path.join(grafana, "provisioning", sub)):
            yaml.safe_load(open(os.path.join(grafana, "provisioning", sub, file)))
    print(f"grafana: {len(files)} dashboard(s) parse; every metric they query is exported")


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
                          "POSTGRES_PASSWORD": "check", "NOMNOM_PLUGINS_DIR": args.plugins})
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
           "POSTGRES_PASSWORD": "check", "NOMNOM_PLUGINS_DIR": args.plugins}
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
        if result.returncode != 0:
            if "Failed to initialize manager" in output or "Failed to connect to bus" in output:
                print("SKIP: systemd-analyze cannot run in this container: " + output)
                sys.exit(SKIP)
            fail("systemd-analyze verify:\n" + output)
    print("systemd units: systemd-analyze verify passes")


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
    for script in ("tests/run.sh", "scripts/demo.sh"):
        if "scripts/build.sh" not in open(os.path.join(args.source, script)).read():
            fail(script + " does not build through scripts/build.sh")
    print("Dockerfile: two debian:12 stages, the shared deps/build scripts, non-root runtime")


def main():
    checks = {"compose": check_compose, "grafana": check_grafana, "k8s": check_k8s,
              "configs": check_configs, "systemd": check_systemd,
              "dockerfile": check_dockerfile}
    parser = argparse.ArgumentParser()
    parser.add_argument("check", choices=sorted(checks))
    parser.add_argument("--source", required=True)
    parser.add_argument("--host-bin", required=True)
    parser.add_argument("--plugins", required=True)
    args = parser.parse_args()
    checks[args.check](args)


if __name__ == "__main__":
    main()
