#!/usr/bin/env python3
"""The runtime's subsystem graph, checked on the build files and the sources.

- Each folder app/runtime/<name>/ is one subsystem with one library target,
  mitos_<name>, whose public headers are include/mitos/<name>/.
- The subsystems a library links (mitos::<other> in its
  target_link_libraries) form an acyclic graph, and app/runtime/CMakeLists.txt
  adds them bottom-up: each one links only subsystems added before it.
- A subsystem's sources (tests excepted: a test target may assemble more)
  include headers only of itself and of the subsystems its library links.
- Modules include only the headers that make the module API (MODULE_API).

Usage: check_subsystems.py REPO_ROOT
"""
import pathlib
import re
import sys

# The headers a module may include: what a module is, the HTTP surface, the
# error model, config, storage, observability and calls to other modules.
# Coroutine tasks are how operations wait; event loops, the server, the
# parser and the channels stay the runtime's.
MODULE_API = {
    "mitos/base/context.h",
    "mitos/base/json.h",
    "mitos/base/status.h",
    "mitos/config/config.h",
    "mitos/core/module.h",
    "mitos/events/bus.h",
    "mitos/events/event.h",
    "mitos/http/http.h",
    "mitos/http/rest.h",
    "mitos/http/validation.h",
    "mitos/io/task.h",
    "mitos/observability/log.h",
    "mitos/observability/metrics.h",
    "mitos/observability/observe.h",
    "mitos/observability/trace.h",
    "mitos/remote/remote.h",
    "mitos/storage/sqlite.h",
    "mitos/storage/storage.h",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"(mitos/([a-z_]+)/[^"]+)"', re.M)


def library_links(cmake_text, name):
    """Returns the mitos::<x> targets that mitos_<name>'s library links."""
    m = re.search(r"target_link_libraries\(\s*mitos_%s\b(.*?)\)" % name,
                  cmake_text, re.S)
    if not m:
        return None
    return set(re.findall(r"mitos::([a-z_]+)", m.group(1)))


def main(root):
    root = pathlib.Path(root)
    runtime = root / "app" / "runtime"
    errors = []
    top = (runtime / "CMakeLists.txt").read_text()
    order = re.findall(r"^add_subdirectory\(([a-z_]+)\)", top, re.M)
    folders = sorted(p.name for p in runtime.iterdir() if p.is_dir())
    if sorted(order) != folders:
        errors.append("app/runtime/CMakeLists.txt adds %s, the folders are %s"
                      % (order, folders))

    deps = {}
    for name in order:
        cmake = runtime / name / "CMakeLists.txt"
        links = library_links(cmake.read_text(), name) if cmake.exists() else None
        if links is None:
            errors.append("%s: no library target mitos_%s" % (cmake, name))
            continue
        deps[name] = links - {name}
        public = runtime / name / "include" / "mitos" / name
        if not public.is_dir():
            errors.append("subsystem %s has no include/mitos/%s/" % (name, name))

    # Bottom-up order is a topological order, so the graph has no cycle.
    for i, name in enumerate(order):
        for d in sorted(deps.get(name, ())):
            if d not in order:
                errors.append("mitos_%s links mitos::%s, which is no subsystem"
                              % (name, d))
            elif order.index(d) >= i:
                errors.append("mitos_%s links mitos::%s, which is not below it "
                              "(a cycle, or the order in app/runtime/"
                              "CMakeLists.txt is wrong)" % (name, d))

    for name in order:
        allowed = deps.get(name, set()) | {name}
        for src in sorted((runtime / name).rglob("*")):
            if src.suffix not in (".h", ".cpp", ".in") or src.stem.endswith("_test"):
                continue
            for m in INCLUDE.finditer(src.read_text()):
                if m.group(2) not in allowed:
                    errors.append("%s includes %s, but mitos_%s does not link "
                                  "mitos::%s" % (src.relative_to(root), m.group(1),
                                                 name, m.group(2)))

    for src in sorted((root / "modules").rglob("*")):
        if src.suffix not in (".h", ".cpp"):
            continue
        for m in INCLUDE.finditer(src.read_text()):
            if m.group(1) not in MODULE_API:
                errors.append("%s includes %s, which is not part of the module "
                              "API" % (src.relative_to(root), m.group(1)))

    for e in errors:
        print(e)
    if errors:
        return 1
    print("ok: subsystems, bottom-up: " + " <- ".join(order))
    for name in order:
        print("  %-14s links %s" % (name, ", ".join(sorted(deps[name])) or "-"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
