"""Reads and checks a module's contract (modules/<name>/contract.yaml).

The contract declares a module's API once: its types, its operations, and
how each operation is served over HTTP. generate.py derives the C++ API,
the JSON codec, the routes, the remote client, the observed decorator and
the module's part of the OpenAPI document from what this returns.

Every error names the contract file and the line of the offending entry.
"""
import re

import yaml

SCALARS = {
    # contract type: (C++ type, default initializer, OpenAPI schema)
    "string": ("std::string", "", {"type": "string"}),
    "int64": ("int64_t", " = 0", {"type": "integer", "format": "int64"}),
}
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FIELD = re.compile(r"^[a-z_][a-z0-9_]*$")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# How an operation's answer orders the keys of its objects: as the type
# declares its fields, or alphabetically (as a JSON tree such as
# nlohmann::json writes them; for answers that were written that way before
# their module had a contract).
KEY_ORDERS = ("declared", "sorted")


class ContractError(Exception):
    pass


class Node:
    """A YAML value with the line it was written on."""

    def __init__(self, value, line):
        self.value = value
        self.line = line


def _wrap(node):
    if isinstance(node, yaml.MappingNode):
        out = {}
        for k, v in node.value:
            out[k.value] = _wrap(v)
            out[k.value].key_line = k.start_mark.line + 1
        return Node(out, node.start_mark.line + 1)
    if isinstance(node, yaml.SequenceNode):
        return Node([_wrap(v) for v in node.value], node.start_mark.line + 1)
    value = yaml.safe_load(yaml.serialize(node)) if node.tag != "tag:yaml.org,2002:str" else node.value
    return Node(value, node.start_mark.line + 1)


class Reader:
    def __init__(self, path):
        self.path = path

    def fail(self, node, message):
        line = getattr(node, "key_line", None) or node.line
        raise ContractError("%s:%d: %s" % (self.path, line, message))

    def mapping(self, node, what, allowed, required=()):
        if not isinstance(node.value, dict):
            self.fail(node, "%s must be a mapping" % what)
        for k, v in node.value.items():
            if k not in allowed:
                self.fail(v, "unknown key '%s' in %s (allowed: %s)" %
                          (k, what, ", ".join(sorted(allowed))))
        for k in required:
            if k not in node.value:
                self.fail(node, "%s needs '%s'" % (what, k))
        return node.value

    def string(self, node, what):
        if not isinstance(node.value, str) or not node.value:
            self.fail(node, "%s must be a non-empty string" % what)
        return node.value

    def boolean(self, node, what):
        if not isinstance(node.value, bool):
            self.fail(node, "%s must be true or false" % what)
        return node.value

    def integer(self, node, what, low):
        if not isinstance(node.value, int) or isinstance(node.value, bool) or node.value < low:
            self.fail(node, "%s must be an integer of at least %d" % (what, low))
        return node.value


def _camel(name):
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def load(path):
    with open(path) as f:
        text = f.read()
    try:
        root = _wrap(yaml.compose(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ContractError("%s:%d: invalid YAML: %s" % (path, line, getattr(e, "problem", e)))
    r = Reader(path)
    if root is None or root.value is None:
        raise ContractError("%s:1: the contract is empty" % path)
    top = r.mapping(root, "the contract",
                    {"module", "summary", "needs", "database", "checks", "not_found",
                     "types", "events", "operations"},
                    required=("module", "summary", "operations"))
    c = {"path": path}
    c["module"] = r.string(top["module"], "module")
    if not FIELD.match(c["module"]):
        r.fail(top["module"], "module must be lower case letters, digits and '_'")
    c["Module"] = _camel(c["module"])
    c["summary"] = r.string(top["summary"], "summary")
    c["needs"] = []
    if "needs" in top:
        if not isinstance(top["needs"].value, list):
            r.fail(top["needs"], "needs must be a list of module names")
        c["needs"] = [r.string(n, "a need") for n in top["needs"].value]
    c["database"] = r.boolean(top["database"], "database") if "database" in top else False
    c["checks"] = r.string(top["checks"], "checks") if "checks" in top else None
    c["not_found"] = (r.string(top["not_found"], "not_found") if "not_found" in top
                      else "%s {id} does not exist." % c["Module"])
    if "{id}" not in c["not_found"]:
        r.fail(top["not_found"], "not_found must contain {id}")

    types = {}
    for name, tnode in (top["types"].value.items() if "types" in top else []):
        if not IDENT.match(name) or not name[0].isupper():
            r.fail(tnode, "type name '%s' must be CamelCase" % name)
        t = r.mapping(tnode, "type %s" % name, {"doc", "fields"}, required=("fields",))
        fields = []
        for fname, fnode in t["fields"].value.items():
            if not FIELD.match(fname):
                r.fail(fnode, "field name '%s' must be snake_case" % fname)
            f = r.mapping(fnode, "field %s.%s" % (name, fname),
                          {"type", "of", "optional", "check", "doc", "format", "example"},
                          required=("type",))
            field = {"name": fname, "node": fnode,
                     "type": r.string(f["type"], "type"),
                     "optional": r.boolean(f["optional"], "optional") if "optional" in f else False,
                     "check": r.string(f["check"], "check") if "check" in f else None,
                     "doc": r.string(f["doc"], "doc") if "doc" in f else "",
                     "format": r.string(f["format"], "format") if "format" in f else None,
                     "example": f["example"].value if "example" in f else None,
                     "of": r.string(f["of"], "of") if "of" in f else None}
            if field["type"] == "list" and not field["of"]:
                r.fail(fnode, "a list field needs 'of: <type>'")
            if field["check"] and not IDENT.match(field["check"]):
                r.fail(f["check"], "check must name a C++ function")
            fields.append(field)
        types[name] = {"name": name, "doc": r.string(t["doc"], "doc") if "doc" in t else "",
                       "fields": fields, "node": tnode}
    # Second pass: every referenced type exists.
    for t in types.values():
        for f in t["fields"]:
            ref = f["of"] if f["type"] == "list" else f["type"]
            if ref not in SCALARS and ref not in types:
                r.fail(f["node"], "unknown type '%s' (known: %s)" %
                       (ref, ", ".join(sorted(list(SCALARS) + list(types)))))
            f["ref"] = ref
            f["is_struct"] = ref in types
            if f["type"] == "list" and (f["optional"] or not f["is_struct"]):
                r.fail(f["node"], "a list is of a contract type, and not optional (send it empty)")
            if f["type"] != "list" and f["is_struct"]:
                r.fail(f["node"], "a field of a contract type must be a list of it")
    c["types"] = types
    c["events"] = _events(r, top, types, c)

    ops = []
    prefixes = []
    for name, onode in top["operations"].value.items():
        if not IDENT.match(name) or not name[0].isupper():
            r.fail(onode, "operation name '%s' must be CamelCase" % name)
        o = r.mapping(onode, "operation %s" % name,
                      {"doc", "http", "body", "query", "page", "returns", "created",
                       "idempotent", "invalid", "key_order", "auth"},
                      required=("http", "auth"))
        http = r.string(o["http"], "http").split()
        if len(http) != 2 or http[0] not in METHODS or not http[1].startswith("/"):
            r.fail(o["http"], "http must be '<METHOD> /path', METHOD one of %s" % ", ".join(METHODS))
        method, path = http
        segments = path.strip("/").split("/")
        params = [s[1:-1] for s in segments if s.startswith("{")]
        for p in params:
            if p != "id":
                r.fail(o["http"], "path parameter {%s}: only {id} (a positive integer id) is supported" % p)
        if len(params) > 1:
            r.fail(o["http"], "at most one {id} per path")
        prefix = "/" + segments[0]
        if prefix not in prefixes:
            prefixes.append(prefix)
        op = {"name": name, "method": method, "path": path, "has_id": bool(params),
              "doc": r.string(o["doc"], "doc").strip() if "doc" in o else "",
              "idempotent": (r.boolean(o["idempotent"], "idempotent") if "idempotent" in o
                             else method in ("GET", "PUT", "DELETE")),
              "created": r.boolean(o["created"], "created") if "created" in o else False,
              "invalid": (r.string(o["invalid"], "invalid") if "invalid" in o
                          else "The request has invalid fields."),
              "node": onode}
        op["auth"] = _auth(r, o["auth"], name)
        op["body"] = None
        if "body" in o:
            b = r.mapping(o["body"], "body of %s" % name, {"name", "type"}, required=("name", "type"))
            bt = r.string(b["type"], "body type")
            if bt not in types:
                r.fail(b["type"], "unknown body type '%s'" % bt)
            if method in ("GET", "DELETE"):
                r.fail(o["body"], "a %s has no body" % method)
            op["body"] = {"name": r.string(b["name"], "body name"), "type": bt}
        op["query"] = []
        if "query" in o:
            for qname, qnode in o["query"].value.items():
                q = r.mapping(qnode, "query parameter %s" % qname, {"type", "optional", "doc"},
                              required=("type",))
                qt = r.string(q["type"], "type")
                if qt != "id":
                    r.fail(q["type"], "query parameters are ids (type: id)")
                op["query"].append({"name": qname, "optional": r.boolean(q["optional"], "optional")
                                    if "optional" in q else False,
                                    "doc": r.string(q["doc"], "doc") if "doc" in q else ""})
        op["page"] = None
        if "page" in o:
            p = r.mapping(o["page"], "page of %s" % name, {"default", "max"}, required=("default", "max"))
            op["page"] = {"default": r.integer(p["default"], "page.default", 1),
                          "max": r.integer(p["max"], "page.max", 1)}
            if op["page"]["default"] > op["page"]["max"]:
                r.fail(o["page"], "page.default must not exceed page.max")
            if method != "GET":
                r.fail(o["page"], "only a GET is paged")
        op["returns"] = None
        if "returns" in o and o["returns"].value is not None:
            rt = r.string(o["returns"], "returns")
            if rt not in types:
                r.fail(o["returns"], "unknown type '%s'" % rt)
            op["returns"] = rt
        if op["created"]:
            if method != "POST" or not op["returns"]:
                r.fail(o["created"], "created: true needs a POST that returns a type with an id")
            if "id" not in [f["name"] for f in types[op["returns"]]["fields"]]:
                r.fail(o["created"], "created: true needs the returned type to have an 'id' field")
        op["key_order"] = "declared"
        if "key_order" in o:
            op["key_order"] = r.string(o["key_order"], "key_order")
            if op["key_order"] not in KEY_ORDERS:
                r.fail(o["key_order"], "key_order must be one of %s" % ", ".join(KEY_ORDERS))
            if not op["returns"]:
                r.fail(o["key_order"], "key_order needs an operation that returns a type")
        op["status"] = 201 if op["created"] else (200 if op["returns"] else 204)
        ops.append(op)
    c["operations"] = ops
    c["prefixes"] = prefixes
    c["sorted_types"] = _reachable(types, [op["returns"] for op in ops
                                           if op["key_order"] == "sorted"])
    return c


SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")  # RFC 6749 scope-token


def _auth(r, node, name):
    """An operation's `auth`: who may call it. `public`, `authenticated`, or
    {scope: <scope>}; every operation says, since a route that declares
    nothing is denied."""
    if isinstance(node.value, str):
        kind = r.string(node, "auth")
        if kind not in ("public", "authenticated"):
            r.fail(node, "auth of %s must be public, authenticated or {scope: <scope>}" % name)
        return {"kind": kind, "scope": ""}
    a = r.mapping(node, "auth of %s" % name, {"scope"}, required=("scope",))
    scope = r.string(a["scope"], "auth.scope")
    if not SCOPE.match(scope):
        r.fail(a["scope"], "auth.scope must be one scope token (no spaces or quotes)")
    return {"kind": "scope", "scope": scope}


def _events(r, top, types, c):
    """The `events:` section: the event types the module publishes. Each is a
    record of scalar fields with a `key`, the field whose events are
    delivered in publication order."""
    out = []
    if "events" not in top:
        return out
    if not isinstance(top["events"].value, dict):
        r.fail(top["events"], "events must be a mapping of event type names")
    if not c["database"]:
        r.fail(top["events"], "a module that publishes events needs database: true "
                              "(the outbox is a table of its database)")
    for name, enode in top["events"].value.items():
        if not IDENT.match(name) or not name[0].isupper():
            r.fail(enode, "event name '%s' must be CamelCase" % name)
        if name in types:
            r.fail(enode, "event '%s' has the name of a type" % name)
        e = r.mapping(enode, "event %s" % name, {"doc", "key", "fields"},
                      required=("key", "fields"))
        fields = []
        for fname, fnode in e["fields"].value.items():
            if not FIELD.match(fname):
                r.fail(fnode, "field name '%s' must be snake_case" % fname)
            f = r.mapping(fnode, "field %s.%s" % (name, fname),
                          {"type", "optional", "doc", "format", "example"},
                          required=("type",))
            ftype = r.string(f["type"], "type")
            if ftype not in SCALARS:
                r.fail(f["type"], "an event field is one of %s" % ", ".join(sorted(SCALARS)))
            fields.append({"name": fname, "type": ftype, "ref": ftype, "is_struct": False,
                           "optional": r.boolean(f["optional"], "optional") if "optional" in f else False,
                           "doc": r.string(f["doc"], "doc") if "doc" in f else "",
                           "format": r.string(f["format"], "format") if "format" in f else None,
                           "example": f["example"].value if "example" in f else None,
                           "check": None, "of": None, "node": fnode})
        key = r.string(e["key"], "key")
        by_name = {f["name"]: f for f in fields}
        if key not in by_name or by_name[key]["optional"]:
            r.fail(e["key"], "key must name a field of %s that is not optional" % name)
        out.append({"name": name, "doc": r.string(e["doc"], "doc") if "doc" in e else "",
                    "key": by_name[key], "fields": fields,
                    "type_name": "%s.%s" % (c["module"], name), "node": enode})
    return out


def _reachable(types, roots):
    """The names of `roots` and of every type their fields use, in
    declaration order."""
    seen = set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        for f in types[name]["fields"]:
            if f["is_struct"]:
                visit(f["ref"])

    for name in roots:
        visit(name)
    return [name for name in types if name in seen]
