"""No orphans: SIGKILL of the supervisor takes every server down with it,
and a later herd start works. Also --foreground with Ctrl-C, and --only."""

import os
import re
import select
import signal
import subprocess
import time

import herdsup
import herdtest
from herdsup import check, eq, fail, wait_until


def main(t):
    h = herdsup.Herd(t)
    try:
        h.start()
        pids = [s["pid"] for s in h.status()["servers"]]
        sup = h.supervisor_pid
        t0 = time.monotonic()
        os.kill(sup, signal.SIGKILL)
        wait_until(lambda: not herdsup.pid_alive(sup), 5, "the supervisor to die")
        wait_until(lambda: not [p for p in pids if herdsup.pid_alive(p)], 5,
                   "every server to exit after the supervisor was killed")
        t.ok("SIGKILL of the supervisor: all five servers gone within %.3fs"
             % (time.monotonic() - t0))
        rc, out, err = h.cmd("status")
        check(rc == 1 and "not running" in err, "status with no supervisor: rc=%d %s" % (rc, err))
        check(os.path.exists(os.path.join(h.run_dir, "herd.sock")),
              "(the killed supervisor left its socket, as expected)")
        h.start()
        eq([s["state"] for s in h.status()["servers"]], ["up"] * 5, "states after restart")
        t.ok("a later herd start cleans up the stale socket and pid file and works")
        h.stop()

        # --foreground: attached, logs on stderr, Ctrl-C stops the herd.
        env = herdtest.server_env()
        errf = open(os.path.join(t.tmpdir, "foreground.stderr"), "wb")
        p = subprocess.Popen([h.herd_bin, "-c", h.conf, "start", "--foreground"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=errf, env=env, cwd=h.dir)
        try:
            out = b""
            deadline = time.monotonic() + 10
            while out.count(b"\n") < 6:
                left = deadline - time.monotonic()
                if left <= 0:
                    fail("--foreground printed no status table: %r" % out)
                r, _, _ = select.select([p.stdout], [], [], left)
                if r:
                    chunk = os.read(p.stdout.fileno(), 4096)
                    if not chunk:
                        fail("--foreground exited early (%s): %r" % (p.poll(), out))
                    out += chunk
            check(re.search(rb"^Powell\s+up\b", out, re.M), "table: %r" % out)
            st = h.status()
            h.supervisor_pid = st["supervisor_pid"]
            eq(st["supervisor_pid"], p.pid, "the foreground process is the supervisor")
            pids = [s["pid"] for s in st["servers"]]
            p.send_signal(signal.SIGINT)
            rc = p.wait(15)
            eq(rc, 0, "herd start --foreground exit code after Ctrl-C")
            wait_until(lambda: not [q for q in pids if herdsup.pid_alive(q)], 5,
                       "servers to exit after Ctrl-C")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            errf.close()
        err = open(os.path.join(t.tmpdir, "foreground.stderr"), "rb").read()
        check(b"Alford pid" in err and b"-> up (ready)" in err,
              "--foreground logs to stderr: %r" % err[-500:])
        t.ok("herd start --foreground: table on stdout, log on stderr, Ctrl-C stops all, exit 0")

        # --only: one supervisor per machine runs its share.
        h.start("--only", "Alford,Powell")
        st = h.status()
        eq(sorted(s["name"] for s in st["servers"] if s["managed"]), ["Alford", "Powell"],
           "--only servers")
        h.wait_links_up("Alford", names=["Powell"])
        rc, out, err = h.cmd("stop", "Parker")
        check(rc == 1 and "not run by this supervisor" in err, "stop of a server not run here: %s" % err)
        h.stop()
        t.ok("herd start --only Alford,Powell runs just those two")
    finally:
        h.close()


herdsup.run(main)
