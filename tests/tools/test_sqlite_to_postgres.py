"""tools/sqlite_to_postgres.py, once for real: users and orders written on
SQLite by the binary, moved into their PostgreSQL databases, and served from
there as they were; a second move into the same databases is refused.

Needs MITOS_BIN and MITOS_TEST_POSTGRES_URL (a superuser's URL, loopback),
as ctest's tools.sqlite_to_postgres gives them."""

import os
import pathlib
import subprocess
import sys

import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from conftest import PostgresDatabases, Process, storage_env  # noqa: E402

TOOL = REPO / "tools" / "sqlite_to_postgres.py"
MODULES = "--modules=users,orders"
ITEMS = [{"sku": "SKU-1", "quantity": 2, "unit_price_cents": 1250}]


def binary():
    b = os.environ.get("MITOS_BIN") or str(REPO / "build" / "mitos")
    if not os.access(b, os.X_OK):
        pytest.fail("no mitos binary at %s" % b)
    return b


def admin_url():
    url = os.environ.get("MITOS_TEST_POSTGRES_URL")
    if not url:
        pytest.fail("MITOS_TEST_POSTGRES_URL is not set")
    return url


class Instance(Process):
    """users and orders in one process, its own edge: it takes development
    tokens of the key in the test's directory itself."""

    def __init__(self, binary_path, name, workdir, env=None):
        super().__init__(binary_path, name, workdir, env=env)
        self.sets = ["auth.edge=true", "auth.dev_key_file=%s" % (workdir / "dev-key.pem")]

    def argv(self, port):
        return super().argv(port) + [MODULES]


def admin_session(workdir):
    """Requests with an admin's development token of that key."""
    r = subprocess.run([binary(), "--set", "auth.dev_key_file=%s" % (workdir / "dev-key.pem"),
                        "auth", "dev-token", "--sub", "admin",
                        "--scope", "users:admin orders:admin"],
                       capture_output=True, text=True, timeout=30, check=True)
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + r.stdout.strip()
    return s


def served(http, url, paths):
    return {p: http.get(url + p, timeout=10).json() for p in paths}


def run_tool(db_file, url):
    return subprocess.run([sys.executable, str(TOOL), str(db_file), url],
                          capture_output=True, text=True, timeout=120)


def test_a_module_moves_from_sqlite_to_postgres_with_its_ids(tmp_path):
    dbs = PostgresDatabases(admin_url(), "move")
    http = admin_session(tmp_path)
    try:
        urls = {m: dbs.create(m) for m in ("users", "orders")}
        pg_env = {}
        for m, u in urls.items():
            pg_env.update(storage_env(m, u))

        # Data written on SQLite, the last user deleted so that SQLite's
        # counter is past the highest id left.
        lite = Instance(binary(), "lite", tmp_path).start()
        try:
            ids = []
            for i, name in enumerate(["Ann", "Bő \"quoted\", comma", "", "Dee"]):
                r = http.post(lite.url + "/users", timeout=10,
                                  json={"name": name or "E", "email": "m%d@example.com" % i})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            r = http.post(lite.url + "/orders", json={"user_id": ids[0], "items": ITEMS},
                              timeout=10)
            assert r.status_code == 201, r.text
            order = r.json()["id"]
            assert http.delete(lite.url + "/users/%d" % ids[-1], timeout=10).status_code == 204
            paths = ["/users/%d" % i for i in ids] + ["/users?limit=2", "/users",
                                                       "/orders/%d" % order]
            before = served(http, lite.url, paths)
        finally:
            lite.stop()

        # The databases get their schema from the module itself, then the data.
        Instance(binary(), "migrate", tmp_path, env=pg_env).start().stop()
        for m in ("users", "orders"):
            p = run_tool(lite.data_dir / ("%s.db" % m), urls[m])
            assert p.returncode == 0, p.stderr
            assert "moved" in p.stdout and "<redacted>" in p.stdout, p.stdout
            assert urls[m].split("@")[0].split(":")[-1] not in p.stdout + p.stderr

        pg = Instance(binary(), "pg", tmp_path, env=pg_env).start()
        try:
            assert served(http, pg.url, paths) == before
            r = http.post(pg.url + "/users", timeout=10,
                              json={"name": "New", "email": "new@example.com"})
            assert r.status_code == 201, r.text
            assert r.json()["id"] > ids[-1], "an id was given twice"
            r = http.post(pg.url + "/users", timeout=10,
                              json={"name": "Twin", "email": "M0@EXAMPLE.COM"})
            assert r.status_code == 409, r.text  # the unique email came along
        finally:
            pg.stop()

        # Into a database that has rows: refused, and nothing changes.
        p = run_tool(lite.data_dir / "users.db", urls["users"])
        assert p.returncode == 1, p.stdout + p.stderr
        assert "already has rows" in p.stderr and "nothing was changed" in p.stderr, p.stderr
        p = run_tool(tmp_path / "missing.db", urls["users"])
        assert p.returncode == 1 and "no SQLite file" in p.stderr, p.stderr
    finally:
        dbs.close()
