#!/usr/bin/env python3
"""Events through the outbox: how fast a backlog of users.UserDeleted
drains into orders, with the real binary on its SQLite files.

  monolith  the events wait in users' outbox (events.dispatch_delay_ms),
            then an instance without the delay dispatches them to orders
  split     users relays to a real nats-server -js while orders is down,
            then orders' durable consumer drains the stream

Prints events/s for each. This measures drain throughput of a backlog,
not the end-to-end latency of single events.

Usage: bench/events_drain.py MITOS_BIN [EVENTS]
"""
import pathlib
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "events"))
from lib import Mitos, NatsServer, cleanup, eventually, query  # noqa: E402
from split_test import auth_args, make, nats_args, outbox, placed, start_orders  # noqa: E402


def monolith(binary, work, n):
    data = work / "mono"
    m = Mitos(binary, work, "mono", data, "--set", "events.dispatch_delay_ms=3600000")
    ids = make(m, m, n)
    for uid in ids:
        m.call("DELETE", "/users/%d" % uid)
    m.stop()
    t0 = time.time()
    m = Mitos(binary, work, "mono2", data)
    eventually("drained", lambda: query(data / "orders.db",
                                         "SELECT count(*) FROM orders WHERE status = 'placed'")[0][0] == 0,
               timeout=600)
    dt = time.time() - t0
    m.stop()
    return n / dt, dt


def split(binary, work, n):
    nats = NatsServer(work)
    tag = "%08x" % random.getrandbits(32)
    users = Mitos(binary, work, "users", work / "users", "--modules=users", *nats_args(nats.url, tag),
                  *auth_args(binary, work))
    orders = start_orders(binary, work, users, nats.url, tag)
    ids = make(users, orders, n)
    orders.kill()
    for uid in ids:
        users.call("DELETE", "/users/%d" % uid)
    eventually("relayed", lambda: outbox(work) == 0, timeout=600)
    t0 = time.time()
    orders = start_orders(binary, work, users, nats.url, tag)
    eventually("drained", lambda: placed(work) == 0, timeout=600)
    dt = time.time() - t0
    orders.stop()
    users.stop()
    nats.stop()
    return n / dt, dt


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    work = pathlib.Path(tempfile.mkdtemp(prefix="mitos-bench-events-"))
    try:
        rate, dt = monolith(binary, work, n)
        print("monolith: %d events drained in %.2f s: %.0f events/s (start-up included)" % (n, dt, rate))
        rate, dt = split(binary, work, n)
        print("split:    %d events drained in %.2f s: %.0f events/s (start-up included)" % (n, dt, rate))
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
