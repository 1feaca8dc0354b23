#!/usr/bin/env python3
"""200 pipelined lines in one send: replies come back in request order.

The places stand-in answers each request after 300 ms (under the server's
places timeout), so every WHATSAT waits on the network while later IAMATs and
invalid lines do not; the replies must still come back in the order of the
requests.  A WHATSAT answers from the record the server held when it read
the WHATSAT, as if the lines had been sent one at a time: its AT line is the
one current at that point of the stream, and the provider is asked about
that record's location.  Identical (location, radius) queries share one
provider request (in flight together, or through the answer cache), so the
provider sees each distinct (location, radius) exactly once.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import collections
import random
import time

import fakeplaces
import herdtest
from herdtest import eq, fail, split_at

N_LINES = 200
DELAY = 0.3
RADIUS_M = {b"10": "10000", b"0.5": "500", b"50": "50000", b"1.25": "1250", b"0": "0"}


def build(rng):
    """The request lines and, for each, what the model expects.

    Expectations: ('at', cid, loc) for an accepted IAMAT,
    ('stale', cid) for a stale IAMAT, ('whatsat', cid, bound, radius) for a
    WHATSAT of a known client, ('?',) for an invalid line, None for a blank
    line.
    """
    clients = [b"pipe%d.cs.ucla.edu" % i for i in range(8)]
    state = {}       # cid -> (time int seconds, loc)
    base = 1621464827
    out = []
    invalid = [b"HELLO world", b"IAMAT x +34-118", b"WHATSAT x 10", b"iamat a +1-1 1",
               b"IAMAT a 34-118 1621464827", b"IAMAT a +34-118 1.6e9", b"FOO",
               b"AT Alford +0.000000001 a +1-1 1621464827"]
    while len(out) < N_LINES:
        r = rng.random()
        cid = rng.choice(clients)
        if r < 0.30 or not state:
            t = state.get(cid, (base, None))[0] + rng.randint(1, 5)
            loc = b"%+.6f%+.6f" % (rng.uniform(-89, 89), rng.uniform(-179, 179))
            out.append((b"IAMAT %s %s %d.%09d" % (cid, loc, t, rng.randint(0, 999999999)),
                        ("at", cid, loc)))
            state[cid] = (t, loc)
        elif r < 0.38 and cid in state:
            t = state[cid][0] - rng.randint(1, 3)
            out.append((b"IAMAT %s +1.5-2.5 %d.5" % (cid, t), ("stale", cid)))
        elif r < 0.58:
            if cid in state:
                bound = rng.randint(0, 20)
                radius = rng.choice([b"10", b"0.5", b"50", b"1.25", b"0"])
                out.append((b"WHATSAT %s %s %d" % (cid, radius, bound),
                            ("whatsat", cid, bound, radius)))
                if rng.random() < 0.5:
                    # Update the same client right behind the WHATSAT.
                    t = state[cid][0] + 1
                    loc = b"%+.4f%+.4f" % (rng.uniform(-89, 89), rng.uniform(-179, 179))
                    out.append((b"IAMAT %s %s %d" % (cid, loc, t), ("at", cid, loc)))
                    state[cid] = (t, loc)
            else:
                out.append((b"WHATSAT %s 10 5" % cid, ("?",)))
        elif r < 0.66:
            out.append((b"", None))
        else:
            out.append((rng.choice(invalid), ("?",)))
    return out[:N_LINES]


def main(t):
    fake = t.fakeplaces("slow", delay=DELAY)
    srv = t.server("Alford", places=fake, places_timeout=5000)
    t.start_all()

    lines = build(random.Random(20210519))
    n_whatsat = sum(1 for _, e in lines if e and e[0] == "whatsat")
    n_iamat = sum(1 for _, e in lines if e and e[0] in ("at", "stale"))
    n_bad = sum(1 for _, e in lines if e and e[0] == "?")
    payload = b"".join(l + (b"\r\n" if i % 7 == 3 else b"\n") for i, (l, _) in enumerate(lines))
    t.note("%d lines: %d IAMAT, %d WHATSAT, %d invalid, %d blank; provider delay %.0f ms"
           % (len(lines), n_iamat, n_whatsat, n_bad, len(lines) - n_iamat - n_whatsat - n_bad,
              DELAY * 1000))

    c = srv.connect(timeout=60)
    t0 = time.monotonic()
    c.send(payload)
    stored = {}
    expected_queries = collections.Counter()   # (location, radius in metres)
    first_at = None
    for i, (line, exp) in enumerate(lines):
        if exp is None:
            continue
        kind = exp[0]
        what = "reply #%d to %s" % (i, herdtest.show(line))
        if kind == "?":
            eq(c.read_line(), b"? " + line, what)
        elif kind == "at":
            got = c.read_line()
            if got.startswith(b"? "):
                fail("%s: refused" % what)
            f = split_at(got)
            eq(f[1], b"Alford", what + ", field 2")
            herdtest.diff_ns(f[2])
            eq(b" ".join(f[3:]), line.split(b" ", 1)[1], what + ", fields 4-6")
            stored[exp[1]] = got
        elif kind == "stale":
            eq(c.read_line(), stored[exp[1]], what + " (stale: the stored line)")
        elif kind == "whatsat":
            at, body = c.read_whatsat()
            if at == b"?":
                fail("%s: refused: %s" % (what, herdtest.show(body)))
            if first_at is None:
                first_at = time.monotonic() - t0
            if at != stored[exp[1]]:
                later = [l for l in lines[i + 1:] if l[0].startswith(b"IAMAT " + exp[1] + b" ")]
                hint = (" (the server used a record that arrived after this WHATSAT)"
                        if later else "")
                eq(at, stored[exp[1]], what + ", AT line" + hint)
            eq(body, fakeplaces.expected_whatsat_json(exp[2]).encode(), what + ", JSON")
            loc = split_at(at)[4]
            expected_queries[(herdtest.location_value(loc), RADIUS_M[exp[3]])] += 1
    total = time.monotonic() - t0
    c.expect_nothing(0.2)
    c.close()
    t.ok("%d pipelined lines answered in request order (%.2f s total, %d WHATSATs "
         "at %.0f ms each)" % (len(lines), total, n_whatsat, DELAY * 1000))

    # The provider was asked about the location each WHATSAT saw, and about
    # each distinct (location, radius) exactly once.
    got = collections.Counter()
    for r in fake.requests:
        got[(herdtest.location_param(r.param("location")), r.param("radius"))] += 1
    eq(sorted(set(l for l, _ in got)), sorted(set(l for l, _ in expected_queries)),
       "the set of locations the provider was asked about")
    eq(sorted(got), sorted(expected_queries),
       "the set of (location, radius) the provider was asked about")
    repeated = {k: n for k, n in got.items() if n != 1}
    eq(repeated, {}, "(location, radius) queries the provider was asked more than once")
    shared = sum(expected_queries.values()) - len(expected_queries)
    t.ok("%d provider requests for %d WHATSATs: each distinct (location, radius) asked "
         "once, at the location current when the WHATSAT was read (%d shared)"
         % (len(fake.requests), n_whatsat, shared))
    if total < n_whatsat * DELAY * 0.8:
        t.note("provider requests overlapped (total %.2f s < %d x %.1f s)"
               % (total, n_whatsat, DELAY))
    else:
        t.note("provider requests ran one after another (total %.2f s)" % total)


if __name__ == "__main__":
    herdtest.run(main)
