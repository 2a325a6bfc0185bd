#!/usr/bin/env python3
"""`mitos new module NAME` makes a module that works, proved on a copy of
the repository:

  1. copies the repository (the files git tracks or would track, as they
     are in the working tree) to WORK/src;
  2. runs `MITOS new module NAME` there, and again (refused: it exists);
  3. configures and builds the copy (the binary and NAME_test), with ccache
     when there is one: the copy is laid out as the tree it comes from (its
     build in src/build), so the two share ccache's entries;
  4. runs the new module's tests in the copy (its service test and the
     contract test the build generates) and the architecture checks;
  5. starts the copy's binary with --modules=NAME on loopback and checks
     POST /NAME, GET /NAME/{id}, GET /NAME, a duplicate refused, /openapi.json
     and `mitos modules --json`, then stops it with SIGTERM.

Usage: new_module_test.py --mitos BIN --source DIR --work DIR --name NAME
         [--build-type T] [--commit C] [--cxx PATH] [--launcher PROGRAM]
(the launcher defaults to ccache when it is on PATH)
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

passed = 0


def ok(what):
    global passed
    passed += 1
    print("ok   %s" % what, flush=True)


def fail(what, output=""):
    print("FAIL %s" % what, flush=True)
    if output:
        print("--- output:\n%s" % output[-6000:], flush=True)
    print("scaffold: %d passed, 1 failed" % passed)
    sys.exit(1)


def run(cmd, cwd=None, timeout=3000, env=None):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout + p.stderr


def copy_repository(source, dest):
    """The files of `source` that git tracks or would track, as they are."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    rc, out = run(["git", "-C", str(source), "ls-files", "-z", "--cached",
                   "--others", "--exclude-standard"])
    if rc != 0:
        fail("git ls-files in %s (the test copies a git checkout)" % source, out)
    count = 0
    for rel in filter(None, out.split("\0")):
        src = source / rel
        if not src.is_file():  # deleted in the working tree
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
        count += 1
    return count


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TOKEN = []  # the development token of the instance under test, once made


def request(method, url, body=None, token=True):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token and TOKEN:
        req.add_header("Authorization", "Bearer " + TOKEN[0])
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mitos", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--build-type", default="Release")
    ap.add_argument("--commit", default="")
    ap.add_argument("--cxx", default="")
    ap.add_argument("--launcher", default="")
    a = ap.parse_args()
    name = a.name
    source = pathlib.Path(a.source).resolve()
    src = pathlib.Path(a.work).resolve() / "src"
    build = src / "build"
    started = time.monotonic()

    n = copy_repository(source, src)
    ok("copied the repository: %d files" % n)

    rc, out = run([a.mitos, "new", "module", name], cwd=src)
    if rc != 0:
        fail("mitos new module %s exited %d" % (name, rc), out)
    main_cpp = (src / "app/main.cpp").read_text()
    for want in ("#include \"%s/module.h\"" % name, "%s::Spec()," % name):
        if want not in main_cpp:
            fail("app/main.cpp does not have %s" % want, main_cpp)
    if "Created modules/%s/" % name not in out or "Next steps" not in out:
        fail("mitos new module does not say what it did", out)
    ok("mitos new module %s: modules/%s/ written, registered in app/main.cpp" % (name, name))
    rc, again = run([a.mitos, "new", "module", name], cwd=src)
    if rc != 2 or "already exists" not in again:
        fail("a second mitos new module %s: exit %d" % (name, rc), again)
    if (src / "app/main.cpp").read_text() != main_cpp:
        fail("the refused second run changed app/main.cpp")
    ok("a second run is refused (exit 2) and changes nothing")

    configure = ["cmake", "-S", str(src), "-B", str(build),
                 "-DCMAKE_BUILD_TYPE=" + a.build_type, "-DMITOS_BUILD_TESTS=ON"]
    if a.commit:
        configure.append("-DMITOS_GIT_COMMIT=" + a.commit)
    if a.cxx:
        configure.append("-DCMAKE_CXX_COMPILER=" + a.cxx)
    launcher = a.launcher or shutil.which("ccache") or ""
    if launcher:
        configure.append("-DCMAKE_CXX_COMPILER_LAUNCHER=" + launcher)
    t = time.monotonic()
    rc, out = run(configure)
    if rc != 0:
        fail("cmake configure of the copy", out)
    jobs = str(os.cpu_count() or 2)
    rc, out = run(["cmake", "--build", str(build), "-j", jobs, "--target",
                   "mitos", name + "_test"], timeout=5400)
    if rc != 0:
        fail("the copy with the new module does not build", out)
    ok("the copy builds with %s (%d s%s)" % (
        name, time.monotonic() - t, ", ccache" if launcher else ", no ccache"))

    camel = "".join(p[:1].upper() + p[1:] for p in name.split("_"))
    rc, listed = run(["ctest", "--test-dir", str(build), "-N", "-R", "^%s\\." % name])
    for suite in ("%sContract." % camel, "%sServiceTest." % camel):
        if "%s.%s" % (name, suite) not in listed:
            fail("no %s tests in the copy's ctest" % suite, listed)
    rc, out = run(["ctest", "--test-dir", str(build), "-R", "^%s\\." % name,
                   "--output-on-failure"])
    if rc != 0:
        fail("the new module's tests fail", out)
    ok("its tests pass: %s" % [l.strip() for l in out.splitlines() if "tests passed" in l])
    rc, out = run(["ctest", "--test-dir", str(build), "-R", "^arch\\.", "--output-on-failure"])
    if rc != 0:
        fail("the architecture checks fail on the copy", out)
    ok("the architecture checks pass with it (module boundaries, API, coroutines)")

    binary = str(build / "mitos")
    rc, out = run([binary, "modules", "--json"])
    mods = {m["name"]: m for m in json.loads(out)} if rc == 0 else {}
    if mods.get(name, {}).get("route_prefixes") != ["/" + name]:
        fail("mitos modules --json does not list %s with /%s" % (name, name), out)
    ok("mitos modules --json lists it: %s" % mods[name]["summary"])

    port = free_port()
    base = "http://127.0.0.1:%d" % port
    data = tempfile.mkdtemp(prefix="mitos-scaffold-")
    log = open(pathlib.Path(a.work) / "serve.log", "w")
    # Alone on a laptop, the module is its own edge and takes development
    # tokens; its contract makes creating an admin's right.
    proc = subprocess.Popen([binary, "--modules=" + name, "--host", "127.0.0.1",
                             "--port", str(port), "--data-dir", data,
                             "--set", "auth.edge=true",
                             "--log-format", "text"], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if request("GET", base + "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                fail("mitos --modules=%s never got ready" % name,
                     (pathlib.Path(a.work) / "serve.log").read_text())
            time.sleep(0.05)
        status, _, body = request("POST", base + "/" + name, {"name": "x"}, token=False)
        if status != 401:
            fail("POST /%s without a token: %d %s" % (name, status, body))
        rc, out = run([binary, "--data-dir", data, "auth", "dev-token", "--sub", "1",
                       "--scope", name + ":admin"])
        if rc != 0:
            fail("mitos auth dev-token", out)
        TOKEN.append(out.strip())
        status, headers, body = request("POST", base + "/" + name, {"name": "  first  "})
        created = json.loads(body)
        if status != 201 or created.get("name") != "first" or not created.get("created_at"):
            fail("POST /%s: %d %s" % (name, status, body))
        location = headers.get("Location")
        if location != "/%s/%d" % (name, created["id"]):
            fail("POST /%s: Location %s" % (name, location))
        status, _, body = request("GET", base + location)
        if status != 200 or json.loads(body) != created:
            fail("GET %s: %d %s" % (location, status, body))
        request("POST", base + "/" + name, {"name": "second"})
        status, _, body = request("GET", base + "/%s?limit=1" % name)
        page = json.loads(body)
        if status != 200 or page["items"] != [created] or page["next_after"] != created["id"]:
            fail("GET /%s?limit=1: %d %s" % (name, status, body))
        status, _, body = request("POST", base + "/" + name, {"name": "first"})
        if status != 409:
            fail("a duplicate name: %d %s" % (status, body))
        status, _, body = request("GET", base + "/%s/999" % name)
        if status != 404:
            fail("GET /%s/999: %d %s" % (name, status, body))
        ok("--modules=%s alone on loopback: POST 201 with Location, GET, a page, 409, 404" % name)
        status, _, body = request("GET", base + "/openapi.json")
        doc = json.loads(body)
        for path in ("/" + name, "/%s/{id}" % name):
            if path not in doc.get("paths", {}):
                fail("/openapi.json has no %s" % path, body)
        if "post" not in doc["paths"]["/" + name] or \
                "%s.Item" % name not in doc["components"]["schemas"]:
            fail("/openapi.json lacks POST /%s or %s.Item" % (name, name), body)
        ok("/openapi.json documents /%s and /%s/{id}" % (name, name))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "killed"
        log.close()
        shutil.rmtree(data, ignore_errors=True)
    if rc != 0:
        fail("SIGTERM: exit %s" % rc)
    ok("SIGTERM: drained and exited 0")
    print("scaffold: %d passed, 0 failed (%d s)" % (passed, time.monotonic() - started))


if __name__ == "__main__":
    main()
