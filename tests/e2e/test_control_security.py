#!/usr/bin/env python3
"""Control sockets are for their owner only: a server's (--control PATH)
and the supervisor's (RUN_DIR/herd.sock).

For each of the two, started under umask 000:
* the socket file is mode 0600;
* a connection from another uid (65534; needs root: the socket is made
  0666 and its directories 0711 for the test) is refused, closed and
  logged, and gets no status;
* a connection that sends nothing, and one that trickles bytes without
  ever ending a line, are closed within the 5 s timeout (+ margin);
* with 16 connections open, more are told "too many", closed and logged;
  once those close, a normal request is answered.
Also the herd's logs (herd.log, NAME.log) are 0600 under umask 000.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import os
import re
import select
import socket
import stat
import time

import herdsup
import herdtest
from herdsup import check, eq, fail, show, wait_until

LIMIT = 16
IDLE_S = 5.0
MARGIN_S = 3.0
NOBODY = 65534


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def unix_connect(path, timeout=5.0):
    """A connection; a full listen backlog (EAGAIN) is retried until
    timeout."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
        except OSError:
            s.close()
            raise


def read_to_eof(s, timeout):
    """(bytes, closed): what arrives until the peer closes or timeout."""
    got = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got, False
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        try:
            chunk = s.recv(65536)
        except OSError:
            return got, True
        if not chunk:
            return got, True
        got += chunk


def as_nobody(path, request, timeout=5.0):
    """Connects to path from a child process running as uid 65534, sends
    request, and returns (reply bytes, closed by the other end)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        out = b"E no result"
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            s = unix_connect(path, timeout)
            try:
                s.sendall(request)
            except OSError:
                pass
            got, closed = read_to_eof(s, timeout)
            out = (b"C " if closed else b"O ") + got[:4000]
        except BaseException as e:  # noqa: BLE001  - reported to the parent
            out = b"E " + repr(e).encode()[:4000]
        finally:
            try:
                os.write(w, out)
            finally:
                os._exit(0)
    os.close(w)
    data = b""
    deadline = time.monotonic() + timeout + 5
    try:
        while time.monotonic() < deadline:
            rr, _, _ = select.select([r], [], [], 0.2)
            if rr:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                data += chunk
    finally:
        os.close(r)
        try:
            os.kill(pid, 9)
        except OSError:
            pass
        os.waitpid(pid, 0)
    if data.startswith(b"E "):
        fail("the uid %d child could not talk to %s: %s" % (NOBODY, path, data[2:].decode()))
    check(data[:2] in (b"C ", b"O "), "no result from the uid %d child: %s" % (NOBODY, show(data)))
    return data[2:], data.startswith(b"C ")


def check_other_uid(t, what, path, request, log_match):
    """As root: another uid is refused (socket made 0666 for the test)."""
    if os.geteuid() != 0:
        t.note("%s: not root, the other-uid case is skipped" % what)
        return
    os.chmod(path, 0o666)
    try:
        got, closed = as_nobody(path, request)
    finally:
        os.chmod(path, 0o600)
    check(closed, "%s: a connection from uid %d was not closed (got %s)"
          % (what, NOBODY, show(got)))
    check(not got.startswith(b"ok") and b"{" not in got,
          "%s: uid %d was answered: %s" % (what, NOBODY, show(got)))
    log_match(rb"refused a connection from uid %d" % NOBODY)
    t.ok("%s: a connection from uid %d is refused, closed and logged (%s)"
         % (what, NOBODY, show(got.strip())))


def check_silent(t, what, path, log_match):
    """A silent connection and a trickling one are both closed in time."""
    silent = unix_connect(path)
    trickle = unix_connect(path)
    t0 = time.monotonic()
    closed = {}
    try:
        deadline = t0 + IDLE_S + MARGIN_S
        next_byte = t0
        while len(closed) < 2 and time.monotonic() < deadline:
            now = time.monotonic()
            if "trickle" not in closed and now >= next_byte:
                try:
                    trickle.send(b"s")
                except OSError:
                    closed["trickle"] = now - t0
                next_byte = now + 0.5
            live = [s for k, s in (("silent", silent), ("trickle", trickle)) if k not in closed]
            r, _, _ = select.select(live, [], [], 0.1)
            for s in r:
                k = "silent" if s is silent else "trickle"
                try:
                    chunk = s.recv(4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    closed[k] = time.monotonic() - t0
    finally:
        silent.close()
        trickle.close()
    for k in ("silent", "trickle"):
        check(k in closed, "%s: a %s connection is still open after %.1f s (timeout %.0f s)"
              % (what, k, IDLE_S + MARGIN_S, IDLE_S))
        check(closed[k] >= IDLE_S - 0.5, "%s: a %s connection was closed after %.2f s, "
              "before the %.0f s timeout" % (what, k, closed[k], IDLE_S))
    log_match(rb"closed a connection that sent no complete")
    t.ok("%s: a silent connection is closed after %.1f s, one trickling bytes without "
         "a newline after %.1f s" % (what, closed["silent"], closed["trickle"]))


def check_limit(t, what, path, log_match, works):
    """LIMIT connections at once; more are refused; afterwards works()."""
    held = []
    extras = []
    try:
        for _ in range(LIMIT):
            held.append(unix_connect(path))
        for _ in range(2):
            extras.append(unix_connect(path))
        for i, s in enumerate(extras):
            got, closed = read_to_eof(s, 3.0)
            check(closed, "%s: connection #%d (over the limit of %d) was not closed; got %s"
                  % (what, LIMIT + 1 + i, LIMIT, show(got)))
            check(b"too many" in got, "%s: connection #%d: %s" % (what, LIMIT + 1 + i, show(got)))
        log_match(rb"%d connections open: refused one more" % LIMIT)
    finally:
        for s in held + extras:
            s.close()
    # The closes reach the other end in their own time: poll.
    wait_until(works, 5.0, "%s to answer a normal request after the flood" % what, 0.05)
    t.ok("%s: %d connections at once, the ones past them refused, closed and logged; "
         "a normal request is answered afterwards" % (what, LIMIT))


def make_reachable(paths):
    """As root, directories on the way to a socket are opened to search
    (0711) so that uid 65534 reaches it; returns what to restore."""
    if os.geteuid() != 0:
        return []
    saved = []
    for p in paths:
        saved.append((p, mode_of(p)))
        os.chmod(p, 0o711)
    return saved


def restore(saved):
    for p, m in saved:
        try:
            os.chmod(p, m)
        except OSError:
            pass


# ---------------------------------------------------------------------------


def server_part(t):
    ctl_dir = os.path.join(t.tmpdir, "ctl")
    os.mkdir(ctl_dir, 0o700)
    path = os.path.join(ctl_dir, "Solo.sock")
    srv = t.server("Solo", extra_args=["--control", path])
    old = os.umask(0)
    try:
        srv.start()
    finally:
        os.umask(old)
    what = "server control socket"
    m = mode_of(path)
    check(stat.S_ISSOCK(os.lstat(path).st_mode), "%s is not a socket" % path)
    check(m == 0o600, "%s: mode %o under umask 000, expected 600" % (what, m))
    t.ok("%s: mode 0600 although the server was started with umask 000" % what)

    def log_match(rx):
        srv.wait_log(rx, timeout=5.0)

    def works():
        try:
            s = unix_connect(path, 2.0)
        except OSError:
            return False
        try:
            s.sendall(b"status\n")
            got = b""
            deadline = time.monotonic() + 2.0
            while b"\n" not in got and time.monotonic() < deadline:
                r, _, _ = select.select([s], [], [], 0.2)
                if r:
                    chunk = s.recv(65536)
                    if not chunk:
                        return False
                    got += chunk
            return got.startswith(b"{") and b'"name":"Solo"' in got
        except OSError:
            return False
        finally:
            s.close()

    saved = make_reachable([t.tmpdir, ctl_dir])
    try:
        check_other_uid(t, what, path, b"status\n", log_match)
    finally:
        restore(saved)
    check_silent(t, what, path, log_match)
    check_limit(t, what, path, log_match, works)


def herd_part(t):
    h = herdsup.Herd(t, names=["Alford", "Bolden"], links=[("Alford", "Bolden")])
    old = os.umask(0)
    try:
        try:
            h.start()
        finally:
            os.umask(old)
        what = "supervisor control socket"
        path = os.path.join(h.run_dir, "herd.sock")
        m = mode_of(path)
        check(m == 0o600, "%s: mode %o under umask 000, expected 600" % (what, m))
        for n in h.names:
            p = os.path.join(h.run_dir, n + ".sock")
            m = mode_of(p)
            check(m == 0o600, "%s: mode %o under umask 000, expected 600" % (p, m))
        t.ok("%s and the servers' sockets: mode 0600 although the herd was started "
             "with umask 000" % what)
        for name in ["herd"] + h.names:
            p = os.path.join(h.log_dir, name + ".log")
            m = mode_of(p)
            check(m == 0o600, "%s: mode %o under umask 000, expected 600" % (p, m))
        t.ok("herd.log and the servers' logs: mode 0600")

        herd_log = os.path.join(h.log_dir, "herd.log")

        def log_match(rx):
            def cond():
                try:
                    with open(herd_log, "rb") as f:
                        return re.search(rx, f.read())
                except OSError:
                    return None
            try:
                wait_until(cond, 5.0, "herd.log to match %s" % rx.decode())
            except herdtest.TestFailure:
                with open(herd_log, "rb") as f:
                    tail = f.read()[-1500:].decode(errors="replace")
                fail("herd.log never matched %s; last lines:\n%s" % (rx.decode(), tail))

        def works():
            rc, out, err = h.cmd("status", "--json")
            return rc == 0 and '"supervisor_pid"' in out

        saved = make_reachable([t.tmpdir, h.dir, h.run_dir])
        try:
            check_other_uid(t, what, path, b"status\n", log_match)
        finally:
            restore(saved)
        check_silent(t, what, path, log_match)
        check_limit(t, what, path, log_match, works)
        eq(h.server("Alford")["state"], "up", "Alford's state after the floods")
        h.stop()
        t.ok("herd stop: the herd stops and removes its socket")
    finally:
        h.close()


def main(t):
    server_part(t)
    herd_part(t)


herdsup.run(main)
