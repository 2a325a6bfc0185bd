"""Helpers for the event tests: the real binary on loopback, its HTTP API,
its metrics and its SQLite files."""

import json
import os
import pathlib
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

procs = []


def fail(msg):
    print("FAIL: " + msg)
    for p in procs:
        print("--- %s" % p.log)
        if p.log.exists():
            print("".join(p.log.read_text(errors="replace").splitlines(True)[-25:]))
    # A failed test leaves no server behind, its nats-server included.
    cleanup()
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


ADMIN_SCOPES = "users:admin orders:admin products:admin"


def dev_token(binary, data_dir, args):
    """An admin's development token for the instance started with `args`
    (its --set options name the key), or None when it does not run in dev
    mode."""
    sets = []
    for i, a in enumerate(args):
        if a == "--set" and i + 1 < len(args):
            sets += ["--set", args[i + 1]]
    r = subprocess.run([binary, "--data-dir", str(data_dir), *sets, "auth", "dev-token",
                        "--sub", "admin", "--scope", ADMIN_SCOPES],
                       capture_output=True, text=True, timeout=30)
    return r.stdout.strip() if r.returncode == 0 else None


class Mitos:
    """One instance of the binary, on a free port, with its own log."""

    def __init__(self, binary, work, name, data_dir, *args, env=None):
        self.log = work / (name + ".log")
        self.data_dir = data_dir
        e = {k: v for k, v in os.environ.items() if not k.startswith("MITOS_")}
        e.update(env or {})
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                [binary, "--host", "127.0.0.1", "--port", "0", "--data-dir",
                 str(data_dir), "--log-format", "json",
                 "--set", "shutdown.drain_delay_ms=0",
                 # The tests write as fast as they can, as one admin.
                 "--set", "limits.subject.rate=0", *args],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=e)
        procs.append(self)
        self.port = self._port()
        self.url = "http://127.0.0.1:%d" % self.port
        self._ready()
        self.token = dev_token(binary, data_dir, args)

    def _port(self):
        for _ in range(1000):
            if self.popen.poll() is not None:
                fail("%s exited during start-up" % self.log.name)
            for line in self.log.read_text(errors="replace").splitlines():
                if '"msg":"listening"' in line:
                    m = re.search(r'"port":(\d+)', line)
                    if m and not self._seen_port(int(m.group(1))):
                        return int(m.group(1))
            time.sleep(0.01)
        fail("%s did not report its port" % self.log.name)

    # A restarted instance appends to the same log: skip earlier ports.
    _used = set()

    def _seen_port(self, port):
        key = (str(self.log), port)
        if key in Mitos._used:
            return True
        Mitos._used.add(key)
        return False

    def _ready(self):
        for _ in range(1000):
            try:
                if urllib.request.urlopen(self.url + "/readyz", timeout=2).status == 200:
                    return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.01)
        fail("%s not ready" % self.log.name)

    def kill(self):
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self):
        self.popen.send_signal(signal.SIGTERM)
        rc = self.popen.wait(20)
        check(rc == 0, "%s exited with %s after SIGTERM" % (self.log.name, rc))

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read().decode()
                return r.status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text

    def metric(self, name, **labels):
        """The sum of the samples of `name` whose labels include `labels`."""
        _, text = self.call("GET", "/metrics")
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, value = line.rsplit(" ", 1)
            if all('%s="%s"' % kv in head for kv in labels.items()):
                total += float(value)
        return total


def eventually(what, fn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.02)
    fail("timed out waiting for " + what)


def query(path, sql, *args):
    """Reads the SQLite file at `path` (its own connection, read-only)."""
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def execute(path, sql, *args):
    con = sqlite3.connect(str(path), timeout=10)
    try:
        con.execute(sql, args)
        con.commit()
    finally:
        con.close()


def cleanup():
    for p in procs:
        if p.popen is not None and p.popen.poll() is None:
            p.popen.kill()
            p.popen.wait()


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class NatsServer:
    """nats-server with JetStream on loopback, its store in `work`/`name`;
    kill() and start() again keep the port and the store."""

    def __init__(self, work, name="nats", port=None):
        self.dir = work / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = "nats://127.0.0.1:%d" % self.port
        self.log = work / (name + ".log")
        self.popen = None
        procs.append(self)
        self.start()

    def start(self):
        import socket
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                ["nats-server", "-js", "-sd", str(self.dir), "-a", "127.0.0.1",
                 "-p", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        for _ in range(500):
            if self.popen.poll() is not None:
                fail("nats-server exited: see %s" % self.log)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.01)
        fail("nats-server did not listen on %d" % self.port)

    def kill(self):
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self):
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(10)
