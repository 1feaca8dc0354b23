"""herd.conf errors name their line and exit 78; usage errors exit 64;
--help works for the command and each subcommand; a disconnected graph
starts with a warning."""

import os

import herdsup
from herdsup import check, eq


CASES = [
    ("unknown keyword", "server A 127.0.0.1:{p0}\nfrobnicate 1\n", 2, "unknown keyword"),
    ("duplicate name", "server A 127.0.0.1:{p0}\nserver A 127.0.0.1:{p1}\n", 2, "duplicate"),
    ("duplicate port", "server A 127.0.0.1:{p0}\nserver B 127.0.0.1:{p0}\n", 2, "reuses an address"),
    ("peer port clash", "server A 127.0.0.1:{p0} peer 127.0.0.1:{p1}\n"
                        "server B 127.0.0.1:{p1}\n", 2, "reuses an address"),
    ("link to unknown", "server A 127.0.0.1:{p0}\n\n# c\nlink A Zed\n", 4, "unknown server"),
    ("self link", "server A 127.0.0.1:{p0}\nlink A A\n", 2, "itself"),
    ("malformed address", "# comment\nserver A 127.0.0.1-{p0}\n", 2, "malformed address"),
    ("port out of range", "server A 127.0.0.1:70000\n", 1, "malformed address"),
    ("bad number", "server A 127.0.0.1:{p0}\nmax_line lots\n", 2, "not a number"),
]


def main(t):
    import herdtest
    p0, p1 = herdtest.free_ports(2)
    d = os.path.join(t.tmpdir, "conf")
    os.makedirs(d)
    for i, (what, text, line, word) in enumerate(CASES):
        path = os.path.join(d, "bad%d.conf" % i)
        with open(path, "w") as f:
            f.write(text.format(p0=p0, p1=p1))
        h = herdsup.Herd.__new__(herdsup.Herd)
        h.t, h.herd_bin, h.conf, h.dir = t, t.args.herd, path, d
        rc, out, err = h.cmd("start")
        eq(rc, 78, "%s: exit code" % what)
        check(("bad%d.conf:%d:" % (i, line)) in err and word in err,
              "%s: message should name line %d and say '%s': %r" % (what, line, word, err))
    t.ok("each herd.conf error names its line and exits 78 (%d cases)" % len(CASES))

    h = herdsup.Herd(t, names=["A", "B", "C"], links=[("A", "B")])
    try:
        for args, code in ((["frobnicate"], 64), (["kill"], 64), (["status", "--bogus"], 64),
                           (["restart"], 64), (["start", "--nope"], 64), ([], 64)):
            rc, out, err = h.cmd(*args)
            eq(rc, code, "herd %s exit code" % " ".join(args))
            check(err.strip() and "\n" not in err.strip(), "one-line message for herd %s: %r"
                  % (" ".join(args), err))
        for args in (["--help"], ["start", "--help"], ["stop", "--help"], ["status", "--help"],
                     ["kill", "--help"], ["restart", "--help"], ["help", "start"]):
            rc, out, err = h.cmd(*args, conf=False)
            eq(rc, 0, "herd %s exit code" % " ".join(args))
            check(out.startswith("usage: herd"), "herd %s prints usage: %r" % (" ".join(args), out))
        t.ok("usage errors exit 64 with one line; --help for the command and each subcommand")

        rc, out, err = h.cmd("start")
        eq(rc, 0, "a disconnected herd starts")
        h.started = True
        h.supervisor_pid = h.status()["supervisor_pid"]
        check("not connected" in err, "warning about the disconnected graph: %r" % err)
        t.ok("a disconnected graph is accepted with a warning")
        h.stop()
    finally:
        h.close()


herdsup.run(main)
