"""A stand-in places provider on loopback: Google's legacy Nearby Search,
the Places API (New) searchNearby, and the Overpass API.

The fake records every request it receives (method, path, query, headers,
body, time) and answers with a canned body chosen by its current mode, which
a test may change at any time.  It serves every path; the mode alone decides
the answer.

Legacy Nearby Search (GET, the `google` provider):

    ok         HTTP 200, a Nearby Search body with 8 results (Google's layout)
    zero       HTTP 200, ZERO_RESULTS
    denied     HTTP 200, REQUEST_DENIED with an error_message
    overlimit  HTTP 200, OVER_QUERY_LIMIT with an error_message
    http500    HTTP 500 with a short text body
    malformed  HTTP 200, a body that is not JSON
    huge       HTTP 200, a JSON body of several MB (default 8 MiB)

Places API (New) searchNearby (POST JSON, the `google-new` provider):

    new_ok        HTTP 200, {"places": [...]} with 9 places (new_ok_places())
    new_zero      HTTP 200, {} (what Google sends when nothing matches)
    new_empty     HTTP 200, {"places": []}
    new_malformed HTTP 200, a body that is not JSON
    new_invalid, new_denied, new_unauthenticated, new_exhausted,
    new_internal, new_unavailable, new_not_found
                  HTTP 4xx/5xx with {"error": {"code", "message", "status",
                  "details"}} (NEW_ERRORS holds code, status, message and the
                  legacy status a server must turn it into)
    new_http429, new_http502
                  HTTP 429/502 with an HTML body, no error object

Overpass API (POST form, the `overpass` provider):

    osm_ok          HTTP 200, {"elements": [...]} (osm_ok_elements()): nodes
                    with lat/lon, ways and relations with a center, in no
                    particular order, some without a name
    osm_zero        HTTP 200, {"elements": []}
    osm_remark      HTTP 200, no elements and a runtime-error remark
    osm_remark_info HTTP 200, no elements and a harmless remark
    osm_malformed   HTTP 200, a body that is not JSON
    osm_http429, osm_http504, osm_http400
                    HTTP 429/504/400 with an HTML body

Any provider:

    slow       waits `delay` seconds (default 10), then answers like the
               mode given as `then` (default `ok`); the wait ends early when
               the fake is stopped or the client hangs up

The fake also counts the requests it is handling at once (`open_now`,
`max_open`), for tests of a server's limit on concurrent requests.

Python 3 standard library only.  Usable alone for manual checks:

    python3 fakeplaces.py [MODE]     # prints its URL, serves until ^C
                                     # (the google-new and overpass URLs
                                     # go to stderr)
"""

import json
import math
import select
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/maps/api/place/nearbysearch/json"

NEW_PATH = "/v1/places:searchNearby"
OVERPASS_PATH = "/api/interpreter"
NEW_FIELD_MASK = ("places.id,places.displayName,places.location,places.types,"
                  "places.formattedAddress,places.shortFormattedAddress,"
                  "places.rating,places.userRatingCount,places.businessStatus")
OSM_ATTRIBUTION = "\u00a9 OpenStreetMap contributors"
EARTH_RADIUS_M = 6371008.8

# mode: (HTTP code, google.rpc status, message, legacy status expected)
NEW_ERRORS = {
    "new_invalid": (400, "INVALID_ARGUMENT",
                    "Invalid value at 'location_restriction.circle.radius' "
                    "(TYPE_DOUBLE), \"-1\"", "INVALID_REQUEST"),
    "new_denied": (403, "PERMISSION_DENIED",
                   "Places API (New) has not been used in project 123456 "
                   "before or it is disabled.", "REQUEST_DENIED"),
    "new_unauthenticated": (401, "UNAUTHENTICATED",
                            "Request had invalid authentication credentials.",
                            "REQUEST_DENIED"),
    "new_exhausted": (429, "RESOURCE_EXHAUSTED",
                      "Quota exceeded for quota metric 'SearchNearby "
                      "requests' and limit 'SearchNearby requests per "
                      "minute'.", "OVER_QUERY_LIMIT"),
    "new_internal": (500, "INTERNAL", "Internal error encountered.",
                     "UNKNOWN_ERROR"),
    "new_unavailable": (503, "UNAVAILABLE",
                        "The service is currently unavailable.",
                        "UNKNOWN_ERROR"),
    "new_not_found": (404, "NOT_FOUND", "Method not found.", "UNKNOWN_ERROR"),
}

# mode: (HTTP code, body, legacy status expected); no error object
PLAIN_ERRORS = {
    "new_http429": (429, b"<html><body>Too Many Requests</body></html>\n",
                    "OVER_QUERY_LIMIT"),
    "new_http502": (502, b"<html><body>502 Bad Gateway</body></html>\n",
                    "UNKNOWN_ERROR"),
    "osm_http429": (429, b"<html><body><p>Too many requests</p></body></html>\n",
                    "OVER_QUERY_LIMIT"),
    "osm_http504": (504, b"<html><body><p>Gateway Timeout</p></body></html>\n",
                    "UNKNOWN_ERROR"),
    "osm_http400": (400, b"<html><body><p>Error: line 1: parse error</p>"
                    b"</body></html>\n", "UNKNOWN_ERROR"),
}

# Overpass says "runtime error: Query timed out in ..."; the words "runtime
# error" in a server log read as a sanitizer report to herdtest's log scan,
# so the stand-in words its error remark differently (it still says error).
OSM_REMARK = ("Query failed with an error: timed out in \"query\" at line 1 "
              "after 11 seconds.")
OSM_REMARK_INFO = "runtime remark: Timeout is 10 and maxsize is 536870912."

MODES = ("ok", "zero", "denied", "overlimit", "http500", "malformed", "slow",
         "huge", "new_ok", "new_zero", "new_empty", "new_malformed", "osm_ok",
         "osm_zero", "osm_remark", "osm_remark_info", "osm_malformed") + \
    tuple(NEW_ERRORS) + tuple(PLAIN_ERRORS)

DENIED_MESSAGE = "The provided API key is invalid. "
OVERLIMIT_MESSAGE = ("You have exceeded your daily request quota for this API. "
                     "If you did not set a custom daily request quota, verify "
                     "your project has an active billing account: "
                     "http://g.co/dev/maps-no-account")
NEXT_PAGE_TOKEN = ("AcJnMuHg7PQqAnFjCZpN3TgK0bRzOX2Cq0Nn5Lx8yW1vDk6sJ4hT9eRm"
                   "-_B3aUfYcLiEoPwQxZ2tS7gHvMj5nKr8dF1b")


def pretty(value, level=0):
    """Format `value` in the layout of Google's pretty-printed answers.

    Three-space indentation, `"key" : value`, members in insertion order,
    arrays whose elements are all scalars on one line (`[ "a", "b" ]`),
    `[]` and `{}` for empty containers, reals in shortest round-trip form,
    minimal JSON string escapes with non-ASCII kept raw, no final newline.
    """
    pad = "   " * level
    inner = "   " * (level + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        members = [inner + _string(k) + " : " + pretty(v, level + 1)
                   for k, v in value.items()]
        return "{\n" + ",\n".join(members) + "\n" + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(not isinstance(e, (dict, list)) for e in value):
            return "[ " + ", ".join(pretty(e, level + 1) for e in value) + " ]"
        items = [inner + pretty(e, level + 1) for e in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if isinstance(value, str):
        return _string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    raise TypeError("cannot format %r" % (value,))


def _string(s):
    return json.dumps(s, ensure_ascii=False)


def _place(name, place_id, lat, lng, ne, sw, **extra):
    """One result in the member order Google uses (alphabetical)."""
    r = {}
    r["business_status"] = "OPERATIONAL"
    r["geometry"] = {
        "location": {"lat": lat, "lng": lng},
        "viewport": {
            "northeast": {"lat": ne[0], "lng": ne[1]},
            "southwest": {"lat": sw[0], "lng": sw[1]},
        },
    }
    r["icon"] = extra.pop(
        "icon",
        "https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/generic_business-71.png")
    r["icon_background_color"] = extra.pop("icon_background_color", "#7B9EB0")
    r["icon_mask_base_uri"] = extra.pop(
        "icon_mask_base_uri",
        "https://maps.gstatic.com/mapfiles/place_api/icons/v2/generic_pinlet")
    r["name"] = name
    for key in ("opening_hours", "photos"):
        if key in extra:
            r[key] = extra.pop(key)
    r["place_id"] = place_id
    if "plus_code" in extra:
        r["plus_code"] = extra.pop("plus_code")
    if "price_level" in extra:
        r["price_level"] = extra.pop("price_level")
    if "rating" in extra:
        r["rating"] = extra.pop("rating")
    r["reference"] = place_id
    r["scope"] = "GOOGLE"
    r["types"] = extra.pop("types")
    if "user_ratings_total" in extra:
        r["user_ratings_total"] = extra.pop("user_ratings_total")
    r["vicinity"] = extra.pop("vicinity")
    assert not extra, extra
    return r


def ok_results():
    """The 8 canned results of the `ok` mode, in provider order."""
    return [
        _place("University of California, Los Angeles",
               "ChIJZQ9c8IW8woARN0gTXFiTqSU",
               34.068921, -118.4451811,
               (34.07776, -118.4367549), (34.0594271, -118.4519539),
               icon="https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/school-71.png",
               icon_background_color="#7B9EB0",
               icon_mask_base_uri="https://maps.gstatic.com/mapfiles/place_api/icons/v2/school_pinlet",
               photos=[{
                   "height": 3024,
                   "html_attributions": [
                       "<a href=\"https://maps.google.com/maps/contrib/104563489153206114563\">Bruin \"Joe\" Walker</a>"],
                   "photo_reference": "AcJnMuFx3kQ9TzR1mVbN8wYcLpE2sHdG7aUoKiJ5fXqB6vW0eZr",
                   "width": 4032,
               }],
               plus_code={"compound_code": "3H9V+H6 Los Angeles, California",
                          "global_code": "85633H9V+H6"},
               rating=4.6,
               types=["university", "point_of_interest", "establishment"],
               user_ratings_total=6187,
               vicinity="Los Angeles"),
        _place("Café Synapse",
               "ChIJ1aP7yIa8woARb4tq0bQf3Ys",
               34.0689254, -118.4429287,
               (34.07027438029149, -118.4415797197085),
               (34.06757641970849, -118.4442776802915),
               icon="https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/cafe-71.png",
               icon_background_color="#FF9E67",
               icon_mask_base_uri="https://maps.gstatic.com/mapfiles/place_api/icons/v2/cafe_pinlet",
               opening_hours={"open_now": True},
               plus_code={"compound_code": "3H9W+H9 Los Angeles, California",
                          "global_code": "85633H9W+H9"},
               price_level=1,
               rating=4.1,
               types=["cafe", "food", "point_of_interest", "store",
                      "establishment"],
               user_ratings_total=212,
               vicinity="Boelter Hall, 580 Portola Plaza, Los Angeles"),
        _place("Ackerman Union",
               "ChIJq8Nj5Ia8woAR0L0R0w9cT4E",
               34.0703714, -118.4443854,
               (34.07172038029149, -118.4430364197085),
               (34.06902241970849, -118.4457343802915),
               opening_hours={},
               rating=4,
               types=["point_of_interest", "establishment"],
               user_ratings_total=95,
               vicinity="308 Westwood Plaza, Los Angeles"),
        _place("Fowler Museum at UCLA",
               "ChIJV0Zx6Ia8woARrEzQm7JcQ5c",
               34.0729742, -118.4431612,
               (34.07432318029149, -118.4418122197085),
               (34.07162521970849, -118.4445101802915),
               icon="https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/museum-71.png",
               icon_background_color="#13B5C7",
               icon_mask_base_uri="https://maps.gstatic.com/mapfiles/place_api/icons/v2/museum_pinlet",
               opening_hours={"open_now": False},
               rating=4.5,
               types=["museum", "tourist_attraction", "point_of_interest",
                      "establishment"],
               user_ratings_total=1032,
               vicinity="308 Charles E Young Dr N, Los Angeles"),
        _place("Royce Hall",
               "ChIJ2xJ9-4W8woARiUxkE8Cq3tA",
               34.0728561, -118.442127,
               (34.07420508029149, -118.4407780197085),
               (34.07150711970849, -118.4434759802915),
               rating=4.8,
               types=["point_of_interest", "establishment"],
               user_ratings_total=1520,
               vicinity="10745 Dickson Ct, Los Angeles"),
        _place("Westwood Village",
               "ChIJN0na1RS8woARD4d9RvxxYbE",
               34.0635016, -118.4455164,
               (34.0667251, -118.4418031), (34.0580917, -118.4488437),
               icon="https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/geocode-71.png",
               icon_background_color="#7B9EB0",
               icon_mask_base_uri="https://maps.gstatic.com/mapfiles/place_api/icons/v2/generic_pinlet",
               types=["neighborhood", "political"],
               vicinity="Los Angeles"),
        _place("Diddy Riese",
               "ChIJ1c0N8Ii8woARmN6u2d3Yt7U",
               34.0630463, -118.4467387,
               (34.06439528029149, -118.4453897197085),
               (34.06169731970849, -118.4480876802915),
               opening_hours={"open_now": True},
               price_level=1,
               rating=4.7,
               types=["bakery", "food", "point_of_interest", "store",
                      "establishment"],
               user_ratings_total=5834,
               vicinity="926 Broxton Ave, Los Angeles"),
        _place("Mathias Botanical Garden",
               "ChIJ7zE0mYS8woARpZ2QmPq0zQk",
               34.0659001, -118.4413003,
               (34.06724908029149, -118.4399513197085),
               (34.06455111970849, -118.4426492802915),
               icon="https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/park-71.png",
               icon_background_color="#4DB546",
               icon_mask_base_uri="https://maps.gstatic.com/mapfiles/place_api/icons/v2/tree_pinlet",
               rating=4.7,
               types=["park", "tourist_attraction", "point_of_interest",
                      "establishment"],
               user_ratings_total=1204,
               vicinity="707 Tiverton Dr, Los Angeles"),
    ]


def ok_body_object():
    """The whole `ok` answer as an ordered dict (Google's member order)."""
    return {
        "html_attributions": [],
        "next_page_token": NEXT_PAGE_TOKEN,
        "results": ok_results(),
        "status": "OK",
    }


def zero_body_object():
    return {"html_attributions": [], "results": [], "status": "ZERO_RESULTS"}


def error_body_object(status, message):
    # Google puts error_message first: its members are sorted.
    return {"error_message": message, "html_attributions": [], "results": [],
            "status": status}


def expected_whatsat_json(bound, body=None):
    """What a server must print for the `ok` answer cut to `bound` results."""
    obj = ok_body_object() if body is None else body
    out = {}
    for k, v in obj.items():
        out[k] = v[:bound] if k == "results" else v
    return pretty(out)


def error_shape(status, message):
    """The error shape a server prints when the provider fails."""
    return pretty({"html_attributions": [], "results": [], "status": status,
                   "error_message": message})


# ---------------------------------------------------------------------------
# Places API (New)


def new_ok_places():
    """The 9 places of the `new_ok` mode, in the provider's order and member
    order (which is not the legacy order).

    They are the `ok` results in the new shape, with the variations a real
    answer has: an integer rating, a place without rating, count or status,
    one with only a formattedAddress, one with only a shortFormattedAddress,
    one without any address, one with integer coordinates.
    """
    out = []
    for i, r in enumerate(ok_results()):
        loc = r["geometry"]["location"]
        p = {"id": r["place_id"], "types": list(r["types"])}
        if i not in (4, 7):
            p["formattedAddress"] = r["vicinity"] + ", CA 90095, USA"
        p["location"] = {"latitude": loc["lat"], "longitude": loc["lng"]}
        if i != 5:
            if "rating" in r:
                p["rating"] = r["rating"]
            if "user_ratings_total" in r:
                p["userRatingCount"] = r["user_ratings_total"]
            p["businessStatus"] = r["business_status"]
        p["displayName"] = {"text": r["name"], "languageCode": "en"}
        if i not in (5, 7):
            p["shortFormattedAddress"] = r["vicinity"]
        out.append(p)
    out.append({"id": "ChIJwholeDegreesOnly0000000", "types": ["point_of_interest"],
                "location": {"latitude": 34, "longitude": -118},
                "rating": 5, "userRatingCount": 1,
                "displayName": {"text": "Point \"Zero\" \u2013 34\u00b0N",
                                "languageCode": "en"},
                "shortFormattedAddress": "Los Angeles"})
    return out


def new_ok_body_object():
    return {"places": new_ok_places()}


def new_error_body_object(mode):
    code, status, message, _ = NEW_ERRORS[mode]
    return {"error": {"code": code, "message": message, "status": status,
                      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                   "reason": status, "domain": "googleapis.com"}]}}


def new_to_legacy(p):
    """One Places API (New) place in the legacy shape, per the contract:
    geometry, name, place_id, then rating, user_ratings_total,
    business_status, types, vicinity when present."""
    r = {"geometry": {"location": {"lat": float(p["location"]["latitude"]),
                                   "lng": float(p["location"]["longitude"])}},
         "name": p["displayName"]["text"],
         "place_id": p["id"]}
    if "rating" in p:
        r["rating"] = p["rating"]
    if "userRatingCount" in p:
        r["user_ratings_total"] = p["userRatingCount"]
    if "businessStatus" in p:
        r["business_status"] = p["businessStatus"]
    if "types" in p:
        r["types"] = p["types"]
    vic = p.get("shortFormattedAddress", p.get("formattedAddress"))
    if vic is not None:
        r["vicinity"] = vic
    return r


def new_expected_whatsat_json(bound, places=None):
    """What a server must print for a `new_ok` answer cut to `bound`."""
    places = new_ok_places() if places is None else places
    results = [new_to_legacy(p) for p in places]
    return pretty({"html_attributions": [], "results": results[:bound],
                   "status": "OK" if results else "ZERO_RESULTS"})


# ---------------------------------------------------------------------------
# Overpass


def haversine_m(lat1, lng1, lat2, lng2):
    """Great-circle distance in metres (R = 6371008.8 m)."""
    deg = math.pi / 180.0
    dlat = (lat2 - lat1) * deg
    dlng = (lng2 - lng1) * deg
    a = (math.sin(dlat / 2) * math.sin(dlat / 2) +
         math.cos(lat1 * deg) * math.cos(lat2 * deg) * math.sin(dlng / 2) *
         math.sin(dlng / 2))
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(a, 1.0)))


OSM_CENTRE = (34.068930, -118.445127)   # the elements are placed around UCLA


def osm_ok_elements():
    """The elements of the `osm_ok` mode: 26 named (more than the 20 a server
    keeps), 3 without a name, in an order that is not by distance.

    Offsets from OSM_CENTRE are in degrees; a few elements are ways or
    relations with a `center` instead of lat/lon.
    """
    lat0, lng0 = OSM_CENTRE
    named = [
        # (type, id, dlat, dlng, tags)
        ("node", 8101, 0.0300, 0.0100, {"amenity": "library", "name": "Far Library"}),
        ("node", 8102, 0.0004, -0.0003, {"amenity": "cafe", "name": "Caf\u00e9 Synapse",
                                         "addr:housenumber": "580",
                                         "addr:street": "Portola Plaza",
                                         "addr:city": "Los Angeles"}),
        ("way", 9201, -0.0052, -0.0016, {"amenity": "university", "name": "Westwood Campus",
                                         "addr:street": "Westwood Plaza",
                                         "addr:city": "Los Angeles"}),
        ("node", 8103, 0.0011, 0.0021, {"shop": "books", "name": "Ackerman Books",
                                        "addr:street": "Westwood Plaza"}),
        ("relation", 7301, 0.0040, 0.0020, {"tourism": "museum", "leisure": "garden",
                                            "name": "Fowler Museum",
                                            "addr:city": "Los Angeles"}),
        ("node", 8104, -0.0062, -0.0016, {"shop": "bakery", "amenity": "ice_cream",
                                          "name": "Diddy Riese",
                                          "addr:housenumber": "926",
                                          "addr:street": "Broxton Avenue",
                                          "addr:city": "Los Angeles"}),
        ("way", 9202, -0.0030, 0.0038, {"leisure": "park", "name": "Mathias Garden"}),
        ("node", 8105, 0.0150, -0.0200, {"tourism": "viewpoint", "name": "Getty View"}),
    ]
    # More shops at fixed pseudo-random offsets (a simple LCG: no state kept
    # between calls, the same elements every time).
    x = 12345
    kinds = ["restaurant", "pharmacy", "bank", "fast_food", "bar", "dentist"]
    for i in range(18):
        x = (x * 1103515245 + 12345) % (1 << 31)
        dlat = ((x >> 8) % 4001 - 2000) / 100000.0
        x = (x * 1103515245 + 12345) % (1 << 31)
        dlng = ((x >> 8) % 4001 - 2000) / 100000.0
        named.append(("node", 8200 + i, dlat, dlng,
                      {"amenity": kinds[i % len(kinds)], "name": "Place %02d" % i}))
    nameless = [
        ("node", 8001, 0.00001, 0.00001, {"amenity": "bench"}),
        ("node", 8002, -0.00002, 0.0, {"amenity": "waste_basket", "brand": "Nameless"}),
        ("way", 9001, 0.0001, 0.0001, {"shop": "kiosk", "name:en": "Only a name:en"}),
    ]
    out = []
    for kind, oid, dlat, dlng, tags in named[:4] + nameless[:1] + named[4:] + nameless[1:]:
        lat, lng = round(lat0 + dlat, 7), round(lng0 + dlng, 7)
        e = {"type": kind, "id": oid}
        if kind == "node":
            e["lat"] = lat
            e["lon"] = lng
        else:
            e["center"] = {"lat": lat, "lon": lng}
            e["nodes" if kind == "way" else "members"] = []
        e["tags"] = tags
        out.append(e)
    return out


def osm_body_object(elements=None, remark=None):
    obj = {"version": 0.6, "generator": "Overpass API 0.7.62.1 084b4234",
           "osm3s": {"timestamp_osm_base": "2024-05-20T10:00:00Z",
                     "copyright": "The data included in this document is from "
                                  "www.openstreetmap.org. The data is made "
                                  "available under ODbL."},
           "elements": osm_ok_elements() if elements is None else elements}
    if remark is not None:
        obj["remark"] = remark
    return obj


def osm_to_legacy(e):
    """One Overpass element in the legacy shape, per the contract (None for
    an element without a name)."""
    tags = e.get("tags", {})
    if "name" not in tags:
        return None
    where = e["center"] if "center" in e else e
    r = {"geometry": {"location": {"lat": float(where["lat"]),
                                   "lng": float(where["lon"])}},
         "name": tags["name"],
         "place_id": "osm:%s/%d" % (e["type"], e["id"]),
         "types": [tags[k] for k in ("amenity", "shop", "tourism", "leisure")
                   if k in tags] + ["point_of_interest", "establishment"]}
    street, num, city = (tags.get("addr:street"), tags.get("addr:housenumber"),
                         tags.get("addr:city"))
    if street is not None:
        r["vicinity"] = ((num + " ") if num else "") + street + \
            ((", " + city) if city else "")
    elif city is not None:
        r["vicinity"] = city
    return r


def osm_expected_results(lat, lng, elements=None, keep=20):
    """Named elements, nearest to (lat, lng) first, at most `keep`."""
    els = osm_ok_elements() if elements is None else elements
    hits = []
    for e in els:
        r = osm_to_legacy(e)
        if r is None:
            continue
        loc = r["geometry"]["location"]
        hits.append((haversine_m(lat, lng, loc["lat"], loc["lng"]), e["id"], r))
    hits.sort(key=lambda h: (h[0], h[1]))
    return [h[2] for h in hits[:keep]]


def osm_expected_whatsat_json(bound, lat, lng, elements=None):
    results = osm_expected_results(lat, lng, elements)
    return pretty({"html_attributions": [OSM_ATTRIBUTION],
                   "results": results[:bound],
                   "status": "OK" if results else "ZERO_RESULTS"})


class Request:
    """One request as the fake saw it."""

    def __init__(self, method, path, raw_query, headers, body):
        self.method = method
        self.path = path
        self.raw_query = raw_query
        self.query = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.time = time.monotonic()    # when it arrived
        self.done = None                # when its answer was written

    def header(self, name):
        """The value of header `name` (case-insensitive), or None."""
        return self.headers.get(name.lower())

    def json(self):
        """The body parsed as JSON (raises ValueError if it is not)."""
        return json.loads(self.body.decode("utf-8"))

    def form(self):
        """The body parsed as application/x-www-form-urlencoded: a dict of
        lists (strict: raises ValueError on a malformed body)."""
        return urllib.parse.parse_qs(self.body.decode("ascii"),
                                     keep_blank_values=True,
                                     strict_parsing=True)

    def param(self, name):
        """The single value of query parameter `name`, or None."""
        vals = self.query.get(name)
        if not vals:
            return None
        if len(vals) != 1:
            raise AssertionError("query parameter %r repeated: %r"
                                 % (name, vals))
        return vals[0]

    def __repr__(self):
        if self.body:
            return "<%s %s?%s %r>" % (self.method, self.path, self.raw_query,
                                      self.body[:200])
        return "<%s %s?%s>" % (self.method, self.path, self.raw_query)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeplaces/1.0"
    sys_version = ""

    def log_message(self, fmt, *args):  # keep test output clean
        pass

    def setup(self):
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        self.server.fake._track(self.connection, False)

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def _serve(self):
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urllib.parse.urlsplit(self.path)
        req = Request(self.command, parts.path, parts.query,
                      {k.lower(): v for k, v in self.headers.items()}, body)
        mode, delay, huge_size, then = fake._record(req)
        try:
            self._answer(fake, mode, delay, huge_size, then)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        finally:
            fake._done(req)

    def _send(self, code, body, ctype="application/json; charset=UTF-8"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _json(self, code, obj):
        self._send(code, json.dumps(obj, ensure_ascii=False, indent=2).encode("utf-8") + b"\n")

    def _answer(self, fake, mode, delay, huge_size, then="ok"):
        if mode == "slow":
            # The wait ends early when the fake stops or the client hangs up.
            if not self._wait_slow(fake, delay):
                self.close_connection = True
                return
            mode = then
        if mode == "new_ok":
            self._json(200, new_ok_body_object())
        elif mode == "new_zero":
            self._send(200, b"{}\n")
        elif mode == "new_empty":
            self._json(200, {"places": []})
        elif mode in NEW_ERRORS:
            self._json(NEW_ERRORS[mode][0], new_error_body_object(mode))
        elif mode in PLAIN_ERRORS:
            code, body, _ = PLAIN_ERRORS[mode]
            self._send(code, body, "text/html; charset=UTF-8")
        elif mode == "new_malformed":
            self._send(200, b'{\n  "places": [\n    {"id": "unterminated\n')
        elif mode == "osm_ok":
            self._json(200, osm_body_object())
        elif mode == "osm_zero":
            self._json(200, osm_body_object([]))
        elif mode == "osm_remark":
            self._json(200, osm_body_object([], OSM_REMARK))
        elif mode == "osm_remark_info":
            self._json(200, osm_body_object([], OSM_REMARK_INFO))
        elif mode == "osm_malformed":
            self._send(200, b'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n',
                       "application/osm3s+xml")
        elif mode == "ok":
            self._send(200, fake.ok_body)
        elif mode == "zero":
            self._send(200, pretty(zero_body_object()).encode() + b"\n")
        elif mode == "denied":
            self._send(200, pretty(error_body_object(
                "REQUEST_DENIED", DENIED_MESSAGE)).encode() + b"\n")
        elif mode == "overlimit":
            self._send(200, pretty(error_body_object(
                "OVER_QUERY_LIMIT", OVERLIMIT_MESSAGE)).encode() + b"\n")
        elif mode == "http500":
            self._send(500, b"Internal Server Error\n",
                       "text/plain; charset=UTF-8")
        elif mode == "malformed":
            self._send(200, b'{\n   "html_attributions" : [],\n   "results" : [\n'
                       b'      { "name" : "unterminated\n<html>oops</html>\n')
        elif mode == "huge":
            self._send_huge(huge_size)
        else:
            raise AssertionError("unknown mode %r" % mode)

    def _wait_slow(self, fake, delay):
        """Sleep `delay` s; False if the fake stopped or the peer closed."""
        end = time.monotonic() + delay
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return True
            if fake._stopping.wait(min(left, 0.05)):
                return False
            r, _, _ = select.select([self.connection], [], [], 0)
            if r:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return False
                except OSError:
                    return False

    def _send_huge(self, size):
        # A syntactically valid answer padded with many results, so only its
        # size makes it unacceptable.
        one = pretty(ok_results()[0], 2).encode()
        head = b'{\n   "html_attributions" : [],\n   "results" : [\n      '
        tail = b'\n   ],\n   "status" : "OK"\n}\n'
        sep = b",\n      "
        n = max(1, (size - len(head) - len(tail)) // (len(one) + len(sep)) + 1)
        total = len(head) + len(tail) + n * len(one) + (n - 1) * len(sep)
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(total))
        self.end_headers()
        self.wfile.write(head)
        chunk = []
        for i in range(n):
            if i:
                chunk.append(sep)
            chunk.append(one)
            if len(chunk) >= 64:
                self.wfile.write(b"".join(chunk))
                chunk = []
        chunk.append(tail)
        self.wfile.write(b"".join(chunk))
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections when a server opens dozens
    # at once (a pipeline of WHATSATs); a dropped SYN costs a second or more.
    request_queue_size = 256


class FakePlaces:
    """A threaded HTTP server on 127.0.0.1:<ephemeral>.

    Use as a context manager or call start()/stop().  `url` is the endpoint
    to give a server with --places-url.
    """

    def __init__(self, mode="ok", delay=10.0, huge_size=8 * 1024 * 1024,
                 then="ok"):
        if mode not in MODES or then not in MODES or then == "slow":
            raise ValueError("unknown mode %r / then %r" % (mode, then))
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._mode = mode
        self._delay = delay
        self._huge_size = huge_size
        self._then = then
        self._requests = []
        self._open = 0          # requests being handled now
        self._max_open = 0      # the most at once since start or reset_max()
        self._conns = set()
        self._stopping = threading.Event()
        self._httpd = None
        self._thread = None
        self.ok_body = pretty(ok_body_object()).encode("utf-8") + b"\n"

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="fakeplaces", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._httpd.server_address[1]

    @property
    def url(self):
        """The legacy Nearby Search endpoint (the `google` provider)."""
        return "http://127.0.0.1:%d%s" % (self.port, PATH)

    @property
    def new_url(self):
        """The searchNearby endpoint (the `google-new` provider)."""
        return "http://127.0.0.1:%d%s" % (self.port, NEW_PATH)

    @property
    def overpass_url(self):
        """The interpreter endpoint (the `overpass` provider)."""
        return "http://127.0.0.1:%d%s" % (self.port, OVERPASS_PATH)

    # -- configuration -----------------------------------------------------
    def set_mode(self, mode, delay=None, huge_size=None, then=None):
        """Change the answer; `then` is what `slow` answers after its delay."""
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        if then is not None and (then not in MODES or then == "slow"):
            raise ValueError("unknown mode %r for then" % then)
        with self._lock:
            self._mode = mode
            if delay is not None:
                self._delay = delay
            if huge_size is not None:
                self._huge_size = huge_size
            if then is not None:
                self._then = then

    @property
    def mode(self):
        with self._lock:
            return self._mode

    # -- recording ---------------------------------------------------------
    def _record(self, req):
        with self._cond:
            self._requests.append(req)
            self._open += 1
            self._max_open = max(self._max_open, self._open)
            self._cond.notify_all()
            return self._mode, self._delay, self._huge_size, self._then

    def _done(self, req):
        with self._cond:
            self._open -= 1
            req.done = time.monotonic()
            self._cond.notify_all()

    @property
    def open_now(self):
        """Requests being handled right now."""
        with self._lock:
            return self._open

    @property
    def max_open(self):
        """The most requests handled at once since start or reset_max()."""
        with self._lock:
            return self._max_open

    def reset_max(self):
        with self._lock:
            self._max_open = self._open

    def _track(self, conn, add):
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    def clear(self):
        with self._lock:
            self._requests.clear()

    def wait_requests(self, n, timeout):
        """Wait until at least `n` requests were recorded; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "fakeplaces: %d request(s) recorded, wanted %d within %.1fs"
                        % (len(self._requests), n, timeout))
                self._cond.wait(left)
            return list(self._requests)


if __name__ == "__main__":
    fp = FakePlaces(sys.argv[1] if len(sys.argv) > 1 else "ok").start()
    # stdout: the legacy URL alone (scripts read its first line); stderr:
    # the other providers' endpoints on the same port.
    print(fp.url, flush=True)
    print("google-new: %s\noverpass:   %s" % (fp.new_url, fp.overpass_url),
          file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fp.stop()
