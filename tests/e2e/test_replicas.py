"""A module as several replicas behind the gateway (--topology split
--postgres URL --replicas 2): the gateway spreads the calls over them, and
when one is killed under load the other serves on."""

import threading
import time

import requests

from helpers import BREAKER_OPEN_MS, Client, poll, unique_email
from test_observability import scrape, value

LOAD_S = 4.0          # the whole load, the kill included
KILL_AFTER_S = 1.5    # into the load
MAX_FAILED = 0.01     # of the requests, at most


def served(proc):
    """GET /users/{id} answered 2xx by this replica so far."""
    return value(scrape(proc.url).text, "mitos_http_server_requests_total",
                 module="users", route="/users/{id}", method="GET",
                 status_class="2xx")


def test_the_gateway_spreads_reads_over_every_replica(replicated, client, make_user):
    user = make_user()
    replicas = replicated.procs_of("users")
    assert len(replicas) == replicated.replicas
    before = [served(p) for p in replicas]
    for _ in range(6 * len(replicas)):
        assert client.get("/users/%d" % user["id"]).status_code == 200
    gained = [served(p) - b for p, b in zip(replicas, before)]
    assert sum(gained) == 6 * len(replicas), gained
    assert all(g > 0 for g in gained), gained


def test_one_users_replica_killed_under_load_costs_under_one_percent(
        replicated, client, make_user):
    users = replicated.procs_of("users")
    victim = users[-1]
    user = make_user()
    stop = threading.Event()
    counts = {"ok": 0, "failed": 0}
    failures = []
    lock = threading.Lock()

    def load(n):
        own = Client(replicated.base_url, token=replicated.issuer.admin())
        i = 0
        while not stop.is_set():
            i += 1
            try:
                if i % 2:
                    r = own.get("/users/%d" % user["id"])
                    good = r.status_code == 200
                else:
                    r = own.post("/users", json={"name": "Load %d" % n,
                                                 "email": unique_email("rk%d" % n)})
                    good = r.status_code == 201
                what = "%s %d" % (r.request.method, r.status_code)
            except requests.RequestException as e:
                good, what = False, repr(e)
            with lock:
                counts["ok" if good else "failed"] += 1
                if not good:
                    failures.append(what)

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(KILL_AFTER_S)
        victim.kill()
        time.sleep(LOAD_S - KILL_AFTER_S)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    try:
        total = counts["ok"] + counts["failed"]
        assert total >= 200, counts  # enough load for 1% to mean something
        assert counts["failed"] <= MAX_FAILED * total, (counts, failures[:10])
        # The survivors kept serving after the kill.
        assert client.get("/users/%d" % user["id"]).status_code == 200
    finally:
        victim.start(port=victim.port)
    # Back, it is called again once its breakers let a probe through.
    before = served(victim)

    def again():
        client.get("/users/%d" % user["id"])
        return served(victim) > before
    assert poll(again, timeout=BREAKER_OPEN_MS / 1000.0 * 5 + 5), \
        "the restarted replica got no calls"


def test_a_users_replica_stopped_under_load_drains_and_exits_zero(
        replicated, client, make_user):
    """A rollout or a node drain: SIGTERM to one replica while the gateway
    keeps calling it. Through the drain delay it still serves (closing each
    connection after its response), then it refuses new connections,
    finishes what it has and exits 0 well within shutdown.timeout_ms. The
    gateway moves reads that find it gone to the other replica; a write it
    could not send there fails (writes are never sent to a second replica),
    which must stay rare. Behind a Kubernetes Service none reaches it: the
    endpoint is removed as the drain begins."""
    users = replicated.procs_of("users")
    victim = users[-1]
    victim.stop()
    victim.sets = ["shutdown.drain_delay_ms=1500", "shutdown.timeout_ms=10000"]
    victim.start(port=victim.port)
    user = make_user()
    # A user deleted, as the suite does: its event waits in the outbox.
    gone = make_user()
    assert client.delete("/users/%d" % gone["id"]).status_code == 204
    stop = threading.Event()
    counts = {"ok": 0, "failed": 0}
    failures = []
    lock = threading.Lock()

    def load(n):
        own = Client(replicated.base_url, token=replicated.issuer.admin())
        i = 0
        while not stop.is_set():
            i += 1
            try:
                if i % 3 == 0:
                    r = own.post("/users", json={"name": "Stop %d" % n,
                                                 "email": unique_email("st%d" % n)})
                    good = r.status_code == 201
                elif i % 3 == 1:
                    r = own.get("/users/%d" % user["id"])
                    good = r.status_code == 200
                else:
                    r = own.get("/users?limit=1")
                    good = r.status_code == 200
                what = "%s %d" % (r.request.method, r.status_code)
            except requests.RequestException as e:
                good, what = False, repr(e)
            with lock:
                counts["ok" if good else "failed"] += 1
                if not good:
                    failures.append(what)

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    status = "not stopped"
    started = time.monotonic()
    try:
        time.sleep(1.0)
        status = victim.terminate(timeout=9)
        took = time.monotonic() - started - 1.0
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        victim.sets = []
        tail = victim.tail(20)
        victim.start(port=victim.port)
    assert status == 0, "exit status %s after SIGTERM\n%s" % (status, tail)
    assert took < 1.5 + 3.0, took  # the drain delay, then a prompt stop
    assert counts["ok"] >= 100, counts
    assert counts["failed"] <= MAX_FAILED * counts["ok"], (counts, failures[:10])
    assert all(f == "POST 503" for f in failures), failures[:10]
