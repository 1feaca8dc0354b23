#!/usr/bin/env python3
"""Catch-up numbers of a peer link, driven by herd-bench.

    bench_catchup.py HERD_SERVER HERD_BENCH [CLIENTS]

Two herd-servers, Alford and Bolden, one link between them (write-ahead
logs on, a herd secret), CLIENTS (1 000 000) distinct clients loaded into
Alford with herd-bench until Bolden holds them all. Then Bolden is stopped
(SIGTERM), misses D updates sent to Alford (half of them updates of loaded
clients, half new clients) and is started again, for D = 0, 100, 10 000;
last, Bolden starts from an empty data directory (every record differs),
once on a quiet link and once under a client load at Bolden. Each row
reads the catch-up from the two servers' logs ("catch-up done in T ms:
sent R records (B bytes) and M messages (MB bytes) ..."): its time on
both sides, the bytes each way as records and messages, and beside them
what the full exchange that came before sent each way: each side's whole
table, its records' AT lines and newlines. That is the side's record
count (Alford's: what was loaded and sent to it; Bolden's: the clients it
replayed at its start) times the mean line of Alford's table, which the
empty-data-dir row measures (Alford sends its whole table there).

The empty-data-dir rows also print both sides' longest loop turn (target:
at most 10 ms); the loaded one, the latency of the client load at Bolden
(herd-bench, 4 connections, no pipelining, from link-up on for a while
longer than the quiet catch-up took) against the same load afterwards.

Everything runs on 127.0.0.1 ports the script probes; every process it
starts is stopped before it exits, and every wait has a deadline.
"""

import calendar
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def human(nbytes):
    if nbytes < 1000:
        return "%d B" % nbytes
    if nbytes < 1000 * 1000:
        return "%.1f KB" % (nbytes / 1e3)
    return "%.1f MB" % (nbytes / 1e6)


class LogTail:
    """The lines of a server's log that name a link, from an offset on."""

    def __init__(self, path):
        self.path = path
        self.off = 0
        self.partial = b""
        self.lines = []

    def mark(self):
        """Forgets what was read: later reads see only lines logged from now."""
        self.poll()
        self.lines = []

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return self.lines
        self.off += len(data)
        data = self.partial + data
        cut = data.rfind(b"\n") + 1
        self.partial = data[cut:]
        for line in data[:cut].split(b"\n"):
            if b" link " in line or b"replayed " in line or b"stopping (" in line:
                self.lines.append(line)
        return self.lines

    def find(self, rx):
        for line in self.poll():
            m = rx.search(line)
            if m:
                return m
        return None


class Server:
    def __init__(self, binary, work, name, secret):
        self.binary = binary
        self.name = name
        self.port = free_port()
        self.peer_port = free_port()
        self.data = os.path.join(work, name + ".data")
        self.log = os.path.join(work, name + ".log")
        self.secret = secret
        self.peers = []
        self.proc = None
        self.tail = LogTail(self.log)

    def start(self, timeout=120.0):
        rfd, wfd = os.pipe()
        argv = [self.binary, self.name, "--listen", "127.0.0.1:%d" % self.port,
                "--peer-listen", "127.0.0.1:%d" % self.peer_port,
                "--data-dir", self.data, "--log-file", self.log,
                "--secret-file", self.secret, "--ready-fd", str(wfd)]
        for p in self.peers:
            argv += ["--peer", "%s=127.0.0.1:%d" % (p.name, p.peer_port)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, pass_fds=(wfd,))
        os.close(wfd)
        try:
            r, _, _ = select.select([rfd], [], [], timeout)
            if not r or os.read(rfd, 1) != b"\n":
                raise RuntimeError("%s did not become ready within %.0f s"
                                   % (self.name, timeout))
        finally:
            os.close(rfd)

    def stop(self, timeout=60.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("%s did not stop within %.0f s" % (self.name, timeout))
        if rc != 0:
            raise RuntimeError("%s exited %d" % (self.name, rc))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_for(what, cond, timeout, interval=0.005):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def iamats(port, lines, timeout=60.0):
    """Sends the IAMAT lines pipelined on one connection; returns the replies."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        buf = b""
        for i in range(0, len(lines), 1000):
            chunk = lines[i:i + 1000]
            c.sendall(b"".join(chunk))
            want = len(replies) + len(chunk)
            while len(replies) < want:
                data = c.recv(1 << 16)
                if not data:
                    raise RuntimeError("port %d closed the connection" % port)
                buf += data
                *done, buf = buf.split(b"\n")
                replies += done
    for line, reply in zip(lines, replies):
        if not reply.startswith(b"AT "):
            raise RuntimeError("%r answered %r" % (line, reply))
    return replies


def whatsat_first(port, client, timeout=10.0):
    """The AT line a server holds for client, or None."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(b"WHATSAT %s 1 0\n" % client)
        data = b""
        while not (data.startswith(b"?") and data.endswith(b"\n")) \
                and not data.endswith(b"\n\n"):
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    first = data.split(b"\n", 1)[0]
    return None if first.startswith(b"?") else first


def now_t(i=0):
    return b"%d.%09d" % divmod(time.time_ns() + i, 10**9)


DONE = (rb"link %s: catch-up done in ([0-9.]+) ms: sent (\d+) records \((\d+) bytes\) "
        rb"and (\d+) messages \((\d+) bytes\), received (\d+) records and (\d+) "
        rb"messages; longest loop turn ([0-9.]+) ms")


def link_result(server, other, timeout):
    """Waits for server's end of the link to other: "in sync" at link-up, or
    its "catch-up done" line. Returns None (in sync) or the numbers."""
    up = re.compile(rb"link %s up \(.*, (in sync|catching up)\)$" % other.name.encode())
    done = re.compile(DONE % other.name.encode())
    broken = re.compile(rb"link %s: catch-up interrupted.*" % other.name.encode())
    deadline = time.monotonic() + timeout
    m = wait_for("%s's link to %s to come up" % (server.name, other.name),
                 lambda: server.tail.find(up), timeout)
    if m.group(1) == b"in sync":
        return None
    def cond():
        b = server.tail.find(broken)
        if b:
            raise RuntimeError("%s: %s" % (server.name, b.group(0).decode()))
        return server.tail.find(done)
    m = wait_for("%s's catch-up with %s" % (server.name, other.name), cond,
                 max(1.0, deadline - time.monotonic()))
    ms, rs, rb, ms_, mb, rr, mr, turn = m.groups()
    return {"ms": float(ms), "records": int(rs), "record_bytes": int(rb),
            "messages": int(ms_), "message_bytes": int(mb),
            "received": int(rr), "received_messages": int(mr),
            "turn_ms": float(turn), "line": m.group(0).decode()}


def log_time(line):
    """The wall-clock time (seconds) of a log line's stamp."""
    stamp = line.split(b" ", 1)[0].decode()
    return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) \
        + int(stamp[20:23]) / 1000.0


class Bench:
    def __init__(self, server_bin, bench_bin, work, clients):
        self.bench_bin = bench_bin
        self.work = work
        self.n = clients
        self.rng = random.Random(1)
        secret = os.path.join(work, "secret")
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(16).hex().encode() + b"\n")
        os.close(fd)
        self.a = Server(server_bin, work, "Alford", secret)
        self.b = Server(server_bin, work, "Bolden", secret)
        self.a.peers = [self.b]
        self.b.peers = [self.a]
        self.a_count = 0     # Alford's records, as sent to it
        self.rows = []

    def close(self):
        for s in (self.b, self.a):
            try:
                s.stop(30)
            except RuntimeError:
                s.kill()

    def log(self, msg):
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()

    def load(self):
        self.a.start()
        self.b.start()
        up = re.compile(rb"link Bolden up \(")
        wait_for("Alford's link to Bolden to come up", lambda: self.a.tail.find(up), 30)
        t0 = time.monotonic()
        out = subprocess.run(
            [self.bench_bin, "--port", str(self.a.port), "--conns", "50",
             "--pipeline", "16", "--requests", str(self.n), "--label", "load Alford"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=600,
            check=True).stdout.decode()
        if " 0 errors" not in out:
            raise RuntimeError("herd-bench: %s" % out.strip())
        self.a_count = self.n
        # Alford applied all of it (every request was answered) and floods
        # in that order on its one link: once a later update is at Bolden,
        # so is the load. The D = 0 row checks it (the link comes up in
        # sync only when both stores hold the same records).
        sentinel = b"IAMAT catchup.sentinel +34.068930-118.445127 %s\n" % now_t()
        at = iamats(self.a.port, [sentinel])[0]
        self.a_count += 1
        wait_for("Bolden to hold the load", lambda: whatsat_first(self.b.port, b"catchup.sentinel") == at,
                 600, 0.05)
        self.log("loaded %d clients into Alford and Bolden in %.1f s (%s)"
                 % (self.n, time.monotonic() - t0, out.split("\n")[0].strip()))

    def restart_bolden(self, d, empty=False, under_load=False, timeout=300):
        self.a.tail.mark()
        self.b.stop()
        held = re.compile(rb"stopping \(SIGTERM\): (\d+) records held")
        m = self.b.tail.find(held)
        self.b.tail.mark()
        sample = []
        if d:
            lines = []
            updated = iter(self.rng.sample(range(self.n), (d + 1) // 2))
            for i in range(d):
                if i % 2 == 0:
                    client = b"bench.client.%d" % next(updated)
                else:
                    client = b"catchup.%d.%d" % (len(self.rows), i)
                    self.a_count += 1
                loc = b"%+.6f%+.6f" % (self.rng.uniform(-60, 60), self.rng.uniform(-170, 170))
                lines.append(b"IAMAT %s %s %s\n" % (client, loc, now_t(i)))
            replies = iamats(self.a.port, lines)
            sample = self.rng.sample(replies, min(200, d))
        if empty:
            shutil.rmtree(self.b.data)
        self.b.start()
        replayed = re.compile(rb"replayed (\d+) records \((\d+) clients\) .* in ([0-9.]+) ms")
        rep = wait_for("Bolden's replay line", lambda: self.b.tail.find(replayed), 10)
        b_count = int(rep.group(2))
        load = None
        if under_load:
            up = re.compile(rb"link Alford up \(")
            wait_for("Bolden's link to come up", lambda: self.b.tail.find(up), 30, 0.001)
            t_up = log_time(next(l for l in self.b.tail.lines if up.search(l)))
            load = self.client_load(self.load_secs, "during catch-up", t_up)
        ra = link_result(self.a, self.b, timeout)
        rb = link_result(self.b, self.a, timeout)
        if (ra is None) != (rb is None):
            raise RuntimeError("one side in sync, the other not: %s / %s" % (ra, rb))
        if load is not None:
            done_at = log_time([l for l in self.b.tail.lines if b"catch-up done" in l][0])
            load["done_at"] = done_at - load["t_up"]
            load["rest"] = self.client_load(self.load_secs, "at rest", None)
        for line in sample:   # what Bolden missed is there now
            client = line.split(b" ")[3]
            try:
                wait_for("Bolden to hold %r" % client,
                         lambda: whatsat_first(self.b.port, client) == line, 10, 0.01)
            except RuntimeError:
                raise RuntimeError("after the catch-up, Bolden holds %r for %r; Alford "
                                   "answered %r and holds %r"
                                   % (whatsat_first(self.b.port, client), client, line,
                                      whatsat_first(self.a.port, client)))
        self.log("D=%s: Bolden held %s records at its stop, replayed %d; Alford: %s; Bolden: %s"
                 % ("all" if empty else d, m.group(1).decode() if m else "?", b_count,
                    ra["line"] if ra else "in sync", rb["line"] if rb else "in sync"))
        self.rows.append({"d": d, "empty": empty, "under_load": under_load,
                          "a": ra, "b": rb, "a_count": self.a_count,
                          "b_count": b_count, "load": load})
        return ra, rb

    def client_load(self, secs, label, t_up):
        t0 = time.time()
        out = subprocess.run(
            [self.bench_bin, "--port", str(self.b.port), "--conns", "4",
             "--duration", "%.2f" % secs, "--requests", "100000000",
             "--clients", str(self.n), "--label", "Bolden " + label],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=secs + 120,
            check=True).stdout.decode().split("\n")[0]
        t1 = time.time()
        m = re.search(r"([0-9]+) req/s\s+p50\s+([0-9.]+) us\s+p99\s+([0-9.]+) us\s+"
                      r"p99.9\s+([0-9.]+) us.*\((\d+) requests.*?(\d+) errors", out)
        if not m or m.group(6) != "0":
            raise RuntimeError("herd-bench at Bolden: %s" % out)
        self.log(out.strip())
        r = {"rate": int(m.group(1)), "p50": float(m.group(2)), "p99": float(m.group(3)),
             "p999": float(m.group(4)), "requests": int(m.group(5))}
        if t_up is not None:
            r.update(t_up=t_up, start=t0 - t_up, end=t1 - t_up)
        return r

    def run(self):
        self.load()
        for d in (0, 100, 10000):
            self.restart_bolden(d)
        _, quiet = self.restart_bolden(0, empty=True)
        # The load covers the catch-up, and little more, so that its p99
        # is the catch-up's: from link-up, 1.5 times as long as the quiet
        # one took (0.2 s at least).
        self.load_secs = max(0.2, 1.5 * quiet["ms"] / 1000.0)
        self.restart_bolden(0, empty=True, under_load=True)
        # Both ends agree at the end: the load at Bolden went to Alford.
        at = iamats(self.b.port, [b"IAMAT catchup.last +1+1 %s\n" % now_t()])[0]
        wait_for("Alford to hold Bolden's last update",
                 lambda: whatsat_first(self.a.port, b"catchup.last") == at, 30, 0.01)
        held = re.compile(rb"stopping \(SIGTERM\): (\d+) records held")
        self.b.stop()
        self.a.stop()
        hb, ha = self.b.tail.find(held), self.a.tail.find(held)
        if not ha or not hb or ha.group(1) != hb.group(1):
            raise RuntimeError("the stores differ at the end: Alford %s, Bolden %s records"
                               % (ha and ha.group(1), hb and hb.group(1)))
        self.report()

    def report(self):
        empty = [r for r in self.rows if r["empty"] and not r["under_load"]][0]
        if empty["a"]["records"] != empty["a_count"]:
            self.log("warning: Alford sent %d records to an empty Bolden, but holds %d"
                     % (empty["a"]["records"], empty["a_count"]))
        mean = empty["a"]["record_bytes"] / empty["a"]["records"]
        print("catch-up of a link after Bolden restarts (times and bytes from both servers' "
              "logs; full exchange: what the exchange before catch-up sent, each side's whole "
              "table, its record count x %.1f bytes, the mean AT line + newline Alford sent "
              "to an empty Bolden; turn: the longest loop turn during the catch-up)" % mean)
        for r in self.rows:
            if r["empty"]:
                label = "catch-up %d clients, all differ%s" % (
                    self.n, ", under load" if r["under_load"] else "")
            else:
                label = "catch-up %d clients, %d differ" % (self.n, r["d"])
            full = "(full exchange: A->B %s, B->A %s)" % (
                human(r["a_count"] * mean), human(r["b_count"] * mean))
            if r["a"] is None:
                times = "A %7.1f ms, B %7.1f ms" % (0, 0)
                ways = "%-82s" % "in sync at link-up (count and digest agree): nothing sent"
                turns = "%-24s" % ""
            else:
                a, b = r["a"], r["b"]
                times = "A %7.1f ms, B %7.1f ms" % (a["ms"], b["ms"])
                ways = ("A->B %8s records + %8s messages, B->A %8s records + %8s messages"
                        % (human(a["record_bytes"]), human(a["message_bytes"]),
                           human(b["record_bytes"]), human(b["message_bytes"])))
                turns = "turn A %5.1f, B %5.1f ms" % (a["turn_ms"], b["turn_ms"])
            print("%-50s %s  %s  %s  %s" % (label, times, ways, turns, full))
        for r in self.rows:
            if not r["empty"]:
                continue
            what = "under client load" if r["under_load"] else "quiet"
            print("  all differ, %s: longest loop turn Alford %.2f ms, Bolden %.2f ms "
                  "(target <= 10 ms); %d records A->B"
                  % (what, r["a"]["turn_ms"], r["b"]["turn_ms"], r["a"]["records"]))
            ld = r["load"]
            if ld:
                print("  client load at Bolden during that catch-up (herd-bench IAMAT, 4 conns, no "
                      "pipelining): p50 %.0f us, p99 %.0f us, p99.9 %.0f us, %d req/s; the same "
                      "load at rest after it: p50 %.0f us, p99 %.0f us, p99.9 %.0f us, %d req/s"
                      % (ld["p50"], ld["p99"], ld["p999"], ld["rate"], ld["rest"]["p50"],
                         ld["rest"]["p99"], ld["rest"]["p999"], ld["rest"]["rate"]))
                print("  (the load ran from %.0f ms to %.0f ms after link-up; Bolden's catch-up "
                      "was done at %.0f ms: the load finished %s the catch-up)"
                      % (ld["start"] * 1e3, ld["end"] * 1e3, ld["done_at"] * 1e3,
                         "after" if ld["end"] >= ld["done_at"] else "BEFORE"))
        sys.stdout.flush()


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 64
    server_bin, bench_bin = argv[0], argv[1]
    clients = int(argv[2]) if len(argv) > 2 else 1000000
    work = tempfile.mkdtemp(prefix="herd-bench-catchup-")
    b = Bench(server_bin, bench_bin, work, clients)
    try:
        b.run()
    finally:
        b.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
