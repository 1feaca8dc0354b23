#!/usr/bin/env python3
"""Bounds on what one stranger can grow in a server.

* `--max-records 100`: 100 clients are stored; the 101st new client's IAMAT
  is answered `? ` + the line, exactly as invalid input, and nothing is
  stored (a WHATSAT for it is `?`); a stored client's newer IAMAT is still
  answered `AT`. The log says the store is full, naming the bound and the
  client, at most once a second: 1000 refused IAMATs in a row draw one or
  two lines, and the next line counts every refusal since.
* `--max-store-mb 1` with `--data-dir`: a client floods 50 MB of distinct
  records of nearly 8 KiB; the server's VmRSS stays bounded; every
  acknowledged record (AT) is found by WHATSAT after a restart, every
  refused one (`?`) is not. Restarted with `--max-records` below what its
  log holds, the server keeps every record, logs that the store is over
  its bound, refuses new clients and takes updates of known ones.
* Two linked servers, the second with `--max-records 20`: records flooded
  to it for new clients while it is full are dropped with a log line
  (`from link ...`); it stays up and still takes updates of the clients it
  holds. An IAMAT it refuses is not flooded to the first.
* `--max-clients-per-addr 3`: a 4th connection from 127.0.0.1 is closed
  with no byte, one from 127.0.0.2 is served; once one of the three
  closes, a new one from 127.0.0.1 is served. Without the flag 10
  connections from one address are served.
* `--max-future-s 60` (also on Hamilton, which drops such a record flooded
  from Parker, and logs it): a client time an hour ahead gets `?`, one 10 s ahead
  `AT`; without the flag the hour-ahead time is accepted.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import os
import re
import select
import socket
import time

import herdtest
from herdtest import check, eq, fail, show, split_at

UCLA = b"+34.068930-118.445127"
FULL_RE = rb"store full: [^\n]*"


def ctime(offset=0):
    return b"%d.5" % (int(time.time()) + offset)


def iamat(cid, loc=UCLA, t=None):
    return b"IAMAT %s %s %s" % (cid, loc, t if t is not None else ctime())


def rss_kb(srv):
    with open("/proc/%d/status" % srv.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail("no VmRSS for %s" % srv.name)


def exchange(c, lines, timeout=60.0, sample=None):
    """Send `lines` pipelined on client `c` while reading one reply line per
    line; returns the replies.  `sample()` is called every 20 ms meanwhile."""
    data = b"".join(l + b"\n" for l in lines)
    sock = c.sock
    sock.setblocking(False)
    sent = 0
    buf = bytearray(c.buf)
    c.buf = b""
    replies = []
    deadline = time.monotonic() + timeout
    next_sample = 0.0
    try:
        while len(replies) < len(lines):
            now = time.monotonic()
            if now > deadline:
                fail("%s: %d of %d replies within %.0f s (sent %d of %d bytes)"
                     % (c.label, len(replies), len(lines), timeout, sent, len(data)))
            if sample is not None and now >= next_sample:
                sample()
                next_sample = now + 0.02
            w = [sock] if sent < len(data) else []
            r, w, _ = select.select([sock], w, [], 0.02)
            if w:
                try:
                    sent += sock.send(data[sent:sent + (1 << 18)])
                except BlockingIOError:
                    pass
            if r:
                try:
                    chunk = sock.recv(1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:
                    fail("%s: closed after %d of %d replies" % (c.label, len(replies),
                                                               len(lines)))
                buf += chunk
                start = 0
                while True:
                    i = buf.find(b"\n", start)
                    if i < 0:
                        break
                    replies.append(bytes(buf[start:i]))
                    start = i + 1
                del buf[:start]
    finally:
        sock.setblocking(True)
        sock.settimeout(c.timeout)
    c.buf = bytes(buf)
    return replies


def full_lines(srv, since=0):
    return re.findall(FULL_RE, srv.log_bytes()[since:])


def known(srv, cid):
    """The AT line srv holds for cid, or None (WHATSAT ... 0: no places)."""
    with srv.connect() as c:
        c.send(b"WHATSAT %s 10 0\n" % cid)
        first, body = c.read_whatsat()
    return None if first == b"?" else first


def wait_known(srv, cid, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        got = known(srv, cid)
        if got == want:
            return
        if time.monotonic() > deadline:
            fail("%s: WHATSAT %s answers %s, expected %s within %.0f s"
                 % (srv.name, cid.decode(), show(got), show(want), timeout))
        time.sleep(0.02)


# ---------------------------------------------------------------------------


def max_records(t, srv):
    with srv.connect() as c:
        lines = [iamat(b"rec.%d" % i) for i in range(100)]
        replies = exchange(c, lines)
        for i, r in enumerate(replies):
            eq(split_at(r)[3], b"rec.%d" % i, "AT for client %d of 100" % i)
        t.ok("--max-records 100: 100 clients stored")

        since = srv.log_size()
        line = iamat(b"rec.100")
        c.send(line + b"\n")
        eq(c.read_line(), b"? " + line, "the 101st new client's IAMAT")
        eq(known(srv, b"rec.100"), None, "WHATSAT for the refused client")
        m = srv.wait_log(rb"store full: max_records reached \(100 clients[^\n]*"
                         rb"client rec\.100 from a client", 5.0, since)
        t.ok("the 101st client gets '? IAMAT ...', nothing stored; log: %s"
             % m.group(0).decode())

        newer = iamat(b"rec.7", b"+35-119", ctime(1))
        c.send(newer + b"\n")
        at = c.read_line()
        eq(split_at(at)[3:], newer.split(b" ")[1:], "a stored client's newer IAMAT")
        eq(known(srv, b"rec.7"), at, "WHATSAT after the update")
        t.ok("a stored client's newer IAMAT is still answered AT and stored")

        # 1000 refusals in a row: a line a second at most, each counting the
        # refusals since the one before.
        since = srv.log_size()
        t0 = time.monotonic()
        lines = [iamat(b"extra.%d" % i) for i in range(1000)]
        replies = exchange(c, lines)
        took = time.monotonic() - t0
        for l, r in zip(lines, replies):
            eq(r, b"? " + l, "a refused IAMAT's reply")
        # One more refusal a second later draws the next line.
        deadline = time.monotonic() + 5
        n = 0
        while True:
            n += 1
            line = iamat(b"late.%d" % n)
            c.send(line + b"\n")
            eq(c.read_line(), b"? " + line, "a refused IAMAT's reply")
            got = full_lines(srv, since)
            if len(got) >= 2 and b"client late." in got[-1]:
                break
            check(time.monotonic() < deadline, "no new store-full line within 5 s of "
                  "the burst: %s" % show(b"\n".join(got)))
            time.sleep(0.1)
        span = time.monotonic() - t0
        check(len(got) <= int(span) + 2,
              "%d store-full lines in %.1f s for %d refusals (one a second at most): %s"
              % (len(got), span, 1000 + n, show(b"\n".join(got))))
        # Each line stands for itself and the refusals it says were not
        # logged since the one before (rec.100's, the first of all, came
        # before the burst): together, every refusal up to the last line's
        # (late.K; the log may trail a reply, so later ones may follow).
        k = int(re.search(rb"client late\.(\d+) ", got[-1]).group(1))
        counted = 0
        for g in got:
            m = re.search(rb"; (\d+) more refused since the last such line, (\d+) in all", g)
            check(m, "store-full line without its counts: %s" % show(g))
            counted += 1 + int(m.group(1))
        eq(counted, 1000 + k, "refusals the store-full lines stand for (1000 + late.%d)" % k)
        m = re.search(rb"(\d+) in all", got[-1])
        eq(int(m.group(1)), 1 + 1000 + k, "refusals 'in all' in the last line")
        t.ok("1000 refused IAMATs in %.2f s (+%d a second later): %d store-full log "
             "lines, standing for all %d" % (took, k, len(got), counted))

    # No limit on connections per address by default.
    conns = [srv.connect() for _ in range(10)]
    try:
        for i, c in enumerate(conns):
            c.send(iamat(b"rec.%d" % i, t=ctime(2)) + b"\n")
        for i, c in enumerate(conns):
            eq(split_at(c.read_line())[3], b"rec.%d" % i, "AT on connection %d of 10" % i)
    finally:
        for c in conns:
            c.close()
    t.ok("without --max-clients-per-addr: 10 connections from one address served")


# ---------------------------------------------------------------------------


def big_loc(i):
    """A location of about 8000 bytes, distinct per i."""
    digits = (b"%08d" % i) * 1000
    return b"+34." + digits[:7990] + b"-118.445127"


def max_store(t, srv, base_kb):
    budget_kb = 60 * 1024
    peak = [rss_kb(srv)]

    def sample():
        peak[0] = max(peak[0], rss_kb(srv))

    n = 50 * 1024 * 1024 // 8050 + 1
    lines = [iamat(b"big.%d" % i, big_loc(i)) for i in range(n)]
    check(max(len(l) for l in lines) < 8150, "lines under the 8 KiB limit")
    with srv.connect(timeout=10) as c:
        replies = exchange(c, lines, timeout=90, sample=sample)
    sample()
    acked, refused = {}, []
    for i, (l, r) in enumerate(zip(lines, replies)):
        if r.startswith(b"AT "):
            eq(split_at(r)[3:], l.split(b" ")[1:], "AT for big.%d" % i)
            acked[b"big.%d" % i] = r
        else:
            eq(r, b"? " + l, "reply to big.%d (AT or '?')" % i)
            refused.append(b"big.%d" % i)
    total = sum(len(l) + 1 for l in lines)
    check(peak[0] < budget_kb, "VmRSS reached %d kB (limit %d kB, %d kB at start) while "
          "a client flooded %d bytes" % (peak[0], budget_kb, base_kb, total))
    check(len(acked) >= 50, "only %d of %d records acknowledged" % (len(acked), n))
    check(refused, "no record refused (--max-store-mb 1, %d bytes sent)" % total)
    srv.wait_log(rb"store full: max_store_mb reached")
    t.ok("--max-store-mb 1: %d records of ~8 KiB (%.1f MB) from one client: %d "
         "acknowledged, %d refused; VmRSS %d kB at start, at most %d kB"
         % (n, total / 1e6, len(acked), len(refused), base_kb, peak[0]))
    return acked, refused


def check_store(srv, acked, refused, what):
    with srv.connect(timeout=10) as c:
        cids = list(acked) + refused[:50]
        lines = [b"WHATSAT %s 10 0" % cid for cid in cids]
        data = b"".join(l + b"\n" for l in lines)
        c.send(data)
        for cid, l in zip(cids, lines):
            first, body = c.read_whatsat(10)
            if cid in acked:
                eq(first, acked[cid], "%s: WHATSAT %s" % (what, cid.decode()))
            else:
                eq((first, body), (b"?", b"? " + l), "%s: WHATSAT %s (refused)"
                   % (what, cid.decode()))


def durable(t, srv, acked, refused):
    srv.stop()
    srv.start()
    check_store(srv, acked, refused, "after a restart")
    t.ok("after a restart: all %d acknowledged records found, refused ones unknown"
         % len(acked))
    # Restarted with a bound below what the log holds: nothing dropped.
    srv.stop()
    since = srv.log_size()
    srv.extra_args += ["--max-records", "5"]
    srv.start()
    m = srv.wait_log(rb"store over its bound after replay: %d clients[^\n]*" % len(acked),
                     5.0, since)
    check_store(srv, acked, refused, "replayed over --max-records 5")
    with srv.connect() as c:
        line = iamat(b"newcomer")
        c.send(line + b"\n")
        eq(c.read_line(), b"? " + line, "a new client over the lowered bound")
        cid = next(iter(acked))
        line = iamat(cid, big_loc(10 ** 7), ctime(5))
        c.send(line + b"\n")
        at = c.read_line()
        eq(split_at(at)[3:], line.split(b" ")[1:], "a known client's update over the bound")
    t.ok("restarted with --max-records 5: every one of %d records kept (%s); a new "
         "client refused, a known one updated" % (len(acked), m.group(0).decode()))


# ---------------------------------------------------------------------------


def linked(t, a, b):
    """a (--max-records 1000) and b (--max-records 20), linked."""
    with a.connect() as c:
        replies = exchange(c, [iamat(b"f.%d" % i) for i in range(20)])
        check(all(r.startswith(b"AT ") for r in replies), "first 20 at %s" % a.name)
        last = replies[-1]
    wait_known(b, b"f.19", last)
    since = b.log_size()
    with a.connect() as c:
        replies = exchange(c, [iamat(b"f.%d" % i) for i in range(20, 100)])
        check(all(r.startswith(b"AT ") for r in replies), "80 more at %s" % a.name)
    m = b.wait_log(rb"store full: max_records reached \(20 clients[^\n]*from link %s"
                   % a.name.encode(), 5.0, since)
    # An update of a client b holds, flooded after the 80: b takes it.
    with a.connect() as c:
        c.send(iamat(b"f.3", b"+1-1", ctime(3)) + b"\n")
        upd = c.read_line()
    wait_known(b, b"f.3", upd)
    check(b.running, "%s died" % b.name)
    for cid in (b"f.20", b"f.99"):
        eq(known(b, cid), None, "%s: WHATSAT %s (dropped)" % (b.name, cid.decode()))
    got = full_lines(b, since)
    check(len(got) <= 3, "%s: %d store-full lines for 80 dropped records" % (b.name, len(got)))
    t.ok("linked: %s (--max-records 20) drops 80 flooded records of new clients (%d log "
         "line(s): %s), stays up, takes an update of a client it holds"
         % (b.name, len(got), m.group(0).decode()))
    # An IAMAT b refuses is not flooded: a's answer stays '?' once a later
    # update b took (flooded after it on the same link) has arrived.
    with b.connect() as c:
        line = iamat(b"not.flooded")
        c.send(line + b"\n")
        eq(c.read_line(), b"? " + line, "%s: a new client while full" % b.name)
        c.send(iamat(b"f.4", b"+2-2", ctime(4)) + b"\n")
        marker = c.read_line()
    wait_known(a, b"f.4", marker)
    eq(known(a, b"not.flooded"), None, "%s: WHATSAT for the IAMAT %s refused" % (a.name, b.name))
    t.ok("an IAMAT %s refused is not flooded to %s" % (b.name, a.name))


# ---------------------------------------------------------------------------


def connect_from(srv, host, label):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((host, 0))
    s.connect(("127.0.0.1", srv.port))
    c = herdtest.Client.__new__(herdtest.Client)
    c.label, c.timeout, c.buf, c.eof, c.sock = label, 5.0, b"", False, s
    return c


def served(c, cid):
    c.send(iamat(cid) + b"\n")
    eq(split_at(c.read_line())[3], cid, "%s: AT" % c.label)


def closed_silently(c, what):
    try:
        c.send(iamat(b"over") + b"\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    got = c.read_to_eof(3.0)
    eq(got, b"", "%s: bytes before the close" % what)


def per_addr(t, srv):
    since = srv.log_size()
    held = [connect_from(srv, "127.0.0.1", "127.0.0.1 #%d" % i) for i in range(3)]
    try:
        for i, c in enumerate(held):
            served(c, b"addr.%d" % i)
        fourth = connect_from(srv, "127.0.0.1", "127.0.0.1 #4")
        closed_silently(fourth, "a 4th connection from 127.0.0.1")
        fourth.close()
        m = srv.wait_log(rb"client limit of 3 per address reached[^\n]*", 5.0, since)
        other = connect_from(srv, "127.0.0.2", "127.0.0.2")
        served(other, b"addr.other")
        other.close()
        t.ok("--max-clients-per-addr 3: a 4th connection from 127.0.0.1 closed with no "
             "byte (%s), one from 127.0.0.2 served" % m.group(0).decode())
        held.pop().close()
        # The close reaches the server a moment later: retry until served.
        deadline = time.monotonic() + 5
        tries = 0
        while True:
            tries += 1
            c = connect_from(srv, "127.0.0.1", "127.0.0.1 again")
            try:
                served(c, b"addr.again")
                held.append(c)
                break
            except (herdtest.TestFailure, OSError):
                c.close()
                check(time.monotonic() < deadline, "no connection from 127.0.0.1 served "
                      "within 5 s of closing one of three")
                time.sleep(0.02)
        t.ok("once one of the three closed, a new connection from 127.0.0.1 is served "
             "(%d tries)" % tries)
    finally:
        for c in held:
            c.close()


def future(t, bounded, unbounded, relay):
    since = relay.log_size()
    with bounded.connect() as c:
        ahead = iamat(b"future.hour", t=ctime(3600))
        c.send(ahead + b"\n")
        eq(c.read_line(), b"? " + ahead, "--max-future-s 60: a time an hour ahead")
        eq(known(bounded, b"future.hour"), None, "WHATSAT after the refused time")
        soon = iamat(b"future.soon", t=ctime(10))
        c.send(soon + b"\n")
        eq(split_at(c.read_line())[3:], soon.split(b" ")[1:],
           "--max-future-s 60: a time 10 s ahead")
    with unbounded.connect() as c:
        c.send(ahead + b"\n")
        eq(split_at(c.read_line())[3:], ahead.split(b" ")[1:],
           "no --max-future-s: a time an hour ahead")
    t.ok("--max-future-s 60: an hour ahead '?', 10 s ahead AT; without it an hour "
         "ahead is AT")
    # Flooded from the server without the bound to its neighbour with it:
    # dropped there, and said so.
    relay.wait_log(rb"link %s: dropped a record more than max_future_s 60 s ahead "
                   rb"\(1 so far\): AT [^\n]* future\.hour " % unbounded.name.encode(),
                   5.0, since)
    eq(known(relay, b"future.hour"), None, "%s: WHATSAT future.hour" % relay.name)
    t.ok("a neighbour's record an hour ahead is dropped by a server with "
         "--max-future-s 60, and logged")


# ---------------------------------------------------------------------------


def main(t):
    recs = t.server("Alford", extra_args=["--max-records", "100"])
    # Under AddressSanitizer, freed memory waits in a quarantine (32 MB by
    # the harness's default) that VmRSS would show: kept small here.
    asan = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:quarantine_size_mb=32")
    store = t.server("Bolden", extra_args=["--max-store-mb", "1"],
                     env_extra={"ASAN_OPTIONS": asan + ":quarantine_size_mb=1"})
    store.extra_args += ["--data-dir", os.path.join(store.dir, "data")]
    big = t.server("Parker", extra_args=["--max-records", "1000"])
    small = t.server("Hamilton", extra_args=["--max-records", "20",
                                             "--max-future-s", "60"])
    t.link(big, small)
    addr = t.server("Powell", extra_args=["--max-clients-per-addr", "3",
                                          "--max-future-s", "60"])
    t.start_all()
    big.wait_links_up()
    small.wait_links_up()

    max_records(t, recs)
    base_kb = rss_kb(store)
    acked, refused = max_store(t, store, base_kb)
    durable(t, store, acked, refused)
    linked(t, big, small)
    future(t, addr, big, small)
    per_addr(t, addr)


if __name__ == "__main__":
    herdtest.run(main, watchdog=110)
