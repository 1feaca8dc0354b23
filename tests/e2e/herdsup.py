"""Harness for end-to-end tests of the supervisor (`herd`).

A Herd writes a herd.conf with probed loopback ports into the test's
temporary directory and drives the real `herd` binary: `herd start`,
`herd status --json`, `herd stop NAME`, ... Every wait polls with a deadline.
close() stops the herd and fails the test if any process is left behind.

    def main(t):
        h = herdsup.Herd(t)
        try:
            h.start()
            ...
        finally:
            h.close()

    herdsup.run(main)
"""

import json
import os
import random
import re
import signal
import subprocess
import threading
import time

import herdtest
from herdtest import check, eq, fail, show, wait_until  # noqa: F401 (re-exported)

DEFAULT_NAMES = ["Alford", "Bolden", "Hamilton", "Parker", "Powell"]
DEFAULT_LINKS = [("Alford", "Parker"), ("Alford", "Powell"),
                 ("Bolden", "Parker"), ("Bolden", "Powell"),
                 ("Hamilton", "Parker")]


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def ns_of(t):
    """A client time (b"SECONDS.FRACTION") in ns."""
    whole, frac = t.split(b".")
    return int(whole) * 10**9 + int((frac + b"000000000")[:9])


def snapshot(h, name, clients, timeout=10.0):
    """client -> AT line at server name, by pipelined WHATSATs (bound 0)."""
    out = {}
    with h.client(name, timeout=timeout) as c:
        c.send(b"".join(b"WHATSAT %s 1 0\n" % cl for cl in clients))
        for cl in clients:
            first, _ = c.read_whatsat(timeout)
            if first != b"?":
                out[cl] = first
    return out


class Workload(herdtest.ClientThreads):
    """The chaos tests' workload: nclients ids PREFIXnnn sending IAMATs
    with strictly increasing times, each to a random server of names, over
    connections kept open (a broken one is opened again); what was sent
    (sent, n_sent) and the newest time each client had acknowledged
    (acked, n_acked)."""

    def __init__(self, h, rng, nclients, threads, names, prefix):
        super().__init__(rng, prefix, nclients, threads)
        self.h = h
        self.names = list(names)
        self.lock = threading.Lock()
        self.sent = set()        # (client, loc, time)
        self.acked = {}          # client -> max acked ns
        self.n_sent = self.n_acked = 0

    def run(self, seed, clients):
        rng = random.Random(seed)
        conns = {}
        while not self.stop.is_set():
            client = rng.choice(clients)
            name = rng.choice(self.names)
            self.next_t[client] += rng.randrange(1, 50) * 10**6
            t = self.next_t[client]
            tt = b"%d.%09d" % divmod(t, 10**9)
            loc = b"%+.4f%+.4f" % (rng.uniform(-60, 60), rng.uniform(-170, 170))
            line = b"IAMAT %s %s %s" % (client, loc, tt)
            with self.lock:
                self.sent.add((client, loc, tt))
                self.n_sent += 1
            got = None
            try:
                c = conns.get(name)
                if c is None:
                    c = herdtest.Client(self.h.port[name], timeout=1.0, label=name)
                    conns[name] = c
                c.send(line + b"\n")
                got = c.read_line(timeout=1.0)
            except (OSError, herdtest.TestFailure):
                c = conns.pop(name, None)
                if c is not None:
                    c.close()
            if got is not None:
                f = got.split(b" ")
                if len(f) == 6 and f[0] == b"AT" and f[3:] == [client, loc, tt]:
                    with self.lock:
                        self.n_acked += 1
                        if t > self.acked.get(client, 0):
                            self.acked[client] = t
            self.stop.wait(0.004)
        for c in conns.values():
            c.close()


class Herd:
    def __init__(self, t, names=None, links=None, extra_conf="",
                 server_bin=None, subdir="herd"):
        self.t = t
        self.herd_bin = t.args.herd
        self.names = list(names or DEFAULT_NAMES)
        self.links = list(links if links is not None else DEFAULT_LINKS)
        self.dir = os.path.join(t.tmpdir, subdir)
        os.makedirs(self.dir, exist_ok=True)
        ports = herdtest.free_ports(2 * len(self.names))
        self.port = {}
        self.peer_port = {}
        lines = ["# written by the test"]
        for i, n in enumerate(self.names):
            self.port[n] = ports[2 * i]
            self.peer_port[n] = ports[2 * i + 1]
            lines.append("server %s 127.0.0.1:%d peer 127.0.0.1:%d"
                         % (n, self.port[n], self.peer_port[n]))
        for a, b in self.links:
            lines.append("link %s %s" % (a, b))
        lines.append("server_bin %s" % (server_bin or t.binary))
        lines.append("places offline")
        lines.append("restart_first_ms 100")
        lines.append("stop_grace_ms 3000")
        # Tests read logs by offset: not rotated (e2e.logs tests rotation).
        lines.append("log_max_mb 0")
        lines.append(extra_conf)
        self.conf = os.path.join(self.dir, "herd.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log_dir = os.path.join(self.dir, "log")
        self.run_dir = os.path.join(self.dir, "run")
        self.started = False
        self.seen_pids = set()
        self.supervisor_pid = None

    # -- commands ----------------------------------------------------------
    def cmd(self, *args, timeout=30.0, conf=True):
        argv = [self.herd_bin] + (["-c", self.conf] if conf else []) + list(args)
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout, env=herdtest.server_env(),
                               cwd=self.dir)
        except subprocess.TimeoutExpired:
            fail("%s did not finish within %.0fs" % (" ".join(argv), timeout))
        self.t.log("%s -> %d\n%s%s" % (" ".join(args), p.returncode,
                                        p.stdout.decode(errors="replace"),
                                        p.stderr.decode(errors="replace")))
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def ok_cmd(self, *args, timeout=30.0):
        rc, out, err = self.cmd(*args, timeout=timeout)
        check(rc == 0, "herd %s: exit %d\nstdout: %s\nstderr: %s"
              % (" ".join(args), rc, out, err))
        return out

    def start(self, *extra):
        t0 = time.monotonic()
        out = self.ok_cmd("start", *extra)
        self.started = True
        st = self.status()
        self.supervisor_pid = st["supervisor_pid"]
        return out, time.monotonic() - t0

    def status(self):
        out = self.ok_cmd("status", "--json")
        try:
            st = json.loads(out)
        except ValueError:
            fail("herd status --json is not JSON: %s" % out)
        for s in st["servers"]:
            if s["pid"]:
                self.seen_pids.add(s["pid"])
        return st

    def server(self, name):
        for s in self.status()["servers"]:
            if s["name"] == name:
                return s
        fail("no server %s in status" % name)

    def wait_state(self, name, state, timeout=10.0, pred=None):
        def cond():
            s = self.server(name)
            if s["state"] == state and (pred is None or pred(s)):
                return s
            return None
        return wait_until(cond, timeout, "%s to be %s" % (name, state), 0.02)

    # -- servers -----------------------------------------------------------
    def client(self, name, timeout=5.0):
        return herdtest.Client(self.port[name], timeout, label="%s client" % name)

    def log_path(self, name):
        return os.path.join(self.log_dir, name + ".log")

    def log(self, name):
        """The log, with its rotated part (NAME.log.1) in front."""
        return herdtest.read_log(self.log_path(name))

    def wait_log(self, name, pattern, timeout=10.0, since=0):
        rx = re.compile(pattern if isinstance(pattern, bytes) else pattern.encode())
        def cond():
            return rx.search(self.log(name), since)
        try:
            return wait_until(cond, timeout, "%s log to match %s" % (name, rx.pattern))
        except herdtest.TestFailure:
            fail("%s log never matched %s; last lines:\n%s"
                 % (name, rx.pattern, self.log(name)[-1500:].decode(errors="replace")))

    def neighbours(self, name):
        out = []
        for a, b in self.links:
            if a == name:
                out.append(b)
            elif b == name:
                out.append(a)
        return out

    def wait_links_up(self, name, since=0, timeout=10.0, names=None):
        for n in (names if names is not None else self.neighbours(name)):
            self.wait_log(name, rb"link " + re.escape(n.encode()) + rb" up\b",
                          timeout, since)

    def iamat(self, name, client, t, loc=b"+34.068930-118.445127"):
        """IAMAT at a server; returns the AT line."""
        with self.client(name) as c:
            line = b"IAMAT %s %s %s" % (client, loc, t)
            c.send(line + b"\n")
            got = c.read_line()
        check(got.startswith(b"AT %s " % name.encode()) and got.endswith(b" %s %s %s" % (client, loc, t)),
              "IAMAT at %s: unexpected reply %s" % (name, show(got)))
        return got

    def whatsat_at(self, name, client):
        """The AT line a server holds for client, or None if unknown."""
        with self.client(name) as c:
            c.send(b"WHATSAT %s 10 1\n" % client)
            first, _ = c.read_whatsat()
        if first == b"?":
            return None
        return first

    def wait_knows(self, name, at_line, timeout=5.0):
        client = at_line.split(b" ")[3]
        return wait_until(lambda: self.whatsat_at(name, client) == at_line, timeout,
                          "%s to hold %s" % (name, show(at_line)))

    # -- teardown ----------------------------------------------------------
    def pidfile_pids(self):
        pids = {}
        try:
            with open(os.path.join(self.run_dir, "herd.pid")) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2:
                        pids[parts[0]] = int(parts[1])
        except (OSError, ValueError):
            pass
        return pids

    def all_pids(self):
        pids = set(self.seen_pids)
        pids.update(self.pidfile_pids().values())
        if self.supervisor_pid:
            pids.add(self.supervisor_pid)
        return pids

    def assert_all_gone(self, timeout=10.0):
        pids = self.all_pids()
        wait_until(lambda: not [p for p in pids if pid_alive(p)], timeout,
                   "processes %s to exit" % sorted(p for p in pids if pid_alive(p)))

    def stop(self):
        """herd stop: exit 0, every process gone, socket and pid file removed."""
        pids = self.all_pids()
        self.ok_cmd("stop")
        self.started = False
        wait_until(lambda: not [p for p in pids if pid_alive(p)], 10.0,
                   "every process of the herd to exit")
        check(not os.path.exists(os.path.join(self.run_dir, "herd.sock")),
              "control socket left behind after herd stop")
        check(not os.path.exists(os.path.join(self.run_dir, "herd.pid")),
              "pid file left behind after herd stop")

    def close(self):
        """Best-effort teardown for finally: blocks; kills what is left."""
        leftovers = [p for p in self.all_pids() if pid_alive(p)]
        if self.started and self.supervisor_pid and pid_alive(self.supervisor_pid):
            try:
                self.cmd("stop", timeout=20)
            except herdtest.TestFailure:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and [p for p in leftovers if pid_alive(p)]:
            time.sleep(0.05)
        for p in leftovers:
            if pid_alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass


def run(main, watchdog=150, description=None):
    def add_args(ap):
        ap.add_argument("--herd", required=True, help="path to the herd binary")
    herdtest.run(main, watchdog=watchdog, description=description, add_args=add_args)
