"""herd check [-c FILE]: validates a herd.conf and starts nothing.

Exit 0 with "herd: FILE: ok: N servers, M links" on stdout for a valid file
(the repository's herd.conf among them); exit 78 for an invalid one, each
problem a line "herd: FILE:LINE: what" on stderr naming the line that is
wrong: syntax errors (from the parser) and what the servers or the
supervisor would refuse only at start (an unknown places provider, half a
set of TLS files, a link timeout no longer than the heartbeat, an http
address that is a server's, a run_dir too long for a control socket). An
http that is no address, and a run_dir too long for the supervisor's own
socket, are refused as herd start refuses them, naming their lines too.
Files named but missing on this machine and a graph in pieces
are warnings (exit 0). Each refusal the server makes too is checked against
the real herd-server. Nothing is created: no run, log or data directory, no
process.
"""

import os
import subprocess

import herdsup
import herdtest
from herdsup import check, eq

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_check(t, args, env_conf=None, cwd=None):
    env = herdtest.server_env()
    env.pop("HERD_CONF", None)
    if env_conf is not None:
        env["HERD_CONF"] = env_conf
    try:
        p = subprocess.run([t.args.herd] + args, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=20, env=env,
                           cwd=cwd or t.tmpdir)
    except subprocess.TimeoutExpired:
        herdtest.fail("herd %s did not finish within 20 s" % " ".join(args))
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    t.log("herd %s -> %d\n%s%s" % (" ".join(args), p.returncode, out, err))
    return p.returncode, out, err


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def server_refuses(t, conf, name):
    """herd-server NAME --config conf: refused at start (exit 64 or 78,
    within 10 s), as check said. A server that starts is stopped."""
    env = herdtest.server_env()
    p = subprocess.Popen([t.binary, name, "--config", conf, "--control", "none",
                          "--log-file", "/dev/null"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env, cwd=t.tmpdir)
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        herdtest.fail("herd-server started with %s, which herd check refused" % conf)
    check(p.returncode in (64, 78), "herd-server on %s: exit %d, expected 64 or 78: %r"
          % (conf, p.returncode, err))


def main(t):
    d = os.path.join(t.tmpdir, "conf")
    os.makedirs(d)
    p = herdtest.free_ports(6)
    head = ("# a herd of two\n"
            "server A 127.0.0.1:%d peer 127.0.0.1:%d\n"
            "server B 127.0.0.1:%d peer 127.0.0.1:%d\n"
            "link A B\n" % tuple(p[:4]))

    # The repository's own herd.conf, by -c before or after the command
    # and by $HERD_CONF.
    repo_conf = os.path.join(REPO, "herd.conf")
    for args, env_conf in ((["-c", repo_conf, "check"], None),
                           (["check", "-c", repo_conf], None),
                           (["check"], repo_conf)):
        rc, out, err = run_check(t, args, env_conf)
        eq(rc, 0, "herd %s exit code (stderr %r)" % (" ".join(args), err))
        eq(out, "herd: %s: ok: 5 servers, 5 links\n" % repo_conf, "herd check's line")
        eq(err, "", "herd check's stderr on the repository's herd.conf")
    t.ok("the repository's herd.conf passes (-c before or after check, or $HERD_CONF)")

    # Valid: nothing made beside it, no process left.
    good = write(d, "good.conf", head + "places offline\nfsync batch\n")
    before = sorted(os.listdir(d))
    rc, out, err = run_check(t, ["check", "-c", good])
    eq(rc, 0, "a valid herd.conf")
    check(out.startswith("herd: %s: ok: 2 servers, 1 link\n" % good), "ok line: %r" % out)
    eq(sorted(os.listdir(d)), before, "files beside herd.conf after herd check")
    t.ok("a valid file: exit 0, one line, no run/log/data directory made")

    # Syntax errors: the parser's line.
    for i, (text, line, word) in enumerate((
            (head + "frobnicate 1\n", 5, "unknown keyword"),
            (head + "max_line lots\n", 5, "not a number"),
            ("server A 127.0.0.1:%d\nlink A Zed\n" % p[0], 2, "unknown server"),
            ("# nothing\n", None, "no servers"))):
        path = write(d, "syntax%d.conf" % i, text)
        rc, out, err = run_check(t, ["check", "-c", path])
        eq(rc, 78, "syntax case %d exit code" % i)
        where = "%s:%d:" % (path, line) if line else "%s:" % path
        check(where in err and word in err, "syntax case %d: want %r and %r in %r"
              % (i, where, word, err))
        eq(out, "", "stdout of a refused file")
    t.ok("syntax errors: exit 78, the line named")

    # What the servers refuse at start, with the line that sets it.
    # A run_dir where the supervisor's herd.sock fits a Unix socket's
    # address (107 bytes) but a server's longer NAME.sock does not.
    long_name = "S" * 30
    long_run = os.path.join(d, "r" * max(1, 92 - len(d) - 1))
    check(len(long_run) + len("/herd.sock") <= 107 < len(long_run) + len(long_name) + 6,
          "the temporary directory's path is too long for the run_dir case: %s" % d)
    cases = [
        ("places", head + "places nowhere\n", 5, "unknown places provider 'nowhere'", True),
        ("tls", head + "\ntls_cert /x/a.pem\ntls_key /x/a.key\n", 6, "go together", True),
        ("link timing", head + "link_ping_ms 800\nlink_timeout_ms 800\n", 6,
         "link_timeout_ms (800) must be longer than link_ping_ms (800)", True),
        ("link ping only", head + "link_ping_ms 5000\n", 5,
         "must be longer than link_ping_ms (5000)", True),
        ("http clash", head + "http 127.0.0.1:%d\n" % p[3], 5,
         "is an address of server 'B' (line 3)", False),
        ("run_dir", head + "server %s 127.0.0.1:%d peer 127.0.0.1:%d\nrun_dir %s\n"
         % (long_name, p[4], p[5], long_run), 5,
         "control socket of '%s' in run_dir" % long_name, False),
    ]
    for what, text, line, word, server_too in cases:
        path = write(d, what.replace(" ", "_") + ".conf", text)
        rc, out, err = run_check(t, ["check", "-c", path])
        eq(rc, 78, "%s: exit code (stderr %r)" % (what, err))
        check(("%s:%d: " % (path, line)) in err and word in err,
              "%s: want line %d and %r in %r" % (what, line, word, err))
        check(err.rstrip("\n").endswith("%s: 1 error" % path), "%s: the count: %r" % (what, err))
        eq(out, "", "%s: stdout" % what)
        if server_too:
            server_refuses(t, path, "A")
    check(not os.path.exists(long_run), "herd check made the run_dir")
    t.ok("%d start-time refusals: exit 78 naming the line; the server refuses them too"
         % len(cases))

    # What herd start refuses before the checks run: an http that is no
    # address, a run_dir where even the supervisor's herd.sock does not fit.
    for what, text, line, word in (
            ("http malformed", head + "http localhost\n", 5, "http 'localhost' is neither"),
            ("supervisor socket", head + "\nrun_dir /%s\n" % ("r" * 110), 6,
             "herd.sock is too long for a Unix socket")):
        path = write(d, what.replace(" ", "_") + ".conf", text)
        rc, out, err = run_check(t, ["check", "-c", path])
        eq(rc, 78, "%s: exit code (stderr %r)" % (what, err))
        check(("%s:%d: " % (path, line)) in err and word in err,
              "%s: want line %d and %r in %r" % (what, line, word, err))
    t.ok("refused by herd start's own checks: exit 78 naming the line")

    # Several problems: each reported, counted.
    path = write(d, "many.conf", head + "places nowhere\nlink_ping_ms 9000\n"
                 "http 127.0.0.1:%d\n" % p[0])
    rc, out, err = run_check(t, ["check", "-c", path])
    eq(rc, 78, "several problems: exit code")
    for line in (5, 6, 7):
        check("%s:%d: " % (path, line) in err, "line %d reported: %r" % (line, err))
    check("3 errors" in err, "three errors counted: %r" % err)
    t.ok("several problems: each line reported")

    # Warnings: exit 0, said on stderr.
    secret = os.path.join(d, "secret")
    with open(secret, "w") as f:
        f.write("0123456789abcdef0123456789abcdef\n")
    os.chmod(secret, 0o644)
    text = ("server A 127.0.0.1:%d peer 127.0.0.1:%d\n"
            "server B 127.0.0.1:%d peer 127.0.0.1:%d\n" % tuple(p[:4])
            + "secret_file %s\ntls_cert /nonexistent/c.pem\ntls_key /nonexistent/c.key\n"
              "tls_ca /nonexistent/ca.pem\n" % secret)
    path = write(d, "warn.conf", text)
    rc, out, err = run_check(t, ["check", "-c", path])
    eq(rc, 0, "warnings only: exit code (stderr %r)" % err)
    check("ok: 2 servers, 0 links, 5 warnings" in out, "warnings counted: %r" % out)
    for want in ("%s: warning: the graph is not connected" % path,
                 "%s:3: warning: secret_file %s is open to group or others (mode 0644)"
                 % (path, secret),
                 "%s:4: warning: tls_cert /nonexistent/c.pem: No such file" % path,
                 "%s:6: warning: tls_ca" % path):
        check(want in err, "want %r in %r" % (want, err))
    t.ok("missing files, a secret open to others, a graph in pieces: warnings, exit 0")

    # Usage.
    rc, out, err = run_check(t, ["check", "extra", "-c", good])
    eq(rc, 64, "herd check with an argument")
    rc, out, err = run_check(t, ["check", "-c", os.path.join(d, "absent.conf")])
    eq(rc, 78, "herd check of a missing file")
    check("absent.conf" in err, "missing file named: %r" % err)
    rc, out, err = run_check(t, ["help", "check"])
    eq(rc, 0, "herd help check")
    check(out.startswith("usage: herd check"), "herd help check: %r" % out)
    t.ok("usage: an argument is 64, a missing file 78, herd help check")


herdsup.run(main, watchdog=60)
