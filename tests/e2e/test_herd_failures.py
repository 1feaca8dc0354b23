"""Restart policy: a server that exits at once is marked failed after the
crash-loop limit while the others keep running; exit 78 is failed at once;
herd start NAME tries a failed server again."""

import os
import stat
import time

import herdsup
from herdsup import check, eq


def wrapper(t, path, behaviour):
    """A server_bin that misbehaves for some names and runs the real
    herd-server for the others (exec keeps the pid and the fds)."""
    lines = ["#!/bin/sh", 'case "$1" in']
    for name, code in behaviour.items():
        lines.append('  %s) echo "%s refuses to run" >&2; exit %d ;;' % (name, name, code))
    lines.append("esac")
    lines.append('exec "%s" "$@"' % t.binary)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def main(t):
    wrap = os.path.join(t.tmpdir, "server-wrapper.sh")
    wrapper(t, wrap, {"Bolden": 3, "Hamilton": 78})
    h = herdsup.Herd(t, server_bin=wrap,
                     extra_conf="restart_first_ms 10\nrestart_max_ms 40\n"
                                "crash_limit 4\ncrash_window_ms 60000\n")
    try:
        t0 = time.monotonic()
        rc, out, err = h.cmd("start")
        took = time.monotonic() - t0
        check(rc == 1, "herd start with failing servers exits 1, got %d" % rc)
        check("Bolden" in err and "failed" in err, "start report names the failure:\n%s" % err)
        h.started = True
        st = h.status()
        h.supervisor_pid = st["supervisor_pid"]
        by = {s["name"]: s for s in st["servers"]}
        eq(by["Bolden"]["state"], "failed", "Bolden (exits 3 every time)")
        eq(by["Bolden"]["restarts"], 4, "Bolden restarts before giving up (crash_limit 4)")
        check("restarts within" in by["Bolden"]["note"], "Bolden note: %s" % by["Bolden"])
        eq(by["Hamilton"]["state"], "failed", "Hamilton (exit 78)")
        eq(by["Hamilton"]["restarts"], 0, "exit 78 is not retried")
        eq(by["Hamilton"]["last_exit"], "exit 78", "Hamilton last exit")
        for n in ("Alford", "Parker", "Powell"):
            eq(by[n]["state"], "up", n)
        t.ok("crash loop -> failed after 4 restarts, exit 78 -> failed at once, "
             "the others up (start took %.3fs)" % took)

        h.wait_links_up("Alford")
        at = h.iamat("Alford", b"kiwi", b"1621464827.5")
        h.wait_knows("Powell", at)
        h.wait_knows("Parker", at)
        t.ok("the servers that run keep serving and flooding")

        rc, out, err = h.cmd("start", "Hamilton")
        eq(rc, 1, "herd start Hamilton (still exits 78) fails")
        eq(h.server("Hamilton")["state"], "failed", "Hamilton stays failed")
        log = open(os.path.join(h.log_dir, "Hamilton.log"), "rb").read()
        check(b"Hamilton refuses to run" in log, "a server's stderr lands in its log")
        t.ok("herd start of a failed server tries again and reports the failure")

        # Make Bolden healthy again: the operator's start forgets the history.
        wrapper(t, wrap, {"Hamilton": 78})
        out = h.ok_cmd("start", "Bolden")
        eq(h.server("Bolden")["state"], "up", "Bolden after the fix")
        t.ok("herd start Bolden after the fix brings it up")

        h.stop()
        t.ok("herd stop with a failed server: exit 0, nothing left")
    finally:
        h.close()


herdsup.run(main)
