#!/usr/bin/env python3
"""The log is private and bounded: no amplification, a size cap, rotation.

* The log file is mode 0600, also one that existed before as 0644.
* A flood of invalid lines costs the log at most 3 bytes per byte of input
  plus a fixed overhead per line (each invalid line is logged once, escaped
  once, and cut to an excerpt): lines of control bytes (each escaped to
  four bytes) of 100 and of 4000 bytes, and lines of printable text; each
  printable invalid line appears in the log exactly once.
* With --log-max-mb 1, while 6 MB of loggable traffic (invalid lines and
  valid IAMATs) passes, FILE and FILE.1 together never hold more than
  2 MiB plus one write buffer, FILE.1 exists, no FILE.2 appears, both are
  0600, and the server still answers.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import os
import re
import select
import socket
import stat
import time

import herdtest
from herdtest import check, eq, fail, split_at

UCLA = b"+34.068930-118.445127"
CTIME = b"1621464827.5"
# Bytes of log per logged line beyond 3 per byte of input: the time stamp
# (25), "conn 18446744073709551615 invalid (wrong number of fields): " (60),
# the cut's "... (8192 bytes)" (17), the newline, and 256 / 4 for an
# excerpt of escaped bytes (at most 4 per byte, at most 256 bytes: never
# more than 3 per byte + 64).
LINE_OVERHEAD = 25 + 60 + 17 + 1 + 64
MIB = 1 << 20
# The log is written once per loop iteration, or when its buffer passes
# 256 KiB: a file may pass the cap by one buffer (and a line).
ONE_BUFFER = 256 * 1024 + 64 * 1024


def control_line(n, seed):
    """n bytes of \\x01..\\x1f, without \\n and \\r (no terminator)."""
    out = bytearray()
    i = seed
    while len(out) < n:
        b = 1 + i % 31
        i += 1
        if b in (0x0a, 0x0d):
            continue
        out.append(b)
    return bytes(out)


def printable_line(n, tag):
    head = b"NOTACOMMAND %s " % tag
    return head + b"x" * (n - len(head))


def pump(srv, lines, what, check_sizes=None):
    """Sends each line (+ \\n) on one connection while reading the replies;
    returns once every line has its reply. check_sizes() runs between
    chunks."""
    c = srv.connect(timeout=30)
    try:
        s = c.sock
        s.setblocking(False)
        data = b"".join(l + b"\n" for l in lines)
        want = len(lines)
        sent = got = 0
        tail = b""
        deadline = time.monotonic() + 60
        while got < want:
            if time.monotonic() > deadline:
                fail("%s: %d of %d replies after 60 s (%d of %d bytes sent)"
                     % (what, got, want, sent, len(data)))
            wl = [s] if sent < len(data) else []
            r, w, _ = select.select([s], wl, [], 1.0)
            if w:
                try:
                    sent += s.send(data[sent:sent + 65536])
                except BlockingIOError:
                    pass
            if r:
                try:
                    chunk = s.recv(1 << 18)
                except BlockingIOError:
                    chunk = None
                if chunk == b"":
                    fail("%s: the server closed the connection after %d of %d replies"
                         % (what, got, want))
                if chunk:
                    got += chunk.count(b"\n")
                    tail = (tail + chunk)[-200:]
                    if check_sizes is not None:
                        check_sizes()
        check(tail.startswith(b"? ") or b"\n? " in tail or tail.count(b"\n") > 0,
              "%s: replies look like replies: %r" % (what, tail))
        return len(data)
    finally:
        c.close()


def marker(srv, tag):
    """An IAMAT whose reply came back and whose line reached the log."""
    cid = b"marker." + tag
    with srv.connect() as c:
        c.send(b"IAMAT " + cid + b" " + UCLA + b" " + CTIME + b"\n")
        eq(split_at(c.read_line())[3], cid, "client id of the marker IAMAT")
    srv.wait_log(rb"conn \d+ < IAMAT " + re.escape(cid) + rb" ", timeout=10)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def measure(t, srv, lines, label, tag):
    before = srv.log_size()
    sent = pump(srv, lines, label)
    marker(srv, tag)
    grown = srv.log_size() - before
    ratio = grown / sent
    bound = 3 * sent + LINE_OVERHEAD * (len(lines) + 3)
    t.note("%s: %d bytes in %d lines -> %d bytes of log (%.2f per byte, bound %d)"
           % (label, sent, len(lines), grown, ratio, bound))
    check(grown <= bound,
          "%s: the log grew by %d bytes for %d bytes of input in %d lines (%.2f per byte); "
          "at most %d (3 per byte + %d per line)"
          % (label, grown, sent, len(lines), ratio, bound, LINE_OVERHEAD))
    return ratio


def main(t):
    a = t.server("Alford", extra_args=["--log-max-mb", "0"])
    # A log that existed as 0644 is made 0600.
    with open(a.log_path, "wb") as f:
        f.write(b"an older line\n")
    os.chmod(a.log_path, 0o644)
    b = t.server("Bolden", extra_args=["--log-max-mb", "1"])
    t.start_all()

    for s in (a, b):
        m = mode_of(s.log_path)
        check(m == 0o600, "%s: log file mode %o, expected 600" % (s.name, m))
    t.ok("log files are mode 0600 (also one that existed as 0644)")

    # --- amplification --------------------------------------------------
    n = MIB // 101
    measure(t, a, [control_line(100, i) for i in range(n)],
            "100-byte lines of control bytes", b"ctl100")
    measure(t, a, [control_line(4000, i) for i in range(MIB // 4001)],
            "4000-byte lines of control bytes", b"ctl4000")
    since = a.log_size()
    lines = [printable_line(100, b"p%06d" % i) for i in range(n)]
    measure(t, a, lines, "100-byte printable invalid lines", b"print100")
    log = a.log_bytes()[since:]
    for i in (0, 1, n // 2, n - 1):
        k = log.count(b"NOTACOMMAND p%06d " % i)
        eq(k, 1, "times the invalid line #%d appears in the log" % i)
    t.ok("invalid lines: at most 3 log bytes per input byte + %d per line; "
         "each logged once" % LINE_OVERHEAD)

    # --- the cap and rotation ---------------------------------------------
    path, old = b.log_path, b.log_path + ".1"
    limit = 2 * MIB + ONE_BUFFER
    worst = [0]

    def sizes():
        total = 0
        for p in (path, old):
            try:
                total += os.path.getsize(p)
            except FileNotFoundError:
                pass
        worst[0] = max(worst[0], total)
        check(total <= limit, "%s and its .1 hold %d bytes together; at most %d"
              % (path, total, limit))

    sent = 0
    k = 0
    while sent < 6 * MIB:
        batch = []
        for i in range(2000):
            k += 1
            if k % 4 == 0:
                batch.append(b"IAMAT rot.%d %s %s" % (k % 500, UCLA, CTIME))
            else:
                batch.append(printable_line(200, b"r%07d" % k))
        sent += pump(b, batch, "rotation flood", sizes)
        sizes()
    marker(b, b"rotated")
    sizes()
    check(os.path.exists(old), "no %s after %d bytes of traffic" % (old, sent))
    check(not os.path.exists(path + ".2"), "%s.2 exists" % path)
    for p in (path, old):
        m = mode_of(p)
        check(m == 0o600, "%s: mode %o, expected 600" % (p, m))
    t.ok("--log-max-mb 1: %d bytes of traffic, FILE + FILE.1 at most %d bytes "
         "(bound %d), FILE.1 exists, both 0600" % (sent, worst[0], limit))

    with b.connect() as c:
        c.send(b"IAMAT after.rotation " + UCLA + b" " + CTIME + b"\n")
        eq(split_at(c.read_line())[3], b"after.rotation", "client id after the rotation")
    t.ok("the server still answers after rotating its log")


if __name__ == "__main__":
    herdtest.run(main, watchdog=110)
