#!/usr/bin/env python3
"""Generates a module's bindings from its contract.

    generate.py CONTRACT OUT_DIR          writes the generated sources
    generate.py --needs CONTRACT          prints the modules it needs (CMake)

Into OUT_DIR it writes:
  api/<m>/api.h           the API other modules call: the types and the
                          interface (operations as mitos::Task coroutines)
  module/<m>/contract.h   for the module itself: the JSON codec, routes, the
                          remote client, the observed decorator, the spec
  <m>_codec.cpp           the codec
  <m>_contract.cpp        the rest, and the OpenAPI part
  <m>_contract_test.cpp   the contract test: codec round trips, and every
                          operation through the in-process API and the
                          remote client alike
  <m>_fuzz.cpp            the module's fuzz target (MITOS_FUZZ builds)
  fuzz_seeds/<Operation>  a seed input per operation for it, built from
                          the contract's examples
Files are rewritten only when their text changes, so the build recompiles
only what a contract change touches.
"""
import json
import os
import pathlib
import sys

import jinja2

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import contract as contract_lib  # noqa: E402
import openapi  # noqa: E402

TEMPLATES = pathlib.Path(__file__).resolve().parent / "templates"


def cpp_type(c, f):
    base = ("std::vector<%s>" % cpp_scalar(c, f["of"])) if f["type"] == "list" else cpp_scalar(c, f["type"])
    return "std::optional<%s>" % base if f["optional"] else base


def cpp_scalar(c, t):
    if t in contract_lib.SCALARS:
        return contract_lib.SCALARS[t][0]
    return t


def field_default(f):
    if f["optional"] or f["type"] == "list" or f["is_struct"]:
        return ""
    return contract_lib.SCALARS[f["type"]][1]


def result_type(op):
    if op["page"]:
        return "mitos::StatusOr<mitos::Page<%s>>" % op["returns"]
    if op["returns"]:
        return "mitos::StatusOr<%s>" % op["returns"]
    return "mitos::Status"


def params(op):
    out = []
    if op["has_id"]:
        out.append(("int64_t", "id"))
    for q in op["query"]:
        out.append(("std::optional<int64_t>" if q["optional"] else "int64_t", q["name"]))
    if op["page"]:
        out.append(("mitos::PageRequest", "page"))
    if op["body"]:
        out.append((op["body"]["type"], op["body"]["name"]))
    return out


def signature(op):
    return ", ".join("%s %s" % p for p in params(op))


def arg_names(op):
    return ", ".join(n for _, n in params(op))


def moved_args(op):
    return ", ".join("std::move(%s)" % n if t not in ("int64_t",) else n
                     for t, n in params(op))


def types_in_order(c):
    """Types so that each comes after the types its fields use."""
    done, out = set(), []

    def visit(name):
        if name in done:
            return
        done.add(name)
        for f in c["types"][name]["fields"]:
            if f["is_struct"]:
                visit(f["ref"])
        out.append(c["types"][name])

    for name in c["types"]:
        visit(name)
    return out


def path_expr(op):
    """A C++ expression for the request path, with {id} filled in."""
    path = op["path"]
    if "{id}" not in path:
        return '"%s"' % path
    before, after = path.split("{id}")
    expr = '"%s" + std::to_string(id)' % before
    if after:
        expr += ' + "%s"' % after
    return expr


def returns_id(c, op):
    """True iff the operation returns a type with an int64 `id`."""
    if not op["returns"]:
        return False
    return any(f["name"] == "id" and f["type"] == "int64"
               for f in c["types"][op["returns"]]["fields"])


def sample_json(c, type_name):
    """A JSON value of the type, from the contract's examples."""
    out = {}
    for i, f in enumerate(c["types"][type_name]["fields"], start=1):
        if f["type"] == "list":
            out[f["name"]] = [sample_json(c, f["of"])]
        elif f["example"] is not None:
            out[f["name"]] = f["example"]
        elif f["type"] == "string":
            out[f["name"]] = "sample %s" % f["name"]
        else:
            out[f["name"]] = i
    return out


def fuzz_seed(c, op):
    """A fuzz input (mitos_fuzzing/modules.h) that exercises the operation."""
    target = op["path"].replace("{id}", "1")
    query = ["%s=1" % q["name"] for q in op["query"]]
    if op["page"]:
        query.append("limit=2")
    if query:
        target += "?" + "&".join(query)
    seed = "%s %s\n" % (op["method"], target)
    if op["body"]:
        seed += "application/json\n"
        seed += json.dumps(sample_json(c, op["body"]["type"]), separators=(",", ":"))
    else:
        seed += "\n"
    return seed


def encoder_name(op):
    """The routes' encoder of an operation's result type, in its key order."""
    return ("EncodeSorted%s" if op["key_order"] == "sorted" else "Encode%s") % op["returns"]


def encoders(c):
    """The routes' encoders: (name, type, the codec's function), once each."""
    out = []
    for op in c["operations"]:
        if not op["returns"]:
            continue
        e = (encoder_name(op), op["returns"],
             "AppendSortedJson" if op["key_order"] == "sorted" else "AppendJson")
        if e not in out:
            out.append(e)
    return out


def write(path, text):
    path = pathlib.Path(path)
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv):
    if len(argv) == 3 and argv[1] == "--needs":
        c = contract_lib.load(argv[2])
        print(";".join(c["needs"]), end="")
        return 0
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    c = contract_lib.load(argv[1])
    out = pathlib.Path(argv[2])
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.globals.update(cpp_type=lambda f: cpp_type(c, f), field_default=field_default,
                       result_type=result_type, signature=signature, params=params,
                       arg_names=arg_names, moved_args=moved_args, path_expr=path_expr,
                       encoder_name=encoder_name, encoders=lambda: encoders(c),
                       cpp_string=lambda s: json.dumps(s))
    doc = openapi.fragment(c)
    for op in c["operations"]:
        op["returns_id"] = returns_id(c, op)
    ctx = {"c": c, "m": c["module"], "M": c["Module"], "types": types_in_order(c),
           "ops": c["operations"], "source": os.path.relpath(argv[1], out),
           "contract_name": "modules/%s/contract.yaml" % c["module"],
           "openapi": json.dumps(doc, separators=(",", ":"), sort_keys=True)}
    m = c["module"]
    write(out / "api" / m / "api.h", env.get_template("api.h.j2").render(ctx))
    write(out / "module" / m / "contract.h", env.get_template("contract.h.j2").render(ctx))
    write(out / ("%s_codec.cpp" % m), env.get_template("codec.cpp.j2").render(ctx))
    write(out / ("%s_contract.cpp" % m), env.get_template("contract.cpp.j2").render(ctx))
    write(out / ("%s_contract_test.cpp" % m), env.get_template("contract_test.cpp.j2").render(ctx))
    write(out / ("%s_fuzz.cpp" % m), env.get_template("fuzz.cpp.j2").render(ctx))
    for op in c["operations"]:
        write(out / "fuzz_seeds" / op["name"], fuzz_seed(c, op))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except contract_lib.ContractError as e:
        print("error: %s" % e, file=sys.stderr)
        sys.exit(1)
