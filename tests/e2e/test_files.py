"""File-system safety of herd-server and herd.

Directories: a server's data directory, the directory of its control socket
and that of its log file, and the supervisor's run_dir, log_dir and
data_dir are made 0700 (each directory made, parents too) and refused
(exit 78, one line naming the directory and why) when group or others may
write them or another user owns them.

Files: the write-ahead log (records.wal), its LOCK and its compaction file
(records.wal.tmp), the cuts file and its .tmp, the supervisor's pid file
and herd.log are created 0600 and never opened through a symbolic link: a
link planted in place of one makes the open fail clearly (or, for a .tmp
file, is removed), and the file it points to is left exactly as it was.

Secrets: a secret file (--secret-file, herd.conf's secret_file, or the
supervisor's own run/secret found already there) must be a regular file,
not a link, owned by the user, mode 0600 or tighter: else exit 78.

And the longest line allowed (--max-line 1048576) makes a record the
write-ahead log reads back: it survives a restart, with what came after it.

Cases that chown a directory or file to another user (uid 65534) need root
and are skipped otherwise.
"""

import os
import re
import signal
import socket
import stat

import herdsup
import herdtest
from herdsup import check, eq, fail, show

OTHER_UID = 65534
IS_ROOT = os.geteuid() == 0


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def make_victim(t, name, data=b"precious: not the server's\n"):
    """A file a planted link points at; its state, to compare later."""
    path = os.path.join(t.tmpdir, "victims", name)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    return path, victim_state(path)


def victim_state(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        return (f.read(), stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_size)


def check_victim(path, before, what):
    eq(victim_state(path), before, "%s: the file the link points at" % what)


def server_argv(name, *extra):
    port, pport = herdtest.free_ports(2)
    return [name, "--listen", "127.0.0.1:%d" % port,
            "--peer-listen", "127.0.0.1:%d" % pport,
            "--places", "offline"] + list(extra)


def refused(t, argv, pattern, what):
    """herd-server exits 78 with one stderr line matching pattern."""
    rc, _, err = t.run_once(argv, timeout=10.0)
    text = err.decode(errors="replace")
    eq(rc, 78, "%s: exit code (stderr: %s)" % (what, text.strip()))
    # One line says it all (without --log-file, the log goes to stderr too).
    lines = [ln for ln in text.splitlines() if re.search(pattern, ln)]
    check(len(lines) == 1 and lines[0].startswith("herd-server: "),
          "%s: stderr lacks a line 'herd-server: .../%s/': %s" % (what, pattern, show(err)))
    return lines[0]


def iamat(srv, client, when, loc=b"+34.068930-118.445127"):
    with srv.connect(timeout=10.0) as c:
        line = b"IAMAT %s %s %s" % (client, loc, when)
        c.send(line + b"\n")
        got = c.read_line()
    check(got.startswith(b"AT %s " % srv.name.encode()) and got.endswith(b" %s %s %s" % (client, loc, when)),
          "IAMAT at %s: unexpected reply %s" % (srv.name, show(got[:200])))
    return got


def whatsat(srv, client):
    with srv.connect(timeout=10.0) as c:
        c.send(b"WHATSAT %s 10 1\n" % client)
        first, _ = c.read_whatsat()
    return None if first == b"?" else first


def ctl_ask(path, line, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(line + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                fail("control socket %s closed before a reply to %s" % (path, show(line)))
            buf += chunk
        return buf.split(b"\n", 1)[0]
    finally:
        s.close()


# -- the server -------------------------------------------------------------

def server_modes(t):
    """Directories made 0700, parents included; WAL, LOCK and cuts 0600."""
    base = os.path.join(t.tmpdir, "fresh")
    data = os.path.join(base, "data", "Fresh")
    run = os.path.join(base, "run")
    ctl = os.path.join(run, "Fresh.sock")
    logf = os.path.join(base, "log", "Fresh.log")
    s = t.server("Fresh", extra_args=["--places", "offline", "--data-dir", data,
                                      "--control", ctl, "--peer", "Ghost=127.0.0.1:9"])
    s.log_path = logf
    s.start()
    iamat(s, b"kiwi", b"1700000000.5")
    reply = ctl_ask(ctl, b"cut Ghost")
    check(os.path.exists(os.path.join(data, "cuts")),
          "cut Ghost wrote no cuts file (reply %s)" % show(reply))
    s.stop()
    for d in (base, os.path.join(base, "data"), data, run, os.path.join(base, "log")):
        eq("%04o" % mode(d), "0700", "mode of the directory %s" % d)
    for f in ("records.wal", "LOCK", "cuts"):
        eq("%04o" % mode(os.path.join(data, f)), "0600", "mode of %s" % f)
    t.ok("a server makes its data, control socket and log directories 0700 (parents "
         "too) and its records.wal, LOCK and cuts files 0600")
    return data


def planted_links(t):
    base = os.path.join(t.tmpdir, "planted")
    for f in ("records.wal", "LOCK"):
        data = os.path.join(base, f.replace(".", "_"))
        os.makedirs(data, mode=0o700)
        victim, before = make_victim(t, "victim-" + f)
        os.symlink(victim, os.path.join(data, f))
        line = refused(t, server_argv("Planted", "--data-dir", data),
                       r"data directory %s: %s is a symbolic link" % (re.escape(data), re.escape(f)),
                       "a link planted as %s" % f)
        check_victim(victim, before, "a link planted as %s" % f)
        check(os.path.islink(os.path.join(data, f)), "the link %s itself is left" % f)
        t.ok("a symbolic link planted as DATA/%s: exit 78 (%s); its target untouched"
             % (f, line))

    # records.wal.tmp: only written by a compaction, which a start makes
    # when the log holds stale records; a stale .tmp (a link here) is
    # removed, not written through.
    data = os.path.join(base, "tmp")
    s = t.server("Compact", extra_args=["--places", "offline", "--data-dir", data])
    s.start()
    ats = [iamat(s, b"kiwi", b"1700000000.%d" % i) for i in range(1, 6)]
    s.stop()
    size = os.path.getsize(os.path.join(data, "records.wal"))
    victim, before = make_victim(t, "victim-tmp")
    tmp = os.path.join(data, "records.wal.tmp")
    os.symlink(victim, tmp)
    since = s.log_size()
    s.start()
    s.wait_log(rb"replayed 5 records \(1 clients\).*log %d -> \d+ bytes" % size, since=since)
    m = re.search(rb"log %d -> (\d+) bytes" % size, s.log_bytes()[since:])
    check(m and int(m.group(1)) < size, "the start did not compact the log: %s"
          % show(s.log_bytes()[since:][-400:]))
    eq(whatsat(s, b"kiwi"), ats[-1], "the newest record after the compaction")
    s.stop()
    check_victim(victim, before, "a link planted as records.wal.tmp")
    wal = os.path.join(data, "records.wal")
    check(not os.path.islink(wal) and not os.path.lexists(tmp),
          "records.wal must be the compacted file, the .tmp link gone")
    eq("%04o" % mode(wal), "0600", "mode of the compacted records.wal")
    t.ok("a symbolic link planted as DATA/records.wal.tmp: removed, the compaction "
         "writes a new 0600 file; its target untouched")

    # The cuts file: read at start, rewritten through cuts.tmp on a cut.
    data = os.path.join(base, "cuts")
    os.makedirs(data, mode=0o700)
    victim, before = make_victim(t, "victim-cuts", b"Ghost\n")
    os.symlink(victim, os.path.join(data, "cuts"))
    line = refused(t, server_argv("Cutter", "--data-dir", data, "--peer", "Ghost=127.0.0.1:9"),
                   r"cannot read %s: is a symbolic link" % re.escape(os.path.join(data, "cuts")),
                   "a link planted as cuts")
    check_victim(victim, before, "a link planted as cuts")
    os.unlink(os.path.join(data, "cuts"))
    t.ok("a symbolic link planted as DATA/cuts: exit 78 (%s); its target untouched" % line)

    victim, before = make_victim(t, "victim-cuts-tmp")
    os.symlink(victim, os.path.join(data, "cuts.tmp"))
    ctl = os.path.join(base, "run", "Cutter.sock")
    s = t.server("Cutter", extra_args=["--places", "offline", "--data-dir", data,
                                       "--control", ctl, "--peer", "Ghost=127.0.0.1:9"])
    s.start()
    reply = ctl_ask(ctl, b"cut Ghost")
    check(not reply.startswith(b"error"), "cut Ghost: %s" % show(reply))
    s.stop()
    check_victim(victim, before, "a link planted as cuts.tmp")
    cuts = os.path.join(data, "cuts")
    check(not os.path.islink(cuts), "cuts must be a file of its own")
    with open(cuts, "rb") as f:
        eq(f.read(), b"Ghost\n", "the cuts file")
    eq("%04o" % mode(cuts), "0600", "mode of cuts")
    t.ok("a symbolic link planted as DATA/cuts.tmp: removed, cuts written 0600; its "
         "target untouched")


def unsafe_dirs(t):
    base = os.path.join(t.tmpdir, "unsafe")
    cases = []
    d = os.path.join(base, "data0777")
    os.makedirs(d)
    os.chmod(d, 0o777)
    cases.append(("a data directory of mode 0777", ["--data-dir", d],
                  r"refusing the data directory %s: writable by group and others \(mode 0777"
                  % re.escape(d)))
    d = os.path.join(base, "data0775")
    os.makedirs(d)
    os.chmod(d, 0o775)
    cases.append(("a data directory of mode 0775", ["--data-dir", d],
                  r"refusing the data directory %s: writable by group \(mode 0775" % re.escape(d)))
    d = os.path.join(base, "run1777")
    os.makedirs(d)
    os.chmod(d, 0o1777)
    cases.append(("a control socket directory of mode 1777 (like /tmp)",
                  ["--control", os.path.join(d, "x.sock")],
                  r"refusing the control socket directory %s: writable" % re.escape(d)))
    d = os.path.join(base, "log0777")
    os.makedirs(d)
    os.chmod(d, 0o777)
    cases.append(("a log directory of mode 0777", ["--log-file", os.path.join(d, "x.log")],
                  r"refusing the log directory %s: writable" % re.escape(d)))
    if IS_ROOT:
        d = os.path.join(base, "data-other")
        os.makedirs(d, mode=0o700)
        os.chown(d, OTHER_UID, -1)
        cases.append(("a data directory owned by uid %d" % OTHER_UID, ["--data-dir", d],
                      r"refusing the data directory %s: owned by uid %d" % (re.escape(d), OTHER_UID)))
    else:
        t.note("skipped: a data directory of another user (needs root to chown)")
    for what, args, pattern in cases:
        line = refused(t, server_argv("Unsafe", *args), pattern, what)
        t.ok("%s: exit 78 (%s)" % (what, line))
    for f in os.listdir(os.path.join(base, "data0777")):
        fail("the server wrote %s in a refused data directory" % f)


def secrets(t):
    base = os.path.join(t.tmpdir, "secrets")
    os.makedirs(base, mode=0o700)
    good = os.path.join(base, "good")
    with open(good, "wb") as f:
        f.write(b"0123456789abcdef-the-herd-secret\n")
    os.chmod(good, 0o600)
    s = t.server("Keeper", extra_args=["--places", "offline", "--secret-file", good])
    s.start()
    s.stop()
    t.ok("a secret file of mode 0600, ours: accepted")

    loose = os.path.join(base, "loose")
    with open(loose, "wb") as f:
        f.write(b"0123456789abcdef-the-herd-secret\n")
    os.chmod(loose, 0o644)
    link = os.path.join(base, "link")
    os.symlink(good, link)
    cases = [("a secret file of mode 0644", loose,
              r"refusing secret file %s: open to group or others \(mode 0644" % re.escape(loose)),
             ("a secret file that is a symbolic link (to a good one)", link,
              r"refusing secret file %s: is a symbolic link" % re.escape(link))]
    if IS_ROOT:
        other = os.path.join(base, "other")
        with open(other, "wb") as f:
            f.write(b"0123456789abcdef-the-herd-secret\n")
        os.chmod(other, 0o600)
        os.chown(other, OTHER_UID, -1)
        cases.append(("a secret file owned by uid %d" % OTHER_UID, other,
                      r"refusing secret file %s: owned by uid %d" % (re.escape(other), OTHER_UID)))
    else:
        t.note("skipped: a secret file of another user (needs root to chown)")
    for what, path, pattern in cases:
        line = refused(t, server_argv("Keeper", "--secret-file", path), pattern, what)
        t.ok("%s: exit 78 (%s)" % (what, line))


def longest_line(t):
    """--max-line 1048576: a record longer than 1 MiB is written and read back."""
    data = os.path.join(t.tmpdir, "long", "data")
    s = t.server("Long", extra_args=["--places", "offline", "--data-dir", data,
                                     "--max-line", "1048576", "--max-client-id", "1048576"])
    s.start()
    loc, when = b"+34.068930-118.445127", b"1700000000.5"
    fixed = len(b"IAMAT   ") + len(loc) + len(when)
    big = (b"%032d" % 7) * ((1048576 - fixed) // 32)
    big += b"x" * (1048576 - fixed - len(big))
    line = b"IAMAT %s %s %s" % (big, loc, when)
    eq(len(line), 1048576, "the IAMAT line is max_line bytes")
    at_big = iamat(s, big, when, loc)
    check(len(at_big) > 1 << 20, "the record is longer than 1 MiB (%d)" % len(at_big))
    at_small = iamat(s, b"after", b"1700000001.5")
    s.kill()   # a crash: only the log can bring them back
    since = s.log_size()
    s.start()
    s.wait_log(rb"replayed 2 records", since=since)
    check(b"torn" not in s.log_bytes()[since:],
          "the log was cut at start: %s" % show(s.log_bytes()[since:][-400:]))
    eq(whatsat(s, big), at_big, "the 1 MiB record after a restart")
    eq(whatsat(s, b"after"), at_small, "the record after it")
    s.stop()
    t.ok("--max-line 1048576: a record of %d bytes and the one after it survive a crash "
         "and replay" % len(at_big))


# -- the supervisor -----------------------------------------------------------

def herd_refused(h, pattern, what, rc_want=78):
    rc, out, err = h.cmd("start", timeout=30.0)
    if rc == 0:
        h.started = True
        try:
            h.supervisor_pid = h.status()["supervisor_pid"]
        except herdtest.TestFailure:
            pass
        fail("%s: herd start succeeded" % what)
    eq(rc, rc_want, "%s: herd start's exit code (stderr: %s)" % (what, err.strip()))
    check(re.search(pattern, err), "%s: stderr lacks /%s/: %s" % (what, pattern, err))
    return [ln for ln in err.splitlines() if ln.strip()][-1]


def supervisor(t):
    # A fresh herd: its directories 0700, its pid file and log 0600.
    h = herdsup.Herd(t, names=["Solo"], links=[], subdir="sup-ok")
    try:
        h.start()
        h.iamat("Solo", b"kiwi", b"1700000000.5")
        for d in (h.run_dir, h.log_dir, os.path.join(h.dir, "data"),
                  os.path.join(h.dir, "data", "Solo")):
            eq("%04o" % mode(d), "0700", "mode of %s" % d)
        for f in (os.path.join(h.run_dir, "herd.pid"), os.path.join(h.run_dir, "secret"),
                  os.path.join(h.log_dir, "herd.log"),
                  os.path.join(h.dir, "data", "Solo", "records.wal")):
            eq("%04o" % mode(f), "0600", "mode of %s" % f)
        h.stop()
        t.ok("herd start makes run_dir, log_dir and data_dir 0700; herd.pid, secret, "
             "herd.log and records.wal are 0600")
    finally:
        h.close()

    h = herdsup.Herd(t, names=["Solo"], links=[], subdir="sup-run0777")
    try:
        os.makedirs(h.run_dir)
        os.chmod(h.run_dir, 0o777)
        line = herd_refused(h, r"refusing run_dir %s: writable by group and others"
                            % re.escape(h.run_dir), "a world-writable run_dir")
        t.ok("herd start with a run_dir of mode 0777: exit 78 (%s)" % line)
        os.chmod(h.run_dir, 0o700)
        log_dir = h.log_dir
        os.makedirs(log_dir)
        os.chmod(log_dir, 0o770)
        line = herd_refused(h, r"refusing log_dir %s: writable by group" % re.escape(log_dir),
                            "a group-writable log_dir")
        t.ok("herd start with a log_dir of mode 0770: exit 78 (%s)" % line)
        os.chmod(log_dir, 0o700)
        if IS_ROOT:
            data = os.path.join(h.dir, "data")
            os.makedirs(data, mode=0o700)
            os.chown(data, OTHER_UID, -1)
            line = herd_refused(h, r"refusing data_dir %s: owned by uid %d"
                                % (re.escape(data), OTHER_UID), "a data_dir of another user")
            t.ok("herd start with a data_dir owned by uid %d: exit 78 (%s)" % (OTHER_UID, line))
            os.chown(data, 0, -1)
        else:
            t.note("skipped: a data_dir of another user (needs root to chown)")

        # run/secret already there (planted before the first start), but
        # open to others: refused, not used with a warning.
        secret = os.path.join(h.run_dir, "secret")
        with open(secret, "wb") as f:
            f.write(b"0123456789abcdef-known-to-others\n")
        os.chmod(secret, 0o644)
        line = herd_refused(h, r"refusing secret file %s: open to group or others"
                            % re.escape(secret), "a run/secret of mode 0644")
        t.ok("herd start with a run/secret of mode 0644 already there: exit 78 (%s)" % line)
        os.unlink(secret)

        victim, before = make_victim(t, "victim-run-secret")
        os.symlink(victim, secret)
        line = herd_refused(h, r"refusing secret file %s: is a symbolic link"
                            % re.escape(secret), "a run/secret that is a link")
        check_victim(victim, before, "a link planted as run/secret")
        t.ok("herd start with a link as run/secret: exit 78 (%s)" % line)
        os.unlink(secret)

        # The pid file and herd.log: a link is not written through.
        victim, before = make_victim(t, "victim-pid")
        pidfile = os.path.join(h.run_dir, "herd.pid")
        os.symlink(victim, pidfile)
        line = herd_refused(h, r"cannot open %s: is a symbolic link" % re.escape(pidfile),
                            "a link planted as herd.pid", rc_want=1)
        check_victim(victim, before, "a link planted as herd.pid")
        os.unlink(pidfile)
        t.ok("herd start with a link as run/herd.pid: refused (%s); its target untouched" % line)

        victim, before = make_victim(t, "victim-log")
        herdlog = os.path.join(log_dir, "herd.log")
        if os.path.lexists(herdlog):
            os.unlink(herdlog)   # written by the starts above
        os.symlink(victim, herdlog)
        line = herd_refused(h, r"cannot open %s: is a symbolic link" % re.escape(herdlog),
                            "a link planted as herd.log", rc_want=1)
        check_victim(victim, before, "a link planted as herd.log")
        os.unlink(herdlog)
        t.ok("herd start with a link as log/herd.log: refused (%s); its target untouched" % line)
    finally:
        h.close()

    h = herdsup.Herd(t, names=["Solo"], links=[], subdir="sup-secret")
    try:
        secret = os.path.join(h.dir, "conf-secret")
        with open(secret, "wb") as f:
            f.write(b"0123456789abcdef-the-herd-secret\n")
        os.chmod(secret, 0o640)
        with open(h.conf, "a") as f:
            f.write("secret_file %s\n" % secret)
        line = herd_refused(h, r"refusing secret file %s: open to group or others"
                            % re.escape(secret), "herd.conf's secret_file of mode 0640")
        t.ok("herd start with herd.conf's secret_file of mode 0640: exit 78 (%s)" % line)
    finally:
        h.close()


def main(t):
    server_modes(t)
    planted_links(t)
    unsafe_dirs(t)
    secrets(t)
    longest_line(t)
    supervisor(t)


if __name__ == "__main__":
    herdsup.run(main, watchdog=240)
