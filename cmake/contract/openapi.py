"""A module's part of the OpenAPI 3.1 document, derived from its contract.

The runtime merges the parts of the modules an instance serves (or, for a
gateway, routes) into GET /openapi.json.
"""
import contract as contract_lib

PROBLEM = {"$ref": "#/components/schemas/Problem"}
ERRORS = {
    "400": "The body is not a JSON object.",
    "401": "No valid bearer token; WWW-Authenticate says why.",
    "403": "The token lacks the operation's scope.",
    "404": "No such object.",
    "409": "A conflict with the current state.",
    "415": "The body is not application/json.",
    "422": "Invalid fields; `errors` lists each.",
    "429": "Over the caller's rate limit; retry after Retry-After.",
    "503": "A dependency or the storage is unavailable; retry after Retry-After.",
    "504": "The deadline passed.",
    "507": "The storage is full.",
}


def ref(c, type_name):
    """The schema of a contract type; named after the module, so that two
    modules' types of the same name do not collide in one document."""
    return {"$ref": "#/components/schemas/%s.%s" % (c["module"], type_name)}


def _schema(c, f):
    if f["type"] == "list":
        return {"type": "array", "items": ref(c, f["of"])}
    s = dict(contract_lib.SCALARS[f["type"]][2])
    if f["format"]:
        s["format"] = f["format"]
    if f["doc"]:
        s["description"] = f["doc"]
    return s


def _problem(code):
    return {"description": ERRORS[code],
            "content": {"application/problem+json": {"schema": PROBLEM}}}


def fragment(c):
    schemas = {}
    for t in c["types"].values():
        props = {f["name"]: _schema(c, f) for f in t["fields"]}
        s = {"type": "object", "properties": props, "additionalProperties": False,
             "required": [f["name"] for f in t["fields"] if not f["optional"]]}
        if not s["required"]:
            del s["required"]
        if t["doc"]:
            s["description"] = t["doc"]
        schemas["%s.%s" % (c["module"], t["name"])] = s
    paths = {}
    for op in c["operations"]:
        o = {"operationId": "%s.%s" % (c["module"], op["name"]),
             "tags": [c["module"]], "responses": {}}
        if op["doc"]:
            o["description"] = op["doc"]
        params = []
        if op["has_id"]:
            params.append({"name": "id", "in": "path", "required": True,
                           "schema": {"type": "integer", "format": "int64", "minimum": 1}})
        for q in op["query"]:
            params.append({"name": q["name"], "in": "query", "required": not q["optional"],
                           "schema": {"type": "integer", "format": "int64", "minimum": 1}})
        if op["page"]:
            params.append({"name": "limit", "in": "query", "required": False,
                           "schema": {"type": "integer", "minimum": 1,
                                      "maximum": op["page"]["max"],
                                      "default": op["page"]["default"]}})
            params.append({"name": "after", "in": "query", "required": False,
                           "schema": {"type": "integer", "format": "int64", "minimum": 0,
                                      "default": 0}})
        if params:
            o["parameters"] = params
        if op["body"]:
            o["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": ref(c, op["body"]["type"])}}}
        ok = {"description": "OK"}
        if op["page"]:
            ok["content"] = {"application/json": {"schema": {
                "type": "object", "required": ["items", "next_after"],
                "properties": {
                    "items": {"type": "array", "items": ref(c, op["returns"])},
                    "next_after": {"type": ["integer", "null"], "format": "int64"}}}}}
        elif op["returns"]:
            ok["content"] = {"application/json": {"schema": ref(c, op["returns"])}}
        if op["created"]:
            ok["description"] = "Created"
            ok["headers"] = {"Location": {"schema": {"type": "string"},
                                          "description": "The new object's path."}}
        if op["status"] == 204:
            ok["description"] = "Done"
        o["responses"][str(op["status"])] = ok
        codes = ["503", "504"]
        if op["has_id"]:
            codes.append("404")
        if op["body"]:
            codes += ["400", "415", "422", "409", "507"]
        elif op["method"] != "GET":
            codes += ["409", "507"]
        if op["query"] or op["page"]:
            codes.append("422")
        codes.append("429")
        if op["auth"]["kind"] == "public":
            o["security"] = [{}]
        else:
            # The runtime's document declares the scheme (bearerAuth).
            o["security"] = [{"bearerAuth": [op["auth"]["scope"]] if op["auth"]["scope"] else []}]
            codes.append("401")
            if op["auth"]["kind"] == "scope":
                codes.append("403")
        for code in sorted(set(codes)):
            o["responses"][code] = _problem(code)
        paths.setdefault(op["path"], {})[op["method"].lower()] = o
    return {"paths": paths, "components": {"schemas": schemas}}
