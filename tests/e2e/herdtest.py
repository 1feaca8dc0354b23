"""A small harness for herd's end-to-end tests (Python 3 standard library).

A test script does:

    import herdtest

    def main(t):
        fake = t.fakeplaces()                      # stand-in places provider
        a = t.server("Alford", places=fake)        # probed loopback ports
        t.start_all()                              # waits on --ready-fd
        c = a.connect()
        c.send(b"IAMAT kiwi +34-118 1621464827.5\\n")
        line = c.read_line()
        t.ok("valid IAMAT")

    herdtest.run(main)

`run` parses `--server BIN`, arms a watchdog (signal.alarm), gives the test a
temporary directory for logs, and on the way out stops every server
(SIGTERM, exit code 0 required within 5 s), stops every fake, scans every log
and stderr file for sanitizer reports, and exits 0 only if all of that
passed.  Every wait has a deadline.  Traffic goes to 127.0.0.1 only.
"""

import argparse
import atexit
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import fakeplaces  # noqa: E402  (after the path tweak)

LOOPBACK = "127.0.0.1"
DIFF_RE = re.compile(rb"^[+-][0-9]+\.[0-9]{9}$")
SANITIZER_RE = re.compile(rb"Sanitizer|runtime error")
DEFAULT_KEY = "testkey"
STOP_GRACE = 5.0


class TestFailure(AssertionError):
    """A failed expectation; its message says input, expected and got."""


class Watchdog(TestFailure):
    pass


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def wait_until(cond, timeout, what, interval=0.02):
    """cond()'s first true value, polled every interval; fails after
    timeout seconds, saying what it waited for."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def show(b):
    """A readable, unambiguous rendering of bytes for messages."""
    if not isinstance(b, (bytes, bytearray)):
        return repr(b)
    if len(b) > 600:
        return repr(b[:400]) + " ... (%d bytes) ... " % len(b) + repr(b[-150:])
    return repr(b)


def eq(got, expected, what):
    if got != expected:
        fail("%s\n   expected: %s\n   got:      %s" % (what, show(expected), show(got)))


# ---------------------------------------------------------------------------
# ports

_handed_out = set()
_rng = random.Random()

# Tests run in parallel (ctest -j) each probe ports on their own: without a
# record shared between them, two could be handed the same free port, and
# the second server to bind it fails. A port handed out here is claimed by
# creating a file named after it (O_EXCL) in a directory every test
# process shares, and released when the process ends; a claim older than
# CLAIM_TTL (left by a killed test) is taken over.
CLAIM_DIR = os.path.join(tempfile.gettempdir(), "herd-e2e-ports")
CLAIM_TTL = 900.0
_claims = []


def _claim(port):
    path = os.path.join(CLAIM_DIR, str(port))
    for _ in range(2):
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            _claims.append(path)
            return True
        except FileExistsError:
            try:
                if time.time() - os.stat(path).st_mtime < CLAIM_TTL:
                    return False
                os.unlink(path)  # stale: its test is gone
            except FileNotFoundError:
                pass
        except OSError:
            return True  # no shared directory: probing alone decides
    return False


def _release_claims():
    for path in _claims:
        try:
            os.unlink(path)
        except OSError:
            pass


atexit.register(_release_claims)
try:
    os.makedirs(CLAIM_DIR, exist_ok=True)
except OSError:
    pass


def _probe_range():
    """Ports to probe: below the kernel's ephemeral range when possible.

    Ports handed out by bind(0) come from the ephemeral range, which is also
    where every outgoing connection (clients, peer links, HTTP) takes its
    local port; a probed port could be taken that way before the server
    binds it.  Picking below that range avoids the race.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if low - 1 - 20000 < 2000:
        return None
    return 20000, low - 1


def _bind(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((LOOPBACK, port))
    except OSError:
        s.close()
        return None
    return s


def free_ports(n):
    """Probe `n` distinct free loopback ports.

    All probes are held open together (so they differ), then closed right
    away; call this right before spawning the servers that use them.
    """
    socks, ports = [], []
    rng = _probe_range()
    try:
        tries = 0
        while len(ports) < n:
            tries += 1
            if rng is not None and tries < 1000:
                p = _rng.randint(*rng)
                if p in _handed_out or p in ports:
                    continue
                s = _bind(p)
                if s is None:
                    continue
                if not _claim(p):
                    s.close()
                    continue
            else:
                s = _bind(0)
                p = s.getsockname()[1]
                if p in _handed_out or p in ports:
                    socks.append(s)
                    continue
            socks.append(s)
            ports.append(p)
    finally:
        for s in socks:
            s.close()
    _handed_out.update(ports)
    return ports


def free_port():
    return free_ports(1)[0]


# ---------------------------------------------------------------------------
# AT lines


def split_at(line):
    """Split an AT line (bytes, no terminator) into its six fields."""
    fields = line.split(b" ")
    check(len(fields) == 6 and fields[0] == b"AT",
          "not an AT line of 6 single-space separated fields: %s" % show(line))
    return fields


def diff_ns(text):
    """Parse an AT time difference (`+1.000000000`) to integer nanoseconds."""
    check(DIFF_RE.match(text), "time difference %s does not match [+-]DIGITS.9DIGITS"
          % show(text))
    sign = -1 if text[:1] == b"-" else 1
    whole, frac = text[1:].split(b".")
    return sign * (int(whole) * 1000000000 + int(frac))


def time_ns_of(text):
    """Parse a client time (`1621464827.959498503123`) to integer ns (truncated)."""
    if b"." in text:
        whole, frac = text.split(b".")
    else:
        whole, frac = text, b""
    frac = (frac + b"000000000")[:9]
    return int(whole) * 1000000000 + int(frac)


def location_value(loc):
    """'+34.068930-118.445127' -> (34.06893, -118.445127) as floats."""
    if isinstance(loc, str):
        loc = loc.encode()
    j = max(loc.rfind(b"+"), loc.rfind(b"-"))
    check(j > 0, "not a location: %s" % show(loc))
    return (round(float(loc[:j]), 9), round(float(loc[j:]), 9))


def location_param(param):
    """'34.068930,-118.445127' (a places query value) -> floats, strictly."""
    check(param is not None, "no location parameter")
    check(re.match(r"^-?[0-9]+(\.[0-9]+)?,-?[0-9]+(\.[0-9]+)?$", param),
          "location parameter %r is not LAT,LNG in plain decimal" % param)
    a, b = param.split(",")
    return (round(float(a), 9), round(float(b), 9))


def mask_diff(data):
    """Replace field 3 of every well-formed AT line with <DIFF>."""
    out = []
    for line in data.split(b"\n"):
        f = line.split(b" ")
        if len(f) == 6 and f[0] == b"AT" and DIFF_RE.match(f[2]):
            f[2] = b"<DIFF>"
            line = b" ".join(f)
        out.append(line)
    return b"\n".join(out)


# ---------------------------------------------------------------------------
# client connections


class ClientThreads:
    """The threads of a seeded client workload: client ids PREFIXnnn dealt
    out among `threads` threads, each id with its next client time in ns
    (an hour ago, to grow strictly from there), and one thread per share
    running the subclass's run(seed, clients) until `stop` is set. The
    seeds come from rng, one per thread, in order."""

    def __init__(self, rng, prefix, nclients, threads):
        self.stop = threading.Event()
        base = int(time.time()) - 3600
        self.parts = [[] for _ in range(threads)]
        for i in range(nclients):
            self.parts[i % threads].append(b"%s%03d" % (prefix, i))
        self.clients = [c for p in self.parts for c in p]
        self.next_t = {c: base * 10**9 for c in self.clients}
        self.threads = [threading.Thread(target=self.run, args=(rng.randrange(1 << 30), p),
                                         daemon=True) for p in self.parts]

    def run(self, seed, clients):
        raise NotImplementedError

    def start(self):
        for th in self.threads:
            th.start()
        return self

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(10)
            check(not th.is_alive(), "a workload thread did not stop")


def read_log(path):
    """A server's log with its rotated part (PATH.1, log_max_mb) in front:
    offsets into it grow until the next rotation."""
    data = b""
    for p in (path + ".1", path):
        try:
            with open(p, "rb") as f:
                data += f.read()
        except FileNotFoundError:
            pass
    return data


class Client:
    """A client connection with deadline-bounded reads."""

    def __init__(self, port, timeout=5.0, label="client"):
        self.label = label
        self.timeout = timeout
        self.buf = b""
        self.eof = False
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data):
        self.sock.sendall(data)

    def shutdown_wr(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, deadline):
        """Read more bytes; False on EOF.  Raises at the deadline."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure("%s: timed out waiting for data; buffered so far: %s"
                              % (self.label, show(self.buf)))
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            raise TestFailure("%s: timed out waiting for data; buffered so far: %s"
                              % (self.label, show(self.buf)))
        try:
            chunk = self.sock.recv(1 << 16)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_until(self, marker, timeout=None):
        """Bytes up to and including `marker`."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out, self.buf = self.buf[:i + len(marker)], self.buf[i + len(marker):]
                return out
            if not self._fill(deadline):
                raise TestFailure("%s: EOF before %s; got %s"
                                  % (self.label, show(marker), show(self.buf)))

    def read_line(self, timeout=None):
        """One line without its `\\n`."""
        return self.read_until(b"\n", timeout)[:-1]

    def read_whatsat(self, timeout=None):
        """A WHATSAT reply: (at_line, json_text) or ('?', line).

        Reads the AT line, then up to the first blank line.
        """
        first = self.read_line(timeout)
        if not first.startswith(b"AT "):
            return b"?", first
        body = self.read_until(b"\n\n", timeout)
        return first, body[:-2]

    def read_exactly(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise TestFailure("%s: EOF after %d of %d bytes: %s"
                                  % (self.label, len(self.buf), n, show(self.buf)))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self, timeout=None):
        """Everything until the server closes (deadline-bounded)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self._fill(deadline):
            pass
        out, self.buf = self.buf, b""
        return out

    def expect_nothing(self, wait):
        """Assert no byte arrives within `wait` seconds (connection open)."""
        r, _, _ = select.select([self.sock], [], [], wait)
        if r:
            try:
                chunk = self.sock.recv(1 << 16, socket.MSG_PEEK)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                fail("%s: unexpected bytes: %s" % (self.label, show(chunk)))
            fail("%s: connection closed unexpectedly" % self.label)
        check(not self.buf, "%s: unexpected buffered bytes %s" % (self.label, show(self.buf)))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------
# WHATSAT answers


def whatsat(c, cid, radius, bound, timeout=10):
    """A WHATSAT that must be answered: (at_line, json_text, seconds)."""
    t0 = time.monotonic()
    c.send(b"WHATSAT %s %s %d\n" % (cid, radius, bound))
    at, body = c.read_whatsat(timeout)
    if at == b"?":
        fail("WHATSAT %s %s %d refused: %s" % (cid.decode(), radius.decode(), bound,
                                               show(body)))
    return at, body, time.monotonic() - t0


def check_error_shape(body, status, what):
    """The failure shape, exactly in the server's layout; returns the message."""
    try:
        obj = json.loads(body)
    except ValueError as e:
        fail("%s: answer is not JSON (%s): %s" % (what, e, show(body)))
    eq(list(obj.keys()), ["html_attributions", "results", "status", "error_message"],
       "%s: members of the error answer" % what)
    eq(obj["html_attributions"], [], what + ": html_attributions")
    eq(obj["results"], [], what + ": results")
    eq(obj["status"], status, what + ": status")
    msg = obj["error_message"]
    check(isinstance(msg, str) and msg.strip(), "%s: error_message should be a non-empty "
          "string, got %r" % (what, msg))
    eq(body, fakeplaces.error_shape(status, msg).encode(), what + ": layout")
    return msg


# ---------------------------------------------------------------------------
# servers


def server_env(key=DEFAULT_KEY, extra=None):
    env = dict(os.environ)
    for k in list(env):
        if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy"):
            del env[k]
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:quarantine_size_mb=32")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    if key is None:
        env.pop("HERD_PLACES_KEY", None)
    else:
        env["HERD_PLACES_KEY"] = key
    if extra:
        env.update(extra)
    return env


class Server:
    """One herd-server process.  Create it with Test.server()."""

    def __init__(self, t, name, port, peer_port, places_url=None,
                 places_timeout=2000, key=DEFAULT_KEY, extra_args=(),
                 env_extra=None):
        self.t = t
        self.name = name
        self.port = port
        self.peer_port = peer_port
        self.peers = []          # list of (name, peer_port)
        self.places_url = places_url
        self.places_timeout = places_timeout
        self.key = key
        self.extra_args = list(extra_args)
        self.env_extra = env_extra
        self.dir = os.path.join(t.tmpdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "server.log")
        self.proc = None
        self.reaped = False
        self.starts = 0
        self.returncode = None

    def add_peer(self, other):
        self.peers.append((other.name, other.peer_port))

    def argv(self):
        a = [self.t.binary, self.name,
             "--listen", "%s:%d" % (LOOPBACK, self.port),
             "--peer-listen", "%s:%d" % (LOOPBACK, self.peer_port)]
        for name, pport in self.peers:
            a += ["--peer", "%s=%s:%d" % (name, LOOPBACK, pport)]
        if self.places_url is not None:
            a += ["--places", "google", "--places-url", self.places_url]
            if self.places_timeout is not None:
                a += ["--places-timeout", str(self.places_timeout)]
        # Logs are read by offset: not rotated, unless a test asks (e2e.logs).
        a += ["--log-file", self.log_path, "--log-max-mb", "0"]
        a += self.extra_args
        return a

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_path(self, n=None):
        return os.path.join(self.dir, "stderr.%d.txt" % (self.starts if n is None else n))

    def spawn(self):
        """Start the process; call wait_ready() afterwards."""
        check(not self.running, "%s already running" % self.name)
        self.starts += 1
        self.reaped = False
        rfd, wfd = os.pipe()
        argv = self.argv() + ["--ready-fd", str(wfd)]
        with open(self.stderr_path(), "wb") as err, \
                open(os.path.join(self.dir, "stdout.%d.txt" % self.starts), "wb") as out:
            try:
                self.proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                    pass_fds=(wfd,), env=server_env(self.key, self.env_extra),
                    cwd=self.dir)
            finally:
                os.close(wfd)
        self._ready_fd = rfd
        self.returncode = None
        self.t.log("started %s (pid %d): %s" % (self.name, self.proc.pid, " ".join(argv)))
        return self

    def wait_ready(self, timeout=10.0):
        rfd, self._ready_fd = self._ready_fd, None
        deadline = time.monotonic() + timeout
        try:
            got = b""
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    fail("%s: no readiness byte on --ready-fd within %.0fs%s"
                         % (self.name, timeout, self._stderr_tail()))
                r, _, _ = select.select([rfd], [], [], min(left, 0.1))
                if r:
                    chunk = os.read(rfd, 64)
                    if chunk:
                        got += chunk
                        break
                    fail("%s: closed --ready-fd without writing (exit %s)%s"
                         % (self.name, self.proc.poll(), self._stderr_tail()))
                if self.proc.poll() is not None:
                    fail("%s: exited with %s before it was ready%s"
                         % (self.name, self.proc.returncode, self._stderr_tail()))
            eq(got, b"\n", "%s: readiness byte" % self.name)
        finally:
            os.close(rfd)
        return self

    def start(self, timeout=10.0):
        return self.spawn().wait_ready(timeout)

    def _stderr_tail(self, n=2000):
        try:
            with open(self.stderr_path(), "rb") as f:
                data = f.read()
        except OSError:
            return ""
        if not data:
            return ""
        return "\n   stderr: " + data[-n:].decode("utf-8", "replace")

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, grace=STOP_GRACE):
        """Send `sig` and require exit code 0 within `grace` seconds."""
        if self.proc is None or self.reaped:
            return
        if self.proc.poll() is not None:
            self.reaped = True
            fail("%s: exited on its own with code %s%s"
                 % (self.name, self.proc.returncode, self._stderr_tail()))
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.reaped = True
            fail("%s: still running %.0fs after %s" % (self.name, grace, signal.Signals(sig).name))
        self.reaped = True
        self.returncode = rc
        self.t.log("%s exited %d after %s in %.3fs" % (self.name, rc, signal.Signals(sig).name,
                                                       time.monotonic() - t0))
        check(rc == 0, "%s: exit code %d after %s (expected 0)%s"
              % (self.name, rc, signal.Signals(sig).name, self._stderr_tail()))
        return time.monotonic() - t0

    def kill(self):
        """SIGKILL and reap (no exit-code check)."""
        if self.proc is None or self.reaped:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.reaped = True
        self.returncode = self.proc.returncode

    def connect(self, timeout=5.0):
        return Client(self.port, timeout, label="%s client" % self.name)

    # -- log -------------------------------------------------------------
    def log_bytes(self):
        return read_log(self.log_path)

    def log_size(self):
        """An offset into log_bytes(): the rotated part and the log."""
        size = 0
        for p in (self.log_path + ".1", self.log_path):
            try:
                size += os.path.getsize(p)
            except FileNotFoundError:
                pass
        return size

    def wait_log(self, pattern, timeout=10.0, since=0):
        """Wait until the log (from byte `since`) matches regex `pattern`."""
        rx = re.compile(pattern if isinstance(pattern, bytes) else pattern.encode())
        deadline = time.monotonic() + timeout
        while True:
            data = self.log_bytes()
            if len(data) < since:      # the log was truncated by a restart
                since = 0
            m = rx.search(data, since)
            if m:
                return m
            if time.monotonic() > deadline:
                fail("%s: log %s never matched %s within %.1fs; last lines:\n%s"
                     % (self.name, self.log_path, rx.pattern.decode(), timeout,
                        data[-1500:].decode("utf-8", "replace")))
            if self.proc is not None and self.proc.poll() is not None:
                fail("%s exited (%s) while waiting for %s in its log%s"
                     % (self.name, self.proc.returncode, rx.pattern.decode(),
                        self._stderr_tail()))
            time.sleep(0.02)

    def wait_links_up(self, names=None, timeout=10.0, since=0):
        for n in (names if names is not None else [p[0] for p in self.peers]):
            self.wait_log(rb"link " + re.escape(n.encode()) + rb" up\b", timeout, since)


# ---------------------------------------------------------------------------
# the test context


class Test:
    def __init__(self, binary, keep=False, verbose=False):
        self.binary = binary
        self.keep = keep
        self.verbose = verbose
        self.tmpdir = tempfile.mkdtemp(prefix="herd-e2e-")
        self.servers = []
        self.fakes = []
        self.passed = 0

    def log(self, msg):
        if self.verbose:
            print("# " + msg, flush=True)

    def ok(self, case):
        self.passed += 1
        print("ok - " + case, flush=True)

    def note(self, msg):
        print("# " + msg, flush=True)

    def secret_file(self, name, data):
        """A herd secret file in the test's directory, as servers accept it
        (ours, mode 0600); returns its path."""
        path = os.path.join(self.tmpdir, name)
        with open(path, "wb") as f:
            f.write(data + b"\n")
        os.chmod(path, 0o600)
        return path

    def fakeplaces(self, mode="ok", **kw):
        fp = fakeplaces.FakePlaces(mode, **kw).start()
        self.fakes.append(fp)
        return fp

    def server(self, name, places=None, places_url=None, **kw):
        """A Server on freshly probed ports (not started)."""
        port, pport = free_ports(2)
        if places is not None:
            places_url = places.url
        s = Server(self, name, port, pport, places_url=places_url, **kw)
        self.servers.append(s)
        return s

    def link(self, a, b):
        a.add_peer(b)
        b.add_peer(a)

    def start_all(self, timeout=10.0):
        todo = [s for s in self.servers if not s.running]
        for s in todo:
            s.spawn()
        for s in todo:
            s.wait_ready(timeout)

    def run_once(self, argv, timeout=10.0, env=None):
        """Run herd-server to completion: (code, stdout, stderr)."""
        try:
            p = subprocess.run([self.binary] + argv, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=timeout,
                               env=env or server_env(), cwd=self.tmpdir)
        except subprocess.TimeoutExpired:
            fail("herd-server %s did not exit within %.0fs" % (" ".join(argv), timeout))
        n = len([f for f in os.listdir(self.tmpdir) if f.startswith("run-")])
        with open(os.path.join(self.tmpdir, "run-%d.stderr.txt" % n), "wb") as f:
            f.write(p.stderr)
        return p.returncode, p.stdout, p.stderr

    # -- teardown ---------------------------------------------------------
    def stop_all(self):
        errors = []
        for s in self.servers:
            try:
                s.stop()
            except TestFailure as e:
                errors.append(str(e))
        if errors:
            fail("\n".join(errors))

    def scan_logs(self):
        found = []
        for root, _, files in os.walk(self.tmpdir):
            for fn in files:
                path = os.path.join(root, fn)
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                m = SANITIZER_RE.search(data)
                if m:
                    a = max(0, m.start() - 300)
                    found.append("%s:\n%s" % (path, data[a:m.start() + 1500].decode("utf-8", "replace")))
        if found:
            fail("sanitizer report(s) found:\n" + "\n".join(found))

    def cleanup(self):
        for s in self.servers:
            try:
                s.kill()
            except Exception:  # noqa: BLE001  - cleanup must go on
                pass
        for fp in self.fakes:
            try:
                fp.stop()
            except Exception:  # noqa: BLE001
                pass

    def dump_tails(self):
        for s in self.servers:
            for label, path in (("log", s.log_path),) + tuple(
                    ("stderr #%d" % i, s.stderr_path(i)) for i in range(1, s.starts + 1)):
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                if data:
                    lines = data.decode("utf-8", "replace").splitlines()[-25:]
                    sys.stdout.write("--- %s %s (%s), last lines:\n" % (s.name, label, path))
                    sys.stdout.write("\n".join(lines) + "\n")


def _on_alarm(signum, frame):
    raise Watchdog("watchdog: the test did not finish in time (a hung server?)")


def _on_term(signum, frame):
    raise TestFailure("interrupted by signal %d" % signum)


def run(main, watchdog=100, description=None, add_args=None):
    """Entry point of a test script: parses --server, runs main(t), cleans up.

    `add_args(parser)` may declare more arguments; they land in `t.args`.
    """
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--server", required=True, help="path to herd-server")
    if add_args is not None:
        add_args(ap)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    binary = os.path.abspath(args.server)
    if not os.access(binary, os.X_OK):
        print("not ok - %s is not an executable" % binary)
        sys.exit(2)
    t = Test(binary, keep=args.keep, verbose=args.verbose)
    t.args = args
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, _on_term)
    signal.alarm(watchdog)
    failed = None
    try:
        main(t)
        problems = []
        for step in (t.stop_all, t.scan_logs):
            try:
                step()
            except TestFailure as e:
                problems.append(str(e))
        if problems:
            fail("\n".join(problems))
        t.ok("clean shutdown (exit 0) and no sanitizer report")
    except BaseException as e:  # noqa: BLE001
        failed = e
    finally:
        signal.alarm(0)
        t.cleanup()
    if failed is not None and "sanitizer report" not in str(failed):
        try:
            t.scan_logs()      # a crash report explains many failures
        except TestFailure as e:
            failed = TestFailure("%s\n%s" % (failed, e))
    if failed is not None:
        if isinstance(failed, TestFailure):
            print("not ok - " + str(failed), flush=True)
            tb = traceback.extract_tb(failed.__traceback__)
            here = [f for f in tb if f.filename == sys.argv[0] or
                    os.path.abspath(f.filename) == os.path.abspath(sys.argv[0])]
            if here:
                print("#   at %s line %d" % (os.path.basename(here[-1].filename), here[-1].lineno))
        else:
            print("not ok - unexpected error: %r" % (failed,), flush=True)
            traceback.print_exception(failed)
        t.dump_tails()
        print("# logs kept in %s" % t.tmpdir, flush=True)
        sys.exit(1)
    if t.keep:
        print("# logs kept in %s" % t.tmpdir)
    else:
        shutil.rmtree(t.tmpdir, ignore_errors=True)
    sys.exit(0)
