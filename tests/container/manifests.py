"""Tools for tests/container/run.sh on rendered Kubernetes manifests.

  manifests.py typescript RENDERED.yaml OUT.ts
      Writes every document as a typed TypeScript constant
      (`const d0: import("kubernetes-types/apps/v1").Deployment = {...}`),
      so that `tsc --noEmit --strict` rejects unknown fields and wrong types.

  manifests.py broken RENDERED.yaml OUT.yaml
      Writes three deliberately wrong Deployments made from the first one
      (an unknown field, a string for an integer, a number for a resource
      quantity): the negative sample the schema check must reject.

  manifests.py policy RENDERED.yaml
      Checks the rules of docs/deploy.md on a rendered overlay: a pod that
      mounts a claim, or runs a module whose data is in SQLite (the default
      <module>.storage.backend), is the only one (replicas 1, strategy
      Recreate, a ReadWriteOncePod claim, no autoscaler); the others, the
      gateway and modules whose data is in PostgreSQL, have an autoscaler
      and a disruption budget and may roll; a PostgreSQL URL comes from a
      Secret (url_file on a mounted Secret, or a secretKeyRef), never from a
      ConfigMap; a StatefulSet is hardened the same way, with a claim
      template, a readiness probe and a NetworkPolicy; probes on /livez and /readyz; a preStop sleep plus the app's
      shutdown.timeout_ms within terminationGracePeriodSeconds; requests and
      limits; the restricted security context; scrape annotations; a
      NetworkPolicy for every pod; --config names a key of the mounted
      ConfigMap, --modules (when given) runs what that config does, and
      every remotes.<module>.url there names a Service; every Mitos
      container's effective auth.mode (its environment, else its config
      file, else the default dev) is jwks, never dev or off; the edge (the
      gateway, or an instance of every module) names its JWKS (a mounted
      file or a URL) and issuer; an instance that calls others or is not
      the edge has auth.service_keys_file on a mounted Secret.

  manifests.py policy-samples RENDERED.yaml OUTDIR
      Writes deliberately wrong variants of a rendered split-postgres
      overlay, OUTDIR/<name>.yaml, and prints "<name> <file> <message>"
      for each: the negative samples the policy must reject, each with
      the message it must give.

  manifests.py with-keys RENDERED.yaml OUT.yaml ISSUER_KEY.pem ISSUER SERVICE_KEYS
      Writes the rendered overlay with the test's keys in place of the
      examples: the ConfigMap mitos-auth holds the JWKS of the private key
      ISSUER_KEY.pem (tests/e2e/issuer.py's jwk_of) and the issuer ISSUER,
      the Secret mitos-service-keys (when rendered) the key file
      SERVICE_KEYS.

  manifests.py secret-urls RENDERED.yaml
      Prints "<secret> <url>" for every Secret with a key url (the
      modules' database URLs).

  manifests.py debian-mirror
      Prints the Debian archive that this machine's apt uses for bookworm.

  manifests.py play RENDERED.yaml OUTDIR
      Splits a topology for `podman kube play`, which runs Deployments,
      PersistentVolumeClaims and ConfigMaps but ignores Services. For each
      Service, writes OUTDIR/<service>.yaml with the Deployment it selects
      and the claims and ConfigMaps that Deployment mounts or reads
      (configMapKeyRef), and prints "<service> <file> <port>..." (one port
      per replica). What podman 4.3 cannot run is rewritten to what it
      can: a StatefulSet becomes a one-pod Deployment with the claims of
      its templates; a Secret volume becomes a ConfigMap volume with the
      Secret's data; an autoscaled Deployment runs its minReplicas, each
      replica a one-pod Deployment <name>-r<i> with its own hostPort. The
      caller plays each file on one podman network with the Service's name
      as the pods' network alias, which is what the Service's DNS name
      gives in a cluster. The pods' first port gets a hostPort, a free port
      on 127.0.0.1 (the <port> printed): this podman's kube play publishes
      every containerPort on the host, on the same number when no hostPort
      is given, so three pods would all claim 8080. One change is the
      test's, not podman's: the edge's rate limits are lifted
      (MITOS_LIMITS__SUBJECT__RATE and MITOS_LIMITS__ADDRESS__RATE 0 on
      every Mitos container), since the e2e suite is one admin subject on
      one address, far faster than a person. Nothing else is changed.
"""

import base64
import json
import pathlib
import re
import socket
import sys
import urllib.parse

import yaml


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def ts_module(api_version):
    """kubernetes-types module of an apiVersion: apps/v1 -> apps/v1,
    v1 -> core/v1, networking.k8s.io/v1 -> networking/v1."""
    if "/" not in api_version:
        return "core/" + api_version
    group, version = api_version.split("/", 1)
    return group.removesuffix(".k8s.io") + "/" + version


def typescript(docs):
    out = ["// Generated by tests/container/manifests.py; checked with tsc --strict.\n"]
    for i, d in enumerate(docs):
        kind, api = d.get("kind"), d.get("apiVersion")
        if not kind or not api:
            raise SystemExit("document %d has no kind or apiVersion" % i)
        name = d.get("metadata", {}).get("name", "?")
        out.append("// %s %s\nconst d%d: import(%s).%s = %s;\n" % (
            kind, name, i, json.dumps("kubernetes-types/" + ts_module(api)),
            kind, json.dumps(d, indent=2)))
    out.append("export {};\n")
    return "".join(out)


def broken(docs):
    base = next(d for d in docs if d.get("kind") == "Deployment")
    samples = []
    for label, change in [
        ("unknownField", lambda d: d["spec"]["template"]["spec"]["containers"][0]
         .__setitem__("imagePullPolicyy", "IfNotPresent")),
        ("wrongType", lambda d: d["spec"].__setitem__("replicas", "two")),
        ("numberQuantity", lambda d: d["spec"]["template"]["spec"]["containers"][0]
         ["resources"]["limits"].__setitem__("cpu", 1)),
    ]:
        d = json.loads(json.dumps(base))
        d["metadata"]["name"] = "broken-" + label
        change(d)
        samples.append(d)
    return samples


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def secret_as_configmap(secret):
    """A Secret's data as a ConfigMap of the same name (see play)."""
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": secret["metadata"]["name"]}, "data": data}


def as_deployment(sts):
    """A StatefulSet as the one-pod Deployment kube play runs, and the
    claims of its volumeClaimTemplates, named as the StatefulSet's first
    pod's (<template>-<statefulset>-0)."""
    name = sts["metadata"]["name"]
    spec = json.loads(json.dumps(sts["spec"]))
    templates = spec.pop("volumeClaimTemplates", [])
    spec.pop("serviceName", None)
    spec.pop("podManagementPolicy", None)
    spec.pop("updateStrategy", None)
    spec["replicas"] = 1
    spec["strategy"] = {"type": "Recreate"}
    claims = []
    for t in templates:
        claim = "%s-%s-0" % (t["metadata"]["name"], name)
        claims.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                       "metadata": {"name": claim}, "spec": t["spec"]})
        spec["template"]["spec"].setdefault("volumes", []).append(
            {"name": t["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}})
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": sts["metadata"], "spec": spec}
    return dep, claims


def play(docs, outdir):
    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}
    min_replicas = {h["spec"]["scaleTargetRef"]["name"]: h["spec"].get("minReplicas", 1)
                    for h in by_kind.get("HorizontalPodAutoscaler", [])}
    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])
    for svc in by_kind.get("Service", []):
        name = svc["metadata"]["name"]
        selector = svc["spec"].get("selector") or {}
        deps = [d for d in workloads
                if selector and matches(selector, d["spec"]["template"]["metadata"].get("labels", {}))]
        if len(deps) != 1:
            raise SystemExit("Service %s selects %d workloads, expected 1" % (name, len(deps)))
        extra = []
        if deps[0]["kind"] == "StatefulSet":
            dep, extra = as_deployment(deps[0])
            dep = json.loads(json.dumps(dep))
        else:
            dep = json.loads(json.dumps(deps[0]))
        pod = dep["spec"]["template"]["spec"]
        # podman 4.3's kube play crashes on a secret volume: the play file
        # carries each Secret's data as a ConfigMap of the same name,
        # mounted at the same path with the same items.
        for v in pod.get("volumes", []):
            if "secret" in v:
                sec = v.pop("secret")
                if sec["secretName"] not in secrets:
                    raise SystemExit("Secret %s is not rendered" % sec["secretName"])
                v["configMap"] = {"name": sec["secretName"],
                                  **{k: sec[k] for k in ("items", "defaultMode") if k in sec}}
        claims = {v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes", [])
                  if "persistentVolumeClaim" in v}
        maps = {v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v}
        # ConfigMaps read by the environment (configMapKeyRef) too.
        maps |= {e["valueFrom"]["configMapKeyRef"]["name"]
                 for c in pod["containers"] for e in c.get("env", [])
                 if "configMapKeyRef" in e.get("valueFrom", {})}
        # The e2e suite acts as one admin subject, from one address, far
        # faster than a person: the edge's rate limits (limits.subject,
        # limits.address; 0 is no limit) would refuse it with 429s. They
        # are lifted in every Mitos container, as the suite does in the
        # topologies it starts itself.
        for c in pod["containers"]:
            if c["name"] == "mitos":
                c.setdefault("env", []).extend(
                    {"name": env_var(k), "value": "0"}
                    for k in ("limits.subject.rate", "limits.address.rate"))
        out = [d for d in by_kind.get("ConfigMap", []) if d["metadata"]["name"] in maps]
        out += [secret_as_configmap(secrets[m]) for m in sorted(maps) if m in secrets]
        out += [d for d in by_kind.get("PersistentVolumeClaim", []) if d["metadata"]["name"] in claims]
        out += extra
        # The replicas a cluster runs at rest: the autoscaler's minimum when
        # it owns the count. kube play would start them all with the same
        # hostPort, so each replica is a one-pod Deployment of its own,
        # <name>-r<i>, with the same labels (so the same network alias) and
        # a hostPort of its own.
        replicas = min_replicas.get(dep["metadata"]["name"], dep["spec"].get("replicas", 1))
        ports = []
        for i in range(replicas):
            r = json.loads(json.dumps(dep))
            r["spec"]["replicas"] = 1
            if replicas > 1:
                r["metadata"]["name"] = "%s-r%d" % (dep["metadata"]["name"], i)
            port = r["spec"]["template"]["spec"]["containers"][0]["ports"][0]
            port["hostPort"] = free_port()
            port["hostIP"] = "127.0.0.1"
            ports.append(str(port["hostPort"]))
            out.append(r)
        path = outdir / (name + ".yaml")
        with open(path, "w") as f:
            yaml.safe_dump_all(out, f, sort_keys=False)
        print(name, path, " ".join(ports))


def with_keys(docs, issuer_key, issuer, service_keys):
    """The rendered overlay with the test's keys in place of the examples:
    the ConfigMap mitos-auth gets the JWKS of the private key `issuer_key`
    (its public JWK, kid the RFC 7638 thumbprint, tests/e2e/issuer.py) and
    the issuer `issuer`; the Secret mitos-service-keys, when rendered, the
    key file `service_keys`."""
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from issuer import jwk_of, load_key  # noqa: E402 - the suite's own
    jwks = json.dumps({"keys": [jwk_of(load_key(issuer_key))]})
    keys = pathlib.Path(service_keys).read_text()
    auth = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "mitos-auth"]
    if len(auth) != 1:
        raise SystemExit("the overlay renders %d ConfigMaps mitos-auth, expected 1" % len(auth))
    auth[0]["data"] = {"jwks.json": jwks, "issuer": issuer}
    for d in docs:
        if d["kind"] == "Secret" and d["metadata"]["name"] == "mitos-service-keys":
            d.pop("stringData", None)
            d["data"] = {"keys": base64.b64encode(keys.encode()).decode()}
    return docs


SHUTDOWN_TIMEOUT_MS = 15000  # the runtime's default for shutdown.timeout_ms
ROOT = pathlib.Path(__file__).resolve().parents[2]


def data_modules():
    """Modules that own data (`database: true` in modules/<m>/contract.yaml)."""
    owners = set()
    contracts = sorted(ROOT.glob("modules/*/contract.yaml"))
    if not contracts:
        raise SystemExit("no modules/*/contract.yaml under %s: the policy cannot tell "
                         "which modules own data" % ROOT)
    for f in contracts:
        c = yaml.safe_load(f.read_text()) or {}
        if c.get("database"):
            owners.add(c.get("module", f.parent.name))
    return owners


def env_var(key):
    """The variable that sets a config key: users.storage.url ->
    MITOS_USERS__STORAGE__URL."""
    return "MITOS_" + key.upper().replace(".", "__")


def storage_of(module, cfg, container, secret_mounts):
    """(backend, problem) of `module` in this container: the backend is
    the environment's, else the config file's, else sqlite; problem says
    where a PostgreSQL URL would leak (None when it comes from a Secret)."""
    env = {e["name"]: e for e in container.get("env", [])}
    st = ((cfg.get(module) or {}).get("storage") or {})
    key = module + ".storage."
    backend = env.get(env_var(key + "backend"), {}).get("value") or st.get("backend") or "sqlite"
    if backend != "postgres":
        return backend, None
    url_env = env.get(env_var(key + "url"))
    file_env = env.get(env_var(key + "url_file"))
    if st.get("url") or (url_env and "value" in url_env):
        return backend, "%surl is given in plain text (a ConfigMap or the pod spec): " \
            "mount a Secret and set %surl_file, or use a secretKeyRef" % (key, key)
    if url_env and "secretKeyRef" in url_env.get("valueFrom", {}):
        return backend, None
    path = (file_env or {}).get("value") or st.get("url_file")
    if not path:
        return backend, "%sbackend is postgres, but no URL is given (%surl_file or a " \
            "secretKeyRef)" % (key, key)
    if not any(path.startswith(m.rstrip("/") + "/") for m in secret_mounts):
        return backend, "%surl_file %s is not on a mounted Secret" % (key, path)
    return backend, None


def setting(key, cfg, container, default=""):
    """The effective value of a config key in this container, as text: the
    environment's (a valueFrom reads as "<valueFrom>"), else the config
    file's, else `default`."""
    env = {e["name"]: e for e in container.get("env", [])}
    e = env.get(env_var(key))
    if e is not None:
        return str(e["value"]) if "value" in e else "<valueFrom>"
    node = cfg
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return default if node is None else str(node)


def on_mount(path, mounts):
    return any(path.startswith(m.rstrip("/") + "/") for m in mounts)


def auth_problems(cfg, c, runs, every, secret_mounts, mounts):
    """What is wrong with a Mitos container's authentication: it runs
    auth.mode jwks (never dev, whose key is made in the pod, nor off); the
    edge (auth.edge, by default an instance running the gateway or every
    module) reads the identity provider's keys from a mounted file or a URL
    and names their issuer; an instance that calls others, or is not the
    edge, has auth.service_keys_file on a mounted Secret."""
    out = []
    mode = setting("auth.mode", cfg, c)
    if mode != "jwks":
        out.append("auth.mode is %s, not jwks: dev trusts a key made in the pod, off checks "
                   "nothing" % (mode or "dev (the default)"))
    edge = setting("auth.edge", cfg, c, "auto")
    is_edge = "gateway" in runs or every if edge == "auto" else edge == "true"
    if is_edge:
        url, path = setting("auth.jwks_url", cfg, c), setting("auth.jwks_file", cfg, c)
        if bool(url) == bool(path):
            out.append("the edge needs exactly one of auth.jwks_file and auth.jwks_url")
        elif path and path != "<valueFrom>" and not on_mount(path, mounts):
            out.append("auth.jwks_file %s is not on a mounted volume" % path)
        if not setting("auth.issuer", cfg, c):
            out.append("the edge needs auth.issuer")
    calls = bool(cfg.get("remotes")) or any(
        e["name"].startswith("MITOS_REMOTES__") for e in c.get("env", []))
    if calls or not is_edge:
        keys = setting("auth.service_keys_file", cfg, c)
        why = "it calls other instances" if calls else "it is not the edge"
        if not keys:
            out.append("auth.service_keys_file is not set, but %s" % why)
        elif keys != "<valueFrom>" and not on_mount(keys, secret_mounts):
            out.append("auth.service_keys_file %s is not on a mounted Secret" % keys)
    return out


def policy(docs):
    errors = []
    kinds = {}
    for d in docs:
        kinds.setdefault(d["kind"], []).append(d)
    named = lambda kind: {d["metadata"]["name"]: d for d in kinds.get(kind, [])}
    claims, maps, services = named("PersistentVolumeClaim"), named("ConfigMap"), named("Service")
    hpas = {d["spec"]["scaleTargetRef"]["name"] for d in kinds.get("HorizontalPodAutoscaler", [])}
    deps = kinds.get("Deployment", [])
    if not deps:
        errors.append("no Deployment")
    owners = data_modules()
    for dep in deps:
        name = dep["metadata"]["name"]
        err = lambda msg: errors.append("Deployment %s: %s" % (name, msg))
        tmpl = dep["spec"]["template"]
        pod, labels = tmpl["spec"], tmpl["metadata"].get("labels", {})
        ann = tmpl["metadata"].get("annotations", {})
        if (ann.get("prometheus.io/scrape"), ann.get("prometheus.io/path"),
                ann.get("prometheus.io/port")) != ("true", "/metrics", "8080"):
            err("prometheus.io annotations missing")
        psc = pod.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            err("pod securityContext needs runAsNonRoot and seccompProfile RuntimeDefault")
        pvcs = [v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes", [])
                if "persistentVolumeClaim" in v]
        for c in pvcs:
            if c not in claims:
                err("claim %s is not rendered" % c)
            elif claims[c]["spec"].get("accessModes") != ["ReadWriteOncePod"]:
                err("claim %s must be ReadWriteOncePod" % c)
        single = dep["spec"].get("replicas") == 1 and \
            dep["spec"].get("strategy", {}).get("type") == "Recreate"
        # What the pod runs, and where each module's data is: a pod that
        # runs a SQLite-backed module (or mounts a claim) is its only one.
        sqlite_owned = []
        if pvcs and not single:
            err("mounts a claim, so needs replicas 1 and strategy Recreate")
        if not any(matches(p["spec"]["podSelector"].get("matchLabels", {}), labels)
                   and p["spec"]["podSelector"].get("matchLabels")
                   for p in kinds.get("NetworkPolicy", [])
                   if p["metadata"]["name"] != "mitos-allow-prometheus"):
            err("no NetworkPolicy of its own")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        mounted = {v["name"]: v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v}
        secret_vols = {v["name"] for v in pod.get("volumes", []) if "secret" in v}
        for c in pod["containers"]:
            sc = c.get("securityContext", {})
            if (sc.get("allowPrivilegeEscalation") is not False or sc.get("readOnlyRootFilesystem") is not True
                    or "ALL" not in sc.get("capabilities", {}).get("drop", [])):
                err("container %s: needs allowPrivilegeEscalation false, readOnlyRootFilesystem, drop ALL" % c["name"])
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(res.get(part, {})):
                    err("container %s: %s needs cpu and memory" % (c["name"], part))
            if "startupProbe" not in c:
                err("container %s: no startupProbe" % c["name"])
            for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
                if c.get(probe, {}).get("httpGet", {}).get("path") != path:
                    err("container %s: %s must GET %s" % (c["name"], probe, path))
            cmd = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            if len(cmd) != 2 or cmd[0] != "sleep" or not cmd[1].isdigit():
                err("container %s: preStop must be [sleep, N]" % c["name"])
                continue
            cfg = {}
            for a in c.get("args", []):
                m = re.fullmatch(r"--config=(.+)", a)
                if not m:
                    continue
                path = m.group(1)
                mount = next((vm for vm in c.get("volumeMounts", [])
                              if path.startswith(vm["mountPath"].rstrip("/") + "/")), None)
                key = path[len(mount["mountPath"].rstrip("/")) + 1:] if mount else None
                cm = maps.get(mounted.get(mount["name"], "")) if mount else None
                if cm is None or key not in cm.get("data", {}):
                    err("--config %s is not a key of a mounted ConfigMap" % path)
                    continue
                cfg = yaml.safe_load(cm["data"][key]) or {}
            runs = None
            for a in c.get("args", []):
                m = re.fullmatch(r"--modules=(.+)", a)
                if m and cfg.get("modules") and m.group(1).split(",") != cfg["modules"]:
                    err("--modules=%s, but its config runs %s" % (m.group(1), cfg["modules"]))
                if m:
                    runs = m.group(1).split(",")
            every = runs is None and not cfg.get("modules")
            if runs is None:
                runs = cfg.get("modules") or sorted(owners)  # none listed: all of them
            secret_mounts = [vm["mountPath"] for vm in c.get("volumeMounts", [])
                             if vm["name"] in secret_vols]
            for problem in auth_problems(cfg, c, runs, every, secret_mounts,
                                         [vm["mountPath"] for vm in c.get("volumeMounts", [])]):
                err("container %s: %s" % (c["name"], problem))
            for module in runs:
                if module not in owners:
                    continue
                backend, problem = storage_of(module, cfg, c, secret_mounts)
                if problem:
                    err(problem)
                if backend != "postgres":
                    sqlite_owned.append(module)
            timeout_ms = cfg.get("shutdown", {}).get("timeout_ms", SHUTDOWN_TIMEOUT_MS)
            if int(cmd[1]) + timeout_ms / 1000 >= grace:
                err("preStop %ss + shutdown.timeout_ms %d must stay under terminationGracePeriodSeconds %d"
                    % (cmd[1], timeout_ms, grace))
            for module, remote in (cfg.get("remotes") or {}).items():
                u = urllib.parse.urlsplit(remote.get("url", ""))
                svc = services.get(u.hostname or "")
                if svc is None or u.port not in [p["port"] for p in svc["spec"]["ports"]]:
                    err("remotes.%s.url %s names no rendered Service" % (module, remote.get("url")))
        if sqlite_owned:
            # SQLite: one writer, one file on one volume.
            if not single:
                err("runs %s, whose data is in SQLite, so needs replicas 1 and strategy Recreate"
                    % ", ".join(sqlite_owned))
            if not pvcs:
                err("runs %s, whose data is in SQLite, but mounts no claim" % ", ".join(sqlite_owned))
            if name in hpas:
                err("runs %s, whose data is in SQLite, so must have no HorizontalPodAutoscaler"
                    % ", ".join(sqlite_owned))
        elif not pvcs:
            # Nothing in the pod: it scales out and needs an autoscaler and a
            # budget, like the gateway.
            if name not in hpas:
                err("stateless, but no HorizontalPodAutoscaler")
            if not any(matches(p["spec"]["selector"].get("matchLabels", {}), labels)
                       for p in kinds.get("PodDisruptionBudget", [])):
                err("stateless, but no PodDisruptionBudget")
    # A StatefulSet (the example database): the same hardening, its own
    # volume, a readiness probe and a NetworkPolicy of its own.
    for sts in kinds.get("StatefulSet", []):
        name = sts["metadata"]["name"]
        err = lambda msg: errors.append("StatefulSet %s: %s" % (name, msg))
        tmpl = sts["spec"]["template"]
        pod, labels = tmpl["spec"], tmpl["metadata"].get("labels", {})
        psc = pod.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            err("pod securityContext needs runAsNonRoot and seccompProfile RuntimeDefault")
        if not sts["spec"].get("volumeClaimTemplates"):
            err("no volumeClaimTemplates: its data would die with the pod")
        for c in pod["containers"]:
            sc = c.get("securityContext", {})
            if (sc.get("allowPrivilegeEscalation") is not False or sc.get("readOnlyRootFilesystem") is not True
                    or "ALL" not in sc.get("capabilities", {}).get("drop", [])):
                err("container %s: needs allowPrivilegeEscalation false, readOnlyRootFilesystem, drop ALL" % c["name"])
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(res.get(part, {})):
                    err("container %s: %s needs cpu and memory" % (c["name"], part))
            if "readinessProbe" not in c:
                err("container %s: no readinessProbe" % c["name"])
        if not any(p["spec"]["podSelector"].get("matchLabels")
                   and matches(p["spec"]["podSelector"]["matchLabels"], labels)
                   for p in kinds.get("NetworkPolicy", [])):
            err("no NetworkPolicy of its own")
    for e in errors:
        print("policy:", e, file=sys.stderr)
    return not errors


def policy_samples(docs):
    """(name, docs, message) of variants of a split-postgres rendering that
    the policy must refuse, each with (part of) the message it must give."""
    def dep(d, name):
        return next(x for x in d if x["kind"] == "Deployment" and x["metadata"]["name"] == name)

    def config(d, key):
        cm = next(x for x in d if x["kind"] == "ConfigMap" and key in x.get("data", {}))
        return cm["data"], yaml.safe_load(cm["data"][key])

    def sqlite_replicas(d):
        dep(d, "products")["spec"]["replicas"] = 2

    def sqlite_rolling(d):
        dep(d, "products")["spec"]["strategy"] = {"type": "RollingUpdate"}

    def back_to_sqlite(d):
        data, cfg = config(d, "users-postgres.yaml")
        del cfg["users"]["storage"]["backend"]
        data["users-postgres.yaml"] = yaml.safe_dump(cfg)

    def env_sqlite(d):
        dep(d, "orders")["spec"]["template"]["spec"]["containers"][0].setdefault("env", []).append(
            {"name": "MITOS_ORDERS__STORAGE__BACKEND", "value": "sqlite"})

    def url_in_configmap(d):
        data, cfg = config(d, "users-postgres.yaml")
        st = cfg["users"]["storage"]
        del st["url_file"]
        st["url"] = "postgresql://users:secret@postgres:5432/users"
        data["users-postgres.yaml"] = yaml.safe_dump(cfg)

    def database_unready(d):
        sts = next(x for x in d if x["kind"] == "StatefulSet")
        del sts["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]

    def env_of(d, name):
        return dep(d, name)["spec"]["template"]["spec"]["containers"][0].setdefault("env", [])

    def drop_env(d, name, var):
        env = env_of(d, name)
        env[:] = [e for e in env if e["name"] != var]

    def gateway_auth_dev(d):
        drop_env(d, "gateway", "MITOS_AUTH__MODE")

    def users_auth_off(d):
        next(e for e in env_of(d, "users") if e["name"] == "MITOS_AUTH__MODE")["value"] = "off"

    def products_auth_dev_in_config(d):
        drop_env(d, "products", "MITOS_AUTH__MODE")
        data, cfg = config(d, "products.yaml")
        cfg["auth"] = {"mode": "dev"}
        data["products.yaml"] = yaml.safe_dump(cfg)

    def orders_no_service_keys(d):
        drop_env(d, "orders", "MITOS_AUTH__SERVICE_KEYS_FILE")

    samples = [
        ("sqlite-replicas", sqlite_replicas,
         "Deployment products: runs products, whose data is in SQLite, so needs replicas 1 and strategy Recreate"),
        ("sqlite-rolling", sqlite_rolling,
         "Deployment products: runs products, whose data is in SQLite, so needs replicas 1 and strategy Recreate"),
        ("users-back-on-sqlite", back_to_sqlite,
         "Deployment users: runs users, whose data is in SQLite, so needs replicas 1 and strategy Recreate"),
        ("orders-sqlite-by-env", env_sqlite,
         "Deployment orders: runs orders, whose data is in SQLite, but mounts no claim"),
        ("url-in-configmap", url_in_configmap,
         "Deployment users: users.storage.url is given in plain text"),
        ("database-no-readiness", database_unready,
         "StatefulSet postgres: container postgres: no readinessProbe"),
        ("gateway-auth-dev", gateway_auth_dev,
         "Deployment gateway: container mitos: auth.mode is dev (the default), not jwks"),
        ("users-auth-off", users_auth_off,
         "Deployment users: container mitos: auth.mode is off, not jwks"),
        ("products-auth-dev-in-config", products_auth_dev_in_config,
         "Deployment products: container mitos: auth.mode is dev, not jwks"),
        ("orders-no-service-keys", orders_no_service_keys,
         "Deployment orders: container mitos: auth.service_keys_file is not set, "
         "but it calls other instances"),
    ]
    out = []
    for name, change, message in samples:
        d = json.loads(json.dumps(docs))
        change(d)
        out.append((name, d, message))
    return out


def debian_mirror():
    """The first source of suite bookworm, component main, in /etc/apt."""
    apt = pathlib.Path("/etc/apt")
    for f in sorted(apt.glob("sources.list.d/*.sources")):
        for stanza in f.read_text().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    k, v = line.split(":", 1)
                    fields[k.strip()] = v.split()
            if ("deb" in fields.get("Types", []) and "bookworm" in fields.get("Suites", [])
                    and "main" in fields.get("Components", []) and fields.get("URIs")):
                return fields["URIs"][0]
    for f in [apt / "sources.list", *sorted(apt.glob("sources.list.d/*.list"))]:
        if not f.exists():
            continue
        for line in f.read_text().splitlines():
            parts = re.sub(r"\[[^]]*\]", "", line).split()
            if len(parts) >= 4 and parts[0] == "deb" and parts[2] == "bookworm" and "main" in parts[3:]:
                return parts[1]
    raise SystemExit(1)


def main(argv):
    if argv[:1] == ["debian-mirror"]:
        print(debian_mirror())
        return
    if argv[:1] == ["policy"] and len(argv) == 2:
        if not policy(load(argv[1])):
            raise SystemExit(1)
        return
    if len(argv) < 3 and argv[:1] != ["secret-urls"]:
        raise SystemExit(__doc__)
    cmd, src = argv[0], argv[1]
    docs = load(src)
    if cmd == "typescript":
        pathlib.Path(argv[2]).write_text(typescript(docs))
    elif cmd == "broken":
        with open(argv[2], "w") as f:
            yaml.safe_dump_all(broken(docs), f, sort_keys=False)
    elif cmd == "policy-samples":
        outdir = pathlib.Path(argv[2])
        outdir.mkdir(parents=True, exist_ok=True)
        for name, d, message in policy_samples(docs):
            path = outdir / (name + ".yaml")
            with open(path, "w") as f:
                yaml.safe_dump_all(d, f, sort_keys=False)
            print(name, path, message)
    elif cmd == "secret-urls":
        for d in docs:
            if d["kind"] == "Secret" and "url" in secret_as_configmap(d)["data"]:
                print(d["metadata"]["name"], secret_as_configmap(d)["data"]["url"])
    elif cmd == "play":
        play(docs, argv[2])
    elif cmd == "with-keys" and len(argv) == 6:
        with open(argv[2], "w") as f:
            yaml.safe_dump_all(with_keys(docs, argv[3], argv[4], argv[5]), f, sort_keys=False)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
