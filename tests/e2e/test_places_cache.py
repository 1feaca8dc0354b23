#!/usr/bin/env python3
"""The places answer cache and the request limits of the HTTP providers.

The cache key is the provider, the location rounded to 4 decimals and the
radius; the bound is applied after the cache, so one answer serves every
bound.  Only OK and ZERO_RESULTS answers are kept, for --places-cache-ttl
milliseconds, at most --places-cache-size of them.  Identical queries in
flight at once share one request; --places-max-inflight bounds the requests
open at once, and queued queries are answered too.

Each server here has its own stand-in, so its request count is its own.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import json
import time

import fakeplaces
import herdtest
from herdtest import check, eq, fail

LOC = b"+34.068930-118.445127"


def whatsat(c, cid, radius, bound, timeout=10):
    return herdtest.whatsat(c, cid, radius, bound, timeout)[1]


def iamat(c, cid, loc, when=1621464827):
    c.send(b"IAMAT %s %s %d\n" % (cid, loc, when))
    line = c.read_line()
    check(line.startswith(b"AT "), "IAMAT %s %s refused: %s" % (cid, loc, herdtest.show(line)))
    return line


def status_of(body):
    return json.loads(body)["status"]


def ok_body(bound):
    return fakeplaces.expected_whatsat_json(bound).encode()


class Counter:
    """Asserts how many requests a stand-in got since the last check."""

    def __init__(self, fake):
        self.fake = fake
        self.seen = len(fake.requests)

    def expect(self, n, what):
        now = len(self.fake.requests)
        eq(now - self.seen, n, "provider requests for: %s" % what)
        self.seen = now


def test_basics(t, srv, fake):
    c = srv.connect(timeout=10)
    n = Counter(fake)
    iamat(c, b"x", LOC)
    eq(whatsat(c, b"x", b"10", 5), ok_body(5), "WHATSAT x 10 5")
    n.expect(1, "WHATSAT x 10 5")
    eq(whatsat(c, b"x", b"10", 20), ok_body(20), "WHATSAT x 10 20 after WHATSAT x 10 5")
    n.expect(0, "WHATSAT x 10 20 after WHATSAT x 10 5")
    t.ok("WHATSAT x 10 5 then x 10 20: one request, the second answer has all 8 results")

    eq(whatsat(c, b"x", b"10.000", 3), ok_body(3), "WHATSAT x 10.000 3")
    n.expect(0, "radius 10.000 after radius 10")
    eq(whatsat(c, b"x", b"9", 3), ok_body(3), "WHATSAT x 9 3")
    n.expect(1, "radius 9 after radius 10")
    eq(fake.requests[-1].param("radius"), "9000", "radius of the new request")
    t.ok("the radius is part of the key (10 and 10.000 are one query, 9 another)")

    # Bound 0 first: the cached answer still has every result.
    iamat(c, b"y", b"+40.712800-74.006000")
    eq(whatsat(c, b"y", b"10", 0), ok_body(0), "WHATSAT y 10 0")
    eq(whatsat(c, b"y", b"10", 20), ok_body(20), "WHATSAT y 10 20 after WHATSAT y 10 0")
    n.expect(1, "WHATSAT y 10 0 then y 10 20")
    t.ok("WHATSAT y 10 0 then y 10 20: one request, the whole answer was kept")

    # Another client, another connection, the same place: the same answer.
    with srv.connect(timeout=10) as d:
        iamat(d, b"other.client", LOC, 1700000000)
        eq(whatsat(d, b"other.client", b"10", 7), ok_body(7), "another client at the same place")
    n.expect(0, "another client at the same location, from another connection")
    # Rounding to 4 decimals: 34.06886/-118.44514 is the same key as
    # 34.068930/-118.445127 (34.0689, -118.4451); 34.06894/-118.44516 is not.
    iamat(c, b"near", b"+34.06886-118.44514")
    eq(whatsat(c, b"near", b"10", 2), ok_body(2), "a client 8 m away (same 4 decimals)")
    n.expect(0, "a location that rounds to the same 4 decimals")
    iamat(c, b"apart", b"+34.06894-118.44516")
    eq(whatsat(c, b"apart", b"10", 2), ok_body(2), "a client at other 4 decimals")
    n.expect(1, "a location that rounds to other 4 decimals (-118.4452)")
    # A client that moves asks about its new place.
    iamat(c, b"x", b"+34.100000-118.445127", 1621464828)
    whatsat(c, b"x", b"10", 1)
    n.expect(1, "a client that moved")
    t.ok("the key is the location rounded to 4 decimals, whoever asks")

    # Only OK and ZERO_RESULTS are kept: each failing query asked twice goes
    # to the provider twice.
    for i, mode in enumerate(("denied", "overlimit", "http500", "malformed")):
        fake.set_mode(mode)
        cid = b"err%d" % i
        iamat(c, cid, b"+10.%04d+10.0" % i)
        s1 = status_of(whatsat(c, cid, b"10", 5))
        s2 = status_of(whatsat(c, cid, b"10", 20))
        n.expect(2, "the same failing query (mode %s) asked twice" % mode)
        check(s1 == s2 and s1 not in ("OK", "ZERO_RESULTS"),
              "mode %s answered %s then %s" % (mode, s1, s2))
        fake.set_mode("ok")
        eq(whatsat(c, cid, b"10", 4), ok_body(4), "the failed query once the provider is fine")
        n.expect(1, "the failed query (mode %s) once the provider is fine" % mode)
        eq(whatsat(c, cid, b"10", 6), ok_body(6), "the same query again")
        n.expect(0, "the same query, now answered OK, asked again")
        t.ok("%s (%s) is not cached: asked twice, two requests; the OK answer after it is"
             % (mode, s1))

    fake.set_mode("zero")
    iamat(c, b"zero", b"-10.0-10.0")
    zero = fakeplaces.pretty(fakeplaces.zero_body_object()).encode()
    eq(whatsat(c, b"zero", b"10", 5), zero, "ZERO_RESULTS answer")
    fake.set_mode("ok")
    eq(whatsat(c, b"zero", b"10", 5), zero, "the same query after the provider has results")
    n.expect(1, "ZERO_RESULTS, then the same query again")
    eq(whatsat(c, b"zero", b"20", 5), ok_body(5), "the same place, another radius")
    n.expect(1, "the same place, another radius")
    t.ok("ZERO_RESULTS is cached like OK")
    c.close()


def test_ttl(t, srv, fake, ttl):
    c = srv.connect(timeout=10)
    iamat(c, b"x", LOC)
    eq(whatsat(c, b"x", b"10", 5), ok_body(5), "first WHATSAT")
    first_answer = time.monotonic()
    reqs = fake.wait_requests(1, 5)
    eq(len(reqs), 1, "requests after the first WHATSAT")
    t_first = reqs[0].time
    # Re-ask until the cache lets a request through (deadline-polled).
    deadline = time.monotonic() + 10
    asks = []
    while len(fake.requests) < 2:
        if time.monotonic() > deadline:
            fail("no new request within 10 s with --places-cache-ttl %d (asked %d times)"
                 % (ttl, len(asks)))
        sent = time.monotonic()
        eq(whatsat(c, b"x", b"10", 3), ok_body(3), "WHATSAT while polling for expiry")
        asks.append((sent, len(fake.requests)))
        if len(fake.requests) < 2:
            time.sleep(0.03)        # pacing between asks, not a wait for an event
    t_second = fake.requests[1].time
    hits = [a for a in asks if a[1] == 1]
    check(t_second - t_first >= ttl / 1000.0 - 0.005,
          "the answer was asked again %.0f ms after the first request (TTL %d ms)"
          % ((t_second - t_first) * 1000, ttl))
    if asks[0][0] - first_answer < ttl / 1000.0 * 0.5:
        check(asks[0][1] == 1, "re-asked %.0f ms after the first answer, within the TTL of "
              "%d ms, and it went to the provider" % ((asks[0][0] - first_answer) * 1000, ttl))
    t.ok("--places-cache-ttl %d: %d answers from the cache, then a new request %.0f ms "
         "after the first" % (ttl, len(hits), (t_second - t_first) * 1000))
    c.close()


def test_size(t, srv, fake):
    c = srv.connect(timeout=10)
    n = Counter(fake)
    for cid, loc in ((b"a", b"+1.0+1.0"), (b"b", b"+2.0+2.0"), (b"c", b"+3.0+3.0")):
        iamat(c, cid, loc)
        whatsat(c, cid, b"10", 1)
    n.expect(3, "three places")
    whatsat(c, b"c", b"10", 2)
    n.expect(0, "the newest of three places, cache size 2")
    whatsat(c, b"a", b"10", 2)
    n.expect(1, "the oldest of three places, cache size 2")
    whatsat(c, b"c", b"10", 3)
    n.expect(0, "the newest place again")
    whatsat(c, b"b", b"10", 3)
    n.expect(1, "the place that had to go")
    t.ok("--places-cache-size 2: the oldest answer goes, the newest stays")
    c.close()


def test_shared_inflight(t, srv, fake, delay):
    """Identical queries in flight at once: one request, every client answered."""
    fake.set_mode("slow", delay=delay, then="ok")
    n = Counter(fake)
    clients = []
    # The same key: the same text, and locations equal to 4 decimals.
    locs = [LOC, LOC, b"+34.06893004-118.44512696", LOC, b"+34.06886-118.44514"]
    for i, loc in enumerate(locs):
        c = srv.connect(timeout=delay + 10)
        iamat(c, b"shared%d" % i, loc)
        clients.append(c)
    t0 = time.monotonic()
    for i, c in enumerate(clients):
        c.send(b"WHATSAT shared%d 10 %d\n" % (i, i + 1))
    # One connection also pipelines two identical queries.
    p = srv.connect(timeout=delay + 10)
    iamat(p, b"piped", LOC)
    p.send(b"WHATSAT piped 10 3\nWHATSAT piped 10 7\n")
    for i, c in enumerate(clients):
        at, body = c.read_whatsat(delay + 10)
        check(at != b"?", "shared%d: refused: %s" % (i, herdtest.show(body)))
        eq(body, ok_body(i + 1), "answer of client shared%d (bound %d)" % (i, i + 1))
    for bound in (3, 7):
        at, body = p.read_whatsat(delay + 10)
        check(at != b"?", "piped: refused: %s" % herdtest.show(body))
        eq(body, ok_body(bound), "pipelined identical query, bound %d" % bound)
    took = time.monotonic() - t0
    n.expect(1, "%d identical queries in flight at once" % (len(locs) + 2))
    check(took < 2 * delay, "the shared answers took %.2f s (provider delay %.1f s): were "
          "the queries asked one after another?" % (took, delay))
    t.ok("%d identical queries in flight (5 connections, 2 pipelined): one request, "
         "all answered in %.2f s" % (len(locs) + 2, took))

    # A shared failure reaches every waiter, and is not kept.
    fake.set_mode("slow", delay=delay, then="denied")
    for i, c in enumerate(clients[:3]):
        iamat(c, b"shared%d" % i, b"-20.0+30.0", 1621464828)
    for i, c in enumerate(clients[:3]):
        c.send(b"WHATSAT shared%d 5 %d\n" % (i, i + 1))
    for i, c in enumerate(clients[:3]):
        at, body = c.read_whatsat(delay + 10)
        eq(status_of(body), "REQUEST_DENIED", "shared failure, client shared%d" % i)
    n.expect(1, "3 identical queries in flight, the provider denies")
    fake.set_mode("ok")
    eq(whatsat(clients[0], b"shared0", b"5", 2), ok_body(2), "the query after the failure")
    n.expect(1, "the failed shared query asked again")
    t.ok("a shared failure reaches all 3 waiters and is not cached")
    for c in clients + [p]:
        c.close()


def test_max_inflight(t, srv, fake, limit, delay):
    fake.set_mode("slow", delay=delay, then="ok")
    fake.reset_max()
    n = Counter(fake)
    clients = []
    for i in range(6):
        c = srv.connect(timeout=10 + 6 * delay)
        iamat(c, b"lim%d" % i, b"+%d.5-%d.5" % (i + 1, i + 1))
        clients.append(c)
    t0 = time.monotonic()
    for i, c in enumerate(clients):
        c.send(b"WHATSAT lim%d 10 %d\n" % (i, i + 1))
    for i, c in enumerate(clients):
        at, body = c.read_whatsat(10 + 6 * delay)
        check(at != b"?", "lim%d: refused: %s" % (i, herdtest.show(body)))
        eq(body, ok_body(i + 1), "answer of client lim%d" % i)
    took = time.monotonic() - t0
    n.expect(6, "6 distinct queries")
    got = sorted(herdtest.location_param(r.param("location")) for r in fake.requests[-6:])
    eq(got, sorted((i + 1.5, -(i + 1.5)) for i in range(6)), "the 6 locations asked")
    check(fake.max_open <= limit, "%d requests were open at the provider at once "
          "(--places-max-inflight %d)" % (fake.max_open, limit))
    check(took >= 3 * delay * 0.9, "6 queries of %.1f s, %d at a time, all answered in %.2f s"
          % (delay, limit, took))
    t.ok("--places-max-inflight %d: 6 distinct slow queries, at most %d open at once, "
         "all 6 answered in %.2f s" % (limit, fake.max_open, took))

    # A query identical to one still waiting for a slot joins it.
    fake.reset_max()
    for i, (cid, loc) in enumerate(((b"lim0", b"+11.0+11.0"), (b"lim1", b"+12.0+12.0"),
                                    (b"lim2", b"+13.0+13.0"), (b"lim3", b"+13.0+13.0"))):
        iamat(clients[i], cid, loc, 1621464830)
    clients[0].send(b"WHATSAT lim0 10 1\n")
    clients[1].send(b"WHATSAT lim1 10 2\n")
    fake.wait_requests(n.seen + 2, 5)       # both slots taken
    clients[2].send(b"WHATSAT lim2 10 3\n")
    clients[3].send(b"WHATSAT lim3 10 4\n")
    for i in range(4):
        at, body = clients[i].read_whatsat(10 + 6 * delay)
        eq(body, ok_body(i + 1), "answer of client lim%d (round 2)" % i)
    n.expect(3, "2 queries in flight, then 2 identical queries queued behind them")
    check(fake.max_open <= limit, "%d requests open at once in round 2" % fake.max_open)
    t.ok("two identical queries queued behind the limit share one request (3 in all)")
    for c in clients:
        c.close()


def test_default_inflight(t, srv, fake, delay):
    """Without a limit set, the same 6 queries run at once (so the limit above
    is what kept them apart)."""
    fake.set_mode("slow", delay=delay, then="ok")
    fake.reset_max()
    clients = []
    for i in range(6):
        c = srv.connect(timeout=10 + 6 * delay)
        iamat(c, b"par%d" % i, b"-%d.5+%d.5" % (i + 1, i + 1))
        clients.append(c)
    t0 = time.monotonic()
    for i, c in enumerate(clients):
        c.send(b"WHATSAT par%d 10 1\n" % i)
    for i, c in enumerate(clients):
        at, body = c.read_whatsat(10 + 6 * delay)
        eq(body, ok_body(1), "answer of client par%d" % i)
    took = time.monotonic() - t0
    check(fake.max_open > 2, "with the default limit only %d requests were open at once"
          % fake.max_open)
    t.ok("default limit: %d of 6 slow queries open at once, answered in %.2f s"
         % (fake.max_open, took))
    for c in clients:
        c.close()


def main(t):
    ttl = 300
    delay = 0.6
    fa, fb, fc, fd, fe = (t.fakeplaces("ok") for _ in range(5))
    a = t.server("Alford", places=fa, places_timeout=2000)
    b = t.server("Bolden", places=fb, places_timeout=2000,
                 extra_args=["--places-cache-ttl", str(ttl)])
    cs = t.server("Campbell", places=fc, places_timeout=2000,
                  extra_args=["--places-cache-size", "2"])
    d = t.server("Hamilton", places=fd, places_timeout=5000)
    e = t.server("Holiday", places=fe, places_timeout=5000,
                 extra_args=["--places-max-inflight", "2"])
    t.start_all()

    test_basics(t, a, fa)
    test_ttl(t, b, fb, ttl)
    test_size(t, cs, fc)
    test_shared_inflight(t, d, fd, delay)
    test_max_inflight(t, e, fe, 2, delay)
    test_default_inflight(t, d, fd, delay)


if __name__ == "__main__":
    herdtest.run(main)
