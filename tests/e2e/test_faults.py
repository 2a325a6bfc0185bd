"""What clients see when the users service dies, comes back, or hangs.

Split topology only: orders reaches users through the stall proxy; clients
talk to the gateway. Time bounds are bounds for failure (the configured
deadline plus slack), not benchmarks.
"""

import time

import pytest
import requests

from helpers import (BREAKER_OPEN_MS, REQUEST_DEADLINE_MS, Client, assert_problem,
                     poll, request_id, timed, walk)

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("fault_env")]

ANSWER_WITHIN_S = REQUEST_DEADLINE_MS / 1000.0 + 1.0   # deadline + slack
RECOVER_WITHIN_S = 15.0
MAX_TRIES_TO_OPEN = 20
ITEMS = [{"sku": "FAULT-1", "quantity": 1, "unit_price_cents": 100}]


def order_body(user_id):
    return {"user_id": user_id, "items": ITEMS}


def breaker(orders_url):
    """orders' view of users: "closed", "open" or "half_open"."""
    r = requests.get(orders_url + "/health", timeout=5)
    assert r.status_code in (200, 503), r.text
    health = r.json()
    assert "remotes" in health and "users" in health["remotes"], health
    users = health["remotes"]["users"]
    assert isinstance(users.get("url"), str) and users["url"], users
    assert users.get("breaker") in ("closed", "open", "half_open"), users
    return users["breaker"]


def count_orders(client, user_id):
    items, _ = walk(client, "/orders", {"user_id": user_id}, limit=100)
    return len(items)


@pytest.fixture
def direct(split, orders_url):
    """A client of the orders instance itself: what it has stored, whatever
    the gateway thinks of it."""
    c = split.service_client(orders_url)
    yield c
    c.close()


def place_until_created(client, user_id, within=RECOVER_WITHIN_S):
    """Polls POST /orders until a 201; returns the last response."""
    last = []

    def attempt():
        try:
            r = client.post("/orders", json=order_body(user_id), timeout=ANSWER_WITHIN_S + 5)
        except requests.RequestException as e:
            last.append(e)
            return False
        last.append(r)
        return r.status_code == 201

    poll(attempt, within, interval=0.25)
    return last[-1]


def assert_recovered(client, orders_url, user_id):
    r = place_until_created(client, user_id)
    assert isinstance(r, requests.Response) and r.status_code == 201, (
        "POST /orders did not succeed within %.0f s: %s"
        % (RECOVER_WITHIN_S, getattr(r, "text", r)))
    state = poll(lambda: breaker(orders_url) == "closed", RECOVER_WITHIN_S)
    assert state, "breaker is %r, expected closed" % breaker(orders_url)


@pytest.fixture
def place_order(client):
    def place(user_id):
        r = client.post("/orders", json=order_body(user_id))
        assert r.status_code == 201, r.text
        return r.json()
    return place


@pytest.fixture
def healthy(client, make_user, orders_url):
    """A user, with users reachable and orders' breaker closed."""
    user = make_user(name="Fault Tester")
    assert_recovered(client, orders_url, user["id"])
    return user


def open_breaker_with_users_down(client, orders_url, user_id):
    """Posts orders while users is dead until orders' breaker opens. Each
    must be a quick 503. Returns how many were sent."""
    for n in range(1, MAX_TRIES_TO_OPEN + 1):
        rid = request_id()
        r, took = timed(client.post, "/orders", json=order_body(user_id),
                        headers={"X-Request-Id": rid}, timeout=ANSWER_WITHIN_S + 10)
        assert took < ANSWER_WITHIN_S, "503 took %.2f s" % took
        assert_problem(r, 503)
        assert r.headers.get("X-Request-Id") == rid
        if breaker(orders_url) == "open":
            return n
    pytest.fail("breaker not open after %d failed calls (now %r)"
                % (MAX_TRIES_TO_OPEN, breaker(orders_url)))


def test_users_killed_gives_quick_503_and_opens_the_breaker(
        client, direct, healthy, orders_url, kill_users):
    before = count_orders(direct, healthy["id"])
    kill_users()
    sent = open_breaker_with_users_down(client, orders_url, healthy["id"])
    # With the breaker open, calls fail fast and still write nothing.
    for _ in range(3):
        r, took = timed(client.post, "/orders", json=order_body(healthy["id"]),
                        timeout=ANSWER_WITHIN_S + 10)
        assert took < ANSWER_WITHIN_S, "503 took %.2f s" % took
        assert_problem(r, 503)
    assert count_orders(direct, healthy["id"]) == before, (
        "orders were written for %d failed requests" % (sent + 3))
    # Operators see it in orders' metrics and introspection too.
    metrics = requests.get(orders_url + "/metrics", timeout=5).text
    assert 'mitos_remote_breaker_state{remote="users",state="open"} 1' in metrics
    assert 'mitos_remote_breaker_state{remote="users",state="closed"} 0' in metrics
    errors = [line for line in metrics.splitlines()
              if line.startswith("mitos_module_call_errors_total{")
              and 'callee="users"' in line and 'code="unavailable"' in line]
    assert errors and float(errors[0].rsplit(" ", 1)[1]) >= 1, errors
    transitions = [line for line in metrics.splitlines()
                   if line.startswith('mitos_remote_breaker_transitions_total{remote="users"}')]
    assert transitions and float(transitions[0].rsplit(" ", 1)[1]) >= 1, transitions
    modules = requests.get(orders_url + "/modules", timeout=5).json()
    users = [m for m in modules["modules"] if m["name"] == "users"]
    assert users and users[0]["breaker"] == "open", modules


def test_orders_reads_work_while_users_is_down(
        client, healthy, place_order, orders_url, kill_users):
    # Reading orders does not need users; failed writes must not take the
    # reads down with them (through the gateway).
    order = place_order(healthy["id"])
    kill_users()
    open_breaker_with_users_down(client, orders_url, healthy["id"])
    for _ in range(3):
        client.post("/orders", json=order_body(healthy["id"]), timeout=ANSWER_WITHIN_S + 10)
    r = client.get("/orders/%d" % order["id"])
    assert r.status_code == 200, "GET /orders/{id} with users down: %d %s" % (
        r.status_code, r.text)
    r = client.get("/orders", params={"user_id": healthy["id"]})
    assert r.status_code == 200, "GET /orders?user_id with users down: %d %s" % (
        r.status_code, r.text)
    assert order in r.json()["items"]


def test_users_restarted_recovers_without_restarting_orders_or_gateway(
        client, direct, split, healthy, orders_url, kill_users, restart_users):
    pids = {n: split.procs[n].popen.pid for n in ("orders", "gateway")}
    kill_users()
    open_breaker_with_users_down(client, orders_url, healthy["id"])
    before = count_orders(direct, healthy["id"])
    restart_users()
    t0 = time.monotonic()
    r = place_until_created(client, healthy["id"])
    assert isinstance(r, requests.Response) and r.status_code == 201, (
        "no 201 within %.0f s of users restarting: %s"
        % (RECOVER_WITHIN_S, getattr(r, "text", r)))
    assert time.monotonic() - t0 < RECOVER_WITHIN_S + ANSWER_WITHIN_S
    assert r.json()["user_id"] == healthy["id"]
    assert poll(lambda: breaker(orders_url) == "closed", RECOVER_WITHIN_S), (
        "breaker is %r after recovery" % breaker(orders_url))
    assert count_orders(direct, healthy["id"]) == before + 1
    for n, pid in pids.items():
        assert split.procs[n].alive() and split.procs[n].popen.pid == pid, n


def test_breaker_half_opens_after_its_open_time(client, healthy, orders_url, kill_users):
    kill_users()
    open_breaker_with_users_down(client, orders_url, healthy["id"])
    # Without traffic the breaker stays open for its open time, then lets a
    # probe through; with users still down that probe fails (503) and the
    # breaker opens again.
    time.sleep(BREAKER_OPEN_MS / 1000.0 + 0.5)
    assert breaker(orders_url) in ("open", "half_open")
    r, took = timed(client.post, "/orders", json=order_body(healthy["id"]),
                    timeout=ANSWER_WITHIN_S + 10)
    assert took < ANSWER_WITHIN_S
    assert_problem(r, 503)
    assert breaker(orders_url) == "open"


def test_users_slow_gives_504_within_the_deadline_and_writes_nothing(
        client, direct, healthy, orders_url, stall):
    before = count_orders(direct, healthy["id"])
    stall(True)
    rid = request_id()
    t0 = time.monotonic()
    r = client.post("/orders", json=order_body(healthy["id"]),
                    headers={"X-Request-Id": rid}, timeout=ANSWER_WITHIN_S + 10)
    took = time.monotonic() - t0
    assert took < ANSWER_WITHIN_S, "504 took %.2f s" % took
    assert_problem(r, 504)
    assert r.headers.get("X-Request-Id") == rid
    # Reads of orders do not need users and still work.
    assert count_orders(client, healthy["id"]) == before
    # Users is slow, not dead: it answers a moment after the client was
    # told 504. That late answer must not turn into an order.
    time.sleep(0.3)
    stall(False)
    time.sleep(max(0.0, t0 + REQUEST_DEADLINE_MS / 1000.0 + 0.5 - time.monotonic()))
    assert count_orders(direct, healthy["id"]) == before, (
        "an order was written for the request answered %d after %.2f s"
        % (r.status_code, took))
    assert_recovered(client, orders_url, healthy["id"])
    assert count_orders(direct, healthy["id"]) == before + 1


def test_remote_health_names_the_users_url(orders_url, split):
    r = requests.get(orders_url + "/health", timeout=5)
    assert r.status_code == 200, r.text
    users = r.json()["remotes"]["users"]
    assert users["url"].rstrip("/") == split.proxy.url
