#!/usr/bin/env python3
"""The supervisor's web server (herd.conf's `http`) on the default graph.

* `herd start` names the page's address (never the token); `herd web`
  prints it with the token of RUN_DIR/http-token (0600, 64 hex digits,
  kept across restarts of the herd).
* The page and its files are served as built, with the security headers;
  GET /api/state is the view (every server and link of herd.conf, each
  server's stats, rates) and follows the herd within 2 s (`herd stop
  Parker` shows Parker down and its three links not up).
* A change needs the token: without it, with a wrong one, from another
  origin or under another Host, it is refused (403, 421) and nothing
  changes. With it, stop, start, restart, kill, cut and heal (a link in
  either order, every link of a server) do what the `herd` command does,
  and `herd status --json` agrees; a cut when one end is down changes
  nothing (502). Unknown servers, links and actions are 404, other
  methods 405.
* Bounds: a huge header (431), a long address (414), a large body (413, or
  the connection closed), connections per address and in all, and a
  client that sends nothing or trickles bytes (of its head, or of a body)
  is closed after 5 s.
  Refusals are logged, but a flood of them is not a line each.
* `herd stop` while a change waits for its outcome answers it and exits
  cleanly.
* `herd start` fails clearly (and leaves nothing running) when the
  address is taken; `herd web` says so when http is off, or before the
  first start.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import http.client
import json
import os
import re
import select
import signal
import socket
import stat
import threading
import time

import herdsup
import herdtest
from herdsup import check, eq, fail, show, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
WEB_DIR = os.path.join(HERE, "..", "..", "supervisor", "web")
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
CSP = "default-src 'self'; frame-ancestors 'none'"
PER_ADDR = 32
MAX_CONNS = 64
REQUEST_S = 5.0
PARKER_LINKS = [("Alford", "Parker"), ("Bolden", "Parker"), ("Hamilton", "Parker")]


class Web:
    """Requests to the supervisor's http address."""

    def __init__(self, port, token):
        self.port = port
        self.token = token
        self.host = "127.0.0.1:%d" % port

    def request(self, method, path, token=None, host=None, headers=None,
                body=None, timeout=30.0):
        """(status, headers, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            c.putheader("Host", host if host is not None else self.host)
            if token is not None:
                c.putheader("X-Herd-Token", token)
            for k, v in (headers or {}).items():
                c.putheader(k, v)
            if body is not None:
                c.putheader("Content-Length", str(len(body)))
            c.endheaders(body)
            r = c.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, token="use", **kw):
        return self.request("POST", path,
                            token=self.token if token == "use" else token, **kw)

    def json(self, method, path, **kw):
        status, headers, body = self.request(method, path, **kw)
        eq(headers.get("Content-Type"), "application/json",
           "%s %s: Content-Type" % (method, path))
        try:
            return status, json.loads(body)
        except ValueError:
            fail("%s %s: not JSON: %s" % (method, path, show(body)))

    def change(self, path, token="use", **kw):
        """A POST expected to work: its message."""
        status, body = self.json("POST", path,
                                 token=self.token if token == "use" else token, **kw)
        check(status == 200 and body.get("ok") is True and isinstance(body.get("message"), str),
              "POST %s: expected 200 {ok: true, message}, got %d %s" % (path, status, body))
        return body["message"]

    def refused(self, path, status, what, token="use", **kw):
        got, body = self.json("POST", path,
                              token=self.token if token == "use" else token, **kw)
        eq(got, status, "%s: POST %s status (body %s)" % (what, path, body))
        check(isinstance(body.get("error"), str) and body["error"],
              "%s: no error message: %s" % (what, body))
        return body["error"]

    def state(self):
        status, st = self.json("GET", "/api/state")
        eq(status, 200, "GET /api/state")
        return st


def state_server(st, name):
    for s in st["servers"]:
        if s["name"] == name:
            return s
    fail("no server %s in /api/state" % name)


def state_link(st, a, b):
    for ln in st["links"]:
        if {ln["a"], ln["b"]} == {a, b}:
            return ln
    fail("no link %s - %s in /api/state" % (a, b))


def status_link(h, a, b):
    for ln in h.status()["links"]:
        if {ln["a"], ln["b"]} == {a, b}:
            return ln
    fail("no link %s - %s in herd status --json" % (a, b))


def wait_state(web, cond, timeout, what):
    """The first /api/state for which cond holds."""
    def get():
        st = web.state()
        return st if cond(st) else None
    return wait_until(get, timeout, what, 0.05)


def log_text(h):
    return herdtest.read_log(os.path.join(h.log_dir, "herd.log")).decode(errors="replace")


# -- the cases ---------------------------------------------------------------

def check_addresses(t, h, web, start_out):
    check("web page: http://%s/" % web.host in start_out,
          "herd start does not name the page: %s" % start_out)
    path = os.path.join(h.run_dir, "http-token")
    mode = stat.S_IMODE(os.lstat(path).st_mode)
    eq(oct(mode), oct(0o600), "mode of %s" % path)
    with open(path) as f:
        token = f.read()
    check(re.fullmatch(r"[0-9a-f]{64}\n?", token), "http-token is not 64 hex digits: %r" % token)
    token = token.strip()
    check(token not in start_out, "herd start printed the token")
    out = h.ok_cmd("web")
    eq(out, "http://%s/#token=%s\n" % (web.host, token), "herd web")
    t.ok("herd start names http://%s/; herd web adds the token of run/http-token (0600)"
         % web.host)
    return token


def check_page(t, web):
    for path, name, ctype in (("/", "index.html", "text/html"), ("/app.js", "app.js", "javascript"),
                              ("/style.css", "style.css", "text/css")):
        with open(os.path.join(WEB_DIR, name), "rb") as f:
            want = f.read()
        status, headers, body = web.get(path)
        eq(status, 200, "GET %s" % path)
        check(want == body, "GET %s: not the file %s (%d bytes, got %d)" % (path, name, len(want), len(body)))
        check(ctype in headers.get("Content-Type", ""), "GET %s: Content-Type %s"
              % (path, headers.get("Content-Type")))
        for k, v in SECURITY_HEADERS.items():
            eq(headers.get(k), v, "GET %s: header %s" % (path, k))
        eq(headers.get("Content-Security-Policy"), CSP, "GET %s: Content-Security-Policy" % path)
        status, headers, body = web.request("HEAD", path)
        eq((status, body), (200, b""), "HEAD %s" % path)
    status, headers, _ = web.get("/api/state")
    for k, v in SECURITY_HEADERS.items():
        eq(headers.get(k), v, "GET /api/state: header %s" % k)
    t.ok("the page, app.js and style.css are served as built, with the security headers")


def check_state_shape(t, h, web):
    def ready(st):
        return all(s["stats"] is not None for s in st["servers"]) and \
            all(ln["state"] == "up" for ln in st["links"])
    st = wait_state(web, ready, 15, "every server answering and every link up in /api/state")
    eq([s["name"] for s in st["servers"]], h.names, "servers of /api/state, in herd.conf's order")
    eq([(ln["a"], ln["b"]) for ln in st["links"]], h.links, "links of /api/state")
    check(isinstance(st["supervisor_pid"], int), "supervisor_pid: %r" % st["supervisor_pid"])
    keys = {"name", "address", "peer_address", "state", "managed", "pid", "uptime_ms", "restarts",
            "last_exit", "note", "records", "digest", "clients", "in_sync", "stats", "rates"}
    for s in st["servers"]:
        check(keys <= set(s), "server %s lacks %s" % (s["name"], sorted(keys - set(s))))
        eq((s["state"], s["managed"]), ("up", True), "%s state" % s["name"])
        eq(s["stats"]["name"], s["name"], "%s stats name" % s["name"])
        check(s["address"] == "127.0.0.1:%d" % h.port[s["name"]], "address of %s" % s["name"])
    for ln in st["links"]:
        check({"a", "b", "state", "since_ms", "why", "rtt_us", "note", "rates"} <= set(ln),
              "link lacks fields: %s" % ln)
    # Rates come once two rounds are in.
    st = wait_state(web, lambda st: all(isinstance(s["rates"], dict) for s in st["servers"]),
                    5, "rates in /api/state")
    for s in st["servers"]:
        check({"iamat", "whatsat", "updates_in", "updates_out", "places_misses"} <= set(s["rates"]),
              "rates of %s: %s" % (s["name"], s["rates"]))
    # Fresh: a record sent now is counted within a round or two.
    t0 = time.monotonic()
    h.iamat("Alford", b"fresh.example", b"1621464827.5")
    wait_state(web, lambda st: state_server(st, "Alford")["records"] == 1, 2.0,
               "/api/state to count Alford's new record")
    t.ok("/api/state: every server and link of herd.conf, stats and rates; a new record "
         "shows within %.2f s" % (time.monotonic() - t0))


def check_token(t, h, web):
    before = h.server("Parker")
    wrong = "0" * 64 if web.token != "0" * 64 else "1" * 64
    web.refused("/api/servers/Parker/stop", 403, "no token", token=None)
    web.refused("/api/servers/Parker/stop", 403, "a wrong token", token=wrong)
    web.refused("/api/servers/Parker/stop", 403, "a short token", token=web.token[:63])
    web.refused("/api/servers/Parker/kill", 403, "a token too long", token=web.token + "0")
    web.refused("/api/servers/Parker/stop?token=%s" % web.token, 403, "the token in the query",
                token=None)
    web.refused("/api/links/Alford/Parker/cut", 403, "cut without the token", token=None)
    web.refused("/api/servers/Parker/stop", 403, "another origin",
                headers={"Origin": "http://evil.example"})
    status, _, _ = web.request("POST", "/api/servers/Parker/stop", token=web.token,
                               host="evil.example:%d" % web.port)
    eq(status, 421, "POST with the token under another Host")
    time.sleep(0.6)  # a round of the watch: a cut would show
    after = h.server("Parker")
    eq((after["state"], after["pid"]), (before["state"], before["pid"]),
       "Parker after refused changes")
    eq(status_link(h, "Alford", "Parker")["state"], "up", "Alford - Parker after a refused cut")
    t.ok("without the token (or with a wrong one, another origin, another Host) a change is "
         "refused and nothing changes")


def check_host(t, web):
    for host in ("evil.example:%d" % web.port, "127.0.0.1:%d" % (web.port + 1), "evil.example",
                 ""):
        status, headers, body = web.get("/api/state", host=host)
        eq(status, 421, "GET /api/state with Host %r" % host)
        check(b"supervisor_pid" not in body, "Host %r got the state" % host)
    status, _, _ = web.get("/", host="rebind.example:%d" % web.port)
    eq(status, 421, "GET / with a rebinding Host")
    for hosts in ((web.host, "evil.example"), ("evil.example", web.host), (web.host, web.host)):
        got, _ = raw(web.port, ("GET /api/state HTTP/1.1\r\nHost: %s\r\nHost: %s\r\n"
                                "Connection: close\r\n\r\n" % hosts).encode())
        check(got.startswith(b"HTTP/1.1 400") and b"supervisor_pid" not in got,
              "GET /api/state with two Hosts %s: %s" % (hosts, show(got[:200])))
    for host in ("localhost:%d" % web.port, "127.0.0.1:%d" % web.port,
                 "LOCALHOST:%d" % web.port):
        status, _, _ = web.get("/api/state", host=host)
        eq(status, 200, "GET /api/state with Host %r" % host)
    t.ok("a Host other than the http address, localhost or 127.0.0.1 with its port is 421; "
         "two Hosts are 400")


def check_log_escapes(t, h, web):
    """What a client sends reaches herd.log escaped: a method or an address
    carrying a terminal escape or a newline cannot forge or colour a line."""
    got, _ = raw(web.port, b"G\x1b[31mET /x%%0aforged HTTP/1.1\r\nHost: %s\r\n"
                 b"Connection: close\r\n\r\n" % web.host.encode())
    check(got.startswith(b"HTTP/1.1 404"), "a method with an escape: %s" % show(got[:200]))
    line = wait_until(lambda: re.search(r"http: refused (G\S*ET) (/x\S*) from", log_text(h)), 5,
                      "the refusal in herd.log")
    eq(line.group(1, 2), ("G\\x1b[31mET", "/x\\x0aforged"), "the refusal's method and address")
    check("\x1b" not in log_text(h), "an escape character in herd.log")
    t.ok("a method and an address from a client are escaped in herd.log")


def check_changes(t, h, web):
    pid0 = h.server("Parker")["pid"]
    msg = web.change("/api/servers/Parker/stop")
    s = h.server("Parker")
    eq((s["state"], s["pid"]), ("down", None), "herd status after POST stop (%s)" % msg)
    check(not herdsup.pid_alive(pid0), "Parker's process %d still runs after stop" % pid0)
    eq(state_server(web.state(), "Parker")["state"], "down", "/api/state after POST stop")
    msg = web.change("/api/servers/Parker/start")
    s = h.server("Parker")
    check(s["state"] == "up" and s["pid"] not in (None, pid0),
          "herd status after POST start: %s" % s)
    check(str(s["pid"]) in msg, "start's message names the pid: %s" % msg)
    pid1 = s["pid"]
    restarts = s["restarts"]
    msg = web.change("/api/servers/Parker/kill")
    check("signal 9" in msg and str(pid1) in msg, "kill's message: %s" % msg)
    s = h.wait_state("Parker", "up", pred=lambda s: s["pid"] not in (None, pid1))
    eq(s["restarts"], restarts + 1, "Parker's restarts after POST kill")
    wait_state(web, lambda st: state_server(st, "Parker")["pid"] == s["pid"], 2,
               "/api/state to show Parker's new pid")
    pid2 = s["pid"]
    web.change("/api/servers/Parker/restart")
    s = h.server("Parker")
    check(s["state"] == "up" and s["pid"] not in (None, pid2), "after POST restart: %s" % s)
    log = log_text(h)
    for verb in ("stop", "start", "kill", "restart"):
        check(re.search(r"control: %s Parker\b.*\(http 127\.0\.0\.1:\d+\)" % verb, log),
              "herd.log has no line for the web's %s with the requester's address" % verb)
    t.ok("stop, start, kill (restarted, new pid), restart with the token; herd status agrees; "
         "each logged with the requester's address")


def check_follow(t, h, web):
    """herd stop Parker: the state shows it down and its links not up in 2 s."""
    h.ok_cmd("stop", "Parker")
    t0 = time.monotonic()
    def down(st):
        return state_server(st, "Parker")["state"] == "down" and \
            all(state_link(st, a, b)["state"] != "up" for a, b in PARKER_LINKS)
    wait_state(web, down, 2.0, "/api/state to show Parker and its links down")
    took = time.monotonic() - t0
    h.ok_cmd("start", "Parker")
    wait_state(web, lambda st: all(state_link(st, a, b)["state"] == "up" for a, b in PARKER_LINKS),
               10, "Parker's links up again")
    t.ok("after herd stop Parker, /api/state shows Parker and its three links down within "
         "%.2f s" % took)


def check_cuts(t, h, web):
    msg = web.change("/api/links/Powell/Alford/cut")
    check("Alford - Powell" in msg, "cut's message: %s" % msg)
    eq(status_link(h, "Alford", "Powell")["state"], "cut", "herd status after POST cut")
    wait_state(web, lambda st: state_link(st, "Alford", "Powell")["state"] == "cut", 2,
               "/api/state to show Alford - Powell cut")
    web.change("/api/links/Alford/Powell/heal")
    wait_until(lambda: status_link(h, "Alford", "Powell")["state"] == "up", 10,
               "Alford - Powell up after POST heal")
    msg = web.change("/api/servers/Parker/cut")
    for a, b in PARKER_LINKS:
        check("%s - %s" % (a, b) in msg, "cut Parker's message: %s" % msg)
        eq(status_link(h, a, b)["state"], "cut", "%s - %s after POST cut of Parker" % (a, b))
    eq(status_link(h, "Alford", "Powell")["state"], "up", "Alford - Powell after cutting Parker")
    web.change("/api/servers/Parker/heal")
    for a, b in PARKER_LINKS:
        wait_until(lambda: status_link(h, a, b)["state"] == "up", 10,
                   "%s - %s up after POST heal of Parker" % (a, b))
    # One end down: nothing changes at the other.
    h.ok_cmd("stop", "Powell")
    err = web.refused("/api/links/Alford/Powell/cut", 502, "a cut with Powell down")
    check("Powell" in err, "the error names Powell: %s" % err)
    check("Powell" in h.ok_cmd("start", "Powell"), "herd start Powell")
    time.sleep(0.6)
    eq(status_link(h, "Alford", "Powell")["state"] != "cut", True,
       "Alford - Powell is not cut after a refused cut")
    log = log_text(h)
    check(re.search(r"http: cut Alford - Powell \(from 127\.0\.0\.1:\d+\)", log),
          "herd.log has no line for the web's cut")
    t.ok("cut and heal of a link (either order) and of every link of a server; with an end "
         "down, 502 and nothing cut")


def check_not_found(t, web):
    for path, want in (("/api/servers/Nobody/stop", 404), ("/api/servers/Parker/explode", 404),
                       ("/api/links/Alford/Bolden/cut", 404), ("/api/links/Alford/Parker/stop", 404),
                       ("/api/links/Alford/Nobody/cut", 404), ("/api/servers/Parker", 404),
                       ("/api/servers/Parker/stop/more", 404)):
        web.refused(path, want, "POST %s" % path)
    for method, path in (("GET", "/api/servers/Parker/stop"), ("PUT", "/api/links/Alford/Parker/cut"),
                         ("DELETE", "/api/state"), ("POST", "/metrics"), ("POST", "/")):
        status, headers, _ = web.request(method, path, token=web.token)
        eq(status, 405, "%s %s" % (method, path))
        check(headers.get("Allow") in ("GET, HEAD", "POST"), "%s %s: Allow %s"
              % (method, path, headers.get("Allow")))
    status, _, _ = web.get("/nothing/here")
    eq(status, 404, "GET /nothing/here")
    t.ok("unknown servers, links and actions are 404; other methods 405 with Allow")


def raw(port, data, src="127.0.0.1", timeout=10.0):
    """Sends data on a new connection; (what came back, closed)."""
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        got, closed = b"", False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([s], [], [], 0.1)
            if not r:
                continue
            try:
                chunk = s.recv(65536)
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
        return got, closed
    finally:
        s.close()


def check_sizes(t, h, web):
    port = web.port
    head = "Host: %s\r\nConnection: close\r\n" % web.host
    got, closed = raw(port, ("GET /api/state HTTP/1.1\r\n%sX-Big: %s\r\n\r\n"
                             % (head, "a" * 40000)).encode())
    check(got.startswith(b"HTTP/1.1 431") and closed, "a 40 kB header: %s" % show(got[:200]))
    got, _ = raw(port, ("GET /%s HTTP/1.1\r\n%s\r\n" % ("a" * 1000, head)).encode())
    check(got.startswith(b"HTTP/1.1 414"), "a 1000-byte address: %s" % show(got[:200]))
    pid = h.server("Parker")["pid"]
    post = "POST /api/servers/Parker/stop HTTP/1.1\r\n%sX-Herd-Token: %s\r\n" % (head, web.token)
    got, _ = raw(port, (post + "Content-Length: 100000\r\n\r\n").encode() + b"x" * 100000)
    check(got.startswith(b"HTTP/1.1 413"), "a 100 kB body: %s" % show(got[:200]))
    chunk = b"1000\r\n" + b"x" * 4096 + b"\r\n"
    got, closed = raw(port, (post + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunk * 4 +
                      b"0\r\n\r\n")
    check(closed and not got.startswith(b"HTTP/1.1 200"), "a 16 kB chunked body: %s" % show(got[:200]))
    s = h.server("Parker")
    eq((s["state"], s["pid"]), ("up", pid), "Parker after the oversize requests")
    status, _, _ = web.get("/api/state")
    eq(status, 200, "GET /api/state after the oversize requests")
    t.ok("a 40 kB header is 431, a long address 414, a large body 413 (or closed), nothing changed")


def connect_from(port, src):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def served(port, src, timeout):
    """Whether a GET /api/state from src is answered within timeout."""
    got, _ = raw(port, b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n"
                 % port, src=src, timeout=timeout)
    return got.startswith(b"HTTP/1.1 200")


def check_connections(t, web):
    port = web.port
    held = []
    try:
        for _ in range(PER_ADDR):
            held.append(connect_from(port, "127.0.0.1"))
        time.sleep(0.3)
        check(not served(port, "127.0.0.1", 2), "a connection past %d from one address was served"
              % PER_ADDR)
        check(served(port, "127.0.0.2", 5), "another address was not served")
        for i in range(MAX_CONNS - PER_ADDR):
            held.append(connect_from(port, "127.0.0.%d" % (3 + i % 4)))
        time.sleep(0.3)
        check(not served(port, "127.0.0.9", 2), "a connection past %d in all was served" % MAX_CONNS)
    finally:
        for s in held:
            s.close()
    wait_until(lambda: served(port, "127.0.0.1", 2), 10, "a request to be served again")
    t.ok("%d connections per address and %d in all; past them none is served; after, again"
         % (PER_ADDR, MAX_CONNS))


def check_slow(t, h, web):
    """A silent connection, one trickling its head, one trickling the body
    of a GET whose head came whole (no token needed), and one kept alive
    after its answer: each is closed once REQUEST_S has passed without a
    whole request; the last, a browser's spare connection, is not logged."""
    port = web.port
    conns = {k: connect_from(port, "127.0.0.1") for k in ("silent", "trickle", "body")}
    conns["trickle"].sendall(b"GET /api/state HTTP/1.1\r\nHost: ")
    conns["body"].sendall(b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                          b"Content-Length: 100\r\n\r\n" % port)
    kept = connect_from(port, "127.0.0.1")
    kept_addr = "127.0.0.1:%d" % kept.getsockname()[1]
    kept.sendall(b"GET /style.css HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < int(
            re.search(rb"Content-Length: (\d+)", answer).group(1)):
        chunk = kept.recv(65536)
        check(chunk, "the kept-alive connection closed before its answer: %s" % show(answer))
        answer += chunk
    check(answer.startswith(b"HTTP/1.1 200"), "GET /style.css kept alive: %s" % show(answer[:200]))
    conns["kept"] = kept
    texts = {"trickle": b"127.0.0.1:%d\r\nX-Slow: " % port + b"a" * 100, "body": b"x" * 99}
    t0 = time.monotonic()
    closed = {}
    sent = {k: 0 for k in texts}
    next_byte = t0
    try:
        while len(closed) < len(conns) and time.monotonic() < t0 + REQUEST_S + 6:
            now = time.monotonic()
            if now >= next_byte:
                for k, text in texts.items():
                    if k in closed or sent[k] >= len(text):
                        continue
                    try:
                        conns[k].send(text[sent[k]:sent[k] + 1])
                        sent[k] += 1
                    except OSError:
                        closed[k] = now - t0
                next_byte = now + 0.3
            live = [s for k, s in conns.items() if k not in closed]
            r, _, _ = select.select(live, [], [], 0.05)
            for s in r:
                k = next(k for k, c in conns.items() if c is s)
                try:
                    chunk = s.recv(4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    closed[k] = time.monotonic() - t0
                else:
                    fail("a %s connection was answered: %s" % (k, show(chunk)))
    finally:
        for s in conns.values():
            s.close()
    for k in conns:
        check(k in closed, "a %s connection is still open after %.0f s" % (k, REQUEST_S + 6))
        check(closed[k] >= REQUEST_S - 1.1, "a %s connection closed after only %.1f s"
              % (k, closed[k]))
    check("closed the connection of %s:" % kept_addr not in log_text(h),
          "a connection idle after its answer was logged as a refusal")
    t.ok("a silent connection is closed after %.1f s, one trickling its request after %.1f s, "
         "one trickling a body after %.1f s, one idle after its answer after %.1f s (not logged)"
         % (closed["silent"], closed["trickle"], closed["body"], closed["kept"]))


def check_flood_log(t, h, web):
    before = log_text(h).count("http: refused")
    for _ in range(200):
        status, _, _ = web.request("POST", "/api/servers/Parker/stop", token=None)
        eq(status, 403, "a refused request of the flood")
    logged = log_text(h).count("http: refused") - before
    check(1 <= logged <= 11, "200 refusals logged %d lines" % logged)
    wait_until(lambda: re.search(r"http: \d+ more refusals in 10 s not logged", log_text(h)), 15,
               "the count of refusals left out of the log")
    t.ok("a flood of 200 refusals: %d lines in herd.log, then their count" % logged)


def check_port_taken(t, port):
    h2 = herdsup.Herd(t, names=["Solo"], links=[], subdir="taken",
                      extra_conf="http 127.0.0.1:%d" % port)
    rc, out, err = h2.cmd("start")
    check(rc != 0, "herd start with a taken http address succeeded: %s" % out)
    check("cannot serve the web page on 127.0.0.1:%d" % port in err and "in use" in err,
          "herd start's error for a taken address: %s" % err)
    try:
        with socket.create_connection(("127.0.0.1", h2.port["Solo"]), timeout=1):
            fail("Solo listens after a failed start")
    except OSError:
        pass
    rc, out, err2 = h2.cmd("status")
    check(rc != 0 and "not running" in err2, "herd status after a failed start: %s %s" % (out, err2))
    t.ok("herd start fails when the http address is taken: %s" % err.strip().splitlines()[-1])


def check_web_errors(t):
    off = herdsup.Herd(t, names=["Solo"], links=[], subdir="off", extra_conf="http off")
    rc, out, err = off.cmd("web")
    check(rc != 0 and out == "" and "off" in err, "herd web with http off: %d %r %r" % (rc, out, err))
    never = herdsup.Herd(t, names=["Solo"], links=[], subdir="never",
                         extra_conf="http 127.0.0.1:%d" % herdtest.free_port())
    rc, out, err2 = never.cmd("web")
    check(rc != 0 and out == "" and "start the herd first" in err2,
          "herd web before the first start: %d %r %r" % (rc, out, err2))
    bad = herdsup.Herd(t, names=["Solo"], links=[], subdir="bad", extra_conf="http nowhere")
    rc, out, err3 = bad.cmd("web")
    eq(rc, 78, "herd web with 'http nowhere': exit code (%s)" % err3)
    t.ok("herd web: %s / %s" % (err.strip(), err2.strip()))


def check_stop_while_waiting(t, h, web):
    """herd stop while a change from the page waits for its outcome (a stop
    of a server that ignores SIGTERM, stopped here with SIGSTOP): the change
    is answered, and the supervisor still exits cleanly."""
    pid = h.server("Parker")["pid"]
    os.kill(pid, signal.SIGSTOP)
    got = {}

    def post():
        try:
            got["answer"] = web.json("POST", "/api/servers/Parker/stop", token=web.token)
        except BaseException as e:  # noqa: BLE001 (reported below)
            got["error"] = e

    th = threading.Thread(target=post, daemon=True)
    th.start()
    try:
        wait_until(lambda: re.search(r"control: stop Parker \(http ", log_text(h)), 10,
                   "the web's stop of Parker in herd.log")
        check(th.is_alive(), "the stop of a stopped Parker was answered at once: %s" % got)
        h.stop()
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except OSError:
            pass
    th.join(10)
    check(not th.is_alive(), "the waiting change was not answered when the herd stopped")
    check("error" not in got, "the waiting change: %r" % got.get("error"))
    status, body = got["answer"]
    check(status in (200, 503), "the waiting change's answer: %d %s" % (status, body))
    t.ok("herd stop while a change from the page waits: answered %d (%s)"
         % (status, body.get("message") or body.get("error")))


def main(t):
    port = herdtest.free_port()
    h = herdsup.Herd(t, extra_conf="http 127.0.0.1:%d" % port)
    try:
        start_out, _ = h.start()
        web = Web(port, None)
        web.token = check_addresses(t, h, web, start_out)
        check_page(t, web)
        check_state_shape(t, h, web)
        check_log_escapes(t, h, web)
        check_host(t, web)
        check_token(t, h, web)
        check_changes(t, h, web)
        check_follow(t, h, web)
        check_cuts(t, h, web)
        check_not_found(t, web)
        check_sizes(t, h, web)
        check_connections(t, web)
        check_slow(t, h, web)
        check_flood_log(t, h, web)
        check_port_taken(t, port)
        check_web_errors(t)
        token = web.token
        h.stop()
        h.start()
        eq(h.ok_cmd("web"), "http://%s/#token=%s\n" % (web.host, token), "herd web after a restart")
        t.ok("the token is kept across a restart of the herd")
        check_stop_while_waiting(t, h, web)
        check(not re.search(r"ERROR|Sanitizer|leak", log_text(h)), "herd.log reports an error")
    finally:
        h.close()


herdsup.run(main, watchdog=280)
