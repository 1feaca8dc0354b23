"""The container image and the Kubernetes manifests (deploy/container,
deploy/kubernetes), tested without a container engine or a cluster.

The manifests parse (python3-yaml) and hang together: the kustomization
lists every file, one namespace throughout; the StatefulSet of five pods
names the headless Service (publishNotReadyAddresses), whose selector and
ports match the pods'; readiness and liveness probes on a named port; the
write-ahead log on a PersistentVolumeClaim template; the ConfigMap and the
Secret the pods mount exist with the keys the entry point reads; the pods
run as a non-root user, the image's.

Each herd.conf the manifests carry passes `herd check`, and names one
server per pod (herd-0 ...) at the pod's DNS name
(herd-N.SERVICE.NAMESPACE.svc.cluster.local) on the container's ports.

The Containerfile builds on Debian 12 and runs on Debian 12 slim with the
run-time libraries the Debian package depends on, as that user, with the
entry point it copies.

The entry point, run directly with the StatefulSet's arguments and
environment (the container's paths under a temporary root, a Secret
volume's layout of links, the ports probed free here and on loopback):
with the manifests' placeholder secret the server refuses to start (78);
with a real one it starts as the pod's server, keys its links with the
secret, keeps its write-ahead log in the volume and its control socket in
/run/herd, answers IAMAT as herd-1, logs to standard error, and stops
cleanly (0) on SIGTERM. The probe (herd-entrypoint --probe, with the pod's
environment) passes on the live server without a client connection counted
or logged, fails within 3 s while the server is stopped (SIGSTOP: its port
still accepts TCP connections), passes again once it runs, and fails once it
has exited.
"""

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import herdinstall
import herdtest
from herdtest import check, eq, fail

try:
    import yaml
except ImportError:
    print("not ok - python3-yaml is not installed (apt-get install python3-yaml)")
    sys.exit(1)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K8S = os.path.join(REPO, "deploy", "kubernetes")
CONTAINER = os.path.join(REPO, "deploy", "container")
POD = "herd-1"
ENTRYPOINT = "/usr/bin/herd-entrypoint"   # where the Containerfile puts it


# --- the manifests ------------------------------------------------------------

def load_manifests():
    objs = []
    files = sorted(f for f in os.listdir(K8S) if f.endswith((".yaml", ".yml")))
    for f in files:
        with open(os.path.join(K8S, f)) as fh:
            try:
                docs = [d for d in yaml.safe_load_all(fh) if d is not None]
            except yaml.YAMLError as e:
                fail("%s does not parse: %s" % (f, e))
        check(docs, "%s holds nothing" % f)
        for d in docs:
            check(isinstance(d, dict) and "kind" in d and "apiVersion" in d,
                  "%s: an object without kind or apiVersion" % f)
            objs.append((f, d))
    return files, objs


def one(objs, kind):
    found = [d for _, d in objs if d["kind"] == kind]
    eq(len(found), 1, "%s objects" % kind)
    return found[0]


def check_manifests(files, objs):
    kust = one(objs, "Kustomization")
    ns = kust["namespace"]
    eq(sorted(kust["resources"]), sorted(f for f in files if f != "kustomization.yaml"),
       "the kustomization's resources")
    eq(one(objs, "Namespace")["metadata"]["name"], ns, "the Namespace")
    for f, d in objs:
        if d["kind"] not in ("Kustomization", "Namespace"):
            eq(d["metadata"].get("namespace"), ns, "%s %s's namespace" % (f, d["kind"]))

    sts = one(objs, "StatefulSet")
    spec = sts["spec"]
    eq(spec["replicas"], 5, "the StatefulSet's replicas")
    labels = spec["template"]["metadata"]["labels"]
    for k, v in spec["selector"]["matchLabels"].items():
        eq(labels.get(k), v, "the pods' label %s (the StatefulSet's selector)" % k)
    services = {d["metadata"]["name"]: d for _, d in objs if d["kind"] == "Service"}
    check(spec["serviceName"] in services, "serviceName %s is no Service" % spec["serviceName"])
    headless = services[spec["serviceName"]]["spec"]
    eq(headless.get("clusterIP"), "None", "the StatefulSet's Service is headless")
    eq(headless.get("publishNotReadyAddresses"), True,
       "the headless Service publishes pods before they are ready")

    pod = spec["template"]["spec"]
    eq(len(pod["containers"]), 1, "containers in a pod")
    c = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    eq(sorted(ports), ["client", "peer"], "the container's ports")
    for name, svc in services.items():
        for k, v in svc["spec"]["selector"].items():
            eq(labels.get(k), v, "Service %s's selector %s" % (name, k))
        for p in svc["spec"]["ports"]:
            check(p["targetPort"] in ports, "Service %s targets port %s, which the pods lack"
                  % (name, p["targetPort"]))
            eq(p["port"], ports[p["targetPort"]], "Service %s's port %s" % (name, p["name"]))
    # The probes: the entry point's --probe (its nc waits 2 s at most, within
    # the probe's timeout), run below against the server.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check(probe in c, "no %s" % probe)
        eq(c[probe].get("exec", {}).get("command"), [ENTRYPOINT, "--probe"],
           "%s's command" % probe)
        check(c[probe].get("timeoutSeconds", 1) >= 3,
              "%s's timeoutSeconds %s: the probe may take 2 s" % (probe, c[probe].get("timeoutSeconds")))

    # At most one server evicted at a time, of these pods.
    pdb = one(objs, "PodDisruptionBudget")
    eq(pdb["spec"].get("maxUnavailable"), 1, "the PodDisruptionBudget's maxUnavailable")
    eq(pdb["spec"]["selector"]["matchLabels"], spec["selector"]["matchLabels"],
       "the PodDisruptionBudget's selector")

    sec = pod["securityContext"]
    eq(sec.get("runAsNonRoot"), True, "runAsNonRoot")
    check(isinstance(sec.get("runAsUser"), int) and sec["runAsUser"] > 0,
          "runAsUser: %r" % sec.get("runAsUser"))
    eq(c["securityContext"].get("allowPrivilegeEscalation"), False,
       "allowPrivilegeEscalation")

    env = {e["name"]: e for e in c["env"]}
    eq(env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name",
       "POD_NAME from the downward API")
    volumes = {v["name"]: v for v in pod["volumes"]}
    claims = {v["metadata"]["name"]: v for v in spec["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    for path, name in mounts.items():
        check(name in volumes or name in claims, "mount %s: no volume %s" % (path, name))
    data_dir = env["HERD_DATA_DIR"]["value"]
    check(mounts.get(data_dir) in claims,
          "the write-ahead log (%s) is not on a PersistentVolumeClaim template" % data_dir)
    eq(claims[mounts[data_dir]]["spec"]["accessModes"], ["ReadWriteOnce"], "the claim's mode")

    # The files the entry point reads: herd.conf from the ConfigMap, the
    # secret from the Secret, through their mounts.
    maps = {d["metadata"]["name"]: d for _, d in objs if d["kind"] == "ConfigMap"}
    secrets = {d["metadata"]["name"]: d for _, d in objs if d["kind"] == "Secret"}
    for var, kind, table, key in (("HERD_CONF", "configMap", maps, "data"),
                                  ("HERD_SECRET", "secret", secrets, "stringData")):
        path = env[var]["value"]
        mount = os.path.dirname(path)
        check(mount in mounts, "%s=%s is not in a mounted volume" % (var, path))
        vol = volumes[mounts[mount]]
        check(kind in vol, "%s's volume is no %s" % (var, kind))
        ref = vol[kind]["name" if kind == "configMap" else "secretName"]
        check(ref in table, "%s volume names %s, which is not in the manifests" % (kind, ref))
        check(os.path.basename(path) in table[ref].get(key, {}),
              "%s %s has no key %s" % (kind, ref, os.path.basename(path)))
    return sts, services, maps, secrets, ns


def check_confs(t, sts, maps, ns):
    """Every herd.conf of a ConfigMap: herd check, and the pods' servers."""
    spec = sts["spec"]
    ports = {p["name"]: p["containerPort"] for p in spec["template"]["spec"]["containers"][0]["ports"]}
    want = ["%s-%d" % (sts["metadata"]["name"], i) for i in range(spec["replicas"])]
    confs = []
    for name, cm in maps.items():
        for key, text in cm.get("data", {}).items():
            if not key.endswith(".conf"):
                continue
            path = os.path.join(t.tmpdir, "%s-%s" % (name, key))
            with open(path, "w") as f:
                f.write(text)
            rc, out, err = herdinstall.run(t, [t.args.herd, "-c", path, "check"])
            eq((rc, err), (0, ""), "herd check of ConfigMap %s's %s" % (name, key))
            check("ok: %d servers" % len(want) in out, "herd check's line: %r" % out)
            servers = re.findall(r"^server\s+(\S+)\s+(\S+):(\d+)\s+peer\s+(\S+):(\d+)\s*$",
                                 text, re.M)
            eq([s[0] for s in servers], want, "the servers of %s (one per pod)" % key)
            for n, host, port, phost, pport in servers:
                dns = "%s.%s.%s.svc.cluster.local" % (n, spec["serviceName"], ns)
                eq((host, phost), (dns, dns), "%s's addresses" % n)
                eq((int(port), int(pport)), (ports["client"], ports["peer"]), "%s's ports" % n)
            confs.append(text)
    check(confs, "no herd.conf in any ConfigMap")
    return confs


# --- the Containerfile ---------------------------------------------------------

def check_containerfile(t, sts):
    with open(os.path.join(CONTAINER, "Containerfile")) as f:
        text = f.read()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?\s*$", text, re.M)
    eq([s[0] for s in stages], ["debian:12", "debian:12-slim"], "the stages' images")
    runtime = text[text.rindex("\nFROM "):]
    check("-dev" not in runtime, "a -dev package in the run stage")
    # The run stage installs what the package depends on.
    with open(os.path.join(t.args.build, "CPackConfig.cmake")) as f:
        m = re.search(r'set\(CPACK_DEBIAN_PACKAGE_DEPENDS "([^"]+)"\)', f.read())
    check(m is not None, "no Depends in CPackConfig.cmake")
    deps = {d.strip().split(" ")[0] for d in m.group(1).split(",")} - {"adduser", "libc6"}
    words = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", runtime))
    check(deps <= words, "the run stage lacks %s" % sorted(deps - words))
    user = re.findall(r"^USER\s+(\d+)(?::(\d+))?\s*$", runtime, re.M)
    eq(len(user), 1, "USER lines of the run stage")
    pod_sec = sts["spec"]["template"]["spec"]["securityContext"]
    eq(int(user[0][0]), pod_sec["runAsUser"], "the image's user and the pods'")
    entry = re.search(r'^ENTRYPOINT\s+\["([^"]+)"\]\s*$', runtime, re.M)
    check(entry is not None, "no ENTRYPOINT in exec form")
    check(re.search(r"^COPY\s+deploy/container/herd-entrypoint\s+%s\s*$"
                    % re.escape(entry.group(1)), runtime, re.M),
          "the ENTRYPOINT %s is not the copied deploy/container/herd-entrypoint"
          % entry.group(1))
    eq(entry.group(1), ENTRYPOINT, "the image's entry point (the probes run it)")
    check("netcat-openbsd" in words, "the run stage lacks netcat-openbsd (the probe's nc -U)")
    expose = sorted(int(p) for p in re.findall(r"^EXPOSE\s+(.*)$", runtime, re.M)[0].split())
    ports = sorted(p["containerPort"] for p in sts["spec"]["template"]["spec"]["containers"][0]["ports"])
    eq(expose, ports, "EXPOSE and the pods' ports")
    mode = os.stat(os.path.join(CONTAINER, "herd-entrypoint")).st_mode
    check(mode & stat.S_IXUSR, "herd-entrypoint is not executable")


# --- the entry point -------------------------------------------------------------

class Pod:
    """The container's filesystem under a temporary root: each volume mount
    of the StatefulSet a directory, filled as Kubernetes fills it."""

    def __init__(self, t, sts, maps, secrets, secret_value, tag):
        self.t = t
        self.root = os.path.join(t.tmpdir, "pod-" + tag)
        pod = sts["spec"]["template"]["spec"]
        self.c = pod["containers"][0]
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.mounts = {}
        for m in self.c["volumeMounts"]:
            d = os.path.join(self.root, m["mountPath"].lstrip("/"))
            os.makedirs(d)
            self.mounts[m["mountPath"]] = d
            v = volumes.get(m["name"])
            if v is None:          # the claim: an empty volume of fsGroup
                os.chmod(d, 0o2775)
            elif "emptyDir" in v:
                os.chmod(d, 0o777)
            elif "configMap" in v:
                self.project(d, maps[v["configMap"]["name"]]["data"], 0o644)
            elif "secret" in v:
                data = dict(secrets[v["secret"]["secretName"]]["stringData"])
                if secret_value is not None:
                    data = {k: secret_value for k in data}
                self.project(d, data, v["secret"].get("defaultMode", 0o644))

    @staticmethod
    def project(d, data, mode):
        """A ConfigMap or Secret volume: the files in a timestamped
        directory, ..data a link to it, each key a link through ..data."""
        stamp = os.path.join(d, "..2024_01_01_00_00_00.000000000")
        os.makedirs(stamp)
        for k, v in data.items():
            with open(os.path.join(stamp, k), "w") as f:
                f.write(v)
            os.chmod(os.path.join(stamp, k), mode)
        os.symlink(os.path.basename(stamp), os.path.join(d, "..data"))
        for k in data:
            os.symlink(os.path.join("..data", k), os.path.join(d, k))

    def path(self, p):
        """A path of the container, in the temporary root."""
        for mp in sorted(self.mounts, key=len, reverse=True):
            if p == mp or p.startswith(mp + "/"):
                return self.mounts[mp] + p[len(mp):]
        return p

    def argv_env(self, name, ports):
        """The StatefulSet's arguments (HOST:PORT on loopback, ports probed)
        and environment (paths in the root, POD_NAME the pod's)."""
        port_of = {p["containerPort"]: ports[p["name"]] for p in self.c["ports"]}
        args = []
        for a in self.c.get("args", []):
            m = re.fullmatch(r"(\S+):(\d+)", a)
            if m:
                check(int(m.group(2)) in port_of, "argument %s: not a containerPort" % a)
                a = "127.0.0.1:%d" % port_of[int(m.group(2))]
            args.append(a)
        env = herdtest.server_env()
        for e in self.c["env"]:
            if "value" in e:
                env[e["name"]] = self.path(e["value"])
            elif e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name":
                env[e["name"]] = name
        env["HERD_SERVER_BIN"] = self.t.binary
        env.pop("HERD_NAME", None)
        return [os.path.join(CONTAINER, "herd-entrypoint")] + args, env


def run_entrypoint(t, pod, ports):
    """Starts the entry point; its stderr (the server's log) is read into a
    list by a thread, as a container runtime reads it from a pipe."""
    argv, env = pod.argv_env(POD, ports)
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env, cwd=pod.root)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: p.stderr.read1(4096), b"")),
                              daemon=True)
    reader.start()
    t.log("entry point (pid %d): %s" % (p.pid, " ".join(argv)))
    return p, chunks, reader, env


def wait_stderr(p, chunks, pattern, timeout):
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while not rx.search(b"".join(chunks)):
        if p.poll() is not None:
            fail("the server exited (%s) before %s:\n%s"
                 % (p.returncode, pattern, b"".join(chunks)[-1500:].decode(errors="replace")))
        if time.monotonic() > deadline:
            fail("no %s on the server's stderr within %.0f s:\n%s"
                 % (pattern, timeout, b"".join(chunks)[-1500:].decode(errors="replace")))
        time.sleep(0.02)


def control(path, line):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(path)
        s.sendall(line + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf
    finally:
        s.close()


def check_placeholder_refused(t, sts, maps, secrets):
    pod = Pod(t, sts, maps, secrets, None, "placeholder")
    p, chunks, reader, _ = run_entrypoint(t, pod, dict(zip(("client", "peer"),
                                                           herdtest.free_ports(2))))
    try:
        rc = p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        fail("the server started with the manifests' placeholder secret")
    reader.join(5)
    err = b"".join(chunks).decode(errors="replace")
    eq(rc, 78, "exit with the placeholder secret (stderr %r)" % err)
    check("secret file" in err and "16 to" in err, "why it refuses: %r" % err)


def probe(t, env):
    """herd-entrypoint --probe with the pod's environment, as the kubelet
    runs it: (exit code, seconds taken)."""
    start = time.monotonic()
    rc, _, _ = herdinstall.run(t, [os.path.join(CONTAINER, "herd-entrypoint"), "--probe"],
                               timeout=10, env=env)
    return rc, time.monotonic() - start


def check_probe(t, p, chunks, env, client):
    """The probe passes on the live server without counting a connection or
    logging one, fails on a server whose loop is stopped (while a TCP probe
    of its port would pass), and passes again once it runs."""
    sock = os.path.join(env["HERD_RUN_DIR"], POD + ".sock")
    before = json.loads(control(sock, b"status"))["counters"]["connections"]
    logged = b"".join(chunks).count(b" open from ")
    for _ in range(3):
        rc, took = probe(t, env)
        eq(rc, 0, "the probe on the live %s" % POD)
    after = json.loads(control(sock, b"status"))["counters"]["connections"]
    eq(after, before, "client connections counted by 3 probes")
    eq(b"".join(chunks).count(b" open from "), logged, "connections logged by 3 probes")
    os.kill(p.pid, signal.SIGSTOP)
    try:
        rc, took = probe(t, env)
        check(rc != 0, "the probe passed on a stopped server")
        check(took < 3, "the probe took %.1f s, past the manifests' timeoutSeconds" % took)
        s = socket.create_connection(("127.0.0.1", client), timeout=2)
        s.close()   # what a TCP probe sees: the kernel still accepts
    finally:
        os.kill(p.pid, signal.SIGCONT)
    rc, _ = probe(t, env)
    eq(rc, 0, "the probe once the server runs again")


def check_entrypoint(t, sts, maps, secrets):
    secret = "%064x\n" % int.from_bytes(os.urandom(32), "big")
    pod = Pod(t, sts, maps, secrets, secret, "real")
    client, peer = herdtest.free_ports(2)
    p, chunks, reader, env = run_entrypoint(t, pod, {"client": client, "peer": peer})
    try:
        wait_stderr(p, chunks, rb"%s listening: clients on 127\.0\.0\.1:%d, neighbours on "
                    rb"127\.0\.0\.1:%d, 2 neighbours" % (POD.encode(), client, peer), 15)
        log = b"".join(chunks)
        check(b"peer links: TLS 1.3, authenticated by" in log,
              "the links are not keyed by the Secret's secret:\n%s" % log.decode(errors="replace"))
        run_dir = env["HERD_RUN_DIR"]
        eq(oct(stat.S_IMODE(os.stat(run_dir).st_mode)), "0o700", "the run directory's mode")
        copy = os.path.join(run_dir, "secret")
        eq(oct(stat.S_IMODE(os.lstat(copy).st_mode)), "0o600", "the secret's copy")
        check(stat.S_ISREG(os.lstat(copy).st_mode), "the secret's copy is not a regular file")
        wal = os.path.join(env["HERD_DATA_DIR"], POD)
        check(os.path.isdir(wal), "no write-ahead log directory %s in the volume" % wal)
        status = control(os.path.join(run_dir, POD + ".sock"), b"status")
        check(b'"name":"%s"' % POD.encode() in status, "control socket status: %r" % status[:300])
        with herdtest.Client(client, label="%s client" % POD) as c:
            c.send(b"IAMAT pod.client +34.068930-118.445127 1621464827.959498503\n")
            got = c.read_line()
        check(got.startswith(b"AT %s " % POD.encode()), "IAMAT answered %r" % got)
        t.ok("the entry point with the StatefulSet's arguments: %s listens, TLS keyed by the "
             "Secret, volume and /run/herd used, IAMAT answered, log on stderr" % POD)
        check_probe(t, p, chunks, env, client)
        t.ok("herd-entrypoint --probe: passes silently on the live server, fails within 3 s "
             "on a stopped one that still accepts TCP connections")
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            fail("%s still runs 10 s after SIGTERM" % POD)
        eq(rc, 0, "exit after SIGTERM")
        reader.join(5)
        check(b"stopped" in b"".join(chunks), "no 'stopped' in the log")
        check(not os.path.exists(os.path.join(run_dir, POD + ".sock")),
              "control socket left after SIGTERM")
        eq(probe(t, env)[0], 1, "the probe after the server stopped")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def main(t):
    if shutil.which("nc") is None:
        fail("nc is not installed (apt-get install netcat-openbsd): the probe needs it")
    files, objs = load_manifests()
    sts, services, maps, secrets, ns = check_manifests(files, objs)
    t.ok("%d manifests parse and hang together (StatefulSet of 5, headless Service, "
         "probes, claim template, ConfigMap, Secret)" % len(objs))
    check_confs(t, sts, maps, ns)
    t.ok("every herd.conf of the manifests passes herd check, one server per pod at its DNS name")
    check_containerfile(t, sts)
    t.ok("Containerfile: built on Debian 12, run on 12 slim with the package's libraries, "
         "as the pods' user, with the entry point")
    check_placeholder_refused(t, sts, maps, secrets)
    t.ok("the manifests' placeholder secret: the server refuses to start (78)")
    check_entrypoint(t, sts, maps, secrets)


def add_args(ap):
    ap.add_argument("--herd", required=True, help="path to the herd binary")
    ap.add_argument("--build", required=True, help="the build directory (CPackConfig.cmake)")


herdtest.run(main, watchdog=60, add_args=add_args)
