"""Events between modules, black-box: deleting a user cancels that user's
placed orders (users.UserDeleted, handled by orders). In the monolith the
event goes through the instance's bus; split, through users' outbox, the
relay, NATS JetStream (--nats) and orders' durable consumer, replicas
sharing it; on --postgres, the outbox and inbox are tables of the modules'
PostgreSQL databases. A split without --nats has no path for events, so
the test is skipped there (tests/events covers the faults)."""

import re
import time

import pytest
import requests

ITEMS = [{"sku": "BOOK-1", "quantity": 1, "unit_price_cents": 500}]


@pytest.fixture
def delivers_events(topology):
    if topology.kind == "external":
        pytest.skip("the deployment's broker is not the suite's to know")
    if topology.kind == "split" and not topology.nats:
        pytest.skip("events across processes need NATS (--nats)")


def effects(topology):
    """users.UserDeleted effects orders counted, over all its processes."""
    total = 0.0
    for p in topology.procs_of("orders"):
        text = requests.get(p.url + "/metrics", timeout=5).text
        for m in re.finditer(r'^mitos_events_effects_total\{([^}]*)\} (\S+)$', text, re.M):
            if 'subscriber="orders"' in m.group(1) and 'type="users.UserDeleted"' in m.group(1):
                total += float(m.group(2))
    return total


def place(client, user_id):
    r = client.post("/orders", json={"user_id": user_id, "items": ITEMS})
    assert r.status_code == 201, r.text
    return r.json()


def test_deleting_a_user_cancels_its_placed_orders(delivers_events, topology, client,
                                                    make_user):
    gone = make_user(name="Leaving")
    stays = make_user(name="Staying")
    orders = [place(client, gone["id"]) for _ in range(3)]
    kept = place(client, stays["id"])
    assert client.post("/orders/%d/cancel" % orders[0]["id"]).status_code == 200

    before = effects(topology)
    assert client.delete("/users/%d" % gone["id"]).status_code == 204

    deadline = time.monotonic() + 20
    while True:
        statuses = [client.get("/orders/%d" % o["id"]).json()["status"]
                    for o in orders]
        if statuses == ["cancelled"] * 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert statuses == ["cancelled"] * 3
    assert client.get("/orders/%d" % kept["id"]).json()["status"] == "placed"
    # One effect, in one process: a replica's repeat would count again.
    time.sleep(0.5)
    assert effects(topology) - before == 1
