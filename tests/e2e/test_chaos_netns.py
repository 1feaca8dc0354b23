"""Chaos across machines: the seeded chaos test over network namespaces.

The herd as five machines (netns.py: a network namespace and a supervisor
per server, peer links across a bridge in a "switch" namespace, clients on
a network of their own), a workload throughout (client ids, each sending
IAMATs with strictly increasing times to random servers that are up, over
the client network), and faults from a schedule drawn from --seed over
--duration seconds:

  cut       one or two machines' cables unplugged (switch ports down) for
            0.5 to 6 s; some cuts overlap others
  split     the switch split in two groups (2 | 3 machines) for 2 to 6 s
  crash     a machine dies (cable dead, every process kill -9, sockets and
            interfaces gone; its disk stays) and boots again after 0.5 to
            4 s; one of them crashes during a cut of its own cable and
            boots while it is still cut
  flap      a cable unplugged and plugged every 0.15 to 0.4 s for 2 to 4 s

A fault may outlast the schedule (one cut always does): what is still cut,
split or down at the end is left to the final heal. At the end the machines
that are down boot again (their cables still unplugged), the workload
stops, and everything is healed at once: every server must hold the newest
acknowledged record of every client within 2 s of that heal, and

  lost        an acknowledged IAMAT newer than what some server ends with
  stale       a server whose record for a client differs from the newest
              one anywhere
  unexpected  a record nobody sent

must all be 0 (the definitions of test_chaos.py). A server that is down is
not asked: its updates are not acknowledged and do not count. No server
may have exited other than by the test's crashes, and every one must exit
0 on herd stop. Prints the seed, the schedule (a line per fault, with its
time from the start of the faults), the counts and the convergence time.
Needs root and `ip netns`; otherwise exits 77 (skipped).

    test_chaos_netns.py --server BIN --herd BIN [--seed N] [--duration S]
"""

import argparse
import random
import re
import sys
import threading
import time

import herdtest
import netns
from herdtest import check, show

NAMES = netns.NAMES
CONVERGE_LIMIT = 2.0    # s from the final heal to every server holding the newest
WAIT_LIMIT = 15.0       # how long convergence is watched, to report it anyway
DEFAULT_DURATION = 28.0
MAX_DOWN = 2            # machines crashed at the same time, at most


def ns_of(t):
    whole, frac = t.split(b".")
    return int(whole) * 10**9 + int((frac + b"000000000")[:9])


def fmt_time(ns):
    return b"%d.%09d" % divmod(ns, 10**9)


# ---------------------------------------------------------------------------
# the network: netns.Net, with a split that may include a crashed machine

class ChaosNet(netns.Net):
    def partition(self, names):
        """As netns.Net.partition; a machine that is down (no interfaces)
        is plugged into that side when it boots."""
        for n in names:
            m = self.m[n]
            if m.nics:
                super().partition([n])
            else:
                m.side = "br1"
        return time.time()


class Reach:
    """Which servers the workload may talk to: the machine is up (not
    crashed, booted). A crash bumps the generation, so that connections
    made before it are dropped rather than waited on."""

    def __init__(self):
        self.lock = threading.Lock()
        self.up = {n: True for n in NAMES}
        self.gen = {n: 0 for n in NAMES}

    def set_down(self, name):
        with self.lock:
            self.up[name] = False
            self.gen[name] += 1

    def set_up(self, name):
        with self.lock:
            self.up[name] = True

    def reachable(self):
        with self.lock:
            return [(n, self.gen[n]) for n in NAMES if self.up[n]]

    def current(self, name, gen):
        with self.lock:
            return self.up[name] and self.gen[name] == gen


# ---------------------------------------------------------------------------
# the workload

class Workload(herdtest.ClientThreads):
    """Client ids ncNNN, each thread owning some of them, each IAMAT with a
    time larger than the client's last, to a random server that is up
    (persistent connections over the client network; one that fails is
    dropped and made again)."""

    def __init__(self, net, reach, rng, nclients=60, threads=5, gap=0.005):
        super().__init__(rng, b"nc", nclients, threads)
        self.net = net
        self.reach = reach
        self.gap = gap
        self.lock = threading.Lock()
        self.sent = set()        # (client, loc, time)
        self.acked = {}          # client -> (newest acknowledged ns, server)
        self.n_sent = self.n_acked = self.n_failed = 0
        self.per_server = {n: 0 for n in NAMES}

    def run(self, seed, clients):
        rng = random.Random(seed)
        conns = {}    # name -> (client connection, generation)
        while not self.stop.is_set():
            up = self.reach.reachable()
            if not up:
                self.stop.wait(0.05)
                continue
            name, gen = rng.choice(up)
            client = rng.choice(clients)
            self.next_t[client] += rng.randrange(1, 50) * 10**6
            t = self.next_t[client]
            tt = fmt_time(t)
            loc = b"%+.4f%+.4f" % (rng.uniform(-60, 60), rng.uniform(-170, 170))
            cur = conns.get(name)
            if cur is not None and cur[1] != gen:      # made before a crash
                cur[0].close()
                del conns[name]
            with self.lock:
                self.sent.add((client, loc, tt))
                self.n_sent += 1
            got = None
            try:
                if name not in conns:
                    conns[name] = (self.net.client(name, timeout=1.0), gen)
                c = conns[name][0]
                c.send(b"IAMAT %s %s %s\n" % (client, loc, tt))
                got = c.read_line(timeout=1.0)
            except (OSError, herdtest.TestFailure):
                cur = conns.pop(name, None)
                if cur is not None:
                    cur[0].close()
                with self.lock:
                    self.n_failed += 1
                self.stop.wait(0.05)
            if got is not None:
                f = got.split(b" ")
                if len(f) == 6 and f[0] == b"AT" and f[3:] == [client, loc, tt]:
                    with self.lock:
                        self.n_acked += 1
                        self.per_server[name] += 1
                        if t > self.acked.get(client, (0, None))[0]:
                            self.acked[client] = (t, name)
            self.stop.wait(self.gap)
        for c, _ in conns.values():
            c.close()


def judge(snaps, wl):
    """(lost, stale, unexpected, examples), as test_chaos.py counts them."""
    lost = stale = unexpected = 0
    examples = []
    for cl in wl.clients:
        lines = {n: (snaps[n] or {}).get(cl) for n in NAMES}
        newest = None
        for line in lines.values():
            if line is not None and (newest is None or
                                     ns_of(line.split(b" ")[5]) > ns_of(newest.split(b" ")[5])):
                newest = line
        acked, at = wl.acked.get(cl, (0, None))
        for n, line in lines.items():
            if line != newest:
                stale += 1
                if len(examples) < 8:
                    examples.append("%s stale for %s: %s (newest %s)"
                                    % (n, cl.decode(), show(line), show(newest)))
            if acked and (line is None or ns_of(line.split(b" ")[5]) < acked):
                lost += 1
                if len(examples) < 8:
                    examples.append("%s lost for %s: holds %s, acknowledged %s by %s"
                                    % (n, cl.decode(), show(line), fmt_time(acked).decode(), at))
            if line is not None:
                f = line.split(b" ")
                if (f[3], f[4], f[5]) not in wl.sent:
                    unexpected += 1
                    if len(examples) < 8:
                        examples.append("%s holds a record nobody sent: %s" % (n, show(line)))
    return lost, stale, unexpected, examples


# ---------------------------------------------------------------------------
# the schedule

class Fault:
    def __init__(self, kind, start, length, names, period=None, note=""):
        self.kind = kind          # cut, split, crash, flap
        self.start = start        # s from the start of the faults
        self.length = length      # cut/split/flap: how long; crash: until the boot
        self.names = list(names)  # cut: 1 or 2 machines; split: one side
        self.period = period      # flap: the half period (down, then up)
        self.note = note
        self.id = None

    @property
    def end(self):
        return self.start + self.length

    def actions(self):
        """(time, op, fault, arg) of this fault."""
        s, e = self.start, self.end
        if self.kind == "cut":
            return ([(s, "cut", self, n) for n in self.names] +
                    [(e, "heal", self, n) for n in self.names])
        if self.kind == "split":
            return [(s, "split", self, None), (e, "unsplit", self, None)]
        if self.kind == "crash":
            return [(s, "crash", self, self.names[0]), (e, "boot", self, self.names[0])]
        out, x = [], s
        while x < e:
            out.append((x, "cut", self, self.names[0]))
            out.append((min(x + self.period, e), "heal", self, self.names[0]))
            x += 2 * self.period
        return out


def overlaps(a0, a1, b0, b1):
    return a0 < b1 and b0 < a1


def make_schedule(rng, duration):
    """Faults of every kind, the forced ones inside the duration (but the
    last cut, which outlasts it), then random extras that may outlast it."""
    D = duration
    faults = []

    def crash_fits(name, s, e):
        # Not the same machine twice at once, at most MAX_DOWN machines
        # down at once.
        crashes = [f for f in faults if f.kind == "crash"]
        if any(f.names[0] == name and overlaps(s, e + 0.3, f.start, f.end + 0.3)
               for f in crashes):
            return False
        for x in [s] + [f.start for f in crashes if s <= f.start < e]:
            if 1 + sum(1 for f in crashes if f.start <= x < f.end) > MAX_DOWN:
                return False
        return True

    def split_fits(s, e):
        return not any(f.kind == "split" and overlaps(s, e + 0.5, f.start, f.end + 0.5)
                       for f in faults)

    def start_in(length, lo=0.3, hi=None):
        hi = (D - length - 0.2) if hi is None else hi
        return rng.uniform(lo, max(lo, hi))

    # 1. A crash during a cut of its own cable, booted while still cut.
    name = rng.choice(NAMES)
    L = rng.uniform(3.5, 6.0)
    s = start_in(L)
    faults.append(Fault("cut", s, L, [name]))
    off = rng.uniform(0.3, 1.5)
    delay = rng.uniform(0.5, max(0.6, L - off - 0.5))
    faults.append(Fault("crash", s + off, delay, [name], note="during the cut"))
    # 2. One machine's cable, then two machines' cables, then a cut that
    # starts while an earlier one lasts.
    L = rng.uniform(0.5, 6.0)
    faults.append(Fault("cut", start_in(L), L, [rng.choice(NAMES)]))
    L = rng.uniform(0.5, 6.0)
    faults.append(Fault("cut", start_in(L), L, rng.sample(NAMES, 2)))
    first = rng.choice([f for f in faults if f.kind == "cut"])
    L = rng.uniform(0.5, 6.0)
    s = rng.uniform(first.start, first.end)
    s = min(s, max(first.start, D - L - 0.2))
    faults.append(Fault("cut", s, L, rng.sample(NAMES, rng.choice((1, 2)))))
    # 3. A split into two groups.
    L = rng.uniform(2.0, 6.0)
    faults.append(Fault("split", start_in(L), L, sorted(rng.sample(NAMES, 2),
                                                        key=NAMES.index)))
    # 4. A crash on its own.
    for _ in range(100):
        delay = rng.uniform(0.5, 4.0)
        s, name = start_in(delay), rng.choice(NAMES)
        if crash_fits(name, s, s + delay):
            faults.append(Fault("crash", s, delay, [name]))
            break
    # 5. A flapping cable.
    L = rng.uniform(2.0, 4.0)
    faults.append(Fault("flap", start_in(L), L, [rng.choice(NAMES)],
                        period=rng.uniform(0.15, 0.4)))
    # 6. A cut that outlasts the schedule, long enough before its end that
    # the links across it are down (link_timeout_ms): the final heal ends it.
    s = rng.uniform(D - 5.0, D - 2.5)
    faults.append(Fault("cut", s, rng.uniform(D - s + 0.5, 6.0),
                        rng.sample(NAMES, rng.choice((1, 2)))))
    # 7. Extras, one per 6 s, which may outlast the schedule.
    for _ in range(int(D / 6)):
        kind = rng.choice(["cut", "cut", "cut", "crash", "crash", "flap", "split"])
        for _ in range(100):
            s = rng.uniform(0.3, D - 0.5)
            if kind == "cut":
                faults.append(Fault("cut", s, rng.uniform(0.5, 6.0),
                                    rng.sample(NAMES, rng.choice((1, 1, 2)))))
            elif kind == "crash":
                delay, name = rng.uniform(0.5, 4.0), rng.choice(NAMES)
                if not crash_fits(name, s, s + delay):
                    continue
                faults.append(Fault("crash", s, delay, [name]))
            elif kind == "flap":
                faults.append(Fault("flap", s, rng.uniform(2.0, 4.0), [rng.choice(NAMES)],
                                    period=rng.uniform(0.15, 0.4)))
            else:
                L = rng.uniform(2.0, 6.0)
                if not split_fits(s, s + L):
                    continue
                faults.append(Fault("split", s, L, sorted(rng.sample(NAMES, rng.choice((1, 2))),
                                                          key=NAMES.index)))
            break
    faults.sort(key=lambda f: f.start)
    for i, f in enumerate(faults, 1):
        f.id = i
    actions = [a for f in faults for a in f.actions()]
    # At the same instant: heals before cuts, boots before crashes.
    rank = {"heal": 0, "unsplit": 0, "boot": 1, "cut": 2, "split": 2, "crash": 3}
    actions.sort(key=lambda a: (a[0], rank[a[1]], a[2].id))
    return faults, actions


def describe(faults, actions, duration):
    """A line per fault, with what held when (from the actions that run
    within the duration)."""
    holders = {n: set() for n in NAMES}
    cut_at_boot = {}
    down_at = {}
    split_from = None
    for tm, op, f, arg in actions:
        if tm > duration:
            break
        if op == "cut":
            holders[arg].add(f.id)
        elif op == "heal":
            holders[arg].discard(f.id)
        elif op == "boot":
            cut_at_boot[f.id] = sorted(holders[arg])
        elif op == "crash":
            down_at[f.id] = (sorted(holders[arg]), split_from is not None)
        elif op == "split":
            split_from = f.id
        elif op == "unsplit":
            split_from = None
    lines = []
    for f in faults:
        late = f.end > duration
        who = "+".join(f.names)
        with_others = sorted(g.id for g in faults
                             if g is not f and g.kind in ("cut", "split", "flap")
                             and overlaps(f.start, f.end, g.start, g.end))
        also = (", overlapping #%s" % ",#".join(map(str, with_others))) if with_others and \
            f.kind in ("cut", "split", "flap") else ""
        if f.kind == "cut":
            text = "cut %s for %.2f s, %s%s" % (
                who, f.length, "still cut at the end (the final heal)" if late
                else "healed at %.2f s" % f.end, also)
        elif f.kind == "split":
            rest = [n for n in NAMES if n not in f.names]
            text = "split {%s} | {%s} for %.2f s, %s%s" % (
                ",".join(f.names), ",".join(rest), f.length,
                "still split at the end (the final heal)" if late else "healed at %.2f s" % f.end,
                also)
        elif f.kind == "crash":
            cuts, split = down_at.get(f.id, ([], False))
            text = "crash %s%s%s, %s" % (
                who, " (%s)" % f.note if f.note else "",
                " while cut by #%s" % ",#".join(map(str, cuts)) if cuts and not f.note else "",
                "down at the end (booted before the final heal)" if late else
                "boots after %.2f s at %.2f s%s" % (
                    f.length, f.end, ", still cut by #%s" % ",#".join(map(str, cut_at_boot[f.id]))
                    if cut_at_boot.get(f.id) else ""))
        else:
            n = sum(1 for a in actions if a[2] is f and a[1] == "cut" and a[0] <= duration)
            text = "flap %s: %.0f ms down, %.0f ms up for %.2f s (%d cuts)%s%s" % (
                who, f.period * 1000, f.period * 1000, f.length, n,
                ", unplugged or flapping at the end (the final heal)" if late else "", also)
        lines.append("fault #%-2d %6.2f s  %s" % (f.id, f.start, text))
    return lines


class Chaos:
    """Runs the actions on the network, keeping who holds each cable cut
    (a cable is plugged when no fault holds it)."""

    def __init__(self, t, net, reach):
        self.t = t
        self.net = net
        self.reach = reach
        self.holders = {n: set() for n in NAMES}
        self.counts = {}
        self.late = 0.0

    def do(self, op, f, arg):
        net = self.net
        if op == "cut":
            if not self.holders[arg]:
                net.cut(arg)
            self.holders[arg].add(f.id)
        elif op == "heal":
            self.holders[arg].discard(f.id)
            if not self.holders[arg] and net.m[arg].cut:
                net.heal(arg)
        elif op == "split":
            net.partition(f.names)
        elif op == "unsplit":
            net.heal_partition()
        elif op == "crash":
            self.reach.set_down(arg)
            left = net.crash(arg)
            check(not left, "sockets left on %s's machine after the crash: %s" % (arg, left))
        elif op == "boot":
            net.restart(arg)
            self.reach.set_up(arg)
        self.counts[op] = self.counts.get(op, 0) + 1

    def run(self, actions, duration):
        t0 = time.monotonic()
        for tm, op, f, arg in actions:
            if tm > duration:
                break
            wait = t0 + tm - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            a = time.monotonic()
            self.late = max(self.late, a - t0 - tm)
            self.do(op, f, arg)
            self.t.log("%7.3f s (planned %6.2f s, took %.3f s) #%d %s %s"
                       % (a - t0, tm, time.monotonic() - a, f.id, op, arg or ""))
        left = t0 + duration - time.monotonic()
        if left > 0:
            time.sleep(left)
        return time.monotonic() - t0


# ---------------------------------------------------------------------------

def converge(t, net, wl, healed):
    """Polls every server until each holds, for every client, the newest
    record anywhere and nothing older than acknowledged. Returns (seconds
    since `healed`, or None, and the last counts)."""
    converged = None
    while True:
        snaps = {n: netns.snapshot(net, n, wl.clients) for n in NAMES}
        lost, stale, unexpected, examples = judge(snaps, wl)
        if stale == 0 and lost == 0 and all(s is not None for s in snaps.values()):
            converged = time.monotonic() - healed
            t.log("converged at %.3f (wall)" % time.time())
            break
        if time.monotonic() - healed > WAIT_LIMIT:
            break
        time.sleep(0.02)
    return converged, snaps, (lost, stale, unexpected, examples)


SUP_BAD_RE = re.compile(rb"^.*pid \d+: (?!stopping )\w+ -> (?:down|failed) \(.*$", re.M)


def unplanned_exits(net):
    """Supervisor log lines of servers that exited on their own (the
    test's crashes kill the supervisor first, so they log nothing)."""
    out = []
    for m in net.machines:
        try:
            with open(m.herd_log, "rb") as f:
                data = f.read()
        except OSError:
            continue
        out += ["%s: %s" % (m.name, mm.group(0).decode(errors="replace"))
                for mm in SUP_BAD_RE.finditer(data)]
    return out


def link_events(net):
    out = []
    for m in net.machines:
        lines = net.log_lines(m.name, 0, netns.LINK_EVENT_RE)
        downs = sum(1 for _, ln in lines if netns.LINK_DOWN_RE.search(ln))
        out.append("%s %d down/%d up" % (m.name, downs, len(lines) - downs))
    return ", ".join(out)


def main(t):
    seed, D = t.args.seed, t.args.duration
    rng = random.Random(seed)
    faults, actions = make_schedule(rng, D)
    t.note("seed %d: %d faults over %.1f s (times from the start of the faults):"
           % (seed, len(faults), D))
    for line in describe(faults, actions, D):
        t.note(line)
    t_all = time.monotonic()
    net = ChaosNet(t)
    try:
        net.start_all()
        t.ok("five machines, each with its own supervisor; %d links up (%.1f s)"
             % (len(netns.LINKS), time.monotonic() - t_all))
        reach = Reach()
        wl = Workload(net, reach, random.Random(rng.randrange(1 << 30)),
                      nclients=t.args.clients).start()
        time.sleep(1.0)
        chaos = Chaos(t, net, reach)
        ran = chaos.run(actions, D)
        done = sum(1 for a in actions if a[0] <= D)
        t.note("schedule ran in %.2f s: %d of %d actions (the rest left to the final heal), "
               "at most %.3f s behind the plan" % (ran, done, len(actions), chaos.late))

        # The final heal. Machines that are down boot first, their cables
        # unplugged (and take updates alone a moment); then every cable is
        # plugged and the split closed at once.
        down = [m.name for m in net.machines if not m.nics]
        for n in down:
            chaos.holders[n].add("final")
            net.cut(n)          # marks it: it boots unplugged
        boot = {}
        for n in down:
            b0 = time.monotonic()
            net.restart(n)
            reach.set_up(n)
            boot[n] = time.monotonic() - b0
        if down:
            time.sleep(0.5)
        wl.finish()
        cut_names = [n for n in NAMES if net.m[n].cut]
        split = [n for n in NAMES if net.m[n].side != "br0"]
        healed = time.monotonic()
        for n in NAMES:
            chaos.holders[n].clear()
        net.heal(*cut_names)
        net.heal_partition()
        heal_took = time.monotonic() - healed
        t.note("final heal: booted %s (unplugged); plugged %s; %s (%.3f s of ip commands)"
               % (", ".join("%s (herd start %.2f s)" % kv for kv in boot.items()) or "none",
                  ", ".join(cut_names) or "none",
                  "closed the split {%s}" % ",".join(split) if split else "no split",
                  heal_took))
        t.note("workload: %d IAMATs sent, %d acknowledged (%s), %d failed or unanswered"
               % (wl.n_sent, wl.n_acked,
                  ", ".join("%s %d" % (n, wl.per_server[n]) for n in NAMES), wl.n_failed))
        converged, snaps, (lost, stale, unexpected, examples) = converge(t, net, wl, healed)
        t.note("seed %d: lost %d, stale %d, unexpected %d; converged %s after the final heal"
               % (seed, lost, stale, unexpected,
                  "%.3f s" % converged if converged is not None
                  else "NOT within %.0f s" % WAIT_LIMIT))
        unreachable = [n for n in NAMES if snaps[n] is None]
        check(not unreachable, "servers that could not be asked after the heal: %s\n  %s"
              % (unreachable, "\n  ".join(net.diagnose(n) for n in unreachable)))
        check(wl.n_acked > 200, "too few acknowledged updates: %d" % wl.n_acked)
        check(lost == 0, "seed %d: %d acknowledged updates lost:\n  %s"
              % (seed, lost, "\n  ".join(examples)))
        check(unexpected == 0, "seed %d: %d records nobody sent:\n  %s"
              % (seed, unexpected, "\n  ".join(examples)))
        check(converged is not None, "seed %d: not converged %.0f s after the final heal "
              "(stale %d):\n  %s" % (seed, WAIT_LIMIT, stale, "\n  ".join(examples)))
        check(converged <= CONVERGE_LIMIT, "seed %d: converged %.3f s after the final heal "
              "(limit %.1f s)" % (seed, converged, CONVERGE_LIMIT))
        net.wait_all_links_up()
        t.note("link events over the run: %s" % link_events(net))
        for n in NAMES:
            s = net.status(n)
            check(s["state"] == "up" and s["restarts"] == 0,
                  "%s is %s with %d restarts (last exit %s)"
                  % (n, s["state"], s["restarts"], s["last_exit"]))
        t.ok("seed %d: %d faults (%s), %d updates acknowledged; lost 0, stale 0, "
             "unexpected 0; converged %.3f s after the final heal"
             % (seed, len(faults), ", ".join("%s %d" % (k, sum(1 for f in faults if f.kind == k))
                                             for k in ("cut", "split", "crash", "flap")),
                wl.n_acked, converged))
        # A clean stop of every server (exit 0), then of every supervisor.
        for m in net.machines:
            net.ok_herd(m.name, "stop", m.name)
            s = net.status(m.name)
            check(s["state"] == "down" and s["last_exit"] == "exit 0",
                  "%s after herd stop: %s (last exit %s)" % (m.name, s["state"], s["last_exit"]))
        for m in net.machines:
            net.ok_herd(m.name, "stop")
        bad = unplanned_exits(net)
        check(not bad, "servers that exited other than by the test's crashes:\n  %s"
              % "\n  ".join(bad))
        t.ok("no server exited but by the test's crashes; every one exited 0 on herd stop")
    except BaseException:
        t.note("seed %d failed" % seed)
        net.dump_tails()
        raise
    finally:
        net.close()
    left = net.leftovers()
    check(not left, "left behind after the test: %s" % left)
    t.ok("no namespace, veth, bridge, /etc/netns dir or process left (%.1f s in all)"
         % (time.monotonic() - t_all))


def add_args(ap):
    ap.add_argument("--herd", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=DEFAULT_DURATION,
                    help="seconds of faults (default %.0f)" % DEFAULT_DURATION)
    ap.add_argument("--clients", type=int, default=60)


if __name__ == "__main__":
    why = netns.unavailable()
    if why:
        print("# SKIP: the chaos test across machines needs network namespaces: %s" % why,
              flush=True)
        sys.exit(netns.SKIP)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--duration", type=float, default=DEFAULT_DURATION)
    known, _ = pre.parse_known_args()
    herdtest.run(main, watchdog=int(max(280, 2 * known.duration + 150)), add_args=add_args)
