"""Durability: the write-ahead log keeps every acknowledged record across a
SIGKILL and a full herd stop/start; a torn tail is cut, not fatal; two
servers cannot share a data directory; a reconnect with nothing changed
sends no records (the HELLO digests agree)."""

import os
import re
import signal
import time

import herdsup
import herdtest
from herdsup import check, eq


def main(t):
    # A lone server: nothing but its own log can bring a record back.
    solo = herdsup.Herd(t, names=["Solo"], links=[], subdir="solo")
    try:
        solo.start()
        ats = [solo.iamat("Solo", b"c%02d" % i, b"1700000000.%d" % i) for i in range(40)]
        pid = solo.server("Solo")["pid"]
        solo.ok_cmd("kill", "Solo")   # SIGKILL right after the replies
        solo.wait_state("Solo", "up", 5.0, lambda s: s["pid"] != pid)
        for at in ats:
            eq(solo.whatsat_at("Solo", at.split(b" ")[3]), at, "record after SIGKILL")
        t.ok("SIGKILL right after 40 AT replies: all 40 records replayed")

        solo.ok_cmd("stop", "Solo")
        wal = os.path.join(solo.dir, "data", "Solo", "records.wal")
        size = os.path.getsize(wal)
        with open(wal, "ab") as f:
            f.write(b"\x30\x00\x00\x00garbage")   # a frame cut short
        solo.ok_cmd("start", "Solo")
        solo.wait_log("Solo", rb"cut \d+ bytes of a torn")
        eq(os.path.getsize(wal) <= size, True, "torn tail removed")
        for at in ats:
            eq(solo.whatsat_at("Solo", at.split(b" ")[3]), at, "record after a torn tail")
        t.ok("a torn tail is cut and logged; the server starts with every record")

        rc, out, err = t.run_once(["Other", "--listen", "127.0.0.1:%d" % herdtest.free_port(),
                                   "--peer-listen", "127.0.0.1:%d" % herdtest.free_port(),
                                   "--data-dir", os.path.dirname(wal)])
        eq(rc, 78, "a second server on the same data directory")
        check(b"in use by another server" in err, "clear message: %r" % err)
        t.ok("a second server on the same data directory exits 78: %s"
             % err.decode().strip())
        solo.stop()
    finally:
        solo.close()

    h = herdsup.Herd(t)
    try:
        h.start()
        for n in h.names:
            h.wait_links_up(n)
        ats = []
        for i in range(60):
            ats.append(h.iamat(h.names[i % 5], b"k%02d" % i, b"1700000100.%d" % i))
        for at in ats:
            h.wait_knows("Hamilton", at)
        h.stop()
        h.start()
        for n in h.names:
            for at in ats:
                eq(h.whatsat_at(n, at.split(b" ")[3]), at, "%s after herd stop/start" % n)
        t.ok("herd stop then herd start: all 60 records on all 5 servers")

        for n in h.names:
            h.wait_links_up(n)
        since = len(h.log("Bolden"))
        pid = h.server("Bolden")["pid"]
        h.ok_cmd("restart", "Bolden")
        m = h.wait_log("Bolden", rb"link (Parker|Powell) up \([^)]*\)", since=since)
        h.wait_links_up("Bolden", since=since)
        tail = h.log("Bolden")[since:]
        check(b"in sync" in tail and b"sending every record" not in tail,
              "a restart with nothing changed must not resend records: %r" % tail[-600:])
        t.ok("a restarted server whose log is current: links come up 'in sync', no records sent")
        h.stop()
    finally:
        h.close()


herdsup.run(main)
