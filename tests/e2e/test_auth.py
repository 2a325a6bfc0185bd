"""Who may call what, at the edge and between instances.

Every test here runs against the edge of the topology (the monolith, or the
split's gateway) with tokens of the suite's issuer; the tests of calls that
skip the gateway need the split."""

import base64
import json
import os
import subprocess
import threading
import time

import pytest
import requests

from cryptography.hazmat.primitives import serialization
from helpers import Client, ServiceKeys, assert_problem, unique_email
from issuer import ADMIN_SCOPES, b64url, jwk_of, sign

INVALID = 'Bearer error="invalid_token"'
ITEMS = [{"sku": "SKU-1", "quantity": 1, "unit_price_cents": 100}]


def assert_unauthorized(r, challenge=INVALID):
    body = assert_problem(r, 401)
    assert r.headers.get("WWW-Authenticate") == challenge, r.headers
    return body


def new_user(client, name="Auth User"):
    r = client.post("/users", json={"name": name, "email": unique_email("auth")})
    assert r.status_code == 201, r.text
    return r.json()


# --- what needs no token -------------------------------------------------------


def test_the_probes_metrics_and_public_routes_need_no_token(anonymous):
    for path in ("/livez", "/readyz", "/metrics"):
        assert anonymous.get(path).status_code == 200, path
    r = anonymous.get("/products")
    assert r.status_code == 200, r.text
    # Writing one is an admin's.
    r = anonymous.post("/products", json={"sku": "X-1", "name": "x", "price_cents": 1})
    assert_unauthorized(r, challenge="Bearer")


def test_a_route_that_needs_a_token_says_so_without_one(anonymous):
    for method, path in (("GET", "/users/1"), ("GET", "/users"), ("GET", "/orders"),
                         ("POST", "/orders/1/cancel"), ("DELETE", "/users/1")):
        r = anonymous.request(method, path)
        body = assert_unauthorized(r, challenge="Bearer")
        assert "token" in body["detail"]


# --- forged and broken tokens --------------------------------------------------


def forged(issuer):
    """Every kind of token the edge must refuse, by name."""
    key = issuer.keys[0]
    kid = jwk_of(key)["kid"]
    pub_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    good = issuer.token("1", "users:admin")
    now = int(time.time())
    none_header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    claims = b64url(json.dumps(issuer.claims("1", "users:admin")).encode())
    return {
        "alg none": "%s.%s." % (none_header, claims),
        "HS256 signed with the RSA public key": issuer.token(
            "1", "users:admin", key=pub_pem, header={"alg": "HS256", "typ": "JWT", "kid": kid}),
        "the wrong key": issuer.token(
            "1", "users:admin", key=issuer.stranger,
            header={"alg": "RS256", "typ": "JWT", "kid": kid}),
        "expired": issuer.token("1", "users:admin", iat=now - 7200, exp=now - 3600),
        "not yet valid": issuer.token("1", "users:admin", nbf=now + 3600),
        "the wrong iss": issuer.token("1", "users:admin", iss="https://evil.example"),
        "the wrong aud": issuer.token("1", "users:admin", aud="someone-else"),
        "an unknown kid": issuer.token(
            "1", "users:admin", key=issuer.stranger,
            header={"alg": "RS256", "typ": "JWT", "kid": "no-such-kid"}),
        "truncated": good[: len(good) - 20],
        "two parts": good.rsplit(".", 1)[0],
        "huge": issuer.token("1", "users:admin", pad="x" * 20000),
        "garbage": "not.a.token",
    }


def test_every_forged_or_broken_token_gets_401_and_the_same_answer(base_url, issuer):
    details = set()
    for name, token in forged(issuer).items():
        r = requests.get(base_url + "/users/1", timeout=10,
                         headers={"Authorization": "Bearer " + token})
        body = assert_unauthorized(r)
        # Nothing tells a forger which check failed.
        details.add((body["type"], body["title"], body["detail"]))
        assert set(body) == {"type", "title", "status", "detail"}, (name, body)
    assert len(details) == 1, details


def test_a_scheme_other_than_bearer_is_refused(base_url, issuer):
    r = requests.get(base_url + "/users/1", timeout=10,
                     headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert_unauthorized(r)


def test_an_es256_token_and_scp_scopes_are_accepted(base_url, issuer, client):
    user = new_user(client)
    ec = issuer.keys[-1]
    if jwk_of(ec)["alg"] != "ES256":
        pytest.skip("the issuer has no EC key (an external deployment's)")
    token = issuer.token(str(user["id"]), key=ec, scp=["orders:admin"])
    c = Client(base_url, token=token)
    try:
        assert c.get("/users/%d" % user["id"]).status_code == 200
        # orders:admin from scp: another user's orders are visible.
        assert c.get("/orders", params={"user_id": 999999}).status_code == 200
    finally:
        c.close()


def test_a_missing_scope_is_403_with_insufficient_scope(as_user):
    c = as_user("12345")
    r = c.post("/users", json={"name": "Eve", "email": unique_email("eve")})
    assert_problem(r, 403)
    assert r.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="users:admin"')


# --- object level (BOLA) -------------------------------------------------------


def test_a_user_reads_changes_and_deletes_only_its_own_account(client, as_user):
    alice, bob = new_user(client, "Alice"), new_user(client, "Bob")
    a = as_user(str(alice["id"]))
    assert a.get("/users/%d" % alice["id"]).json() == alice
    r = a.patch("/users/%d" % alice["id"], json={"name": "Alice K"})
    assert r.status_code == 200 and r.json()["name"] == "Alice K", r.text
    # Bob's account answers as a missing one, whatever the method.
    for method, kw in (("GET", {}), ("PATCH", {"json": {"name": "Mallory"}}),
                       ("DELETE", {})):
        r = a.request(method, "/users/%d" % bob["id"], **kw)
        body = assert_problem(r, 404)
        missing = assert_problem(a.request(method, "/users/999999999", **kw), 404)
        assert body["detail"].replace(str(bob["id"]), "N") == \
            missing["detail"].replace("999999999", "N")
    # Bob is untouched.
    assert client.get("/users/%d" % bob["id"]).json() == bob
    # The list holds Alice only.
    r = a.get("/users", params={"limit": 100})
    assert [u["id"] for u in r.json()["items"]] == [alice["id"]], r.text
    # She may delete herself.
    assert a.delete("/users/%d" % alice["id"]).status_code == 204


def test_orders_belong_to_their_user(client, as_user):
    alice, bob = new_user(client, "Alice"), new_user(client, "Bob")
    a, b = as_user(str(alice["id"])), as_user(str(bob["id"]))
    r = b.post("/orders", json={"user_id": bob["id"], "items": ITEMS})
    assert r.status_code == 201, r.text
    bobs = r.json()
    # Alice cannot place one for Bob: as if Bob did not exist.
    r = a.post("/orders", json={"user_id": bob["id"], "items": ITEMS})
    assert_problem(r, 422, field="user_id")
    r = a.post("/orders", json={"user_id": alice["id"], "items": ITEMS})
    assert r.status_code == 201, r.text
    alices = r.json()
    # Nor see or cancel Bob's.
    assert_problem(a.get("/orders/%d" % bobs["id"]), 404)
    assert_problem(a.post("/orders/%d/cancel" % bobs["id"]), 404)
    assert client.get("/orders/%d" % bobs["id"]).json()["status"] == "placed"
    # Her list holds her orders only, whatever user_id she asks for.
    assert [o["id"] for o in a.get("/orders").json()["items"]] == [alices["id"]]
    assert a.get("/orders", params={"user_id": bob["id"]}).json()["items"] == []
    # Her own she may cancel; an admin sees both.
    assert a.post("/orders/%d/cancel" % alices["id"]).json()["status"] == "cancelled"
    assert client.get("/orders/%d" % bobs["id"]).status_code == 200
    assert client.get("/orders/%d" % alices["id"]).status_code == 200


def test_a_subject_that_is_no_user_id_sees_nothing(client, as_user):
    user = new_user(client)
    c = as_user("service-account-7")
    assert_problem(c.get("/users/%d" % user["id"]), 404)
    assert c.get("/users").json()["items"] == []
    assert c.get("/orders").json()["items"] == []


# --- keys ----------------------------------------------------------------------


def test_a_new_jwks_key_is_fetched_when_a_token_names_it(launched, base_url, issuer, client):
    """Needs the suite's own issuer serving the JWKS (a launched topology)."""
    user = new_user(client)
    time.sleep(1.1)  # past auth.jwks_min_refetch_s of an earlier refetch
    before = issuer.jwks_requests
    issuer.rotate()
    token = issuer.token(str(user["id"]))  # signed with the new key
    r = requests.get(base_url + "/users/%d" % user["id"], timeout=10,
                     headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200, r.text
    assert issuer.jwks_requests > before


def test_rotating_the_jwks_under_load_fails_no_request(launched, base_url, issuer, client):
    user = new_user(client)
    stop = threading.Event()
    results = {"ok": 0, "failed": []}
    lock = threading.Lock()

    def load():
        s = requests.Session()
        while not stop.is_set():
            token = issuer.token(str(user["id"]))
            r = s.get(base_url + "/users/%d" % user["id"], timeout=10,
                      headers={"Authorization": "Bearer " + token})
            with lock:
                if r.status_code == 200:
                    results["ok"] += 1
                else:
                    results["failed"].append((r.status_code, r.text[:200]))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(3):
        time.sleep(1.5)  # rotations further apart than auth.jwks_min_refetch_s
        issuer.rotate()
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join()
    assert results["failed"] == [], results["failed"][:5]
    assert results["ok"] > 20, results


# --- calls that skip the gateway (split) ---------------------------------------


@pytest.fixture
def users_pod(split):
    return split.procs["users"].url


def test_calling_a_module_instance_without_a_service_token_is_refused(
        users_pod, issuer, client):
    user = new_user(client)
    path = "/users/%d" % user["id"]
    # No token at all, and an end user's valid JWT: neither is a service.
    assert_problem(requests.get(users_pod + path, timeout=10), 401)
    r = requests.get(users_pod + path, timeout=10,
                     headers={"Authorization": "Bearer " + issuer.admin()})
    assert_problem(r, 401)


def test_a_forged_or_replayed_service_token_is_refused(split, users_pod, client):
    user = new_user(client)
    path = "/users/%d" % user["id"]
    keys = ServiceKeys(split.service_keys)
    admin = ("admin", ADMIN_SCOPES.split())
    forged = {
        "another key": keys.mint("gateway", "GET", path, admin, secret=b"k" * 32),
        "an unknown kid": keys.mint("gateway", "GET", path, admin, kid="nope"),
        "another path": keys.mint("gateway", "GET", "/users/1", admin),
        "another method": keys.mint("gateway", "DELETE", path, admin),
        "too old": keys.mint("gateway", "GET", path, admin, iat=int(time.time()) - 600),
        "garbage": "e30.e30",
    }
    for name, token in forged.items():
        r = requests.get(users_pod + path, timeout=10,
                         headers={"Mitos-Service-Token": token})
        assert_problem(r, 401)
    good = keys.mint("gateway", "GET", path, admin)
    r = requests.get(users_pod + path, timeout=10, headers={"Mitos-Service-Token": good})
    assert r.status_code == 200, r.text
    # The same token again is a replay.
    r = requests.get(users_pod + path, timeout=10, headers={"Mitos-Service-Token": good})
    assert_problem(r, 401)


def test_a_service_that_does_not_need_a_module_may_not_call_it(split, users_pod, client):
    user = new_user(client)
    path = "/users/%d" % user["id"]
    keys = ServiceKeys(split.service_keys)
    # products needs nothing: it is not among users' callers; orders is.
    r = requests.get(users_pod + path, timeout=10, headers={
        "Mitos-Service-Token": keys.mint("products", "GET", path, ("admin", ["users:admin"]))})
    assert_problem(r, 403)
    r = requests.get(users_pod + path, timeout=10, headers={
        "Mitos-Service-Token": keys.mint("orders", "GET", path, ("admin", ["users:admin"]))})
    assert r.status_code == 200, r.text


def test_the_service_token_carries_the_end_user_to_the_module(split, users_pod, client):
    alice, bob = new_user(client, "Alice"), new_user(client, "Bob")
    direct = split.service_client(users_pod, user=(str(alice["id"]), []))
    try:
        assert direct.get("/users/%d" % alice["id"]).status_code == 200
        assert_problem(direct.get("/users/%d" % bob["id"]), 404)
    finally:
        direct.close()


def test_the_edge_refuses_a_service_token_from_outside(base_url):
    r = requests.get(base_url + "/users/1", timeout=10,
                     headers={"Mitos-Service-Token": "e30.e30"})
    assert_problem(r, 401)


def write_keys(path, lines):
    """Replaces the key file at once, as a Secret's update does (a new file
    renamed over the old)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text("".join(l + "\n" for l in lines))
    tmp.rename(path)


def test_rotating_the_service_keys_under_load_fails_no_request(split, client):
    """The documented rotation (docs/auth.md): add the new key second, make
    it first, drop the old one, each step once every instance has read the
    file (auth.service_keys_reload_s is 1 s here), under calls that cross
    instances: through the gateway to users, and from orders to users."""
    path = split.service_keys
    old = [l for l in path.read_text().splitlines() if l.strip()][0]
    new = "k-rotated " + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    user = new_user(client)
    stop = threading.Event()
    results = {"ok": 0, "failed": []}
    lock = threading.Lock()

    def load(n):
        c = Client(client.base_url, token=split.issuer.admin())
        i = 0
        while not stop.is_set():
            i += 1
            if i % 2:
                r = c.get("/users/%d" % user["id"])
                good = r.status_code == 200
            else:
                r = c.post("/orders", json={"user_id": user["id"], "items": ITEMS})
                good = r.status_code == 201
            with lock:
                if good:
                    results["ok"] += 1
                else:
                    results["failed"].append((r.status_code, r.text[:200]))
        c.close()

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        for lines in ([old, new], [new, old], [new]):
            write_keys(path, lines)
            time.sleep(2.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert results["failed"] == [], results["failed"][:5]
    assert results["ok"] > 50, results
    # The old key signs nothing any more: a token made with it is refused.
    keys = ServiceKeys(path)
    kid, secret = old.split()
    token = keys.mint("gateway", "GET", "/users/%d" % user["id"], ("admin", ["users:admin"]),
                      kid=kid, secret=base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4)))
    r = requests.get(split.procs["users"].url + "/users/%d" % user["id"], timeout=10,
                     headers={"Mitos-Service-Token": token})
    assert_problem(r, 401)


# --- rate limits ---------------------------------------------------------------


def test_a_subject_over_its_rate_gets_429_with_the_ratelimit_headers(own_instance, issuer):
    inst = own_instance("limited", env={"MITOS_LIMITS__SUBJECT__RATE": "1",
                                        "MITOS_LIMITS__SUBJECT__BURST": "3"})
    c = Client(inst.url, token=issuer.token("77"))
    other = Client(inst.url, token=issuer.token("78"))
    try:
        codes = [c.get("/users/77").status_code for _ in range(3)]
        assert codes == [404, 404, 404], codes  # no such user, but allowed
        r = c.get("/users/77")
        assert_problem(r, 429)
        assert int(r.headers["Retry-After"]) >= 1
        assert r.headers["RateLimit-Policy"] == '"subject";q=3;w=3', r.headers
        assert r.headers["RateLimit"].startswith('"subject";r=0;t='), r.headers
        # Another subject has a bucket of its own; probes are never limited.
        assert other.get("/users/78").status_code == 404
        assert c.get("/livez").status_code == 200
        metrics = c.get("/metrics").text
        assert 'mitos_rate_limited_total{policy="subject"} 1' in metrics, metrics[-2000:]
    finally:
        c.close()
        other.close()


def test_anonymous_callers_are_limited_by_address(own_instance):
    inst = own_instance("limited-anon", env={"MITOS_LIMITS__ADDRESS__RATE": "1",
                                             "MITOS_LIMITS__ADDRESS__BURST": "2"})
    c = Client(inst.url)
    try:
        assert [c.get("/products").status_code for _ in range(2)] == [200, 200]
        r = c.get("/products")
        assert_problem(r, 429)
        assert r.headers["RateLimit-Policy"].startswith('"address";q=2;'), r.headers
    finally:
        c.close()


# --- modes ---------------------------------------------------------------------


def test_dev_mode_serves_its_jwks_and_mitos_auth_dev_token_signs_for_it(own_instance, launched):
    inst = own_instance("dev", env={"MITOS_AUTH__MODE": "dev"})
    jwks = requests.get(inst.url + "/.well-known/jwks.json", timeout=10)
    assert jwks.status_code == 200
    assert [k["alg"] for k in jwks.json()["keys"]] == ["ES256"]
    assert "development key" in inst.log_path.read_text()
    binary = inst.binary
    out = subprocess.run(
        [binary, "auth", "dev-token", "--sub", "admin", "--scope", "users:admin",
         "--ttl", "5m", "--data-dir", str(inst.data_dir)],
        capture_output=True, text=True, timeout=30,
        env=dict(os.environ, **inst.env))  # as the instance is configured
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    c = Client(inst.url, token=token)
    try:
        r = c.post("/users", json={"name": "Dev", "email": unique_email("dev")})
        assert r.status_code == 201, r.text
        # The suite's issuer is not trusted by this instance.
        r = requests.get(inst.url + "/users/1", timeout=10,
                         headers={"Authorization": "Bearer " + launched.issuer.admin()})
        assert_unauthorized(r)
    finally:
        c.close()


def test_off_must_be_explicit_and_is_warned_about(own_instance):
    inst = own_instance("off", env={"MITOS_AUTH__MODE": "off"})
    r = requests.post(inst.url + "/users", timeout=10,
                      json={"name": "Open", "email": unique_email("off")})
    assert r.status_code == 201, r.text
    assert "auth.mode is off" in inst.log_path.read_text()
