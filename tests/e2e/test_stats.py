"""What each server knows about itself: the control socket's `status`.

Three servers in a line, Alford - Bolden - Chester (short link timeouts),
and a neighbour of Bolden's played by the test itself (Aaron, speaking
the peer protocol of server/handshake.h in clear). Chester also has two
neighbours that never run: Abe (who would dial Chester) and Dunn (whom
Chester dials, refused). Every step is followed by a status from every
server it touches, and the numbers must be the exact ones the step makes:

  * IAMAT, WHATSAT and invalid lines on Alford: counters, records, the
    write-ahead log (records, bytes equal to the file's size, fsyncs),
    the offline provider's requests and latency, the WHATSAT latency, and
    the records and bytes each link carried (the two ends of a link agree
    byte for byte);
  * Aaron sends Bolden a copy Bolden holds, an older record, a new one
    and a line that is no record: two stale, four received, one applied
    and flooded on, bytes received equal to the bytes Aaron sent;
  * WHATSATs on Bolden through the stand-in provider: cache misses and
    hits, errors by word (http_500, request_denied, timeout), one in
    flight while it waits, a latency in the bucket its delay falls in;
  * Chester's connection limits: one refused per address, one handshake
    pushed out;
  * a cut (state cut, why "cut" on one side, "closed" on the other, then
    up again), a stopped neighbour ("silent"), a catch-up after a cut
    (counted on both ends, and every record it carried is either new or
    counted stale), a killed neighbour ("closed"), a handshake with a
    wrong proof ("handshake: wrong proof ...");
  * histograms: their bounds, one count per bucket and the counts summing
    to the count.
"""

import json
import os
import select
import signal
import socket
import threading
import time

import herdtest
from herdtest import check, eq, fail, show, wait_until

BOUNDS = [100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
          250000, 500000, 1000000, 2500000, 5000000]
LINK_ARGS = ["--link-ping", "250", "--link-timeout", "1500"]
LOC = b"+34.068930-118.445127"
T0 = 1621464827


def ctl_path(s):
    return os.path.join(s.dir, "ctl.sock")


def status(s):
    """One status line from s's control socket, parsed."""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5.0)
    try:
        c.connect(ctl_path(s))
        c.sendall(b"status\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = c.recv(1 << 16)
            if not chunk:
                fail("%s: control socket closed before the status line (have %s)"
                     % (s.name, show(buf)))
            buf += chunk
    finally:
        c.close()
    try:
        return json.loads(buf)
    except ValueError:
        fail("%s: status is not JSON: %s" % (s.name, show(buf)))


def ctl(s, line):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5.0)
    try:
        c.connect(ctl_path(s))
        c.sendall(line + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = c.recv(4096)
            if not chunk:
                break
            buf += chunk
    finally:
        c.close()
    return buf.strip()


def nb(st, name):
    for n in st["neighbours"]:
        if n["name"] == name:
            return n
    fail("%s's status has no neighbour %s: %s" % (st["name"], name, st["neighbours"]))


def nb_of(s, name):
    return nb(status(s), name)


def check_hist(h, what):
    eq(list(h.keys()), ["bounds_us", "counts", "sum_us", "count"], what + ": keys")
    eq(h["bounds_us"], BOUNDS, what + ": bounds")
    eq(len(h["counts"]), len(BOUNDS) + 1, what + ": one count per bucket and one above")
    check(all(isinstance(n, int) and n >= 0 for n in h["counts"]),
          "%s: counts must be counts: %s" % (what, h["counts"]))
    eq(sum(h["counts"]), h["count"], what + ": the buckets sum to the count")
    check(h["count"] == 0 or h["sum_us"] >= 0, what + ": sum")


def bucket_of(us):
    for i, b in enumerate(BOUNDS):
        if us <= b:
            return i
    return len(BOUNDS)


STATUS_KEYS = ["name", "pid", "epoch", "uptime_ms", "records", "digest", "clients",
               "counters", "places", "whatsat_latency", "wal", "neighbours", "config"]
CONFIG_KEYS = ["loaded_ms", "reloads", "last_reload"]
COUNTER_KEYS = ["iamat", "whatsat", "invalid", "stale", "refused", "connections"]
PLACES_KEYS = ["provider", "requests", "cache_hits", "cache_misses", "in_flight",
               "errors", "latency"]
WAL_KEYS = ["bytes", "records", "fsyncs", "compactions"]
NB_KEYS = ["name", "state", "cut", "since_ms", "why", "last_heard_ms", "rtt_us",
           "sent", "received", "bytes_sent", "bytes_received", "queued", "catchups",
           "catchup_records", "catchup_bytes", "synced"]


def check_shape(s, st):
    what = "%s's status" % s.name
    eq(list(st.keys()), STATUS_KEYS, what + ": keys in order")
    eq(st["name"], s.name, what + ": name")
    eq(st["pid"], s.proc.pid, what + ": pid")
    check(len(st["epoch"]) == 16 and len(st["digest"]) == 16,
          "%s: epoch and digest are 16 hex digits: %s" % (what, st))
    eq(list(st["counters"].keys()), COUNTER_KEYS, what + ": counters")
    eq(list(st["places"].keys()), PLACES_KEYS, what + ": places")
    eq(list(st["wal"].keys()), WAL_KEYS, what + ": wal")
    eq(list(st["config"].keys()), CONFIG_KEYS, what + ": config")  # e2e.server_reload
    check_hist(st["places"]["latency"], what + ": places latency")
    check_hist(st["whatsat_latency"], what + ": whatsat latency")
    for n in st["neighbours"]:
        eq(list(n.keys()), NB_KEYS, "%s: neighbour %s's keys" % (what, n["name"]))
        check(n["state"] in ("up", "dialling", "down", "cut"),
              "%s: %s's state %r" % (what, n["name"], n["state"]))
        check(n["since_ms"] >= 0 and n["since_ms"] <= st["uptime_ms"] + 5,
              "%s: %s's since_ms %d, uptime %d" % (what, n["name"], n["since_ms"],
                                                  st["uptime_ms"]))
        eq(n["why"] == "", n["state"] == "up", "%s: %s's why (%r) is empty exactly when "
           "it is up (%s)" % (what, n["name"], n["why"], n["state"]))
        eq(n["cut"], n["state"] == "cut", "%s: %s's cut" % (what, n["name"]))


class FakePeer:
    """Aaron: a neighbour played by the test over the peer protocol in
    clear. A thread reads everything, counts the bytes both ways, keeps the
    AT lines and answers each PING with its PONG."""

    def __init__(self, s, name=b"Aaron"):
        self.srv = s
        self.name = name
        self.sock = socket.create_connection((herdtest.LOOPBACK, s.peer_port), timeout=5)
        self.lock = threading.Lock()
        self.read_bytes = 0
        self.sent_bytes = 0
        self.ats = []
        self.buf = b""
        self.closed = False
        self.thread = None

    def _send(self, data):
        with self.lock:
            self.sock.sendall(data)
            self.sent_bytes += len(data)

    def handshake(self, count, digest, proof=b"-"):
        self._send(b"HELLO herd/2 %s 1 %d %s %s\n" % (self.name, count, digest,
                                                      b"00" * 16))
        deadline = time.monotonic() + 5
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.sock], [], [], max(left, 0))
            if not r:
                fail("Aaron: no HELLO from %s (have %s)" % (self.srv.name, show(self.buf)))
            chunk = self.sock.recv(4096)
            if not chunk:
                return False
            self.read_bytes += len(chunk)
            self.buf += chunk
        line = self.buf.split(b"\n", 1)[0]
        check(line.startswith(b"HELLO herd/2 %s " % self.srv.name.encode()),
              "Aaron: %s's answer is no HELLO: %s" % (self.srv.name, show(line)))
        self.buf = self.buf.split(b"\n", 1)[1]
        self._send(b"PROOF " + proof + b"\n")
        return True

    def start(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.closed:
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            with self.lock:
                self.read_bytes += len(chunk)
            self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if line.startswith(b"PING "):
                    try:
                        self._send(b"PONG " + line[5:] + b"\n")
                    except OSError:
                        return
                elif line.startswith(b"AT "):
                    with self.lock:
                        self.ats.append(line)

    def send(self, data):
        self._send(data)

    def counts(self):
        with self.lock:
            return self.read_bytes, self.sent_bytes, len(self.ats)

    def close(self):
        self.closed = True
        if self.thread is not None:
            self.thread.join(2)
        self.sock.close()


def iamat(c, cid, ctime):
    c.send(b"IAMAT %s %s %s\n" % (cid, LOC, ctime))
    line = c.read_line()
    check(line.startswith(b"AT "), "IAMAT %s: answer %s" % (cid.decode(), show(line)))
    return line


def link_bytes_agree(a, b):
    """Waits until the two ends of the link a - b count the same bytes each
    way (a heartbeat may cross between the two reads): returns both."""
    def cond():
        x = nb_of(a, b.name)
        y = nb_of(b, a.name)
        if x["bytes_sent"] == y["bytes_received"] and \
                x["bytes_received"] == y["bytes_sent"]:
            return x, y
        return None
    return wait_until(cond, 5, "%s and %s to agree on the bytes of their link"
                      % (a.name, b.name))


def main(t):
    fake = t.fakeplaces()
    dunn_port = herdtest.free_port()
    abe_port = herdtest.free_port()
    aaron_port = herdtest.free_port()
    a = t.server("Alford")
    b = t.server("Bolden", places=fake)
    c = t.server("Chester")
    t.link(a, b)
    t.link(b, c)
    wal_dir = os.path.join(a.dir, "data")
    a.extra_args = ["--data-dir", wal_dir, "--fsync", "batch"]
    b.peers.append(("Aaron", aaron_port))
    c.peers.append(("Abe", abe_port))
    c.peers.append(("Dunn", dunn_port))
    c.extra_args = ["--max-clients-per-addr", "1", "--max-handshakes", "1"]
    for s in (a, b, c):
        s.extra_args = s.extra_args + LINK_ARGS + ["--control", ctl_path(s)]
    t.start_all()
    a.wait_links_up(["Bolden"])
    b.wait_links_up(["Alford", "Chester"])
    c.wait_links_up(["Bolden"])

    # -- at start ---------------------------------------------------------
    for s in (a, b, c):
        st = status(s)
        check_shape(s, st)
        eq(st["counters"], dict.fromkeys(COUNTER_KEYS, 0), s.name + ": counters at start")
        eq(st["records"], 0, s.name + ": records at start")
        eq(st["clients"], 0, s.name + ": clients at start")
        eq(st["places"]["requests"], 0, s.name + ": places requests at start")
        eq(st["places"]["errors"], {}, s.name + ": places errors at start")
        eq(st["wal"], {"bytes": 0, "records": 0, "fsyncs": 0, "compactions": 0},
           s.name + ": write-ahead log at start (Alford's is new, the others have none)")
    eq(status(a)["places"]["provider"], "offline", "Alford's provider")
    eq(status(b)["places"]["provider"], "google", "Bolden's provider")
    st = status(c)
    abe = nb(st, "Abe")
    eq((abe["state"], abe["why"], abe["last_heard_ms"], abe["sent"], abe["bytes_sent"]),
       ("down", "not yet connected", None, 0, 0), "Chester's Abe (who never dials)")
    check(abe["since_ms"] >= st["uptime_ms"] - 1000,
          "Chester's Abe: down since the start: since_ms %d, uptime %d"
          % (abe["since_ms"], st["uptime_ms"]))
    wait_until(lambda: nb_of(c, "Dunn")["why"] == "refused", 5,
               "Chester's Dunn (nobody listens) to be refused")
    dunn = nb_of(c, "Dunn")
    check(dunn["state"] in ("down", "dialling") and dunn["last_heard_ms"] is None,
          "Chester's Dunn: %s" % dunn)
    eq((abe["synced"], dunn["synced"]), (False, False), "links down are not synced")
    for s, other in ((a, "Bolden"), (b, "Alford"), (b, "Chester"), (c, "Bolden")):
        n = nb_of(s, other)
        eq((n["state"], n["why"], n["cut"], n["synced"]), ("up", "", False, True),
           "%s's link to %s (up in sync: empty stores)" % (s.name, other))
        check(isinstance(n["last_heard_ms"], int) and n["last_heard_ms"] < 1500,
              "%s's link to %s: heard %s ms ago" % (s.name, other, n["last_heard_ms"]))
    # The dialers' heartbeats measure a round trip.
    for s, other in ((a, "Bolden"), (b, "Chester")):
        wait_until(lambda: nb_of(s, other)["rtt_us"] > 0, 5,
                   "%s's round trip to %s" % (s.name, other))
    t.ok("at start: every key in order, counters 0, links up with a round trip; "
         "Abe 'not yet connected' since the start, Dunn 'refused'")

    # -- Aaron, a neighbour played by the test, links to Bolden -----------
    bst = status(b)
    aaron = FakePeer(b)
    check(aaron.handshake(bst["records"], bst["digest"].encode()), "Aaron's handshake")
    aaron.start()
    wait_until(lambda: nb_of(b, "Aaron")["state"] == "up", 5, "Bolden's Aaron up")
    eq(nb_of(b, "Aaron")["synced"], True, "Aaron came with Bolden's digest: synced")

    # -- clients on Alford ------------------------------------------------
    n_iamat = 20
    ats = []
    with a.connect() as cl:
        for i in range(n_iamat):
            ats.append(iamat(cl, b"stat-%d" % i, b"%d.%09d" % (T0, i + 1)))
        invalid = [b"hello there", b"IAMAT onlytwo fields", b"WHATSAT nobody 10 5"]
        for line in invalid:
            cl.send(line + b"\n")
            eq(cl.read_line(), b"? " + line, "the answer to %s" % show(line))
        cl.send(b"\n")  # blank: no answer, not counted
        for _ in range(2):
            herdtest.whatsat(cl, b"stat-0", b"10", 3)
        wait_until(lambda: status(a)["clients"] == 1, 5, "Alford's one client")
    wait_until(lambda: status(c)["records"] == n_iamat, 10, "Chester to hold the records")
    wait_until(lambda: aaron.counts()[2] == n_iamat, 10, "Aaron to get the records")
    wait_until(lambda: status(a)["clients"] == 0, 5, "Alford's client gone")
    st = status(a)
    check_shape(a, st)
    eq(st["counters"], {"iamat": n_iamat, "whatsat": 2, "invalid": 3, "stale": 0,
                        "refused": 0, "connections": 1}, "Alford's counters")
    eq(st["records"], n_iamat, "Alford's records")
    pl = st["places"]
    eq((pl["requests"], pl["cache_hits"], pl["cache_misses"], pl["in_flight"], pl["errors"]),
       (2, 0, 0, 0, {}), "Alford's places (offline: no cache)")
    eq(pl["latency"]["count"], 2, "Alford's places latency count")
    eq(st["whatsat_latency"]["count"], 2, "Alford's WHATSAT latency count")
    check(st["whatsat_latency"]["sum_us"] >= pl["latency"]["sum_us"],
          "a WHATSAT takes at least its places lookup: %s" % st)
    wal = st["wal"]
    wal_size = os.path.getsize(os.path.join(wal_dir, "records.wal"))
    eq((wal["records"], wal["bytes"], wal["compactions"]), (n_iamat, wal_size, 0),
       "Alford's write-ahead log (records, bytes = the file's size, compactions)")
    check(1 <= wal["fsyncs"] <= n_iamat, "Alford's fsyncs under --fsync batch: %s" % wal)
    x, y = link_bytes_agree(a, b)
    eq((x["sent"], x["received"]), (n_iamat, 0), "Alford's records to and from Bolden")
    eq((y["sent"], y["received"]), (0, n_iamat), "Bolden's records to and from Alford")
    at_bytes = sum(len(line) + 1 for line in ats)
    check(x["bytes_sent"] >= at_bytes,
          "Alford sent Bolden %d bytes, less than the %d of its records"
          % (x["bytes_sent"], at_bytes))
    y = link_bytes_agree(b, c)[0]
    eq(y["sent"], n_iamat, "Bolden's records to Chester")
    eq(nb_of(c, "Bolden")["received"], n_iamat, "Chester's records from Bolden")
    eq(nb_of(b, "Aaron")["sent"], n_iamat, "Bolden's records to Aaron")
    for s in (a, b, c):
        for n in status(s)["neighbours"]:
            eq(n["queued"], 0, "%s's bytes queued to %s when idle" % (s.name, n["name"]))
    eq(status(b)["counters"]["iamat"], 0, "Bolden's IAMATs (it had no client)")
    t.ok("Alford: %d IAMAT, 2 WHATSAT, 3 invalid; the log (%d bytes, %d fsyncs), the "
         "offline lookups and the records each link carried; both ends of a link "
         "count the same bytes" % (n_iamat, wal_size, wal["fsyncs"]))

    # -- Aaron sends Bolden records ---------------------------------------
    lines = [
        ats[3],                                                  # held already
        b"AT Aaron +0.000000001 stat-5 %s %d.000000000" % (LOC, T0 - 60),  # older
        b"AT Aaron +0.000000001 aaron-new %s %d.5" % (LOC, T0),  # new
        b"AT garbage",                                           # no record
    ]
    aaron.send(b"".join(line + b"\n" for line in lines))
    for s in (a, b, c):
        wait_until(lambda: status(s)["records"] == n_iamat + 1, 5,
                   "%s to hold Aaron's new record" % s.name)

    def aaron_agrees():
        got = nb_of(b, "Aaron")
        read, sent, _ = aaron.counts()
        return got if (got["bytes_received"], got["bytes_sent"]) == (sent, read) else None
    got = wait_until(aaron_agrees, 5, "Bolden's bytes with Aaron to match Aaron's count")
    eq((got["received"], got["sent"]), (4, n_iamat), "Bolden's records from and to Aaron")
    st = status(b)
    eq(st["counters"]["stale"], 2, "Bolden's stale records (a copy it held, an older one)")
    eq(nb(st, "Alford")["sent"], 1, "Bolden flooded Aaron's record to Alford")
    eq(nb(st, "Chester")["sent"], n_iamat + 1, "and to Chester")
    eq(nb_of(a, "Bolden")["received"], 1, "Alford's records from Bolden")
    t.ok("Aaron's four lines: Bolden counts 2 stale, 4 received, 1 flooded on, and "
         "the bytes both ways as Aaron counted them (%d in, %d out)"
         % (got["bytes_received"], got["bytes_sent"]))

    # -- WHATSAT on Bolden through the stand-in provider ------------------
    with b.connect() as cl:
        herdtest.whatsat(cl, b"stat-1", b"10", 5)           # miss
        herdtest.whatsat(cl, b"stat-1", b"10", 2)           # hit
        fake.set_mode("http500")
        herdtest.whatsat(cl, b"stat-1", b"11", 5)           # http_500
        fake.set_mode("denied")
        herdtest.whatsat(cl, b"stat-1", b"12", 5)           # request_denied
        fake.set_mode("slow", delay=1.2, then="ok")
        cl.send(b"WHATSAT stat-1 13 5\n")
        wait_until(lambda: status(b)["places"]["in_flight"] == 1, 5,
                   "Bolden's places request in flight")
        cl.read_whatsat(10)
        fake.set_mode("slow", delay=10, then="ok")           # the server gives up at 2 s
        herdtest.whatsat(cl, b"stat-1", b"14", 5)
    st = status(b)
    check_shape(b, st)
    pl = st["places"]
    eq((pl["requests"], pl["cache_hits"], pl["cache_misses"], pl["in_flight"]),
       (6, 1, 5, 0), "Bolden's places requests, hits, misses, in flight")
    eq(pl["errors"], {"http_500": 1, "request_denied": 1, "timeout": 1},
       "Bolden's places errors")
    lat = pl["latency"]
    eq(lat["count"], 6, "Bolden's places latency count")
    eq(bucket_of(1200000), bucket_of(2000000), "1.2 s and 2 s: one bucket")
    check(lat["counts"][bucket_of(1200000)] >= 2,
          "the 1.2 s and the 2 s lookups in their bucket: %s" % lat["counts"])
    check(lat["sum_us"] >= 3200000, "Bolden's places latency sum: %s" % lat)
    eq(st["whatsat_latency"]["count"], 6, "Bolden's WHATSAT latency count")
    check(st["whatsat_latency"]["sum_us"] >= 3200000, "Bolden's WHATSAT latency: %s"
          % st["whatsat_latency"])
    eq((st["counters"]["whatsat"], st["counters"]["invalid"]), (6, 0),
       "Bolden's WHATSAT and invalid counters")
    fake.set_mode("ok")
    t.ok("Bolden's places: 6 requests, 1 hit, 5 misses, one in flight while it waited, "
         "errors %s, latencies in their buckets" % pl["errors"])

    # -- Chester's limits -------------------------------------------------
    with c.connect() as c1:
        c1.send(b"WHATSAT stat-2 10 1\n")
        c1.read_whatsat()
        with c.connect() as c2:
            c2.read_to_eof()  # the second from one address: closed at once
        st = wait_until(lambda: (lambda st: st if st["clients"] == 1 else None)(status(c)),
                        5, "Chester's one client")
        eq((st["counters"]["refused"], st["counters"]["connections"]), (1, 2),
           "Chester's refused and accepted connections (max_clients_per_addr 1)")
    raw1 = socket.create_connection((herdtest.LOOPBACK, c.peer_port), timeout=5)
    raw2 = socket.create_connection((herdtest.LOOPBACK, c.peer_port), timeout=5)
    try:
        try:
            got = raw1.recv(10)
        except ConnectionResetError:
            got = b""
        eq(got, b"", "the older handshake pushed out (max_handshakes 1)")
        wait_until(lambda: status(c)["counters"]["refused"] == 2, 5,
                   "Chester to count the handshake it pushed out")
    finally:
        raw1.close()
        raw2.close()
    t.ok("Chester: one connection refused per address, one handshake pushed out: "
         "refused 2, connections 2")

    # -- a cut --------------------------------------------------------------
    eq(ctl(a, b"cut Bolden"), b"ok cut Bolden", "cut Bolden on Alford")
    n = nb_of(a, "Bolden")
    eq((n["state"], n["cut"], n["why"], n["rtt_us"], n["queued"]), ("cut", True, "cut", 0, 0),
       "Alford's cut link")
    check(n["since_ms"] < 1000, "Alford's link cut since %d ms" % n["since_ms"])
    wait_until(lambda: nb_of(b, "Alford")["state"] == "down", 5, "Bolden to see the cut")
    n1 = nb_of(b, "Alford")
    eq((n1["why"], n1["cut"]), ("closed", False), "Bolden's side of the cut link")
    time.sleep(0.3)
    n2 = nb_of(b, "Alford")
    check(n2["last_heard_ms"] >= n1["last_heard_ms"] + 250 and
          n2["since_ms"] >= n1["since_ms"] + 250,
          "Bolden's last_heard_ms and since_ms of the cut link grow: %s then %s" % (n1, n2))
    eq(n2["sent"], n1["sent"], "Bolden's records to Alford (kept over the cut)")
    eq(ctl(a, b"heal Bolden"), b"ok heal Bolden", "heal on Alford")
    wait_until(lambda: nb_of(a, "Bolden")["state"] == "up", 5, "the healed link up")
    n = nb_of(a, "Bolden")
    eq((n["why"], n["cut"]), ("", False), "the healed link")
    check(n["since_ms"] < 2000, "the healed link up since %d ms" % n["since_ms"])
    check(n["sent"] == n_iamat and n["received"] == 1,
          "records over the link kept across the cut: %s" % n)
    t.ok("cut: Alford says cut (why 'cut'), Bolden down (why 'closed', last heard "
         "and since growing); healed: up again, the totals kept")

    # -- a neighbour that stops answering ---------------------------------
    c.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: nb_of(b, "Chester")["why"] == "silent", 6,
                   "Bolden to find Chester silent")
        n = nb_of(b, "Chester")
        check(n["state"] in ("down", "dialling") and n["last_heard_ms"] >= 1500,
              "Bolden's silent Chester: %s" % n)
    finally:
        c.send_signal(signal.SIGCONT)
    wait_until(lambda: nb_of(b, "Chester")["state"] == "up", 10, "Chester back")
    t.ok("a stopped neighbour: 'silent' after the link timeout, heard %d ms ago"
         % n["last_heard_ms"])

    # -- a catch-up ---------------------------------------------------------
    eq(ctl(b, b"cut Chester"), b"ok cut Chester", "cut Chester on Bolden")
    wait_until(lambda: nb_of(c, "Bolden")["state"] != "up", 5, "Chester to see the cut")
    eq((nb_of(b, "Chester")["synced"], nb_of(c, "Bolden")["synced"]), (False, False),
       "a cut link is not synced")
    more = 5
    with a.connect() as cl:
        for i in range(more):
            iamat(cl, b"late-%d" % i, b"%d.5" % (T0 + i))
    base = n_iamat + 1
    wait_until(lambda: status(b)["records"] == base + more, 5, "Bolden to hold the new ones")
    eq(status(c)["records"], base, "Chester, cut off, holds the old ones")
    b0, c0 = status(b), status(c)
    eq(ctl(b, b"heal Chester"), b"ok heal Chester", "heal on Bolden")
    wait_until(lambda: status(c)["digest"] == status(b)["digest"], 10,
               "Chester to catch up with Bolden")

    def settled():
        x, y = nb_of(b, "Chester"), nb_of(c, "Bolden")
        bx0, cy0 = nb(b0, "Chester"), nb(c0, "Bolden")
        if x["state"] == "up" and y["state"] == "up" and \
                y["received"] - cy0["received"] == x["catchup_records"] - bx0["catchup_records"] \
                and x["received"] - bx0["received"] == \
                y["catchup_records"] - cy0["catchup_records"]:
            return x, y
        return None
    x, y = wait_until(settled, 10, "every catch-up record to be received")
    wait_until(lambda: nb_of(b, "Chester")["synced"] and nb_of(c, "Bolden")["synced"], 5,
               "both ends of the healed link to say synced")
    b1, c1 = status(b), status(c)
    bx0, cy0 = nb(b0, "Chester"), nb(c0, "Bolden")
    sent_b = x["catchup_records"] - bx0["catchup_records"]
    sent_c = y["catchup_records"] - cy0["catchup_records"]
    eq((x["catchups"] - bx0["catchups"], y["catchups"] - cy0["catchups"]), (1, 1),
       "one catch-up counted on each end")
    check(sent_b >= more, "Bolden sent %d records in the catch-up, fewer than the %d "
          "Chester missed" % (sent_b, more))
    eq(x["sent"] - bx0["sent"], sent_b, "Bolden's records sent to Chester: the catch-up's")
    eq(c1["counters"]["stale"] - c0["counters"]["stale"], sent_b - more,
       "Chester's stale records: every catch-up record but the %d new ones" % more)
    eq(b1["counters"]["stale"] - b0["counters"]["stale"], sent_c,
       "Bolden's stale records: every record Chester sent back (it held them all)")
    check(x["catchup_bytes"] - bx0["catchup_bytes"] >= sent_b * 40,
          "Bolden's catch-up bytes: %s" % x)
    t.ok("a catch-up after a cut: one on each end, Bolden sent %d records (%d new, the "
         "rest stale at Chester), Chester %d (all stale at Bolden)"
         % (sent_b, more, sent_c))

    # -- the write-ahead log at the end ---------------------------------
    wal = status(a)["wal"]
    eq((wal["records"], wal["bytes"]),
       (base + more, os.path.getsize(os.path.join(wal_dir, "records.wal"))),
       "Alford's write-ahead log: every record applied, the file's size")

    # -- a neighbour killed -----------------------------------------------
    a.kill()
    wait_until(lambda: nb_of(b, "Alford")["state"] == "down", 5,
               "Bolden to see Alford gone")
    n = nb_of(b, "Alford")
    eq((n["why"], n["rtt_us"], n["queued"]), ("closed", 0, 0), "Bolden's killed neighbour")
    t.ok("a killed neighbour: down, why 'closed'")

    # -- Aaron leaves, and comes back with a wrong proof ------------------
    aaron.close()
    wait_until(lambda: nb_of(b, "Aaron")["state"] == "down", 5, "Aaron's link down")
    eq(nb_of(b, "Aaron")["why"], "closed", "Aaron closed its link")
    bst = status(b)
    bad = FakePeer(b)
    try:
        bad.handshake(bst["records"], bst["digest"].encode(), proof=b"ab" * 32)
        wait_until(lambda: nb_of(b, "Aaron")["why"].startswith("handshake: "), 5,
                   "Bolden to say why Aaron's handshake failed")
    finally:
        bad.close()
    n = nb_of(b, "Aaron")
    eq((n["state"], n["why"]), ("down", "handshake: wrong proof (a different herd secret?)"),
       "Aaron's refused handshake")
    t.ok("Aaron gone: 'closed'; back with a wrong proof: 'handshake: wrong proof ...'")

    # -- Aaron back empty: a catch-up that waits on it --------------------
    # Bolden holds records Aaron lacks: it opens a catch-up (SUMS -) and
    # the link is not synced while Aaron says nothing; Aaron asks for
    # everything (PULL -) and ends Bolden's question (DONE -): synced once
    # Bolden has sent it all.
    back = FakePeer(b)
    try:
        check(back.handshake(0, b"0" * 16), "Aaron's handshake, empty")
        back.start()
        wait_until(lambda: nb_of(b, "Aaron")["state"] == "up", 5, "Aaron up again")
        n = nb_of(b, "Aaron")
        eq((n["synced"], n["catchups"] >= 1), (False, True),
           "Bolden's Aaron while its catch-up waits: %s" % n)
        time.sleep(0.3)  # a state that must not change by itself
        eq(nb_of(b, "Aaron")["synced"], False, "still waiting on Aaron 0.3 s later")
        back.send(b"PULL -\nDONE -\n")
        wait_until(lambda: nb_of(b, "Aaron")["synced"], 5,
                   "Bolden's Aaron synced once the catch-up is done")
        wait_until(lambda: back.counts()[2] >= status(b)["records"], 5,
                   "Aaron to get every record Bolden holds")
    finally:
        back.close()
    wait_until(lambda: not nb_of(b, "Aaron")["synced"], 5, "Aaron gone: not synced")
    for s in (b, c):
        check_shape(s, status(s))
    t.ok("synced: false while a catch-up waits on the neighbour, true once it ends, "
         "false once the link is down")


if __name__ == "__main__":
    herdtest.run(main, watchdog=110,
                 description="the control socket's status: every field moves as it should")
