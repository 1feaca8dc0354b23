#!/usr/bin/env python3
"""What a herd costs while nobody uses it.

    bench_idle.py HERD SECONDS LABEL CONF [LABEL CONF...]

HERD is the supervisor binary; each CONF names a running herd (started by
the caller) and LABEL what to call it. For every herd this waits until all
its links are established (one socket on a server's peer port per `link`
line), lets it settle for a moment, then measures all of them over the
same SECONDS, with no client connected:

  * CPU: the supervisor and every server together, from /proc/PID/schedstat
    (nanoseconds on the CPU, and the number of times each was scheduled,
    that is woken) and /proc/PID/stat (utime + stime, in clock ticks: the
    coarse number that tools like top see), as a share of one core;
  * heartbeat traffic: the kernel's own byte counters of each peer-link
    socket (`ss -tin`: bytes_sent and bytes_received of the accepting end,
    so each link is counted once, both directions), read before and after,
    in bytes per second per link, and data segments (each one a wake-up
    of the reader) per second per link.

A server restarted or a link re-established within the window is reported
and the run fails: the numbers would not be of an idle herd.
"""

import json
import os
import re
import subprocess
import sys
import time

SETTLE_S = 2.0
LINKS_DEADLINE_S = 15.0
TARGET_PCT = 0.1


def status(herd, conf):
    out = subprocess.run([herd, "-c", conf, "status", "--json"], check=True,
                         capture_output=True, text=True).stdout
    js = json.loads(out)
    servers = [(s["name"], s["pid"], s.get("peer_address")) for s in js["servers"]]
    if any(pid is None for _, pid, _ in servers):
        sys.exit("bench_idle: %s: a server is not up" % conf)
    return js["supervisor_pid"], servers


def conf_settings(conf):
    links, opts = 0, {}
    with open(conf) as f:
        for line in f:
            w = line.split("#", 1)[0].split()
            if not w:
                continue
            if w[0] == "link":
                links += 1
            elif len(w) == 2:
                opts[w[0]] = w[1]
    return links, opts


def cpu(pid):
    """(ns on the CPU, times scheduled, utime + stime ticks) of pid."""
    try:
        return cpu_of(pid)
    except (FileNotFoundError, ProcessLookupError):
        sys.exit("bench_idle: pid %d is gone: a server restarted or the herd "
                 "stopped during the measurement" % pid)


def cpu_of(pid):
    with open("/proc/%d/schedstat" % pid) as f:
        ns, _, runs = (int(x) for x in f.read().split()[:3])
    with open("/proc/%d/stat" % pid) as f:
        # The command may hold spaces: the fields after it start past ')'.
        rest = f.read().rsplit(")", 1)[1].split()
    ticks = int(rest[11]) + int(rest[12])  # fields 14 and 15 of stat
    return ns, runs, ticks


SOCK = re.compile(r"^\S")


def sockets(ports):
    """{(local port, peer port): info} of the established TCP sockets whose
    local port is in ports (the accepting end of each peer link)."""
    out = subprocess.run(["ss", "-tinH", "state", "established"], check=True,
                         capture_output=True, text=True).stdout
    found, key = {}, None
    for line in out.splitlines():
        if SOCK.match(line):
            addrs = [w for w in line.split() if re.match(r"^[\[\]0-9a-f.:*%]+:\d+$", w)]
            key = None
            if len(addrs) >= 2:
                lp = int(addrs[-2].rsplit(":", 1)[1])
                pp = int(addrs[-1].rsplit(":", 1)[1])
                if lp in ports:
                    key = (lp, pp)
                    found[key] = {}
        elif key is not None:
            for k, v in re.findall(r"\b(bytes_sent|bytes_acked|bytes_received|"
                                   r"data_segs_out|data_segs_in):(\d+)", line):
                found[key][k] = int(v)
    for info in found.values():  # kernels before 4.19 have no bytes_sent
        info.setdefault("bytes_sent", info.get("bytes_acked", 0))
        for k in ("bytes_received", "data_segs_out", "data_segs_in"):
            info.setdefault(k, 0)
    return found


def main():
    if len(sys.argv) < 5 or len(sys.argv) % 2 == 0:
        sys.exit(__doc__)
    herd, seconds = sys.argv[1], float(sys.argv[2])
    herds = []
    for label, conf in zip(sys.argv[3::2], sys.argv[4::2]):
        sup, servers = status(herd, conf)
        links, opts = conf_settings(conf)
        ports = {int(a.rsplit(":", 1)[1]) for _, _, a in servers if a}
        herds.append({"label": label, "sup": sup, "servers": servers,
                      "links": links, "opts": opts, "ports": ports})

    deadline = time.monotonic() + LINKS_DEADLINE_S
    for h in herds:
        while len(sockets(h["ports"])) != h["links"]:
            if time.monotonic() > deadline:
                sys.exit("bench_idle: %s: %d of %d links established after %.0f s"
                         % (h["label"], len(sockets(h["ports"])), h["links"],
                            LINKS_DEADLINE_S))
            time.sleep(0.1)
    time.sleep(SETTLE_S)

    def pids(h):
        return [("supervisor", h["sup"])] + [(n, p) for n, p, _ in h["servers"]]

    t0 = time.monotonic()
    before = [({n: cpu(p) for n, p in pids(h)}, sockets(h["ports"])) for h in herds]
    time.sleep(seconds)
    after = [({n: cpu(p) for n, p in pids(h)}, sockets(h["ports"])) for h in herds]
    elapsed = time.monotonic() - t0

    tck = os.sysconf("SC_CLK_TCK")
    failed = False
    for h, (c0, s0), (c1, s1) in zip(herds, before, after):
        ns = {n: c1[n][0] - c0[n][0] for n in c0}
        runs = sum(c1[n][1] - c0[n][1] for n in c0)
        ticks = sum(c1[n][2] - c0[n][2] for n in c0)
        total = sum(ns.values())
        pct = total / (elapsed * 1e9) * 100
        ping = h["opts"].get("link_ping_ms", "500")
        tmo = h["opts"].get("link_timeout_ms", "2000")
        print("idle herd, %s (link_ping_ms %s, link_timeout_ms %s): supervisor + %d "
              "servers %.2f ms CPU in %.1f s = %.4f%% of one core (target < %g%%: %s); "
              "utime+stime %d ticks (%.3f%%); %.1f wake-ups/s, %.1f us each"
              % (h["label"], ping, tmo, len(h["servers"]), total / 1e6, elapsed, pct,
                 TARGET_PCT, "met" if pct < TARGET_PCT else "NOT met", ticks,
                 ticks / (tck * elapsed) * 100, runs / elapsed,
                 total / 1e3 / runs if runs else 0))
        print("  CPU per process, us/s: " +
              ", ".join("%s %.1f" % (n, ns[n] / 1e3 / elapsed) for n in c0))
        kept = sorted(set(s0) & set(s1))
        if len(kept) != h["links"] or len(s0) != h["links"] or len(s1) != h["links"]:
            print("  links: %d established before, %d after, %d the same of %d: a "
                  "link was re-established during the window" %
                  (len(s0), len(s1), len(kept), h["links"]))
            failed = True
        if not kept:
            continue
        both, one, segs = [], [], []
        for k in kept:
            tx = (s1[k]["bytes_sent"] - s0[k]["bytes_sent"]) / elapsed
            rx = (s1[k]["bytes_received"] - s0[k]["bytes_received"]) / elapsed
            both.append(tx + rx)
            one += [tx, rx]
            segs.append((s1[k]["data_segs_out"] - s0[k]["data_segs_out"] +
                         s1[k]["data_segs_in"] - s0[k]["data_segs_in"]) / elapsed)
        print("  heartbeat traffic: %d links, %.1f bytes/s per link both directions "
              "(links %.1f-%.1f; one way %.1f-%.1f), %.2f data segments/s per link, "
              "%.1f bytes/s for the herd"
              % (len(kept), sum(both) / len(both), min(both), max(both), min(one),
                 max(one), sum(segs) / len(segs), sum(both)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
