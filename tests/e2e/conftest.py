"""Starts Mitos in the chosen topology and hands tests its base URL.

Options:
  --mitos-bin PATH   the binary (default: $MITOS_BIN, else <repo>/build/mitos)
  --topology T       monolith (one process, every module), split (one
                     process per module, a stall proxy in front of users,
                     and the gateway) or external (start nothing, use
                     --base-url)
  --base-url URL     for external: the only URL the suite talks to
  --postgres URL     a PostgreSQL superuser's URL (loopback only): every
                     module that owns storage runs on PostgreSQL instead of
                     SQLite, in a database and role of its own that the
                     suite creates on that server and drops at the end
  --replicas N       with split and --postgres: N processes of every module
                     that owns storage, their callers (the gateway too)
                     given all N URLs, comma-separated
  --nats URL         with split: a nats-server with JetStream (loopback
                     only), or @FILE to read its URL from FILE; events
                     between the processes go through it, on a stream and
                     subjects of this session's own. Without it the split
                     has no path for events, and their tests are skipped
  --issuer-key PEM   with external: the private key of the issuer whose
                     JWKS the deployment trusts (with --issuer); the suite
                     signs its tokens with it
  --issuer ISS       with external: that issuer's iss

Auth is on in every topology. The suite runs a token issuer (tests/e2e/
issuer.py: keys made with openssl, its JWKS served on loopback); every
instance it starts verifies tokens against that JWKS (auth.mode: jwks), and
instances sign their calls to each other with a service key file made by
`mitos auth service-keys`. The `client` fixture sends an admin token; tests
of who may do what make tokens of their own (`issuer`). Rate limits are off
but where a test sets them.

Every process is started as
  mitos --host 127.0.0.1 --port 0 --data-dir <tmp>/<name> --log-format json
        --set shutdown.drain_delay_ms=0 [--config config/split/<name>.yaml]
        [--modules=<name>]
its port is read from its {"msg":"listening","port":N} log line, and it is
used once GET /readyz is 200. The modules, what each needs and which is the
gateway come from `mitos modules --json`: in split, every module but the
gateway gets a process, started after the modules it needs and given their
URLs, and the gateway gets the URL of every one. Logs go to <tmp>/<name>.log (stdout) and
<tmp>/<name>.err.log (stderr); the tail of every log is attached to each
failed test's report. Everything started is killed at the end of the session.
"""

import ctypes
import ipaddress
import secrets
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.parse

import pytest
import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from helpers import FAULT_ENV, GATEWAY, Client, ServiceKeys, unique_email  # noqa: E402
from issuer import ADMIN_SCOPES, Issuer  # noqa: E402
from otlp_receiver import OtlpReceiver  # noqa: E402
from stall_proxy import StallProxy  # noqa: E402
import yaml  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 20.0
STALLED = "users"  # behind the stall proxy, for the fault tests



def pytest_addoption(parser):
    g = parser.getgroup("mitos", "Mitos end-to-end suite")
    g.addoption("--mitos-bin", default=None,
                help="the mitos binary (default: $MITOS_BIN, else build/mitos)")
    g.addoption("--topology", default="monolith",
                choices=["monolith", "split", "external"],
                help="how to run Mitos (default: monolith)")
    g.addoption("--base-url", default=None,
                help="with --topology external: the URL to test (loopback only)")
    g.addoption("--postgres", default=None,
                help="a PostgreSQL superuser's URL (loopback only): run every "
                     "module that owns storage on PostgreSQL, one database each")
    g.addoption("--replicas", default=1, type=int,
                help="with --topology split and --postgres: run this many "
                     "processes of every module that owns storage, and give "
                     "their callers all of their URLs")
    g.addoption("--nats", default=None,
                help="with --topology split: nats-server's URL (loopback "
                     "only), or @FILE holding it; events go through it")
    g.addoption("--issuer-key", default=None,
                help="with --topology external: PEM private key of the token "
                     "issuer the deployment trusts")
    g.addoption("--issuer", default=None,
                help="with --topology external and --issuer-key: its iss")


def pytest_configure(config):
    topo = config.getoption("--topology")
    base = config.getoption("--base-url")
    if topo == "external":
        if not base:
            raise pytest.UsageError("--topology external needs --base-url")
        _require_loopback(base)
        if not config.getoption("--issuer-key") or not config.getoption("--issuer"):
            raise pytest.UsageError("--topology external needs --issuer-key and "
                                    "--issuer: auth is on in every topology")
    elif base:
        raise pytest.UsageError("--base-url is only for --topology external")
    pg = config.getoption("--postgres")
    if pg:
        if topo == "external":
            raise pytest.UsageError("--postgres is for topologies this suite starts")
        _require_loopback(pg)
    nats = config.getoption("--nats")
    if nats:
        if topo != "split":
            raise pytest.UsageError("--nats is for --topology split")
        _require_loopback(nats_url(config))
    replicas = config.getoption("--replicas")
    if replicas < 1:
        raise pytest.UsageError("--replicas must be 1 or more")
    if replicas > 1 and (topo != "split" or not pg):
        # SQLite has one writer: a module's file is never shared by processes.
        raise pytest.UsageError("--replicas is for --topology split with --postgres")


def nats_url(config):
    """The --nats URL, read from its file for @FILE; None without --nats."""
    nats = config.getoption("--nats")
    if nats and nats.startswith("@"):
        try:
            return pathlib.Path(nats[1:]).read_text().strip()
        except OSError as e:
            raise pytest.UsageError("--nats %s: %s" % (nats, e))
    return nats


def _require_loopback(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise pytest.UsageError("the suite talks to loopback addresses only, got %r" % url)


def _mitos_bin(config):
    path = (config.getoption("--mitos-bin") or os.environ.get("MITOS_BIN")
            or str(REPO / "build" / "mitos"))
    return str(pathlib.Path(path).resolve())


# --- modules ------------------------------------------------------------------


def known_modules(binary):
    """The modules the binary knows, as `mitos modules --json` lists them:
    [{"name", "summary", "needs", "route_prefixes"}]."""
    p = subprocess.run([binary, "modules", "--json"], capture_output=True,
                       text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("%s modules --json exited with status %d: %s"
                           % (binary, p.returncode, p.stderr))
    return json.loads(p.stdout)


def dependency_order(catalog):
    """The modules other than the gateway, each after the modules it needs."""
    by_name = {m["name"]: m for m in catalog}
    order, done = [], set()

    def visit(name, path):
        if name in done:
            return
        if name in path:
            raise RuntimeError("modules that need each other: %s"
                               % " -> ".join(path + [name]))
        for need in by_name[name]["needs"]:
            visit(need, path + [name])
        done.add(name)
        order.append(by_name[name])

    for m in catalog:
        if m["name"] != GATEWAY:
            visit(m["name"], [])
    return order


def storage_modules(binary):
    """The modules that own storage: those with <name>.storage.backend in
    the binary's resolved configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITOS_")}
    p = subprocess.run([binary, "config", "print"], capture_output=True,
                       text=True, timeout=30, env=env)
    if p.returncode != 0:
        raise RuntimeError("%s config print exited with status %d: %s"
                           % (binary, p.returncode, p.stderr))
    cfg = yaml.safe_load(p.stdout) or {}
    return sorted(name for name, v in cfg.items()
                  if isinstance(v, dict) and isinstance(v.get("storage"), dict)
                  and "backend" in v["storage"])


class PostgresDatabases:
    """One database per module, each owned by a role of its own that may
    connect to nothing else, on the server at `admin_url` (a superuser's);
    created by psql, dropped by close()."""

    def __init__(self, admin_url, tag):
        self.admin_url = admin_url
        self.tag = tag
        self.created = []  # role (= database) names

    def _psql(self, sql, dbname=None):
        url = self.admin_url
        if dbname:
            parts = urllib.parse.urlsplit(url)
            url = urllib.parse.urlunsplit(parts._replace(path="/" + dbname))
        p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("psql failed: %s" % p.stderr.strip())

    def create(self, module):
        """Returns the URL of a new, empty database for `module`."""
        name = "e2e_%s_%s_%d" % (self.tag, module, os.getpid())
        password = secrets.token_hex(12)
        self._psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        self._psql("DROP ROLE IF EXISTS %s" % name)
        self._psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (name, password))
        self.created.append(name)
        self._psql("CREATE DATABASE %s OWNER %s" % (name, name))
        self._psql("REVOKE CONNECT ON DATABASE %s FROM PUBLIC" % name)
        # PostgreSQL 15 gives PUBLIC no CREATE on schema public; the owner of
        # the database needs it for its tables.
        self._psql("ALTER SCHEMA public OWNER TO %s" % name, dbname=name)
        parts = urllib.parse.urlsplit(self.admin_url)
        return "postgresql://%s:%s@%s:%d/%s" % (name, password, parts.hostname,
                                                parts.port or 5432, name)

    def close(self):
        for name in reversed(self.created):
            try:
                self._psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
                self._psql("DROP ROLE IF EXISTS %s" % name)
            except Exception:  # noqa: BLE001 - drop the others
                pass
        self.created = []


def storage_env(module, url):
    """The variables that put `module`'s storage on the PostgreSQL database
    at `url`."""
    key = "MITOS_%s__STORAGE__" % module.upper()
    return {key + "BACKEND": "postgres", key + "URL": url}


def remote_env(module, url):
    """The variable that gives an instance the URL of `module`."""
    return {"MITOS_REMOTES__%s__URL" % module.upper(): url}


# --- processes ----------------------------------------------------------------


def _die_with_parent():
    """In the child: SIGKILL it if the test run itself dies (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        pass


class Process:
    """One mitos process, restartable on the same port and data dir."""

    def __init__(self, binary, name, workdir, module=None, env=None):
        self.binary = binary
        self.name = name
        self.module = module
        self.env = dict(env or {})
        self.data_dir = workdir / name
        self.log_path = workdir / (name + ".log")
        self.err_path = workdir / (name + ".err.log")
        self.popen = None
        self.port = 0
        # --set KEY=VALUE pairs after the defaults above, which they override.
        self.sets = []

    @property
    def url(self):
        return "http://%s:%d" % (LOOPBACK, self.port)

    def argv(self, port):
        argv = [self.binary, "--host", LOOPBACK, "--port", str(port),
                "--data-dir", str(self.data_dir), "--log-format", "json",
                "--set", "shutdown.drain_delay_ms=0"]
        for kv in self.sets:
            argv += ["--set", kv]
        if self.module:
            cfg = REPO / "config" / "split" / (self.module + ".yaml")
            if cfg.is_file():
                argv += ["--config", str(cfg)]
            argv.append("--modules=" + self.module)
        return argv

    def start(self, port=0):
        """Starts the process (on `port`, 0 for a free one) and waits until
        it is ready. Raises RuntimeError with its log tail on failure."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                self._start_once(port)
                return self
            except RuntimeError:
                # A fixed port may still be held for a moment by the killed
                # process (a runtime failure, status 1); anything else
                # fails at once.
                if (port == 0 or self.popen.returncode != 1
                        or time.monotonic() > deadline):
                    raise
                time.sleep(0.2)

    def _start_once(self, port):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MITOS_")}
        env.update(self.env)
        with open(self.log_path, "ab") as log:
            offset = log.tell()
            log.write(("--- e2e: starting %s\n" % " ".join(self.argv(port))).encode())
        out = open(self.log_path, "ab")
        err = open(self.err_path, "ab")
        try:
            self.popen = subprocess.Popen(self.argv(port), stdout=out, stderr=err,
                                          stdin=subprocess.DEVNULL, env=env,
                                          cwd=str(REPO), preexec_fn=_die_with_parent)
        finally:
            out.close()
            err.close()
        self.port = self._wait_port(offset)
        self._wait_ready()

    def _wait_port(self, offset):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                for line in f.read().decode(errors="replace").splitlines():
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(rec, dict) and rec.get("msg") == "listening":
                        return int(rec["port"])
            if self.popen.poll() is not None:
                raise RuntimeError("%s exited with status %s during start-up"
                                   % (self.name, self.popen.returncode))
            time.sleep(0.02)
        raise RuntimeError("%s did not report its port" % self.name)

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        last = None
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError("%s exited with status %s before it was ready"
                                   % (self.name, self.popen.returncode))
            try:
                r = requests.get(self.url + "/readyz", timeout=2)
                last = "%d %s" % (r.status_code, r.text[:200])
                if r.status_code == 200:
                    return
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
        raise RuntimeError("%s not ready on %s (last /readyz: %s)"
                           % (self.name, self.url, last))

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def kill(self):
        """SIGKILL, then reap."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(timeout=10)

    def stop(self):
        """SIGTERM, and SIGKILL if it has not exited within 5 s."""
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()

    def terminate(self, timeout):
        """SIGTERM, and its exit status once it exits; SIGKILL and None if
        it has not exited within `timeout` s."""
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def tail(self, lines=40):
        out = []
        for p in (self.log_path, self.err_path):
            if p.exists():
                text = p.read_text(errors="replace").splitlines()
                if text:
                    out.append("--- %s (last %d lines)" % (p, min(lines, len(text))))
                    out.extend(text[-lines:])
        return "\n".join(out)


class Topology:
    def __init__(self, kind, base_url=None, postgres=None, replicas=1,
                 issuer=None, nats=None):
        self.kind = kind
        self.nats = nats  # nats-server's URL (split), or None
        self.base_url = base_url
        self.postgres = postgres  # a superuser's URL, or None for SQLite
        # Processes per module that owns storage (split on PostgreSQL): the
        # first is procs[<module>], the others procs["<module>-2"] ...
        self.replicas = replicas
        self.databases = None     # PostgresDatabases, with postgres
        self.storage_env = {}     # module -> its storage variables
        self.procs = {}   # name -> Process, in start order
        self.proxy = None
        self.receiver = None  # the OTLP receiver of launched topologies
        self.catalog = None   # known_modules() of launched topologies
        self.issuer = issuer  # the token issuer the instances trust
        self.auth_env = {}    # what makes an instance trust it
        self.service_keys = None  # the key file that signs calls between instances

    @property
    def launched(self):
        return self.kind != "external"

    def start(self, binary, workdir):
        # Every process exports its spans to this receiver, configured the
        # standard way (OTEL_* variables), with short batching delays.
        self.receiver = OtlpReceiver()
        self.trace_env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.receiver.url,
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=e2e",
            "MITOS_TRACING__EXPORT_INTERVAL_MS": "100",
        }
        self.catalog = known_modules(binary)
        self.service_keys = workdir / "service-keys"
        subprocess.run([binary, "auth", "service-keys", str(self.service_keys)],
                       check=True, capture_output=True)
        self.auth_env = dict(self.issuer.env(), **{
            "MITOS_AUTH__SERVICE_KEYS_FILE": str(self.service_keys),
            "MITOS_LIMITS__SUBJECT__RATE": "0",
            "MITOS_LIMITS__ADDRESS__RATE": "0",
            # Key rotations a second apart (test_auth) are each fetched.
            "MITOS_AUTH__JWKS_MIN_REFETCH_S": "1",
            "MITOS_AUTH__SERVICE_KEYS_RELOAD_S": "1",
        })
        self.trace_env.update(self.auth_env)
        if self.nats:
            # A stream and subjects of this session's own: sessions that
            # share a server do not see each other's events.
            tag = secrets.token_hex(4)
            self.trace_env.update({
                "MITOS_EVENTS__NATS__URL": self.nats,
                "MITOS_EVENTS__NATS__STREAM": "E2E" + tag,
                "MITOS_EVENTS__NATS__SUBJECT_PREFIX": "e2e%s.events" % tag,
            })
        if self.postgres:
            self.databases = PostgresDatabases(self.postgres, self.kind)
            for m in storage_modules(binary):
                self.storage_env[m] = storage_env(m, self.databases.create(m))
        if self.kind == "monolith":
            env = dict(self.trace_env)
            for e in self.storage_env.values():
                env.update(e)
            p = self._add(Process(binary, "monolith", workdir, env=env)).start()
            self.base_url = p.url
        elif self.kind == "split":
            self._start_split(binary, workdir)
        return self

    def _start_split(self, binary, workdir):
        """One process per module but the gateway, each after what it
        needs. Modules that need STALLED reach it through the stall proxy;
        the gateway reaches every module directly. Instances that call
        others get the short remote settings of FAULT_ENV. With replicas,
        a module that owns storage runs as that many processes, its callers
        get all of their URLs, and there is no stall proxy."""
        names = [m["name"] for m in self.catalog]
        if GATEWAY not in names or STALLED not in names:
            raise RuntimeError("the split needs modules %s and %s, the binary "
                               "knows %s" % (GATEWAY, STALLED, names))
        url_for_callers = {}
        direct = {}
        for m in dependency_order(self.catalog):
            env = dict(self.trace_env)
            env.update(self.storage_env.get(m["name"], {}))
            if m["needs"]:
                env.update(FAULT_ENV)
            for need in m["needs"]:
                env.update(remote_env(need, url_for_callers[need]))
            count = self.replicas if m["name"] in self.storage_env else 1
            urls = []
            for i in range(count):
                name = m["name"] if i == 0 else "%s-%d" % (m["name"], i + 1)
                p = self._add(Process(binary, name, workdir, module=m["name"],
                                      env=env)).start()
                urls.append(p.url)
            direct[m["name"]] = url_for_callers[m["name"]] = ",".join(urls)
            if m["name"] == STALLED and count == 1:
                self.proxy = StallProxy(p.port)
                url_for_callers[m["name"]] = self.proxy.url
        env = dict(FAULT_ENV, **self.trace_env)
        for name, url in direct.items():
            env.update(remote_env(name, url))
        gateway = self._add(Process(binary, GATEWAY, workdir, module=GATEWAY,
                                    env=env)).start()
        self.base_url = gateway.url

    def procs_of(self, module):
        """The processes that run `module`: the monolith, or the module's
        replicas in split (one unless --replicas)."""
        if self.kind == "monolith":
            return [self.procs["monolith"]]
        return [p for name, p in self.procs.items()
                if name == module or (name.startswith(module + "-")
                                      and name[len(module) + 1:].isdigit())]

    def _add(self, proc):
        self.procs[proc.name] = proc
        return proc

    def close(self):
        for p in reversed(list(self.procs.values())):
            try:
                p.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                pass
        if self.proxy:
            self.proxy.close()
        if self.receiver:
            self.receiver.close()
        if self.databases:
            self.databases.close()
        if self.issuer:
            self.issuer.close()

    def tails(self):
        return "\n".join(p.tail() for p in self.procs.values())

    def service_client(self, url, service=GATEWAY, user=("admin", ADMIN_SCOPES.split())):
        """A client of one instance, calling it as another instance of the
        deployment would: as `service`, for `user`."""
        return Client(url, service=(ServiceKeys(self.service_keys), service, user))


_TOPOLOGY = None


@pytest.fixture(scope="session")
def topology(request, tmp_path_factory):
    global _TOPOLOGY
    cfg = request.config
    if cfg.getoption("--topology") == "external":
        issuer = Issuer(key_path=cfg.getoption("--issuer-key"),
                        issuer=cfg.getoption("--issuer"))
    else:
        issuer = Issuer()
    topo = Topology(cfg.getoption("--topology"), cfg.getoption("--base-url"),
                    cfg.getoption("--postgres"), cfg.getoption("--replicas"),
                    issuer, nats_url(cfg))
    _TOPOLOGY = topo
    if topo.launched:
        binary = _mitos_bin(cfg)
        if not os.access(binary, os.X_OK):
            pytest.exit("mitos binary not found or not executable: %s" % binary, 2)
        workdir = tmp_path_factory.mktemp("mitos-" + topo.kind)
        try:
            topo.start(binary, workdir)
        except RuntimeError as e:
            # Nothing can run without it: stop here, once, with the logs.
            topo.close()
            pytest.exit("the %s topology did not start: %s\n%s"
                        % (topo.kind, e, topo.tails()), returncode=1)
        except BaseException:
            topo.close()
            raise
    yield topo
    topo.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _TOPOLOGY is not None and _TOPOLOGY.procs:
        rep.sections.append(("mitos logs (%s)" % _TOPOLOGY.kind, _TOPOLOGY.tails()))


def pytest_sessionfinish(session, exitstatus):
    if _TOPOLOGY is not None:   # in case a fixture teardown did not run
        _TOPOLOGY.close()


# --- HTTP ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def base_url(topology):
    return topology.base_url


@pytest.fixture(scope="session")
def issuer(topology):
    """The token issuer the instances trust (tests/e2e/issuer.py)."""
    return topology.issuer


@pytest.fixture
def client(base_url, issuer):
    """A client of the edge with a token holding every admin scope."""
    c = Client(base_url, token=issuer.admin())
    yield c
    c.close()


@pytest.fixture
def as_user(base_url, issuer):
    """as_user(sub, scope=None) -> a client of the edge whose token's
    subject is `sub`."""
    made = []

    def make(sub, scope=None):
        c = Client(base_url, token=issuer.token(sub, scope))
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


@pytest.fixture
def anonymous(base_url):
    """A client of the edge with no token."""
    c = Client(base_url)
    yield c
    c.close()


@pytest.fixture
def make_user(client):
    """make_user(name=..., email=...) -> the created user (201 asserted)."""
    def make(name="E2E User", email=None):
        r = client.post("/users", json={"name": name, "email": email or unique_email()})
        assert r.status_code == 201, r.text
        return r.json()
    return make


@pytest.fixture
def launched(topology):
    """The topology, when this suite started its processes (their logs,
    their OTLP receiver and each instance's own URL are at hand)."""
    if not topology.launched:
        pytest.skip("needs processes this suite starts (monolith or split)")
    return topology


# --- faults (split only) ------------------------------------------------------


@pytest.fixture
def split(topology):
    if topology.kind != "split":
        pytest.skip("needs --topology split (processes this suite starts)")
    return topology


@pytest.fixture
def orders_url(split):
    """The orders instance itself (not the gateway), to read its /health."""
    return split.procs["orders"].url


@pytest.fixture
def kill_users(split):
    """kill_users(): SIGKILL the users process."""
    return split.procs["users"].kill


@pytest.fixture
def restart_users(split):
    """restart_users(): start users again on the same port and data dir, so
    that the URL orders and gateway were given stays valid; waits until it
    is ready."""
    def restart():
        users = split.procs["users"]
        users.kill()
        users.start(port=users.port)
    return restart


@pytest.fixture
def stall(split):
    """stall(True) makes users look hung to orders; stall(False) ends it."""
    if split.proxy is None:
        pytest.skip("needs the stall proxy (a split without replicas)")
    return split.proxy.stall


@pytest.fixture
def replicated(split):
    """The split with several processes per module that owns storage."""
    if split.replicas < 2:
        pytest.skip("needs --replicas 2 or more")
    return split


@pytest.fixture
def own_process(request, split, tmp_path):
    """own_process(name, module, env) -> a Process of the test's own, beside
    the topology (same binary and fault settings), started and ready; it is
    stopped after the test."""
    started = []

    def start(name, module, env=None):
        full = dict(FAULT_ENV, **split.auth_env)
        full.update(env or {})
        p = Process(_mitos_bin(request.config), name, tmp_path, module=module,
                    env=full)
        started.append(p)
        return p.start()

    yield start
    for p in reversed(started):
        p.stop()


@pytest.fixture
def own_instance(request, launched, tmp_path):
    """own_instance(name, env, sets) -> a monolith of the test's own (every
    module) beside the topology, trusting the suite's issuer unless `env`
    says otherwise; stopped after the test."""
    started = []

    def start(name, env=None, sets=()):
        full = dict(launched.auth_env)
        full.update(env or {})
        p = Process(_mitos_bin(request.config), name, tmp_path, env=full)
        p.sets = list(sets)
        started.append(p)
        return p.start()

    yield start
    for p in reversed(started):
        p.stop()


@pytest.fixture
def fault_env(split):
    """Leaves users running and un-stalled after a fault test, whatever
    happened in it."""
    yield split
    if split.proxy is not None:
        split.proxy.stall(False)
    users = split.procs["users"]
    if not users.alive():
        users.start(port=users.port)
