"""herd start / status / kill / stop NAME / start NAME / restart / stop on
the default five-server graph, end to end."""

import re
import time

import herdsup
from herdsup import check, eq, show


def main(t):
    h = herdsup.Herd(t)
    try:
        out, took = h.start()
        for n in h.names:
            check(re.search(r"^%s\s+up\s+\d+\s+127\.0\.0\.1:%d" % (n, h.port[n]), out, re.M),
                  "herd start table lacks '%s up PID ADDRESS':\n%s" % (n, out))
        t.ok("herd start returns once all five are up (%.3fs) and prints the table" % took)

        st = h.status()
        check(isinstance(st["supervisor_pid"], int), "status has supervisor_pid")
        for s in st["servers"]:
            for key in ("name", "state", "pid", "address", "uptime_ms", "restarts", "last_exit"):
                check(key in s, "status --json lacks %s: %s" % (key, s))
            eq(s["state"], "up", "%s state" % s["name"])
            eq(s["restarts"], 0, "%s restarts" % s["name"])
        txt = h.ok_cmd("status")
        check(txt.startswith("NAME") and "RESTARTS" in txt and "LAST EXIT" in txt,
              "herd status table header: %s" % txt)
        t.ok("herd status and status --json")

        rc, out, err = h.cmd("start")
        check(rc != 0 and "already running" in err,
              "a second herd start must refuse: rc=%d err=%s" % (rc, err))
        t.ok("a second herd start says the herd is already running (exit %d)" % rc)

        for n in h.names:
            h.wait_links_up(n)
        at = h.iamat("Alford", b"kiwi", b"1621464827.959498503")
        for n in h.names:
            eq(h.whatsat_at(n, b"kiwi"), at, "WHATSAT at %s after IAMAT at Alford" % n)
        t.ok("an update at Alford is seen at every server")

        # kill -9: restarted and ready within 1.5 s, links back.
        old = h.server("Alford")
        since = len(h.log("Alford"))
        t0 = time.monotonic()
        h.ok_cmd("kill", "Alford")
        s = h.wait_state("Alford", "up", 5.0, lambda s: s["pid"] != old["pid"])
        took = time.monotonic() - t0
        check(took < 1.5, "Alford back up after %.3fs (limit 1.5s)" % took)
        eq(s["restarts"], 1, "restart count after kill")
        check(s["last_exit"] and "9" in s["last_exit"], "last exit names signal 9: %s" % s)
        check(not herdsup.pid_alive(old["pid"]), "old Alford pid still alive")
        h.wait_links_up("Alford", since=since, timeout=3.0)
        links_took = time.monotonic() - t0
        at2 = h.iamat("Alford", b"kiwi", b"1621464828.5")
        h.wait_knows("Hamilton", at2, timeout=2.0)
        t.ok("herd kill Alford: up again in %.3fs, links back in %.3fs, updates flow"
             % (took, links_took))

        # A partition on purpose: stop Parker; Hamilton is cut off.
        h.ok_cmd("stop", "Parker")
        s = h.server("Parker")
        eq(s["state"], "down", "Parker after herd stop Parker")
        check(s["pid"] is None, "stopped Parker has no pid: %s" % s)
        at3 = h.iamat("Bolden", b"emu", b"1700000000.25", b"-33.8688+151.2093")
        h.wait_knows("Alford", at3)   # Bolden - Powell - Alford
        h.wait_knows("Powell", at3)
        eq(h.whatsat_at("Hamilton", b"emu"), None, "Hamilton is cut off while Parker is down")
        eq(h.server("Parker")["state"], "down", "Parker stays down")
        t.ok("herd stop Parker: Parker stays down, updates flow around it, Hamilton is cut off")

        since_h = len(h.log("Hamilton"))
        out = h.ok_cmd("start", "Parker")
        check(re.search(r"^Parker\s+up\b", out, re.M), "herd start Parker answers up: %s" % out)
        h.wait_links_up("Parker", timeout=5.0)
        h.wait_links_up("Hamilton", since=since_h, timeout=5.0)
        h.wait_knows("Hamilton", at3, timeout=3.0)
        at4 = h.iamat("Bolden", b"emu", b"1700000001.25", b"-33.8688+151.2093")
        h.wait_knows("Hamilton", at4, timeout=2.0)
        t.ok("herd start Parker: back up; Hamilton catches up and gets later updates")

        old = h.server("Powell")
        out = h.ok_cmd("restart", "Powell")
        s = h.server("Powell")
        check(s["state"] == "up" and s["pid"] != old["pid"],
              "herd restart Powell: new pid and up: %s" % s)
        eq(s["restarts"], 0, "an operator's restart is not a crash restart")
        t.ok("herd restart Powell")

        rc, out, err = h.cmd("stop", "Nobody")
        check(rc == 1 and "Nobody" in err, "stop of an unknown server: rc=%d err=%s" % (rc, err))
        rc, out, err = h.cmd("kill", "Alford", "NOTASIGNAL")
        eq(rc, 64, "herd kill with a bad signal exits 64")
        t.ok("unknown server and bad signal are refused")

        log = open(h.log_dir + "/herd.log", "rb").read()
        check(re.search(rb"Alford pid \d+: up -> down \(signal 9", log),
              "supervisor log records the state change with pid and reason:\n%s" % show(log[-800:]))
        t.ok("supervisor log records state changes with name, pid, old -> new, reason")

        h.stop()
        t.ok("herd stop: exit 0, every process gone, socket and pid file removed")
    finally:
        h.close()


herdsup.run(main)
