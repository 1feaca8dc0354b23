#!/usr/bin/env python3
"""The google places provider, through a loopback stand-in.

What the server asks (path, location, radius in metres, key) and what it
answers: the provider's answer with results cut to the bound in provider
order, or, on any provider failure, the error shape

    {"html_attributions" : [], "results" : [], "status" : S, "error_message" : M}

with S the provider's status (REQUEST_DENIED, OVER_QUERY_LIMIT), UNKNOWN_ERROR
otherwise.  The client never hangs and the key never reaches the server's log.
Good answers are cached (so every failure below is asked at a location never
asked before); a server for this provider refuses to start without a key
(exit 78, one line on stderr naming HERD_PLACES_KEY).
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import json

import fakeplaces
import herdtest
from herdtest import check, eq, fail, free_port, check_error_shape, whatsat

CID = b"kiwi.cs.ucla.edu"
LOC = b"+34.068930-118.445127"
KEY = "testkey"
TIMEOUT_MS = 1000


def main(t):
    fake = t.fakeplaces("ok")
    # A timeout short enough for the slow case, long enough for a loaded
    # machine to answer the others.
    srv = t.server("Alford", places=fake, places_timeout=TIMEOUT_MS)
    refused_port = free_port()
    dead = t.server("Bolden", places_url="http://127.0.0.1:%d/maps/api/place/nearbysearch/json"
                    % refused_port, places_timeout=500)
    t.start_all()
    c = srv.connect(timeout=15)
    c.send(b"IAMAT " + CID + b" " + LOC + b" 1621464827.959498503\n")
    at = c.read_line()

    # -- the request ---------------------------------------------------------
    got_at, body, _ = whatsat(c, CID, b"10", 5)
    reqs = fake.requests
    eq(len(reqs), 1, "number of provider requests for one WHATSAT")
    r = reqs[0]
    eq(r.method, "GET", "request method")
    eq(r.path, fakeplaces.PATH, "request path")
    eq(r.param("location"), "34.068930,-118.445127", "location parameter")
    eq(r.param("radius"), "10000", "radius parameter for 10 km")
    eq(r.param("key"), KEY, "key parameter")
    t.ok("request: GET %s?location=34.068930,-118.445127&radius=10000&key=testkey" % r.path)

    # -- OK answers ----------------------------------------------------------
    eq(got_at, at, "first line of the WHATSAT reply")
    eq(body, fakeplaces.expected_whatsat_json(5).encode(), "WHATSAT 10 5 answer (OK, cut to 5)")
    names = [x["name"] for x in json.loads(body)["results"]]
    eq(names, [x["name"] for x in fakeplaces.ok_results()[:5]], "result order")
    t.ok("OK answer cut to the bound (5 of 8), provider order, Google's layout")

    for bound in (0, 1, 8, 20):
        _, body, _ = whatsat(c, CID, b"10", bound)
        eq(body, fakeplaces.expected_whatsat_json(bound).encode(), "answer with bound %d" % bound)
    t.ok("bounds 0, 1, 8, 20 give min(bound, 8) results, other members kept")

    fake.clear()
    for radius, metres in ((b"0.5", 500), (b"50", 50000), (b"1.25", 1250), (b"0", 0),
                           (b"7.000", 7000)):
        before = len(fake.requests)
        whatsat(c, CID, radius, 1)
        eq(len(fake.requests), before + 1,
           "provider requests after WHATSAT with a radius not asked before (%s km)"
           % radius.decode())
        r = fake.requests[-1]
        check(r.param("radius") == str(metres),
              "radius %s km should go as radius=%d, got radius=%s"
              % (radius.decode(), metres, r.param("radius")))
    t.ok("radius in metres without a trailing .0: 0.5->500, 50->50000, 1.25->1250, 0->0, 7.000->7000")

    # Other coordinates: sign dropped only where it is '+'.
    c.send(b"IAMAT sydney -33.8670522+151.1957362 1621464827\n")
    c.read_line()
    whatsat(c, b"sydney", b"1", 1)
    r = fake.requests[-1]
    eq(herdtest.location_param(r.param("location")), (-33.8670522, 151.1957362),
       "location parameter for -33.8670522+151.1957362 (%s)" % r.param("location"))
    raw_loc = [p for p in r.raw_query.split("&") if p.startswith("location=")]
    eq(len(raw_loc), 1, "location parameters in %s" % r.raw_query)
    check("+" not in raw_loc[0] and "%2b" not in raw_loc[0].lower(),
          "a '+' sign went to the provider: %s" % r.raw_query)
    c.send(b"IAMAT whole +34-118 1621464827\n")
    c.read_line()
    whatsat(c, b"whole", b"1", 1)
    eq(herdtest.location_param(fake.requests[-1].param("location")), (34.0, -118.0),
       "location parameter for +34-118")
    t.ok("coordinates go without '+': %s" % r.param("location"))

    # -- failures ------------------------------------------------------------
    # Good answers are cached by location and radius: each case below asks
    # about a client at a location never asked before.
    fresh_n = [0]
    last = [None]

    def fresh_client():
        fresh_n[0] += 1
        cid = b"fresh%d.example" % fresh_n[0]
        c.send(b"IAMAT %s +35.%04d-117.5 1621464827\n" % (cid, fresh_n[0]))
        c.read_line()
        last[0] = cid
        return cid

    def failure(mode, status, **kw):
        fake.set_mode(mode, **kw)
        before = len(fake.requests)
        _, body, took = whatsat(c, fresh_client(), b"10", 5)
        check(len(fake.requests) > before, "provider mode %s: no request reached the "
              "provider" % mode)
        msg = check_error_shape(body, status, "provider mode %s" % mode)
        t.ok("%s -> %s with error_message %r (%.0f ms)" % (mode, status, msg, took * 1000))
        return took

    fake.set_mode("zero")
    _, body, _ = whatsat(c, fresh_client(), b"10", 5)
    eq(body, fakeplaces.pretty(fakeplaces.zero_body_object()).encode(), "ZERO_RESULTS answer")
    t.ok("ZERO_RESULTS passes through as a valid empty answer")

    failure("denied", "REQUEST_DENIED")
    failure("overlimit", "OVER_QUERY_LIMIT")
    failure("http500", "UNKNOWN_ERROR")
    failure("malformed", "UNKNOWN_ERROR")
    took = failure("slow", "UNKNOWN_ERROR", delay=5.0)
    check(took < TIMEOUT_MS / 1000.0 + 2, "answer after a provider timeout of %d ms took "
          "%.2f s" % (TIMEOUT_MS, took))
    failure("huge", "UNKNOWN_ERROR", huge_size=8 * 1024 * 1024)

    # The connection and the server are fine after all failures, and the
    # query that failed last is asked again (failures are not cached).
    fake.set_mode("ok")
    before = len(fake.requests)
    _, body, _ = whatsat(c, last[0], b"10", 2)
    eq(body, fakeplaces.expected_whatsat_json(2).encode(), "OK answer after the failures")
    eq(len(fake.requests), before + 1, "provider requests for the query that failed last")
    t.ok("after the failures the same connection gets OK answers again")
    c.close()

    # Connection refused.
    with dead.connect(timeout=10) as d:
        d.send(b"IAMAT " + CID + b" " + LOC + b" 1621464827.959498503\n")
        d.read_line()
        _, body, took = whatsat(d, CID, b"10", 5)
        msg = check_error_shape(body, "UNKNOWN_ERROR", "connection refused")
    t.ok("connection refused -> UNKNOWN_ERROR with error_message %r (%.0f ms)" % (msg, took * 1000))

    # No key in the environment, or an empty one: the server refuses to start
    # (78, EX_CONFIG) with one line naming HERD_PLACES_KEY, and asks nothing.
    before = len(fake.requests)
    for key, what in ((None, "no HERD_PLACES_KEY"), ("", "an empty HERD_PLACES_KEY")):
        port, pport = herdtest.free_ports(2)
        code, out, err = t.run_once(
            ["Hamilton", "--listen", "127.0.0.1:%d" % port,
             "--peer-listen", "127.0.0.1:%d" % pport,
             "--places", "google", "--places-url", fake.url, "--places-timeout", "500"],
            env=herdtest.server_env(key=key))
        eq(code, 78, "exit code of herd-server --places google with %s (stderr %s)"
           % (what, herdtest.show(err)))
        eq(out, b"", "stdout of herd-server --places google with %s" % what)
        check(b"HERD_PLACES_KEY" in err, "the message for %s should name HERD_PLACES_KEY: %s"
              % (what, herdtest.show(err)))
        check(err.endswith(b"\n") and err.count(b"\n") == 1,
              "the message for %s should be one line: %s" % (what, herdtest.show(err)))
        t.ok("%s -> exit 78 with %r" % (what, err.decode("utf-8", "replace").strip()))
    eq(len(fake.requests), before, "provider requests from servers without a key")

    # The key never appears in the logs (nor on stderr).
    t.stop_all()
    for s in t.servers:
        for path in [s.log_path] + [s.stderr_path(i) for i in range(1, s.starts + 1)]:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            check(KEY.encode() not in data, "the API key appears in %s" % path)
    check(srv.log_size() > 0, "the server wrote no log at all")
    t.ok("the key appears in no log or stderr file")


if __name__ == "__main__":
    herdtest.run(main)
