"""A stand-in for Google's legacy Nearby Search endpoint, on loopback.

The fake records every request it receives and answers with a canned body
chosen by its current mode, which a test may change at any time:

    ok         HTTP 200, a Nearby Search body with 8 results (Google's layout)
    zero       HTTP 200, ZERO_RESULTS
    denied     HTTP 200, REQUEST_DENIED with an error_message
    overlimit  HTTP 200, OVER_QUERY_LIMIT with an error_message
    http500    HTTP 500 with a short text body
    malformed  HTTP 200, a body that is not JSON
    slow       waits `delay` seconds (default 10), then answers like `ok`;
               the wait ends early when the fake is stopped or the
               client hangs up
    huge       HTTP 200, a JSON body of several MB (default 8 MiB)

Python 3 standard library only.  Usable alone for manual checks:

    python3 fakeplaces.py [MODE]     # prints its URL, serves until ^C
"""

import json
import select
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/maps/api/place/nearbysearch/json"

MODES = ("ok", "zero", "denied", "overlimit", "http500", "malformed", "slow",
         "huge")

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


class Request:
    """One request as the fake saw it."""

    def __init__(self, method, path, raw_query, headers, body):
        self.method = method
        self.path = path
        self.raw_query = raw_query
        self.query = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.time = time.monotonic()

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
        mode, delay, huge_size = fake._record(req)
        try:
            self._answer(fake, mode, delay, huge_size)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _send(self, code, body, ctype="application/json; charset=UTF-8"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _answer(self, fake, mode, delay, huge_size):
        if mode == "slow":
            # The wait ends early when the fake stops or the client hangs up.
            if not self._wait_slow(fake, delay):
                self.close_connection = True
                return
            mode = "ok"
        if mode == "ok":
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


class FakePlaces:
    """A threaded HTTP server on 127.0.0.1:<ephemeral>.

    Use as a context manager or call start()/stop().  `url` is the endpoint
    to give a server with --places-url.
    """

    def __init__(self, mode="ok", delay=10.0, huge_size=8 * 1024 * 1024):
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._mode = mode
        self._delay = delay
        self._huge_size = huge_size
        self._requests = []
        self._conns = set()
        self._stopping = threading.Event()
        self._httpd = None
        self._thread = None
        self.ok_body = pretty(ok_body_object()).encode("utf-8") + b"\n"

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
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
        return "http://127.0.0.1:%d%s" % (self.port, PATH)

    # -- configuration -----------------------------------------------------
    def set_mode(self, mode, delay=None, huge_size=None):
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        with self._lock:
            self._mode = mode
            if delay is not None:
                self._delay = delay
            if huge_size is not None:
                self._huge_size = huge_size

    @property
    def mode(self):
        with self._lock:
            return self._mode

    # -- recording ---------------------------------------------------------
    def _record(self, req):
        with self._cond:
            self._requests.append(req)
            self._cond.notify_all()
            return self._mode, self._delay, self._huge_size

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
    print(fp.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fp.stop()
