#!/usr/bin/env python3
"""How many peer messages a flood costs, on the default five-server graph.

A burst of K updates for K new clients goes to Alford on one pipelined
connection (a busy server, so peer-link batching is in play), then every
server must know every client.  The servers' stop summaries then count, per
server, the records applied and the AT lines sent to neighbours:

* every server applies each update exactly once;
* the origin queues each update for each of its neighbours, every other
  server for each neighbour but the one it came from, so a server of degree
  d queues exactly d*K (origin) or (d-1)*K lines: no update goes twice on a
  link. A queued copy is either sent ("flooded") or taken back before it
  leaves because that neighbour sent the same record first ("withheld");
* in all 2E - (n - 1) = 6 copies per update are queued, within
  2 x links = 10; at least n - 1 = 4 are sent, and every sent one that is
  not applied is counted as a stale copy.

The run is made twice: with the default peer batching, and with
--peer-batch-us 0 (a flush every loop iteration); both must count the same,
and both must converge promptly after the burst (held output leaves on its
own when the loop would sleep).
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import re
import time

import herdtest
from herdtest import check, eq, fail

NAMES = ["Alford", "Bolden", "Hamilton", "Parker", "Powell"]
EDGES = [("Alford", "Parker"), ("Alford", "Powell"), ("Bolden", "Parker"),
         ("Bolden", "Powell"), ("Hamilton", "Parker")]
K = 2000
SUMMARY = re.compile(rb"stopping \([^)]*\): (\d+) records held, (\d+) applied, "
                     rb"(\d+) stale, (\d+) flooded, (\d+) withheld")


def known_everywhere(srv, ids, deadline):
    """Polls every server with pipelined WHATSATs until all ids are known."""
    for n in NAMES:
        missing = list(ids)
        while missing:
            with srv[n].connect() as c:
                c.send(b"".join(b"WHATSAT " + i + b" 0 0\n" for i in missing))
                still = []
                for i in missing:
                    first, _ = c.read_whatsat()
                    if first == b"?":
                        still.append(i)
            missing = still
            if missing:
                if time.monotonic() > deadline:
                    fail("%s still does not know %d of %d clients after the burst"
                         % (n, len(missing), len(ids)))
                time.sleep(0.01)


def run(t, tag, extra):
    srv = {n: t.server(n + tag, extra_args=extra) for n in NAMES}
    for a, b in EDGES:
        t.link(srv[a], srv[b])
    t.start_all()
    for s in srv.values():
        s.wait_links_up(timeout=15)
    base = int(time.time())
    ids = [b"count%s.%d" % (tag.encode(), i) for i in range(K)]
    burst = b"".join(b"IAMAT " + i + b" +34.068930-118.445127 %d.%09d\n" % (base, k)
                     for k, i in enumerate(ids))
    with srv["Alford"].connect() as c:
        c.send(burst)
        for i in ids:
            line = c.read_line()
            check(line.startswith(b"AT Alford" + tag.encode() + b" "),
                  "reply to the burst: %s" % herdtest.show(line))
    t_sent = time.monotonic()
    known_everywhere(srv, ids, t_sent + 10)
    took = time.monotonic() - t_sent
    stats = {}
    for n in NAMES:
        srv[n].stop()
        m = SUMMARY.search(srv[n].log_bytes())
        check(m is not None, "%s: no stop summary in its log" % n)
        stats[n] = [int(x) for x in m.groups()]
    degree = {n: sum(1 for e in EDGES if n in e) for n in NAMES}
    for n in NAMES:
        held, applied, _stale, flooded, withheld = stats[n]
        eq(held, K, "%s%s: records held" % (n, tag))
        eq(applied, K, "%s%s: records applied" % (n, tag))
        want = degree[n] * K if n == "Alford" else (degree[n] - 1) * K
        eq(flooded + withheld, want, "%s%s: AT lines queued for neighbours (degree %d; "
           "%d sent, %d withheld)" % (n, tag, degree[n], flooded, withheld))
    total = sum(s[3] for s in stats.values())
    withheld = sum(s[4] for s in stats.values())
    per_update = total / K
    # Every message that was not applied was a stale copy, counted as one.
    eq(sum(s[2] for s in stats.values()), total - (len(NAMES) - 1) * K,
       "stale copies in all")
    eq(total + withheld, (2 * len(EDGES) - (len(NAMES) - 1)) * K,
       "peer messages queued in all")
    check((len(NAMES) - 1) * K <= total <= 2 * len(EDGES) * K,
          "%.2f peer messages per update" % per_update)
    return per_update, took, stats


def main(t):
    for tag, extra in (("", []), ("0", ["--peer-batch-us", "0"])):
        per_update, took, stats = run(t, tag, extra)
        t.ok("peer batching %s: %d updates at Alford known everywhere %.0f ms after "
             "the last reply; %.2f peer messages per update (2 x links = %d), sent "
             "per server %s; withheld %s; stale copies %s"
             % ("off" if extra else "on", K, took * 1000, per_update, 2 * len(EDGES),
                ", ".join("%s %d" % (n, stats[n][3]) for n in NAMES),
                ", ".join("%s %d" % (n, stats[n][4]) for n in NAMES),
                ", ".join("%s %d" % (n, stats[n][2]) for n in NAMES)))


if __name__ == "__main__":
    herdtest.run(main)
