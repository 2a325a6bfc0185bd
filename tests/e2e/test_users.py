"""The users API, probes and cross-cutting HTTP behaviour, black-box."""

import pytest
import requests

from helpers import (assert_increasing_ids, assert_problem, assert_timestamps,
                     request_id, traceparent, unique_email, walk)

JSON = {"Content-Type": "application/json"}
TWO_MIB = 2 * 1024 * 1024


# --- create and read -------------------------------------------------------------


def test_create_returns_201_location_and_the_user(client):
    email = unique_email()
    r = client.post("/users", json={"name": "Ada Lovelace", "email": email})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    user = r.json()
    assert set(user) == {"id", "name", "email", "created_at", "updated_at"}, user
    assert isinstance(user["id"], int) and user["id"] > 0
    assert user["name"] == "Ada Lovelace"
    assert user["email"] == email
    assert_timestamps(user)
    assert r.headers["Location"] == "/users/%d" % user["id"]
    assert r.headers.get("X-Request-Id")


def test_get_returns_what_create_returned(client, make_user):
    user = make_user()
    r = client.get("/users/%d" % user["id"])
    assert r.status_code == 200, r.text
    assert r.json() == user


@pytest.mark.parametrize("raw", ["0", "abc", "-1", "1.5", "999999999999"])
def test_get_unknown_or_malformed_id_is_404(client, raw):
    assert_problem(client.get("/users/" + raw), 404)


# --- create: every error -----------------------------------------------------------


@pytest.mark.parametrize("body", ['{"name": "A", "email": ', "{nope}", "", "[]",
                                  '"a string"', "42", "null", "true"])
def test_create_malformed_or_non_object_json_is_400(client, body):
    assert_problem(client.post("/users", data=body, headers=JSON), 400)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "application/xml"])
def test_create_non_json_content_type_is_415(client, ctype):
    body = '{"name": "A", "email": "%s"}' % unique_email()
    assert_problem(client.post("/users", data=body, headers={"Content-Type": ctype}), 415)


@pytest.mark.parametrize("fields,bad", [
    ({"email": "@"}, "name"),                       # missing name
    ({"name": "A"}, "email"),                       # missing email
    ({"name": "", "email": "@"}, "name"),           # empty name
    ({"name": "   ", "email": "@"}, "name"),        # blank name
    ({"name": "x" * 101, "email": "@"}, "name"),    # name too long
    ({"name": 7, "email": "@"}, "name"),            # wrong type
    ({"name": None, "email": "@"}, "name"),         # null
    ({"name": "A", "email": "not-an-email"}, "email"),
    ({"name": "A", "email": 12}, "email"),
    ({"name": "A", "email": "@", "age": 3}, "age"),  # unknown field
    ({"name": "A", "email": "@", "id": 5}, "id"),    # unknown (read-only) field
])
def test_create_invalid_field_is_422(client, fields, bad):
    body = {k: (unique_email() if v == "@" else v) for k, v in fields.items()}
    assert_problem(client.post("/users", json=body), 422, field=bad)


def test_create_duplicate_email_is_409_regardless_of_case(client, make_user):
    user = make_user()
    for email in (user["email"], user["email"].upper()):
        r = client.post("/users", json={"name": "Other", "email": email})
        assert_problem(r, 409)


def test_body_over_1_mib_is_413(client):
    body = '{"name": "%s", "email": "%s"}' % ("x" * TWO_MIB, unique_email())
    assert_problem(client.post("/users", data=body, headers=JSON), 413)


def test_body_just_under_1_mib_is_not_413(client):
    # Within the limit the request is parsed and judged on its fields.
    body = '{"name": "%s", "email": "%s"}' % ("x" * (1024 * 1024 - 200), unique_email())
    assert_problem(client.post("/users", data=body, headers=JSON), 422, field="name")


# --- list ------------------------------------------------------------------------


def test_list_default_page(client, make_user):
    make_user()
    r = client.get("/users")
    assert r.status_code == 200, r.text
    page = r.json()
    assert set(page) == {"items", "next_after"}, page
    assert 1 <= len(page["items"]) <= 20
    assert_increasing_ids(page["items"])
    if page["next_after"] is not None:
        assert len(page["items"]) == 20


def test_list_default_limit_is_20(client, make_user):
    created = [make_user(name="Default %d" % i) for i in range(21)]
    r = client.get("/users", params={"after": created[0]["id"] - 1})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["items"] == created[:20]
    assert page["next_after"] == created[19]["id"]


def test_list_walks_every_page_of_new_users(client, make_user):
    created = [make_user(name="Page %d" % i) for i in range(7)]
    ids = [u["id"] for u in created]
    items, pages = walk(client, "/users", {"after": ids[0] - 1}, limit=2)
    assert_increasing_ids(items)
    assert pages >= 4
    got = {u["id"]: u for u in items}
    for u in created:
        assert got.get(u["id"]) == u


def test_list_walks_everything_from_the_start(client, make_user):
    user = make_user()
    items, _ = walk(client, "/users", {}, limit=100)
    assert_increasing_ids(items)
    assert user in items


def test_list_after_last_is_empty(client, make_user):
    user = make_user()
    items, pages = walk(client, "/users", {"after": user["id"] + 10**9}, limit=5)
    assert items == [] and pages == 1


@pytest.mark.parametrize("limit", ["1", "100"])
def test_list_limit_bounds_are_accepted(client, limit):
    r = client.get("/users", params={"limit": limit})
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) <= int(limit)


@pytest.mark.parametrize("params,bad", [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "-1"}, "limit"),
    ({"limit": "abc"}, "limit"), ({"limit": "1.5"}, "limit"), ({"limit": ""}, "limit"),
    ({"after": "-1"}, "after"), ({"after": "abc"}, "after"), ({"after": "1e3"}, "after"),
])
def test_list_bad_paging_is_422(client, params, bad):
    assert_problem(client.get("/users", params=params), 422, field=bad)


# --- update ------------------------------------------------------------------------


def test_patch_name_keeps_email(client, make_user):
    user = make_user(name="Before")
    r = client.patch("/users/%d" % user["id"], json={"name": "After"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["id"] == user["id"] and got["name"] == "After"
    assert got["email"] == user["email"]
    assert got["created_at"] == user["created_at"]
    assert got["updated_at"] >= user["updated_at"]
    assert_timestamps(got)
    assert client.get("/users/%d" % user["id"]).json() == got


def test_patch_email(client, make_user):
    user = make_user()
    email = unique_email("new")
    r = client.patch("/users/%d" % user["id"], json={"email": email})
    assert r.status_code == 200, r.text
    assert r.json()["email"] == email and r.json()["name"] == user["name"]


def test_patch_unknown_user_is_404(client):
    for raw in ("999999999999", "0", "abc", "-1"):
        assert_problem(client.patch("/users/" + raw, json={"name": "X"}), 404)


def test_patch_to_used_email_is_409(client, make_user):
    a, b = make_user(), make_user()
    for email in (a["email"], a["email"].upper()):
        assert_problem(client.patch("/users/%d" % b["id"], json={"email": email}), 409)
    assert client.get("/users/%d" % b["id"]).json() == b


def test_patch_non_json_is_415(client, make_user):
    user = make_user()
    r = client.patch("/users/%d" % user["id"], data='{"name": "X"}',
                     headers={"Content-Type": "text/plain"})
    assert_problem(r, 415)


def test_patch_malformed_json_is_400(client, make_user):
    user = make_user()
    assert_problem(client.patch("/users/%d" % user["id"], data="{", headers=JSON), 400)


@pytest.mark.parametrize("fields,bad", [
    ({"name": ""}, "name"), ({"name": 1}, "name"), ({"email": "nope"}, "email"),
    ({"nickname": "x"}, "nickname"),
])
def test_patch_invalid_is_422(client, make_user, fields, bad):
    user = make_user()
    assert_problem(client.patch("/users/%d" % user["id"], json=fields), 422, field=bad)
    assert client.get("/users/%d" % user["id"]).json() == user


# --- delete ------------------------------------------------------------------------


def test_delete_is_204_then_404(client, make_user):
    user = make_user()
    path = "/users/%d" % user["id"]
    r = client.delete(path)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_problem(client.get(path), 404)
    assert_problem(client.delete(path), 404)
    assert_problem(client.patch(path, json={"name": "X"}), 404)


def test_delete_unknown_is_404(client):
    assert_problem(client.delete("/users/999999999999"), 404)


# --- methods, unknown paths, probes ------------------------------------------------


@pytest.mark.parametrize("method,path,allowed", [
    ("PUT", "/users/1", "PATCH"), ("POST", "/users/1", "GET"),
    ("DELETE", "/users", "POST"), ("PUT", "/users", "GET"),
])
def test_wrong_method_is_405_with_allow(client, method, path, allowed):
    r = client.request(method, path, json={})
    assert_problem(r, 405)
    allow = [m.strip() for m in r.headers.get("Allow", "").split(",")]
    assert allowed in allow, r.headers.get("Allow")
    assert method not in allow


@pytest.mark.parametrize("path", ["/nope", "/users/1/nope", "/v1/users"])
def test_unknown_path_is_404_problem(client, path):
    assert_problem(client.get(path), 404)
    assert_problem(client.post(path, json={}), 404)


def test_probes(client):
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
    r = client.get("/health")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert isinstance(r.json(), dict)


def test_compressed_response_is_decodable(client, make_user):
    # What most clients send; the response must be readable whatever the
    # server chooses (identity or gzip, each named once).
    user = make_user()
    r = client.get("/users/%d" % user["id"], headers={"Accept-Encoding": "gzip, deflate"},
                       stream=True)  # headers are checked before decoding
    assert r.status_code == 200
    encodings = [e.strip() for e in r.headers.get("Content-Encoding", "identity").split(",")]
    assert len(encodings) == 1, "Content-Encoding: %s" % r.headers.get("Content-Encoding")
    assert r.json() == user


def test_probes_on_every_instance(topology, base_url):
    urls = [p.url for p in topology.procs.values()] or [base_url]
    for url in urls:
        assert requests.get(url + "/livez", timeout=5).status_code == 200, url
        assert requests.get(url + "/readyz", timeout=5).status_code == 200, url
        r = requests.get(url + "/health", timeout=5)
        assert r.status_code == 200, url
        health = r.json()
        assert isinstance(health, dict), url
    for name in ("orders", "gateway"):
        if name not in topology.procs:
            continue
        health = requests.get(topology.procs[name].url + "/health", timeout=5).json()
        users = health.get("remotes", {}).get("users")
        assert isinstance(users, dict), "%s /health: %s" % (name, health)
        assert users.get("breaker") in ("closed", "open", "half_open"), users
        assert users.get("url", "").startswith("http://127.0.0.1:"), users


# --- request identity --------------------------------------------------------------


def test_request_id_is_echoed_on_success_and_error(client, make_user):
    user = make_user()
    for method, path in [("GET", "/users/%d" % user["id"]), ("GET", "/users/0"),
                         ("GET", "/nope"), ("GET", "/users?limit=0"), ("GET", "/readyz")]:
        rid = request_id()
        r = client.request(method, path, headers={"X-Request-Id": rid})
        assert r.headers.get("X-Request-Id") == rid, (method, path, r.headers)


def test_request_id_is_generated_when_absent_or_unsafe(client):
    a = client.get("/livez").headers.get("X-Request-Id")
    b = client.get("/livez").headers.get("X-Request-Id")
    assert a and b and a != b
    for bad in ("has space", "x" * 200, "semi;colon"):
        got = client.get("/livez", headers={"X-Request-Id": bad}).headers.get("X-Request-Id")
        assert got and got != bad


def test_request_id_with_traceparent_crosses_hops(client):
    rid = request_id()
    headers = {"X-Request-Id": rid, "traceparent": traceparent()}
    r = client.post("/users", json={"name": "Traced", "email": unique_email()},
                    headers=headers)
    assert r.status_code == 201, r.text
    assert r.headers.get("X-Request-Id") == rid
    r = client.get("/users/%d" % r.json()["id"], headers=headers)
    assert r.status_code == 200
    assert r.headers.get("X-Request-Id") == rid

