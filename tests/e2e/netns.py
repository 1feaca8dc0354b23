"""Harness: the herd as five machines in Linux network namespaces.

Each server runs on its own "machine" (a network namespace) under its own
supervisor (`herd start --only NAME`), and the machines are wired like a
small data centre:

    peer network 10.77.0.0/24        one veth per machine ("its cable") into
                                     a bridge br0 in the "switch" namespace;
                                     cutting a cable = the switch port down
                                     (packets vanish, nothing is refused)
    client network 10.78.0.0/24      a second veth per machine into the
                                     test's own namespace, a /30 each, so
                                     both sides of a cut stay reachable
                                     from the test (the machines cannot
                                     reach each other over it)

Every machine reads the same herd.conf (copied byte for byte into each
machine's directory, so that run/, log/ and data/ default to per-machine
directories next to it: each supervisor needs its own control socket). The
server lines name the peers by host name, and the names come from each
namespace's own hosts file (/etc/netns/NS/hosts, bind-mounted over
/etc/hosts by `ip netns exec`; rewritten in place when a machine changes
address, so that the running servers see the change):

    server Alford 0.0.0.0:12010 peer alford.herd.test:22010

Each server resolves its own peer name once, to bind its peer port on that
address; the neighbours find each other by name, resolved at every dial.

    net = netns.Net(t)             # namespaces, cables, hosts, herd.conf
    try:
        net.start_all()            # a supervisor per machine; links up
        net.cut("Parker")          # unplug; net.heal("Parker")
        net.partition(["Parker", "Hamilton"]); net.heal_partition()
        net.crash("Powell")        # cable, kill -9, sockets and NICs gone
        net.restart("Powell", new_ip="10.77.0.115")
        c = net.client("Alford")   # over the client network
    finally:
        net.close()                # everything removed, also on failure

Only addresses inside the test's own namespaces are used: 10.77.0.0/24
exists only there, 10.78.0.0/24 only there and on the test's ends of the
client veths. Names are unique per run (herdp<PID>-...); leftovers of an
earlier run that died are removed first; one run at a time per host (a
lock file: the subnets are fixed). unavailable() says why the
harness cannot run here (not root, no `ip netns`, no veth or bridge);
tests exit with SKIP (77) then.
"""

import atexit
import calendar
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import herdsup
import herdtest
from herdtest import check, fail

SKIP = 77
PREFIX = "herdp"
DOMAIN = "herd.test"
NETNS_ETC = "/etc/netns"
LOCK_PATH = "/tmp/herd-e2e-netns.lock"
PEER_NET = "10.77.0."
CLIENT_NET = "10.78.0."
CLIENT_PORT = 12010
PEER_PORT = 22010

NAMES = herdsup.DEFAULT_NAMES
LINKS = herdsup.DEFAULT_LINKS

LINK_UP_RE = re.compile(rb"link (\w+) up \(")
LINK_DOWN_RE = re.compile(rb"link (\w+) down: ")
LINK_EVENT_RE = re.compile(rb"link (\w+) (up \(|down: )")
LOG_LINE_RE = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z ([^\n]*)$", re.M)


def snapshot(net, name, clients, timeout=5.0):
    """client -> AT line held by a server (pipelined WHATSATs, bound 0), or
    None if the server cannot be asked."""
    out = {}
    try:
        with net.client(name, timeout=timeout) as c:
            c.send(b"".join(b"WHATSAT %s 1 0\n" % cl for cl in clients))
            for cl in clients:
                first, _ = c.read_whatsat(timeout)
                if first != b"?":
                    out[cl] = first
    except (OSError, herdtest.TestFailure):
        return None
    return out


def log_time(stamp):
    """'2026-12-06T02:32:19.267' (UTC, bytes) -> POSIX seconds."""
    s = stamp.decode()
    whole, ms = s.split(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + int(ms) / 1000.0


def run_ip(argv, check_rc=True, timeout=20.0):
    """Runs a command (ip, ss, ...); returns (rc, stdout, stderr) as text."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        fail("%s did not finish within %.0f s" % (" ".join(argv), timeout))
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    if check_rc and p.returncode != 0:
        fail("%s: exit %d: %s%s" % (" ".join(argv), p.returncode, out, err))
    return p.returncode, out, err


def _pid_of(name, rx):
    m = rx.match(name)
    return int(m.group(1)) if m else None


NS_RE = re.compile(r"^%s(\d+)-" % PREFIX)
ROOT_LINK_RE = re.compile(r"^%s(\d+)c\d+$" % PREFIX)


def list_netns():
    rc, out, _ = run_ip(["ip", "netns", "list"], check_rc=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()] if rc == 0 else []


def list_root_links():
    rc, out, _ = run_ip(["ip", "-o", "link", "show"], check_rc=False)
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@")[0])
    return names


def _remove_netns(ns):
    """Kills what runs in ns (processes of a run of this test), drops its
    interfaces (a veth takes its other end along) and sockets, deletes it."""
    rc, out, _ = run_ip(["ip", "netns", "pids", ns], check_rc=False)
    pids = [int(p) for p in out.split() if p.isdigit()] if rc == 0 else []
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline and any(herdsup.pid_alive(p) for p in pids):
        time.sleep(0.02)
    rc, out, _ = run_ip(["ip", "-n", ns, "-o", "link", "show"], check_rc=False)
    for line in out.splitlines() if rc == 0 else []:
        parts = line.split(":", 2)
        if len(parts) >= 2:
            dev = parts[1].strip().split("@")[0]
            if dev != "lo":
                run_ip(["ip", "-n", ns, "link", "del", dev], check_rc=False)
    run_ip(["ip", "netns", "exec", ns, "ss", "-K", "-a", "-t"], check_rc=False)
    run_ip(["ip", "netns", "del", ns], check_rc=False)
    shutil.rmtree(os.path.join(NETNS_ETC, ns), ignore_errors=True)


def cleanup_prefix(only_pid=None):
    """Removes namespaces, root links and /etc/netns dirs of this harness
    whose run is gone (or, with only_pid, of that run)."""
    def ours(pid):
        if pid is None:
            return False
        if only_pid is not None:
            return pid == only_pid
        return pid == os.getpid() or not herdsup.pid_alive(pid)
    for ns in list_netns():
        if ours(_pid_of(ns, NS_RE)):
            _remove_netns(ns)
    for dev in list_root_links():
        if ours(_pid_of(dev, ROOT_LINK_RE)):
            run_ip(["ip", "link", "del", dev], check_rc=False)
    try:
        removed = 0
        for d in os.listdir(NETNS_ETC):
            if ours(_pid_of(d, NS_RE)):
                shutil.rmtree(os.path.join(NETNS_ETC, d), ignore_errors=True)
                removed += 1
        if removed and not os.listdir(NETNS_ETC):
            os.rmdir(NETNS_ETC)    # most likely made by that run
    except OSError:
        pass


def unavailable():
    """None when the harness can run here, else why not (for a skip)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not root (network namespaces need root)"
    if shutil.which("ip") is None:
        return "no ip command (iproute2)"
    rc, _, err = run_ip(["ip", "netns", "list"], check_rc=False)
    if rc != 0:
        return "ip netns is unavailable: %s" % err.strip()
    if shutil.which("ss") is None:
        return "no ss command (iproute2)"
    probe = "%s%d-probe" % (PREFIX, os.getpid())
    try:
        for argv in (["ip", "netns", "add", probe],
                     ["ip", "-n", probe, "link", "add", "br0", "type", "bridge"],
                     ["ip", "-n", probe, "link", "add", "v0", "type", "veth",
                      "peer", "name", "v1"],
                     ["ip", "-n", probe, "link", "set", "v1", "master", "br0"]):
            rc, out, err = run_ip(argv, check_rc=False)
            if rc != 0:
                return "%s failed: %s" % (" ".join(argv), (out + err).strip())
    finally:
        _remove_netns(probe)
    return None


class NetClient(herdtest.Client):
    """herdtest.Client, to an address of the client network."""

    def __init__(self, addr, port, timeout=5.0, label="client"):  # noqa: D401
        self.label = label
        self.timeout = timeout
        self.buf = b""
        self.eof = False
        self.sock = socket.create_connection((addr, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Machine:
    def __init__(self, net, i, name):
        self.net = net
        self.i = i
        self.name = name
        self.lower = name.lower()
        self.ns = "%s%d-%s" % (PREFIX, net.pid, self.lower)
        self.host = "%s.%s" % (self.lower, DOMAIN)
        self.peer_ip = PEER_NET + str(11 + i)
        self.mac = "02:77:00:00:00:%02x" % (11 + i)   # the NIC's, kept across reboots
        self.client_ip = CLIENT_NET + str(4 * i + 2)  # machine's end of its /30
        self.gw_ip = CLIENT_NET + str(4 * i + 1)      # the test's end
        self.root_dev = "%s%dc%d" % (PREFIX, net.pid, i)
        self.port = CLIENT_PORT + i
        self.peer_port = PEER_PORT + i
        self.switch_port = ("p-" + self.lower)[:15]
        self.dir = os.path.join(net.dir, "m-" + self.lower)
        self.conf = os.path.join(self.dir, "herd.conf")
        self.run_dir = os.path.join(self.dir, "run")
        self.log_dir = os.path.join(self.dir, "log")
        self.log_path = os.path.join(self.log_dir, name + ".log")
        self.herd_log = os.path.join(self.log_dir, "herd.log")
        self.plugged = False   # the switch port is up
        self.cut = False       # the test unplugged the cable (until heal)
        self.side = "br0"      # which bridge its switch port is on
        self.nics = False      # its interfaces exist (not crashed)
        self.supervisor_pid = None
        self.seen_pids = set()
        self.boots = 0


class Net:
    def __init__(self, t, extra_conf=""):
        self.t = t
        self.pid = os.getpid()
        self.herd_bin = os.path.abspath(t.args.herd)
        self.dir = os.path.join(t.tmpdir, "net")
        os.makedirs(self.dir, exist_ok=True)
        self.switch = "%s%d-sw" % (PREFIX, self.pid)
        self.m = {n: Machine(self, i, n) for i, n in enumerate(NAMES)}
        self.machines = [self.m[n] for n in NAMES]
        self.closed = False
        self.extra_conf = extra_conf
        self._lock()
        atexit.register(self.close)
        cleanup_prefix()     # what an earlier run that was killed left
        self.made_etc_netns = not os.path.isdir(NETNS_ETC)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _lock(self, timeout=200.0):
        """One run at a time on this machine: the subnets are fixed and the
        test's ends of the client links live in the test's own namespace
        (two runs would route to each other's machines), and the timings
        asserted want the CPU. Released when the process ends, however."""
        self.lock_fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        noted = False
        while True:
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not noted:
                    self.t.note("another run of the namespace tests holds %s: waiting"
                                % LOCK_PATH)
                    noted = True
                if time.monotonic() > deadline:
                    fail("another run of the namespace tests held %s for %.0f s"
                         % (LOCK_PATH, timeout))
                time.sleep(0.2)

    # -- building ---------------------------------------------------------
    def _build(self):
        t0 = time.monotonic()
        sw = self.switch
        run_ip(["ip", "netns", "add", sw])
        for argv in (["link", "set", "lo", "up"],
                     ["link", "add", "br0", "type", "bridge", "stp_state", "0"],
                     ["link", "add", "br1", "type", "bridge", "stp_state", "0"],
                     ["link", "set", "br0", "up"],
                     ["link", "set", "br1", "up"]):
            run_ip(["ip", "-n", sw] + argv)
        for m in self.machines:
            run_ip(["ip", "netns", "add", m.ns])
            run_ip(["ip", "netns", "exec", m.ns, "sysctl", "-qw",
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1"])
            run_ip(["ip", "-n", m.ns, "link", "set", "lo", "up"])
            os.makedirs(os.path.join(NETNS_ETC, m.ns), exist_ok=True)
            self._write_etc(m)
            self._plug_nics(m, True)
        self.write_hosts()
        self._write_conf()
        self.t.log("network of %d machines built in %.2f s"
                   % (len(self.machines), time.monotonic() - t0))

    def _write_etc(self, m):
        d = os.path.join(NETNS_ETC, m.ns)
        try:
            with open("/etc/nsswitch.conf") as f:
                lines = [ln for ln in f.read().splitlines()
                         if not ln.strip().startswith("hosts:")]
        except OSError:
            lines = []
        lines.append("hosts: files")    # names come from the hosts file only
        with open(os.path.join(d, "nsswitch.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(d, "resolv.conf"), "w") as f:
            f.write("# no DNS inside the test's machines\nnameserver 127.0.0.1\n"
                    "options attempts:1 timeout:1\n")
        hosts = os.path.join(d, "hosts")
        if not os.path.exists(hosts):
            open(hosts, "w").close()

    def hosts_text(self):
        lines = ["# written by tests/e2e/netns.py", "127.0.0.1 localhost"]
        for m in self.machines:
            lines.append("%s %s" % (m.peer_ip, m.host))
        return "\n".join(lines) + "\n"

    def write_hosts(self):
        """Every machine's hosts file, rewritten in place (same inode: the
        bind mounts of running processes see the new text)."""
        text = self.hosts_text().encode()
        for m in self.machines:
            path = os.path.join(NETNS_ETC, m.ns, "hosts")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.write(fd, text)
                os.ftruncate(fd, len(text))
            finally:
                os.close(fd)

    def _plug_nics(self, m, port_up):
        """The machine's two interfaces: its cable into the switch (on
        bridge m.side, the port up or not) and its client link."""
        ns, sw = m.ns, self.switch
        run_ip(["ip", "-n", ns, "link", "add", "peer0", "address", m.mac, "type", "veth",
                "peer", "name", m.switch_port, "netns", sw])
        run_ip(["ip", "-n", ns, "addr", "add", m.peer_ip + "/24", "dev", "peer0"])
        run_ip(["ip", "-n", ns, "link", "set", "peer0", "up"])
        run_ip(["ip", "-n", sw, "link", "set", m.switch_port, "master", m.side])
        if port_up:
            run_ip(["ip", "-n", sw, "link", "set", m.switch_port, "up"])
        m.plugged = port_up
        run_ip(["ip", "-n", ns, "link", "add", "cli0", "type", "veth",
                "peer", "name", m.root_dev, "netns", str(self.pid)])
        run_ip(["ip", "link", "set", m.root_dev, "addrgenmode", "none"])
        run_ip(["ip", "addr", "add", m.gw_ip + "/30", "dev", m.root_dev])
        run_ip(["ip", "link", "set", m.root_dev, "up"])
        run_ip(["ip", "-n", ns, "addr", "add", m.client_ip + "/30", "dev", "cli0"])
        run_ip(["ip", "-n", ns, "link", "set", "cli0", "up"])
        m.nics = True

    def _write_conf(self):
        secret = os.path.join(self.dir, "secret")
        with open(secret, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(secret, 0o600)
        lines = ["# written by tests/e2e/netns.py: the same file on every machine"]
        for m in self.machines:
            lines.append("server %s 0.0.0.0:%d peer %s:%d"
                         % (m.name, m.port, m.host, m.peer_port))
        for a, b in LINKS:
            lines.append("link %s %s" % (a, b))
        lines += ["server_bin " + self.t.binary,
                  "secret_file " + secret,
                  "places offline",
                  "restart_first_ms 100",
                  "stop_grace_ms 5000",
                  "log_max_mb 0",  # logs are read by offset: not rotated
                  self.extra_conf]
        text = "\n".join(lines) + "\n"
        self.conf_text = text
        for m in self.machines:
            os.makedirs(m.dir, exist_ok=True)
            with open(m.conf, "w") as f:
                f.write(text)

    # -- the herd on each machine ----------------------------------------
    def herd(self, name, *args, timeout=30.0, in_ns=False):
        m = self.m[name]
        argv = [self.herd_bin, "-c", m.conf] + list(args)
        if in_ns:
            argv = ["ip", "netns", "exec", m.ns] + argv
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout, env=herdtest.server_env(), cwd=m.dir)
        except subprocess.TimeoutExpired:
            fail("%s did not finish within %.0f s" % (" ".join(argv), timeout))
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        self.t.log("[%s] herd %s -> %d\n%s%s" % (name, " ".join(args), p.returncode, out, err))
        return p.returncode, out, err

    def ok_herd(self, name, *args, **kw):
        rc, out, err = self.herd(name, *args, **kw)
        check(rc == 0, "[%s] herd %s: exit %d\nstdout: %s\nstderr: %s"
              % (name, " ".join(args), rc, out, err))
        return out

    def status(self, name):
        out = self.ok_herd(name, "status", "--json")
        try:
            st = json.loads(out)
        except ValueError:
            fail("[%s] herd status --json is not JSON: %s" % (name, out))
        m = self.m[name]
        m.supervisor_pid = st["supervisor_pid"]
        for s in st["servers"]:
            if s["pid"]:
                m.seen_pids.add(s["pid"])
            if s["name"] == name:
                return s
        fail("[%s] no server %s in status" % (name, name))

    def start(self, name):
        """herd start --only NAME on its machine; returns seconds taken."""
        m = self.m[name]
        t0 = time.monotonic()
        self.ok_herd(name, "start", "--only", name, in_ns=True, timeout=60.0)
        m.boots += 1
        s = self.status(name)
        check(s["state"] == "up", "[%s] not up after herd start: %s" % (name, s))
        return time.monotonic() - t0

    def start_all(self, timeout=30.0):
        for m in self.machines:
            self.start(m.name)
        self.wait_all_links_up(timeout)

    # -- the cables ----------------------------------------------------------
    def _port(self, m, up):
        run_ip(["ip", "-n", self.switch, "link", "set", m.switch_port, "up" if up else "down"])
        m.plugged = up

    def cut(self, *names):
        """Unplugs the machines' cables (switch ports down); returns the
        time (time.time()) the last one was cut."""
        for n in names:
            m = self.m[n]
            m.cut = True
            if m.nics:
                self._port(m, False)
        return time.time()

    def heal(self, *names):
        """Plugs them back; returns time.time() before the first."""
        t0 = time.time()
        for n in names:
            m = self.m[n]
            m.cut = False
            if m.nics:
                self._port(m, True)
        return t0

    def partition(self, names):
        """Moves these machines' switch ports onto a second bridge: they
        reach each other, not the rest (no port goes down). Returns the
        time of the cut."""
        for n in names:
            m = self.m[n]
            run_ip(["ip", "-n", self.switch, "link", "set", m.switch_port, "master", "br1"])
            m.side = "br1"
        return time.time()

    def heal_partition(self):
        t0 = time.time()
        for m in self.machines:
            if m.side != "br0":
                if m.nics:
                    run_ip(["ip", "-n", self.switch, "link", "set", m.switch_port,
                            "master", "br0"])
                m.side = "br0"
        return t0

    # -- machines --------------------------------------------------------------
    def ns_pids(self, name):
        rc, out, _ = run_ip(["ip", "netns", "pids", self.m[name].ns], check_rc=False)
        return [int(p) for p in out.split() if p.isdigit()] if rc == 0 else []

    def sockets(self, name):
        """TCP sockets of the machine (any state), as ss prints them."""
        _, out, _ = run_ip(["ip", "netns", "exec", self.m[name].ns, "ss", "-H", "-t", "-a", "-n"])
        return [ln for ln in out.splitlines() if ln.strip()]

    def crash(self, name):
        """The machine dies: its cable goes dead first (so nothing it still
        sends leaves it), its supervisor and server are killed (-9), its
        sockets destroyed and its interfaces removed, so nothing of it is
        sent after a heal. Its disk (data, logs) stays."""
        m = self.m[name]
        if m.plugged:
            self._port(m, False)
        sup = m.supervisor_pid
        pids = self.ns_pids(name)
        if sup and sup in pids:
            os.kill(sup, signal.SIGSTOP)     # it must not restart the server
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        herdsup.wait_until(lambda: not [p for p in pids if herdsup.pid_alive(p)], 10.0,
                           "the processes of %s's machine to die" % name)
        run_ip(["ip", "netns", "exec", m.ns, "ss", "-K", "-a", "-t"], check_rc=False)
        left = self.sockets(name)
        for dev in ("peer0", "cli0"):
            run_ip(["ip", "-n", m.ns, "link", "del", dev])
        m.nics = False
        # The switch's end went with the machine's.
        herdsup.wait_until(lambda: run_ip(["ip", "-n", self.switch, "link", "show",
                                           m.switch_port], check_rc=False)[0] != 0,
                           5.0, "%s's switch port to go away" % name)
        m.supervisor_pid = None
        return left

    def restart(self, name, new_ip=None):
        """The machine boots again (the same NIC, possibly a new address,
        in which case every hosts file says so first), its cable plugged
        unless the test cut it, and its supervisor starts. Returns
        time.monotonic() when herd start came back."""
        m = self.m[name]
        if new_ip is not None:
            m.peer_ip = new_ip
            self.write_hosts()
        if not m.nics:
            self._plug_nics(m, not m.cut)
        self.start(name)
        return time.monotonic()

    def close(self):
        """Stops every supervisor, then removes every namespace, veth,
        bridge and /etc/netns dir of this run, even when the test failed.
        Idempotent; signals wait until it is done."""
        if self.closed:
            return
        sigs = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM}
        old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
        try:
            self.closed = True
            for m in self.machines:
                if os.path.exists(os.path.join(m.run_dir, "herd.sock")):
                    try:
                        self.herd(m.name, "stop", timeout=20.0)
                    except Exception:  # noqa: BLE001 - cleanup goes on
                        pass
            # Whatever still runs in the namespaces is the test's: killed.
            cleanup_prefix(only_pid=self.pid)
            if getattr(self, "made_etc_netns", False):
                try:
                    os.rmdir(NETNS_ETC)
                except OSError:
                    pass
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def leftovers(self):
        """What of this run is still there (for the final check)."""
        out = []
        out += [ns for ns in list_netns() if _pid_of(ns, NS_RE) == self.pid]
        out += [d for d in list_root_links() if _pid_of(d, ROOT_LINK_RE) == self.pid]
        try:
            out += [os.path.join(NETNS_ETC, d) for d in os.listdir(NETNS_ETC)
                    if _pid_of(d, NS_RE) == self.pid]
        except OSError:
            pass
        for m in self.machines:
            pids = set(m.seen_pids)
            if m.supervisor_pid:
                pids.add(m.supervisor_pid)
            out += ["pid %d (%s)" % (p, m.name) for p in pids if self._ours(p)]
        return out

    def _ours(self, pid):
        """pid is alive and one of this run's herd processes (its command
        line names this run's directory), not a reused pid."""
        if not herdsup.pid_alive(pid):
            return False
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return self.dir.encode() in f.read()
        except OSError:
            return False

    def diagnose(self, name):
        """What a server that does not answer is doing: its process state
        and CPU time (a spinning loop shows state R and growing CPU), and
        the time of its last log line."""
        try:
            s = self.status(name)
        except herdtest.TestFailure as e:
            return "%s: no status (%s)" % (name, str(e).splitlines()[0])
        pid, what = s.get("pid"), "%s: %s" % (name, s["state"])
        if pid:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    st = f.read().rsplit(")", 1)[1].split()
                tick = os.sysconf("SC_CLK_TCK")
                what += ", pid %d in state %s, %.2f s of CPU" % (
                    pid, st[0], (int(st[11]) + int(st[12])) / tick)
            except (OSError, IndexError, ValueError):
                what += ", pid %d (gone)" % pid
        lines = self.log_lines(name)
        if lines:
            what += ", last log line %.1f s ago: %s" % (time.time() - lines[-1][0],
                                                         lines[-1][1][:100].decode(errors="replace"))
        return what

    def dump_tails(self, n=15):
        """The last lines of every server log but the protocol traffic."""
        for m in self.machines:
            lines = [ln for ln in self.log(m.name).decode("utf-8", "replace").splitlines()
                     if not re.search(r" conn \d+ [<>] ", ln)]
            print("--- %s (%s), last lines but client traffic:\n%s"
                  % (m.name, m.log_path, "\n".join(lines[-n:])), flush=True)

    # -- talking to the servers ---------------------------------------------
    def client(self, name, timeout=5.0):
        m = self.m[name]
        return NetClient(m.client_ip, m.port, timeout, label="%s client" % name)

    def log(self, name):
        try:
            with open(self.m[name].log_path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def log_offsets(self):
        return {m.name: len(self.log(m.name)) for m in self.machines}

    def log_lines(self, name, since=0, rx=None):
        """[(posix time, line)] of the log from byte `since` (matching rx)."""
        out = []
        for mm in LOG_LINE_RE.finditer(self.log(name), since):
            if rx is None or rx.search(mm.group(2)):
                out.append((log_time(mm.group(1)), mm.group(2)))
        return out

    def neighbours(self, name):
        return [b if a == name else a for a, b in LINKS if name in (a, b)]

    def link_states(self, name):
        """neighbour -> 'up' or 'down', from the last such line of the log."""
        state = {n: "down" for n in self.neighbours(name)}
        data = self.log(name)
        start = data.rfind(b" listening: clients on ")   # this life of the server
        for mm in LINK_EVENT_RE.finditer(data, max(start, 0)):
            state[mm.group(1).decode()] = "up" if mm.group(2).startswith(b"up") else "down"
        return state

    def all_links_up(self):
        for m in self.machines:
            if any(v != "up" for v in self.link_states(m.name).values()):
                return False
        return True

    def wait_all_links_up(self, timeout=15.0):
        try:
            herdsup.wait_until(self.all_links_up, timeout, "every link up", 0.05)
        except herdtest.TestFailure:
            fail("not every link is up after %.0f s: %s" % (timeout, {
                m.name: self.link_states(m.name) for m in self.machines}))
