#!/usr/bin/env python3
"""A gateway that has a URL for some modules only starts, proxies to those,
answers 503 problem+json for the others, and says so in its log and in
/health. The modules are those of `mitos modules --json`.

Usage: gateway_unrouted_test.py MITOS_BIN
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

GATEWAY = "gateway"
PROBLEM = "urn:mitos:problem:module-unavailable"
procs = []


def fail(msg):
    print("FAIL: " + msg)
    for p in procs:
        print("--- %s" % p.log)
        print("".join(p.log.read_text(errors="replace").splitlines(True)[-20:]))
    sys.exit(1)


class Mitos:
    def __init__(self, binary, work, name, *args):
        self.log = work / (name + ".log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MITOS_")}
        with open(self.log, "wb") as out:
            self.popen = subprocess.Popen(
                [binary, "--host", "127.0.0.1", "--port", "0", "--data-dir",
                 str(work / name), "--log-format", "json",
                 "--set", "shutdown.drain_delay_ms=0", *args],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env)
        procs.append(self)
        self.port = self._port()
        self.url = "http://127.0.0.1:%d" % self.port
        self._ready()

    def lines(self):
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def _port(self):
        for _ in range(1000):
            for rec in self.lines():
                if rec.get("msg") == "listening":
                    return int(rec["port"])
            if self.popen.poll() is not None:
                fail("%s exited with status %d during start-up"
                     % (self.log.stem, self.popen.returncode))
            time.sleep(0.01)
        fail("%s did not report its port" % self.log.stem)

    def _ready(self):
        for _ in range(1000):
            if get(self.url + "/readyz")[0] == 200:
                return
            if self.popen.poll() is not None:
                fail("%s exited before it was ready" % self.log.stem)
            time.sleep(0.01)
        fail("%s not ready" % self.log.stem)

    def stop(self):
        self.popen.send_signal(signal.SIGTERM)
        rc = self.popen.wait(timeout=10)
        if rc != 0:
            fail("%s exited with status %d after SIGTERM" % (self.log.stem, rc))


def request(method, url, body=None):
    """Returns (status, headers, body text); (0, {}, error) without an answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return 0, {}, str(e)


def get(url):
    return request("GET", url)


def main(binary, work):
    out = subprocess.run([binary, "modules", "--json"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    catalog = json.loads(out)
    routed = [m for m in catalog if m["route_prefixes"] and m["name"] != GATEWAY]
    # The one the gateway gets a URL for: one that runs alone.
    alone = [m for m in routed if not m["needs"]]
    if not alone or len(routed) < 2:
        fail("needs a module with routes that runs alone and another with "
             "routes, got %s" % [m["name"] for m in routed])
    served = alone[0]
    others = [m for m in routed if m is not served]

    # Instances that call each other sign their calls with a shared key.
    keys = work / "service-keys"
    subprocess.run([binary, "auth", "service-keys", str(keys)], check=True,
                   capture_output=True, timeout=30)
    signed = ("--set", "auth.service_keys_file=%s" % keys)
    backend = Mitos(binary, work, served["name"], "--modules=" + served["name"], *signed)
    gw = Mitos(binary, work, GATEWAY, "--modules=" + GATEWAY, "--set",
               "remotes.%s.url=%s" % (served["name"], backend.url), *signed)

    warns = [r for r in gw.lines()
             if r.get("level") == "warn" and r.get("module") == GATEWAY]
    want = ", ".join(m["name"] for m in others)
    if len(warns) != 1 or warns[0].get("unrouted_modules") != want:
        fail("expected one warning naming %s, got %s" % (want, warns))

    for prefix in served["route_prefixes"]:
        # The gateway routes it; the module's own instance takes only
        # calls that other instances sign.
        via, direct = get(gw.url + prefix), get(backend.url + prefix)
        if via[0] >= 500 or direct[0] != 401:
            fail("GET %s: %d through the gateway, %d direct: %s"
                 % (prefix, via[0], direct[0], via[2]))

    for m in others:
        for method, path in [(method, p + tail) for p in m["route_prefixes"]
                             for tail in ("", "/1")
                             for method in ("GET", "POST", "DELETE")]:
            status, headers, text = request(
                method, gw.url + path, {} if method == "POST" else None)
            what = "%s %s: %d %s" % (method, path, status, text)
            if status != 503:
                fail(what)
            if headers.get("Content-Type") != "application/problem+json":
                fail("%s: Content-Type %s" % (what, headers.get("Content-Type")))
            if not (headers.get("Retry-After") or "").isdigit():
                fail("%s: no Retry-After" % what)
            body = json.loads(text)
            if body.get("type") != PROBLEM or body.get("status") != 503:
                fail(what)
            if m["name"] not in body.get("detail", ""):
                fail("%s: the detail does not name the module" % what)
            for leak in ("remotes", "url", "MITOS_", "http", "config"):
                if leak in text:
                    fail("%s: the body mentions %r" % (what, leak))

    status, _, text = get(gw.url + "/health")
    health = json.loads(text)
    if status != 200 or health.get("status") != "UP":
        fail("/health: %d %s" % (status, text))
    remotes = health.get("remotes", {})
    for m in others:
        if remotes.get(m["name"]) != {"url": None, "state": "unconfigured"}:
            fail("/health remotes[%s] = %s" % (m["name"], remotes.get(m["name"])))
    if remotes.get(served["name"], {}).get("state") != "configured":
        fail("/health remotes[%s] = %s" % (served["name"], remotes.get(served["name"])))

    gw.stop()
    backend.stop()
    print("ok: the gateway proxies %s and answers 503 for %s"
          % (served["name"], want))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    work = pathlib.Path(tempfile.mkdtemp(prefix="mitos-gateway-"))
    try:
        main(sys.argv[1], work)
    finally:
        for p in procs:
            if p.popen.poll() is None:
                p.popen.kill()
                p.popen.wait()
        shutil.rmtree(work, ignore_errors=True)
