#!/usr/bin/env python3
"""The exported numbers, read by the real systems that read them.

Runs the monitoring example (publishing a known number of events to a real broker and
consuming them back in a consumer group) with a real Prometheus server scraping its
/metrics every second and a real StatsD daemon (Etsy's reference implementation) receiving
its lines and flushing every second to a Graphite-protocol listener run here. Then checks,
through Prometheus's query API and the Graphite lines, that the numbers are right:

- the target is up; sent, delivered, received and handled totals equal what was published;
- every histogram: +Inf bucket equals _count, buckets never decrease;
- histogram_quantile(0.5) of send latency lies within one bucket of the Monitor's own p50;
- lag, committed offsets and rebalances agree with what the consumer did;
- every query of the Grafana dashboard returns data;
- StatsD counts arrive while the application runs, add up to what was published, and
  timers keep sub-millisecond values.

Everything binds to 127.0.0.1, every wait is bounded, every process started is stopped by
its PID. Prints the figures it saw; exits non-zero on the first wrong number.
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HOST = "127.0.0.1"
BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
           0.5, 1.0, 2.5, 5.0, 10.0, math.inf]


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def fail(message):
    print(f"readers: FAILED: {message}", flush=True)
    raise SystemExit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"readers: ok: {message}", flush=True)


def wait_for(what, probe, timeout):
    """Calls probe() until it returns a true value, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.25)
    fail(f"timed out after {timeout}s waiting for {what}")


class Graphite:
    """A Graphite plaintext listener: keeps (received at, path, value) of every line."""

    def __init__(self):
        self.port = free_port()
        self.lines = []
        self.lock = threading.Lock()
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind((HOST, self.port))
        self.server.listen(16)
        self.server.settimeout(0.5)
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                conn, _ = self.server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while chunk := conn.recv(65536):
                        data += chunk
                except OSError:
                    pass
            now = time.monotonic()
            with self.lock:
                for line in data.decode(errors="replace").splitlines():
                    parts = line.split(" ")
                    if len(parts) == 3:
                        self.lines.append((now, parts[0], float(parts[1])))

    def stop(self):
        self.running = False
        self.server.close()

    def matching(self, pattern):
        regex = re.compile(pattern)
        with self.lock:
            return [(t, path, v) for (t, path, v) in self.lines if regex.search(path)]


class Processes:
    """Started processes, stopped by PID in reverse order."""

    def __init__(self):
        self.started = []

    def start(self, name, argv, **kwargs):
        log = open(kwargs.pop("log"), "w")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, **kwargs)
        print(f"readers: started {name} (pid {process.pid})", flush=True)
        self.started.append((name, process))
        return process

    def stop(self):
        for name, process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
                print(f"readers: stopped {name} (pid {process.pid})", flush=True)


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class Prometheus:
    def __init__(self, port):
        self.base = f"http://{HOST}:{port}"

    def query(self, promql):
        url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        answer = get_json(url)
        if answer.get("status") != "success":
            fail(f"Prometheus refused {promql!r}: {answer}")
        return answer["data"]["result"]

    def scalar(self, promql):
        result = self.query(promql)
        if len(result) != 1:
            raise ValueError(f"{promql!r} gave {len(result)} series")
        return float(result[0]["value"][1])


def bucket_index(seconds):
    return next(i for i, bound in enumerate(BUCKETS) if seconds <= bound)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", required=True, help="the built monitoring example")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--statsd", required=True, help="Etsy statsd's stats.js")
    parser.add_argument("--prometheus", default=shutil.which("prometheus") or "prometheus")
    parser.add_argument("--dashboard", default="dashboards/app-metrics.json")
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="app-metrics-readers-")
    processes = Processes()
    graphite = Graphite()
    try:
        run(args, work, processes, graphite)
    except SystemExit:
        for log in ("example.log", "statsd.log", "prometheus.log"):
            path = os.path.join(work, log)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    tail = f.read()[-3000:]
                print(f"readers: --- last lines of {log} ---\n{tail}", flush=True)
        raise
    finally:
        processes.stop()
        graphite.stop()
        shutil.rmtree(work, ignore_errors=True)


def run(args, work, processes, graphite):
    count = args.count
    statsd_port = free_port(socket.SOCK_DGRAM)
    statsd_admin = free_port()
    app_port = free_port()
    prometheus_port = free_port()

    # StatsD, flushing every second to our Graphite listener.
    config = os.path.join(work, "statsd.js")
    with open(config, "w") as f:
        f.write(json.dumps({
            "address": HOST, "port": statsd_port,
            "mgmt_address": HOST, "mgmt_port": statsd_admin,
            "flushInterval": 1000,
            "backends": ["./backends/graphite"],
            "graphiteHost": HOST, "graphitePort": graphite.port,
            "graphite": {"legacyNamespace": False},
            "deleteIdleStats": True,
        }))
    processes.start("statsd", ["node", args.statsd, config], log=os.path.join(work, "statsd.log"),
                    cwd=os.path.dirname(args.statsd))
    wait_for("the StatsD admin port", lambda: socket.create_connection((HOST, statsd_admin), 1), 20)

    # Prometheus, scraping the example every second (started first: it sees the start).
    with open(os.path.join(work, "prometheus.yml"), "w") as f:
        f.write(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: app-metrics\n    static_configs:\n"
            f"      - targets: ['{HOST}:{app_port}']\n")
    processes.start("prometheus", [
        args.prometheus, f"--config.file={work}/prometheus.yml",
        f"--storage.tsdb.path={work}/tsdb", f"--web.listen-address={HOST}:{prometheus_port}",
    ], log=os.path.join(work, "prometheus.log"))
    prometheus = Prometheus(prometheus_port)
    wait_for("Prometheus to be ready",
             lambda: urllib.request.urlopen(f"{prometheus.base}/-/ready", timeout=1).status == 200,
             60)
    # Its scrape manager starts a few seconds after it is ready: wait for the first scrape
    # of the (not yet started) target, so that it sees the application from its start.
    wait_for("Prometheus's first scrape attempt", lambda: any(
        t.get("lastScrape", "").startswith("2") and not t["lastScrape"].startswith("0001")
        for t in get_json(f"{prometheus.base}/api/v1/targets")["data"]["activeTargets"]), 30)

    # The application: `count` events at 20/s after 3 s, consumed back in a group.
    rate = 20
    publish_seconds = math.ceil(count / rate)
    seconds = publish_seconds + 45
    env = dict(os.environ,
               METRICS_APPLICATION=f"ci_readers_{os.getpid()}",
               KAFKA_BOOTSTRAP_SERVERS=args.bootstrap,
               SCHEMA_MANAGER_REGISTRY_URL=args.registry,
               METRICS_MONITOR_STATSD_ADDRESS=f"{HOST}:{statsd_port}",
               KAFKA_CREATE_TOPICS="true",
               METRICS_MONITOR_SAMPLE_INTERVAL="1s",
               RUST_LOG="warn")
    app = processes.start("monitoring example", [
        args.example, "--listen", f"{HOST}:{app_port}", "--count", str(count),
        "--rate", str(rate), "--seconds", str(seconds), "--warmup", "3", "--consume",
    ], env=env, log=os.path.join(work, "example.log"))
    started = time.monotonic()
    app_base = f"http://{HOST}:{app_port}"

    def stats():
        return get_json(f"{app_base}/stats")

    # Published, delivered and consumed, with the offsets committed.
    last = {}

    def settled():
        s = stats()
        last.update(s)
        committed = sum(p.get("committed_offset") or 0 for p in s["partitions"])
        return s if (s["messages_delivered"] == count and s["events_total"] == count
                     and committed == count) else None
    try:
        snapshot = wait_for("every event delivered, handled and committed", settled,
                            publish_seconds + 35)
    except SystemExit:
        print("readers: last /stats: " + json.dumps({k: last.get(k) for k in (
            "messages_sent", "messages_delivered", "messages_received", "events_total",
            "commits", "rebalances", "partitions")}), flush=True)
        raise
    print(f"readers: the Monitor says: sent {snapshot['messages_sent']}, delivered "
          f"{snapshot['messages_delivered']}, received {snapshot['messages_received']}, "
          f"handled {snapshot['events_total']}, send p50 "
          f"{snapshot['send_latency_seconds']['p50']:.6f} s", flush=True)
    # Prometheus has scraped the settled figures.
    wait_for("Prometheus to scrape the settled figures",
             lambda: prometheus.scalar("sum(app_metrics_consumer_committed_offset)") == count, 15)
    check(app.poll() is None, "the example still runs while Prometheus is queried")

    answers = {}

    def answer(promql):
        value = prometheus.scalar(promql)
        answers[promql] = value
        return value

    check(answer('up{job="app-metrics"}') == 1, "the scrape target is up")
    check(answer("sum(app_metrics_messages_sent_total)") == count,
          f"sent total = {count}")
    check(answer("sum(app_metrics_messages_delivered_total)") == count,
          f"delivered total = {count}")
    check(answer("sum(app_metrics_messages_received_total)") == count,
          f"received total = {count}")
    check(answer("sum(app_metrics_events_total)") == count, f"handled events = {count}")
    check(answer('sum(app_metrics_custom_total{sensor="example",name="queries"})') == count,
          f"the application's own counter = {count}")
    check(answer("sum(app_metrics_send_errors_total)") == 0, "no send errors")

    # Every histogram: +Inf = _count, buckets never decrease.
    buckets = prometheus.query('{__name__=~"app_metrics_.+_bucket"}')
    counts = {}
    for series in prometheus.query('{__name__=~"app_metrics_.+_count"}'):
        labels = {k: v for k, v in series["metric"].items() if k not in ("job", "instance")}
        name = labels.pop("__name__")[:-len("_count")]
        counts[(name, tuple(sorted(labels.items())))] = float(series["value"][1])
    families = {}
    for series in buckets:
        labels = {k: v for k, v in series["metric"].items() if k not in ("job", "instance")}
        name = labels.pop("__name__")[:-len("_bucket")]
        le = float(labels.pop("le").replace("+Inf", "inf"))
        families.setdefault((name, tuple(sorted(labels.items()))), []).append(
            (le, float(series["value"][1])))
    check(len(families) >= 10, f"{len(families)} histograms scraped")
    for key, series in sorted(families.items()):
        series.sort()
        values = [v for _, v in series]
        if values != sorted(values):
            fail(f"{key[0]} buckets decrease: {series}")
        if series[-1][0] != math.inf or series[-1][1] != counts.get(key):
            fail(f"{key[0]}: +Inf = {series[-1][1]} but _count = {counts.get(key)}")
    check(True, "every histogram has +Inf = _count and buckets that never decrease")
    send_inf = [v for le, v in families[("app_metrics_send_latency_seconds", ())] if le == math.inf]
    check(send_inf == [count], f"send latency +Inf bucket = {count}")

    # The median from the buckets, against the Monitor's own.
    p50 = answer("histogram_quantile(0.5, sum by (le) (app_metrics_send_latency_seconds_bucket))")
    own = stats()["send_latency_seconds"]["p50"]
    distance = abs(bucket_index(p50) - bucket_index(own))
    check(distance <= 1, f"histogram_quantile(0.5) of send latency {p50:.6f} s is within one "
                         f"bucket of the Monitor's p50 {own:.6f} s ({distance} apart)")

    # The consumer side.
    check(answer("sum(app_metrics_consumer_committed_offset)") == count,
          f"committed offsets add up to {count}")
    check(answer("max(app_metrics_consumer_lag)") == 0, "no lag once everything is read")
    check(answer("sum(app_metrics_rebalances_total)") >= 1, "the group join counted as a rebalance")
    check(answer("sum(app_metrics_assignments_total)") >= 1, "the assignment counted")
    check(answer("sum(app_metrics_commits_total)") >= 1, "commits counted")
    check(answer("sum(app_metrics_decode_errors_total)") == 0, "no decode errors")

    # The Grafana dashboard's own queries return data.
    with open(args.dashboard) as f:
        dashboard = json.load(f)
    empty = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", "1m").replace("$job", ".+")
            result = prometheus.query(expr)
            finite = [s for s in result if math.isfinite(float(s["value"][1]))]
            legend = target.get("legendFormat") or target.get("refId", "")
            answers[f"dashboard: {panel['title']} / {legend}"] = [
                (s["metric"], s["value"][1]) for s in result][:4]
            if not finite:
                empty.append(f"{panel['title']}: {expr}")
    if empty:
        fail("dashboard queries without data:\n  " + "\n  ".join(empty))
    check(True, f"every dashboard query returns data ({len(dashboard['panels'])} panels)")

    # StatsD: counts arrived while the application ran.
    exit_deadline = started + 3 + seconds + 60
    sent_lines = wait_for("StatsD counts of sent events", lambda: [
        line for line in graphite.matching(r"^stats\.counters\.app_metrics\.messages_sent\.count;")
        if line[2] > 0], 10)
    first = min(t for t, _, _ in sent_lines)
    check(app.poll() is None and first < time.monotonic(),
          f"StatsD counts arrived {first - started:.1f} s after start, while the example ran")
    code = app.wait(max(1, exit_deadline - time.monotonic()))
    check(code == 0, "the example exits 0")
    time.sleep(2.5)  # two more flushes

    def total(pattern):
        return sum(v for _, _, v in graphite.matching(pattern))
    statsd = {
        "messages_sent": total(r"^stats\.counters\.app_metrics\.messages_sent\.count;"),
        "messages_delivered": total(r"^stats\.counters\.app_metrics\.messages_delivered\.count;"),
        "messages_received": total(r"^stats\.counters\.app_metrics\.messages_received\.count;"),
        "example.queries": total(r"^stats\.counters\.app_metrics\.example\.queries\.count;"),
    }
    for name, value in statsd.items():
        check(value == count, f"StatsD total of {name} = {value:g}")
    decode_lower = [v for _, _, v in graphite.matching(r"^stats\.timers\.app_metrics\.decode\.lower;")]
    send_means = [v for _, _, v in graphite.matching(r"^stats\.timers\.app_metrics\.send_latency\.mean;")]
    check(any(0 < v < 1 for v in decode_lower),
          f"StatsD decode timer keeps sub-millisecond values (lower: {sorted(decode_lower)[:3]} ms)")
    check(any(v != int(v) for v in send_means),
          f"StatsD send latency keeps fractions of a millisecond (means: {send_means[:3]} ms)")

    print("readers: PromQL answers:")
    for promql, value in answers.items():
        print(f"  {promql} => {value}")
    print("readers: StatsD totals: " + json.dumps(statsd))
    print("readers: 1 passed, 0 failed", flush=True)


if __name__ == "__main__":
    main()
