#!/usr/bin/env python3
"""The google-new places provider (Places API (New), searchNearby), through
a loopback stand-in.

What the server sends: `POST <url>` with `Content-Type: application/json`,
`X-Goog-Api-Key: KEY`, the field mask header, and the body
`{"maxResultCount": 20, "locationRestriction": {"circle": {"center":
{"latitude": LAT, "longitude": LNG}, "radius": METRES}}}`; the key goes
nowhere else.  What the client gets: the answer turned into the legacy
Nearby Search shape (id -> place_id, displayName.text -> name, location ->
geometry.location, userRatingCount -> user_ratings_total, businessStatus ->
business_status, shortFormattedAddress else formattedAddress -> vicinity;
members geometry, name, place_id, rating, user_ratings_total,
business_status, types, vicinity), cut to the bound; `{}` is ZERO_RESULTS;
HTTP errors become the matching legacy status with the provider's message.
Without a key the server refuses to start (exit 78).
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import json

import fakeplaces
import herdtest
from herdtest import check, eq, fail, check_error_shape, whatsat

CID = b"kiwi.cs.ucla.edu"
LOC = b"+34.068930-118.445127"
KEY = "newkey-Zq81"


def close_to(got, want, what, tol=1e-6):
    check(isinstance(got, (int, float)) and not isinstance(got, bool),
          "%s should be a JSON number, got %r" % (what, got))
    check(abs(got - want) <= tol, "%s: expected %r (within %g), got %r" % (what, want, tol, got))


def check_request(r, lat, lng, metres, what):
    """One searchNearby request as the contract has it."""
    eq(r.method, "POST", what + ": method")
    eq(r.path, fakeplaces.NEW_PATH, what + ": path")
    eq(r.raw_query, "", what + ": query string (the key goes in a header)")
    eq(r.header("content-type"), "application/json", what + ": Content-Type")
    eq(r.header("x-goog-api-key"), KEY, what + ": X-Goog-Api-Key")
    eq(r.header("x-goog-fieldmask"), fakeplaces.NEW_FIELD_MASK, what + ": X-Goog-FieldMask")
    try:
        body = r.json()
    except ValueError as e:
        fail("%s: body is not JSON (%s): %s" % (what, e, herdtest.show(r.body)))
    check(isinstance(body, dict), "%s: body is not an object: %r" % (what, body))
    eq(sorted(body), ["locationRestriction", "maxResultCount"], what + ": body members")
    eq(body["maxResultCount"], 20, what + ": maxResultCount")
    check(isinstance(body["maxResultCount"], int), what + ": maxResultCount is not an integer")
    lr = body["locationRestriction"]
    check(isinstance(lr, dict) and list(lr) == ["circle"],
          "%s: locationRestriction should be {\"circle\": ...}, got %r" % (what, lr))
    circle = lr["circle"]
    check(isinstance(circle, dict) and sorted(circle) == ["center", "radius"],
          "%s: circle members: %r" % (what, circle))
    centre = circle["center"]
    check(isinstance(centre, dict) and sorted(centre) == ["latitude", "longitude"],
          "%s: center members: %r" % (what, centre))
    close_to(centre["latitude"], lat, what + ": center.latitude")
    close_to(centre["longitude"], lng, what + ": center.longitude")
    close_to(circle["radius"], metres, what + ": radius in metres", 1e-9)
    check(KEY.encode() not in r.body, "%s: the key is in the body" % what)
    return body


def main(t):
    fake = t.fakeplaces("new_ok")
    common = ["--places", "google-new", "--places-url", fake.new_url]
    srv = t.server("Alford", key=KEY, extra_args=common + ["--places-timeout", "5000"])
    t.start_all()
    c = srv.connect(timeout=15)
    c.send(b"IAMAT " + CID + b" " + LOC + b" 1621464827.959498503\n")
    at = c.read_line()

    # -- the request ---------------------------------------------------------
    got_at, body, _ = whatsat(c, CID, b"10", 5)
    reqs = fake.requests
    eq(len(reqs), 1, "number of provider requests for one WHATSAT")
    sent = check_request(reqs[0], 34.068930, -118.445127, 10000, "WHATSAT 10 5")
    t.ok("request: POST %s, Content-Type, X-Goog-Api-Key, X-Goog-FieldMask, body %s"
         % (reqs[0].path, json.dumps(sent)))

    # -- OK answers ----------------------------------------------------------
    eq(got_at, at, "first line of the WHATSAT reply")
    eq(body, fakeplaces.new_expected_whatsat_json(5).encode(),
       "WHATSAT 10 5 answer (places mapped to the legacy shape, cut to 5)")
    t.ok("answer mapped to the legacy shape, member order geometry, name, place_id, "
         "rating, user_ratings_total, business_status, types, vicinity; cut to 5")

    for bound in (0, 1, 9, 20):
        _, body, _ = whatsat(c, CID, b"10", bound)
        eq(body, fakeplaces.new_expected_whatsat_json(bound).encode(),
           "answer with bound %d" % bound)
    eq(len(fake.requests), 1, "provider requests after the same query with other bounds "
       "(the answer is cached, the bound cut after it)")
    obj = json.loads(body)
    by_id = {r["place_id"]: r for r in obj["results"]}
    eq(by_id["ChIJq8Nj5Ia8woAR0L0R0w9cT4E"]["rating"], 4, "an integer rating stays an integer")
    check("vicinity" not in by_id["ChIJ7zE0mYS8woARpZ2QmPq0zQk"],
          "a place without any address should have no vicinity: %r"
          % by_id["ChIJ7zE0mYS8woARpZ2QmPq0zQk"])
    eq(by_id["ChIJN0na1RS8woARD4d9RvxxYbE"]["vicinity"], "Los Angeles, CA 90095, USA",
       "vicinity from formattedAddress when there is no shortFormattedAddress")
    eq(by_id["ChIJ2xJ9-4W8woARiUxkE8Cq3tA"]["vicinity"], "10745 Dickson Ct, Los Angeles",
       "vicinity from shortFormattedAddress")
    eq(by_id["ChIJwholeDegreesOnly0000000"]["geometry"]["location"], {"lat": 34, "lng": -118},
       "integer coordinates")
    t.ok("bounds 0, 1, 9, 20 from one request; integer rating kept, vicinity from "
         "shortFormattedAddress else formattedAddress, none without an address")

    for radius, metres in ((b"0.5", 500), (b"50", 50000), (b"1.25", 1250), (b"0", 0)):
        before = len(fake.requests)
        _, body, _ = whatsat(c, CID, radius, 2)
        eq(len(fake.requests), before + 1, "requests after a new radius %s km" % radius.decode())
        check_request(fake.requests[-1], 34.068930, -118.445127, metres,
                      "WHATSAT %s 2" % radius.decode())
        eq(body, fakeplaces.new_expected_whatsat_json(2).encode(), "answer for radius %s"
           % radius.decode())
    t.ok("radius in metres as a JSON number: 0.5->500, 50->50000, 1.25->1250, 0->0")

    for cid, loc, lat, lng in ((b"sydney", b"-33.8670522+151.1957362", -33.8670522, 151.1957362),
                               (b"whole", b"+34-118", 34.0, -118.0),
                               (b"edge", b"-90.0+180.0", -90.0, 180.0)):
        c.send(b"IAMAT %s %s 1621464827\n" % (cid, loc))
        c.read_line()
        before = len(fake.requests)
        whatsat(c, cid, b"1", 1)
        eq(len(fake.requests), before + 1, "requests for a client at %s" % loc.decode())
        check_request(fake.requests[-1], lat, lng, 1000, "client at %s" % loc.decode())
    t.ok("center latitude/longitude as JSON numbers for -33.8670522+151.1957362, +34-118, "
         "-90.0+180.0")

    # -- empty answers ---------------------------------------------------------
    fresh_n = [0]

    def fresh_client():
        fresh_n[0] += 1
        cid = b"fresh%d.example" % fresh_n[0]
        c.send(b"IAMAT %s +35.%04d-117.5 1621464827\n" % (cid, fresh_n[0]))
        c.read_line()
        return cid

    zero = fakeplaces.pretty({"html_attributions": [], "results": [],
                              "status": "ZERO_RESULTS"}).encode()
    for mode, what in (("new_zero", "{}"), ("new_empty", '{"places": []}')):
        fake.set_mode(mode)
        _, body, _ = whatsat(c, fresh_client(), b"10", 5)
        eq(body, zero, "answer to %s" % what)
        t.ok("%s -> ZERO_RESULTS" % what)

    # -- failures --------------------------------------------------------------
    def failure(mode, status, message=None):
        fake.set_mode(mode)
        cid = fresh_client()
        before = len(fake.requests)
        _, body, took = whatsat(c, cid, b"10", 5)
        eq(len(fake.requests), before + 1, "requests for mode %s" % mode)
        msg = check_error_shape(body, status, "provider mode %s" % mode)
        if message is not None:
            eq(msg, message, "error_message for mode %s (the provider's message)" % mode)
        return cid, msg

    for mode, (code, rpc, message, status) in sorted(fakeplaces.NEW_ERRORS.items()):
        _, msg = failure(mode, status, message)
        t.ok("HTTP %d %s -> %s with the provider's message" % (code, rpc, status))
    for mode in ("new_http429", "new_http502"):
        code, _, status = fakeplaces.PLAIN_ERRORS[mode]
        _, msg = failure(mode, status)
        t.ok("HTTP %d without an error object -> %s with error_message %r"
             % (code, status, msg))
    cid, msg = failure("new_malformed", "UNKNOWN_ERROR")
    t.ok("HTTP 200 with a body that is not JSON -> UNKNOWN_ERROR with %r" % msg)

    # A failure is not cached: the same query asks again, and gets the OK
    # answer once the provider is fine.
    before = len(fake.requests)
    _, body, _ = whatsat(c, cid, b"10", 5)
    eq(len(fake.requests), before + 1, "requests when a failed query is asked again")
    check_error_shape(body, "UNKNOWN_ERROR", "the failed query asked again")
    fake.set_mode("new_ok")
    _, body, _ = whatsat(c, cid, b"10", 3)
    eq(len(fake.requests), before + 2, "requests when the failed query is asked a third time")
    eq(body, fakeplaces.new_expected_whatsat_json(3).encode(), "OK answer after the failures")
    t.ok("failures are not cached; the same connection gets OK answers again")
    c.close()

    # -- no key ------------------------------------------------------------------
    before = len(fake.requests)
    for key, what in ((None, "no HERD_PLACES_KEY"), ("", "an empty HERD_PLACES_KEY")):
        port, pport = herdtest.free_ports(2)
        code, out, err = t.run_once(
            ["Hamilton", "--listen", "127.0.0.1:%d" % port,
             "--peer-listen", "127.0.0.1:%d" % pport] + common,
            env=herdtest.server_env(key=key))
        eq(code, 78, "exit code of herd-server --places google-new with %s (stderr %s)"
           % (what, herdtest.show(err)))
        check(b"HERD_PLACES_KEY" in err, "the message for %s should name HERD_PLACES_KEY: %s"
              % (what, herdtest.show(err)))
        check(err.endswith(b"\n") and err.count(b"\n") == 1,
              "the message for %s should be one line: %s" % (what, herdtest.show(err)))
        t.ok("google-new with %s -> exit 78: %s"
             % (what, err.decode("utf-8", "replace").strip()))
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
    t.ok("the key appears in no log or stderr file")


if __name__ == "__main__":
    herdtest.run(main)
