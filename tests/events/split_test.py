#!/usr/bin/env python3
"""users.UserDeleted across processes, through NATS JetStream: users and
orders each in an instance of the real binary, a real nats-server with
JetStream on loopback. Each case counts the effects.

Usage: split_test.py MITOS_BIN CASE [NATS_FIXTURE_DIR]
  CASE: flow (uses the fixture's server) | broker_restart | consumer_killed
"""

import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from lib import Mitos, NatsServer, check, cleanup, eventually, query  # noqa: E402

SUB = {"subscriber": "orders", "type": "users.UserDeleted"}
ITEM = [{"sku": "BOOK-1", "quantity": 1, "unit_price_cents": 100}]


def nats_args(url, tag):
    # A stream and subjects of this run's own, so that runs sharing a
    # server do not see each other's events.
    return ["--set", "events.nats.url=" + url, "--set", "events.nats.stream=S" + tag,
            "--set", "events.nats.subject_prefix=t%s.events" % tag]


def auth_args(binary, work):
    """Auth on, as on a laptop running the split by hand: each instance takes
    development tokens itself (auth.edge, one development key for both),
    and orders signs its calls to users with a shared service key."""
    keys = work / "service-keys"
    if not keys.exists():
        subprocess.run([binary, "auth", "service-keys", str(keys)], check=True,
                       capture_output=True, timeout=30)
    return ["--set", "auth.edge=true", "--set", "auth.dev_key_file=%s" % (work / "dev-key.pem"),
            "--set", "auth.service_keys_file=%s" % keys]


def split(binary, work, url, tag, *orders_args):
    users = Mitos(binary, work, "users", work / "users", "--modules=users",
                  *nats_args(url, tag), *auth_args(binary, work))
    orders = start_orders(binary, work, users, url, tag, *orders_args)
    return users, orders


def start_orders(binary, work, users, url, tag, *args):
    return Mitos(binary, work, "orders", work / "orders", "--modules=orders",
                 "--set", "remotes.users.url=" + users.url, *nats_args(url, tag),
                 *auth_args(binary, work), *args)


def make(users, orders, n):
    ids = []
    for i in range(n):
        st, u = users.call("POST", "/users", {"name": "U%d" % i, "email": "u%d@example.com" % i})
        check(st == 201, "create user: %s %s" % (st, u))
        st, o = orders.call("POST", "/orders", {"user_id": u["id"], "items": ITEM})
        check(st == 201, "place order: %s %s" % (st, o))
        ids.append(u["id"])
    return ids


def placed(work):
    return query(work / "orders" / "orders.db",
                 "SELECT count(*) FROM orders WHERE status = 'placed'")[0][0]


def inbox(work):
    return query(work / "orders" / "orders.db", "SELECT count(*) FROM mitos_inbox")[0][0]


def outbox(work):
    return query(work / "users" / "users.db", "SELECT count(*) FROM mitos_outbox")[0][0]


def case_flow(binary, work, fixture):
    url = (pathlib.Path(fixture) / "url").read_text().strip()
    tag = "%08x" % random.getrandbits(32)
    users, orders = split(binary, work, url, tag)
    ids = make(users, orders, 3)
    check(users.call("DELETE", "/users/%d" % ids[0])[0] == 204, "delete")
    eventually("the order cancelled in the other process", lambda: placed(work) == 2)
    eventually("one effect", lambda: orders.metric("mitos_events_effects_total", **SUB) == 1)
    st, body = orders.call("POST", "/orders", {"user_id": ids[0], "items": ITEM})
    check(st == 422, "order for the deleted user: %s %s" % (st, body))
    st, health = users.call("GET", "/health")
    check(health["events"]["nats"]["connected"] is True, "health: %s" % health["events"])
    eventually("the users outbox drained", lambda: outbox(work) == 0)
    check(users.metric("mitos_events_relayed_total", type="users.UserDeleted") == 1,
          "relayed: %s" % users.metric("mitos_events_relayed_total"))
    # Every metric the dashboard panel plots is one the instances serve.
    import json
    import re
    board = json.loads((pathlib.Path(__file__).resolve().parents[2] / "k8s" / "examples" /
                        "grafana-dashboard-events.json").read_text())
    served = users.call("GET", "/metrics")[1] + orders.call("GET", "/metrics")[1]
    for panel in board["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"mitos_[a-z_]+", target["expr"]):
                name = re.sub(r"_bucket$", "", name)
                check("# TYPE %s " % name in served,
                      "dashboard panel '%s' plots %s, which no instance serves" %
                      (panel["title"], name))
    orders.stop()
    users.stop()
    print("ok: a deletion in the users process cancelled the order in the orders process, once")


def case_broker_restart(binary, work, _):
    nats = NatsServer(work)
    tag = "%08x" % random.getrandbits(32)
    users, orders = split(binary, work, nats.url, tag,)
    n = 120
    ids = make(users, orders, n)
    errors = []

    def delete_all():
        for uid in ids:
            st, body = users.call("DELETE", "/users/%d" % uid)
            if st != 204:
                errors.append((uid, st, body))
            time.sleep(0.005)

    t = threading.Thread(target=delete_all)
    t.start()
    eventually("some effects before the kill", lambda: inbox(work) >= 10)
    nats.kill()
    # While JetStream is down the deletions go on, and the outbox keeps
    # their events.
    eventually("the outbox holding events", lambda: outbox(work) >= 5)
    held = outbox(work)
    time.sleep(1)
    check(outbox(work) >= held, "events left the outbox while JetStream was down")
    nats.start()
    t.join()
    check(not errors, "deletions failed: %s" % errors[:3])
    eventually("every order cancelled", lambda: placed(work) == 0, timeout=60)
    eventually("the outbox drained", lambda: outbox(work) == 0, timeout=60)
    effects = orders.metric("mitos_events_effects_total", **SUB)
    check(effects == n, "effects: %s of %d" % (effects, n))
    check(inbox(work) == n, "inbox: %d of %d" % (inbox(work), n))
    orders.stop()
    users.stop()
    nats.stop()
    print("ok: nats-server killed under load with %d events held in the outbox; "
          "after its restart %d effects of %d events" % (held, effects, n))


def case_consumer_killed(binary, work, _):
    nats = NatsServer(work)
    tag = "%08x" % random.getrandbits(32)
    extra = ["--set", "events.nats.fetch_batch=100", "--set", "events.nats.ack_wait_ms=1000"]
    users, orders = split(binary, work, nats.url, tag, *extra)
    n = 1500
    ids = make(users, orders, n)
    # The consumer is down while the events pile up in the stream.
    orders.kill()
    for uid in ids:
        check(users.call("DELETE", "/users/%d" % uid)[0] == 204, "delete %d" % uid)
    eventually("every event in JetStream", lambda: outbox(work) == 0, timeout=60)
    orders = start_orders(binary, work, users, nats.url, tag, *extra)
    eventually("the consumer in the middle of its work", lambda: 0 < inbox(work) < n)
    orders.kill()
    done_before = inbox(work)
    check(0 < done_before < n, "not killed mid-way: %d of %d" % (done_before, n))
    orders = start_orders(binary, work, users, nats.url, tag, *extra)
    eventually("every order cancelled", lambda: placed(work) == 0, timeout=90)
    eventually("every effect", lambda: orders.metric("mitos_events_effects_total", **SUB)
               >= n - done_before, timeout=30)
    time.sleep(1.5)  # longer than ack_wait: any redelivery has come by now
    effects = orders.metric("mitos_events_effects_total", **SUB)
    check(effects == n - done_before,
          "after the restart %s effects, expected %d" % (effects, n - done_before))
    check(inbox(work) == n, "inbox: %d of %d" % (inbox(work), n))
    duplicates = orders.metric("mitos_events_duplicates_total", **SUB)
    orders.stop()
    users.stop()
    nats.stop()
    print("ok: consumer killed after %d of %d effects; its successor had the other "
          "%d, none twice (%d redeliveries skipped)" % (done_before, n, effects, duplicates))


def main():
    binary, case = sys.argv[1], sys.argv[2]
    fixture = sys.argv[3] if len(sys.argv) > 3 else None
    work = pathlib.Path(tempfile.mkdtemp(prefix="mitos-split-"))
    try:
        {"flow": case_flow, "broker_restart": case_broker_restart,
         "consumer_killed": case_consumer_killed}[case](binary, work, fixture)
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
