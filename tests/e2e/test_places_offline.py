#!/usr/bin/env python3
"""The offline places provider (the default): GeoNames populated places from
the index built with the server, no network, no key.

Every answer is checked against a reference search written here from the
contract: the places of the index within the radius (haversine, R =
6371008.8 m), most prominent first (log10(population + 1) - 3 * distance /
radius, then nearest, then lowest id), at most 20, cut to the bound; status
OK when any place is within the radius (even for bound 0), else
ZERO_RESULTS; `html_attributions` the GeoNames attribution; place_id
`geonames:<id>`; types from the kind of place; vicinity "Region, CC".  The
reference reads the index file itself (layout in server/places/places_index.h),
found next to the build's herd-server.

Also: fixed points (UCLA, the antimeridian, the poles, mid-ocean), a server
with the default index and one given --places-index answer alike, and a
missing or damaged index makes the server exit 78 with a message.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import bisect
import json
import math
import os
import random
import re
import struct

import fakeplaces
import herdtest
from herdtest import check, eq, fail

ATTRIBUTION = "Contains data from GeoNames (geonames.org), CC BY 4.0"
UCLA = b"+34.068930-118.445127"
CELLS = 180 * 360
HEADER = struct.Struct("=8sIIQ")
PLACE = struct.Struct("=ddIIIIII")
METRES_PER_DEGREE = fakeplaces.EARTH_RADIUS_M * math.pi / 180.0
TYPES = {1: ["capital", "locality", "political"],
         2: ["administrative_seat", "locality", "political"],
         3: ["sublocality", "political"]}
ALLOWED_TYPES = ([["capital", "locality", "political"],
                  ["administrative_seat", "locality", "political"],
                  ["locality", "political"], ["sublocality", "political"]])


def find_index(binary):
    """The index the build made (<build>/places.idx), above the binary."""
    d = os.path.dirname(binary)
    while True:
        p = os.path.join(d, "places.idx")
        if os.path.isfile(p):
            return p
        up = os.path.dirname(d)
        if up == d:
            fail("no places.idx in any directory above %s: build the project first" % binary)
        d = up


class Index:
    """The offline index read in Python, with a brute-force search."""

    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        magic, version, count, ssize = HEADER.unpack_from(data, 0)
        eq(magic, b"HERDPLC1", "index magic")
        eq(version, 2, "index version")
        off = (HEADER.size + (CELLS + 1) * 4 + 7) & ~7   # places are 8-aligned
        eq(len(data), off + count * PLACE.size + ssize, "index size")
        self.strings = data[off + count * PLACE.size:]
        rows = [p for p in PLACE.iter_unpack(data[off:off + count * PLACE.size])]
        rows.sort(key=lambda p: p[0])
        self.rows = rows
        self.lats = [p[0] for p in rows]
        self.count = count
        self.size = len(data)

    def string(self, off):
        end = self.strings.index(b"\0", off)
        return self.strings[off:end].decode("utf-8")

    def hits(self, lat, lng, radius_m):
        """Every place within the radius, best first: (score, dist, id, row)."""
        band = radius_m / METRES_PER_DEGREE + 0.01
        lo = bisect.bisect_left(self.lats, lat - band)
        hi = bisect.bisect_right(self.lats, lat + band)
        out = []
        for p in self.rows[lo:hi]:
            d = fakeplaces.haversine_m(lat, lng, p[0], p[1])
            if d <= radius_m:
                base = math.log10(p[3] + 1.0)
                score = base - 3.0 * d / radius_m if radius_m > 0 else base
                out.append((score, d, p[2], p))
        out.sort(key=lambda h: (-h[0], h[1], h[2]))
        return out

    def result(self, p):
        lat, lng, pid, pop, name, vic, kind, _ = p
        return {"geometry": {"location": {"lat": lat, "lng": lng}},
                "name": self.string(name),
                "place_id": "geonames:%d" % pid,
                "types": TYPES.get(kind, ["locality", "political"]),
                "vicinity": self.string(vic)}

    def answer(self, lat, lng, radius_m, bound):
        """The expected WHATSAT JSON text and the full hit list."""
        hits = self.hits(lat, lng, radius_m)
        results = [self.result(h[3]) for h in hits[:20]][:bound]
        text = fakeplaces.pretty({"html_attributions": [ATTRIBUTION], "results": results,
                                  "status": "OK" if hits else "ZERO_RESULTS"})
        return text, hits


class Asker:
    """One connection; a fresh client id per question, so no IAMAT is stale."""

    def __init__(self, srv):
        self.c = srv.connect(timeout=15)
        self.n = 0

    def ask(self, loc, radius, bound):
        self.n += 1
        cid = b"q%d.example" % self.n
        self.c.send(b"IAMAT %s %s 1621464827\n" % (cid, loc))
        line = self.c.read_line()
        check(line.startswith(b"AT "), "IAMAT at %s refused: %s" % (loc, herdtest.show(line)))
        self.c.send(b"WHATSAT %s %s %d\n" % (cid, radius, bound))
        at, body = self.c.read_whatsat()
        if at == b"?":
            fail("WHATSAT at %s %s %d refused: %s" % (loc.decode(), radius.decode(), bound,
                                                      herdtest.show(body)))
        eq(at, line, "first line of the WHATSAT reply")
        return body

    def close(self):
        self.c.close()


def check_shape(body, lat, lng, radius_m, bound, what):
    """The contract's invariants, whatever the ranking."""
    try:
        obj = json.loads(body)
    except ValueError as e:
        fail("%s: answer is not JSON (%s): %s" % (what, e, herdtest.show(body)))
    eq(list(obj), ["html_attributions", "results", "status"], what + ": members")
    eq(obj["html_attributions"], [ATTRIBUTION], what + ": html_attributions")
    check(obj["status"] in ("OK", "ZERO_RESULTS"), "%s: status %r" % (what, obj["status"]))
    res = obj["results"]
    check(len(res) <= bound, "%s: %d results for bound %d" % (what, len(res), bound))
    if obj["status"] == "ZERO_RESULTS":
        eq(res, [], what + ": results of ZERO_RESULTS")
    for r in res:
        eq(list(r), ["geometry", "name", "place_id", "types", "vicinity"],
           what + ": members of a result")
        loc = r["geometry"]["location"]
        d = fakeplaces.haversine_m(lat, lng, loc["lat"], loc["lng"])
        check(d <= radius_m + 1e-6, "%s: %s is %.3f m away, outside the radius of %.3f m"
              % (what, r["name"], d, radius_m))
        check(re.match(r"^geonames:[0-9]+$", r["place_id"]),
              "%s: place_id %r" % (what, r["place_id"]))
        check(r["types"] in ALLOWED_TYPES, "%s: types %r of %s" % (what, r["types"], r["name"]))
        check(isinstance(r["vicinity"], str) and re.search(r"(^|, )[A-Z]{2}$", r["vicinity"]),
              "%s: vicinity %r of %s is not 'Region, CC'" % (what, r["vicinity"], r["name"]))
    ids = [r["place_id"] for r in res]
    eq(len(set(ids)), len(ids), what + ": a place listed twice")
    return obj


def fmt_loc(lat, lng):
    return b"%+.6f%+.6f" % (lat, lng)


def main(t):
    index_path = find_index(t.binary)
    ix = Index(index_path)
    t.note("index %s: %d places, %d bytes" % (index_path, ix.count, ix.size))

    fake = t.fakeplaces("ok")     # must never be asked: offline is offline
    dflt = t.server("Alford", key=None,
                    env_extra={"http_proxy": fake.url, "HTTPS_PROXY": fake.url,
                               "ALL_PROXY": fake.url})
    explicit = t.server("Bolden", extra_args=["--places", "offline",
                                              "--places-index", index_path])
    t.start_all()
    t.ok("the default provider starts without HERD_PLACES_KEY")
    qa, qb = Asker(dflt), Asker(explicit)

    # -- UCLA -------------------------------------------------------------------
    lat, lng = 34.068930, -118.445127
    body = qa.ask(UCLA, b"10", 5)
    obj = check_shape(body, lat, lng, 10000, 5, "UCLA 10 km, bound 5")
    names = [r["name"] for r in obj["results"]]
    eq(len(names), 5, "number of results at UCLA, 10 km, bound 5 (%r)" % names)
    eq(obj["status"], "OK", "status at UCLA")
    for n in ("Westwood", "Century City", "Beverly Hills"):
        check(n in names, "%s is not among the 5 places near UCLA: %r" % (n, names))
    for r in obj["results"]:
        eq(r["vicinity"], "California, US", "vicinity of %s" % r["name"])
    want, hits = ix.answer(lat, lng, 10000, 5)
    eq(body, want.encode(), "UCLA 10 km, bound 5 (reference search)")
    t.ok("UCLA, 10 km, bound 5: %s (of %d within 10 km)" % (", ".join(names), len(hits)))

    body = qa.ask(UCLA, b"50", 20)
    obj = check_shape(body, lat, lng, 50000, 20, "UCLA 50 km, bound 20")
    want, hits = ix.answer(lat, lng, 50000, 20)
    eq(len(obj["results"]), 20, "results at UCLA, 50 km, bound 20 (%d within)" % len(hits))
    eq(body, want.encode(), "UCLA 50 km, bound 20 (reference search)")
    t.ok("UCLA, 50 km: 20 results of %d, ranked by prominence then distance" % len(hits))

    for radius, bound in ((b"10", 20), (b"10", 1), (b"1", 20), (b"2.5", 7), (b"50", 0),
                          (b"10", 0), (b"0", 20)):
        body = qa.ask(UCLA, radius, bound)
        m = float(radius) * 1000
        check_shape(body, lat, lng, m, bound, "UCLA %s km, bound %d" % (radius.decode(), bound))
        want, hits = ix.answer(lat, lng, m, bound)
        eq(body, want.encode(), "UCLA %s km, bound %d (reference search)"
           % (radius.decode(), bound))
    obj = json.loads(qa.ask(UCLA, b"50", 0))
    eq((obj["results"], obj["status"]), ([], "OK"),
       "bound 0 where places exist: no results, status OK")
    t.ok("UCLA at 10 km/20, 10 km/1, 1 km, 2.5 km/7, bound 0 (status OK, [] results), "
         "radius 0")

    # -- fixed points -------------------------------------------------------------
    obj = json.loads(qa.ask(b"+0-160", b"50", 20))
    eq((obj["results"], obj["status"]), ([], "ZERO_RESULTS"), "mid-Pacific +0-160, 50 km")
    obj = json.loads(qa.ask(b"+0-160", b"50", 0))
    eq(obj["status"], "ZERO_RESULTS", "mid-Pacific +0-160, 50 km, bound 0")
    t.ok("mid-ocean +0-160: ZERO_RESULTS (bound 20 and 0)")

    body = qa.ask(b"+66.3+179.8", b"50", 20)
    obj = check_shape(body, 66.3, 179.8, 50000, 20, "+66.3+179.8 50 km")
    eg = [r for r in obj["results"] if r["name"] == "Egvekinot"]
    check(eg, "Egvekinot is not found from +66.3+179.8 within 50 km: %r"
          % [r["name"] for r in obj["results"]])
    check(eg[0]["geometry"]["location"]["lng"] < -179,
          "Egvekinot's longitude: %r" % eg[0]["geometry"]["location"])
    eq(body, ix.answer(66.3, 179.8, 50000, 20)[0].encode(), "+66.3+179.8 (reference search)")
    t.ok("across the antimeridian: +66.3+179.8 finds Egvekinot at %r"
         % eg[0]["geometry"]["location"])

    body = qa.ask(b"+78.5+15", b"50", 20)
    obj = check_shape(body, 78.5, 15, 50000, 20, "+78.5+15 50 km")
    check("Longyearbyen" in [r["name"] for r in obj["results"]],
          "Longyearbyen is not found from +78.5+15 within 50 km: %r" % obj["results"])
    eq(body, ix.answer(78.5, 15.0, 50000, 20)[0].encode(), "+78.5+15 (reference search)")
    for loc, la, lo in ((b"+90+0", 90.0, 0.0), (b"+90.000000-180.000000", 90.0, -180.0),
                        (b"-90+0", -90.0, 0.0), (b"+89.7+45", 89.7, 45.0)):
        body = qa.ask(loc, b"50", 20)
        check_shape(body, la, lo, 50000, 20, "%s 50 km" % loc.decode())
        eq(body, ix.answer(la, lo, 50000, 20)[0].encode(), "%s (reference search)" % loc.decode())
    eq(json.loads(qa.ask(b"+90+0", b"50", 20))["status"], "ZERO_RESULTS", "the north pole")
    t.ok("near the poles: +78.5+15 finds Longyearbyen; +90+0, -90+0, +89.7+45 answer")

    # -- against the reference, everywhere ----------------------------------------
    rng = random.Random(6371008)
    points = [(-16.5, 179.99), (-16.5, -179.99), (-17.8, 178.0), (65.0, -180.0), (65.0, 180.0),
              (64.9, 179.99), (51.5, 0.0), (51.0, -0.0001), (0.0, 0.0), (40.7128, -74.006),
              (35.6762, 139.6503), (-33.8688, 151.2093), (48.8566, 2.3522), (1.0, 103.9999),
              (34.07362, -118.40036)]
    for _ in range(45):
        p = ix.rows[rng.randrange(ix.count)]
        points.append((max(-90.0, min(90.0, round(p[0] + rng.uniform(-0.3, 0.3), 6))),
                       max(-180.0, min(180.0, round(p[1] + rng.uniform(-0.3, 0.3), 6)))))
    for _ in range(10):
        points.append((round(rng.uniform(-90, 90), 6), round(rng.uniform(-180, 180), 6)))
    # High latitudes, the centre up to ~50 km east or west of a place: where
    # a degree of longitude is short, the circle spans many grid columns.
    north = [p for p in ix.rows if abs(p[0]) > 62]
    for _ in range(20):
        p = north[rng.randrange(len(north))]
        dlng = 0.44 / math.cos(math.radians(abs(p[0]))) * rng.choice([-1, 1])
        lo = p[1] + dlng
        lo = lo - 360 if lo > 180 else lo + 360 if lo < -180 else lo
        points.append((round(p[0] + rng.uniform(-0.05, 0.05), 6), round(lo, 6)))
    radii = [b"50", b"10", b"25", b"0.5", b"3.75", b"49.999", b"0"]
    checked = nonempty = 0
    for i, (la, lo) in enumerate(points):
        loc = fmt_loc(la, lo)
        radius = radii[i % len(radii)] if 15 <= i < 70 else b"50"
        bound = rng.choice([20, 20, 5, 1, 0, 13])
        la_, lo_ = herdtest.location_value(loc)
        m = float(radius) * 1000
        body = qa.ask(loc, radius, bound)
        what = "%s %s km bound %d" % (loc.decode(), radius.decode(), bound)
        check_shape(body, la_, lo_, m, bound, what)
        want, hits = ix.answer(la_, lo_, m, bound)
        eq(body, want.encode(), what + " (reference search)")
        eq(qb.ask(loc, radius, bound), body, what + ": --places-index FILE and the default")
        checked += 1
        nonempty += bool(hits)
    body = qa.ask(b"+34.07362-118.40036", b"0", 20)
    check("Beverly Hills" in [r["name"] for r in json.loads(body)["results"]],
          "radius 0 at Beverly Hills' own coordinates: %s" % herdtest.show(body))
    t.ok("%d more points (%d with places; antimeridian, cell edges, random) match the "
         "reference, with the default index and with --places-index" % (checked, nonempty))

    eq(len(fake.requests), 0, "HTTP requests made by the offline provider (via a proxy)")
    qa.close()
    qb.close()
    t.ok("no request left the offline server")

    # -- a missing or damaged index -------------------------------------------------
    def refuse(path, what):
        port, pport = herdtest.free_ports(2)
        code, out, err = t.run_once(["Hamilton", "--listen", "127.0.0.1:%d" % port,
                                     "--peer-listen", "127.0.0.1:%d" % pport,
                                     "--places-index", path], timeout=15)
        eq(code, 78, "exit code with %s as the index (stderr %s)" % (what, herdtest.show(err)))
        check(err.strip(), "no message on stderr with %s as the index" % what)
        check(path.encode() in err, "the message for %s does not name %s: %s"
              % (what, path, herdtest.show(err)))
        t.ok("%s -> exit 78: %s" % (what, err.decode("utf-8", "replace").strip()))

    refuse("/nonexistent/places.idx", "a missing file")
    with open(index_path, "rb") as f:
        real = f.read()
    bad = os.path.join(t.tmpdir, "bad")
    os.makedirs(bad)
    cases = [
        ("garbage.idx", bytes(random.Random(5).getrandbits(8) for _ in range(65536)),
         "a file of random bytes"),
        ("empty.idx", b"", "an empty file"),
        ("header.idx", real[:HEADER.size], "the header alone"),
        ("truncated.idx", real[:1 << 20], "the first MiB of the index"),
        ("short.idx", real[:-1], "the index less its last byte"),
        ("long.idx", real + b"\0", "the index with one more byte"),
        ("magic.idx", b"HERDPLC2" + real[8:], "the index with another magic"),
        ("version.idx", real[:8] + struct.pack("=I", 3) + real[12:], "the index as version 3"),
        ("count.idx", real[:12] + struct.pack("=I", ix.count + 1) + real[16:],
         "the index with a count one too many"),
    ]
    for name, data, what in cases:
        p = os.path.join(bad, name)
        with open(p, "wb") as f:
            f.write(data)
        refuse(p, what)
    refuse(bad, "a directory")


if __name__ == "__main__":
    herdtest.run(main)
