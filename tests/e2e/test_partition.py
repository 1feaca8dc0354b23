"""Partitions that cut cables: the herd as five machines (netns.py).

Each server on its own network namespace with its own supervisor, peer
links across a bridge in a "switch" namespace, clients on a separate
network, peer names from each machine's hosts file. Scenarios, each with a
small workload (a few dozen clients, strictly increasing times, IAMATs to
random servers over the client network) and the chaos test's checks after
the heal (lost: an acknowledged update newer than what some server ends
with; stale: a server whose record differs from the newest anywhere;
unexpected: a record nobody sent; all 0):

  1. cut        Parker's cable unplugged for 20 s while updates go to both
                sides; the links across the cut are detected down within
                2.5 s; healed: converged within 2 s
  2. split      {Alford, Bolden, Powell} | {Parker, Hamilton}, with
                conflicting updates on both sides (older ones sent later);
                healed: the newest wins everywhere within 2 s
  3. crash      Powell's cable cut, its machine crashes and comes back
                (still cut), then the cable is healed: converged within 2 s
  4. flap       Parker's cable down/up every 300 ms for 5 s under load,
                then up: converged within 2 s
  5. readdress  Powell's machine crashes and returns with a new address
                (every hosts file updated): its neighbours find it at their
                next dial; converged within 2 s

Prints each scenario's detection time (cut to "link ... down" in the logs)
and convergence time (heal to every server holding the newest record of
every client). Needs root and `ip netns`; otherwise exits 77 (skipped).

    test_partition.py --server BIN --herd BIN [--seed N] [--cut-seconds S]
"""

import random
import re
import sys
import threading
import time

import herdtest
import netns
from herdtest import check, fail, show

NAMES = netns.NAMES
DETECT_LIMIT = 2.5      # s from the cut to "link ... down"
CONVERGE_LIMIT = 2.0    # s from the heal to every server holding the newest
WAIT_LIMIT = 15.0       # how long convergence is watched, to report it anyway
FOUND_LIMIT = 3.5       # s from new hosts files to a link at the new address:
                        # link_timeout_ms (a dial to the old one) + 1 s backoff


def ns_of(t):
    whole, frac = t.split(b".")
    return int(whole) * 10**9 + int((frac + b"000000000")[:9])


def fmt_time(ns):
    return b"%d.%09d" % divmod(ns, 10**9)


class Ledger:
    """What was sent and what was acknowledged."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = set()      # (client, loc, time)
        self.acked = {}        # client -> newest acknowledged ns
        self.n_sent = self.n_acked = 0
        self.clients = []

    def add_sent(self, client, loc, tt):
        with self.lock:
            self.sent.add((client, loc, tt))
            self.n_sent += 1

    def add_acked(self, client, t):
        with self.lock:
            self.n_acked += 1
            if t > self.acked.get(client, 0):
                self.acked[client] = t


def iamat(net, ledger, name, client, loc, t):
    """One acknowledged IAMAT at a server; the AT line."""
    tt = fmt_time(t)
    ledger.add_sent(client, loc, tt)
    with net.client(name) as c:
        c.send(b"IAMAT %s %s %s\n" % (client, loc, tt))
        got = c.read_line()
    f = got.split(b" ")
    check(len(f) == 6 and f[0] == b"AT" and f[1] == name.encode() and f[3:] == [client, loc, tt],
          "IAMAT %s at %s: unexpected reply %s" % (client.decode(), name, show(got)))
    ledger.add_acked(client, t)
    return got


class Workload(herdtest.ClientThreads):
    """Client ids PREFIXnnn, each sending IAMATs with strictly increasing
    times to random servers (persistent connections, over the client
    network); a failed connection is dropped and made again."""

    def __init__(self, net, rng, prefix, nclients=40, threads=4, gap=0.008):
        super().__init__(rng, prefix.encode(), nclients, threads)
        self.net = net
        self.ledger = Ledger()
        self.gap = gap
        self.ledger.clients = self.clients
        self.failures = 0

    def run(self, seed, clients):
        rng = random.Random(seed)
        conns = {}
        lg = self.ledger
        while not self.stop.is_set():
            client = rng.choice(clients)
            name = rng.choice(NAMES)
            self.next_t[client] += rng.randrange(1, 50) * 10**6
            t = self.next_t[client]
            tt = fmt_time(t)
            loc = b"%+.4f%+.4f" % (rng.uniform(-60, 60), rng.uniform(-170, 170))
            lg.add_sent(client, loc, tt)
            got = None
            try:
                c = conns.get(name)
                if c is None:
                    c = self.net.client(name, timeout=1.0)
                    conns[name] = c
                c.send(b"IAMAT %s %s %s\n" % (client, loc, tt))
                got = c.read_line(timeout=1.0)
            except (OSError, herdtest.TestFailure):
                self.failures += 1
                c = conns.pop(name, None)
                if c is not None:
                    c.close()
                self.stop.wait(0.05)
            if got is not None:
                f = got.split(b" ")
                if len(f) == 6 and f[0] == b"AT" and f[3:] == [client, loc, tt]:
                    lg.add_acked(client, t)
            self.stop.wait(self.gap)
        for c in conns.values():
            c.close()


def judge(snaps, ledgers):
    """(lost, stale, unexpected, examples) over the ledgers' clients."""
    lost = stale = unexpected = 0
    examples = []
    for lg in ledgers:
        for cl in lg.clients:
            lines = {n: (snaps[n] or {}).get(cl) for n in NAMES}
            newest = None
            for line in lines.values():
                if line is not None and (newest is None or
                                         ns_of(line.split(b" ")[5]) > ns_of(newest.split(b" ")[5])):
                    newest = line
            acked = lg.acked.get(cl, 0)
            for n, line in lines.items():
                if line != newest:
                    stale += 1
                    if len(examples) < 6:
                        examples.append("%s stale for %s: %s (newest %s)"
                                        % (n, cl.decode(), show(line), show(newest)))
                if line is None or ns_of(line.split(b" ")[5]) < acked:
                    lost += 1
                    if len(examples) < 6:
                        examples.append("%s lost for %s: holds %s, acknowledged %s"
                                        % (n, cl.decode(), show(line), fmt_time(acked).decode()))
                if line is not None:
                    f = line.split(b" ")
                    if (f[3], f[4], f[5]) not in lg.sent:
                        unexpected += 1
                        if len(examples) < 6:
                            examples.append("%s holds a record nobody sent: %s" % (n, show(line)))
    return lost, stale, unexpected, examples


def herdtest_wait(cond, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            fail("timed out")
        time.sleep(interval)


def converge(t, net, ledgers, healed, what, limit=CONVERGE_LIMIT, after="the heal"):
    """Polls every server until each holds, for every client, the newest
    record anywhere and nothing older than acknowledged. Returns the
    seconds since `healed` (time.monotonic()), asserting the limit, and
    the chaos counts."""
    clients = [cl for lg in ledgers for cl in lg.clients]
    converged = None
    t.log("%s: watching from %.3f (wall), %.3f s after the heal"
          % (what, time.time(), time.monotonic() - healed))
    while True:
        snaps = {n: netns.snapshot(net, n, clients) for n in NAMES}
        lost, stale, unexpected, examples = judge(snaps, ledgers)
        if stale == 0 and lost == 0 and all(s is not None for s in snaps.values()):
            converged = time.monotonic() - healed
            t.log("%s: converged at %.3f (wall)" % (what, time.time()))
            break
        if time.monotonic() - healed > WAIT_LIMIT:
            break
        time.sleep(0.02)
    acked = sum(lg.n_acked for lg in ledgers)
    sent = sum(lg.n_sent for lg in ledgers)
    t.note("%s: %d IAMATs sent, %d acknowledged; lost %d, stale %d, unexpected %d; "
           "converged %s after %s"
           % (what, sent, acked, lost, stale, unexpected,
              "%.3f s" % converged if converged is not None else "NOT within %.0f s" % WAIT_LIMIT,
              after))
    unreachable = [n for n in NAMES if snaps[n] is None]
    check(not unreachable, "%s: servers that could not be asked: %s\n  %s"
          % (what, unreachable, "\n  ".join(net.diagnose(n) for n in unreachable)))
    check(converged is not None, "%s: not converged %.0f s after the heal (lost %d, stale %d):\n  %s"
          % (what, WAIT_LIMIT, lost, stale, "\n  ".join(examples)))
    check(unexpected == 0, "%s: %d records nobody sent:\n  %s" % (what, unexpected, "\n  ".join(examples)))
    check(limit is None or converged <= limit,
          "%s: converged %.3f s after the heal (limit %.1f s)" % (what, converged, limit or 0))
    return converged, snaps


def detections(net, since, t_cut, pairs):
    """For each (server, neighbour): seconds from t_cut to the first
    "link NEIGHBOUR down" in the server's log after offset `since`, and
    the reason; None when there is none."""
    out = {}
    for a, b in pairs:
        rx = re.compile(rb"^link " + b.encode() + rb" down: (.*)$")
        lines = net.log_lines(a, since[a], rx)
        if lines:
            ts, line = lines[0]
            out[(a, b)] = (ts - t_cut, rx.search(line).group(1).decode())
        else:
            out[(a, b)] = None
    return out


def report_detection(t, what, det, limit=DETECT_LIMIT):
    missing = ["%s-%s" % k for k, v in det.items() if v is None]
    check(not missing, "%s: links never detected down: %s" % (what, ", ".join(missing)))
    worst = max(v[0] for v in det.values())
    t.note("%s: detected down after %s; worst %.3f s"
           % (what, ", ".join("%s:%s %.3f s (%s)" % (a, b, v[0], v[1])
                              for (a, b), v in sorted(det.items())), worst))
    slow = ["%s-%s %.3f s" % (a, b, v[0]) for (a, b), v in det.items() if v[0] > limit]
    check(not slow, "%s: links detected down later than %.1f s after the cut: %s"
          % (what, limit, ", ".join(slow)))
    return worst


def links_across(groups_a, groups_b):
    return [(a, b) for a, b in netns.LINKS
            if (a in groups_a and b in groups_b) or (a in groups_b and b in groups_a)]


def both_ends(links):
    return [(a, b) for a, b in links] + [(b, a) for a, b in links]


def no_link_up(net, since, pairs, what):
    """No link across the cut came up while it lasted."""
    for a, b in pairs:
        lines = net.log_lines(a, since[a], re.compile(rb"^link " + b.encode() + rb" up \("))
        check(not lines, "%s: %s's link to %s came up during the cut: %s"
              % (what, a, b, lines[0][1].decode() if lines else ""))


def check_no_restarts(net, names, what):
    for n in names:
        s = net.status(n)
        check(s["state"] == "up" and s["restarts"] == 0,
              "%s: %s is %s with %d restarts (last exit %s)"
              % (what, n, s["state"], s["restarts"], s["last_exit"]))


# ---------------------------------------------------------------------------
# scenarios

def scenario_cut(t, net, rng, results):
    what = "1 cut Parker"
    net.wait_all_links_up()
    wl = Workload(net, rng, "s1c").start()
    time.sleep(1.0)
    since = net.log_offsets()
    t_cut = net.cut("Parker")
    time.sleep(t.args.cut_seconds)
    wl.finish()
    pairs = both_ends(links_across(["Parker"], [n for n in NAMES if n != "Parker"]))
    no_link_up(net, since, pairs, what)
    det = detections(net, since, t_cut, pairs)
    snaps = {n: netns.snapshot(net, n, wl.clients) for n in NAMES}
    _, stale, _, _ = judge(snaps, [wl.ledger])
    check(stale > 0, "%s: every server agreed before the heal: was anything cut?" % what)
    healed = time.monotonic()
    net.heal("Parker")
    worst = report_detection(t, what, det)
    conv, _ = converge(t, net, [wl.ledger], healed, what)
    results.append((what, worst, conv))
    t.ok("%s for %.0f s: detected in %.3f s, converged %.3f s after the heal, nothing lost"
         % (what, t.args.cut_seconds, worst, conv))
    return wl.ledger


def scenario_split(t, net, rng, results):
    what = "2 split brain"
    net.wait_all_links_up()
    left, right = ["Alford", "Bolden", "Powell"], ["Parker", "Hamilton"]
    wl = Workload(net, rng, "s2c").start()
    time.sleep(1.0)
    since = net.log_offsets()
    t_cut = net.partition(right)
    time.sleep(2.7)   # both sides notice
    # Conflicts: the same clients on both sides; the older update is sent
    # later, so which side holds what depends on the heal.
    conf = Ledger()
    T = time.time_ns()
    loc_l, loc_r = b"+34.068930-118.445127", b"-33.868800+151.209300"
    expect = {}
    for k in range(24):
        cl = b"s2x%02d" % k
        conf.clients.append(cl)
        if k < 8:      # the right side's is newer and sent first
            iamat(net, conf, "Parker", cl, loc_r, T + 2000 + k)
            iamat(net, conf, "Alford", cl, loc_l, T + 1000 + k)
            expect[cl] = (loc_r, T + 2000 + k)
        elif k < 16:   # the left side's is newer and sent first
            iamat(net, conf, "Bolden", cl, loc_l, T + 2000 + k)
            iamat(net, conf, "Hamilton", cl, loc_r, T + 1000 + k)
            expect[cl] = (loc_l, T + 2000 + k)
        else:          # a tie: the same time, other places (fixed order decides)
            iamat(net, conf, "Powell", cl, loc_l, T + 3000 + k)
            iamat(net, conf, "Parker", cl, loc_r, T + 3000 + k)
            expect[cl] = (None, T + 3000 + k)
    time.sleep(1.0)
    for n in NAMES:   # the brain is split: each side holds its own
        snap = netns.snapshot(net, n, conf.clients)
        check(snap is not None, "%s: %s cannot be asked" % (what, n))
        for k, cl in enumerate(conf.clients[:16]):
            line = snap.get(cl)
            own = (n in right) == (k < 8)
            want_t = expect[cl][1] if own else expect[cl][1] - 1000
            check(line is not None and ns_of(line.split(b" ")[5]) == want_t,
                  "%s: before the heal %s holds %s for %s; its side's update has time %s"
                  % (what, n, show(line), cl.decode(), fmt_time(want_t).decode()))
    time.sleep(2.0)
    wl.finish()
    pairs = both_ends(links_across(left, right))
    no_link_up(net, since, pairs, what)
    det = detections(net, since, t_cut, pairs)
    healed = time.monotonic()
    net.heal_partition()
    worst = report_detection(t, what, det)
    conv, snaps = converge(t, net, [wl.ledger, conf], healed, what)
    for cl, (loc, tns) in expect.items():
        for n in NAMES:
            f = snaps[n][cl].split(b" ")
            check(ns_of(f[5]) == tns and (loc is None or f[4] == loc),
                  "%s: %s holds %s for %s; the newest is %s %s"
                  % (what, n, show(snaps[n][cl]), cl.decode(), loc, fmt_time(tns).decode()))
    results.append((what, worst, conv))
    t.ok("%s {%s} | {%s} with %d conflicting clients: detected in %.3f s, the newest "
         "everywhere %.3f s after the heal" % (what, ",".join(left), ",".join(right),
                                              len(conf.clients), worst, conv))
    return [wl.ledger, conf]


def scenario_crash(t, net, rng, results):
    what = "3 crash during a cut"
    net.wait_all_links_up()
    wl = Workload(net, rng, "s3c").start()
    time.sleep(1.0)
    since = net.log_offsets()
    t_cut = net.cut("Powell")
    time.sleep(2.6)
    pairs = both_ends(links_across(["Powell"], [n for n in NAMES if n != "Powell"]))
    det = detections(net, since, t_cut, pairs)
    left = net.crash("Powell")
    check(not left, "%s: sockets left on Powell's machine after the crash: %s" % (what, left))
    time.sleep(1.0)
    b0 = time.monotonic()
    boot = net.restart("Powell") - b0
    st = net.status("Powell")
    time.sleep(2.0)   # Powell alone, taking updates, while still cut
    wl.finish()
    check(all(v == "down" for v in net.link_states("Powell").values()),
          "%s: Powell has links up while cut: %s" % (what, net.link_states("Powell")))
    no_link_up(net, since, pairs, what)
    healed = time.monotonic()
    net.heal("Powell")
    worst = report_detection(t, what, det)
    conv, _ = converge(t, net, [wl.ledger], healed, what)
    results.append((what, worst, conv))
    t.ok("%s: Powell crashed and restarted (pid %s, herd start %.2f s) while cut; detected "
         "in %.3f s, converged %.3f s after the heal" % (what, st["pid"], boot, worst, conv))
    return wl.ledger


def scenario_flap(t, net, rng, results):
    what = "4 flapping cable"
    net.wait_all_links_up()
    wl = Workload(net, rng, "s4c").start()
    time.sleep(1.0)
    since = net.log_offsets()
    t_start = time.time()
    end = time.monotonic() + 5.0
    flaps = 0
    while time.monotonic() < end:
        net.cut("Parker")
        time.sleep(0.3)
        healed = time.monotonic()
        net.heal("Parker")
        flaps += 1
        time.sleep(0.3)
    wl.finish()
    downs = []
    for n in NAMES:
        for ts, line in net.log_lines(n, since[n], netns.LINK_DOWN_RE):
            downs.append("%s %+.3f s %s" % (n, ts - t_start, line.decode()))
    t.note("%s: %d flaps of Parker's cable (300 ms down, 300 ms up); links down meanwhile: %s"
           % (what, flaps, "; ".join(downs) if downs else "none"))
    conv, _ = converge(t, net, [wl.ledger], healed, what)
    results.append((what, None, conv))
    t.ok("%s: %d flaps in 5 s, %d link-down events, converged %.3f s after the last"
         % (what, flaps, len(downs), conv))
    return wl.ledger


def scenario_readdress(t, net, rng, results):
    what = "5 new address"
    net.wait_all_links_up()
    wl = Workload(net, rng, "s5c").start()
    time.sleep(1.0)
    since = net.log_offsets()
    old_ip = net.m["Powell"].peer_ip
    t_crash = time.time()
    left = net.crash("Powell")
    check(not left, "%s: sockets left on Powell's machine after the crash: %s" % (what, left))
    time.sleep(2.8)
    pairs = [(n, "Powell") for n in net.neighbours("Powell")]
    det = detections(net, since, t_crash, pairs)
    wl.finish()
    new_ip = netns.PEER_NET + "115"
    since_boot = net.log_offsets()
    t_hosts = time.time()
    booted = net.restart("Powell", new_ip=new_ip)
    t_up = time.time()
    worst = report_detection(t, what, det)
    conv, _ = converge(t, net, [wl.ledger], booted, what, limit=None,
                       after="herd start returned")
    # Its neighbours dial it by name: the next dial after the hosts files
    # changed resolves the new address. A dial to the old one that was under
    # way is given up after link_timeout_ms, then the backoff (at most 1 s).
    found = {}

    def all_found():
        for n in net.neighbours("Powell"):
            lines = net.log_lines(n, since_boot[n], re.compile(rb"^link Powell up \("))
            if lines:
                found[n] = lines[0]
        return len(found) == len(net.neighbours("Powell"))
    try:
        herdtest_wait(all_found, FOUND_LIMIT + 2.0)
    except herdtest.TestFailure:
        pass
    check(len(found) == len(net.neighbours("Powell")),
          "%s: neighbours that never linked to Powell at its new address: %s"
          % (what, [n for n in net.neighbours("Powell") if n not in found]))
    for n, (ts, line) in found.items():
        check(new_ip.encode() in line, "%s: %s linked to Powell not at %s: %s"
              % (what, n, new_ip, line.decode()))
    first = min(ts for ts, _ in found.values())
    after_found = conv - (first - t_up)
    t.note("%s: Powell %s -> %s (hosts files rewritten, herd start took %.2f s); its "
           "neighbours linked to it %s after the hosts files changed; converged %.3f s after "
           "herd start returned, %.3f s after the first neighbour linked"
           % (what, old_ip, new_ip, t_up - t_hosts,
              ", ".join("%s %.3f s" % (n, ts - t_hosts) for n, (ts, _) in sorted(found.items())),
              conv, after_found))
    slow = ["%s %.3f s" % (n, ts - t_hosts) for n, (ts, _) in found.items()
            if ts - t_hosts > FOUND_LIMIT]
    check(not slow, "%s: linked to Powell at its new address later than %.1f s after the "
          "hosts files changed: %s" % (what, FOUND_LIMIT, ", ".join(slow)))
    check(after_found <= CONVERGE_LIMIT, "%s: converged %.3f s after the first neighbour "
          "linked to Powell (limit %.1f s)" % (what, after_found, CONVERGE_LIMIT))
    results.append((what, worst, conv))
    t.ok("%s: Powell back at %s; detected in %.3f s, found at the next dial, converged "
         "%.3f s after it was up" % (what, new_ip, worst, conv))
    return wl.ledger


def main(t):
    rng = random.Random(t.args.seed)
    t0 = time.monotonic()
    net = netns.Net(t)
    try:
        net.start_all()
        t.ok("five machines, one herd.conf with host names, %d links up (%.1f s)"
             % (len(netns.LINKS), time.monotonic() - t0))
        results, ledgers = [], []
        only = set(t.args.only.split(",")) if t.args.only else None
        for i, sc in enumerate((scenario_cut, scenario_split, scenario_crash,
                                scenario_flap, scenario_readdress), 1):
            if only and str(i) not in only:
                continue
            s0 = time.monotonic()
            got = sc(t, net, rng, results)
            ledgers += got if isinstance(got, list) else [got]
            t.log("scenario %d took %.1f s" % (i, time.monotonic() - s0))
        # Nothing else happened meanwhile: only the crashed machine restarted.
        check_no_restarts(net, [n for n in NAMES], "at the end")
        # Every record of every scenario, everywhere.
        net.wait_all_links_up()
        converge(t, net, ledgers, time.monotonic(), "every scenario's clients at the end",
                 after="the check began")
        for what, det, c in results:
            t.note("summary %-22s detection %s  convergence %.3f s"
                   % (what, "%.3f s" % det if det is not None else "-      ", c))
        # A clean stop of every server (exit 0), then of every supervisor.
        for m in net.machines:
            net.ok_herd(m.name, "stop", m.name)
            s = net.status(m.name)
            check(s["state"] == "down" and s["last_exit"] == "exit 0",
                  "%s after herd stop: %s (last exit %s)" % (m.name, s["state"], s["last_exit"]))
        for m in net.machines:
            net.ok_herd(m.name, "stop")
        t.ok("every server exited 0 on herd stop")
    except BaseException:
        net.dump_tails()
        raise
    finally:
        net.close()
    left = net.leftovers()
    check(not left, "left behind after the test: %s" % left)
    t.ok("no namespace, veth, bridge, /etc/netns dir or process left (%.1f s in all)"
         % (time.monotonic() - t0))


def add_args(ap):
    ap.add_argument("--herd", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cut-seconds", type=float, default=20.0)
    ap.add_argument("--only", help="scenarios to run, e.g. 1,3")


if __name__ == "__main__":
    why = netns.unavailable()
    if why:
        print("# SKIP: partition tests need network namespaces: %s" % why, flush=True)
        sys.exit(netns.SKIP)
    herdtest.run(main, watchdog=280, add_args=add_args)
