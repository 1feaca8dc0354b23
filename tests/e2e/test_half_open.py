#!/usr/bin/env python3
"""Half-open peer handshakes: 10 000 of them, while clients are served.

Bolden (with the herd secret) takes 10 000 connections on its peer port,
each of which sends the first bytes of a TLS record and then nothing.
Meanwhile a client keeps sending IAMAT and WHATSAT to Bolden's client
port.  Then, with new half-open connections still arriving, Alford starts
and dials Bolden.

  * Every client request is answered, each within 2 s (the slowest is
    printed).
  * Bolden never holds more descriptors than its handshake limit (64 by
    default) and a margin: the flood costs it a bounded number, whatever
    its size (sampled from /proc while the flood runs).
  * The log says the limit was reached and the oldest handshakes went.
  * Alford's link to Bolden comes up during the flood: the oldest
    handshake goes first, so a real one, which takes a round trip, gets
    through.
  * Bolden stops cleanly afterwards.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import errno
import os
import resource
import socket
import time

import herdtest
from herdtest import check, fail

SECRET = b"0123456789abcdef-the-herd-secret"
FLOOD = 10000
PARTIAL = b"\x16\x03\x01\x02"       # a TLS record header, cut short
MAX_HANDSHAKES = 64
FD_MARGIN = 60                      # listeners, log, loop, places, clients


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


def open_partial(port, socks):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    except OSError as e:
        s.close()
        if e.errno in (errno.EAGAIN, errno.ECONNREFUSED, errno.ECONNRESET):
            return
        raise
    socks.append(s)


def send_partials(socks, sent):
    """Each connected socket sends its few bytes once."""
    for s in socks[sent:]:
        try:
            s.send(PARTIAL)
        except (BlockingIOError, OSError):
            pass
    return len(socks)


class Probe:
    """A client that must keep being answered."""

    def __init__(self, srv):
        self.srv = srv
        self.c = srv.connect(timeout=2.0)
        self.n = 0
        self.worst = 0.0

    def round(self):
        self.n += 1
        cid = b"probe-%d" % self.n
        t0 = time.monotonic()
        self.c.send(b"IAMAT %s +34.068930-118.445127 1621464827.959498503\n" % cid)
        at = self.c.read_line(2.0)
        check(at.startswith(b"AT "), "IAMAT answered %r" % at)
        self.c.send(b"WHATSAT %s 10 1\n" % cid)
        first, _ = self.c.read_whatsat(2.0)
        check(first.startswith(b"AT "), "WHATSAT answered %r" % first)
        self.worst = max(self.worst, time.monotonic() - t0)


def main(t):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = FLOOD + 2000
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
        except (ValueError, OSError):
            fail("this test needs %d descriptors (ulimit -n is %d, hard %d)" % (want, soft, hard))
    secret = t.secret_file("secret", SECRET)
    a = t.server("Alford", extra_args=["--secret-file", secret])
    b = t.server("Bolden", extra_args=["--secret-file", secret,
                                       "--max-handshakes", str(MAX_HANDSHAKES)])
    t.link(a, b)
    b.start()
    pid = b.proc.pid
    probe = Probe(b)
    socks, sent = [], 0
    most_fds = fd_count(pid)
    t0 = time.monotonic()
    while len(socks) < FLOOD:
        for _ in range(250):
            open_partial(b.peer_port, socks)
        sent = send_partials(socks, sent)
        probe.round()
        most_fds = max(most_fds, fd_count(pid))
        check(time.monotonic() - t0 < 60, "the flood took over 60 s (%d open)" % len(socks))
    t.note("%d half-open connections in %.1f s; Bolden held at most %d descriptors; "
           "%d client rounds, the slowest %.0f ms"
           % (len(socks), time.monotonic() - t0, most_fds, probe.n, probe.worst * 1000))
    t.ok("10 000 half-open handshakes: every client request answered within 2 s "
         "(slowest %.0f ms)" % (probe.worst * 1000))
    check(most_fds <= MAX_HANDSHAKES + FD_MARGIN,
          "Bolden held %d descriptors during the flood (limit %d handshakes + %d)"
          % (most_fds, MAX_HANDSHAKES, FD_MARGIN))
    t.ok("Bolden's descriptors stayed at %d or fewer (%d handshakes + %d)"
         % (most_fds, MAX_HANDSHAKES, FD_MARGIN))
    b.wait_log(rb"peer handshakes: %d in progress, the limit: closing the oldest"
               % MAX_HANDSHAKES, 2)
    t.ok("the limit is logged")

    # A real neighbour gets in while the flood goes on.
    for s in socks:
        s.close()
    socks, sent = [], 0
    since = b.log_size()
    a.spawn()
    deadline = time.monotonic() + 15
    while True:
        for _ in range(100):
            open_partial(b.peer_port, socks)
        sent = send_partials(socks, sent)
        if len(socks) > 3000:
            for s in socks[:2000]:
                s.close()
            socks, sent = socks[2000:], sent - 2000
        probe.round()
        most_fds = max(most_fds, fd_count(pid))
        if b"link Alford up" in b.log_bytes()[since:]:
            break
        check(time.monotonic() < deadline,
              "Alford's link never came up during the flood")
    a.wait_ready()
    t.ok("Alford's link to Bolden comes up while half-open connections keep "
         "arriving (Bolden's descriptors at most %d)" % most_fds)
    check(most_fds <= MAX_HANDSHAKES + FD_MARGIN, "descriptors: %d" % most_fds)
    for s in socks:
        s.close()
    probe.c.close()


if __name__ == "__main__":
    herdtest.run(main, watchdog=110, description=__doc__)
