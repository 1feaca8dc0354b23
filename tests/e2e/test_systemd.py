"""The systemd units, as installed (cmake --install into a temporary prefix).

systemd-analyze verify on herd-server@.service (the template and an
instance of it), herd.target and herd.service: exit 0 and nothing on
standard error (it only warns about unknown keys and bad values, and checks
that the binaries and the man pages of Documentation= are there). A copy
with one unknown key must make it speak, so the check is a real one.

Then herd-server@.service's ExecStart= line as written, for two instances
(Alford and Parker, neighbours), with what systemd would give it: its
specifiers resolved (%i the instance, %d the credentials directory holding
the secret, %S, %L, %t temporary roots for the state, logs and runtime
directories, made with the unit's modes) and NOTIFY_SOCKET naming a
datagram socket this test listens on:
  - READY=1 arrives from the server's own pid (SO_PASSCRED), with a STATUS=
    line, and at that moment both its ports accept connections and its
    control socket is there; before it, nothing;
  - a server whose peer port is taken exits 78 and sends no READY=1;
  - the two link over TLS keyed by the credential's secret;
  - its ExecReload= line, with $MAINPID the server's pid, makes the server
    read herd.conf again (its log says so);
  - SIGTERM: STOPPING=1 from the server's pid, exit 0, control socket gone;
    the write-ahead log and the log are where the unit's directories are.

systemctl --root on a root holding the installed units: enabling
herd-server@Alford makes multi-user.target want it (it starts at boot,
whether or not herd.target is enabled) and herd.target too; disabling undoes
both; enabling herd.service makes multi-user.target want it.

herd.service's ExecStart= as written (the installed herd and herd.conf,
whose run_dir, log_dir and data_dir are the unit's RuntimeDirectory=,
LogsDirectory= and StateDirectory=, made with the unit's modes; the
servers and http on probed ports): the supervisor brings both servers up;
ExecReload= exits 0, and 78 naming the line once herd.conf is broken;
SIGTERM stops the servers and the supervisor (exit 0).

Skipped (77) where systemd-analyze is missing.
"""

import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time

import herdinstall
import herdtest
from herdtest import check, eq, fail

SO_PASSCRED = getattr(socket, "SO_PASSCRED", 16)
SCM_CREDENTIALS = getattr(socket, "SCM_CREDENTIALS", 2)


# --- systemd-analyze verify -----------------------------------------------

def verify(t, units, manpath):
    env = dict(herdtest.server_env(), MANPATH=manpath + ":", SYSTEMD_LOG_COLOR="0")
    return herdinstall.run(t, ["systemd-analyze", "verify"] + units, timeout=60, env=env)


def check_verify(t, prefix):
    units = os.path.join(prefix, "lib/systemd/system")
    manpath = os.path.join(prefix, "share/man")
    d = os.path.join(t.tmpdir, "verify")
    os.makedirs(d)
    # An instance: a link named herd-server@NAME.service to the template,
    # as systemctl enable makes them.
    os.symlink(os.path.join(units, "herd-server@.service"),
               os.path.join(d, "herd-server@Alford.service"))
    todo = [os.path.join(units, "herd-server@.service"),
            os.path.join(d, "herd-server@Alford.service"),
            os.path.join(units, "herd.target"),
            os.path.join(units, "herd.service")]
    rc, out, err = verify(t, todo, manpath)
    eq((rc, err), (0, ""), "systemd-analyze verify of the installed units")

    # The same check on a copy with a key systemd does not know and a bad
    # value: it must not pass.
    bad = os.path.join(d, "herd-server@.service")
    with open(todo[0]) as f:
        text = f.read()
    text = text.replace("\n[Service]\n", "\n[Service]\nRestartEvery=3\n", 1)
    text = text.replace("ProtectSystem=strict", "ProtectSystem=very", 1)
    with open(bad, "w") as f:
        f.write(text)
    rc, out, err = verify(t, [bad], manpath)
    check("RestartEvery" in err and "very" in err,
          "systemd-analyze verify on a broken copy says nothing about it: rc %d, %r"
          % (rc, err))


# --- the notification socket ------------------------------------------------

class NotifySocket:
    """A datagram socket standing in for systemd's: records each message
    with the pid the kernel says sent it."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_PASSCRED, 1)

    def recv(self, timeout):
        """(pid, {KEY: value}) of the next message, or None at the deadline."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == SCM_CREDENTIALS:
                pid = struct.unpack("iII", cdata[:12])[0]
        fields = {}
        for line in data.decode(errors="replace").split("\n"):
            if "=" in line:
                k, v = line.split("=", 1)
                fields[k] = v
        return pid, fields

    def close(self):
        self.sock.close()


def listening(port):
    """Whether 127.0.0.1:port accepts a connection now (one try)."""
    s = socket.socket()
    s.settimeout(1.0)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Unit:
    """One instance of herd-server@.service, run as systemd would run it."""

    def __init__(self, t, prefix, name, root, notify_path):
        self.t = t
        self.name = name
        self.unit = os.path.join(prefix, "lib/systemd/system/herd-server@.service")
        self.spec = {"i": name, "d": os.path.join(root, "credentials", name),
                     "S": os.path.join(root, "state"), "L": os.path.join(root, "logs"),
                     "t": os.path.join(root, "runtime")}
        self.notify_path = notify_path
        self.proc = None
        self.stderr_path = os.path.join(root, "%s.stderr" % name)

    def prepare(self, secret):
        # LoadCredential=secret:FILE: a copy of FILE in %d, the service's own.
        cred = herdinstall.unit_value(self.unit, "LoadCredential")
        check(cred is not None and cred.startswith("secret:"), "LoadCredential=: %r" % cred)
        os.makedirs(self.spec["d"], mode=0o700)
        path = os.path.join(self.spec["d"], "secret")
        with open(path, "wb") as f:
            f.write(secret)
        os.chmod(path, 0o400)
        self.dirs = herdinstall.unit_directories(self.unit, self.spec)
        self.argv = herdinstall.exec_argv(self.unit, self.spec)

    def spawn(self):
        # systemd's clean environment, and the sanitizers' options.
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFY_SOCKET": self.notify_path,
               "LANG": "C.UTF-8"}
        env.update({k: v for k, v in herdtest.server_env().items() if k.endswith("SAN_OPTIONS")})
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err, env=env,
                                         cwd="/")
        self.t.log("started %s (pid %d): %s" % (self.name, self.proc.pid, " ".join(self.argv)))
        return self.proc

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_message(ns, unit, key, timeout):
    """The next message, which must carry key=1, come from unit's pid, and
    come within timeout."""
    got = ns.recv(timeout)
    if got is None:
        fail("%s: no %s=1 within %.0f s (exit %s)\n%s"
             % (unit.name, key, timeout, unit.proc.poll(), unit.stderr()[-1500:]))
    pid, fields = got
    eq(pid, unit.proc.pid, "%s: the pid that sent %s" % (unit.name, fields))
    eq(fields.get(key), "1", "%s: %s in %s" % (unit.name, key, fields))
    return fields


def write_conf(prefix, ports):
    """The herd.conf the unit names (etc/herd/herd.conf of the prefix):
    Alford and Parker, linked."""
    path = os.path.join(prefix, "etc/herd/herd.conf")
    with open(path, "w") as f:
        f.write("server Alford 127.0.0.1:%d peer 127.0.0.1:%d\n"
                "server Parker 127.0.0.1:%d peer 127.0.0.1:%d\n"
                "link Alford Parker\n"
                "places offline\nlog_max_mb 0\n" % tuple(ports))
    return path


def check_notify(t, prefix):
    root = os.path.join(t.tmpdir, "sd")
    os.makedirs(root)
    ports = herdtest.free_ports(4)
    write_conf(prefix, ports)
    secret = b"%064x\n" % int.from_bytes(os.urandom(32), "big")
    ns = NotifySocket(os.path.join(root, "notify"))
    units = [Unit(t, prefix, n, root, ns.path) for n in ("Alford", "Parker")]
    blocker = None
    try:
        for u in units:
            u.prepare(secret)
        a, p = units
        # The unit's directories hold what the server writes.
        sock = os.path.join(a.dirs["Runtime"], "Alford.sock")

        # Parker's peer port taken: it must fail, 78, without READY=1.
        blocker = socket.socket()
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", ports[3]))
        blocker.listen(1)
        p.spawn()
        try:
            rc = p.proc.wait(15)
        except subprocess.TimeoutExpired:
            fail("Parker started although its peer port is taken")
        eq(rc, 78, "Parker's exit with its peer port taken (stderr %r)" % p.stderr()[-500:])
        eq(ns.recv(0.2), None, "a message from a server that could not listen")
        blocker.close()
        blocker = None
        t.ok("a server that cannot listen exits 78 and sends no READY=1")

        for u, port, pport in ((a, ports[0], ports[1]), (p, ports[2], ports[3])):
            u.spawn()
            fields = wait_message(ns, u, "READY", 15)
            check(listening(port) and listening(pport),
                  "%s: READY=1 came before its ports %d and %d listen" % (u.name, port, pport))
            check(fields.get("STATUS", "").startswith("listening: clients on 127.0.0.1:%d"
                                                      % port),
                  "%s: STATUS= with READY=1: %r" % (u.name, fields))
            ctl = os.path.join(u.dirs["Runtime"], u.name + ".sock")
            check(stat.S_ISSOCK(os.stat(ctl).st_mode), "%s: no control socket at %s"
                  % (u.name, ctl))
        t.ok("READY=1 from the server's pid once both ports listen, with STATUS=")

        log = os.path.join(a.dirs["Logs"], "Alford.log")
        deadline = time.monotonic() + 10
        while b"link Parker up" not in herdtest.read_log(log):
            if time.monotonic() > deadline:
                fail("Alford's link to Parker not up within 10 s:\n%s"
                     % herdtest.read_log(log)[-1500:].decode(errors="replace"))
            time.sleep(0.05)
        check(b"peer links: TLS 1.3, authenticated by" in herdtest.read_log(log),
              "Alford's links are not keyed by the credential's secret")
        t.ok("the two link over TLS keyed by the secret credential (%d)" % len(secret))

        # systemctl reload: ExecReload= with $MAINPID, as systemd runs it.
        since = len(herdtest.read_log(log))
        argv = herdinstall.exec_argv(a.unit, a.spec, "ExecReload", {"MAINPID": str(a.proc.pid)})
        rc, _, err = herdinstall.run(t, argv, timeout=10)
        eq(rc, 0, "ExecReload= of Alford (stderr %r)" % err)
        deadline = time.monotonic() + 10
        while b"reload (SIGHUP) of " not in herdtest.read_log(log)[since:]:
            if time.monotonic() > deadline or a.proc.poll() is not None:
                fail("Alford did not reload within 10 s of ExecReload= (exit %s):\n%s"
                     % (a.proc.poll(), herdtest.read_log(log)[-1500:].decode(errors="replace")))
            time.sleep(0.05)
        t.ok("ExecReload= with $MAINPID: the server reads herd.conf again")

        for u in (a, p):
            u.proc.send_signal(signal.SIGTERM)
            wait_message(ns, u, "STOPPING", 10)
            try:
                rc = u.proc.wait(10)
            except subprocess.TimeoutExpired:
                fail("%s still runs 10 s after SIGTERM" % u.name)
            eq(rc, 0, "%s's exit after SIGTERM" % u.name)
        check(not os.path.exists(sock), "Alford's control socket left after SIGTERM")
        check(os.path.isdir(os.path.join(a.dirs["State"], "Alford")),
              "no write-ahead log directory in the unit's StateDirectory")
        check(os.path.isfile(os.path.join(p.dirs["Logs"], "Parker.log")),
              "no log in the unit's LogsDirectory")
        t.ok("SIGTERM: STOPPING=1 from the server's pid, exit 0, files where the unit says")
    finally:
        if blocker is not None:
            blocker.close()
        for u in units:
            u.kill()
        ns.close()


# --- enabling ---------------------------------------------------------------

def check_enable(t, prefix):
    """systemctl --root=ROOT enable/disable on a copy of the installed units:
    the links each makes."""
    root = os.path.join(t.tmpdir, "root")
    shutil.copytree(os.path.join(prefix, "lib/systemd/system"),
                    os.path.join(root, "usr/lib/systemd/system"))
    etc = os.path.join(root, "etc/systemd/system")
    os.makedirs(etc)

    def links():
        return sorted(os.path.relpath(os.path.join(d, f), etc)
                      for d, _, files in os.walk(etc) for f in files)

    def systemctl(*args):
        rc, _, err = herdinstall.run(t, ["systemctl", "--root=" + root] + list(args))
        eq(rc, 0, "systemctl %s (stderr %r)" % (" ".join(args), err))

    systemctl("enable", "herd-server@Alford.service")
    eq(links(), ["herd.target.wants/herd-server@Alford.service",
                 "multi-user.target.wants/herd-server@Alford.service"],
       "the links of systemctl enable herd-server@Alford (boot, and herd.target)")
    systemctl("disable", "herd-server@Alford.service")
    eq(links(), [], "the links left by systemctl disable herd-server@Alford")
    systemctl("enable", "herd.service")
    eq(links(), ["multi-user.target.wants/herd.service"], "the links of enable herd.service")


# --- the supervisor's unit -------------------------------------------------------

def conf_dir(conf, key):
    with open(conf) as f:
        for line in f:
            words = line.split()
            if len(words) == 2 and words[0] == key:
                return words[1]
    fail("%s names no %s" % (conf, key))


def check_supervisor(t, prefix):
    unit = os.path.join(prefix, "lib/systemd/system/herd.service")
    conf = os.path.join(prefix, "etc/herd/herd.conf")
    # The unit's directories where the installed herd.conf has them: %t, %S
    # and %L are the prefix's run, var/lib and var/log (/run, /var/lib and
    # /var/log for the prefix /usr).
    spec = {"t": os.path.join(prefix, "run"), "S": os.path.join(prefix, "var/lib"),
            "L": os.path.join(prefix, "var/log")}
    dirs = herdinstall.unit_directories(unit, spec)
    for key, kind in (("run_dir", "Runtime"), ("data_dir", "State"), ("log_dir", "Logs")):
        eq(conf_dir(conf, key), dirs[kind], "herd.conf's %s and the unit's %sDirectory="
           % (key, kind))
    with open(conf) as f:
        kept = [ln for ln in f if ln.split()[:1] not in (["server"], ["link"], ["http"])]
    p = herdtest.free_ports(5)
    text = ("".join(kept) + "server Alford 127.0.0.1:%d peer 127.0.0.1:%d\n"
            "server Parker 127.0.0.1:%d peer 127.0.0.1:%d\nlink Alford Parker\n"
            "http 127.0.0.1:%d\nlog_max_mb 0\n" % tuple(p))
    with open(conf, "w") as f:
        f.write(text)
    argv = herdinstall.exec_argv(unit, spec)
    eq(argv[-2:], ["start", "--foreground"], "herd.service's command")
    herd = argv[0]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    env.update({k: v for k, v in herdtest.server_env().items() if k.endswith("SAN_OPTIONS")})
    out_path = os.path.join(t.tmpdir, "herd.service.out")
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd="/")
    t.log("started herd.service's command (pid %d): %s" % (proc.pid, " ".join(argv)))
    pids = []
    try:
        deadline = time.monotonic() + 20
        while True:
            rc, out, _ = herdinstall.run(t, [herd, "-c", conf, "status", "--json"], env=env)
            if rc == 0 and [s["state"] for s in json.loads(out)["servers"]] == ["up", "up"]:
                pids = [s["pid"] for s in json.loads(out)["servers"]]
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                with open(out_path, "rb") as f:
                    fail("herd.service's herd did not bring both servers up within 20 s "
                         "(exit %s):\n%s" % (proc.poll(), f.read()[-1500:].decode(errors="replace")))
            time.sleep(0.1)
        for rel in ("herd.sock", "secret"):
            check(os.path.exists(os.path.join(dirs["Runtime"], rel)),
                  "no %s in the unit's RuntimeDirectory=" % rel)
        t.ok("herd.service's ExecStart=: both servers up, the supervisor's files in its "
             "RuntimeDirectory=")

        reload_argv = herdinstall.exec_argv(unit, spec, "ExecReload", {"MAINPID": str(proc.pid)})
        rc, _, err = herdinstall.run(t, reload_argv, env=env)
        eq(rc, 0, "herd.service's ExecReload= (stderr %r)" % err)
        with open(conf, "a") as f:
            f.write("frobnicate 1\n")
        broken = len(text.splitlines()) + 1
        rc, _, err = herdinstall.run(t, reload_argv, env=env)
        eq(rc, 78, "ExecReload= with a broken herd.conf (stderr %r)" % err)
        check(":%d:" % broken in err, "ExecReload= names line %d: %r" % (broken, err))
        with open(conf, "w") as f:
            f.write(text)
        t.ok("herd.service's ExecReload=: 0, and 78 naming the line of a broken herd.conf")

        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            fail("herd.service's herd still runs 30 s after SIGTERM (TimeoutStopSec=)")
        eq(rc, 0, "the supervisor's exit after SIGTERM")
        for pid in pids:
            check(not os.path.exists("/proc/%d" % pid) or
                  open("/proc/%d/stat" % pid).read().split()[2] == "Z",
                  "server pid %d still runs after the supervisor's SIGTERM" % pid)
        t.ok("SIGTERM to herd.service's herd: servers stopped, exit 0")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def main(t):
    prefix = herdinstall.install(t, t.args.build,
                                 os.path.join(herdinstall.scratch_dir("systemd"), "prefix"))
    check_verify(t, prefix)
    t.ok("systemd-analyze verify: exit 0, nothing on stderr; a broken copy is caught")
    if shutil.which("systemctl") is None:
        t.note("systemctl is not installed: enabling is not checked")
    else:
        check_enable(t, prefix)
        t.ok("systemctl enable herd-server@Alford: wanted at boot and by herd.target; "
             "disable undoes it; herd.service wanted at boot")
    check_supervisor(t, prefix)
    check_notify(t, prefix)


def add_args(ap):
    ap.add_argument("--build", required=True, help="the build directory to install from")


if shutil.which("systemd-analyze") is None:
    print("ok - skipped: systemd-analyze is not installed")
    sys.exit(77)
herdtest.run(main, watchdog=90, add_args=add_args)
