#!/usr/bin/env python3
"""Tests of the command line that depend on which modules the binary knows.

The expected output is computed from `mitos modules --json`, so adding a
module to the binary changes no test.

Usage: modules.py CHECK MITOS_BIN
  json            `modules --json` is a well-formed list of the modules
  list            `modules` prints one row per module: name, needs, summary
  unknown_module  `--modules=nope` exits 2 and lists every known module
"""

import json
import re
import subprocess
import sys

KEYS = {"name", "summary", "needs", "route_prefixes"}


def fail(msg, out=""):
    print("FAIL: " + msg)
    if out:
        print("--- output:")
        print(out)
    sys.exit(1)


def run(binary, *args):
    p = subprocess.run([binary, *args], capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


def known_modules(binary):
    """The modules of `mitos modules --json`, checked for shape."""
    rc, out, err = run(binary, "modules", "--json")
    if rc != 0:
        fail("modules --json exited %d" % rc, out + err)
    try:
        modules = json.loads(out)
    except ValueError as e:
        fail("modules --json is not JSON: %s" % e, out)
    if not isinstance(modules, list) or not modules:
        fail("modules --json is not a non-empty list", out)
    names = []
    for m in modules:
        if not isinstance(m, dict) or set(m) != KEYS:
            fail("module entry without exactly the keys %s: %r" % (sorted(KEYS), m))
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", m["name"]):
            fail("bad module name %r" % m["name"])
        if not isinstance(m["summary"], str) or not m["summary"]:
            fail("module %s has no summary" % m["name"])
        for key in ("needs", "route_prefixes"):
            if not isinstance(m[key], list) or not all(isinstance(x, str) for x in m[key]):
                fail("module %s: %s is not a list of strings" % (m["name"], key))
        if not all(p.startswith("/") for p in m["route_prefixes"]):
            fail("module %s: a route prefix not starting with /" % m["name"])
        names.append(m["name"])
    if len(set(names)) != len(names):
        fail("a module is listed twice: %s" % names)
    for m in modules:
        unknown = [n for n in m["needs"] if n not in names or n == m["name"]]
        if unknown:
            fail("module %s needs unknown modules %s" % (m["name"], unknown))
    return modules


def check_json(binary):
    modules = known_modules(binary)
    # The same modules, in the same order, as the help text names.
    rc, out, err = run(binary, "--help")
    known = re.search(r"Known: ((?:[a-z0-9_-]+, )*[a-z0-9_-]+)", " ".join(out.split()))
    listed = [n.strip() for n in known.group(1).split(",")] if known else None
    if rc != 0 or listed != [m["name"] for m in modules]:
        fail("--help names %s, modules --json %s"
             % (listed, [m["name"] for m in modules]), out + err)
    print("ok: %d modules: %s" % (len(modules), ", ".join(m["name"] for m in modules)))


def check_list(binary):
    modules = known_modules(binary)
    rc, out, err = run(binary, "modules")
    if rc != 0:
        fail("modules exited %d" % rc, out + err)
    rows = out.splitlines()
    if len(rows) != len(modules) + 1 or not re.fullmatch(
            r"MODULE +NEEDS +WHAT IT DOES", rows[0]):
        fail("expected a header and %d rows" % len(modules), out)
    for m, row in zip(modules, rows[1:]):
        needs = ",".join(m["needs"]) or "-"
        if not re.fullmatch(r"%s +%s +%s" % tuple(
                re.escape(x) for x in (m["name"], needs, m["summary"])), row):
            fail("row %r is not: %s, %s, %s" % (row, m["name"], needs, m["summary"]), out)
    print("ok: %d rows" % len(modules))


def check_unknown_module(binary):
    names = ", ".join(m["name"] for m in known_modules(binary))
    rc, out, err = run(binary, "--modules=nope")
    want = 'unknown module "nope"; known modules: %s' % names
    if rc != 2:
        fail("exit status %d, expected 2" % rc, out + err)
    if want not in " ".join((out + err).split()):
        fail("output does not say: %s" % want, out + err)
    print("ok: exit 2, %s" % want)


CHECKS = {"json": check_json, "list": check_list,
          "unknown_module": check_unknown_module}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in CHECKS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    CHECKS[sys.argv[1]](sys.argv[2])
