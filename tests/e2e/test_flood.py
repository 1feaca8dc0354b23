#!/usr/bin/env python3
"""Flooding over the default five-server graph.

Alford, Bolden, Hamilton, Parker, Powell with edges Alford-Parker,
Alford-Powell, Bolden-Parker, Bolden-Powell, Hamilton-Parker, on probed
loopback ports.  Once every link is up, an IAMAT at Hamilton must be known
everywhere almost at once: a WHATSAT sent right after the AT reply returns the
original AT line, byte for byte, at every other server (a retry window of at
most 200 ms is allowed for propagation).  The flood must end: the logs stop
mentioning the client after a bounded number of mentions, and no server keeps
burning CPU once the update is everywhere.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import os
import re
import time

import herdtest
from herdtest import check, eq, fail

NAMES = ["Alford", "Bolden", "Hamilton", "Parker", "Powell"]
EDGES = [("Alford", "Parker"), ("Alford", "Powell"), ("Bolden", "Parker"),
         ("Bolden", "Powell"), ("Hamilton", "Parker")]
WINDOW = 0.200


def propagate(t, origin, others, cid, loc, ctime, label):
    """IAMAT at `origin`, then WHATSAT at every other server at once.

    Returns the AT line, how long (s) each server took to know it, and how
    many WHATSATs were answered (not refused) on the way.
    """
    conns = {s.name: s.connect() for s in others}
    with origin.connect() as c:
        c.send(b"IAMAT " + cid + b" " + loc + b" " + ctime + b"\n")
        at = c.read_line()
    t0 = time.monotonic()
    herdtest.split_at(at)
    eq(at.split(b" ")[1], origin.name.encode(), "AT field 2 at %s" % origin.name)
    req = b"WHATSAT " + cid + b" 10 2\n"
    for s in others:
        conns[s.name].send(req)
    took = {}
    answered = [0]
    pending = list(others)
    while pending:
        still = []
        for s in pending:
            c = conns[s.name]
            first, body = c.read_whatsat()
            now = time.monotonic()
            if first != b"?":
                answered[0] += 1
            if first != at:
                # Unknown yet ('?') or still the previous record.
                if now - t0 > WINDOW:
                    eq(first if first != b"?" else body, at,
                       "%s: first line of WHATSAT at %s %.0f ms after the AT reply "
                       "(window %.0f ms)" % (label, s.name, (now - t0) * 1000, WINDOW * 1000))
                still.append(s)
                continue
            check(body.startswith(b"{\n") and body.endswith(b"}"),
                  "%s: WHATSAT body at %s is not a JSON block: %s"
                  % (label, s.name, herdtest.show(body)))
            took[s.name] = now - t0
        if still:
            time.sleep(0.005)
            for s in still:
                conns[s.name].send(req)
        pending = still
    for c in conns.values():
        c.close()
    return at, took, answered[0]


def mentions(server, token):
    return server.log_bytes().count(token)


def cpu_seconds(server):
    """utime + stime of the server process, from /proc (None if unavailable)."""
    try:
        with open("/proc/%d/stat" % server.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / hz


def main(t):
    fake = t.fakeplaces("ok")
    srv = {n: t.server(n, places=fake) for n in NAMES}
    for a, b in EDGES:
        t.link(srv[a], srv[b])
    t.start_all()
    t0 = time.monotonic()
    for s in srv.values():
        s.wait_links_up(timeout=15)
    t.ok("all %d links up at both ends (%.0f ms after readiness)"
         % (len(EDGES), (time.monotonic() - t0) * 1000))

    ham = srv["Hamilton"]
    others = [srv[n] for n in NAMES if n != "Hamilton"]
    cid = b"flood.kiwi.cs.ucla.edu"
    ctime = b"%d.123456789" % int(time.time())
    at, took, n1 = propagate(t, ham, others, cid, b"+34.068930-118.445127", ctime,
                         "first update")
    worst = max(took.values())
    t.ok("IAMAT at Hamilton is known at every other server with the original AT line "
         "(slowest %s: %.1f ms; %s)"
         % (max(took, key=took.get), worst * 1000,
            ", ".join("%s %.1f ms" % (k, v * 1000) for k, v in sorted(took.items()))))

    # A newer update from a leaf on the other side of the graph.
    ctime2 = b"%d.5" % (int(time.time()) + 1)
    at2, took2, n2 = propagate(t, srv["Bolden"], [srv[n] for n in NAMES if n != "Bolden"],
                           cid, b"-33.8670522+151.1957362", ctime2, "second update")
    check(at2 != at, "the newer update must produce a new AT line")
    t.ok("a newer IAMAT at Bolden replaces the record everywhere (slowest %.1f ms)"
         % (max(took2.values()) * 1000))

    # An older IAMAT somewhere else is stale: the stored (Bolden) line comes
    # back, nothing changes anywhere.
    with srv["Powell"].connect() as c:
        c.send(b"IAMAT " + cid + b" +1-1 " + ctime + b"\n")
        eq(c.read_line(), at2, "stale IAMAT at Powell")
    t.ok("a stale IAMAT at Powell gets the stored line from Bolden")

    # The flood ends: the logs stop mentioning the client, which is is mentioned a bounded number
    # mentioned a bounded number of times (no storm of re-floods).
    token = cid
    deadline = time.monotonic() + 5
    prev = None
    while True:
        cur = {n: mentions(srv[n], token) for n in NAMES}
        if cur == prev:
            break
        if time.monotonic() > deadline:
            fail("logs still mention %s more and more 5 s after the updates: %r"
                 % (token.decode(), cur))
        prev = cur
        time.sleep(0.3)
    degree = {n: sum(1 for e in EDGES if n in e) for n in NAMES}
    for n in NAMES:
        m = cur[n]
        # Per update a server sees at most one record from each neighbour,
        # sends at most one to each, plus client lines; 3 updates happened
        # (two floods, one stale) plus up to 2 WHATSATs per server.
        limit = 3 * (4 * degree[n] + 6) + 10
        check(m <= limit, "%s log mentions %s %d times (limit %d): a flood storm?"
              % (n, token.decode(), m, limit))
    t.ok("floods end: mentions of the client in the logs stop growing and stay bounded "
         "per server (%s)" % ", ".join("%s %d" % (n, cur[n]) for n in NAMES))

    # A storm between servers would also burn CPU: once the updates are
    # everywhere, every server is idle.
    window = 1.0
    before = {n: cpu_seconds(srv[n]) for n in NAMES}
    if None not in before.values():
        t0 = time.monotonic()
        while time.monotonic() - t0 < window:
            time.sleep(0.05)
        used = {n: cpu_seconds(srv[n]) - before[n] for n in NAMES}
        busy = {n: u for n, u in used.items() if u > 0.25 * window}
        check(not busy, "servers still busy after the floods (CPU seconds in %.1f s: %r)"
              % (window, busy))
        t.ok("all servers idle after the floods (CPU in %.1f s: %s)"
             % (window, ", ".join("%s %.2f s" % (n, used[n]) for n in NAMES)))

    # Places answers are never flooded: the provider saw at most one request
    # per answered WHATSAT (fewer when a server's cache answered a repeat),
    # and at most one per server for each location asked about.
    n_whatsat = n1 + n2
    check(1 <= len(fake.requests) <= n_whatsat,
          "places requests: %d for %d answered WHATSATs" % (len(fake.requests), n_whatsat))
    per_location = {}
    for r in fake.requests:
        loc = r.param("location")
        per_location[loc] = per_location.get(loc, 0) + 1
    check(all(v <= len(NAMES) for v in per_location.values()),
          "a location asked more than once per server: %r" % per_location)
    t.ok("places answers are not flooded (%d provider requests for %d WHATSATs)"
         % (len(fake.requests), n_whatsat))

    # No link went down during the test.
    for n in NAMES:
        m = re.search(rb"link \S+ down", srv[n].log_bytes())
        check(m is None, "%s: a link went down during the test: %s" % (n, m and m.group(0)))
    t.ok("no link went down")


if __name__ == "__main__":
    herdtest.run(main)
