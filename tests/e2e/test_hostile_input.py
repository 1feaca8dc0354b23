#!/usr/bin/env python3
"""Hostile client input: every line gets the reply protocol.md gives it.

Over-long lines (closed, nothing sent back), NUL bytes (part of a client id,
invalid anywhere else), client ids that are not UTF-8 (accepted and echoed
byte for byte), numbers out of range, `nan`, `inf`, exponents, hex, and
400-digit numbers in the location, the client time, the radius and the bound
(valid when the grammar and the range allow it, `? <line>` otherwise), an
HTTP request and a TLS ClientHello on the client port, client ids of 256
bytes (accepted) and 257 bytes (`?`), and thousands of fields.  After each
case a normal IAMAT on a new connection is answered within 1 s, and at the
end every invalid line again on one connection, pipelined in one write, gets
its `?` reply in order.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import json
import socket
import time

import herdtest
from herdtest import check, eq, fail, show, split_at, diff_ns

UCLA = b"+34.068930-118.445127"
CTIME = b"1621464827.959498503"
PROMPT = 1.0
TOLERANCE_NS = 5 * 10**9


class Health:
    def __init__(self, srv):
        self.srv = srv
        self.n = 0
        self.worst = 0.0

    def check(self, after):
        """A normal IAMAT on a new connection is answered within PROMPT."""
        self.n += 1
        cid = b"health.%d" % self.n
        t0 = time.monotonic()
        try:
            with self.srv.connect(timeout=PROMPT) as c:
                c.send(b"IAMAT " + cid + b" " + UCLA + b" " + CTIME + b"\n")
                line = c.read_line(PROMPT)
        except (OSError, herdtest.TestFailure) as e:
            fail("after %s: a normal IAMAT on a new connection was not answered within "
                 "%.1f s: %s" % (after, PROMPT, e))
        dt = time.monotonic() - t0
        eq(split_at(line)[3], cid, "after %s: client id of a normal IAMAT" % after)
        check(dt < PROMPT, "after %s: a normal IAMAT took %.3f s" % (after, dt))
        self.worst = max(self.worst, dt)


def expect_invalid(c, line, what):
    """`line` (no terminator) gets exactly '? line'."""
    c.send(line + b"\n")
    eq(c.read_line(), b"? " + line, "reply to %s" % what)


def expect_at(c, cid, loc, ctime, what):
    t_sent = time.time_ns()
    c.send(b"IAMAT " + cid + b" " + loc + b" " + ctime + b"\n")
    line = c.read_line()
    t_recv = time.time_ns()
    f = split_at(line)
    eq(f[1], b"Alford", "%s: AT field 2" % what)
    eq(f[3], cid, "%s: AT client id, byte for byte" % what)
    eq(f[4], loc, "%s: AT location, byte for byte" % what)
    eq(f[5], ctime, "%s: AT client time, byte for byte" % what)
    d = diff_ns(f[2])
    return line, d, t_sent, t_recv


def expect_whatsat(c, cid, radius, bound, at, what):
    c.send(b"WHATSAT " + cid + b" " + radius + b" " + bound + b"\n")
    first, body = c.read_whatsat()
    eq(first if first != b"?" else body, at, "%s: WHATSAT first line" % what)
    try:
        doc = json.loads(body.decode("utf-8"))
    except ValueError:
        fail("%s: WHATSAT body is not JSON: %s" % (what, show(body)))
    check(isinstance(doc.get("results"), list), "%s: no results list: %s" % (what, show(body)))
    check(len(doc["results"]) <= int(bound),
          "%s: %d results for bound %s" % (what, len(doc["results"]), bound.decode()))
    return doc


def main(t):
    srv = t.server("Alford")
    t.start_all()
    health = Health(srv)
    health.check("start")
    invalid_all = []      # (line, what) for the pipelined replay at the end

    def invalid_cases(cases, label):
        with srv.connect() as c:
            for line, what in cases:
                expect_invalid(c, line, what)
                invalid_all.append((line, what))
        health.check(label)
        t.ok("%s: %d lines, each answered '? <line>', connection kept" % (label, len(cases)))

    # -- a known client to ask about -----------------------------------------
    with srv.connect() as c:
        known, _, _, _ = expect_at(c, b"known", UCLA, CTIME, "a normal IAMAT")

    # -- over-long lines -----------------------------------------------------
    for what, data in (("8193-byte line + LF", b"IAMAT " + b"k" * 8187 + b"\n"),
                       ("64 KiB line + CRLF", b"x" * 65536 + b"\r\n"),
                       ("1 MiB, no newline", b"y" * (1 << 20))):
        c = srv.connect()
        c.sock.settimeout(5)
        try:
            c.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        eq(c.read_to_eof(5), b"", "bytes sent back for a %s" % what)
        c.close()
        health.check(what)
    t.ok("over-long lines (8193 B + LF, 64 KiB + CRLF, 1 MiB bare): closed, nothing sent")

    # -- NUL bytes -----------------------------------------------------------
    with srv.connect() as c:
        cid = b"nul\x00id"
        at, _, _, _ = expect_at(c, cid, UCLA, CTIME, "a client id with a NUL")
        expect_whatsat(c, cid, b"10", b"2", at, "WHATSAT for a client id with a NUL")
        cid2 = b"\x00"
        at2, _, _, _ = expect_at(c, cid2, UCLA, CTIME, "a client id that is one NUL")
        expect_whatsat(c, cid2, b"5", b"1", at2, "WHATSAT for the client id NUL")
    health.check("NUL in client ids")
    t.ok("a NUL byte in a client id: accepted, echoed byte for byte, WHATSAT finds it")
    invalid_cases([
        (b"IAMAT x +34\x00-118 " + CTIME, "a NUL in the location"),
        (b"IAMAT x " + UCLA + b" 1621464827\x00.5", "a NUL in the time"),
        (b"IAMAT x " + UCLA + b" " + CTIME + b"\x00", "a NUL after the time"),
        (b"IAMAT\x00 x " + UCLA + b" " + CTIME, "a NUL in the command"),
        (b"\x00IAMAT x " + UCLA + b" " + CTIME, "a NUL before the command"),
        (b"\x00\x00\x00", "a line of NULs"),
        (b"WHATSAT known 1\x000 5", "a NUL in the radius"),
        (b"WHATSAT known 10 5\x00", "a NUL in the bound"),
        (b"WHATSAT known\x00 10 5", "WHATSAT for an unknown id with a NUL"),
    ], "NUL bytes outside client ids")

    # -- ids that are not UTF-8 ----------------------------------------------
    with srv.connect() as c:
        for cid, what in ((b"\xff\xfe\xfd", "0xff 0xfe 0xfd"),
                          (b"\xc0\xaf", "an overlong '/'"),
                          (b"\xed\xa0\x80", "a UTF-16 surrogate"),
                          (b"caf\xc3", "a truncated sequence"),
                          (b"\x80\x80\x80\x80", "lone continuation bytes"),
                          (b"\xf4\x90\x80\x80", "a code point past U+10FFFF"),
                          (b"\x1b[31mred\x1b[0m", "terminal escapes"),
                          (b"\xef\xbb\xbfbom", "a byte order mark"),
                          (b"%s%n%x", "printf conversions"),
                          (b"\x01\x02\x7f", "control bytes")):
            at, _, _, _ = expect_at(c, cid, UCLA, CTIME, "client id with %s" % what)
            expect_whatsat(c, cid, b"1", b"1", at, "WHATSAT for a client id with %s" % what)
    health.check("non-UTF-8 ids")
    t.ok("client ids with invalid UTF-8, escapes and control bytes: echoed byte for byte")

    # -- numbers: range, nan, inf, syntax --------------------------------------
    bad_loc = [b"+90.000000001-118", b"-90.1+0", b"+91-118", b"+34+180.0000000001", b"+34-181",
               b"+999999999999999999999-118", b"+34-99999999999999999999999",
               b"+nan-118", b"+34+nan", b"+NaN-118", b"+inf-118", b"+34-inf",
               b"+infinity-118", b"+34-Infinity", b"nan", b"inf", b"+3.4e1-118",
               b"+34-1.18E2", b"+0x22-118", b"34-118", b"+34.-118", b"+.5-118", b"+34",
               b"+34-118-5", b"++34-118", b"+34--118", b"+34-118x",
               b"+3,4-118", b"-0x0+0", b"+\xd9\xa3\xd9\xa4-118"]
    cases = [(b"IAMAT x " + loc + b" " + CTIME, "location %s" % show(loc)) for loc in bad_loc]
    bad_time = [b"-1", b"+1621464827", b"1621464827.", b".5", b"nan", b"inf", b"1.6e9",
                b"0x60a5", b"18446744073709551616", b"99999999999999999999.5",
                b"1621464827.5.5", b"1,5", b"-0", b"Infinity"]
    cases += [(b"IAMAT x " + UCLA + b" " + tm, "time %s" % show(tm)) for tm in bad_time]
    bad_radius = [b"50.000001", b"50.0000000001", b"51", b"-1", b"-0", b"+5", b"nan", b"inf",
                  b"1e1", b"0x10", b"5.", b".5", b"18446744073709551616",
                  b"99999999999999999999999999"]
    cases += [(b"WHATSAT known " + r + b" 5", "radius %s" % show(r)) for r in bad_radius]
    bad_bound = [b"21", b"-1", b"+5", b"5.0", b"nan", b"inf", b"1e1", b"0x5",
                 b"18446744073709551616", b"4294967301"]
    cases += [(b"WHATSAT known 10 " + bd, "bound %s" % show(bd)) for bd in bad_bound]
    invalid_cases(cases, "numbers out of range, nan, inf, exponents, hex, signs")

    # Edges that are valid: the range limits and the largest 64-bit time.
    with srv.connect() as c:
        for i, loc in enumerate((b"+90-180", b"-90+180", b"+90.000-180.000000", b"-0-0",
                                 b"+0.0+0.0")):
            expect_at(c, b"edge.%d" % i, loc, CTIME, "location %s" % show(loc))
        at, d, s, r = expect_at(c, b"far.future", UCLA, b"18446744073709551615.999999999",
                                "the largest 64-bit time")
        want = s - (18446744073709551615 * 10**9 + 999999999)
        check(abs(d - want) < TOLERANCE_NS,
              "time difference for 2^64-1 s: %s, expected about %d ns" % (at.split(b" ")[2], want))
        at, d, s, r = expect_at(c, b"epoch", UCLA, b"0", "time 0")
        check(abs(d - s) < TOLERANCE_NS, "time difference for time 0: %s" % at.split(b" ")[2])
        expect_whatsat(c, b"known", b"50", b"20", known, "radius 50, bound 20")
        expect_whatsat(c, b"known", b"50.000000", b"0", known, "radius 50.000000, bound 0")
        expect_whatsat(c, b"known", b"0", b"0", known, "radius 0")
    health.check("range edges")
    t.ok("range edges (+-90, +-180, -0, time 0 and 2^64-1 s, radius 0/50, bound 0/20): "
         "accepted, time difference exact")

    # -- 400-digit numbers -------------------------------------------------------
    d400 = b"9" * 400
    invalid_cases([
        (b"IAMAT x +" + d400 + b"-118 " + CTIME, "a 400-digit latitude"),
        (b"IAMAT x +34-" + d400 + b" " + CTIME, "a 400-digit longitude"),
        (b"IAMAT x +90." + b"0" * 399 + b"1-118 " + CTIME, "latitude 90 + 10^-400"),
        (b"IAMAT x +34+180." + b"0" * 399 + b"1 " + CTIME, "longitude 180 + 10^-400"),
        (b"IAMAT x " + UCLA + b" " + d400, "a 400-digit time"),
        (b"IAMAT x " + UCLA + b" " + d400 + b"." + d400, "a 400.400-digit time"),
        (b"WHATSAT known " + d400 + b" 5", "a 400-digit radius"),
        (b"WHATSAT known 50." + b"0" * 399 + b"1 5", "radius 50 + 10^-400"),
        (b"WHATSAT known 10 " + d400, "a 400-digit bound"),
        (b"WHATSAT known " + d400 + b"." + d400 + b" " + d400, "400-digit radius and bound"),
    ], "400-digit numbers out of range")
    # 400 digits the grammar allows: leading zeros and long fractions.
    with srv.connect() as c:
        long_ok = [
            (b"+" + b"0" * 398 + b"34-" + b"0" * 397 + b"118", CTIME,
             "400-digit zero-padded lat/lng"),
            (b"+34." + b"1" * 400 + b"-118." + b"9" * 400, CTIME, "400 fraction digits"),
            (b"+90." + b"0" * 400 + b"-180." + b"0" * 400, CTIME, "90 and 180 with 400 zeros"),
            (UCLA, b"0" * 390 + b"1621464827", "a zero-padded 400-digit time"),
            (UCLA, b"1621464827." + b"9" * 400, "400 fraction digits in the time"),
        ]
        for i, (loc, tm, what) in enumerate(long_ok):
            cid = b"long.%d" % i
            at, d, s, r = expect_at(c, cid, loc, tm, what)
            want = s - 1621464827 * 10**9 - (999999999 if tm.endswith(b"9" * 10) else 0)
            if tm != CTIME:
                check(abs(d - want) < TOLERANCE_NS,
                      "%s: time difference %s, expected about %d ns"
                      % (what, at.split(b" ")[2], want))
            expect_whatsat(c, cid, b"0" * 398 + b"10", b"0" * 399 + b"3", at,
                           "%s, then a 400-digit zero-padded radius and bound" % what)
            expect_whatsat(c, cid, b"10." + b"0" * 400, b"1", at,
                           "%s, then radius 10 with 400 zeros" % what)
    health.check("400-digit numbers")
    t.ok("400-digit numbers: out of range -> '?', zero-padded or long fractions accepted "
         "and echoed byte for byte")

    # -- client id length ----------------------------------------------------------
    with srv.connect() as c:
        cid256 = b"i" * 256
        at, _, _, _ = expect_at(c, cid256, UCLA, CTIME, "a 256-byte client id")
        expect_whatsat(c, cid256, b"1", b"1", at, "WHATSAT for a 256-byte client id")
        cid256u = b"\xe2\x82\xac" * 85 + b"x"     # 256 bytes, 86 characters
        expect_at(c, cid256u, UCLA, CTIME, "a 256-byte id of 3-byte characters")
    for line, what in ((b"IAMAT " + b"i" * 257 + b" " + UCLA + b" " + CTIME, "a 257-byte id"),
                       (b"WHATSAT " + b"i" * 257 + b" 10 5", "WHATSAT for a 257-byte id"),
                       (b"IAMAT " + b"\xe2\x82\xac" * 86 + b" " + UCLA + b" " + CTIME,
                        "a 258-byte id of 86 characters"),
                       (b"IAMAT " + b"j" * 4000 + b" " + UCLA + b" " + CTIME, "a 4000-byte id")):
        with srv.connect() as c:
            expect_invalid(c, line, what)
        invalid_all.append((line, what))
    health.check("client id length")
    t.ok("client id of 256 bytes accepted (IAMAT, WHATSAT); 257 bytes and more: '?'")

    # -- field counts, odd whitespace, command case -----------------------------------
    invalid_cases([
        (b"IAMAT " + b"a " * 3000 + b"b", "3001 fields"),
        (b"WHATSAT known 10 5 " + b"x " * 2000 + b"y", "WHATSAT with 2005 fields"),
        (b"IAMAT x", "2 fields"),
        (b"WHATSAT", "1 field"),
        (b"iamat x " + UCLA + b" " + CTIME, "lower-case command"),
        (b"IAMAT\xa0x " + UCLA + b" " + CTIME, "a no-break space byte"),
        (b"\xef\xbc\xa9AMAT x " + UCLA + b" " + CTIME, "a full-width letter"),
        (b"I\rAMAT x " + UCLA + b" " + CTIME, "a carriage return mid-command"),
    ], "wrong field counts and look-alike commands")
    with srv.connect() as c:
        c.send(b"\r\n \t\r\n\f\v\r\r\n" + b"IAMAT\tws.id\v" + UCLA + b"\f" + CTIME + b" \t\r\n")
        f = split_at(c.read_line())
        eq((f[3], f[4], f[5]), (b"ws.id", UCLA, CTIME), "IAMAT separated by tab, VT, FF")
        c.expect_nothing(0.2)
    health.check("odd whitespace")
    t.ok("blank and whitespace-only lines ignored; tab, VT, FF separate fields")

    # -- other protocols on the client port --------------------------------------------
    c = srv.connect()
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 3
    got = b""
    while not c.eof and got.count(b"\n") < 2 and time.monotonic() < deadline:
        try:
            c._fill(deadline)
        except herdtest.TestFailure:
            break
        got = c.buf
    if c.eof and c.buf == b"":
        how = "closed"
    else:
        eq(c.buf, b"? GET / HTTP/1.1\n? Host: x\n", "reply to an HTTP request")
        c.buf = b""
        c.expect_nothing(0.2)
        how = "answered with two '?' lines"
        invalid_all.extend([(b"GET / HTTP/1.1", "an HTTP request line"),
                            (b"Host: x", "an HTTP header")])
    c.close()
    health.check("an HTTP request")
    with srv.connect() as c:
        body = b'{"IAMAT": 1}'
        c.send(b"POST /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s\n" % (len(body), body))
        lines = [c.read_line() for _ in range(3)]
        eq(lines, [b"? POST /x HTTP/1.1", b"? Content-Length: %d" % len(body), b"? " + body],
           "reply to an HTTP POST")
    health.check("an HTTP POST")
    # A TLS ClientHello: binary, NULs, whitespace and newline bytes in its
    # random field; each complete "line" in it is answered '? <line>'.
    hello = bytes.fromhex("16030100a5010000a10303") + bytes(range(32)) + \
        bytes.fromhex("000020c02bc02fc02cc030cca9cca8c013c014009c009d002f0035c012000a"
                      "01000058000000140012000f6578616d706c652e636f6d0000")
    want = b""
    for seg in hello.split(b"\n")[:-1]:
        if seg.endswith(b"\r"):
            seg = seg[:-1]
        if seg.strip(b" \t\r\f\v"):
            want += b"? " + seg + b"\n"
    c = srv.connect()
    c.send(hello)
    eq(c.read_exactly(len(want)), want, "replies to the complete lines of a TLS ClientHello")
    c.expect_nothing(0.3)
    health.check("a TLS ClientHello (held open)")
    c.close()
    health.check("a TLS ClientHello")
    t.ok("an HTTP request is %s; a POST gets '?' per line; a TLS ClientHello gets '?' per "
         "complete line and hurts no one" % how)

    # -- everything invalid again, pipelined on one connection in one write ----------------
    with srv.connect(timeout=10) as c:
        c.send(b"".join(line + b"\n" for line, _ in invalid_all) + b"IAMAT end " + UCLA
               + b" " + CTIME + b"\n")
        for line, what in invalid_all:
            eq(c.read_line(), b"? " + line, "pipelined reply to %s" % what)
        eq(split_at(c.read_line())[3], b"end", "the valid IAMAT after them")
    health.check("pipelined invalid lines")
    t.ok("%d invalid lines pipelined in one write: every '?' reply in order, then the "
         "valid reply" % len(invalid_all))
    t.ok("a normal IAMAT on a new connection answered after each of %d cases "
         "(slowest %.0f ms)" % (health.n, health.worst * 1000))


if __name__ == "__main__":
    herdtest.run(main)
