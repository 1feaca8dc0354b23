#!/usr/bin/env python3
"""Neighbours that are down never slow clients down.

A server whose configured neighbours are all unreachable (nothing listens on
their peer ports) answers IAMAT and WHATSAT promptly (< 1 s), again and again
while it keeps retrying its links.  A neighbour that accepts the TCP
connection but never says a word does not delay flooding to a live one.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import socket
import time

import fakeplaces
import herdtest
from herdtest import check, eq, fail, free_ports, split_at

PROMPT = 1.0


def timed(c, data, read):
    t0 = time.monotonic()
    c.send(data)
    out = read()
    return out, time.monotonic() - t0


def main(t):
    fake = t.fakeplaces("ok")
    p1, p2, p3 = free_ports(3)
    lonely = t.server("Alford", places=fake)
    lonely.peers = [("Bolden", p1), ("Parker", p2), ("Powell", p3)]

    # A silent neighbour: accepts connections (backlog) and never answers.
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        hub = t.server("Hamilton", places=fake)
        live = t.server("Parker", places=fake)
        t.link(hub, live)
        hub.peers.append(("Ghost", silent.getsockname()[1]))
        hub.peers.append(("Nobody", free_ports(1)[0]))
        t.start_all()

        # -- all neighbours down ----------------------------------------------
        worst = 0.0
        deadline = time.monotonic() + 3.0
        i = 0
        with lonely.connect() as c:
            while True:
                cid = b"lonely%d" % i
                line = b"IAMAT %s +34.068930-118.445127 %d.5" % (cid, 1621464827 + i)
                at, dt = timed(c, line + b"\n", c.read_line)
                check(dt < PROMPT, "IAMAT #%d took %.3f s with neighbours down" % (i, dt))
                eq(split_at(at)[3], cid, "AT client id")
                worst = max(worst, dt)
                (a2, body), dt = timed(c, b"WHATSAT %s 10 3\n" % cid, c.read_whatsat)
                check(dt < PROMPT, "WHATSAT #%d took %.3f s with neighbours down" % (i, dt))
                eq(a2, at, "WHATSAT first line")
                eq(body, fakeplaces.expected_whatsat_json(3).encode(), "WHATSAT JSON")
                worst = max(worst, dt)
                i += 1
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)   # spread requests over the reconnect attempts
        t.ok("all neighbours down: %d IAMAT+WHATSAT pairs over 3 s, slowest %.0f ms"
             % (i, worst * 1000))
        check(b" up" not in b"\n".join(l for l in lonely.log_bytes().split(b"\n")
                                       if b"link " in l),
              "a link came up although no neighbour runs")
        t.ok("no link reported up")

        # -- a silent and a missing neighbour beside a live one ---------------
        hub.wait_links_up(["Parker"])
        live.wait_links_up(["Hamilton"])
        with hub.connect() as c, live.connect() as d:
            at, dt = timed(c, b"IAMAT mixed +1-1 1621464827\n", c.read_line)
            check(dt < PROMPT, "IAMAT at Hamilton took %.3f s" % dt)
            t0 = time.monotonic()
            while True:
                d.send(b"WHATSAT mixed 1 0\n")
                first, body = d.read_whatsat()
                if first != b"?":
                    break
                if time.monotonic() - t0 > PROMPT:
                    fail("update not at Parker %.0f ms after the AT reply (a silent or "
                         "missing neighbour of Hamilton delays it?)" % ((time.monotonic() - t0) * 1000))
                time.sleep(0.01)
            eq(first, at, "the record at Parker")
        t.ok("a silent neighbour (accepts, never speaks) and a missing one do not delay "
             "the live one (%.0f ms)" % ((time.monotonic() - t0) * 1000))
    finally:
        silent.close()


if __name__ == "__main__":
    herdtest.run(main)
