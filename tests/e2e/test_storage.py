"""What clients and operators see when a service's disk fills up: its
writes answer 507, directly and through the gateway, its reads go on, and
the failure shows in its log and metrics.

Runs with the fault tests (split topology), on a users service and a
gateway of its own whose users.db is capped at a few pages with
users.storage.max_page_count, the way an operator caps a module's file.
"""

import json
import shutil
import subprocess

import pytest

from helpers import Client, assert_problem, unique_email

pytestmark = pytest.mark.faults

MAX_USERS = 5000  # far more than 8 pages hold


def fill(client):
    """Creates users until a write fails; returns (created, failed response)."""
    created = []
    for n in range(MAX_USERS):
        r = client.post("/users", json={"name": "Full %d" % n,
                                        "email": unique_email("full")})
        if r.status_code != 201:
            return created, r
        created.append(r.json())
    pytest.fail("%d users fitted in 8 pages" % MAX_USERS)


def test_a_full_database_answers_507_and_reads_go_on(split, own_process):
    users = own_process("users-full", "users",
                        {"MITOS_USERS__STORAGE__MAX_PAGE_COUNT": "8"})
    gateway = own_process("gateway-full", "gateway", {
        "MITOS_REMOTES__USERS__URL": users.url,
        "MITOS_REMOTES__ORDERS__URL": split.procs["orders"].url})
    client = Client(gateway.url, token=split.issuer.admin())
    direct = split.service_client(users.url)
    try:
        created, full = fill(client)
        assert created, "the file was full from the start"
        body = assert_problem(full, 507)
        assert body["type"] == "urn:mitos:problem:insufficient-storage", body
        assert body["title"] == "Insufficient Storage", body
        assert "Retry-After" not in full.headers
        assert "users.db" not in full.text and "sqlite" not in full.text.lower()
        # The same answer from the service itself, and again and again.
        for c in (direct, client, client, client, client):
            r = c.post("/users", json={"name": "Late", "email": unique_email("late")})
            assert_problem(r, 507)

        # Reads go on, and the gateway still thinks users is healthy.
        r = client.get("/users/%d" % created[0]["id"])
        assert r.status_code == 200 and r.json() == created[0], r.text
        r = client.get("/users", params={"limit": 100})
        assert r.status_code == 200, r.text
        health = client.get("/health").json()
        assert health["remotes"]["users"]["breaker"] == "closed", health

        # Space made (deleting frees pages within the cap), writes come back.
        for u in created:
            r = client.delete("/users/%d" % u["id"])
            assert r.status_code == 204, r.text
        r = client.post("/users", json={"name": "Back", "email": unique_email("back")})
        assert r.status_code == 201, r.text

        # The operator's view: a counter per failed write, valid metrics...
        metrics = direct.get("/metrics")
        series = [line for line in metrics.text.splitlines() if line.startswith(
            'mitos_db_errors_total{module="users",op="write",reason="full"} ')]
        assert series and float(series[0].split()[-1]) == 6, series
        promtool = shutil.which("promtool")
        assert promtool, "promtool not found: apt-get install prometheus"
        check = subprocess.run([promtool, "check", "metrics"], input=metrics.content,
                               capture_output=True, timeout=30)
        assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    finally:
        client.close()
        direct.close()

    # ...and a log line with the file and SQLite's code and message.
    lines = []
    for line in users.log_path.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("msg") == "storage error":
            lines.append(rec)
    assert lines, "no storage error logged"
    rec = lines[0]
    assert rec["level"] == "error" and rec["module"] == "users", rec
    assert rec["file"].endswith("users.db") and rec["reason"] == "full", rec
    assert rec["sqlite_code"] == 13 and "full" in rec["error"], rec
