#!/usr/bin/env python3
"""A last line without newline, then shutdown(SHUT_WR): answered, then closed.

The client's half-close ends the last line; the server answers it, flushes
every pending reply (including a WHATSAT still waiting on a slow places
provider) and only then closes the connection.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import time

import fakeplaces
import herdtest
from herdtest import check, eq, split_at

DELAY = 1.0


def main(t):
    fake = t.fakeplaces("ok")
    srv = t.server("Alford", places=fake, places_timeout=5000)
    t.start_all()
    cid = b"half.kiwi"
    iamat = b"IAMAT " + cid + b" +34.068930-118.445127 1621464827.959498503"

    # IAMAT as the unterminated last line.
    c = srv.connect(timeout=10)
    c.send(iamat)
    c.expect_nothing(0.2)   # not answered before the line has ended
    c.shutdown_wr()
    got = c.read_to_eof(5)
    c.close()
    check(got.endswith(b"\n") and got.count(b"\n") == 1,
          "reply to an unterminated IAMAT then EOF should be one line: %s" % herdtest.show(got))
    at = got[:-1]
    f = split_at(at)
    eq(b" ".join(f[3:]), iamat.split(b" ", 1)[1], "AT fields 4-6")
    t.ok("unterminated IAMAT + SHUT_WR: AT reply, then the server closes")

    # WHATSAT as the unterminated last line, provider slow (under the timeout).
    fake.set_mode("slow", delay=DELAY)
    c = srv.connect(timeout=10)
    t0 = time.monotonic()
    c.send(b"WHATSAT " + cid + b" 10 2")
    c.shutdown_wr()
    got = c.read_to_eof(DELAY + 5)
    took = time.monotonic() - t0
    c.close()
    want = at + b"\n" + fakeplaces.expected_whatsat_json(2).encode() + b"\n\n"
    eq(got, want, "reply to an unterminated WHATSAT then EOF (slow provider)")
    check(took >= DELAY * 0.9, "answered in %.2f s, before the provider's %.1f s" % (took, DELAY))
    t.ok("unterminated WHATSAT + SHUT_WR: full answer after the slow provider (%.2f s), "
         "then close" % took)

    # Several requests, the WHATSAT ones pending, then a last unterminated
    # IAMAT (for another client) and SHUT_WR: everything, in order.
    c = srv.connect(timeout=10)
    other = b"IAMAT half.other -10.5+20.25 1621464830"
    c.send(b"WHATSAT " + cid + b" 5 1\nHELLO\nWHATSAT " + cid + b" 5 0\n" + other)
    c.shutdown_wr()
    got = c.read_to_eof(2 * DELAY + 5)
    c.close()
    j1 = fakeplaces.expected_whatsat_json(1).encode()
    j0 = fakeplaces.expected_whatsat_json(0).encode()
    prefix = at + b"\n" + j1 + b"\n\n" + b"? HELLO\n" + at + b"\n" + j0 + b"\n\n"
    eq(got[:len(prefix)], prefix, "pending WHATSAT replies before the last line's reply")
    rest = got[len(prefix):]
    check(rest.endswith(b"\n") and rest.count(b"\n") == 1, "last reply: %s" % herdtest.show(rest))
    eq(b" ".join(split_at(rest[:-1])[3:]), other.split(b" ", 1)[1], "last AT fields 4-6")
    t.ok("pending WHATSATs + unterminated IAMAT + SHUT_WR: all replies in order, then close")

    # An invalid unterminated last line.
    c = srv.connect(timeout=10)
    c.send(b"WHATSAT nobody 10")
    c.shutdown_wr()
    eq(c.read_to_eof(5), b"? WHATSAT nobody 10\n", "reply to an unterminated invalid line")
    c.close()
    t.ok("unterminated invalid line + SHUT_WR: '? ' reply, then close")

    # Terminated WHATSAT, then an immediate half-close: still answered.
    c = srv.connect(timeout=10)
    c.send(b"WHATSAT " + cid + b" 10 3\n")
    c.shutdown_wr()
    eq(c.read_to_eof(DELAY + 5), at + b"\n" + fakeplaces.expected_whatsat_json(3).encode() + b"\n\n",
       "WHATSAT followed at once by SHUT_WR")
    c.close()
    t.ok("WHATSAT then immediate SHUT_WR: answered in full, then close")

    # Half-close with nothing pending: the server just closes.
    c = srv.connect(timeout=10)
    c.shutdown_wr()
    eq(c.read_to_eof(5), b"", "bytes after an empty half-closed session")
    c.close()
    t.ok("empty session + SHUT_WR: closed with no bytes")


if __name__ == "__main__":
    herdtest.run(main)
