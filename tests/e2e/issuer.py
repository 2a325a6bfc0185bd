"""A token issuer for the tests: the identity provider of a deployment.

It makes its signing keys with openssl at start (an RSA key for RS256, a
P-256 key for ES256), or loads a private key it is given (the container
test's, whose JWKS the manifests carry), serves their JWKS over HTTP on
loopback, and signs tokens with either. Tests also use it to forge tokens:
any header and claims can be signed with any of its keys, or with a key it
does not publish.
"""

import base64
import hashlib
import http.server
import json
import pathlib
import subprocess
import tempfile
import threading
import time

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ISSUER = "https://issuer.e2e.example"
AUDIENCE = "mitos"
ADMIN_SCOPES = "users:admin orders:admin products:admin"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def openssl_key(path, kind):
    """Makes a private key with openssl: "rsa" (2048 bits) or "ec" (P-256)."""
    if kind == "rsa":
        argv = ["openssl", "genpkey", "-algorithm", "RSA",
                "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(path)]
    else:
        argv = ["openssl", "genpkey", "-algorithm", "EC",
                "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)]
    subprocess.run(argv, check=True, capture_output=True)
    return load_key(path)


def load_key(path):
    return serialization.load_pem_private_key(pathlib.Path(path).read_bytes(),
                                              password=None)


def jwk_of(key):
    """The public JWK of a private key, its kid the RFC 7638 thumbprint."""
    pub = key.public_key()
    if isinstance(key, rsa.RSAPrivateKey):
        n = pub.public_numbers()
        members = {"e": b64url(_uint(n.e)), "kty": "RSA", "n": b64url(_uint(n.n))}
        alg = "RS256"
    else:
        n = pub.public_numbers()
        members = {"crv": "P-256", "kty": "EC",
                   "x": b64url(n.x.to_bytes(32, "big")),
                   "y": b64url(n.y.to_bytes(32, "big"))}
        alg = "ES256"
    thumb = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return dict(members, kid=b64url(hashlib.sha256(thumb).digest()), alg=alg,
                use="sig")


def sign(key, header, claims):
    """A compact JWS of `claims` under `header`, signed with `key` (an RSA
    or EC private key, or bytes for HMAC-SHA256) whatever the header says."""
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    c = b64url(json.dumps(claims, separators=(",", ":")).encode())
    data = ("%s.%s" % (h, c)).encode()
    if isinstance(key, bytes):
        m = hmac.HMAC(key, hashes.SHA256())
        m.update(data)
        sig = m.finalize()
    elif isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return "%s.%s" % (data.decode(), b64url(sig))


class Issuer:
    """Keys, their JWKS served on loopback, and tokens signed with them."""

    def __init__(self, key_path=None, issuer=ISSUER, audience=AUDIENCE):
        self.issuer = issuer
        self.audience = audience
        self._dir = tempfile.TemporaryDirectory(prefix="mitos-issuer-")
        d = pathlib.Path(self._dir.name)
        if key_path:
            self.keys = [load_key(key_path)]
        else:
            self.keys = [openssl_key(d / "rsa.pem", "rsa"), openssl_key(d / "ec.pem", "ec")]
        # Signs nothing the services trust: for forged tokens.
        self.stranger = openssl_key(d / "stranger.pem", "rsa")
        self.published = list(self.keys)
        self.jwks_requests = 0
        self._cache = {}
        self._lock = threading.Lock()
        issuer_self = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the library's name
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                with issuer_self._lock:
                    issuer_self.jwks_requests += 1
                body = json.dumps(issuer_self.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/jwk-set+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def jwks_url(self):
        return "http://127.0.0.1:%d/jwks.json" % self._server.server_address[1]

    def jwks(self):
        with self._lock:
            return {"keys": [jwk_of(k) for k in self.published]}

    def write_jwks(self, path):
        pathlib.Path(path).write_text(json.dumps(self.jwks()))

    def env(self):
        """The configuration of an instance that trusts this issuer."""
        return {"MITOS_AUTH__MODE": "jwks", "MITOS_AUTH__JWKS_URL": self.jwks_url,
                "MITOS_AUTH__ISSUER": self.issuer, "MITOS_AUTH__AUDIENCE": self.audience}

    def claims(self, sub, scope=None, ttl=3600, **extra):
        now = int(time.time())
        c = {"iss": self.issuer, "aud": self.audience, "sub": str(sub),
             "iat": now, "exp": now + ttl}
        if scope:
            c["scope"] = scope
        c.update(extra)
        return c

    def token(self, sub, scope=None, key=None, header=None, **claims):
        """A valid token for `sub` (cached per subject and scope while it
        has more than ten minutes left), or, with `key`, `header` or extra
        claims, exactly the token asked for."""
        plain = key is None and header is None and not claims
        cache_key = (str(sub), scope)
        if plain:
            with self._lock:
                hit = self._cache.get(cache_key)
            if hit and hit[1] - time.time() > 600:
                return hit[0]
        k = key if key is not None else self.keys[0]
        if header is None:
            if isinstance(k, bytes):
                header = {"alg": "HS256", "typ": "JWT"}
            else:
                header = {"alg": jwk_of(k)["alg"], "typ": "JWT", "kid": jwk_of(k)["kid"]}
        c = self.claims(sub, scope, **claims)
        t = sign(k, header, c)
        if plain:
            with self._lock:
                self._cache[cache_key] = (t, c["exp"])
        return t

    def admin(self):
        """A token with every module's admin scope."""
        return self.token("admin", ADMIN_SCOPES)

    def rotate(self):
        """Publishes a new signing key next to the old ones and signs with
        it from now on; returns it."""
        k = openssl_key(pathlib.Path(self._dir.name) / ("rsa-%d.pem" % len(self.published)), "rsa")
        with self._lock:
            self.published.append(k)
            self.keys.insert(0, k)
            self._cache.clear()
        return k

    def close(self):
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()
