#!/usr/bin/env python3
"""A killed relay comes back and flooding through it resumes.

Three servers in a line, Alford - Bolden - Hamilton.  Bolden is killed with
SIGKILL; Alford still answers.  Bolden is started again with the same
arguments; once its links are up, a new IAMAT at Alford reaches Hamilton
through it.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import time

import herdtest
from herdtest import check, eq, fail, split_at

PROMPT = 1.0


def known_at(server, cid, want, window, label):
    """Poll WHATSAT at `server` until it answers with AT line `want`."""
    t0 = time.monotonic()
    with server.connect() as c:
        while True:
            c.send(b"WHATSAT %s 10 0\n" % cid)
            first, body = c.read_whatsat()
            if first == want:
                return time.monotonic() - t0
            if time.monotonic() - t0 > window:
                fail("%s: %s did not get %s within %.1f s (last answer %s)"
                     % (label, server.name, herdtest.show(want), window,
                        herdtest.show(first if first != b"?" else body)))
            time.sleep(0.01)


def iamat(server, cid, loc, ctime):
    with server.connect() as c:
        t0 = time.monotonic()
        c.send(b"IAMAT %s %s %s\n" % (cid, loc, ctime))
        at = c.read_line()
        dt = time.monotonic() - t0
    eq(split_at(at)[3], cid, "AT client id from %s" % server.name)
    return at, dt


def main(t):
    fake = t.fakeplaces("ok")
    a = t.server("Alford", places=fake)
    b = t.server("Bolden", places=fake)
    c = t.server("Hamilton", places=fake)
    t.link(a, b)
    t.link(b, c)
    t.start_all()
    for s in (a, b, c):
        s.wait_links_up()
    t.ok("line Alford - Bolden - Hamilton: links up")

    now = int(time.time())
    at0, _ = iamat(a, b"walker", b"+34.068930-118.445127", b"%d.1" % now)
    took = known_at(c, b"walker", at0, 2.0, "before the kill")
    t.ok("an IAMAT at Alford reaches Hamilton through Bolden (%.0f ms)" % (took * 1000))

    a_log = a.log_size()
    c_log = c.log_size()
    b.kill()
    t.ok("Bolden killed with SIGKILL (exit %s)" % b.returncode)
    a.wait_log(rb"link Bolden down", 5, since=a_log)
    c.wait_log(rb"link Bolden down", 5, since=c_log)
    t.ok("Alford and Hamilton log the link to Bolden down")

    at1, dt = iamat(a, b"walker", b"+35.1-119.2", b"%d.2" % now)
    check(dt < PROMPT, "IAMAT at Alford took %.2f s while Bolden is down" % dt)
    check(at1 != at0, "a newer IAMAT must give a new AT line")
    t.ok("Alford answers while Bolden is down (%.0f ms)" % (dt * 1000))

    a_log = a.log_size()
    c_log = c.log_size()
    b_log = b.log_size()
    b.start()
    b.wait_links_up(["Alford", "Hamilton"], timeout=15, since=b_log)
    a.wait_log(rb"link Bolden up", 15, since=a_log)
    c.wait_log(rb"link Bolden up", 15, since=c_log)
    t.ok("Bolden restarted with the same arguments; all its links are up again")

    at2, _ = iamat(a, b"walker", b"+36.5-120.75", b"%d.3" % now)
    took = known_at(c, b"walker", at2, 2.0, "after the restart")
    t.ok("a later IAMAT at Alford reaches Hamilton through the restarted Bolden (%.0f ms)"
         % (took * 1000))
    took = known_at(b, b"walker", at2, 2.0, "after the restart")
    t.ok("the restarted Bolden holds the later record too")


if __name__ == "__main__":
    herdtest.run(main)
