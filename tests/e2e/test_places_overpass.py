#!/usr/bin/env python3
"""The overpass places provider (OpenStreetMap, keyless), through a loopback
stand-in.

What the server sends: `POST <url>` with `Content-Type:
application/x-www-form-urlencoded` and the body `data=<urlencoded Overpass
QL>`, the query holding `around:RADIUS,LAT,LNG`, `["name"]`, the
amenity|shop|tourism|leisure filter and `out center 200;`.  What the client
gets: named elements in the legacy shape (geometry.location from lat/lon or
center, name, place_id `osm:<type>/<id>`, types = the amenity, shop, tourism
and leisure values then point_of_interest and establishment, vicinity from
the addr: tags), nearest to the client first, at most 20 kept before the
bound, with `html_attributions` ["© OpenStreetMap contributors"].  HTTP 429
is OVER_QUERY_LIMIT, any other HTTP error UNKNOWN_ERROR, an empty answer with
an error remark UNKNOWN_ERROR with the remark as error_message.  No key is
needed, and a key in the environment goes nowhere.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import json
import re

import fakeplaces
import herdtest
from herdtest import check, eq, fail, check_error_shape, whatsat

CID = b"kiwi.cs.ucla.edu"
LOC = b"+34.068930-118.445127"
LAT, LNG = 34.068930, -118.445127
KEY = "unused-key-Pw3"
AROUND_RE = re.compile(r"around:([0-9]+(?:\.[0-9]+)?),(-?[0-9]+(?:\.[0-9]+)?),"
                       r"(-?[0-9]+(?:\.[0-9]+)?)\)")


def check_request(r, lat, lng, metres, what):
    """One interpreter request as the contract has it; returns the query."""
    eq(r.method, "POST", what + ": method")
    eq(r.path, fakeplaces.OVERPASS_PATH, what + ": path")
    eq(r.header("content-type"), "application/x-www-form-urlencoded", what + ": Content-Type")
    check(r.body.startswith(b"data="), "%s: body should start with data=: %s"
          % (what, herdtest.show(r.body)))
    check(re.match(rb"^data=[A-Za-z0-9._~%+-]*$", r.body),
          "%s: the query is not urlencoded: %s" % (what, herdtest.show(r.body)))
    try:
        form = r.form()
    except ValueError as e:
        fail("%s: body is not a form (%s): %s" % (what, e, herdtest.show(r.body)))
    eq(sorted(form), ["data"], what + ": form fields")
    eq(len(form["data"]), 1, what + ": data fields")
    q = form["data"][0]
    m = AROUND_RE.search(q)
    check(m, "%s: no around:RADIUS,LAT,LNG in the query %r" % (what, q))
    got = tuple(float(x) for x in m.groups())
    check(abs(got[0] - metres) < 1e-6 and abs(got[1] - lat) < 1e-6 and abs(got[2] - lng) < 1e-6,
          "%s: around:%s,%s,%s in %r, expected radius %r lat %r lng %r"
          % (what, m.group(1), m.group(2), m.group(3), q, metres, lat, lng))
    for part in ('["name"]', "amenity|shop|tourism|leisure", "out center 200;", "[out:json]"):
        check(part in q, "%s: %r is not in the query %r" % (what, part, q))
    check(KEY not in q and KEY.encode() not in r.body, "%s: the key is in the body" % what)
    check(KEY not in r.raw_query and KEY not in r.path, "%s: the key is in the URL" % what)
    check(all(KEY not in v for v in r.headers.values()), "%s: the key is in a header" % what)
    return q


def main(t):
    fake = t.fakeplaces("osm_ok")
    common = ["--places", "overpass", "--places-url", fake.overpass_url]
    srv = t.server("Alford", key=None, extra_args=common + ["--places-timeout", "5000"])
    keyed = t.server("Bolden", key=KEY, extra_args=common + ["--places-timeout", "5000"])
    t.start_all()
    t.ok("overpass starts without HERD_PLACES_KEY")
    c = srv.connect(timeout=15)
    c.send(b"IAMAT " + CID + b" " + LOC + b" 1621464827.959498503\n")
    at = c.read_line()

    # -- the request and the answer -------------------------------------------
    got_at, body, _ = whatsat(c, CID, b"10", 20)
    reqs = fake.requests
    eq(len(reqs), 1, "number of provider requests for one WHATSAT")
    q = check_request(reqs[0], LAT, LNG, 10000, "WHATSAT 10 20")
    t.ok("request: POST %s, form-urlencoded data=%r" % (reqs[0].path, q))

    eq(got_at, at, "first line of the WHATSAT reply")
    want = fakeplaces.osm_expected_whatsat_json(20, LAT, LNG)
    eq(body, want.encode(), "WHATSAT 10 20 answer (26 named elements, 3 nameless)")
    results = json.loads(body)["results"]
    eq(len(results), 20, "results kept of 26 named elements")
    dist = [fakeplaces.haversine_m(LAT, LNG, r["geometry"]["location"]["lat"],
                                   r["geometry"]["location"]["lng"]) for r in results]
    check(dist == sorted(dist), "results are not nearest first: %r" % dist)
    check(all("name" in r for r in results), "a result without a name")
    eq(json.loads(body)["html_attributions"], [fakeplaces.OSM_ATTRIBUTION], "html_attributions")
    t.ok("20 nearest named elements of 26 (%.0f m to %.0f m), nameless skipped, "
         "OSM attribution, legacy layout" % (dist[0], dist[-1]))

    by_id = {r["place_id"]: r for r in results}
    eq(by_id["osm:way/9201"]["geometry"]["location"], {"lat": 34.063730, "lng": -118.446727},
       "a way's location from its center")
    eq(by_id["osm:relation/7301"]["types"],
       ["museum", "garden", "point_of_interest", "establishment"],
       "types of an element tagged tourism=museum and leisure=garden")
    eq(by_id["osm:node/8104"]["types"],
       ["ice_cream", "bakery", "point_of_interest", "establishment"],
       "types of an element tagged amenity=ice_cream and shop=bakery")
    eq(by_id["osm:node/8104"]["vicinity"], "926 Broxton Avenue, Los Angeles",
       "vicinity from addr:housenumber, addr:street and addr:city")
    eq(by_id["osm:way/9201"]["vicinity"], "Westwood Plaza, Los Angeles",
       "vicinity from addr:street and addr:city")
    eq(by_id["osm:node/8103"]["vicinity"], "Westwood Plaza", "vicinity from addr:street")
    eq(by_id["osm:relation/7301"]["vicinity"], "Los Angeles", "vicinity from addr:city")
    check("vicinity" not in by_id["osm:way/9202"], "no vicinity without addr: tags: %r"
          % by_id["osm:way/9202"])
    check(not any(r["place_id"] in ("osm:node/8001", "osm:node/8002", "osm:way/9001")
                  for r in results), "a nameless element is in the results")
    t.ok("place_id osm:<type>/<id>, center for ways and relations, types, vicinity")

    for bound in (0, 1, 5, 19):
        _, body, _ = whatsat(c, CID, b"10", bound)
        eq(body, fakeplaces.osm_expected_whatsat_json(bound, LAT, LNG).encode(),
           "answer with bound %d" % bound)
    eq(len(fake.requests), 1, "provider requests after the same query with other bounds")
    t.ok("bounds 0, 1, 5, 19 cut the same cached answer (one request)")

    # Another client, 1.5 km north-east: the same elements, another order.
    c.send(b"IAMAT ne.example +34.079000-118.430000 1621464827\n")
    c.read_line()
    _, body, _ = whatsat(c, b"ne.example", b"5", 20)
    eq(len(fake.requests), 2, "provider requests after a client at another location")
    check_request(fake.requests[-1], 34.079, -118.43, 5000, "client at +34.079000-118.430000")
    eq(body, fakeplaces.osm_expected_whatsat_json(20, 34.079, -118.43).encode(),
       "answer for a client at +34.079000-118.430000 (sorted from there)")
    t.ok("sorted by distance from the client asking: first %r, last %r"
         % (json.loads(body)["results"][0]["name"], json.loads(body)["results"][-1]["name"]))

    for radius, metres in ((b"0.5", 500), (b"50", 50000), (b"1.25", 1250), (b"0", 0)):
        before = len(fake.requests)
        whatsat(c, CID, radius, 1)
        eq(len(fake.requests), before + 1, "requests after a new radius %s km" % radius.decode())
        check_request(fake.requests[-1], LAT, LNG, metres, "WHATSAT %s 1" % radius.decode())
    t.ok("around: radius in metres: 0.5->500, 50->50000, 1.25->1250, 0->0")

    # -- empty answers and failures ---------------------------------------------
    fresh_n = [0]

    def fresh_client():
        fresh_n[0] += 1
        cid = b"fresh%d.example" % fresh_n[0]
        c.send(b"IAMAT %s +48.%04d+2.35 1621464827\n" % (cid, fresh_n[0]))
        c.read_line()
        return cid

    zero = fakeplaces.pretty({"html_attributions": [fakeplaces.OSM_ATTRIBUTION],
                              "results": [], "status": "ZERO_RESULTS"}).encode()
    for mode, what in (("osm_zero", "no elements"),
                       ("osm_remark_info", "no elements and a remark without an error")):
        fake.set_mode(mode)
        before = len(fake.requests)
        _, body, _ = whatsat(c, fresh_client(), b"10", 5)
        eq(len(fake.requests), before + 1, "requests for mode %s" % mode)
        eq(body, zero, "answer to %s" % what)
        t.ok("%s -> ZERO_RESULTS" % what)

    def failure(mode, status, message=None):
        fake.set_mode(mode)
        cid = fresh_client()
        before = len(fake.requests)
        _, body, _ = whatsat(c, cid, b"10", 5)
        eq(len(fake.requests), before + 1, "requests for mode %s" % mode)
        msg = check_error_shape(body, status, "provider mode %s" % mode)
        if message is not None:
            eq(msg, message, "error_message for mode %s" % mode)
        return cid, msg

    cid, msg = failure("osm_remark", "UNKNOWN_ERROR", fakeplaces.OSM_REMARK)
    t.ok("no elements and a runtime-error remark -> UNKNOWN_ERROR with the remark")
    for mode in ("osm_http429", "osm_http504", "osm_http400"):
        code, _, status = fakeplaces.PLAIN_ERRORS[mode]
        cid, msg = failure(mode, status)
        t.ok("HTTP %d -> %s with error_message %r" % (code, status, msg))
    cid, msg = failure("osm_malformed", "UNKNOWN_ERROR")
    t.ok("HTTP 200 with a body that is not JSON -> UNKNOWN_ERROR with %r" % msg)

    before = len(fake.requests)
    _, body, _ = whatsat(c, cid, b"10", 5)
    eq(len(fake.requests), before + 1, "requests when a failed query is asked again")
    check_error_shape(body, "UNKNOWN_ERROR", "the failed query asked again")
    fake.set_mode("osm_ok")
    c.send(b"IAMAT %s +34.068930-118.445127 1621464828\n" % cid)
    c.read_line()
    _, body, _ = whatsat(c, cid, b"7", 4)
    eq(body, fakeplaces.osm_expected_whatsat_json(4, LAT, LNG).encode(),
       "OK answer after the failures")
    t.ok("failures are not cached; the same connection gets OK answers again")
    c.close()

    # -- a key in the environment goes nowhere ------------------------------------
    before = len(fake.requests)
    with keyed.connect(timeout=10) as d:
        d.send(b"IAMAT " + CID + b" " + LOC + b" 1621464827.959498503\n")
        d.read_line()
        _, body, _ = whatsat(d, CID, b"10", 3)
        eq(body, fakeplaces.osm_expected_whatsat_json(3, LAT, LNG).encode(),
           "answer from a server with a key in its environment")
    eq(len(fake.requests), before + 1, "requests from the second server")
    check_request(fake.requests[-1], LAT, LNG, 10000, "server with HERD_PLACES_KEY set")
    t.ok("with HERD_PLACES_KEY set, the key is in no URL, header or body")


if __name__ == "__main__":
    herdtest.run(main)
