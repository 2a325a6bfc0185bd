"""Events between modules, black-box: deleting a user cancels that user's
placed orders (users.UserDeleted, handled by orders). In the monolith the
event goes through the instance's bus; on --postgres, through the outbox
and inbox tables of the modules' PostgreSQL databases. The split has no
NATS here (tests/events/split_test.py covers it), so it is skipped."""

import time

import pytest

ITEMS = [{"sku": "BOOK-1", "quantity": 1, "unit_price_cents": 500}]


@pytest.fixture
def monolith(topology):
    if topology.kind != "monolith":
        pytest.skip("events across processes need NATS (tests/events)")


def place(client, user_id):
    r = client.post("/orders", json={"user_id": user_id, "items": ITEMS})
    assert r.status_code == 201, r.text
    return r.json()


def test_deleting_a_user_cancels_its_placed_orders(monolith, client, make_user):
    gone = make_user(name="Leaving")
    stays = make_user(name="Staying")
    orders = [place(client, gone["id"]) for _ in range(3)]
    kept = place(client, stays["id"])
    assert client.post("/orders/%d/cancel" % orders[0]["id"]).status_code == 200

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
