"""The orders API, black-box. In the split topology every request here
crosses gateway -> orders, and placing an order also orders -> users."""

import pytest

from helpers import (assert_increasing_ids, assert_problem, assert_timestamps,
                     request_id, traceparent, walk)

JSON = {"Content-Type": "application/json"}
TWO_MIB = 2 * 1024 * 1024
NO_SUCH_USER = 10**15
NO_SUCH_ORDER = 10**15
ITEMS = [{"sku": "BOOK-1", "quantity": 2, "unit_price_cents": 1250},
         {"sku": "PEN-9", "quantity": 1, "unit_price_cents": 199}]


@pytest.fixture
def user(make_user):
    return make_user(name="Buyer")


@pytest.fixture
def place(client):
    """place(user_id, items=ITEMS) -> the order (201 asserted)."""
    def do(user_id, items=ITEMS):
        r = client.post("/orders", json={"user_id": user_id, "items": items})
        assert r.status_code == 201, r.text
        return r.json()
    return do


def total(items):
    return sum(i["quantity"] * i["unit_price_cents"] for i in items)


# --- place and read ---------------------------------------------------------------


def test_place_returns_201_location_and_the_order(client, user):
    r = client.post("/orders", json={"user_id": user["id"], "items": ITEMS})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    order = r.json()
    assert set(order) == {"id", "user_id", "items", "total_cents", "status",
                          "created_at", "updated_at"}, order
    assert isinstance(order["id"], int) and order["id"] > 0
    assert order["user_id"] == user["id"]
    assert order["items"] == ITEMS
    assert order["total_cents"] == total(ITEMS) == 2699
    assert order["status"] == "placed"
    assert_timestamps(order)
    assert r.headers["Location"] == "/orders/%d" % order["id"]


def test_get_returns_what_place_returned(client, user, place):
    order = place(user["id"])
    r = client.get("/orders/%d" % order["id"])
    assert r.status_code == 200, r.text
    assert r.json() == order


@pytest.mark.parametrize("raw", ["0", "abc", "-1", "1.5", str(NO_SUCH_ORDER)])
def test_get_unknown_or_malformed_id_is_404(client, raw):
    assert_problem(client.get("/orders/" + raw), 404)


def test_place_accepts_the_bounds(client, user, place):
    items = [{"sku": "S" * 64, "quantity": 1000, "unit_price_cents": 10**9},
             {"sku": "F", "quantity": 1, "unit_price_cents": 0}]
    order = place(user["id"], items)
    assert order["items"] == items
    assert order["total_cents"] == 1000 * 10**9
    many = [{"sku": "SKU-%d" % i, "quantity": 1, "unit_price_cents": i} for i in range(50)]
    order = place(user["id"], many)
    assert order["items"] == many  # in the order given
    assert order["total_cents"] == sum(range(50))


# --- place: every error -------------------------------------------------------------


def item(**kw):
    return dict({"sku": "A", "quantity": 1, "unit_price_cents": 1}, **kw)


@pytest.mark.parametrize("body,bad", [
    ({"items": [item()]}, "user_id"),                               # missing user_id
    ({"user_id": "1", "items": [item()]}, "user_id"),                # wrong type
    ({"user_id": None, "items": [item()]}, "user_id"),
    ({"user_id": "@"}, "items"),                                     # missing items
    ({"user_id": "@", "items": []}, "items"),                        # too few
    ({"user_id": "@", "items": [item()] * 51}, "items"),             # too many
    ({"user_id": "@", "items": {"sku": "A"}}, "items"),              # not an array
    ({"user_id": "@", "items": [item(quantity=0)]}, "items"),
    ({"user_id": "@", "items": [item(quantity=1001)]}, "items"),
    ({"user_id": "@", "items": [item(quantity=-1)]}, "items"),
    ({"user_id": "@", "items": [item(quantity=1.5)]}, "items"),
    ({"user_id": "@", "items": [item(quantity="2")]}, "items"),
    ({"user_id": "@", "items": [item(unit_price_cents=-1)]}, "items"),
    ({"user_id": "@", "items": [item(unit_price_cents=10**9 + 1)]}, "items"),
    ({"user_id": "@", "items": [item(sku="")]}, "items"),
    ({"user_id": "@", "items": [item(sku="S" * 65)]}, "items"),
    ({"user_id": "@", "items": [item(sku=5)]}, "items"),
    ({"user_id": "@", "items": [{"sku": "A", "quantity": 1}]}, "items"),  # missing price
    ({"user_id": "@", "items": [item(colour="red")]}, "items"),      # unknown item field
    ({"user_id": "@", "items": ["A"]}, "items"),                     # item not an object
    ({"user_id": "@", "items": [item()], "coupon": "X"}, "coupon"),  # unknown field
    ({"user_id": "@", "items": [item()], "status": "cancelled"}, "status"),
])
def test_place_invalid_is_422(client, user, body, bad):
    body = {k: (user["id"] if v == "@" else v) for k, v in body.items()}
    before = count_orders(client, user["id"])
    assert_problem(client.post("/orders", json=body), 422, field=bad)
    assert count_orders(client, user["id"]) == before


def test_place_for_unknown_user_is_422_on_user_id(client):
    r = client.post("/orders", json={"user_id": NO_SUCH_USER, "items": ITEMS})
    assert_problem(r, 422, field="user_id")
    assert count_orders(client, NO_SUCH_USER) == 0


def test_place_for_deleted_user_is_422_on_user_id(client, user):
    assert client.delete("/users/%d" % user["id"]).status_code == 204
    r = client.post("/orders", json={"user_id": user["id"], "items": ITEMS})
    assert_problem(r, 422, field="user_id")
    assert count_orders(client, user["id"]) == 0


@pytest.mark.parametrize("body", ["{", "[]", "42", '"x"', "null"])
def test_place_malformed_or_non_object_json_is_400(client, body):
    assert_problem(client.post("/orders", data=body, headers=JSON), 400)


def test_place_non_json_is_415(client, user):
    body = '{"user_id": %d, "items": [{"sku":"A","quantity":1,"unit_price_cents":1}]}' % user["id"]
    r = client.post("/orders", data=body, headers={"Content-Type": "text/plain"})
    assert_problem(r, 415)


def test_place_body_over_1_mib_is_413(client, user):
    body = '{"user_id": %d, "items": [{"sku": "%s", "quantity": 1, "unit_price_cents": 1}]}' % (
        user["id"], "x" * TWO_MIB)
    assert_problem(client.post("/orders", data=body, headers=JSON), 413)


# --- list -------------------------------------------------------------------------


def count_orders(client, user_id):
    items, _ = walk(client, "/orders", {"user_id": user_id}, limit=100)
    assert all(o["user_id"] == user_id for o in items)
    return len(items)


def test_list_by_user_walks_every_page(client, make_user, place):
    a, b = make_user(), make_user()
    mine = []
    for i in range(5):
        mine.append(place(a["id"], [item(sku="A-%d" % i)]))
        place(b["id"])   # interleaved orders of another user
    items, pages = walk(client, "/orders", {"user_id": a["id"]}, limit=2)
    assert items == mine
    assert pages >= 3
    items, pages = walk(client, "/orders", {"user_id": a["id"]}, limit=5)
    assert items == mine


def test_list_default_limit_is_20(client, user, place):
    orders = [place(user["id"], [item(sku="D-%d" % i)]) for i in range(21)]
    r = client.get("/orders", params={"user_id": user["id"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"items": orders[:20], "next_after": orders[19]["id"]}


def test_list_by_user_after(client, user, place):
    orders = [place(user["id"]) for _ in range(3)]
    r = client.get("/orders", params={"user_id": user["id"], "after": orders[0]["id"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"items": orders[1:], "next_after": None}


def test_list_of_user_without_orders_is_empty(client, user):
    r = client.get("/orders", params={"user_id": user["id"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [], "next_after": None}


def test_list_all_orders_default_page(client, user, place):
    place(user["id"])
    r = client.get("/orders")
    assert r.status_code == 200, r.text
    page = r.json()
    assert set(page) == {"items", "next_after"}
    assert 1 <= len(page["items"]) <= 20
    assert_increasing_ids(page["items"])


def test_list_all_orders_walks_every_page(client, user, place):
    order = place(user["id"])
    items, _ = walk(client, "/orders", {}, limit=100)
    assert_increasing_ids(items)
    assert order in items


@pytest.mark.parametrize("params,bad", [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "x"}, "limit"),
    ({"limit": "-5"}, "limit"), ({"after": "-1"}, "after"), ({"after": "x"}, "after"),
    ({"user_id": "abc"}, "user_id"), ({"user_id": "-1"}, "user_id"),
    ({"user_id": "1.5"}, "user_id"),
])
def test_list_bad_params_is_422(client, params, bad):
    assert_problem(client.get("/orders", params=params), 422, field=bad)


# --- cancel -----------------------------------------------------------------------


def test_cancel_then_cancel_again(client, user, place):
    order = place(user["id"])
    path = "/orders/%d/cancel" % order["id"]
    r = client.post(path)
    assert r.status_code == 200, r.text
    cancelled = r.json()
    assert cancelled["status"] == "cancelled"
    assert {k: v for k, v in cancelled.items() if k not in ("status", "updated_at")} == \
        {k: v for k, v in order.items() if k not in ("status", "updated_at")}
    assert cancelled["updated_at"] >= order["updated_at"]
    assert_timestamps(cancelled)
    again = client.post(path)
    assert again.status_code == 200, again.text
    assert again.json() == cancelled
    assert client.get("/orders/%d" % order["id"]).json() == cancelled


def test_cancel_unknown_is_404(client):
    for raw in (str(NO_SUCH_ORDER), "0", "abc"):
        assert_problem(client.post("/orders/%s/cancel" % raw), 404)


def test_compressed_response_is_decodable(client, user, place):
    order = place(user["id"])
    for method, path in [("GET", "/orders/%d" % order["id"]),
                         ("GET", "/orders?user_id=%d" % user["id"])]:
        r = client.request(method, path, headers={"Accept-Encoding": "gzip, deflate"},
                       stream=True)  # headers are checked before decoding
        assert r.status_code == 200
        encodings = [e.strip() for e in r.headers.get("Content-Encoding", "identity").split(",")]
        assert len(encodings) == 1, "Content-Encoding: %s" % r.headers.get("Content-Encoding")
        assert order in (r.json(), *r.json().get("items", []))


# --- methods, identity --------------------------------------------------------------


@pytest.mark.parametrize("method,path,allowed", [
    ("PUT", "/orders/1", "GET"), ("DELETE", "/orders/1", "GET"),
    ("DELETE", "/orders", "POST"), ("GET", "/orders/1/cancel", "POST"),
])
def test_wrong_method_is_405_with_allow(client, method, path, allowed):
    r = client.request(method, path)
    assert_problem(r, 405)
    allow = [m.strip() for m in r.headers.get("Allow", "").split(",")]
    assert allowed in allow, r.headers.get("Allow")
    assert method not in allow


def test_request_id_with_traceparent_crosses_hops(client, user):
    # POST /orders goes gateway -> orders -> users in the split topology.
    rid = request_id()
    headers = {"X-Request-Id": rid, "traceparent": traceparent()}
    r = client.post("/orders", json={"user_id": user["id"], "items": ITEMS}, headers=headers)
    assert r.status_code == 201, r.text
    assert r.headers.get("X-Request-Id") == rid
    for method, path in [("GET", "/orders/%d" % r.json()["id"]),
                         ("GET", "/orders?user_id=%d" % user["id"]),
                         ("POST", "/orders/%d/cancel" % r.json()["id"]),
                         ("GET", "/orders/0")]:
        got = client.request(method, path, headers=headers)
        assert got.headers.get("X-Request-Id") == rid, (method, path, got.status_code)


def test_request_id_is_echoed_on_a_remote_validation_error(client):
    rid = request_id()
    r = client.post("/orders", json={"user_id": NO_SUCH_USER, "items": ITEMS},
                    headers={"X-Request-Id": rid, "traceparent": traceparent()})
    assert_problem(r, 422, field="user_id")
    assert r.headers.get("X-Request-Id") == rid
