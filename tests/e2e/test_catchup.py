#!/usr/bin/env python3
"""Catch-up: a peer link that comes up exchanges only what differs.

Two servers, Alford and Bolden, one link, both with data directories and
the offline places provider.  server/sync.h describes the protocol; each
side logs at link-up whether it is "in sync" or "catching up" and, once
its side of the exchange is over, a "catch-up done" line with its numbers.

1. A store of a million clients (herd-bench loads it into Alford, the link
   floods it to Bolden).  Bolden is stopped, Alford takes 100 IAMATs (new
   clients and newer times for existing ones), Bolden starts again from its
   write-ahead log: the two ends agree on the 100 differences with a few
   kilobytes of messages, send about 100 records each, and Bolden answers
   every one of the 100 with Alford's exact AT line.
2. Bolden restarts from an empty data directory while herd-bench keeps
   updating existing clients at Alford: the whole store crosses, and in the
   end both hold the same number of records and answer ~1000 sampled
   clients with the same AT line.
3. Records near the 8 KiB line limit, ~37 000 of them (~300 MB), loaded
   into Alford while Bolden is down; Bolden starts from nothing: the
   catch-up crosses under flow control without ever cutting the link
   (PEERS_MAX_OUTPUT is 256 MiB), Bolden holds every record, and updates
   sent to Alford during the catch-up reach Bolden.

The sizes are the same in every build (the ASan build runs the whole
script in about 30 s alone on 2 cores); --clients and --big override them
for a run by hand.  Every number the catch-up logs is printed as a "#"
note.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import os
import random
import re
import select
import shutil
import socket
import subprocess
import threading
import time

import herdtest
from herdtest import check, eq, fail, show, split_at

LOAD_RE = re.compile(r" (\d+) req/s  p50 +[0-9.]+ us  p99 +[0-9.]+ us  p99\.9 +[0-9.]+ us  "
                     r"\((\d+) requests, (\d+) conns, pipeline (\d+), (\d+) errors\)")
DONE_RE = (rb"link %s: catch-up done in ([0-9.]+) ms: sent (\d+) records \((\d+) bytes\) "
           rb"and (\d+) messages \((\d+) bytes\), received (\d+) records and (\d+) messages; "
           rb"longest loop turn ([0-9.]+) ms")
HELD_RE = rb"stopping \(SIGTERM\): (\d+) records held"
MAX_LINE = 8192
LOC = b"+34.068930-118.445127"
OLD_TIME = b"1621464827.959498503"   # the AT time difference is ~10^8 s: 20 bytes

# Scenario 1's bounds.
DIFFS = 100
MAX_MESSAGE_BYTES = 65536
MAX_RECORDS_SENT = 300
MAX_MS = 500.0            # as logged, on each side (Debug and ASan builds alike)

# Waits (seconds).  Generous: a loaded 2-core machine, Debug or ASan code.
STOP_GRACE = 60.0
START_TIMEOUT = 120.0
FLOOD_WINDOW = 180.0
CATCHUP_WINDOW = 180.0


def sanitized(binary):
    """Whether herd-server was built with AddressSanitizer."""
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


class CatchUp:
    """One side's "catch-up done" line, parsed."""

    def __init__(self, m):
        self.ms = float(m.group(1))
        self.records_sent = int(m.group(2))
        self.record_bytes = int(m.group(3))
        self.messages_sent = int(m.group(4))
        self.message_bytes = int(m.group(5))
        self.records_received = int(m.group(6))
        self.messages_received = int(m.group(7))
        self.turn_ms = float(m.group(8))
        self.line = m.group(0).decode()

    def __str__(self):
        return ("%.1f ms, sent %d records (%d bytes) and %d messages (%d bytes), received "
                "%d records and %d messages, longest loop turn %.2f ms"
                % (self.ms, self.records_sent, self.record_bytes, self.messages_sent,
                   self.message_bytes, self.records_received, self.messages_received,
                   self.turn_ms))


class Tail:
    """Reads a server's log from an offset on, a new part at a time (the
    logs grow by hundreds of megabytes here: every protocol line is logged,
    so nothing is read twice)."""

    def __init__(self, server, since):
        self.server = server
        self.pos = since
        self.partial = b""

    def _more(self):
        """The complete lines written since the last call."""
        with open(self.server.log_path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        data = self.partial + data
        cut = data.rfind(b"\n") + 1
        self.partial = data[cut:]
        return data[:cut]

    def wait(self, pattern, timeout):
        """The first match of regex `pattern` (within one line) from here on."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        s = self.server
        while True:
            m = rx.search(self._more())
            if m:
                return m
            if time.monotonic() > deadline:
                fail("%s: log %s never matched %s within %.0f s; last lines:\n%s"
                     % (s.name, s.log_path, rx.pattern.decode(), timeout,
                        last_lines(s.log_path)))
            if s.proc is not None and s.proc.poll() is not None:
                fail("%s exited (%s) while waiting for %s in its log%s"
                     % (s.name, s.proc.returncode, rx.pattern.decode(), s._stderr_tail()))
            time.sleep(0.02)

    def find_all(self, *literals):
        """Every line holding one of `literals` from here to the end of the log."""
        found = []
        while True:
            data = self._more()
            if not data:
                return found
            for literal in literals:
                i = data.find(literal)
                while i >= 0:
                    a = data.rfind(b"\n", 0, i) + 1
                    b = data.find(b"\n", i)
                    found.append(data[a:b])
                    i = data.find(literal, b)


def last_lines(path, n=3000):
    """The end of a file, without reading the whole of it."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def dump_tails(t):
    """Test.dump_tails for logs of a gigabyte: their last lines only."""
    for s in t.servers:
        for label, path in (("log", s.log_path),) + tuple(
                ("stderr #%d" % i, s.stderr_path(i)) for i in range(1, s.starts + 1)):
            lines = last_lines(path, 16384).splitlines()[-25:]
            if lines:
                sys.stdout.write("--- %s %s (%s), last lines:\n" % (s.name, label, path))
                sys.stdout.write("\n".join(ln[:600] for ln in lines) + "\n")


def wait_log(server, pattern, timeout, since):
    return Tail(server, since).wait(pattern, timeout)


def wait_done(server, other, since, timeout=CATCHUP_WINDOW):
    return CatchUp(wait_log(server, DONE_RE % re.escape(other.name.encode()), timeout, since))


def no_link_trouble(server, since, what):
    """No link went down or dropped a line from `since` on."""
    lines = Tail(server, since).find_all(b" down: ", b"catch-up interrupted",
                                         b"output buffer over", b"dropped invalid",
                                         b"out of memory")
    lines = [ln for ln in lines if not re.match(rb"\S+ conn \d+ [<>] ", ln)]  # protocol lines
    check(not lines, "%s: %s logged %s" % (what, server.name, show(b"\n".join(lines[:5]))))


def stop(server):
    """SIGTERM (exit 0 required); returns the record count it logged."""
    since = server.log_size()
    try:
        with open("/proc/%d/status" % server.proc.pid) as f:
            hwm = [ln.split(":")[1].strip() for ln in f if ln.startswith("VmHWM:")]
        server.t.note("%s: peak resident memory %s" % (server.name, hwm[0]))
    except (OSError, IndexError):
        pass
    server.stop(grace=STOP_GRACE)
    return int(wait_log(server, HELD_RE, 0, since).group(1))


def start(server, peer, timeout=START_TIMEOUT):
    """Starts server; waits for the link up on both sides.  Returns the log
    offsets from before the start and the two link-up lines."""
    s_since, p_since = server.log_size(), peer.log_size()
    server.start(timeout)
    up = wait_log(server, rb"link %s up \(([^)]*)\)" % peer.name.encode(), timeout, s_since)
    pup = wait_log(peer, rb"link %s up \(([^)]*)\)" % server.name.encode(), timeout, p_since)
    return s_since, p_since, up.group(1).decode(), pup.group(1).decode()


def iamat(server, cid, ctime, loc=LOC):
    with server.connect(timeout=30) as c:
        c.send(b"IAMAT %s %s %s\n" % (cid, loc, ctime))
        at = c.read_line()
    eq(split_at(at)[3], cid, "client id of the AT reply from %s" % server.name)
    return at


def pipelined(server, lines, read_reply, batch=32, timeout=60):
    """Sends lines on one connection, `batch` at a time (the server reads at
    most --max-pending WHATSATs ahead); returns the replies in order."""
    out = []
    with server.connect(timeout=timeout) as c:
        for i in range(0, len(lines), batch):
            chunk = lines[i:i + batch]
            c.send(b"".join(chunk))
            for _ in chunk:
                out.append(read_reply(c))
    return out


def whatsat_lines(server, cids):
    """The AT line each client answers with at server (b'?' + the refusal
    when it knows none)."""
    def read(c):
        first, body = c.read_whatsat(30)
        return first if first != b"?" else b"? " + body
    return pipelined(server, [b"WHATSAT %s 0 0\n" % cid for cid in cids], read)


def wait_knows(server, cid, want, timeout=FLOOD_WINDOW, what=""):
    """Polls WHATSAT at server until it answers with AT line `want`."""
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    last = None
    with server.connect(timeout=30) as c:
        while True:
            c.send(b"WHATSAT %s 0 0\n" % cid)
            first, body = c.read_whatsat(30)
            if first == want:
                return time.monotonic() - t0
            last = first if first != b"?" else body
            if time.monotonic() > deadline:
                fail("%s: %s did not answer %s with %s within %.0f s (last answer %s)"
                     % (what, server.name, cid.decode(), show(want), timeout, show(last)))
            time.sleep(0.05)


def wait_changes(server, cid, old, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        now = whatsat_lines(server, [cid])[0]
        if now != old:
            return now
        if time.monotonic() > deadline:
            fail("%s: %s still answers %s with %s after %.0f s"
                 % (what, server.name, cid.decode(), show(old), timeout))
        time.sleep(0.01)


def marker(a, b, label, what):
    """An IAMAT at a, waited for at b: everything a queued on the link
    before it has been handled by b (one link, one ordered stream)."""
    at = iamat(a, b"catchup.marker." + label, b"%.9f" % time.time())
    return wait_knows(b, b"catchup.marker." + label, at, what=what)


def bench(t, *args, timeout=300):
    p = subprocess.run([t.args.bench] + [str(x) for x in args], capture_output=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def check_bench(rc, out, err, what, requests=None):
    eq(rc, 0, "%s: herd-bench exit status (stderr: %s)" % (what, err.strip()))
    m = LOAD_RE.search(out)
    check(m is not None, "%s: herd-bench load line: %r" % (what, out))
    eq(m.group(5), "0", "%s: herd-bench errors (%s)" % (what, out.strip()))
    if requests is not None:
        eq(int(m.group(2)), requests, "%s: requests herd-bench made" % what)
    return int(m.group(1)), int(m.group(2))


def clear_dir(path):
    for name in os.listdir(path):
        p = os.path.join(path, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


def set_data_dir(server, path):
    os.makedirs(path, exist_ok=True)
    args = server.extra_args
    i = args.index("--data-dir")
    args[i + 1] = path
    server.data_dir = path


# ---------------------------------------------------------------------------


def scenario_restart(t, a, b, nclients):
    t0 = time.monotonic()
    since_a, since_b = a.log_size(), b.log_size()
    rc, out, err = bench(t, "--port", a.port, "--conns", 50, "--pipeline", 16,
                         "--requests", nclients)
    rate, _ = check_bench(rc, out, err, "loading %d clients" % nclients, nclients)
    load_s = time.monotonic() - t0
    took = marker(a, b, b"1", "after the load")
    no_link_trouble(a, since_a, "the load")
    no_link_trouble(b, since_b, "the load")
    t.ok("%d clients loaded into Alford (%d req/s, %.1f s) and flooded to Bolden "
         "(a marker IAMAT after them reached Bolden %.1f s later)"
         % (nclients, rate, load_s, took))

    held_b = stop(b)
    eq(held_b, nclients + 1, "records Bolden held at SIGTERM (the clients and the marker)")
    wait_log(a, rb"link Bolden down", 30, since_a)

    # 100 differences: 50 new clients and 50 newer times for existing ones.
    rng = random.Random(1)
    updated = rng.sample(range(nclients), DIFFS // 2)
    cids = [b"catchup.new.%d" % i for i in range(DIFFS // 2)] + \
           [b"bench.client.%d" % k for k in updated]
    now = time.time()
    lines = [b"IAMAT %s %s %.9f\n" % (cid, LOC, now + i * 1e-6) for i, cid in enumerate(cids)]
    ats = pipelined(a, lines, lambda c: c.read_line(30))
    for cid, at in zip(cids, ats):
        eq(split_at(at)[3], cid, "AT reply to the IAMAT for %s" % cid.decode())
    t.ok("Bolden stopped holding %d records; Alford took %d IAMATs (%d new clients, "
         "%d updates)" % (held_b, DIFFS, DIFFS // 2, DIFFS // 2))

    t1 = time.monotonic()
    since_b, since_a, b_up, a_up = start(b, a)
    start_s = time.monotonic() - t1
    replay = wait_log(b, rb"replayed (\d+) records \((\d+) clients\)[^\n]* in ([0-9.]+) ms",
                        5, since_b)
    eq(int(replay.group(2)), nclients + 1, "clients Bolden replayed from its log")
    check(a_up.endswith("neighbour restarted, catching up"),
          "Alford's link-up line should say 'neighbour restarted, catching up': %r" % a_up)
    check(b_up.endswith("catching up"), "Bolden's link-up line: %r" % b_up)
    ca = wait_done(a, b, since_a)
    cb = wait_done(b, a, since_b)
    t.note("scenario 1: Bolden replayed %s records in %s ms; started and linked in %.1f s"
           % (replay.group(1).decode(), replay.group(3).decode(), start_s))
    t.note("scenario 1: Alford: %s" % ca)
    t.note("scenario 1: Bolden: %s" % cb)
    limit = MAX_MS
    for name, c in (("Alford", ca), ("Bolden", cb)):
        check(c.message_bytes <= MAX_MESSAGE_BYTES,
              "%s: %d bytes of catch-up messages for %d differences (at most %d): %s"
              % (name, c.message_bytes, DIFFS, MAX_MESSAGE_BYTES, c.line))
        check(c.records_sent <= MAX_RECORDS_SENT,
              "%s sent %d records for %d differences (at most %d): %s"
              % (name, c.records_sent, DIFFS, MAX_RECORDS_SENT, c.line))
        check(c.ms <= limit, "%s: catch-up took %.1f ms (at most %.0f ms, %s build): %s"
              % (name, c.ms, limit, "sanitizer" if t.sanitized else "plain", c.line))
    check(ca.records_sent >= DIFFS, "Alford must send at least the %d records Bolden lacks: %s"
          % (DIFFS, ca.line))
    t.ok("restart under %d clients with %d differences: catch-up done in %.1f / %.1f ms, "
         "%d / %d message bytes, %d / %d records sent (Alford / Bolden)"
         % (nclients, DIFFS, ca.ms, cb.ms, ca.message_bytes, cb.message_bytes,
            ca.records_sent, cb.records_sent))

    marker(a, b, b"2", "after the catch-up")
    got = whatsat_lines(b, cids)
    for cid, want, have in zip(cids, ats, got):
        eq(have, want, "Bolden's answer for %s after the catch-up (Alford replied)"
           % cid.decode())
    no_link_trouble(a, since_a, "scenario 1")
    no_link_trouble(b, since_b, "scenario 1")
    t.ok("Bolden answers all %d with Alford's exact AT lines; the link stayed up" % DIFFS)
    return cids


def scenario_empty(t, a, b, nclients, extra_cids):
    since_a = a.log_size()
    held = stop(b)
    wait_log(a, rb"link Bolden down", 30, since_a)
    clear_dir(b.data_dir)
    before = whatsat_lines(a, [b"bench.client.0"])[0]
    duration = 4
    bench_out = os.path.join(t.tmpdir, "bench-workload.txt")
    with open(bench_out, "wb") as out, open(bench_out + ".err", "wb") as err:
        p = subprocess.Popen([t.args.bench, "--port", str(a.port), "--conns", "10",
                              "--pipeline", "16", "--clients", str(nclients),
                              "--duration", str(duration)],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    try:
        # The workload is under way when Bolden comes up empty: client 0,
        # its first, has a newer time at Alford.
        wait_changes(a, b"bench.client.0", before, 30, "the workload's first update")
        t0 = time.monotonic()
        since_b, since_a, b_up, a_up = start(b, a)
        check(a_up.endswith("catching up") and b_up.endswith("catching up"),
              "both link-up lines should say 'catching up': %r / %r" % (a_up, b_up))
        try:
            rc = p.wait(duration + 120)
        except subprocess.TimeoutExpired:
            fail("herd-bench --duration %d still running after %d s" % (duration, duration + 120))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    with open(bench_out) as f:
        out = f.read()
    with open(bench_out + ".err") as f:
        err = f.read()
    bench_done_s = time.monotonic() - t0
    rate, requests = check_bench(rc, out, err, "the workload")
    ca = wait_done(a, b, since_a)
    cb = wait_done(b, a, since_b)
    done_s = time.monotonic() - t0
    t.note("scenario 2: workload: %d updates in %d s (%d req/s) to Alford; Bolden started "
           "%.1f s before it ended" % (requests, duration, rate, bench_done_s))
    t.note("scenario 2: Alford: %s" % ca)
    t.note("scenario 2: Bolden: %s" % cb)
    t.note("scenario 2: catch-up time %.1f ms (Alford) / %.1f ms (Bolden); longest loop turn "
           "%.2f ms (Alford) / %.2f ms (Bolden)" % (ca.ms, cb.ms, ca.turn_ms, cb.turn_ms))
    # What the workload updated after the link came up is flooded, not
    # sent by the catch-up (sync.h: only records held at link-up).
    check(0 < ca.records_sent <= nclients + DIFFS, "records Alford's catch-up sent to an empty "
          "Bolden (at most its store of %d): %s" % (nclients + DIFFS, ca.line))
    eq(cb.records_sent, 0, "records an empty Bolden sends")
    t.ok("Bolden restarted empty (it held %d) under a %d s workload: catch-up done "
         "(%.1f s after its start)" % (held, duration, done_s))

    marker(a, b, b"3", "after the catch-up from empty")
    no_link_trouble(a, since_a, "scenario 2")
    no_link_trouble(b, since_b, "scenario 2")
    rng = random.Random(2)
    cids = [b"bench.client.%d" % k for k in rng.sample(range(nclients), 1000)]
    cids += rng.sample(extra_cids, 20)
    at_a = whatsat_lines(a, cids)
    at_b = whatsat_lines(b, cids)
    for cid, x, y in zip(cids, at_a, at_b):
        check(x.startswith(b"AT "), "Alford does not know %s: %s" % (cid.decode(), show(x)))
        eq(y, x, "Bolden's answer for %s (Alford's is expected)" % cid.decode())
    held_a, held_b = stop(a), stop(b)
    eq(held_b, held_a, "records held at SIGTERM by Bolden (Alford's count expected)")
    eq(held_a, nclients + len(extra_cids) - DIFFS // 2 + 3,
       "records Alford held at SIGTERM (clients, new clients of scenario 1, 3 markers)")
    t.ok("sampled %d clients answer the same AT line at both; both held %d records at SIGTERM"
         % (len(cids), held_a))


def big_iamat(i, n_frac):
    """An IAMAT near the line limit: thousands of digits of client time."""
    digits = (b"%09d" % (i * 7919 % 1000000007)) * (n_frac // 9 + 1)
    return b"IAMAT big.%06d %s %s%s\n" % (i, LOC, OLD_TIME, digits[:n_frac])


def load_big(a, nbig, sample):
    """Sends nbig near-limit IAMATs to a on one connection (a thread writes,
    this one reads); returns {index: AT line} for the sampled indexes, and
    the lengths of the shortest and longest AT line."""
    # The AT line is the IAMAT's fields after "AT Alford +DIFF": 25 bytes
    # longer than the IAMAT with a 20-byte difference.  Aim 12 under.
    probe = big_iamat(0, 0)
    n_frac = MAX_LINE - 12 - (len(probe) - 1 + 25)
    c = a.connect(timeout=60)
    c.sock.settimeout(None)
    errors = []

    def writer():
        try:
            batch = []
            for i in range(nbig):
                batch.append(big_iamat(i, n_frac))
                if len(batch) == 64:
                    c.sock.sendall(b"".join(batch))
                    batch = []
            if batch:
                c.sock.sendall(b"".join(batch))
        except OSError as e:
            errors.append(e)

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    got = {}
    shortest, longest = 1 << 30, 0
    n = 0
    buf = bytearray()
    deadline = time.monotonic() + 600
    try:
        while n < nbig:
            left = deadline - time.monotonic()
            check(left > 0, "Alford answered %d of %d near-limit IAMATs" % (n, nbig))
            r, _, _ = select.select([c.sock], [], [], min(left, 30))
            check(r, "Alford answered %d of %d near-limit IAMATs, then nothing for 30 s%s"
                  % (n, nbig, " (writer: %r)" % errors if errors else ""))
            chunk = c.sock.recv(1 << 20)
            check(chunk, "Alford closed the connection after %d of %d replies" % (n, nbig))
            buf += chunk
            start = 0
            while True:
                nl = buf.find(b"\n", start)
                if nl < 0:
                    break
                line = bytes(buf[start:nl])
                start = nl + 1
                if not line.startswith(b"AT Alford "):
                    fail("reply %d to a near-limit IAMAT: %s" % (n, show(line)))
                shortest = min(shortest, len(line))
                longest = max(longest, len(line))
                if n in sample:
                    eq(split_at(line)[3], b"big.%06d" % n, "client of reply %d" % n)
                    got[n] = line
                n += 1
            del buf[:start]
    finally:
        try:
            c.sock.shutdown(socket.SHUT_RDWR)  # wakes a writer blocked in sendall
        except OSError:
            pass
        th.join(60)
        c.close()
    check(not errors, "writing the near-limit IAMATs: %r" % errors)
    return got, shortest, longest, n_frac


def scenario_big(t, a, b, nbig):
    # The stores of scenarios 1 and 2 are done with (both servers are
    # stopped): ~400 MB less on disk.
    shutil.rmtree(a.data_dir)
    shutil.rmtree(b.data_dir)
    set_data_dir(a, os.path.join(t.tmpdir, "Alford.data3"))
    set_data_dir(b, os.path.join(t.tmpdir, "Bolden.data3"))
    a.start(START_TIMEOUT)
    rng = random.Random(3)
    sample = set(rng.sample(range(nbig), min(300, nbig))) | {0, nbig - 1}
    t0 = time.monotonic()
    got, shortest, longest, n_frac = load_big(a, nbig, sample)
    load_s = time.monotonic() - t0
    check(longest <= MAX_LINE, "an AT line of %d bytes is over the %d-byte line limit"
          % (longest, MAX_LINE))
    check(shortest >= MAX_LINE - 64, "AT lines should be near the limit: shortest %d" % shortest)
    t.ok("%d IAMATs with %d fraction digits of client time loaded into Alford in %.1f s (AT lines %d to "
         "%d bytes, about %.0f MB)" % (nbig, n_frac + 9, load_s, shortest, longest,
                                       nbig * (longest + 1) / 1e6))

    t1 = time.monotonic()
    since_b, since_a, b_up, a_up = start(b, a)
    check(a_up.endswith("catching up") and b_up.endswith("catching up"),
          "both link-up lines should say 'catching up': %r / %r" % (a_up, b_up))
    # Updates during the catch-up: newer times for big clients (short lines
    # now), and new clients.
    during = [b"big.%06d" % k for k in rng.sample(sorted(set(range(nbig)) - sample), 10)]
    during += [b"during.%d" % i for i in range(10)]
    now = time.time()
    lines = [b"IAMAT %s %s %.9f\n" % (cid, LOC, now + i * 1e-6) for i, cid in enumerate(during)]
    ats = pipelined(a, lines, lambda c: c.read_line(30))
    sent_s = time.monotonic() - t1
    early = Tail(a, since_a).find_all(b"link Bolden: catch-up done")
    ca = wait_done(a, b, since_a)
    cb = wait_done(b, a, since_b)
    done_s = time.monotonic() - t1
    t.note("scenario 3: Alford: %s" % ca)
    t.note("scenario 3: Bolden: %s" % cb)
    if early:
        t.note("scenario 3: Alford's side was done before the %d updates were answered "
               "(%.1f s): they were flooded after the catch-up" % (len(during), sent_s))
    else:
        t.note("scenario 3: %d updates answered by Alford %.2f s after Bolden's start, "
               "during the catch-up" % (len(during), sent_s))
    # A big client updated before the walk reached it is flooded instead.
    check(nbig - 10 <= ca.records_sent <= nbig, "Alford must send its %d records (less those "
          "updated during the catch-up): %s" % (nbig, ca.line))
    for cid, at in zip(during, ats):
        wait_knows(b, cid, at, what="an update sent during the catch-up")
    marker(a, b, b"4", "after the near-limit catch-up")
    no_link_trouble(a, since_a, "scenario 3")
    no_link_trouble(b, since_b, "scenario 3")
    eq(len(Tail(a, since_a).find_all(b"link Bolden up")), 1, "link-up lines at Alford")
    eq(len(Tail(b, since_b).find_all(b"link Alford up")), 1, "link-up lines at Bolden")
    t.ok("near-limit catch-up of %d records done in %.1f s (logged %.1f / %.1f ms); the link "
         "never went down; %d updates sent during it reached Bolden"
         % (nbig, done_s, ca.ms, cb.ms, len(during)))

    keys = sorted(got)
    answers = whatsat_lines(b, [b"big.%06d" % k for k in keys])
    for k, have in zip(keys, answers):
        eq(have, got[k], "Bolden's answer for big.%06d (Alford's reply expected)" % k)
    held_a, held_b = stop(a), stop(b)
    eq(held_a, nbig + 10 + 1, "records Alford held at SIGTERM")
    eq(held_b, held_a, "records Bolden held at SIGTERM")
    t.ok("Bolden answers %d sampled near-limit clients with Alford's exact AT lines; both held "
         "%d records at SIGTERM" % (len(keys), held_b))


def main(t):
    t.dump_tails = lambda: dump_tails(t)
    t.sanitized = sanitized(t.binary)
    nclients = t.args.clients or 1000000
    nbig = t.args.big or 37000
    t.note("%s build: %d clients, %d near-limit records"
           % ("sanitizer" if t.sanitized else "plain", nclients, nbig))
    servers = {}
    for name in ("Alford", "Bolden"):
        data = os.path.join(t.tmpdir, name + ".data")
        os.makedirs(data)
        # Every protocol line is logged: hundreds of megabytes here, which
        # Tail reads by offset, so the log is not rotated.
        s = t.server(name, extra_args=["--places", "offline", "--data-dir", data,
                                       "--log-max-mb", "0"])
        s.data_dir = data
        servers[name] = s
    a, b = servers["Alford"], servers["Bolden"]
    t.link(a, b)
    t.start_all(START_TIMEOUT)
    a.wait_links_up(timeout=30)
    b.wait_links_up(timeout=30)

    phases = []
    t0 = time.monotonic()
    new_cids = scenario_restart(t, a, b, nclients)
    phases.append(time.monotonic() - t0)
    t0 = time.monotonic()
    scenario_empty(t, a, b, nclients, new_cids)
    phases.append(time.monotonic() - t0)
    t0 = time.monotonic()
    scenario_big(t, a, b, nbig)
    phases.append(time.monotonic() - t0)
    t.note("phases: %s s" % " / ".join("%.1f" % p for p in phases))


def add_args(ap):
    ap.add_argument("--bench", required=True, help="path to herd-bench")
    ap.add_argument("--clients", type=int, default=0,
                    help="store size of scenarios 1 and 2 (default: 1000000)")
    ap.add_argument("--big", type=int, default=0,
                    help="near-limit records of scenario 3 (default: 37000)")


if __name__ == "__main__":
    herdtest.run(main, watchdog=270, add_args=add_args)
