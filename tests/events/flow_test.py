#!/usr/bin/env python3
"""Deleting a user cancels that user's placed orders (users.UserDeleted),
in the monolith, with the real binary and its real SQLite files. Every case
counts the effects: mitos_events_effects_total (one per event a subscriber
committed), the orders' inbox, and the orders themselves.

Usage: flow_test.py MITOS_BIN CASE
  CASE: flow | producer_killed | duplicates | dead_letters
"""

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from lib import Mitos, check, cleanup, eventually, execute, fail, query  # noqa: E402

EFFECTS = "mitos_events_effects_total"
DUPLICATES = "mitos_events_duplicates_total"
SUB = {"subscriber": "orders", "type": "users.UserDeleted"}
ITEM = [{"sku": "BOOK-1", "quantity": 1, "unit_price_cents": 100}]


def user(m, n):
    st, body = m.call("POST", "/users", {"name": "U%d" % n, "email": "u%d@example.com" % n})
    check(st == 201, "create user: %s %s" % (st, body))
    return body["id"]


def order(m, uid):
    st, body = m.call("POST", "/orders", {"user_id": uid, "items": ITEM})
    check(st == 201, "place order: %s %s" % (st, body))
    return body["id"]


def statuses(m, uid):
    st, body = m.call("GET", "/orders?user_id=%d&limit=100" % uid)
    check(st == 200, "list orders: %s %s" % (st, body))
    return [o["status"] for o in body["items"]]


def all_cancelled(m, uid):
    s = statuses(m, uid)
    return s and all(x == "cancelled" for x in s)


def inbox(data):
    return query(data / "orders.db",
                 "SELECT event_id FROM mitos_inbox WHERE subscriber = 'orders'")


def case_flow(binary, work):
    data = work / "data"
    m = Mitos(binary, work, "mono", data)
    a, b = user(m, 1), user(m, 2)
    for _ in range(3):
        order(m, a)
    order(m, b)
    st, _ = m.call("DELETE", "/users/%d" % a)
    check(st == 204, "delete user: %s" % st)
    eventually("user %d's orders cancelled" % a, lambda: all_cancelled(m, a))
    check(statuses(m, b) == ["placed"], "another user's order changed: %s" % statuses(m, b))
    # The user is gone: no order for it, now or later.
    st, body = m.call("POST", "/orders", {"user_id": a, "items": ITEM})
    check(st == 422 and body["errors"][0]["field"] == "user_id",
          "order for a deleted user: %s %s" % (st, body))
    st, body = m.call("POST", "/orders", {"user_id": 999, "items": ITEM})
    check(st == 422, "order for a user that never existed: %s %s" % (st, body))
    eventually("the effect counted", lambda: m.metric(EFFECTS, **SUB) == 1)
    check(len(inbox(data)) == 1, "inbox rows: %s" % inbox(data))
    st, health = m.call("GET", "/health")
    check(health["events"]["outboxes"]["users"] == {"pending": 0, "dead": 0,
                                                    "oldest_pending_age_seconds": 0},
          "health: %s" % health["events"])
    m.stop()
    print("ok: deleting user %d cancelled its 3 orders once; user %d's stayed" % (a, b))


def case_producer_killed(binary, work):
    data = work / "data"
    # The outbox holds the event past the kill: it is committed, not yet
    # dispatched.
    m = Mitos(binary, work, "first", data, "--set", "events.dispatch_delay_ms=600000")
    a = user(m, 1)
    ids = [order(m, a) for _ in range(5)]
    st, _ = m.call("DELETE", "/users/%d" % a)
    check(st == 204, "delete user: %s" % st)
    st, health = m.call("GET", "/health")
    check(health["events"]["outboxes"]["users"]["pending"] == 1,
          "the event is not in the outbox: %s" % health["events"])
    check(statuses(m, a) == ["placed"] * 5, "delivered before the kill")
    m.kill()
    check(query(data / "users.db", "SELECT count(*) FROM mitos_outbox")[0][0] == 1,
          "the outbox lost the event with the process")
    m = Mitos(binary, work, "second", data)
    eventually("orders cancelled after the restart", lambda: all_cancelled(m, a))
    eventually("the outbox drained",
               lambda: query(data / "users.db", "SELECT count(*) FROM mitos_outbox")[0][0] == 0)
    check(m.metric(EFFECTS, **SUB) == 1, "effects: %s" % m.metric(EFFECTS, **SUB))
    check(len(inbox(data)) == 1, "inbox rows: %s" % inbox(data))
    m.stop()
    print("ok: SIGKILL after the commit; after the restart the %d orders were "
          "cancelled by one effect" % len(ids))


def case_duplicates(binary, work):
    data = work / "data"
    m = Mitos(binary, work, "mono", data)
    users = [user(m, n) for n in range(1, 6)]
    for u in users:
        order(m, u)
    for u in users:
        check(m.call("DELETE", "/users/%d" % u)[0] == 204, "delete %d" % u)
    eventually("5 effects", lambda: m.metric(EFFECTS, **SUB) == 5)
    # Each event again, three times over, as a second relay or a crash
    # between the consumer's and the producer's commits would deliver it.
    ids = [r[0] for r in inbox(data)]
    check(len(ids) == 5, "inbox: %s" % ids)
    updated = query(data / "orders.db", "SELECT id, updated_at FROM orders ORDER BY id")
    for i, event_id in enumerate(ids):
        for copy in range(3):
            execute(data / "users.db",
                    "INSERT INTO mitos_outbox (id, type, key, payload, created_ms) "
                    "VALUES (?, 'users.UserDeleted', ?, ?, 0) ON CONFLICT (id) DO NOTHING",
                    event_id, str(users[i]),
                    json.dumps({"id": users[i], "deleted_at": "2026-01-01T00:00:00.000Z"}))
            eventually("duplicate delivered",
                       lambda: query(data / "users.db",
                                     "SELECT count(*) FROM mitos_outbox")[0][0] == 0)
    eventually("15 duplicates seen", lambda: m.metric(DUPLICATES, **SUB) == 15)
    check(m.metric(EFFECTS, **SUB) == 5, "effects: %s" % m.metric(EFFECTS, **SUB))
    check(len(inbox(data)) == 5, "inbox rows: %s" % inbox(data))
    check(query(data / "orders.db", "SELECT id, updated_at FROM orders ORDER BY id") == updated,
          "a duplicate changed an order")
    m.stop()
    print("ok: 15 duplicates of 5 events, 5 effects")


def run_cli(binary, data, *args):
    p = subprocess.run([binary, "events", *args, "--data-dir", str(data)],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def case_dead_letters(binary, work):
    data = work / "data"
    m = Mitos(binary, work, "mono", data, "--set", "events.max_attempts=2",
              "--set", "events.backoff_base_ms=10", "--set", "events.backoff_max_ms=20")
    a = user(m, 1)
    order(m, a)
    # An event that no subscriber can read, beside a good one of the same key.
    execute(data / "users.db",
            "INSERT INTO mitos_outbox (id, type, key, payload, created_ms) "
            "VALUES ('badbadbadbadbadbadbadbadbadbad00', 'users.UserDeleted', ?, "
            "'{\"id\":\"not a number\"}', 0)", str(a))
    check(m.call("DELETE", "/users/%d" % a)[0] == 204, "delete")
    eventually("the poison event dead", lambda: m.call("GET", "/health")[1]["events"]
               ["outboxes"]["users"]["dead"] == 1)
    eventually("the good event, behind it, delivered", lambda: all_cancelled(m, a))
    check(m.metric("mitos_events_outbox_events", module="users", state="dead") == 1,
          "dead metric")
    check(m.metric("mitos_events_dead_lettered_total", module="users") == 1,
          "dead-lettered counter")
    rc, out = run_cli(binary, data, "list")
    check(rc == 0 and "badbadbadbadbadbadbadbadbadbad00" in out and "id: must be an integer" in out,
          "events list: %d %s" % (rc, out))
    rc, out = run_cli(binary, data, "list", "--json")
    check(rc == 0 and json.loads(out)[0]["attempts"] == 2, "events list --json: %s" % out)
    rc, out = run_cli(binary, data, "retry", "badbadbadbadbadbadbadbadbadbad00")
    check(rc == 0 and "retrying" in out, "events retry: %d %s" % (rc, out))
    eventually("dead again after its retries", lambda: json.loads(
        run_cli(binary, data, "list", "--json")[1]) and m.metric(
        "mitos_events_dead_lettered_total", module="users") == 2)
    rc, out = run_cli(binary, data, "drop", "badbadbadbadbadbadbadbadbadbad00")
    check(rc == 0 and "dropped" in out, "events drop: %d %s" % (rc, out))
    rc, out = run_cli(binary, data, "list")
    check(rc == 0 and "no dead-lettered events" in out, "list after drop: %s" % out)
    rc, out = run_cli(binary, data, "drop", "badbadbadbadbadbadbadbadbadbad00")
    check(rc == 1 and "no dead-lettered event badbad" in out, "drop again: %d %s" % (rc, out))
    rc, out = run_cli(binary, data, "list", "--module", "nope")
    check(rc == 2 and "unknown module" in out, "unknown module: %d %s" % (rc, out))
    rc, out = run_cli(binary, work / "empty", "list")
    check(rc == 1 and "no module database" in out, "empty data dir: %d %s" % (rc, out))
    eventually("health back to no dead events",
               lambda: m.call("GET", "/health")[1]["events"]["outboxes"]["users"]["dead"] == 0)
    check(m.metric(EFFECTS, **SUB) == 1, "effects: %s" % m.metric(EFFECTS, **SUB))
    m.stop()
    print("ok: a poison event dead-lettered, listed, retried and dropped; the "
          "good one had its effect once")


def main():
    binary, case = sys.argv[1], sys.argv[2]
    work = pathlib.Path(tempfile.mkdtemp(prefix="mitos-events-"))
    try:
        {"flow": case_flow, "producer_killed": case_producer_killed,
         "duplicates": case_duplicates, "dead_letters": case_dead_letters}[case](binary, work)
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
