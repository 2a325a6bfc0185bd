"""A minimal OpenTelemetry collector endpoint for the tests: it accepts
OTLP/HTTP JSON export requests on POST /v1/traces, decodes them, and keeps
every span with the service.name of its resource.

It checks what a real collector needs: the path, an application/json
Content-Type, and a body of resourceSpans[].scopeSpans[].spans[] whose ids
are hex strings of the right length. A request that breaks these rules is
answered 400 and remembered in `errors`, so that tests fail on it.
"""

import http.server
import json
import re
import threading

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


class OtlpReceiver:
    def __init__(self):
        self._lock = threading.Lock()
        self._spans = []     # dicts: the OTLP span plus "service"
        self.errors = []     # why requests were refused
        self.requests = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                problem = receiver._accept(self.path, self.headers.get("Content-Type", ""), body)
                status = 400 if problem else 200
                out = json.dumps({"error": problem} if problem else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def close(self):
        self._server.shutdown()
        self._server.server_close()

    def spans(self, trace_id=None):
        with self._lock:
            return [s for s in self._spans if trace_id is None or s["traceId"] == trace_id]

    def _accept(self, path, ctype, body):
        with self._lock:
            self.requests += 1
        problem = self._decode(path, ctype, body)
        if problem:
            with self._lock:
                self.errors.append(problem)
        return problem

    def _decode(self, path, ctype, body):
        if path != "/v1/traces":
            return "path %r is not /v1/traces" % path
        if ctype.split(";")[0].strip() != "application/json":
            return "Content-Type %r is not application/json" % ctype
        try:
            doc = json.loads(body)
        except ValueError as e:
            return "body is not JSON: %s" % e
        got = []
        for rs in doc.get("resourceSpans", []):
            attrs = {a["key"]: a["value"] for a in rs.get("resource", {}).get("attributes", [])}
            service = attrs.get("service.name", {}).get("stringValue")
            if not service:
                return "a resource without service.name"
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    if not HEX32.match(span.get("traceId", "")):
                        return "bad traceId %r" % span.get("traceId")
                    if not HEX16.match(span.get("spanId", "")):
                        return "bad spanId %r" % span.get("spanId")
                    parent = span.get("parentSpanId", "")
                    if parent and not HEX16.match(parent):
                        return "bad parentSpanId %r" % parent
                    if span.get("kind") not in (1, 2, 3, 4, 5):
                        return "bad kind %r" % span.get("kind")
                    start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
                    if not 0 < start <= end:
                        return "bad times %r..%r" % (start, end)
                    s = dict(span)
                    s["service"] = service
                    s["resource"] = {k: v.get("stringValue") for k, v in attrs.items()}
                    s["attrs"] = {a["key"]: next(iter(a["value"].values()))
                                  for a in span.get("attributes", [])}
                    got.append(s)
        with self._lock:
            self._spans.extend(got)
        return None
