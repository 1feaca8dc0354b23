"""herd restart --rolling: every server restarted, one at a time, under load.

On the default herd, with client updates running at every server:

  roll      herd restart --rolling restarts all five in herd.conf's order
            (exit 0, a line per step): every server gets a new pid; at
            most one server is down at any moment, by the supervisor's own
            log of state changes (a server is down from "up -> stopping"
            to "starting -> up"), each restart beginning only after the
            one before has settled, and by herd status sampled meanwhile;
            no acknowledged update lost, every server holding the newest
            record of every client within 2 s of the end
  names     herd restart --rolling Parker Alford restarts those two, in
            that order, and no other
  crash     a server already restarted crashes while the roll goes on
            (restarted after 1.5 s): no restart of the roll begins while
            it is down, and the roll ends well
  failed    a server fails during the roll (crash_limit 1, killed twice):
            the roll stops before the next restart, says which and why,
            exits 1; no restart of the roll begins once it has failed
  failure   with a server_bin that refuses to run (exit 78), the roll
            stops at the first server, says where and exits 1, and leaves
            the others alone
  usage     a server unknown, or named twice: refused before anything

    test_rolling.py --server BIN --herd BIN [--seed N]
"""

import datetime
import json
import os
import random
import re
import signal
import stat
import subprocess
import threading
import time

import herdsup
import herdtest
from herdsup import check, eq, wait_until
from test_reload import converge, herd_log, pids, workload

NAMES = herdsup.DEFAULT_NAMES
STATE_RE = re.compile(rb"^(\S+) (\w+) pid (\d+): (\w+) -> (\w+) \(", re.M)


def when(stamp):
    return datetime.datetime.strptime(stamp.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def down_spans(log):
    """(name, from, to) per time a server was down, from herd.log's state
    changes: from its "up -> stopping" (or any leaving of up) to its next
    "-> up"; to is None if it never came back."""
    spans = []
    since = {}
    for m in STATE_RE.finditer(log):
        t, name, old, new = when(m.group(1)), m.group(2).decode(), m.group(4), m.group(5)
        if old == b"up" and new != b"up":
            since[name] = t
        elif new == b"up" and name in since:
            spans.append((name, since.pop(name), t))
    for name, t in since.items():
        spans.append((name, t, None))
    return sorted(spans, key=lambda s: s[1])


class Sampler(threading.Thread):
    """herd status --json now and then while the roll runs: the most
    servers not up at once, and when."""

    def __init__(self, h):
        super().__init__(daemon=True)
        self.h = h
        self.stop = threading.Event()
        self.samples = 0
        self.worst = []

    def run(self):
        while not self.stop.is_set():
            rc, out, _ = self.h.cmd("status", "--json", timeout=20)
            if rc == 0:
                st = json.loads(out)
                down = [s["name"] for s in st["servers"] if s["state"] != "up"]
                self.samples += 1
                if len(down) > len(self.worst):
                    self.worst = down
            self.stop.wait(0.1)


def case_roll(t, h, rng):
    before = pids(h)
    since = len(herd_log(h))
    wl = workload(h, rng).start()
    sampler = Sampler(h)
    try:
        time.sleep(1.0)   # the workload runs a while first
        sampler.start()
        t0 = time.monotonic()
        rc, out, err = h.cmd("restart", "--rolling", timeout=150)
        took = time.monotonic() - t0
        eq(rc, 0, "herd restart --rolling: exit code (stdout %r, stderr %r)" % (out, err))
        time.sleep(1.0)   # and a while after
    finally:
        sampler.stop.set()
        wl.finish()
        sampler.join(30)
    # Its progress, in herd.conf's order.
    steps = re.findall(r"^\[(\d)/5\] (\w+): (restarting|up|linked and in sync)", out, re.M)
    want = [(str(i + 1), n, s) for i, n in enumerate(NAMES)
            for s in ("restarting", "up", "linked and in sync")]
    eq(steps, want, "the roll's steps")
    check("rolling restart done: 5 servers" in out, "no end line: %r" % out)
    after = pids(h)
    for n in NAMES:
        check(after[n] and after[n] != before[n],
              "%s kept its pid %s through the roll" % (n, before[n]))
    # At most one down at any moment, by the supervisor's log.
    spans = down_spans(herd_log(h)[since:])
    eq(sorted(s[0] for s in spans), sorted(NAMES), "the servers that went down")
    for a, b in zip(spans, spans[1:]):
        check(a[2] is not None and b[1] >= a[2],
              "%s went down at %.3f while %s was down (%.3f to %s)"
              % (b[0], b[1], a[0], a[1], a[2]))
    gaps = [b[1] - a[2] for a, b in zip(spans, spans[1:])]
    check(spans[-1][2] is not None, "%s never came back" % spans[-1][0])
    check(sampler.samples > 0, "herd status was never sampled")
    check(len(sampler.worst) <= 1, "herd status saw %s down at once" % sampler.worst)
    t.note("roll: %.1f s; each down %.2f s at most; %.2f s at least between two "
           "(settling); %d status samples, at most %d down"
           % (took, max(s[2] - s[1] for s in spans), min(gaps), sampler.samples,
              len(sampler.worst)))
    converge(t, h, wl, NAMES, "workload through a rolling restart")
    t.ok("rolling restart of all five under load: new pids, in herd.conf's order, at "
         "most one down at any moment, nothing acknowledged lost, in sync within 2 s")


def case_names(t, h):
    before = pids(h)
    since = len(herd_log(h))
    rc, out, err = h.cmd("restart", "--rolling", "--timeout-ms", "30000", "Parker",
                         "Alford", timeout=90)
    eq(rc, 0, "herd restart --rolling Parker Alford: exit code (%r %r)" % (out, err))
    steps = re.findall(r"^\[(\d)/2\] (\w+): restarting", out, re.M)
    eq(steps, [("1", "Parker"), ("2", "Alford")], "the roll's order")
    after = pids(h)
    for n in NAMES:
        changed = after[n] != before[n]
        eq(changed, n in ("Parker", "Alford"), "whether %s was restarted" % n)
    spans = down_spans(herd_log(h)[since:])
    eq([s[0] for s in spans], ["Parker", "Alford"], "the servers that went down")
    t.ok("herd restart --rolling Parker Alford: those two, in that order")


ROLL_RESTART_RE = re.compile(rb"^(\S+) (\w+) pid \d+: up -> stopping \(SIGTERM\)", re.M)


def case_crash(t, h):
    """Alford, restarted first, is killed once Bolden, second, is back up;
    the supervisor restarts it only after 1.5 s. The roll must not take
    another server down meanwhile."""
    good = open(h.conf).read()
    with open(h.conf, "w") as f:
        f.write(good.replace("restart_first_ms 100", "restart_first_ms 1500"))
    h.ok_cmd("reload")
    since = len(herd_log(h))
    argv = [h.herd_bin, "-c", h.conf, "restart", "--rolling", "--timeout-ms", "30000"]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=herdtest.server_env(), cwd=h.dir)
    out = b""
    killed = False
    try:
        for line in p.stdout:
            out += line
            if not killed and re.match(rb"^\[2/5\] Bolden: up ", line):
                h.ok_cmd("kill", "Alford", "KILL")
                killed = True
        rc = p.wait(120)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(10)
    err = p.stderr.read()
    eq(rc, 0, "the roll with a crash in it: exit code (%r %r)" % (out, err))
    check(killed, "the roll never said Bolden was up: %r" % out)
    check(b"rolling restart done: 5 servers" in out, "no end line: %r" % out)
    log = herd_log(h)[since:]
    spans = down_spans(log)
    crash = [s for s in spans if s[0] == "Alford"][-1]
    check(crash[2] is not None and crash[2] - crash[1] >= 1.4,
          "Alford's crash: down from %.3f to %s" % crash[1:])
    starts = [(m.group(2).decode(), when(m.group(1))) for m in ROLL_RESTART_RE.finditer(log)]
    eq([n for n, _ in starts], NAMES, "the roll's restarts")
    for name, at in starts:
        for other, a, b in spans:
            check(other == name or not (a <= at and (b is None or at < b)),
                  "%s's restart began at %.3f while %s was down (%.3f to %s)"
                  % (name, at, other, a, b))
    waited = [at for _, at in starts if at >= crash[2]]
    check(waited, "no restart of the roll came after Alford was back")
    with open(h.conf, "w") as f:
        f.write(good)
    h.ok_cmd("reload")
    t.ok("a server crashing mid-roll (down %.1f s): no restart of the roll began while "
         "it was down, the roll went on once it was back" % (crash[2] - crash[1]))


def state_of(h, name):
    return {s["name"]: s for s in h.status()["servers"]}[name]["state"]


def case_failed(t, h):
    """Powell, not restarted yet, fails while the roll goes on: going on
    would take a second server down."""
    good = open(h.conf).read()
    with open(h.conf, "w") as f:
        f.write(good + "crash_limit 1\n")
    h.ok_cmd("reload")
    since = len(herd_log(h))
    argv = [h.herd_bin, "-c", h.conf, "restart", "--rolling", "--timeout-ms", "30000"]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=herdtest.server_env(), cwd=h.dir)
    out = b""
    failed = False
    try:
        for line in p.stdout:
            out += line
            if not failed and re.match(rb"^\[1/5\] Alford: up ", line):
                h.ok_cmd("kill", "Powell", "KILL")       # restarted: the one allowed
                wait_until(lambda: state_of(h, "Powell") == "up", 10, "Powell back up")
                h.ok_cmd("kill", "Powell", "KILL")       # failed
                failed = True
        rc = p.wait(120)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(10)
    err = p.stderr.read().decode()
    eq(state_of(h, "Powell"), "failed", "Powell after two crashes with crash_limit 1")
    eq(rc, 1, "the roll with a server failed in it: exit code (%r %r)" % (out, err))
    check(re.search(r"rolling restart stopped at \w+: Powell failed during the roll "
                    r"\(.*restarts within .*\) and stays down: another server down "
                    r"would make two", err), "why the roll stopped: %r" % err)
    t.note(err.splitlines()[0])
    log = herd_log(h)[since:]
    fail_at = [when(m.group(1)) for m in re.finditer(
        rb"^(\S+) Powell pid \d+: up -> failed", log, re.M)]
    eq(len(fail_at), 1, "Powell's failure in herd.log")
    late = [(m.group(2).decode(), when(m.group(1))) for m in ROLL_RESTART_RE.finditer(log)
            if when(m.group(1)) > fail_at[0]]
    eq(late, [], "restarts of the roll begun after Powell failed")
    with open(h.conf, "w") as f:
        f.write(good)
    h.ok_cmd("reload")
    h.ok_cmd("start", "Powell")
    h.wait_links_up("Powell")
    t.ok("a server failed during the roll stops it before the next restart, saying so")


def case_usage(t, h):
    before = pids(h)
    for args, code, words in ((["Nobody"], 1, "no server named 'Nobody'"),
                              (["Parker", "Parker"], 64, "named twice"),
                              (["--timeout-ms", "5"], 64, "--timeout-ms"),
                              (["-x"], 64, "not a server name")):
        rc, out, err = h.cmd("restart", "--rolling", *args)
        eq(rc, code, "herd restart --rolling %s: exit code" % " ".join(args))
        check(words in err, "herd restart --rolling %s: %r" % (" ".join(args), err))
    eq(pids(h), before, "pids after refused rolls")
    t.ok("a roll with a server unknown or named twice, or a bad timeout, is refused "
         "before anything")


def case_failure(t, h):
    """A new server_bin that cannot run: the roll stops at the first."""
    bad = os.path.join(h.dir, "broken-server")
    with open(bad, "w") as f:
        f.write("#!/bin/sh\necho 'this build refuses to run' >&2\nexit 78\n")
    os.chmod(bad, stat.S_IRWXU)
    good = open(h.conf).read()
    with open(h.conf, "w") as f:
        f.write(good.replace("server_bin %s" % t.binary, "server_bin %s" % bad))
    rc, out, err = h.cmd("reload")
    eq(rc, 0, "the reload to a new server_bin (%r %r)" % (out, err))
    check("changed server_bin" in out, "the reply: %r" % out)
    before = pids(h)
    rc, out, err = h.cmd("restart", "--rolling", "--timeout-ms", "20000", timeout=90)
    eq(rc, 1, "a roll onto a broken build: exit code (%r %r)" % (out, err))
    check("herd: rolling restart stopped at Alford" in err and
          "restarted: none; not restarted: Bolden, Hamilton, Parker, Powell" in err,
          "where it stopped: %r" % err)
    st = {s["name"]: s for s in h.status()["servers"]}
    eq(st["Alford"]["state"], "failed", "Alford's state")
    for n in NAMES[1:]:
        eq((st[n]["state"], st[n]["pid"]), ("up", before[n]), "%s after the failed roll" % n)
    # Back to the good build.
    with open(h.conf, "w") as f:
        f.write(good)
    h.ok_cmd("reload")
    h.ok_cmd("start", "Alford")
    h.wait_links_up("Alford")
    t.ok("a roll onto a build that cannot run stops at the first server, says where, "
         "exits 1; the others are left as they were")


def main(t):
    rng = random.Random(t.args.seed)
    h = herdsup.Herd(t)
    try:
        h.start()
        for n in NAMES:
            h.wait_links_up(n)
        case_usage(t, h)
        case_roll(t, h, rng)
        case_names(t, h)
        case_crash(t, h)
        case_failed(t, h)
        case_failure(t, h)
        h.stop()
    finally:
        h.close()


def add_args(ap):
    ap.add_argument("--herd", required=True, help="path to the herd binary")
    ap.add_argument("--seed", type=int, default=1)


if __name__ == "__main__":
    herdtest.run(main, watchdog=200, add_args=add_args)
