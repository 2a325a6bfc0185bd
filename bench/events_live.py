#!/usr/bin/env python3
"""Events under live load: users deleted as fast as wrk can, each deletion
publishing users.UserDeleted, which orders' handler consumes. Reports, in
the monolith (through the outbox) and split (through a real nats-server
-js), the events per second that had their effect, the end-to-end latency
(publication to the subscriber's commit: mitos_events_lag_seconds) at p50
and p99, and what publishing costs the producing write: DELETE /users/{id}
(which publishes) against PATCH /users/{id} (a one-row write by key that
publishes nothing) on the same instance, and against DELETE while the
dispatcher is held off (events.dispatch_delay_ms), which leaves only the
outbox insert in the write; and users' CPU per write in each of the
three (for the full flow, up to the last effect, relay included).

Usage: bench/events_live.py MITOS_BIN [--duration S] [--connections N]
                            [--reps R] [--users N]
                            [--topology monolith|split|both]
"""
import argparse
import json
import os
import pathlib
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "events"))
from lib import Mitos, NatsServer, cleanup, eventually  # noqa: E402

SCRIPT = ROOT / "bench" / "wrk" / "write_user.lua"
# As bench/mitos-bench.yaml (auth off, no access log), but logging at info:
# the harness finds the port in the "listening" line.
QUIET = ["--set", "auth.mode=off", "--set", "log.access=false"]
LAG = "mitos_events_lag_seconds"
SUB = {"subscriber": "orders", "type": "users.UserDeleted"}


def seed(data_dir, n):
    """USERS users with ids 1..n in users.db (the instance made the schema)."""
    db = sqlite3.connect(str(data_dir / "users.db"))
    db.execute(
        "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ?) "
        "INSERT INTO users (id, name, email, created_at, updated_at) "
        "SELECT n, 'User ' || n, 'user' || n || '@example.com', "
        "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' FROM s", (n,))
    db.commit()
    db.close()


def wrk(url, method, duration, connections):
    out = subprocess.run(
        ["wrk", "-t2", "-c%d" % connections, "-d%ds" % duration, "--latency",
         "-s", str(SCRIPT), url, "--", method, "2"],
        capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    m = re.search(r"BENCH_JSON (\{.*\})", out)
    r = json.loads(m.group(1))
    if r["non201"] or r["errors"]:
        sys.exit("wrk %s: %d failed answers, %d errors" % (method, r["non201"], r["errors"]))
    return r


def histogram(instance):
    """Cumulative counts per upper bound of the lag histogram."""
    _, text = instance.call("GET", "/metrics")
    out = {}
    for line in text.splitlines():
        if not line.startswith(LAG + "_bucket{"):
            continue
        if 'subscriber="orders"' not in line or 'type="users.UserDeleted"' not in line:
            continue
        le = re.search(r'le="([^"]+)"', line).group(1)
        out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def quantile(before, after, q):
    """q of the observations between two scrapes, interpolated in its bucket."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if total <= 0:
        return float("nan")
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for b, c in zip(bounds, counts):
        if c >= rank:
            if b == float("inf"):
                return prev_bound
            return prev_bound + (b - prev_bound) * (rank - prev_count) / max(c - prev_count, 1e-9)
        prev_bound, prev_count = b, c
    return bounds[-2]


def cpu_s(instance):
    """CPU seconds (user + system) the instance's process used so far."""
    fields = pathlib.Path("/proc/%d/stat" % instance.popen.pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def effects(instance):
    return instance.metric("mitos_events_effects_total", **SUB)


def start(binary, work, name, n_users, *args):
    """An instance on a fresh data directory holding n_users users."""
    data = work / name
    m = Mitos(binary, work, name, data, *QUIET, *args)
    m.stop()
    seed(data, n_users)
    return Mitos(binary, work, name + "-run", data, *QUIET, *args)


def run(binary, work, topology, args, n_users):
    """One repetition: PATCH, DELETE with the dispatcher held off, DELETE."""
    d, c = args.duration, args.connections
    res = {}
    tag = "%08x" % random.getrandbits(32)
    nats = None
    if topology == "split":
        nats = NatsServer(work)
        nats_args = ["--set", "events.nats.url=" + nats.url, "--set", "events.nats.stream=S" + tag,
                     "--set", "events.nats.subject_prefix=t%s.events" % tag]
    # The write alone, without publication; and with publication into an
    # outbox nobody drains yet.
    base = start(binary, work, topology + "-base-" + tag, n_users, "--modules=users",
                 "--set", "events.dispatch_delay_ms=86400000")
    c0 = cpu_s(base)
    r = wrk(base.url, "PATCH", d, c)
    res["patch"] = r["rps"]
    res["patch_cpu_us"] = 1e6 * (cpu_s(base) - c0) / max(r["created"], 1)
    base.stop()
    held = start(binary, work, topology + "-held-" + tag, n_users, "--modules=users",
                 "--set", "events.dispatch_delay_ms=86400000")
    c0 = cpu_s(held)
    r = wrk(held.url, "DELETE", d, c)
    res["delete_held"] = r["rps"]
    res["held_cpu_us"] = 1e6 * (cpu_s(held) - c0) / max(r["created"], 1)
    held.stop()
    # The whole flow.
    if topology == "monolith":
        producer = start(binary, work, "mono-" + tag, n_users)
        consumer = producer
    else:
        producer = start(binary, work, "users-" + tag, n_users, "--modules=users", *nats_args)
        consumer = Mitos(binary, work, "orders-" + tag, work / ("orders-" + tag),
                         *QUIET, "--modules=orders",
                         "--set", "remotes.users.url=" + producer.url, *nats_args)
    before, e0 = histogram(consumer), effects(consumer)
    c0 = cpu_s(producer)
    t0 = time.time()
    r = wrk(producer.url, "DELETE", d, c)
    res["delete"] = r["rps"]
    deleted = r["created"]
    eventually("every deletion had its effect", lambda: effects(consumer) - e0 >= deleted,
               timeout=600)
    # Until every effect was seen (the poll adds at most its 20 ms).
    res["events_s"] = deleted / (time.time() - t0)
    # The producer's CPU for the writes and for dispatching their events,
    # to the last effect.
    res["delete_cpu_us"] = 1e6 * (cpu_s(producer) - c0) / max(deleted, 1)
    after = histogram(consumer)
    res["p50_ms"] = 1000 * quantile(before, after, 0.50)
    res["p99_ms"] = 1000 * quantile(before, after, 0.99)
    res["events"] = deleted
    if consumer is not producer:
        consumer.stop()
    producer.stop()
    if nats:
        nats.stop()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--users", type=int, default=300000)
    ap.add_argument("--topology", choices=("monolith", "split", "both"), default="both")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="mitos-bench-events-live-"))
    print("# bench/events_live.py: %s, wrk -t2 -c%d -d%ds, %d repetitions, medians" %
          (time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), args.connections, args.duration, args.reps))
    try:
        for topology in ("monolith", "split"):
            if args.topology not in ("both", topology):
                continue
            reps = [run(args.binary, work, topology, args, args.users) for _ in range(args.reps)]
            med = {k: statistics.median(r[k] for r in reps) for k in reps[0]}
            print("%s: %.0f events/s had their effect (while DELETE ran at %.0f req/s), "
                  "end-to-end p50 %.1f ms, p99 %.1f ms; PATCH %.0f req/s, DELETE with the "
                  "dispatcher held off %.0f req/s: DELETE / PATCH %.2f, DELETE / held %.2f; "
                  "users' CPU per write: PATCH %.1f us, DELETE held %.1f us, DELETE %.1f us "
                  "(dispatching adds %.0f%%)" %
                  (topology, med["events_s"], med["delete"], med["p50_ms"], med["p99_ms"],
                   med["patch"], med["delete_held"], med["delete"] / med["patch"],
                   med["delete"] / med["delete_held"], med["patch_cpu_us"],
                   med["held_cpu_us"], med["delete_cpu_us"],
                   100 * (med["delete_cpu_us"] / med["held_cpu_us"] - 1)))
            for r in reps:
                print("  run: %s" % ", ".join("%s %.1f" % kv for kv in sorted(r.items())))
            sys.stdout.flush()
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
