#!/usr/bin/env python3
"""Hostile clients that go after resources: time, memory, connections.

* Slowloris (`--line-timeout 1000`): 100 connections that send `IAMAT x`
  and then one byte every 200 ms are closed between 1 s and 2.5 s after
  their first byte, with nothing sent back, while other clients (a fresh
  connection, and one kept busy past the idle timeout) are answered within
  1 s throughout.  In the same window (`--idle-timeout 1000`) a client that
  went quiet after its reply and a connection that never sent a byte are
  closed about 1 s later; 500 connections reset by the client (RST) right
  after connect hurt no one.
* Output (`--max-output 65536`): a reader that never reads sends 20 000
  WHATSATs pipelined; other clients are answered within 1 s meanwhile, the
  server's RSS stays under 200 MB, and the hog is disconnected (or paused).
  A client that pipelines 20 WHATSATs and reads promptly, and one that reads
  slowly, get every reply: they are paused, not cut off.  The same slow
  reader gets every reply from a server with the default limit.
* Connections (`--max-clients 100`): two bursts of up to 3000 connections
  held open (scaled to RLIMIT_NOFILE): exactly 100 stay open, every other one
  is closed by the server with no byte sent, a newcomer during the burst is
  closed too, the server's RSS and file descriptors stay bounded and return
  to where they were, and a normal IAMAT right after each burst is answered
  within 1 s.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import os
import re
import resource
import select
import socket
import struct
import time

import herdtest
from herdtest import check, eq, fail, show, split_at

UCLA = b"+34.068930-118.445127"
CTIME = b"1621464827.5"
PROMPT = 1.0
RSS_LIMIT_KB = 200 * 1024
SOFT = []


def soft(t, cond, what):
    """A failed expectation that does not stop the test (it fails at the end)."""
    if not cond:
        SOFT.append(what)
        t.note("FAILED (reported at the end): %s" % what.split("\n")[0])
    return cond


def rss_kb(srv):
    with open("/proc/%d/status" % srv.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail("no VmRSS for %s" % srv.name)


def connect(srv, label, timeout=5.0):
    return herdtest.Client(srv.port, timeout, label=label)


def fd_count(srv):
    return len(os.listdir("/proc/%d/fd" % srv.proc.pid))


def served(srv, cid, what, whatsat=False):
    """A normal IAMAT (and WHATSAT) on a new connection, answered within PROMPT."""
    t0 = time.monotonic()
    try:
        with srv.connect(timeout=PROMPT) as c:
            c.send(b"IAMAT " + cid + b" " + UCLA + b" " + CTIME + b"\n")
            at = c.read_line(PROMPT)
            eq(split_at(at)[3], cid, "%s: AT client id" % what)
            if whatsat:
                c.send(b"WHATSAT " + cid + b" 10 2\n")
                first, body = c.read_whatsat(PROMPT)
                eq(first if first != b"?" else body, at, "%s: WHATSAT first line" % what)
    except (OSError, herdtest.TestFailure) as e:
        fail("%s: a normal client was not served within %.1f s: %s" % (what, PROMPT, e))
    dt = time.monotonic() - t0
    check(dt < PROMPT, "%s: a normal client took %.3f s" % (what, dt))
    return dt


def eof_now(sock):
    """(closed, bytes): whether the peer closed, reading whatever is there."""
    got = b""
    p = select.poll()
    p.register(sock, select.POLLIN)
    while True:
        if not p.poll(0):
            return False, got
        try:
            chunk = sock.recv(1 << 16, socket.MSG_DONTWAIT)
        except ConnectionResetError:
            return True, got
        except BlockingIOError:
            return False, got
        if not chunk:
            return True, got
        got += chunk


def closed_among(socks):
    """The sockets of `socks` the peer has closed (bytes read are returned too)."""
    p = select.poll()
    by_fd = {}
    for s in socks:
        p.register(s, select.POLLIN)
        by_fd[s.fileno()] = s
    closed, data = [], b""
    for fd, _ in p.poll(0):
        is_closed, got = eof_now(by_fd[fd])
        data += got
        if is_closed:
            closed.append(by_fd[fd])
    return closed, data


def conn_id(srv, sock, since=0):
    port = sock.getsockname()[1]
    m = srv.wait_log(rb"conn (\d+) open from 127\.0\.0\.1:%d\n" % port, 5.0, since)
    return int(m.group(1))


# ---------------------------------------------------------------------------


def timeouts(t, srv):
    n_loris = 100
    loris = [connect(srv, "slowloris %d" % i) for i in range(n_loris)]
    idle = connect(srv, "idle client")
    half = connect(srv, "half-open connection")
    busy = connect(srv, "busy client")
    t0 = time.monotonic()
    for c in loris:
        c.send(b"IAMAT x")
    idle.send(b"IAMAT idle.kiwi " + UCLA + b" " + CTIME + b"\n")
    eq(split_at(idle.read_line())[3], b"idle.kiwi", "the idle client's reply")
    t_idle = time.monotonic()
    closed = {}             # label -> (seconds after its start, bytes read)
    start = {c.label: t0 for c in loris}
    start[idle.label] = t_idle
    start[half.label] = t0
    watched = loris + [idle, half]
    worst = 0.0
    rounds = 0
    deadline = t0 + 6.0
    while True:
        now = time.monotonic()
        for c in watched:
            if c.label in closed:
                continue
            is_closed, got = eof_now(c.sock)
            if is_closed:
                closed[c.label] = (now - start[c.label], got)
            elif got:
                closed[c.label] = (None, got)      # bytes without a close: reported below
        if len(closed) == len(watched) and now - t0 > 2.6:
            break
        if now > deadline:
            fail("still open %.1f s after the start: %s"
                 % (now - t0, ", ".join(c.label for c in watched if c.label not in closed)))
        for c in loris:
            if c.label not in closed:
                try:
                    c.send(b"x")
                except (BrokenPipeError, ConnectionResetError):
                    pass
        rounds += 1
        t1 = time.monotonic()
        busy.send(b"IAMAT busy.kiwi " + UCLA + b" " + CTIME + b"\n")
        try:
            eq(split_at(busy.read_line(PROMPT))[3], b"busy.kiwi", "the busy client's reply")
        except herdtest.TestFailure as e:
            fail("%.1f s in: the busy client (one request every 200 ms) was not answered "
                 "within %.1f s: %s" % (t1 - t0, PROMPT, e))
        worst = max(worst, time.monotonic() - t1,
                    served(srv, b"fresh.%d" % rounds, "%.1f s into the slowloris" % (t1 - t0)))
        time.sleep(max(0.0, 0.2 - (time.monotonic() - t1)))
    for c in watched:
        took, got = closed[c.label]
        eq(got, b"", "bytes sent to the %s" % c.label)
        check(took is not None and 0.9 <= took <= 2.5,
              "%s closed %.2f s after its first byte / reply (expected 1.0 to 2.5 s with a "
              "1000 ms timeout)" % (c.label, took if took is not None else -1))
        c.close()
    took_l = sorted(closed[c.label][0] for c in loris)
    t.ok("slowloris: %d connections (a byte every 200 ms) closed %.2f..%.2f s after their "
         "first byte, nothing sent back" % (n_loris, took_l[0], took_l[-1]))
    t.ok("idle client closed %.2f s after its reply; half-open connection closed %.2f s "
         "after connect" % (closed[idle.label][0], closed[half.label][0]))
    check(not eof_now(busy.sock)[0], "the busy client was closed")
    t.ok("meanwhile a client busy for %.1f s (> idle timeout) kept its connection and every "
         "request (%d rounds, fresh and busy) was answered, slowest %.0f ms"
         % (time.monotonic() - t0, rounds, worst * 1000))
    busy.close()

    # Resets right after connect.
    for i in range(500):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.connect(("127.0.0.1", srv.port))
        if i % 2:
            s.send(b"IAMAT rst ")
        s.close()
    served(srv, b"after.rst", "after 500 resets", whatsat=True)
    t.ok("500 connections reset by the client right after connect: server answers at once")


# ---------------------------------------------------------------------------


def never_reader(t, srv, limit):
    served(srv, b"hog.kiwi", "before the hog")
    base_rss = rss_kb(srv)
    since = srv.log_size()
    hog = socket.create_connection(("127.0.0.1", srv.port))
    cid = conn_id(srv, hog, since)
    hog.setblocking(False)
    line = b"WHATSAT hog.kiwi 50 20\n"
    data = line * 20000
    step = 4 * len(line)       # a few lines per send: the requests trickle in
    sent = 0
    state = None
    t0 = time.monotonic()
    blocked_since = None
    next_probe = t0
    next_log = t0
    worst = 0.0
    max_rss = base_rss
    probes = 0
    closed_rx = re.compile(rb"conn %d closed: ([^\n]*)" % cid)
    deadline = t0 + 30
    while state is None:
        now = time.monotonic()
        if now > deadline:
            fail("the hog was neither disconnected nor paused within 30 s (sent %d of %d "
                 "bytes)" % (sent, len(data)))
        if sent < len(data):
            try:
                n = hog.send(data[sent:sent + step])
                sent += n
                blocked_since = None
            except BlockingIOError:
                if blocked_since is None:
                    blocked_since = now
            except (BrokenPipeError, ConnectionResetError):
                state = "disconnected"
        if sent == len(data) and blocked_since is None:
            blocked_since = now        # all sent: nothing more it can do
        m = None
        if now >= next_log:
            m = closed_rx.search(srv.log_bytes(), since)
            next_log = now + 0.1
        if m:
            state = "disconnected"
            reason = m.group(1)
        elif blocked_since is not None and now - blocked_since > 3:
            state = "paused (its requests are no longer read)"
        if now >= next_probe:
            probes += 1
            worst = max(worst, served(srv, b"probe.%d" % probes,
                                      "%.1f s into the never-reader" % (now - t0), whatsat=True))
            max_rss = max(max_rss, rss_kb(srv))
            next_probe = time.monotonic() + 0.2
        else:
            select.select([], [hog], [], 0.001)
    took = time.monotonic() - t0
    if state == "disconnected":
        m = srv.wait_log(rb"conn %d closed: ([^\n]*)" % cid, 5.0, since)
        reason = m.group(1)
        check(b"output" in reason, "the hog was closed for %s, expected its output "
              "buffer" % show(reason))
    max_rss = max(max_rss, rss_kb(srv))
    hog.close()
    check(max_rss < RSS_LIMIT_KB, "server RSS reached %d kB (limit %d kB; %d kB before)"
          % (max_rss, RSS_LIMIT_KB, base_rss))
    served(srv, b"after.hog", "after the hog", whatsat=True)
    t.ok("%s: a reader that never reads (20 000 WHATSATs pipelined, %d bytes taken): %s "
         "after %.1f s%s" % (limit, sent, state, took, " (%s)" % reason.decode()
                             if state == "disconnected" else ""))
    t.ok("%s: meanwhile %d clients served within 1 s (slowest %.0f ms); server RSS at most "
         "%d kB (%d kB before)" % (limit, probes, worst * 1000, max_rss, base_rss))


def reader(srv, cid, n, chunk, pause, label, stall=3.0):
    """Send n WHATSATs in one write, read `chunk` bytes every `pause` seconds.

    Returns (replies, how it ended, seconds, max RSS kB); it ends when all
    replies are in, the server closes, or nothing arrives for `stall` s."""
    c = connect(srv, label, timeout=10)
    c.send(b"IAMAT " + cid + b" " + UCLA + b" " + CTIME + b"\n")
    at = c.read_line()
    c.send((b"WHATSAT " + cid + b" 50 20\n") * n)
    t0 = time.monotonic()
    data = b""
    end = "complete"
    max_rss = 0
    last = t0
    replies = 0
    while replies < n:
        r, _, _ = select.select([c.sock], [], [], 0.5)
        now = time.monotonic()
        if r:
            try:
                got = c.sock.recv(chunk)
            except ConnectionResetError:
                got = b""
            if not got:
                end = "the server closed the connection after %.1f s" % (now - t0)
                break
            data += got
            replies = data.count(b"\n\n")
            last = now
        elif now - last > stall:
            end = "nothing more for %.0f s (stalled)" % stall
            break
        max_rss = max(max_rss, rss_kb(srv))
        if pause:
            time.sleep(pause)
    if replies:
        check(data.startswith(at + b"\n{"), "%s: first reply %s" % (label, show(data[:200])))
    c.close()
    return replies, end, time.monotonic() - t0, max_rss


def readers(t, small, default):
    """Readers that do read get every reply, however many they pipeline."""
    cases = [
        (default, "the default --max-output", 100, 0, "a prompt reader (100 WHATSATs "
         "pipelined, bound 20, ~0.7 MB of replies)"),
        (default, "the default --max-output", 1000, 0.02, "a slow reader (1000 WHATSATs "
         "pipelined, ~6.7 MB of replies, reads 64 KB every 20 ms)"),
        (small, "--max-output 65536", 20, 0, "a prompt reader (20 WHATSATs pipelined, bound "
         "20, ~130 KB of replies)"),
        (small, "--max-output 65536", 1000, 0.02, "a slow reader (1000 WHATSATs pipelined, "
         "~6.7 MB of replies, reads 64 KB every 20 ms)"),
    ]
    for i, (srv, limit, n, pause, what) in enumerate(cases):
        got, end, took, max_rss = reader(srv, b"reader.%d" % i, n, 1 << 16, pause, what)
        if soft(t, got == n and end == "complete",
                "%s: %s\n      expected: all %d replies (it reads: paused at worst, never cut "
                "off or stuck)\n      got:      %d replies, then %s"
                % (limit, what, n, got, end)):
            t.ok("%s: %s gets all %d replies in %.1f s" % (limit, what, n, took))
        check(max_rss < RSS_LIMIT_KB, "%s: server RSS reached %d kB with %s"
              % (srv.name, max_rss, what))
        served(srv, b"after.reader.%d" % i, "after %s" % what)


# ---------------------------------------------------------------------------


def wait_fds(srv, base_fds, when):
    """The server's descriptors go back to what it holds with no client."""
    deadline = time.monotonic() + 5
    while fd_count(srv) > base_fds:
        if time.monotonic() > deadline:
            fail("%s: the server holds %d descriptors, %d with no client"
                 % (when, fd_count(srv), base_fds))
        time.sleep(0.02)


def burst(t, srv, n, round_no, base_fds):
    since = srv.log_size()
    socks = []
    failed_connects = 0
    t0 = time.monotonic()
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", srv.port))
        except OSError:
            failed_connects += 1
            s.close()
            continue
        s.setblocking(False)
        socks.append(s)
    t_open = time.monotonic() - t0
    check(failed_connects <= n // 10, "burst %d: %d of %d connects failed"
          % (round_no, failed_connects, n))
    # Every connection over the limit is closed by the server, without a byte.
    deadline = time.monotonic() + 10
    state = {}              # socket -> "closed"
    max_rss, max_fds = 0, 0
    while True:
        closed, got = closed_among([s for s in socks if s not in state])
        check(got == b"", "burst %d: bytes sent on a held connection: %s"
              % (round_no, show(got)))
        for s in closed:
            state[s] = "closed"
        n_closed = len(state)
        max_rss = max(max_rss, rss_kb(srv))
        max_fds = max(max_fds, fd_count(srv))
        if n_closed >= len(socks) - 100:
            break
        if time.monotonic() > deadline:
            fail("burst %d: only %d of %d connections closed by the server within 10 s "
                 "(--max-clients 100)" % (round_no, n_closed, len(socks)))
        time.sleep(0.05)
    # Settle, then count exactly.
    time.sleep(0.3)
    closed, got = closed_among([s for s in socks if s not in state])
    check(got == b"", "burst %d: bytes sent on a held connection: %s" % (round_no, show(got)))
    n_closed = len(state) + len(closed)
    n_open = len(socks) - n_closed
    eq(n_open, 100, "burst %d: connections the server kept open of %d (--max-clients 100)"
       % (round_no, len(socks)))
    check(srv.proc.poll() is None, "the server died during burst %d" % round_no)
    # A newcomer now is closed too, with no byte.
    late = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    try:
        late.sendall(b"IAMAT late " + UCLA + b" " + CTIME + b"\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    deadline = time.monotonic() + 3
    got = b""
    while True:
        is_closed, more = eof_now(late)
        got += more
        if is_closed:
            break
        check(time.monotonic() < deadline, "burst %d: a newcomer over the limit is still open "
              "3 s later" % round_no)
        time.sleep(0.02)
    late.close()
    eq(got, b"", "burst %d: reply to a newcomer over the limit" % round_no)
    srv.wait_log(rb"client limit of 100 reached", 3.0, since)
    max_rss = max(max_rss, rss_kb(srv))
    max_fds = max(max_fds, fd_count(srv))
    check(max_rss < RSS_LIMIT_KB, "burst %d: server RSS reached %d kB" % (round_no, max_rss))
    check(max_fds <= base_fds + 100 + 10, "burst %d: the server held %d descriptors "
          "(%d at rest, 100 clients allowed)" % (round_no, max_fds, base_fds))
    # Release the burst: a normal client is answered right away.
    t_close = time.monotonic()
    for s in socks:
        s.close()
    tries = 0
    while True:
        tries += 1
        try:
            with srv.connect(timeout=PROMPT) as c:
                c.send(b"IAMAT after.burst%d " % round_no + UCLA + b" " + CTIME + b"\n")
                line = c.read_line(PROMPT)
                eq(split_at(line)[3], b"after.burst%d" % round_no, "AT after the burst")
                break
        except (OSError, herdtest.TestFailure):
            if time.monotonic() - t_close > PROMPT:
                raise
            time.sleep(0.02)
    dt = time.monotonic() - t_close
    check(dt < PROMPT, "after burst %d: a normal IAMAT took %.3f s" % (round_no, dt))
    wait_fds(srv, base_fds, "after burst %d" % round_no)
    t.ok("burst %d: %d connections opened in %.2f s, 100 kept, %d closed by the server with "
         "no byte, a newcomer closed too; RSS at most %d kB, at most %d descriptors (%d at "
         "rest); a normal IAMAT %.0f ms after the burst closed (%d tries)"
         % (round_no, len(socks), t_open, n_closed, max_rss, max_fds, base_fds, dt * 1000,
            tries))


# ---------------------------------------------------------------------------


def main(t):
    soft_lim, hard_lim = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard_lim == resource.RLIM_INFINITY or hard_lim > soft_lim:
        want = 65536 if hard_lim == resource.RLIM_INFINITY else hard_lim
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard_lim))
        except (ValueError, OSError):
            pass
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    n_burst = max(200, min(3000, nofile - 300))
    if n_burst < 3000:
        t.note("RLIMIT_NOFILE is %d: bursts of %d connections" % (nofile, n_burst))

    loris = t.server("Alford", extra_args=["--line-timeout", "1000", "--idle-timeout", "1000"])
    small = t.server("Bolden", extra_args=["--max-output", "65536"])
    default = t.server("Parker")
    limited = t.server("Hamilton", extra_args=["--max-clients", "100"])
    t.start_all()

    timeouts(t, loris)
    never_reader(t, small, "--max-output 65536")
    never_reader(t, default, "the default --max-output")
    readers(t, small, default)
    base_fds = fd_count(limited)
    served(limited, b"warmup", "before the bursts")
    wait_fds(limited, base_fds, "after one client")
    for round_no in (1, 2):
        burst(t, limited, n_burst, round_no, base_fds)

    if SOFT:
        t.stop_all()       # still check the exit codes and sanitizer reports
        t.scan_logs()
        t.ok("clean shutdown (exit 0) and no sanitizer report")
        fail("%d expectation(s) failed:\n  - %s" % (len(SOFT), "\n  - ".join(SOFT)))


if __name__ == "__main__":
    herdtest.run(main)
