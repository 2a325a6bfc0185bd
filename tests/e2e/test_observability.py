"""Metrics, traces, logs and introspection, checked from outside as an
operator's tools would see them: promtool on /metrics, a real Prometheus
scraping the split deployment, an OTLP receiver decoding the exported
spans, and the processes' own stdout."""

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import time

import pytest
import requests

from helpers import GATEWAY, RFC3339_UTC, request_id, unique_email

REPO = pathlib.Path(__file__).resolve().parents[2]
ITEMS = [{"sku": "OBS-1", "quantity": 2, "unit_price_cents": 150}]
TRACE_WAIT_S = 10.0
LOG_WAIT_S = 5.0
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


# --- helpers --------------------------------------------------------------


def new_traceparent():
    trace_id = os.urandom(16).hex()
    parent = os.urandom(8).hex()
    return trace_id, parent, "00-%s-%s-01" % (trace_id, parent)


def instance_urls(topology):
    """name -> URL of every instance whose /metrics the suite can read."""
    if topology.launched:
        return {name: p.url for name, p in topology.procs.items()}
    return {"external": topology.base_url}


def scrape(url):
    r = requests.get(url + "/metrics", timeout=10)
    assert r.status_code == 200, r.text[:300]
    return r


def scrape_module(topology, module):
    """The /metrics text of every instance that runs `module` (its
    replicas, when there are several), one after the other: value() sums
    over all of them."""
    return "".join(scrape(p.url).text for p in topology.procs_of(module))


def samples(text):
    """Parses the text format into [(name, {label: value}, float)]."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = dict(LABEL.findall(m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def value(text, name, **labels):
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(v for n, ls, v in samples(text)
               if n == name and all(ls.get(k) == want for k, want in labels.items()))


def wait_for(fn, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(step)


def log_records(proc):
    """Every JSON line the process wrote to stdout (the harness's own
    marker lines excluded)."""
    recs = []
    for line in proc.log_path.read_text(errors="replace").splitlines():
        if line.startswith("--- e2e:"):
            continue
        recs.append((line, json.loads(line)))
    return recs


# --- metrics --------------------------------------------------------------


def test_every_instance_serves_valid_prometheus_metrics(topology, client, make_user):
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: apt-get install prometheus"
    make_user()  # some traffic, so that request series exist
    for name, url in instance_urls(topology).items():
        r = scrape(url)
        ctype = r.headers.get("Content-Type", "")
        assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
        check = subprocess.run([promtool, "check", "metrics"], input=r.content,
                               capture_output=True, timeout=30)
        assert check.returncode == 0, "%s: promtool says:\n%s%s" % (
            name, check.stdout.decode(), check.stderr.decode())
        text = r.text
        for family in ("mitos_build_info", "process_cpu_seconds_total",
                       "process_resident_memory_bytes", "process_open_fds",
                       "process_start_time_seconds", "mitos_http_server_requests_total"):
            assert ("\n" + family) in ("\n" + text), "%s: no %s" % (name, family)
        build = [ls for n, ls, v in samples(text) if n == "mitos_build_info"]
        assert build and build[0].get("version") and build[0].get("commit"), build


def test_request_series_use_route_templates_never_ids_or_emails(launched, client, make_user):
    email = unique_email()
    user = make_user(email=email)
    before = value(scrape_module(launched, "users"), "mitos_http_server_requests_total",
                   module="users", route="/users/{id}", method="GET", status_class="2xx")
    for _ in range(3):
        assert client.get("/users/%d" % user["id"]).status_code == 200
    text = scrape_module(launched, "users")
    after = value(text, "mitos_http_server_requests_total",
                  module="users", route="/users/{id}", method="GET", status_class="2xx")
    assert after - before == 3
    assert value(text, "mitos_http_server_request_duration_seconds_count",
                 module="users", route="/users/{id}", method="GET") >= 3
    for _, labels, _ in samples(text):
        for v in labels.values():
            assert email not in v and "/users/%d" % user["id"] != v, labels


def test_requests_refused_before_routing_are_counted(topology, client):
    # The edge (the monolith, or the gateway) refuses the body before any
    # module sees it; the refusal is still counted, by status.
    before = value(scrape(topology.base_url).text, "mitos_http_server_rejected_total",
                   status="413")
    body = '{"name": "%s"}' % ("x" * (2 << 20))
    r = client.post("/users", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text[:200]
    after = value(scrape(topology.base_url).text, "mitos_http_server_rejected_total",
                  status="413")
    assert after == before + 1


def test_reads_on_postgres_go_through_the_event_loops_connections(
        launched, client, make_user):
    if not launched.postgres:
        pytest.skip("the event loops' own connections are PostgreSQL's")
    user = make_user()

    # A loop opens its connection on its first read, which the pool serves
    # meanwhile; then the loop's reads run on it.
    def loops_connected():
        for _ in range(20):
            r = client.get("/users/%d" % user["id"])
            assert r.status_code == 200, r.text
        return value(scrape_module(launched, "users"), "mitos_db_pool_connections",
                     module="users", state="loop")

    assert wait_for(loops_connected, timeout=10) > 0, (
        "no event loop of users opened a PostgreSQL connection of its own")


def test_module_calls_are_labelled_local_or_remote(launched, client, make_user):
    user = make_user()
    binding = "local" if launched.kind == "monolith" else "remote"
    labels = dict(caller="orders", callee="users", method="Get", binding=binding)
    before = value(scrape_module(launched, "orders"), "mitos_module_calls_total", **labels)
    r = client.post("/orders", json={"user_id": user["id"], "items": ITEMS})
    assert r.status_code == 201, r.text
    text = scrape_module(launched, "orders")
    assert value(text, "mitos_module_calls_total", **labels) == before + 1
    assert value(text, "mitos_module_call_duration_seconds_count", **labels) >= 1
    # Orders' own storage is measured too.
    assert value(text, "mitos_db_query_duration_seconds_count", module="orders", op="write") >= 1
    if launched.postgres:
        assert value(text, "mitos_db_pool_connections", module="orders", state="max") > 0
        assert value(text, "mitos_db_ready", module="orders") == len(
            launched.procs_of("orders"))
    else:
        assert value(text, "mitos_db_wal_size_bytes", module="orders") > 0
    if binding == "remote":
        # One closed breaker per users replica, in each orders replica.
        assert value(text, "mitos_remote_breaker_state", remote="users", state="closed") == (
            len(launched.procs_of("users")) * len(launched.procs_of("orders")))
        assert ('mitos_remote_pool_connections{remote="users",state="idle"}' in text)


def test_prometheus_scrapes_the_split_deployment(split, client, make_user, tmp_path):
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus not found: apt-get install prometheus"
    targets = [p.url.split("//", 1)[1] for p in split.procs.values()]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: mitos\n    static_configs:\n"
        "      - targets: [%s]\n" % ", ".join('"%s"' % t for t in targets))
    check = subprocess.run(["promtool", "check", "config", str(cfg)],
                           capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [prometheus, "--config.file=%s" % cfg, "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
         "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    api = "http://127.0.0.1:%d/api/v1/query" % port

    def query(q):
        try:
            r = requests.get(api, params={"query": q}, timeout=5)
        except requests.RequestException:
            return None
        if r.status_code != 200:
            return None
        return r.json()["data"]["result"]

    try:
        user = make_user()
        for _ in range(5):
            r = client.post("/orders", json={"user_id": user["id"], "items": ITEMS})
            assert r.status_code == 201, r.text
        # One failed module call (no such user), so the error series exist.
        r = client.post("/orders", json={"user_id": 2**40, "items": ITEMS})
        assert r.status_code == 422, r.text
        # Every target is up, and the orders placed through the gateway show
        # in the counter Prometheus scraped from the orders service.
        up = wait_for(lambda: (lambda res: res if res and len(res) == len(targets)
                               and all(x["value"][1] == "1" for x in res) else None)(
                                   query("up")), 30, 0.5)
        assert up, "targets not all up: %r\n%s" % (
            query("up"), (tmp_path / "prometheus.log").read_text()[-2000:])
        q = ('sum(mitos_http_server_requests_total{module="orders",route="/orders",'
             'method="POST",status_class="2xx"})')
        got = wait_for(lambda: (lambda res: res if res and float(res[0]["value"][1]) >= 5
                                else None)(query(q)), 30, 0.5)
        assert got, "Prometheus has %r for %s" % (query(q), q)
        q2 = ('sum(mitos_module_calls_total{caller="orders",callee="users",'
              'binding="remote"})')
        got2 = wait_for(lambda: (lambda res: res if res and float(res[0]["value"][1]) >= 5
                                 else None)(query(q2)), 30, 0.5)
        assert got2, "Prometheus has %r for %s" % (query(q2), q2)
        check_dashboard_against(query, api, on_sqlite=not split.postgres)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


DASHBOARD = REPO / "docs" / "observability" / "grafana-dashboard.json"
SCRAPE_EXAMPLE = REPO / "docs" / "observability" / "prometheus.yml"


# Series that only a module on SQLite exports.
SQLITE_ONLY = {"mitos_db_busy_retries_total", "mitos_db_wal_size_bytes"}


def check_dashboard_against(query, api, on_sqlite=True):
    """Every expression of the shipped Grafana dashboard is valid PromQL to a
    real Prometheus, and every metric it names is one Mitos exports (those
    of SQLite only when the modules run `on_sqlite`)."""
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 15, exprs
    names = set()
    for e in exprs:
        e = e.replace("$__rate_interval", "1m").replace("$job", ".*")
        r = requests.get(api, params={"query": e}, timeout=10)
        assert r.status_code == 200 and r.json()["status"] == "success", (e, r.text[:300])
        names.update(re.findall(r"\b((?:mitos|process)_[a-z_]+)", e))
    scraped = {x["metric"]["__name__"] for x in query(
        'group by (__name__) ({__name__=~"mitos_.+|process_.+"})') or []}
    missing = {n for n in names if n not in scraped
               and (on_sqlite or n not in SQLITE_ONLY)}
    assert not missing, "the dashboard names metrics nobody exports: %s" % sorted(missing)
    check = subprocess.run(["promtool", "check", "config", str(SCRAPE_EXAMPLE)],
                           capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


# --- introspection --------------------------------------------------------


def test_modules_shows_what_runs_where(launched):
    # What the binary knows (`mitos modules --json`), in its order.
    known = {m["name"]: m for m in launched.catalog}
    for name, url in instance_urls(launched).items():
        r = requests.get(url + "/modules", timeout=5)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["version"] and body["commit"], body
        assert [m["name"] for m in body["modules"]] == list(known), body
        where = {m["name"]: m for m in body["modules"]}
        for n, m in where.items():
            assert m.get("needs", []) == known[n]["needs"], body
            if m["location"] == "local":
                assert m["routes"] == known[n]["route_prefixes"], body
        if launched.kind == "monolith":
            assert all(m["location"] == "local" and m["state"] == "ready"
                       for m in where.values()), body
            continue
        mod = launched.procs[name].module  # "users" for replica "users-2"
        assert where[mod]["location"] == "local", body
        # The gateway reaches every other module, the others what they need.
        deps = ([n for n in known if n != GATEWAY] if mod == GATEWAY
                else known[mod]["needs"])
        for dep in deps:
            assert where[dep]["location"] == "remote", body
            assert where[dep]["url"].startswith("http://127.0.0.1:"), body
            assert where[dep]["breaker"] in ("closed", "open", "half_open"), body
        # Nothing beyond what runs where: no paths, no config values.
        assert "data_dir" not in r.text and "/tmp" not in r.text, r.text
    r = requests.post(launched.base_url + "/modules", timeout=5)
    assert r.status_code == 405 and "GET" in r.headers.get("Allow", "")


# --- logs -----------------------------------------------------------------


def test_logs_are_json_lines_with_an_access_line_per_request(launched, client):
    rid = request_id()
    trace_id, _, tp = new_traceparent()
    email = unique_email()
    secret_name = "Secret Name %s" % rid
    r = client.post("/users", json={"name": secret_name, "email": email},
                    headers={"X-Request-Id": rid, "traceparent": tp})
    assert r.status_code == 201, r.text
    def access_line():
        return [rec for proc in launched.procs_of("users")
                for _, rec in log_records(proc)
                if rec.get("msg") == "request" and rec.get("request_id") == rid]

    lines = wait_for(access_line, LOG_WAIT_S)
    assert len(lines) == 1, lines
    a = lines[0]
    assert a["level"] == "info" and a["module"] == "users", a
    assert a["method"] == "POST" and a["route"] == "/users" and a["status"] == 201, a
    assert a["trace_id"] == trace_id and re.match(r"^[0-9a-f]{16}$", a["span_id"]), a
    assert isinstance(a["duration_ms"], (int, float)) and a["duration_ms"] >= 0, a
    assert a["bytes"] == len(r.content) and a["client"] == "127.0.0.1", a
    for p in launched.procs.values():
        for line, rec in log_records(p):
            for key in ("ts", "level", "module", "msg"):
                assert key in rec, line
            assert RFC3339_UTC.match(rec["ts"]) and len(rec["ts"]) == 24, line
            assert rec["level"] in ("debug", "info", "warn", "error"), line
            # Request bodies are never logged.
            assert email not in line and secret_name not in line, line


# --- traces ---------------------------------------------------------------


def logical_tree(spans, root):
    """The tree of the spans that exist in every topology (the orders
    server span, module calls and statement groups), with transport-only
    spans (the gateway's, the callee's server span) collapsed."""
    by_parent = {}
    for s in spans:
        by_parent.setdefault(s.get("parentSpanId", ""), []).append(s)

    def kept(s):
        a = s["attrs"]
        if s["kind"] == 2:  # server
            return a.get("mitos.module") == "orders"
        return s["name"] in ("users.Get", "users.db read", "orders.db write")

    def children(span_id):
        out = []
        for c in by_parent.get(span_id, []):
            if kept(c):
                out.append((c["name"], tuple(sorted(children(c["spanId"])))))
            else:
                out.extend(children(c["spanId"]))
        return out

    top = [root] if kept(root) else []
    if top:
        return [(root["name"], tuple(sorted(children(root["spanId"]))))]
    return sorted(children(root["spanId"]))


EXPECTED_TREE = [("POST /orders", tuple(sorted([
    ("orders.db write", ()),
    ("users.Get", (("users.db read", ()),)),
])))]


def test_one_post_orders_is_one_trace_with_the_same_logical_tree(launched, client, make_user):
    user = make_user()
    trace_id, parent_id, tp = new_traceparent()
    r = client.post("/orders", json={"user_id": user["id"], "items": ITEMS},
                    headers={"traceparent": tp, "tracestate": "e2e=1"})
    assert r.status_code == 201, r.text
    receiver = launched.receiver
    want_services = ({"mitos"} if launched.kind == "monolith"
                     else {"mitos-gateway", "mitos-orders", "mitos-users"})

    def complete():
        spans = receiver.spans(trace_id)
        names = {s["name"] for s in spans}
        ok = ({"users.Get", "users.db read", "orders.db write"} <= names
              and {s["service"] for s in spans} >= want_services)
        return spans if ok else None

    spans = wait_for(complete, TRACE_WAIT_S)
    assert not receiver.errors, receiver.errors
    assert spans, "incomplete trace: %r" % [(s["service"], s["name"])
                                           for s in receiver.spans(trace_id)]
    time.sleep(0.3)  # a last batch may still be on its way
    spans = receiver.spans(trace_id)
    assert {s["service"] for s in spans} == want_services
    for s in spans:
        assert s["resource"].get("deployment.environment") == "e2e", s["resource"]
    ids = {s["spanId"] for s in spans}
    assert len(ids) == len(spans), "span ids repeat"
    roots = [s for s in spans if s.get("parentSpanId") == parent_id]
    assert len(roots) == 1, [(s["name"], s.get("parentSpanId")) for s in spans]
    root = roots[0]
    assert root["kind"] == 2 and root["name"] == "POST /orders", root
    for s in spans:
        if s is not root:
            assert s.get("parentSpanId") in ids, "orphan span %s" % s["name"]
    by_id = {s["spanId"]: s for s in spans}
    if launched.kind == "split":
        # Each remote call's client span is the parent of the callee's
        # server span, in the callee's process.
        for s in spans:
            if s["kind"] == 2 and s is not root:
                caller = by_id[s["parentSpanId"]]
                assert caller["kind"] == 3 and caller["service"] != s["service"], (caller, s)
        get = [s for s in spans if s["name"] == "users.Get"]
        assert len(get) == 1 and get[0]["kind"] == 3 and get[0]["service"] == "mitos-orders"
        assert get[0]["attrs"]["mitos.binding"] == "remote"
    else:
        get = [s for s in spans if s["name"] == "users.Get"]
        assert len(get) == 1 and get[0]["kind"] == 1
        assert get[0]["attrs"]["mitos.binding"] == "local"
    assert logical_tree(spans, root) == EXPECTED_TREE, logical_tree(spans, root)


def test_an_unsampled_request_exports_no_spans(launched, client, make_user):
    user = make_user()
    trace_id = os.urandom(16).hex()
    tp = "00-%s-%s-00" % (trace_id, os.urandom(8).hex())
    r = client.post("/orders", json={"user_id": user["id"], "items": ITEMS},
                    headers={"traceparent": tp})
    assert r.status_code == 201, r.text
    # A sampled request sent afterwards arrives, so the exporters ran.
    trace2, _, tp2 = new_traceparent()
    assert client.get("/users/%d" % user["id"], headers={"traceparent": tp2}).status_code == 200
    assert wait_for(lambda: launched.receiver.spans(trace2), TRACE_WAIT_S)
    time.sleep(0.3)
    assert launched.receiver.spans(trace_id) == []
