#!/usr/bin/env python3
"""One server: the exact bytes of IAMAT replies, stale updates, invalid lines.

Checks without masking what the golden cases can only check with the time
difference masked: field 2 is the server's name, field 3 is
`[+-]DIGITS.9DIGITS` and within 5 s of (now - client time), fields 4-6 are
the client's bytes, and a stale IAMAT gets the byte-identical stored line.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import time

import herdtest
from herdtest import check, eq, split_at, diff_ns, time_ns_of

TOLERANCE_NS = 5 * 1000000000


def check_at(t, line, server, cid, loc, ctime, sent_ns=None, received_ns=None):
    """Validate one AT line; return its time difference in ns."""
    f = split_at(line)
    eq(f[1], server, "AT field 2 (server name) of %s" % herdtest.show(line))
    d = diff_ns(f[2])
    eq(f[3], cid, "AT field 4 (client id)")
    eq(f[4], loc, "AT field 5 (location)")
    eq(f[5], ctime, "AT field 6 (client time)")
    if sent_ns is not None:
        c = time_ns_of(ctime)
        lo = sent_ns - c - TOLERANCE_NS
        hi = received_ns - c + TOLERANCE_NS
        check(lo <= d <= hi,
              "AT time difference %s is not within 5 s of now - client time "
              "(expected between %d and %d ns, got %d)" % (f[2].decode(), lo, hi, d))
    return d


def iamat_roundtrip(c, cid, loc, ctime):
    sent = time.time_ns()
    c.send(b"IAMAT " + cid + b" " + loc + b" " + ctime + b"\n")
    line = c.read_line()
    return line, sent, time.time_ns()


def main(t):
    fake = t.fakeplaces("ok")
    srv = t.server("Alford", places=fake)
    t.start_all()
    c = srv.connect()

    # A client id with non-UTF-8 bytes, a time near now with a long fraction.
    cid = b"kiwi\xff.cs.ucla.edu"
    loc = b"+34.068930-118.445127"
    now_s = int(time.time()) - 3
    ctime = str(now_s).encode() + b".959498503123456"
    first, s0, r0 = iamat_roundtrip(c, cid, loc, ctime)
    d = check_at(t, first, b"Alford", cid, loc, ctime, s0, r0)
    check(first.split(b" ")[2].startswith(b"+"), "difference should be positive: %r" % first)
    t.ok("IAMAT reply: exact fields, non-UTF-8 id, diff %s within 5 s of now - client time"
         % first.split(b" ")[2].decode())

    # The long fraction of the protocol example, far in the past.
    cid2 = b"kiwi.cs.ucla.edu"
    t2 = b"1621464827.959498503123456"
    line2, s2, r2 = iamat_roundtrip(c, cid2, loc, t2)
    check_at(t, line2, b"Alford", cid2, loc, t2, s2, r2)
    t.ok("IAMAT with time 1621464827.959498503123456: fields echoed, diff computed")

    # A client time in the future (clock skew) gives a '-' difference.
    cid3 = b"skewed"
    t3 = str(int(time.time()) + 100).encode() + b".25"
    line3, s3, r3 = iamat_roundtrip(c, cid3, b"-33.8670522+151.1957362", t3)
    d3 = check_at(t, line3, b"Alford", cid3, b"-33.8670522+151.1957362", t3, s3, r3)
    check(line3.split(b" ")[2].startswith(b"-") and d3 < 0,
          "client time in the future should give a '-' difference: %r" % line3)
    t.ok("IAMAT from the future: negative difference with '-' sign")

    # Stale: the same line again gets the byte-identical stored AT line.
    again, _, _ = iamat_roundtrip(c, cid, loc, ctime)
    eq(again, first, "reply to a repeated (not newer) IAMAT")
    t.ok("stale IAMAT (same time) gets the byte-identical first AT line")

    # Older time, other location: still the first line, and nothing stored.
    older = str(now_s - 60).encode() + b".5"
    again2, _, _ = iamat_roundtrip(c, cid, b"+1.5-2.5", older)
    eq(again2, first, "reply to an older IAMAT")
    # One nanosecond older, in the long-fraction digits past the ninth: the
    # 9-digit prefix decides first, and it is smaller here.
    older_ns = str(now_s).encode() + b".959498502999999"
    again3, _, _ = iamat_roundtrip(c, cid, b"+1.5-2.5", older_ns)
    eq(again3, first, "reply to an IAMAT 1 ns older")
    t.ok("stale IAMAT (older time) gets the byte-identical first AT line")

    # A WHATSAT on another connection carries that same stored line.
    with srv.connect() as c2:
        c2.send(b"WHATSAT " + cid + b" 10 1\n")
        at, body = c2.read_whatsat()
        eq(at, first, "first line of WHATSAT after stale updates")
    t.ok("WHATSAT on another connection returns the stored AT line unchanged")

    # Newer time: a new record, new line.
    newer = str(now_s + 1).encode() + b".000000001"
    line4, s4, r4 = iamat_roundtrip(c, cid, b"+1.5-2.5", newer)
    check_at(t, line4, b"Alford", cid, b"+1.5-2.5", newer, s4, r4)
    t.ok("newer IAMAT replaces the record")

    # Invalid lines: '? <line>' exactly, the connection stays open.
    invalid = [
        b"HELLO",
        b"iamat kiwi +34-118 1621464827.5",
        b"IAMAT kiwi +34-118",
        b"IAMAT kiwi +34-118 1621464827.5 extra",
        b"IAMAT kiwi 34.068930-118.445127 1621464827.5",
        b"IAMAT kiwi +34.068930 1621464827.5",
        b"IAMAT kiwi +1e1-1e1 1621464827.5",
        b"IAMAT kiwi +nan-118 1621464827.5",
        b"IAMAT kiwi +34-inf 1621464827.5",
        b"IAMAT kiwi +90.0001-118 1621464827.5",
        b"IAMAT kiwi +34-180.5 1621464827.5",
        b"IAMAT kiwi +34-118 +1621464827.5",
        b"IAMAT kiwi +34-118 1.6e9",
        b"IAMAT kiwi +34-118 1621464827.",
        b"IAMAT kiwi +34-118 18446744073709551616",
        b"WHATSAT " + cid + b" 51 5",
        b"WHATSAT " + cid + b" -1 5",
        b"WHATSAT " + cid + b" 1e1 5",
        b"WHATSAT " + cid + b" 10 21",
        b"WHATSAT " + cid + b" 10 5.0",
        b"WHATSAT nobody.example 10 5",
        b"IAMAT kiwi +34.068930\x00-118.445127 1621464827.5",
        b"\xff\xfe garbage \x01\x02",
    ]
    for line in invalid:
        c.send(line + b"\n")
        eq(c.read_line(), b"? " + line, "reply to invalid line %s" % herdtest.show(line))
    t.ok("%d invalid lines each get '? <line>' exactly" % len(invalid))

    # Boundaries that are valid.
    for i, l in enumerate([b"+90-180", b"-90+180", b"+0.0-0.0"]):
        ci = b"edge%d" % i
        ln, a, b = iamat_roundtrip(c, ci, l, b"1621464827.5")
        check_at(t, ln, b"Alford", ci, l, b"1621464827.5", a, b)
    t.ok("boundary locations +90-180, -90+180, +0.0-0.0 are valid")

    # An AT line from a client is refused, and not stored.
    at_line = b"AT Bolden +0.263873386 injected +34.068930-118.445127 1621464827.959498503"
    c.send(at_line + b"\n")
    eq(c.read_line(), b"? " + at_line, "reply to an AT line from a client")
    c.send(b"WHATSAT injected 10 5\n")
    eq(c.read_line(), b"? WHATSAT injected 10 5", "WHATSAT for a client only an AT line named")
    t.ok("AT from a client is refused with '? ' and not stored")

    # After all that, the connection still works.
    ln, a, b = iamat_roundtrip(c, b"after", loc, b"1621464827.5")
    check_at(t, ln, b"Alford", b"after", loc, b"1621464827.5", a, b)
    c.expect_nothing(0.2)
    t.ok("connection stays open after invalid lines; nothing unsolicited is sent")
    c.close()


if __name__ == "__main__":
    herdtest.run(main)
