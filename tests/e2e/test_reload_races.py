"""herd reload against servers that take their time: a reload that ends at
its deadline with a question still out, and a server added back while the
process a reload before removed is still stopping.

The servers are stand-ins (standin_server.py) that stay starting, ignore
SIGTERM or leave "reload" unanswered on cue. Three of them, X - Y - Z,
stop_grace_ms and ready_timeout_ms 120 s, then:

  deadline  Y removed while it ignores SIGTERM (it stays stopping), and X,
            whose neighbour Y was, starting: X is told once it is up,
            47 s into the reload, and never answers. The reload ends at its
            deadline (55 s: "still stopping", "no answer yet", exit 1) with
            that question out; the question's own timeout (10 s) ends it
            after the reload is gone: the supervisor lives on (under ASan,
            with no report)
  back      Y added back while its old process still stops: no second
            process of Y starts (the two would share its ports and data
            directory); the old one is killed, and only then the new one
            starts, and the reload says Y is up
  stop      herd stop while Y, removed again, still stops: X and Z stop,
            the supervisor waits for Y, and once Y is killed it exits
            cleanly (exit 0 from herd stop, the pid file removed)

About 70 s.

    test_reload_races.py --server BIN --herd BIN
"""

import os
import signal
import stat
import sys
import threading
import time

import herdsup
import herdtest
from herdsup import check, eq, wait_until

GRACE_MS = 120000
RELOAD_DEADLINE_S = 55   # RELOAD_DEADLINE_MS (reloader.h)
ASK_S = 10               # RELOAD_ASK_MS


def write_conf(h, names, links):
    lines = ["# written by e2e.reload_races"]
    for n in names:
        lines.append("server %s 127.0.0.1:%d peer 127.0.0.1:%d"
                     % (n, h.port[n], h.peer_port[n]))
    for a, b in links:
        lines.append("link %s %s" % (a, b))
    lines += ["server_bin %s" % h.standin, "places offline", "restart_first_ms 100",
              "stop_grace_ms %d" % GRACE_MS, "ready_timeout_ms %d" % GRACE_MS,
              "log_max_mb 0"]
    tmp = h.conf + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, h.conf)


class Box:
    """The stand-ins' files (standin_server.py)."""

    def __init__(self, path):
        self.path = path
        os.makedirs(path, exist_ok=True)

    def set(self, name, what, on=True):
        p = os.path.join(self.path, "%s.%s" % (name, what))
        if on:
            open(p, "w").close()
        elif os.path.exists(p):
            os.unlink(p)

    def pids(self, name):
        try:
            with open(os.path.join(self.path, name + ".pids")) as f:
                return [int(x) for x in f.read().split()]
        except FileNotFoundError:
            return []

    def dup(self, name):
        return os.path.exists(os.path.join(self.path, name + ".dup"))


def reload_in_thread(h):
    """herd reload in a thread (it waits for the reload's end); join it
    for (rc, stdout, stderr)."""
    out = {}
    th = threading.Thread(target=lambda: out.update(r=h.cmd("reload", timeout=90)),
                          daemon=True)
    th.start()

    def join():
        th.join(90)
        check("r" in out, "herd reload did not return")
        return out["r"]
    return join


def state(h, name):
    for s in h.status()["servers"]:
        if s["name"] == name:
            return s["state"]
    return None


def main(t):
    box = Box(os.path.join(t.tmpdir, "standin"))
    os.environ["STANDIN_DIR"] = box.path
    standin = os.path.join(t.tmpdir, "standin.sh")
    with open(standin, "w") as f:
        f.write("#!/bin/sh\nexec %s %s \"$@\"\n"
                % (sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                "standin_server.py")))
    os.chmod(standin, stat.S_IRWXU)
    all3 = ["X", "Y", "Z"]
    links = [("X", "Y"), ("Y", "Z")]
    h = herdsup.Herd(t, names=all3, links=links)
    h.standin = standin
    write_conf(h, all3, links)
    try:
        h.start()
        for n in all3:
            eq(state(h, n), "up", "%s at the start" % n)
        case_deadline(t, h, box)
        case_back(t, h, box)
        case_stop(t, h, box)
    finally:
        h.close()
        for n in all3:   # a stand-in that ignores SIGTERM outlives h.close()
            for pid in box.pids(n):
                if herdsup.pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)


def case_deadline(t, h, box):
    # X starting (held back), Y deaf to SIGTERM, X mute to "reload".
    box.set("X", "hold")
    box.set("X", "mute")
    box.set("Y", "deaf")
    h.ok_cmd("kill", "X", "KILL")
    wait_until(lambda: state(h, "X") == "starting" and len(box.pids("X")) == 2, 10,
               "X to be restarted and held starting")
    h.old_y = box.pids("Y")[-1]
    write_conf(h, ["X", "Z"], [])
    t0 = time.monotonic()
    join = reload_in_thread(h)
    wait_until(lambda: state(h, "Y") is None, 10, "Y to leave herd status")
    check(herdsup.pid_alive(h.old_y), "Y (pid %d) exited despite ignoring SIGTERM" % h.old_y)
    # X comes up late enough that its question outlives the reload.
    time.sleep(max(0.0, t0 + RELOAD_DEADLINE_S - 8 - time.monotonic()))
    box.set("X", "hold", False)
    wait_until(lambda: state(h, "X") == "up", 5, "X up")
    rc, out, err = join()
    took = time.monotonic() - t0
    eq(rc, 1, "the reload's exit code (%r %r)" % (out, err))
    check("removed Y (its data directory stays): still stopping after %d s"
          % RELOAD_DEADLINE_S in out, "the reply on Y: %r" % out)
    check("no answer yet after %d s" % RELOAD_DEADLINE_S in out,
          "the reply on X: %r" % out)
    # The question to X times out now, its reload long gone.
    time.sleep(max(0.0, t0 + RELOAD_DEADLINE_S - 8 + ASK_S + 2 - time.monotonic()))
    check(herdsup.pid_alive(h.supervisor_pid), "the supervisor died after the reload")
    eq(state(h, "Z"), "up", "Z after the reload")
    t.ok("a reload ended by its deadline (%.0f s) with a question out: the question's "
         "timeout afterwards leaves the supervisor running" % took)


def case_back(t, h, box):
    box.set("X", "mute", False)
    box.set("Y", "deaf", False)   # the new Y stops when told
    old = h.old_y
    check(herdsup.pid_alive(old), "the old Y (pid %d) is gone already" % old)
    write_conf(h, ["X", "Y", "Z"], [("X", "Y"), ("Y", "Z")])
    join = reload_in_thread(h)
    wait_until(lambda: state(h, "Y") is not None, 10, "Y back in herd status")
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        check(not box.dup("Y") and box.pids("Y") == [old],
              "a second Y started while the old one (pid %d) still runs: pids %s%s"
              % (old, box.pids("Y"), ", one refused" if box.dup("Y") else ""))
        time.sleep(0.1)
    eq(state(h, "Y"), "stopping", "Y while its old process stops")
    os.kill(old, signal.SIGKILL)
    rc, out, err = join()
    eq(rc, 0, "the reload's exit code (%r %r)" % (out, err))
    pids = box.pids("Y")
    eq(len(pids), 2, "Y's processes: %s" % pids)
    check("added Y" in out and "up (pid %d)" % pids[1] in out, "the reply on Y: %r" % out)
    check(not box.dup("Y"), "a Y was refused for sharing the name")
    eq(state(h, "Y"), "up", "Y after the reload")
    t.ok("Y added back while its old process stopped: no second process until the "
         "old one exited, then up")


def case_stop(t, h, box):
    box.set("Y", "deaf")
    y = box.pids("Y")[-1]
    others = [box.pids(n)[-1] for n in ("X", "Z")]
    write_conf(h, ["X", "Z"], [])
    log = os.path.join(h.log_dir, "herd.log")
    since = os.path.getsize(log)
    os.kill(h.supervisor_pid, signal.SIGHUP)   # the reload waits for Y
    wait_until(lambda: state(h, "Y") is None, 10, "Y to leave herd status")
    out = {}
    th = threading.Thread(target=lambda: out.update(r=h.cmd("stop", timeout=60)),
                          daemon=True)
    th.start()
    wait_until(lambda: not [p for p in others if herdsup.pid_alive(p)], 10,
               "X and Z to stop")
    check(herdsup.pid_alive(y) and herdsup.pid_alive(h.supervisor_pid),
          "Y (deaf) and the supervisor still run")
    os.kill(y, signal.SIGKILL)
    th.join(60)
    check("r" in out, "herd stop did not return")
    rc, o, e = out["r"]
    h.started = False
    eq(rc, 0, "herd stop's exit code (%r %r)" % (o, e))
    wait_until(lambda: not herdsup.pid_alive(h.supervisor_pid), 10, "the supervisor to exit")
    check(not os.path.exists(os.path.join(h.run_dir, "herd.pid")), "the pid file is left")
    with open(log, "rb") as f:
        f.seek(since)
        tail = f.read()
    check(b"supervisor exiting" in tail, "herd.log: %s" % herdtest.show(tail[-800:]))
    t.ok("herd stop while a removed server still stops: the supervisor waits for it "
         "and exits cleanly once it is gone")


if __name__ == "__main__":
    herdsup.run(main, watchdog=200)
