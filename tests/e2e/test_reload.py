"""herd reload: a changed herd.conf applied to a running herd.

On the default herd, rewriting its herd.conf between reloads:

  add       a sixth server, Zed, linked to Hamilton and Powell: it is
            started and, within 2 s of the reload, answers WHATSAT for
            every client the herd knew before; the five others keep their
            pids, and a client connection opened before the reload still
            answers
  remove    a link (Alford - Parker): gone from herd status, the two ends
            keep their pids; then Zed: stopped, gone from herd status, its
            data directory left; then Hamilton's last link: the herd in
            pieces is accepted, with a warning
  dry run   herd reload --dry-run prints the plan and changes nothing
            (pids, states, links, the servers' logs)
  broken    a line herd_load refuses, and one only the checks refuse (an
            unknown places provider): exit 78 naming FILE:LINE, nothing
            changed, the refusal in herd.log; the same through SIGHUP, and
            a run_dir that cannot change while the herd runs; the
            directories written out as they are by default change nothing
  SIGHUP    to the supervisor: reloads (a server added that way)
  address   a server's own client port changed: the reload says it needs
            herd restart NAME (so does the server), and it keeps serving
            on the old one until herd restart moves it
  workload  client updates run through a reload that adds and removes
            servers: no acknowledged update lost, every server holds the
            newest record of every client within 2 s of the end
  web       the herd serves its web page all along: /api/state follows
            each reload (Zed in it with its own status once added, out of
            it once removed)
  --only    a supervisor that runs some servers only: a server added is
            not started there, a server of its own is told

    test_reload.py --server BIN --herd BIN [--seed N]
"""

import json
import os
import random
import re
import signal
import time
import urllib.request

import herdsup
import herdtest
from herdsup import check, eq, ns_of, show, snapshot, wait_until

NAMES = herdsup.DEFAULT_NAMES


def conf_text(h, names, links, extra=""):
    """herd.conf as herdsup.Herd writes it, for these servers and links."""
    lines = ["# rewritten by the test"]
    for n in names:
        lines.append("server %s 127.0.0.1:%d peer 127.0.0.1:%d"
                     % (n, h.port[n], h.peer_port[n]))
    for a, b in links:
        lines.append("link %s %s" % (a, b))
    lines += ["server_bin %s" % h.t.binary, "places offline",
              "restart_first_ms 100", "stop_grace_ms 3000", "log_max_mb 0",
              getattr(h, "http_line", ""), extra]
    return "\n".join(lines) + "\n"


def rewrite(h, names, links, extra=""):
    """Replaces herd.conf whole (a rename: a reload never reads half of
    it); h follows it."""
    for n in names:
        if n not in h.port:
            h.port[n], h.peer_port[n] = herdtest.free_ports(2)
    tmp = h.conf + ".tmp"
    with open(tmp, "w") as f:
        f.write(conf_text(h, names, links, extra))
    os.replace(tmp, h.conf)
    h.names = list(names)
    h.links = list(links)


def herd_log(h):
    return herdtest.read_log(os.path.join(h.log_dir, "herd.log"))


def state_of(h):
    """What a reload that changes nothing must leave as it is: each
    server's name, pid and state, and its neighbours and their links'
    states as it says (herd status's list of links is herd.conf's, read
    by the command itself)."""
    st = h.status()
    servers = sorted((s["name"], s["pid"], s["state"]) for s in st["servers"])
    nbs = sorted((s["name"], tuple(sorted((n["name"], n["state"]) for n in
                                          (s["stats"] or {}).get("neighbours", []))))
                 for s in st["servers"])
    return servers, nbs


def api_state(h):
    """GET /api/state of the supervisor's web page: {name: server}."""
    with urllib.request.urlopen("http://127.0.0.1:%d/api/state" % h.http_port,
                                timeout=5) as r:
        view = json.loads(r.read())
    return {s["name"]: s for s in view["servers"]}


def pids(h):
    return {s["name"]: s["pid"] for s in h.status()["servers"]}


def link_states(h):
    return {(l["a"], l["b"]): l["state"] for l in h.status()["links"]}


def wait_link(h, a, b, state="up", timeout=10.0):
    wait_until(lambda: link_states(h).get((a, b)) == state, timeout,
               "link %s - %s to be %s" % (a, b, state), 0.1)


def reload_ok(h, *args):
    rc, out, err = h.cmd("reload", *args)
    eq(rc, 0, "herd reload %s exit code (stdout %r, stderr %r)" % (" ".join(args), out, err))
    return out


def workload(h, rng):
    """The chaos tests' workload, 100 clients on 4 threads, at the five."""
    return herdsup.Workload(h, rng, 100, 4, NAMES, b"load")


def converge(t, h, wl, names, what):
    """The chaos test's checks once the workload has stopped: no
    acknowledged update lost, every server of names holding the newest
    record of every client within 2 s, no record nobody sent."""
    clients = wl.clients
    t0 = time.monotonic()
    converged = None
    while True:
        snaps = {n: snapshot(h, n, clients) for n in names}
        newest = {}
        for n in names:
            for cl, line in snaps[n].items():
                cur = newest.get(cl)
                if cur is None or ns_of(line.split(b" ")[5]) > ns_of(cur.split(b" ")[5]):
                    newest[cl] = line
        stale = sum(1 for n in names for cl in clients if snaps[n].get(cl) != newest.get(cl))
        if stale == 0:
            converged = time.monotonic() - t0
            break
        if time.monotonic() - t0 > 2.0:
            break
        time.sleep(0.05)
    lost = sum(1 for cl, tns in wl.acked.items() for n in names
               if snaps[n].get(cl) is None or ns_of(snaps[n][cl].split(b" ")[5]) < tns)
    unexpected = sum(1 for n in names for line in snaps[n].values()
                     if tuple(line.split(b" ")[3:6]) not in wl.sent)
    t.note("%s: %d IAMATs sent, %d acknowledged; lost %d, stale %d, unexpected %d; "
           "converged %s" % (what, wl.n_sent, wl.n_acked, lost, stale, unexpected,
                             "in %.3f s" % converged if converged is not None
                             else "NOT within 2 s"))
    check(wl.n_acked > 50, "%s: too few acknowledged updates: %d" % (what, wl.n_acked))
    eq(lost, 0, "%s: acknowledged updates lost" % what)
    eq(stale, 0, "%s: stale records 2 s after the end" % what)
    eq(unexpected, 0, "%s: records nobody sent" % what)


# ---- the cases --------------------------------------------------------------

def case_add(t, h):
    clients = [b"before.%02d" % i for i in range(30)]
    lines = {}
    now = time.time()
    for i, cl in enumerate(clients):
        lines[cl] = h.iamat(NAMES[i % len(NAMES)], cl, b"%.9f" % (now + i / 1000.0))
    wait_until(lambda: all(snapshot(h, n, clients) == lines for n in NAMES), 10.0,
               "every server to hold the %d clients" % len(clients), 0.1)
    before = pids(h)
    conns = {n: h.client(n) for n in NAMES}
    try:
        for n, c in conns.items():   # each connection is up and served
            c.send(b"WHATSAT %s 1 0\n" % clients[0])
            first, _ = c.read_whatsat()
            eq(first, lines[clients[0]], "WHATSAT at %s before the reload" % n)
        rewrite(h, NAMES + ["Zed"], herdsup.DEFAULT_LINKS + [("Zed", "Hamilton"),
                                                              ("Zed", "Powell")])
        out = reload_ok(h)
        done = time.monotonic()
        check(re.search(r"^added Zed \(127\.0\.0\.1:%d, neighbours Hamilton, Powell\): "
                        r"up \(pid \d+\)$" % h.port["Zed"], out, re.M),
              "the reply says Zed was added and is up: %r" % out)
        for n in ("Hamilton", "Powell"):
            check(re.search(r"^told %s to reload \(neighbours \+Zed\): linked to Zed$" % n,
                            out, re.M), "the reply says %s was told: %r" % (n, out))
        for n in ("Alford", "Bolden", "Parker"):
            check(n not in out, "%s is not concerned, yet the reply names it: %r" % (n, out))
        # Zed catches up from its neighbours.
        wait_until(lambda: snapshot(h, "Zed", clients, 2.0) == lines,
                   max(0.1, 2.0 - (time.monotonic() - done)),
                   "Zed to answer WHATSAT for every client known before", 0.05)
        took = time.monotonic() - done
        after = pids(h)
        for n in NAMES:
            eq(after[n], before[n], "%s's pid across the reload" % n)
        check(after.get("Zed"), "Zed has a pid: %r" % after)
        for n, c in conns.items():   # connections opened before still answer
            c.send(b"IAMAT kept.%s +10.0000+20.0000 %.9f\n" % (n.encode(), time.time()))
            got = c.read_line()
            check(got.startswith(b"AT %s " % n.encode()),
                  "the connection to %s opened before the reload: %s" % (n, show(got)))
    finally:
        for c in conns.values():
            c.close()
    wait_link(h, "Zed", "Hamilton")
    wait_link(h, "Zed", "Powell")
    # The web page's watch asks Zed too.
    wait_until(lambda: (api_state(h).get("Zed") or {}).get("stats"), 5.0,
               "/api/state to show Zed's own status", 0.1)
    t.ok("add: Zed started, linked to Hamilton and Powell, answers for every client "
         "known before %.2f s after the reload; the five others kept their pids and "
         "their connections" % took)


def case_remove(t, h):
    before = pids(h)
    links = [l for l in h.links if l != ("Alford", "Parker")]
    rewrite(h, h.names, links)
    out = reload_ok(h)
    check("told Alford to reload (neighbours -Parker): unlinked from Parker" in out and
          "told Parker to reload (neighbours -Alford): unlinked from Alford" in out and
          "links removed: Alford - Parker" in out, "the reply: %r" % out)
    st = h.status()
    check(("Alford", "Parker") not in [(l["a"], l["b"]) for l in st["links"]],
          "Alford - Parker still in herd status: %r" % st["links"])
    wait_until(lambda: "Parker" not in [n["name"] for n in
                                        h.server("Alford")["stats"]["neighbours"]],
               5.0, "Alford to drop Parker from its neighbours")
    eq(pids(h), before, "pids after removing a link")

    # Zed goes: stopped, out of the table, its data left.
    zed_pid = before["Zed"]
    names = [n for n in h.names if n != "Zed"]
    links = [l for l in links if "Zed" not in l]
    rewrite(h, names, links)
    out = reload_ok(h)
    check(re.search(r"^removed Zed \(its data directory stays\): stopped \(exit 0\)$",
                    out, re.M), "the reply says Zed was stopped: %r" % out)
    check("told Hamilton to reload (neighbours -Zed)" in out and
          "told Powell to reload (neighbours -Zed)" in out, "the reply: %r" % out)
    check(not herdsup.pid_alive(zed_pid), "Zed (pid %d) still runs" % zed_pid)
    st = h.status()
    check("Zed" not in [s["name"] for s in st["servers"]], "Zed in herd status: %r" % st)
    check(not [l for l in st["links"] if "Zed" in (l["a"], l["b"])],
          "a link of Zed in herd status: %r" % st["links"])
    check(os.path.isdir(os.path.join(h.dir, "data", "Zed")), "Zed's data directory is gone")
    check("Zed " not in open(os.path.join(h.run_dir, "herd.pid")).read(),
          "Zed still in the pid file")
    check("Zed" not in api_state(h), "Zed still in /api/state")
    after = pids(h)
    for n in NAMES:
        eq(after[n], before[n], "%s's pid after removing Zed" % n)

    # Hamilton's last link: the herd in pieces, accepted with a warning.
    links = [l for l in links if l != ("Hamilton", "Parker")]
    rewrite(h, names, links)
    since = len(herd_log(h))
    rc, out, err = h.cmd("reload")
    eq(rc, 0, "a reload that cuts the herd in two: exit code (%r %r)" % (out, err))
    check("warning: the graph is not connected" in out + err,
          "no warning for a herd in pieces: %r %r" % (out, err))
    check(b"not connected" in herd_log(h)[since:], "no warning in herd.log")
    wait_until(lambda: h.server("Hamilton")["stats"]["neighbours"] == [], 5.0,
               "Hamilton to have no neighbour left")
    eq(pids(h), {n: before[n] for n in NAMES}, "pids after cutting Hamilton off")
    t.ok("remove: a link, then a server (stopped, gone from status, data kept), then "
         "Hamilton's last link (accepted with a warning); no other pid changed")


def case_dry_run(t, h):
    before = state_of(h)
    logs = {n: len(h.log(n)) for n in h.names}
    links = h.links + [("Hamilton", "Parker"), ("Alford", "Parker")]
    rewrite(h, h.names, links, "max_clients 5000")
    out = reload_ok(h, "--dry-run")
    for want in ("would tell Hamilton to reload (neighbours +Parker; settings)\n",
                 "would tell Parker to reload (neighbours +Alford +Hamilton; settings)\n",
                 "would tell Bolden to reload (settings)\n",
                 "links to add: Hamilton - Parker, Alford - Parker\n",
                 "would change max_clients 10000 -> 5000 (each running server "
                 "re-reads herd.conf)\n"):
        check(want in out, "the dry run's plan lacks %r: %r" % (want, out))
    # Nothing changes, for a while.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        eq(state_of(h), before, "the herd after a dry run")
        time.sleep(0.2)
    for n in h.names:
        check(b"reload" not in h.log(n)[logs[n]:], "%s was told something by a dry run" % n)
    # Applied for real, the herd is whole again.
    out = reload_ok(h)
    check("told Hamilton to reload (neighbours +Parker; settings): linked to Parker"
          in out,
          "the reload after the dry run: %r" % out)
    check("in effect now: max_clients" in out, "max_clients not live: %r" % out)
    wait_link(h, "Hamilton", "Parker")
    wait_link(h, "Alford", "Parker")
    t.ok("dry run: the plan printed, nothing changed (pids, states, links, logs); "
         "applied afterwards")


def case_broken(t, h):
    good = open(h.conf).read()
    before = state_of(h)
    logs = {n: len(h.log(n)) for n in h.names}
    since = len(herd_log(h))
    # A line herd_load refuses: the command reads herd.conf first.
    text = good + "link Alford Nobody\n"
    line = text.count("\n")
    with open(h.conf, "w") as f:
        f.write(text)
    rc, out, err = h.cmd("reload")
    eq(rc, 78, "reload of a herd.conf with an unknown server: exit code (%r)" % err)
    check("herd.conf:%d:" % line in err and "unknown server" in err,
          "the error names herd.conf:%d: %r" % (line, err))
    # A line only the checks refuse: the supervisor's own.
    text = good + "places nowhere\n"
    line = text.count("\n")
    with open(h.conf, "w") as f:
        f.write(text)
    rc, out, err = h.cmd("reload")
    eq(rc, 78, "reload of a herd.conf with an unknown places provider: exit code (%r)" % err)
    check("%s:%d: unknown places provider 'nowhere'" % (h.conf, line) in err and
          "refused: nothing changed" in err, "the error names the line: %r" % err)
    log = herd_log(h)[since:]
    check(b"unknown places provider 'nowhere'" in log and b"refused: nothing changed" in log,
          "herd.log says nothing of the refusal: %s" % show(log[-600:]))
    # And through SIGHUP.
    since = len(herd_log(h))
    os.kill(h.supervisor_pid, signal.SIGHUP)
    wait_until(lambda: b"refused: nothing changed" in herd_log(h)[since:], 5.0,
               "herd.log to say the SIGHUP's herd.conf was refused")
    eq(state_of(h), before, "the herd after refused reloads")
    for n in h.names:
        check(b"reload" not in h.log(n)[logs[n]:], "%s was told to reload a broken file" % n)
    # A setting that cannot change while the herd runs: herd reload looks
    # for the supervisor's socket in the new run_dir, finds none and says
    # why; SIGHUP gets the plan's refusal.
    elsewhere = os.path.join(h.dir, "run-elsewhere")
    newlog = os.path.join(h.dir, "log-elsewhere")   # not made: the file is refused
    text = good + "run_dir %s\n" % elsewhere
    line = text.count("\n")
    text += "log_dir %s\n" % newlog
    with open(h.conf, "w") as f:
        f.write(text)
    rc, out, err = h.cmd("reload")
    eq(rc, 1, "herd reload with a new run_dir: exit code (%r)" % err)
    check("not running" in err and "run_dir cannot change while it runs" in err,
          "herd reload with a new run_dir says why it finds no herd: %r" % err)
    since = len(herd_log(h))
    os.kill(h.supervisor_pid, signal.SIGHUP)
    want = ("herd: %s:%d: run_dir %s -> %s: cannot change while the herd runs"
            % (h.conf, line, h.run_dir, elsewhere)).encode()
    wait_until(lambda: b"refused: nothing changed" in herd_log(h)[since:], 5.0,
               "herd.log to say the new run_dir was refused")
    check(want in herd_log(h)[since:], "herd.log names the line of run_dir: %s"
          % show(herd_log(h)[since:][-600:]))
    check(not os.path.exists(elsewhere) and not os.path.exists(newlog),
          "a directory of the refused herd.conf was made")
    # The directories written out as they are by default change nothing.
    with open(h.conf, "w") as f:
        f.write(good + "run_dir %s\nlog_dir %s\ndata_dir %s\n"
                % (h.run_dir, h.log_dir, os.path.join(h.dir, "data")))
    out = reload_ok(h)
    eq(out, "herd.conf has not changed: nothing to do\n",
       "the reply to the defaults made explicit")
    eq(state_of(h), before, "the herd after the run_dir refused and the defaults")
    with open(h.conf, "w") as f:
        f.write(good)
    t.ok("broken herd.conf: exit 78 naming FILE:LINE (herd_load's and the checks' "
         "errors), nothing changed, the refusal logged; the same through SIGHUP; "
         "a new run_dir refused naming its line; defaults made explicit change nothing")


def case_sighup(t, h):
    before = pids(h)
    rewrite(h, h.names + ["Yan"], h.links + [("Yan", "Bolden"), ("Yan", "Alford")])
    since = len(herd_log(h))
    os.kill(h.supervisor_pid, signal.SIGHUP)
    wait_until(lambda: re.search(rb"reload of \S+ done", herd_log(h)[since:]), 10.0,
               "the SIGHUP's reload to end")
    log = herd_log(h)[since:]
    check(b"(SIGHUP)" in log and b"added Yan" in log and b"told Bolden to reload" in log,
          "herd.log of the SIGHUP's reload: %s" % show(log[-1500:]))
    s = h.wait_state("Yan", "up", 5.0)
    check(s["pid"], "Yan has no pid")
    wait_link(h, "Yan", "Bolden")
    wait_link(h, "Yan", "Alford")
    after = pids(h)
    for n in before:
        eq(after[n], before[n], "%s's pid across the SIGHUP" % n)
    t.ok("SIGHUP to the supervisor reloads herd.conf (Yan added and linked)")


def case_address(t, h):
    before = pids(h)
    old = h.port["Bolden"]
    new = herdtest.free_port()
    h.port["Bolden"] = new
    rewrite(h, h.names, h.links)
    out = reload_ok(h)
    check("restart needed: Bolden (address 127.0.0.1:%d -> 127.0.0.1:%d): herd restart "
          "Bolden\n" % (old, new) in out, "the reply says nothing of Bolden's restart: %r"
          % out)
    check(re.search(r"^told Bolden to reload \(its own address\): .*needs herd restart "
                    r"Bolden for", out, re.M), "Bolden's own answer: %r" % out)
    eq(pids(h), before, "pids after a reload that moves Bolden")
    h.port["Bolden"] = old   # still there until restarted
    h.iamat("Bolden", b"moving", b"%.9f" % time.time())
    h.port["Bolden"] = new
    since = len(h.log("Bolden"))
    h.ok_cmd("restart", "Bolden")
    h.iamat("Bolden", b"moved", b"%.9f" % time.time())
    h.wait_links_up("Bolden", since=since)
    t.ok("a server's own address: the reload says herd restart Bolden is needed, "
         "Bolden serves the old port until then and the new one after")


def case_workload(t, h, rng):
    wl = workload(h, rng).start()
    try:
        time.sleep(1.0)   # the workload runs a while before the change
        names = [n for n in h.names if n != "Yan"] + ["Zed"]
        links = [l for l in h.links if "Yan" not in l] + [("Zed", "Hamilton"),
                                                          ("Zed", "Powell")]
        rewrite(h, names, links)
        before = pids(h)
        out = reload_ok(h)
        check("removed Yan" in out and "added Zed" in out, "the reply: %r" % out)
        after = pids(h)
        for n in NAMES:
            eq(after[n], before[n], "%s's pid across the reload under load" % n)
        time.sleep(1.0)   # and a while after
    finally:
        wl.finish()
    converge(t, h, wl, h.names, "workload through a reload")
    t.ok("workload through a reload (Yan removed, Zed added): nothing acknowledged "
         "lost, every server in sync within 2 s")


def case_only(t):
    """A supervisor run with --only: the server added is another's."""
    h = herdsup.Herd(t, names=["A", "B", "C"], links=[("A", "B"), ("B", "C")],
                     subdir="only")
    try:
        h.start("--only", "A,B")
        h.wait_links_up("A")
        rewrite(h, ["A", "B", "C", "D"], h.links + [("D", "A")])
        out = reload_ok(h)
        check(re.search(r"^added D \(127\.0\.0\.1:\d+, neighbours A\) \(run by another "
                        r"supervisor\): not started here \(--only\)$", out, re.M),
              "the reply for D: %r" % out)
        check("told A to reload (neighbours +D)" in out, "A not told: %r" % out)
        d = h.server("D")
        check(not d["managed"] and d["pid"] is None and d["state"] == "unknown",
              "D under a supervisor that runs A and B only: %r" % d)
        h.stop()
    finally:
        h.close()
    t.ok("--only: a server added is not started by a supervisor that runs others")


def main(t):
    rng = random.Random(t.args.seed)
    web = herdtest.free_port()
    h = herdsup.Herd(t, extra_conf="http 127.0.0.1:%d" % web)
    h.http_port = web
    h.http_line = "http 127.0.0.1:%d" % web
    try:
        h.start()
        for n in NAMES:
            h.wait_links_up(n)
        case_add(t, h)
        case_remove(t, h)
        case_dry_run(t, h)
        case_broken(t, h)
        case_sighup(t, h)
        case_address(t, h)
        case_workload(t, h, rng)
        h.stop()
    finally:
        h.close()
    case_only(t)


def add_args(ap):
    ap.add_argument("--herd", required=True, help="path to the herd binary")
    ap.add_argument("--seed", type=int, default=1)


if __name__ == "__main__":
    herdtest.run(main, watchdog=150, add_args=add_args)
