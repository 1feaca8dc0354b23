"""Chaos: no acknowledged update is ever lost.

Starts the default herd through `herd start`, runs a workload (a few hundred
client ids, each sending IAMATs with strictly increasing times to random
servers over persistent connections), injects faults from a seeded schedule
(herd kill, SIGSTOP/SIGCONT, herd stop NAME/start NAME including the cut that
isolates Hamilton, a full herd stop/start), heals everything, and checks
every server:

  lost        an acknowledged IAMAT newer than what some server ends with
  stale       a server whose record for a client differs from the newest
              one anywhere, 2 s after the heal
  unexpected  a record nobody sent

All three must be 0. Prints the counts, the convergence time after the heal
and peer messages per update.

With --preload N, the herd holds N more clients (bench.client.0 to N-1,
loaded at Alford by herd-bench --bench BIN, or by this script without it)
before the faults start, so that every restart replays a large log and
every link that comes up catches up over a large store. Once Alford has
answered them all, one more update at Alford must reach every server (a
link carries records in order: behind it, the load has arrived, as long
as no link went down meanwhile, which is checked); a random sample of
2000 of them must then read the same on every server, and a full
comparison follows: the herd is restarted and every link must come up
"in sync" (the two ends' record counts and digests of all their records
agree; else the catch-ups logged tell how much differed). After the heal,
the sample must still read as loaded on every server, and the final stop
is followed by the same full comparison. The peer messages per update
count the lives after the preload.

    test_chaos.py --server BIN --herd BIN [--seed N] [--duration S]
                  [--preload N [--bench BIN]]
"""

import os
import random
import re
import socket
import subprocess
import time

import herdsup
import herdtest
from herdsup import check, fail, show

NAMES = herdsup.DEFAULT_NAMES


def log_size(h, name):
    try:
        return os.path.getsize(h.log_path(name))
    except FileNotFoundError:
        return 0


PRELOAD_SAMPLE = 2000
PRELOAD_LOC = b"+34.068930-118.445127"   # herd-bench's, without --spread


def preload(t, h, n):
    """Loads n clients at Alford and waits until every server holds them.
    Returns {client: AT line} for a random sample of them, as Alford holds
    it."""
    t0 = time.monotonic()
    since = {name: log_size(h, name) for name in NAMES}
    if t.args.bench:
        try:
            p = subprocess.run(
                [t.args.bench, "--port", str(h.port["Alford"]), "--conns", "8",
                 "--pipeline", "32", "--requests", str(n), "--label", "preload"],
                stdin=subprocess.DEVNULL, capture_output=True,
                timeout=60 + n / 1000.0)
        except subprocess.TimeoutExpired:
            fail("herd-bench did not load %d clients within %.0f s" % (n, 60 + n / 1000.0))
        out = p.stdout.decode(errors="replace").strip()
        check(p.returncode == 0 and " 0 errors" in out,
              "herd-bench preload: exit %d: %s %s"
              % (p.returncode, out, p.stderr.decode(errors="replace")))
        t.log(out)
    else:
        # The same clients as herd-bench's, pipelined on one connection.
        base = time.time_ns()
        with h.client("Alford", timeout=30.0) as c:
            for lo in range(0, n, 2000):
                hi = min(n, lo + 2000)
                c.send(b"".join(b"IAMAT bench.client.%d %s %d.%09d\n"
                                % ((i, PRELOAD_LOC) + divmod(base + i, 10**9))
                                for i in range(lo, hi)))
                for i in range(lo, hi):
                    got = c.read_line(30.0)
                    if not got.startswith(b"AT "):
                        fail("preload IAMAT bench.client.%d: %s" % (i, show(got)))
    loaded = time.monotonic() - t0
    # Every update was answered, so Alford holds them all; one more after
    # them, and when it is everywhere, so is the load.
    marker = h.iamat("Alford", b"preload.done", b"%d.%09d" % divmod(time.time_ns(), 10**9))
    for name in NAMES:
        h.wait_knows(name, marker, timeout=60 + n / 2000.0)
    for name in NAMES:
        down = re.search(rb"link \w+ down[^\n]*", h.log(name)[since[name]:])
        check(down is None, "%s: a link went down during the preload (%s): the order "
              "of its records says nothing" % (name, down and down.group(0).decode()))
    spread = time.monotonic() - t0 - loaded
    rng = random.Random(t.args.seed + 1)
    sample = [b"bench.client.%d" % i for i in rng.sample(range(n), min(n, PRELOAD_SAMPLE))]
    ref = herdsup.snapshot(h, "Alford", sample)
    check(len(ref) == len(sample), "Alford holds %d of %d sampled preloaded clients"
          % (len(ref), len(sample)))
    for name in NAMES[1:]:
        snap = herdsup.snapshot(h, name, sample)
        differ = [cl for cl in sample if snap.get(cl) != ref[cl]]
        check(not differ, "%s: %d of %d sampled preloaded clients differ from Alford's "
              "(missing or other), e.g. %s" % (name, len(differ), len(sample), differ[:3]))
    t.note("preload: %d clients at Alford in %.1f s (%s), on every server %.1f s later; "
           "a sample of %d reads the same everywhere"
           % (n, loaded, "herd-bench" if t.args.bench else "pipelined IAMATs", spread,
              len(sample)))
    return ref


def check_preload_sample(t, h, ref, timeout=5.0):
    """Every server holds the sampled preloaded clients as loaded."""
    deadline = time.monotonic() + timeout
    while True:
        bad = {}
        for name in NAMES:
            snap = herdsup.snapshot(h, name, list(ref))
            n = sum(1 for cl, line in ref.items() if snap.get(cl) != line)
            if n:
                bad[name] = n
        if not bad or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(not bad, "sampled preloaded clients that differ from the load after the heal: %s"
          % ", ".join("%s %d of %d" % (name, n, len(ref)) for name, n in sorted(bad.items())))


def restart_in_sync(t, h, when):
    """A full comparison of the stores: stops the herd and starts it again;
    every link must come up in sync (the two ends' record counts and
    digests of all their records agree). Returns the offsets of the logs
    before the start."""
    t0 = time.monotonic()
    if h.started:
        h.stop()
    since = {name: log_size(h, name) for name in NAMES}
    h.start()
    up = re.compile(rb"link (\w+) up \([^\n]*?(in sync|catching up)\)")
    for name in NAMES:
        h.wait_links_up(name, since=since[name], timeout=60.0)
    differ = []
    for name in NAMES:
        for m in up.finditer(h.log(name), since[name]):
            if m.group(2) != b"in sync":
                differ.append("%s-%s" % (name, m.group(1).decode()))
    if differ:
        # What the catch-ups found: how many records each end sent.
        time.sleep(2.0)
        done = []
        for name in NAMES:
            done += [name + ": " + m.group(0).decode() for m in
                     re.finditer(rb"link \w+: catch-up (done|interrupted)[^\n]*",
                                 h.log(name)[since[name]:])]
        fail("%s, the stores differ: links that came up catching up: %s\n%s"
             % (when, ", ".join(differ), "\n".join(done)))
    t.note("full comparison %s: every link came up in sync after a restart (%.1f s)"
           % (when, time.monotonic() - t0))
    return since


def faults(rng, h):
    """A seeded schedule in which every kind of fault happens."""
    kinds = ["kill", "kill", "stopcont", "partition", "isolate_hamilton",
             "stopstart", "full"]
    rng.shuffle(kinds)
    return [(k, rng.choice(NAMES)) for k in kinds]


def inject(t, h, kind, name, counts):
    if kind == "kill":
        h.ok_cmd("kill", name)
        h.wait_state(name, "up", 10.0, lambda s: s["restarts"] > 0 and s["pid"])
    elif kind == "stopcont":
        h.ok_cmd("kill", name, "STOP")
        time.sleep(1.5)   # the fault itself: a server frozen for a while
        h.ok_cmd("kill", name, "CONT")
    elif kind in ("partition", "isolate_hamilton"):
        victim = "Parker" if kind == "isolate_hamilton" else name
        h.ok_cmd("stop", victim)
        time.sleep(2.0)   # the partition lasts a while
        h.ok_cmd("start", victim)
    elif kind == "stopstart":
        h.ok_cmd("restart", name)
    elif kind == "full":
        h.ok_cmd("stop")
        h.started = False
        time.sleep(0.5)   # the herd stays down a moment
        h.start()
    counts[kind] = counts.get(kind, 0) + 1
    t.note("fault: %s %s" % (kind, name if kind != "full" else "(whole herd)"))


def main(t):
    seed = t.args.seed
    rng = random.Random(seed)
    extra = "restart_first_ms 50\n"
    if t.args.preload:
        # Five servers replaying a large log at once on a small machine.
        extra += "ready_timeout_ms 60000\nstop_grace_ms 20000\n"
    h = herdsup.Herd(t, extra_conf=extra)
    try:
        h.start()
        for n in NAMES:
            h.wait_links_up(n)
        preloaded, since = None, {n: 0 for n in NAMES}
        if t.args.preload:
            preloaded = preload(t, h, t.args.preload)
            # The counters below start after it.
            since = restart_in_sync(t, h, "after the preload")
        wl = herdsup.Workload(h, rng, t.args.clients, 5, NAMES, b"chaos")
        clients = [c for p in wl.parts for c in p]
        wl.start()
        t0 = time.monotonic()
        counts = {}
        schedule = faults(rng, h)
        gap = max(0.5, t.args.duration / (len(schedule) + 1))
        for kind, name in schedule:
            time.sleep(gap / 2)   # let the workload run between faults
            inject(t, h, kind, name, counts)
            time.sleep(gap / 2)
        wl.finish()
        t.note("workload: %d IAMATs sent, %d acknowledged, %.1f s, seed %d"
               % (wl.n_sent, wl.n_acked, time.monotonic() - t0, seed))
        for k in ("kill", "stopcont", "partition", "isolate_hamilton", "stopstart", "full"):
            check(counts.get(k), "fault %s never happened" % k)
        check(wl.n_acked > 100, "too few acknowledged updates: %d" % wl.n_acked)

        # Heal: everything up (each fault above ended healed), then wait for
        # agreement.
        for s in h.status()["servers"]:
            check(s["state"] == "up", "%s not up after the faults: %s" % (s["name"], s))
        healed = time.monotonic()
        converged = None
        while True:
            snaps = {}
            for n in NAMES:
                ts = time.monotonic()
                snaps[n] = herdsup.snapshot(h, n, clients)
                t.log("snapshot of %s: %.3f s" % (n, time.monotonic() - ts))
            newest = {}
            for n in NAMES:
                for cl, line in snaps[n].items():
                    cur = newest.get(cl)
                    if cur is None or (herdsup.ns_of(line.split(b" ")[5])
                                       > herdsup.ns_of(cur.split(b" ")[5])):
                        newest[cl] = line
            stale = sum(1 for n in NAMES for cl in clients
                        if snaps[n].get(cl) != newest.get(cl))
            if stale == 0:
                converged = time.monotonic() - healed
                break
            if time.monotonic() - healed > 2.0:
                break
            time.sleep(0.05)
        if preloaded is not None and stale == 0:
            check_preload_sample(t, h, preloaded)
        lost = 0
        for cl, tns in wl.acked.items():
            for n in NAMES:
                line = snaps[n].get(cl)
                if line is None or herdsup.ns_of(line.split(b" ")[5]) < tns:
                    lost += 1
        unexpected = 0
        for n in NAMES:
            for cl, line in snaps[n].items():
                f = line.split(b" ")
                if (f[3], f[4], f[5]) not in wl.sent:
                    unexpected += 1
        # Peer messages per update, from the servers' own counters (the
        # lives that ended with a clean stop report them).
        h.stop()
        flooded = applied = 0
        for n in NAMES:
            for m in re.finditer(rb"(\d+) applied, \d+ stale, (\d+) flooded",
                                 h.log(n)[since[n]:]):
                applied += int(m.group(1))
                flooded += int(m.group(2))
        t.note("lost %d, stale %d, unexpected %d; converged %s after the heal; "
               "peer messages per applied update %.2f (clean exits)"
               % (lost, stale, unexpected,
                  "%.3f s" % converged if converged is not None else "NOT within 2 s",
                  flooded / max(applied, 1)))
        check(lost == 0, "lost %d acknowledged updates" % lost)
        check(stale == 0, "%d stale records 2 s after the heal" % stale)
        check(unexpected == 0, "%d records nobody sent" % unexpected)
        if preloaded is not None:
            restart_in_sync(t, h, "after the heal")
            h.stop()
        t.ok("chaos seed %d: lost 0, stale 0, unexpected 0 (%d acked, faults %s)"
             % (seed, wl.n_acked, ",".join("%s=%d" % kv for kv in sorted(counts.items()))))
    finally:
        h.close()


def add_args(ap):
    ap.add_argument("--herd", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--preload", type=int, default=0,
                    help="clients loaded before the faults (bench.client.N)")
    ap.add_argument("--bench", help="herd-bench, to load them fast")


herdtest.run(main, watchdog=600, add_args=add_args)
