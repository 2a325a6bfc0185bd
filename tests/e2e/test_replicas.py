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
        own = Client(replicated.base_url)
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
