#!/usr/bin/env python3
"""The benchmark tools work, and the write path has the shape they report.

Three linked servers (Alford - Parker - Hamilton) on probed ports:

* herd-bench's load mode sends what it says, gets every reply and, with
  --pids, prints the CPU line; a second run against the same herd is still
  flooded (its times are newer), so Hamilton answers with the newest time;
* --propagation measures updates at Alford until Parker and Hamilton
  answer with them, and prints its line;
* --idle holds N silent connections and the server counts them;
* bad arguments exit 64 with the usage;
* with strace installed: Parker (a relay) under a pipelined load writes at
  most once per descriptor per loop iteration, log and write-ahead log
  included (scripts/syscall_report.py --check), and Alford answers every
  request with one read and one write at most.

No number here is timed against a limit: the benchmarks print the speed.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import os
import re
import shutil
import signal
import subprocess
import time

import herdtest
from herdtest import check, eq, fail

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(HERE, "..", "..", "scripts", "syscall_report.py")
LOAD_RE = re.compile(r" (\d+) req/s  p50 +[0-9.]+ us  p99 +[0-9.]+ us  p99\.9 +[0-9.]+ us  "
                     r"\((\d+) requests, (\d+) conns, pipeline (\d+), (\d+) errors\)")
CPU_RE = re.compile(r"^cpu +([0-9.]+) us/req +\((.*)\) +bench ([0-9.]+) us/req$", re.M)
PROP_RE = re.compile(r"propagation to (\d+) servers: p50 ([0-9.]+) us  p99 ([0-9.]+) us  "
                     r"p99\.9 ([0-9.]+) us  max ([0-9.]+) us  \((\d+) updates, ([0-9.]+) "
                     r"updates/s, (\d+) probes\)")


def bench(t, *args, timeout=60):
    p = subprocess.run([t.args.bench] + [str(a) for a in args], capture_output=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def traced(server):
    """Whether a tracer (strace) is attached to the server's process."""
    with open("/proc/%d/status" % server.proc.pid) as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1]) != 0
    return False


def newest_time_at(server, cid):
    with server.connect() as c:
        c.send(b"WHATSAT " + cid + b" 0 0\n")
        first, _ = c.read_whatsat()
    return first


def main(t):
    names = ["Alford", "Parker", "Hamilton"]
    srv = {n: t.server(n, extra_args=["--places", "offline", "--data-dir",
                                      os.path.join(t.tmpdir, n + ".data")])
           for n in names}
    t.link(srv["Alford"], srv["Parker"])
    t.link(srv["Parker"], srv["Hamilton"])
    t.start_all()
    for s in srv.values():
        s.wait_links_up(timeout=15)
    pids = ",".join(str(srv[n].proc.pid) for n in names)

    seen = []
    for run in range(2):
        rc, out, err = bench(t, "--port", srv["Alford"].port, "--conns", 4, "--pipeline", 4,
                             "--requests", 2000, "--clients", 10, "--pids", pids)
        eq(rc, 0, "herd-bench exit status (stderr: %s)" % err.strip())
        m = LOAD_RE.search(out)
        check(m is not None, "load line: %r" % out)
        eq(m.group(2, 3, 4, 5), ("2000", "4", "4", "0"), "requests, conns, pipeline, errors")
        check(int(m.group(1)) > 0, "a throughput: %r" % out)
        c = CPU_RE.search(out)
        check(c is not None, "cpu line: %r" % out)
        per = c.group(2).split(", ")
        eq(len(per), 3, "one CPU figure per pid: %r" % c.group(2))
        check(float(c.group(1)) > 0, "server CPU per request: %r" % out)
        # bench.client.9 got the run's last update: Hamilton (two hops)
        # must end up answering with it, run after run.
        deadline = time.monotonic() + 5
        while True:
            with srv["Alford"].connect() as a:
                a.send(b"WHATSAT bench.client.9 0 0\n")
                want, _ = a.read_whatsat()
            got = newest_time_at(srv["Hamilton"], b"bench.client.9")
            if got == want:
                break
            if time.monotonic() > deadline:
                fail("run %d: Hamilton answers %r, Alford %r" % (run, got, want))
            time.sleep(0.02)
        seen.append(want)
    check(seen[0] != seen[1], "the second run's updates are newer and flooded: %r" % seen)
    t.ok("load mode: 2000 requests, no errors, CPU per pid; a second run is flooded too "
         "(%s)" % out.splitlines()[1].strip())

    rc, out, err = bench(t, "--propagation", "--rate", 200, "--requests", 100,
                         "--port", srv["Alford"].port, "--port", srv["Parker"].port,
                         "--port", srv["Hamilton"].port, "--label", "smoke")
    eq(rc, 0, "propagation exit status (stderr: %s)" % err.strip())
    m = PROP_RE.search(out)
    check(m is not None, "propagation line: %r" % out)
    eq(m.group(1), "2", "observers")
    eq(m.group(6), "100", "updates")
    p50, p99, mx = float(m.group(2)), float(m.group(3)), float(m.group(5))
    check(0 < p50 <= p99 <= mx, "percentiles in order: %s" % out.strip())
    t.ok("propagation mode: %s" % out.strip())

    n = 200
    before = len(os.listdir("/proc/%d/fd" % srv["Parker"].proc.pid))
    p = subprocess.Popen([t.args.bench, "--idle", str(n), "--hold", "30",
                          "--port", str(srv["Parker"].port)],
                         stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        line = p.stdout.readline().decode().strip()
        eq(line, "idle %d connections open" % n, "idle mode's line")
        deadline = time.monotonic() + 10
        while len(os.listdir("/proc/%d/fd" % srv["Parker"].proc.pid)) < before + n:
            if time.monotonic() > deadline:
                fail("Parker holds %d descriptors, want %d + %d"
                     % (len(os.listdir("/proc/%d/fd" % srv["Parker"].proc.pid)), before, n))
            time.sleep(0.02)
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(10)
    eq(rc, 0, "idle mode's exit status after SIGTERM")
    t.ok("idle mode: %d silent connections held at Parker, exit 0 on SIGTERM" % n)

    for bad in (["--conns", "0", "--port", "1"], ["--port", "1", "--bogus"], []):
        rc, out, err = bench(t, *bad)
        eq(rc, 64, "herd-bench %s: exit status" % " ".join(bad))
        check("usage" in err, "herd-bench %s: usage on stderr" % " ".join(bad))
    rc, out, _ = bench(t, "--help")
    eq(rc, 0, "herd-bench --help exit status")
    check("--propagation" in out and "--idle" in out, "--help names every mode")
    t.ok("bad arguments exit 64 with the usage; --help exits 0")

    strace = shutil.which("strace")
    if strace is None:
        t.note("strace not installed: the per-iteration write check is skipped")
        return
    trace = os.path.join(t.tmpdir, "parker.strace")
    st = subprocess.Popen([strace, "-f", "-yy", "-e",
                           "trace=read,write,writev,epoll_wait,epoll_pwait",
                           "-o", trace, "-p", str(srv["Parker"].proc.pid)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    atrace = os.path.join(t.tmpdir, "alford.strace")
    sa = subprocess.Popen([strace, "-f", "-yy", "-e",
                           "trace=read,write,writev,epoll_wait,epoll_pwait",
                           "-o", atrace, "-p", str(srv["Alford"].proc.pid)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not (traced(srv["Parker"]) and traced(srv["Alford"])):
            if time.monotonic() > deadline:
                fail("strace did not attach")
            time.sleep(0.02)
        rc, out, err = bench(t, "--port", srv["Alford"].port, "--conns", 10,
                             "--requests", 3000, "--clients", 100, timeout=120)
        eq(rc, 0, "herd-bench under strace (stderr: %s)" % err.strip())
    finally:
        for s in (st, sa):
            s.send_signal(signal.SIGINT)
            s.wait(10)
    # Alford takes the clients; Parker relays to Hamilton.
    for name, path in (("Parker", trace), ("Alford", atrace)):
        p = subprocess.run([sys.executable, REPORT, path, str(srv[name].port), "3000",
                            "--check"], capture_output=True, timeout=60)
        report = p.stdout.decode()
        eq(p.returncode, 0, "%s: syscall report --check:\n%s%s"
           % (name, report, p.stderr.decode()))
        m = re.search(r"system calls per request: ([0-9.]+) on client sockets", report)
        check(m is not None, "report: %r" % report)
        check(float(m.group(1)) <= 2.05, "%s: %s system calls per request on client "
              "sockets (one read, one write)" % (name, m.group(1)))
        m = re.search(r"per iteration: ([0-9.]+) log writes, ([0-9.]+) WAL writes", report)
        check(m is not None and float(m.group(2)) > 0,
              "%s wrote its write-ahead log: %r" % (name, report))
        t.ok("%s under strace: %s" % (name, " / ".join(report.strip().splitlines()[:4])))


def add_args(ap):
    ap.add_argument("--bench", required=True, help="path to herd-bench")


if __name__ == "__main__":
    herdtest.run(main, add_args=add_args)
