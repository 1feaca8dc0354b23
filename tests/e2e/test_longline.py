#!/usr/bin/env python3
"""A line over the maximum (default 8 KiB) closes that connection only.

The server sends nothing for it (the protocol has no reply for it), closes
the connection without waiting for a newline that may never come, and keeps
serving every other connection.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import socket
import time

import herdtest
from herdtest import check, eq, split_at

KIB8 = 8 * 1024


def iamat(cid, t=b"1621464827.5"):
    return b"IAMAT " + cid + b" +34.068930-118.445127 " + t


def assert_closed(t, c, what, timeout=5):
    t0 = time.monotonic()
    got = c.read_to_eof(timeout)
    eq(got, b"", "bytes sent back for %s" % what)
    return time.monotonic() - t0


def assert_answers(srv, cid):
    with srv.connect() as c:
        c.send(iamat(cid) + b"\n")
        f = split_at(c.read_line())
        eq(f[3], cid, "client id in the AT reply")


def send_stream(c, total, chunk=65536):
    """Send `total` bytes of 'x' (no newline); stop quietly if the peer closes."""
    sent = 0
    try:
        c.sock.settimeout(5)
        while sent < total:
            n = c.sock.send(b"x" * min(chunk, total - sent))
            sent += n
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    return sent


def main(t):
    fake = t.fakeplaces("ok")
    # Long client ids make the long lines here: lift the id limit (256 by
    # default) so only the line limit is under test.
    srv = t.server("Alford", places=fake, extra_args=["--max-client-id", "9000"])
    small = t.server("Bolden", places=fake,
                     extra_args=["--max-line", "512", "--max-client-id", "9000"])
    t.start_all()

    bystander = srv.connect()
    bystander.send(iamat(b"bystander") + b"\n")
    first = bystander.read_line()

    # Just under the limit: answered.
    cid = b"k" * (8000 - len(iamat(b"")))
    line = iamat(cid)
    check(len(line) == 8000, "line length %d" % len(line))
    with srv.connect() as c:
        c.send(line + b"\n")
        eq(split_at(c.read_line())[3], cid, "client id of an 8000-byte line")
    t.ok("an 8000-byte line is answered")

    # Exactly at the limit (the terminator does not count), LF and CRLF.
    cid = b"k" * (KIB8 - len(iamat(b"")))
    line = iamat(cid)
    check(len(line) == KIB8, "line length %d" % len(line))
    for term in (b"\n", b"\r\n"):
        with srv.connect() as c:
            c.send(line + term)
            eq(split_at(c.read_line())[3], cid, "client id of an 8192-byte line + %r" % term)
    t.ok("an 8192-byte line is answered, with LF and with CRLF")

    # One byte over, terminated: closed, nothing sent back.
    c = srv.connect()
    c.send(iamat(cid + b"k") + b"\n")
    assert_closed(t, c, "an 8193-byte line + LF")
    c.close()
    # One byte over, ended by the client's half-close: closed, nothing sent.
    c = srv.connect()
    c.send(iamat(cid + b"k"))
    c.shutdown_wr()
    assert_closed(t, c, "an 8193-byte line ended by SHUT_WR")
    c.close()
    t.ok("an 8193-byte line (ended by LF or by SHUT_WR): closed, nothing sent")

    # Over the limit, no newline: closed without a byte sent back.
    c = srv.connect()
    c.send(b"IAMAT " + b"y" * (KIB8 + 1000))
    took = assert_closed(t, c, "a 9 KiB line without newline")
    c.close()
    t.ok("a 9 KiB line without newline: connection closed, nothing sent (%.0f ms)" % (took * 1000))

    # Over the limit with a newline.
    c = srv.connect()
    c.send(b"y" * (KIB8 + 1000) + b"\n")
    assert_closed(t, c, "a too-long line with newline")
    c.close()
    t.ok("a too-long line with newline: connection closed")

    # A valid request first, then a too-long line: the reply, then close.
    c = srv.connect()
    c.send(iamat(b"before.long") + b"\n")
    eq(split_at(c.read_line())[3], b"before.long", "reply before the long line")
    c.send(b"z" * (KIB8 + 100))
    assert_closed(t, c, "a too-long line after a valid one")
    c.close()
    t.ok("a valid line then a too-long one: reply, then close")

    # A megabyte with no newline: the server must not buffer it all.
    c = srv.connect()
    sent = send_stream(c, 1 << 20)
    assert_closed(t, c, "1 MiB without newline")
    c.close()
    t.ok("1 MiB without newline: closed (client got %d bytes out before the close)" % sent)

    # Everything else still works.
    assert_answers(srv, b"after.long")
    bystander.send(iamat(b"bystander") + b"\n")
    eq(bystander.read_line(), first, "stale IAMAT on the bystander connection")
    bystander.close()
    t.ok("the server answers new and existing connections normally afterwards")

    # --max-line 512.
    with small.connect() as c:
        line = iamat(b"m" * (400 - len(iamat(b""))))
        c.send(line + b"\n")
        eq(split_at(c.read_line())[3], line.split(b" ")[1], "400-byte line under --max-line 512")
    c = small.connect()
    c.send(b"IAMAT " + b"w" * 600 + b" +1-1 1\n")
    assert_closed(t, c, "a 600-byte line under --max-line 512")
    c.close()
    assert_answers(small, b"after.small")
    t.ok("--max-line 512: 400 bytes answered, 600 bytes closes, server goes on")


if __name__ == "__main__":
    herdtest.run(main)
