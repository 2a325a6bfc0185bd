"""PostgreSQL killed with SIGKILL under write load, and started again: the
users module answers 503 problem+json with Retry-After while the server is
gone, turns unready, comes back by itself without a restart, and loses no
write it acknowledged. The suite starts a PostgreSQL cluster of its own for
this (tests/support/postgres.sh), so that killing it disturbs nothing else.
"""

import os
import pathlib
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import PostgresDatabases, storage_env
from helpers import Client, poll, unique_email

pytestmark = pytest.mark.faults

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "support" / "postgres.sh"
PG_BIN = pathlib.Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
LOAD_BEFORE_S = 1.5   # writes before the kill
DOWN_S = 2.0          # how long the server stays dead
RECOVER_S = 20.0      # how long Mitos may take to serve again once it is back


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def own_postgres(tmp_path):
    """A PostgreSQL 15 of this test's own: (superuser URL, state file)."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 is not installed: apt-get install postgresql")
    state = tmp_path / "pg-state"
    port = free_port()
    subprocess.run(["bash", str(SCRIPT), "start", str(state), str(port)],
                   check=True, capture_output=True, timeout=120)
    try:
        yield ("postgresql://postgres:mitos-test-pw@127.0.0.1:%d/postgres" % port,
               state)
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(state)],
                       capture_output=True, timeout=120)


def signal_cluster(state, sig):
    """`sig` to the postmaster and every process of the cluster."""
    data = pathlib.Path(state.read_text().strip()) / "data"
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)],
                              capture_output=True, text=True).stdout.split()
    for pid in [postmaster] + [int(p) for p in children]:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill_cluster(state):
    """SIGKILL to the postmaster and every process of the cluster, as the
    OOM killer or a lost node would end it."""
    signal_cluster(state, signal.SIGKILL)
    data = pathlib.Path(state.read_text().strip()) / "data"
    # Gone, all of them, before the server may start again.
    assert poll(lambda: subprocess.run(["pgrep", "-f", str(data)],
                                       capture_output=True).returncode != 0,
                timeout=10), "the cluster's processes outlived SIGKILL"


def test_postgres_killed_under_write_load_loses_no_acknowledged_write(
        split, own_postgres, own_process):
    admin_url, state = own_postgres
    dbs = PostgresDatabases(admin_url, "pgkill")
    env = storage_env("users", dbs.create("users"))
    users = own_process("users-pg", "users", env=env)
    pid = users.popen.pid
    stop = threading.Event()
    acked = {}         # id -> email, of every 201
    failed = []        # (status, content type, Retry-After) of the others
    errors = []        # transport errors (there should be none)
    lock = threading.Lock()

    def write(n):
        client = split.service_client(users.url)
        while not stop.is_set():
            email = unique_email("pgk%d" % n)
            try:
                r = client.post("/users", json={"name": "K", "email": email})
            except requests.RequestException as e:
                with lock:
                    errors.append(repr(e))
                continue
            with lock:
                if r.status_code == 201:
                    acked[r.json()["id"]] = email
                else:
                    failed.append((r.status_code, r.headers.get("Content-Type"),
                                   r.headers.get("Retry-After")))
            if r.status_code != 201:
                time.sleep(0.02)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    readiness_while_down = []
    try:
        time.sleep(LOAD_BEFORE_S)
        kill_cluster(state)
        down_until = time.monotonic() + DOWN_S
        while time.monotonic() < down_until:
            readiness_while_down.append(
                requests.get(users.url + "/readyz", timeout=5).status_code)
            time.sleep(0.1)
        # A backend the kill missed holds the shared memory until it sees
        # its postmaster gone; the start is refused until then.
        assert poll(lambda: subprocess.run(
            ["bash", str(SCRIPT), "restart", str(state)],
            capture_output=True, timeout=120).returncode == 0, timeout=30), \
            "PostgreSQL did not start again"
        restarted = time.monotonic()
        before = len(acked)
        assert poll(lambda: len(acked) > before, timeout=RECOVER_S, interval=0.02), \
            "no write succeeded within %.0f s of the restart" % RECOVER_S
        recovered_s = time.monotonic() - restarted
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    print("acknowledged %d, failed %d (%s), writing again %.2f s after the "
          "restart" % (len(acked), len(failed), sorted(set(f[0] for f in failed)),
                       recovered_s))
    try:
        assert not errors, errors[:5]
        assert failed, "no request failed while PostgreSQL was down"
        for status, ctype, retry_after in failed:
            assert status == 503, failed[:10]
            assert ctype and ctype.startswith("application/problem+json"), failed[:10]
            assert retry_after, failed[:10]
        assert 503 in readiness_while_down, readiness_while_down
        assert poll(lambda: requests.get(users.url + "/readyz", timeout=5)
                    .status_code == 200, timeout=RECOVER_S)
        # Recovered by itself: the same process throughout.
        assert users.alive() and users.popen.pid == pid
        # Every acknowledged write is there, as it was answered.
        client = split.service_client(users.url)
        for uid, email in acked.items():
            r = client.get("/users/%d" % uid)
            assert r.status_code == 200, (uid, r.status_code, r.text[:200])
            assert r.json()["email"] == email, (uid, r.json())
    finally:
        dbs.close()


def test_a_process_whose_postgres_stopped_answering_still_stops_in_time(
        split, own_postgres, own_process):
    """The database stops answering (SIGSTOP: a frozen node, a partition)
    while the events dispatcher reads its outbox there; SIGTERM must still
    end the process with status 0, well within shutdown.timeout_ms, because
    every outbox pass has a deadline of its own (events.pass_timeout_ms)."""
    admin_url, state = own_postgres
    dbs = PostgresDatabases(admin_url, "pgstop")
    env = storage_env("users", dbs.create("users"))
    env["MITOS_EVENTS__PASS_TIMEOUT_MS"] = "2000"
    users = own_process("users-pgstop", "users", env=env)
    client = split.service_client(users.url)
    # Something in the outbox: a deleted user's event.
    r = client.post("/users", json={"name": "S", "email": unique_email("pgs")})
    assert r.status_code == 201, r.text
    assert client.delete("/users/%d" % r.json()["id"]).status_code == 204
    signal_cluster(state, signal.SIGSTOP)
    try:
        time.sleep(1.0)  # the dispatcher's next poll is waiting on the server
        started = time.monotonic()
        status = users.terminate(timeout=20)
        took = time.monotonic() - started
    finally:
        signal_cluster(state, signal.SIGCONT)
        dbs.close()
    assert status == 0, "exit status %s\n%s" % (status, users.tail(20))
    # The pass timeout and the cancel's grace, far from the 15 s timeout.
    assert took < 8.0, took
