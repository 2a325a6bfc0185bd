"""HTTP/1.1 transport behaviour seen by ordinary clients, black-box.

An answer given before the whole request was read (here a 413 for a body
over server.max_body_bytes) must reach a client that is still sending:
the server stops writing, then reads and drops the rest before it closes,
so the client gets the problem response instead of a reset or a broken
pipe. In the split topology the gateway gives that answer.
"""

import http.client
import json
import shutil
import subprocess
import urllib.parse

import pytest

from helpers import HTTP_TIMEOUT_S, unique_email

EIGHT_MIB = 8 * 1024 * 1024


def _oversized_user():
    """A JSON body of 8 MiB, far over the 1 MiB limit."""
    head = '{"email": "%s", "name": "' % unique_email()
    tail = '"}'
    return (head + "x" * (EIGHT_MIB - len(head) - len(tail)) + tail).encode()


def _connect(base_url):
    u = urllib.parse.urlsplit(base_url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=HTTP_TIMEOUT_S)


def _assert_413_problem(status, content_type, body):
    assert status == 413, body[:300]
    assert content_type.split(";")[0].strip() == "application/problem+json", content_type
    problem = json.loads(body)
    assert problem["status"] == 413, problem
    assert problem["title"] and problem["detail"], problem


def test_oversized_body_is_answered_413_while_the_client_sends_it(base_url):
    body = _oversized_user()
    conn = _connect(base_url)
    try:
        # http.client sends the whole body before it reads a byte.
        conn.request("POST", "/users", body=body,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        _assert_413_problem(r.status, r.getheader("Content-Type", ""), r.read())
        assert r.getheader("Connection", "").lower() == "close"
    finally:
        conn.close()


def test_oversized_chunked_body_is_answered_413_while_the_client_sends_it(base_url):
    # The limit is met in the middle of the body: an error after the head.
    body = _oversized_user()
    pieces = (body[i:i + 65536] for i in range(0, len(body), 65536))
    conn = _connect(base_url)
    try:
        conn.request("POST", "/users", body=pieces, encode_chunked=True,
                     headers={"Content-Type": "application/json",
                              "Transfer-Encoding": "chunked"})
        r = conn.getresponse()
        _assert_413_problem(r.status, r.getheader("Content-Type", ""), r.read())
    finally:
        conn.close()


def test_oversized_body_from_curl_is_answered_413(base_url, tmp_path):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("needs curl")
    payload = tmp_path / "user.json"
    payload.write_bytes(_oversized_user())
    headers, out = tmp_path / "headers", tmp_path / "body"
    # No "Expect: 100-continue": curl sends the body at once.
    done = subprocess.run(
        [curl, "-sS", "-o", str(out), "-D", str(headers), "-w", "%{http_code}",
         "--max-time", str(int(HTTP_TIMEOUT_S)), "-H", "Expect:",
         "-H", "Content-Type: application/json",
         "--data-binary", "@" + str(payload), base_url + "/users"],
        capture_output=True, timeout=HTTP_TIMEOUT_S + 5)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    content_type = ""
    for line in headers.read_text(errors="replace").splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-type":
            content_type = value.strip()
    _assert_413_problem(int(done.stdout), content_type, out.read_bytes())
