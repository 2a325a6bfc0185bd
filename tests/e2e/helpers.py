"""Client, settings and assertions shared by the e2e tests."""

import base64
import hashlib
import hmac
import json
import pathlib
import re
import secrets
import time
import uuid

import requests

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
MAX_PAGES = 1000  # bound on any pagination walk
HTTP_TIMEOUT_S = 15.0
GATEWAY = "gateway"  # the edge of the split, which routes to every other module

# Settings of the split topology that make fault tests fast. The tests read
# these numbers, so they stay in one place.
REMOTE_TIMEOUT_MS = 500
BREAKER_OPEN_MS = 1000
BREAKER_FAILURES = 3
REQUEST_DEADLINE_MS = 3000
FAULT_ENV = {
    "MITOS_REMOTE__TIMEOUT_MS": str(REMOTE_TIMEOUT_MS),
    "MITOS_REMOTE__BREAKER_OPEN_MS": str(BREAKER_OPEN_MS),
    "MITOS_REMOTE__BREAKER_FAILURES": str(BREAKER_FAILURES),
    "MITOS_SERVER__REQUEST_DEADLINE_MS": str(REQUEST_DEADLINE_MS),
}


def assert_problem(r, status, field=None):
    """Asserts r is an RFC 9457 problem with `status`; with `field`, that
    errors[] names it. Returns the body."""
    assert r.status_code == status, "expected %d, got %d: %s" % (
        status, r.status_code, r.text[:500])
    ctype = r.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == "application/problem+json", (
        "Content-Type %r, body %s" % (ctype, r.text[:300]))
    body = r.json()
    for key in ("type", "title", "status", "detail"):
        assert key in body, "problem without %r: %s" % (key, body)
    assert body["status"] == status, body
    assert isinstance(body["type"], str) and isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    assert r.headers.get("X-Request-Id"), "no X-Request-Id on %d" % status
    if field is not None:
        assert_field_error(body, field)
    return body


def assert_field_error(body, field):
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, "no errors[] in %s" % body
    for e in errors:
        assert isinstance(e.get("field"), str) and isinstance(e.get("message"), str), e
    fields = [e["field"] for e in errors]
    assert any(f == field or f.startswith(field + ".") or f.startswith(field + "[")
               for f in fields), "no error for %r in %s" % (field, fields)


def assert_timestamps(obj):
    for key in ("created_at", "updated_at"):
        assert isinstance(obj.get(key), str) and RFC3339_UTC.match(obj[key]), obj


def walk(client, path, params, limit, max_pages=MAX_PAGES):
    """Follows next_after from `params` until it is null; returns
    (all items, number of pages). Checks the page shape on the way."""
    items, pages = [], 0
    params = dict(params, limit=limit)
    while True:
        r = client.get(path, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) >= {"items", "next_after"}, page
        assert isinstance(page["items"], list)
        assert len(page["items"]) <= limit
        pages += 1
        items.extend(page["items"])
        if page["next_after"] is None:
            return items, pages
        assert isinstance(page["next_after"], int)
        assert page["items"], "empty page with a next_after"
        assert page["next_after"] == page["items"][-1]["id"], page
        assert pages < max_pages, "pagination did not end after %d pages" % pages
        params["after"] = page["next_after"]


def assert_increasing_ids(items):
    ids = [i["id"] for i in items]
    assert ids == sorted(set(ids)), "ids not strictly increasing: %s" % ids[:50]


def request_id():
    return "e2e-" + secrets.token_hex(8)


def traceparent():
    return "00-%s-%s-01" % (secrets.token_hex(16), secrets.token_hex(8))


def timed(fn, *args, **kw):
    """Returns (result, seconds taken)."""
    t0 = time.monotonic()
    r = fn(*args, **kw)
    return r, time.monotonic() - t0


def poll(fn, timeout, interval=0.2):
    """Calls fn until it returns a truthy value or `timeout` seconds pass;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def unique_email(tag="u"):
    return "%s-%s@e2e.example.com" % (tag, uuid.uuid4().hex)


class ServiceKeys:
    """The service key file of a deployment (auth.service_keys_file), read
    afresh for every token, and tokens signed with its first key in the
    format of mitos/auth/service_token.h: what an instance sends another."""

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def keys(self):
        out = []
        for line in self.path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                kid, secret = line.split()
                out.append((kid, base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))))
        return out

    def mint(self, service, method, target, user=None, iat=None, secret=None, kid=None):
        """A token for one call from `service` for `user` ((sub, scopes),
        None for the instance itself, "anonymous" for nobody)."""
        k, key = self.keys()[0]
        payload = {"kid": kid or k, "services": [service], "method": method,
                   "target": target, "iat": int(time.time()) if iat is None else iat,
                   "jti": base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()}
        if user is None:
            payload["caller"] = "internal"
        elif user == "anonymous":
            payload["caller"] = "anonymous"
        else:
            payload["caller"] = "user"
            payload["sub"], payload["scp"] = user[0], list(user[1])
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=")
        mac = hmac.new(secret or key, body, hashlib.sha256).digest()
        return body.decode() + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


class Client:
    """requests with the base URL and a timeout filled in, and a bearer
    token or a service token on every request when given one. `service` is
    (ServiceKeys, the calling service's name, the end user or None): each
    request gets a token of its own, as a Mitos instance's calls do."""

    def __init__(self, base_url, token=None, service=None):
        self.base_url = base_url.rstrip("/")
        self.service = service
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = "Bearer " + token
        # Plain bodies, so that a compression fault fails only the tests
        # about compression (test_*_compressed_*), not every test.
        self.session.headers["Accept-Encoding"] = "identity"

    def request(self, method, path, **kw):
        kw.setdefault("timeout", HTTP_TIMEOUT_S)
        kw.setdefault("allow_redirects", False)
        if self.service:
            keys, name, user = self.service
            req = requests.Request(method, self.base_url + path, params=kw.get("params"))
            target = req.prepare().path_url
            headers = dict(kw.pop("headers", None) or {})
            headers["Mitos-Service-Token"] = keys.mint(name, method, target, user)
            kw["headers"] = headers
        return self.session.request(method, self.base_url + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def close(self):
        self.session.close()
