#!/usr/bin/env python3
"""Reads `strace -yy` output of one herd-server and reports, per loop
iteration (the calls between two epoll_waits), how many reads and writes
went to each kind of descriptor: client sockets, peer links, the log and
the write-ahead log.

    syscall_report.py TRACE CLIENT_PORT REQUESTS

Prints one line of numbers and, with --check, exits 1 when an iteration
wrote twice to one descriptor (one write per connection, one log write and
one WAL write per iteration is the design).
"""

import re
import sys
from collections import Counter

CALL = re.compile(r"^(?:\d+\s+)?(\w+)\((\d+)<(.*?)>[,)]")


def kind_of(desc, client_port):
    if desc.endswith(".log"):
        return "log"
    if desc.endswith(".wal"):
        return "wal"
    m = re.match(r"TCP(?:v6)?:\[.*?:(\d+)->", desc)
    if m:
        return "client" if int(m.group(1)) == client_port else "peer"
    return "other"


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if len(args) != 3:
        sys.stderr.write(__doc__)
        return 64
    path, client_port, requests = args[0], int(args[1]), int(args[2])
    iterations = 0
    calls = Counter()          # (syscall, kind) -> count
    max_per_fd = Counter()     # kind -> most writes to one fd in one iteration
    per_iter = Counter()       # (fd) -> writes this iteration
    kinds = {}
    total = 0

    def close_iteration():
        for fd, n in per_iter.items():
            k = kinds[fd]
            max_per_fd[k] = max(max_per_fd[k], n)
        per_iter.clear()

    with open(path, errors="replace") as f:
        for line in f:
            m = CALL.match(line)
            if not m:
                continue
            name, fd, desc = m.group(1), int(m.group(2)), m.group(3)
            if line.rstrip().endswith("= -1 EAGAIN (Resource temporarily unavailable)"):
                name += "(EAGAIN)"
            total += 1
            if name.startswith("epoll"):
                close_iteration()
                iterations += 1
                continue
            k = kind_of(desc, client_port)
            kinds[fd] = k
            calls[(name, k)] += 1
            if name.startswith("write"):
                per_iter[fd] += 1
    close_iteration()
    if requests <= 0 or iterations == 0:
        print("no requests or no loop iterations in %s" % path)
        return 1
    client_calls = sum(n for (s, k), n in calls.items() if k == "client")
    print("%d requests, %d loop iterations (%.1f requests each)"
          % (requests, iterations, requests / iterations))
    print("system calls per request: %.2f on client sockets, %.2f in all "
          "(epoll_wait, log, write-ahead log and peer links included)"
          % (client_calls / requests, total / requests))
    print("per iteration: %.2f log writes, %.2f WAL writes, %.2f peer-link "
          "writes" % (calls[("write", "log")] / iterations,
                      calls[("write", "wal")] / iterations,
                      calls[("write", "peer")] / iterations))
    print("most writes to one descriptor in one iteration: client %d, "
          "peer %d, log %d, WAL %d"
          % (max_per_fd["client"], max_per_fd["peer"], max_per_fd["log"],
             max_per_fd["wal"]))
    detail = ", ".join("%s %s %d" % (s, k, n) for (s, k), n in sorted(calls.items()))
    print("calls: %s, epoll_wait %d" % (detail, iterations))
    if check and max(max_per_fd.values(), default=0) > 1:
        print("FAIL: an iteration wrote more than once to one descriptor")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
