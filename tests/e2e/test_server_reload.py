#!/usr/bin/env python3
"""A running herd-server reads its herd.conf again: `reload` on its control
socket, and SIGHUP.

Three servers started with --config on a herd.conf the test rewrites,
Alford - Bolden - Chester (short link timeouts), then:

  * a fourth, Dunn, linked to Chester: Chester's reload adds it, dials it
    at once, and within 2 s Dunn holds every record (the normal catch-up);
    Chester's link to Bolden is not reconnected (its since_ms kept growing,
    no new "link up"), and a client connection opened on Chester before
    the reload still works; Alford and Bolden, reloaded too, change nothing;
  * the link Bolden - Chester removed: Chester (which accepts it) closes
    it and, not yet reloaded, Bolden's dials are refused as no neighbour's;
    once Bolden reloads, it dials no more; Alford - Bolden stays up;
  * LIVE settings: max_line (a line longer than the new bound is refused,
    on a connection opened before too; a server whose command line gave
    --max-line keeps it) and fsync (batch: a group is fsynced; never: not);
  * FIXED things (this server's own address, the data directory): listed
    in restart_needed, behaviour unchanged (the old port still answers),
    and unchanged:true once the file says again what runs;
  * files that cannot be taken (a malformed value: FILE:LINE; this server
    named nowhere; a link timeout under the ping interval): an error line,
    nothing changed (the bound holds, loaded_ms keeps growing), the status
    says so;
  * SIGHUP: the same reload, one log line saying what changed;
  * a neighbour restarted at a new address: Chester's reload redials it;
  * a cut neighbour removed: its cut goes, and DATA_DIR/cuts with it;
  * max_clients_per_addr set live: the connections open then count;
  * a server started without --config answers reload with an error and
    survives SIGHUP;
  * SIGHUPs from SIGTERM to the exit do not cut the shutdown short.
Then every server stops cleanly (exit 0; under ASan, no leak).
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import json
import os
import re
import signal
import socket
import threading
import time

import herdtest
from herdtest import check, eq, fail, show, wait_until

LOC = b"+34.068930-118.445127"
T0 = 1621464827
ERROR_NOT_CONFIG = "error this server was not started with --config: nothing to reload"


class Conf:
    """The herd.conf the servers read: servers (name -> (port, peer port)),
    links, and extra lines; write() replaces the file whole."""

    def __init__(self, t):
        self.dir = t.tmpdir
        self.path = os.path.join(t.tmpdir, "herd.conf")
        self.servers = {}
        self.links = []
        self.extra = []

    def add(self, name):
        self.servers[name] = tuple(herdtest.free_ports(2))

    def text(self, extra=None):
        lines = ["# herd.conf of e2e.server_reload"]
        for name, (port, pport) in self.servers.items():
            lines.append("server %s 127.0.0.1:%d peer 127.0.0.1:%d" % (name, port, pport))
        lines += ["link %s %s" % l for l in self.links]
        lines += ["run_dir %s" % os.path.join(self.dir, "run"),
                  "data_dir %s" % os.path.join(self.dir, "data"),
                  "link_ping_ms 200", "link_timeout_ms 1500"]
        lines += self.extra if extra is None else extra
        return "\n".join(lines) + "\n"

    def write(self, text=None):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.text() if text is None else text)
        os.replace(tmp, self.path)


class ConfServer(herdtest.Server):
    """A herd-server started as the supervisor starts it: NAME --config."""

    def __init__(self, t, conf, name, extra_args=()):
        port, pport = conf.servers[name]
        super().__init__(t, name, port, pport, extra_args=extra_args)
        self.conf = conf
        t.servers.append(self)

    def argv(self):
        return [self.t.binary, self.name, "--config", self.conf.path,
                "--log-file", self.log_path, "--log-max-mb", "0"] + self.extra_args

    def sock(self):
        return os.path.join(self.conf.dir, "run", self.name + ".sock")


def ask(path, line, who):
    """One command on a control socket, its one reply line (str)."""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10.0)
    try:
        c.connect(path)
        c.sendall(line.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = c.recv(1 << 16)
            if not chunk:
                fail("%s: control socket closed before the reply to %s (have %s)"
                     % (who, line, show(buf)))
            buf += chunk
    finally:
        c.close()
    return buf[:-1].decode()


def status(s):
    line = ask(s.sock(), "status", s.name)
    try:
        return json.loads(line)
    except ValueError:
        fail("%s: status is not JSON: %s" % (s.name, line))


def reload(s):
    """`reload`: the parsed JSON when it went through, else the error line."""
    line = ask(s.sock(), "reload", s.name)
    if line.startswith("error "):
        return line
    try:
        r = json.loads(line)
    except ValueError:
        fail("%s: reload answered neither JSON nor an error: %s" % (s.name, line))
    eq(list(r.keys()), ["ok", "added", "removed", "moved", "changed", "restart_needed",
                        "unchanged"], "%s: the members of reload's answer" % s.name)
    eq(line, json.dumps(r, separators=(",", ":")), "%s: reload's answer is one line of "
       "compact JSON" % s.name)
    return r


def expect(r, what, added=(), removed=(), moved=(), changed=(), restart=()):
    want = {"ok": True, "added": list(added), "removed": list(removed),
            "moved": list(moved), "changed": list(changed),
            "restart_needed": list(restart),
            "unchanged": not (added or removed or moved or changed or restart)}
    eq(r, want, what)


def nb(st, name):
    for n in st["neighbours"]:
        if n["name"] == name:
            return n
    return None


def iamat(c, cid, n):
    c.send(b"IAMAT %s %s %d.5\n" % (cid, LOC, T0 + n))
    line = c.read_line()
    f = herdtest.split_at(line)
    eq(f[3], cid, "client id in the AT reply")


def line_of(n):
    """An IAMAT line of exactly n bytes (newline excluded)."""
    head = b"IAMAT "
    tail = b" %s %d.5" % (LOC, T0)
    cid = b"L" * (n - len(head) - len(tail))
    return head + cid + tail, cid


def refused(s, n, c=None):
    """A line of n bytes closes the connection (c, or a new one): nothing back."""
    mine = c is None
    c = c or s.connect()
    try:
        c.send(line_of(n)[0] + b"\n")
        eq(c.read_to_eof(5), b"", "%s: reply to a %d-byte line" % (s.name, n))
    finally:
        if mine:
            c.close()


def accepted(s, n):
    line, cid = line_of(n)
    with s.connect() as c:
        c.send(line + b"\n")
        f = herdtest.split_at(c.read_line())
        eq(f[3], cid, "%s: the %d-byte line answered" % (s.name, n))


def link_ups(s, name):
    return len(re.findall(rb"link " + name.encode() + rb" up\b", s.log_bytes()))


def same_records(a, b, n):
    sa, sb = status(a), status(b)
    return sa["records"] == n and sb["records"] == n and sa["digest"] == sb["digest"]


def load(s, n):
    """n IAMATs of n clients on one connection to s (a thread writes, this
    one reads the acknowledgements)."""
    c = s.connect(timeout=60)
    lines = [b"IAMAT load%06d %s %d.5\n" % (i, LOC, T0 + i) for i in range(n)]

    def writer():
        for k in range(0, n, 256):
            c.sock.sendall(b"".join(lines[k:k + 256]))
    th = threading.Thread(target=writer, daemon=True)
    th.start()
    got = 0
    deadline = time.monotonic() + 60
    while got < n:
        if time.monotonic() > deadline:
            fail("%s acknowledged %d of %d IAMATs" % (s.name, got, n))
        chunk = c.sock.recv(1 << 20)
        if not chunk:
            fail("%s closed the connection after %d of %d IAMATs" % (s.name, got, n))
        got += chunk.count(b"\n")
    th.join(10)
    c.close()


def main(t):
    conf = Conf(t)
    for n in ("Alford", "Bolden", "Chester"):
        conf.add(n)
    conf.links = [("Alford", "Bolden"), ("Bolden", "Chester")]
    conf.write()
    a = ConfServer(t, conf, "Alford")
    b = ConfServer(t, conf, "Bolden")
    c = ConfServer(t, conf, "Chester")
    plain = t.server("Plain", extra_args=["--control", os.path.join(t.tmpdir, "plain.sock")])
    t.start_all()
    a.wait_links_up(["Bolden"])
    c.wait_links_up(["Bolden"])

    # -- a server started without --config ------------------------------
    eq(ask(os.path.join(t.tmpdir, "plain.sock"), "reload", "Plain"), ERROR_NOT_CONFIG,
       "reload of a server without --config")
    plain.send_signal(signal.SIGHUP)
    plain.wait_log(r"reload \(SIGHUP\) refused, nothing changed: this server was not "
                   r"started with --config")
    check(plain.running, "Plain died of SIGHUP")
    plain.stop()
    t.ok("without --config: reload answers %r, SIGHUP is logged and survived"
         % ERROR_NOT_CONFIG)

    st = status(c)
    eq(st["config"]["reloads"], 0, "Chester's reloads at the start")
    eq(st["config"]["last_reload"], None, "Chester's last_reload at the start")
    check(isinstance(st["config"]["loaded_ms"], int) and
          st["config"]["loaded_ms"] <= st["uptime_ms"] + 5,
          "loaded_ms at the start: %s (uptime %s)" % (st["config"], st["uptime_ms"]))
    r = reload(a)
    expect(r, "reload of an unchanged file")
    eq(status(a)["config"]["last_reload"], "ok", "Alford's last_reload")
    t.ok("reload of an unchanged file: unchanged, status config "
         "{loaded_ms, reloads, last_reload}")

    # -- records, and a client of Chester's open across the reloads ------
    with a.connect() as ca:
        for i in range(20):
            iamat(ca, b"early%02d" % i, i)
    wait_until(lambda: same_records(a, c, 20), 5, "20 records on Alford and Chester")
    cc = c.connect()
    iamat(cc, b"chester-client", 100)
    wait_until(lambda: same_records(a, c, 21), 5, "21 records on Alford and Chester")

    # -- a fourth server linked to Chester -------------------------------
    conf.add("Dunn")
    conf.links.append(("Chester", "Dunn"))
    conf.write()
    d = ConfServer(t, conf, "Dunn", extra_args=["--max-line", "120"])
    d.start()
    before = nb(status(c), "Bolden")
    before_b = nb(status(b), "Chester")
    t_before = time.monotonic()
    ups_c, ups_b = link_ups(c, "Bolden"), link_ups(b, "Chester")
    eq(before["state"], "up", "Chester's link to Bolden before the reload")
    t0 = time.monotonic()
    expect(reload(c), "Chester's reload adding Dunn", added=["Dunn"])
    wait_until(lambda: same_records(c, d, 21), 2.0,
               "Dunn holding Chester's 21 records within 2 s of the reload")
    took = time.monotonic() - t0
    elapsed_ms = (time.monotonic() - t_before) * 1000
    after = nb(status(c), "Bolden")
    after_b = nb(status(b), "Chester")
    eq(after["state"], "up", "Chester's link to Bolden after the reload")
    check(after["since_ms"] >= before["since_ms"] + elapsed_ms - 100,
          "Chester's link to Bolden was not up all along: since_ms %d before, %d after "
          "%.0f ms" % (before["since_ms"], after["since_ms"], elapsed_ms))
    check(after_b["since_ms"] >= before_b["since_ms"] + elapsed_ms - 100,
          "Bolden's link to Chester was not up all along: %s -> %s" % (before_b, after_b))
    eq(link_ups(c, "Bolden"), ups_c, "Chester's 'link Bolden up' lines")
    eq(link_ups(b, "Chester"), ups_b, "Bolden's 'link Chester up' lines")
    eq(nb(status(c), "Dunn")["state"], "up", "Chester's link to Dunn")
    iamat(cc, b"chester-client", 101)  # the connection from before
    wait_until(lambda: same_records(a, d, 21) and status(d)["digest"] == status(c)["digest"],
               5, "the update from Chester's old connection everywhere")
    expect(reload(a), "Alford's reload of the file with Dunn")
    expect(reload(b), "Bolden's reload of the file with Dunn")
    cst = status(c)["config"]
    eq((cst["reloads"], cst["last_reload"]), (1, "ok"), "Chester's reloads")
    t.ok("Dunn added: linked at once, all 21 records within %.2f s; Chester's other link "
         "and its client connection untouched; unchanged on the others" % took)

    # -- the link Bolden - Chester removed --------------------------------
    ab_before = nb(status(b), "Alford")
    t_ab = time.monotonic()
    conf.links.remove(("Bolden", "Chester"))
    conf.write()
    off_b, off_c = b.log_size(), c.log_size()
    expect(reload(c), "Chester's reload without its link to Bolden", removed=["Bolden"])
    eq([n["name"] for n in status(c)["neighbours"]], ["Dunn"], "Chester's neighbours")
    c.wait_log(r"link Bolden down: no longer a neighbour", 2, since=off_c)
    b.wait_log(r"link Chester down", 2, since=off_b)
    c.wait_log(r"peer connection \S+ refused: not a configured neighbour: HELLO \S+ Bolden ",
               5, since=off_c)
    check((nb(status(b), "Chester") or {}).get("state") != "up",
          "Bolden's link to Chester is up after Chester removed it")
    expect(reload(b), "Bolden's reload without its link to Chester", removed=["Chester"])
    eq([n["name"] for n in status(b)["neighbours"]], ["Alford"], "Bolden's neighbours")
    time.sleep(0.3)  # a dial already under way may still arrive
    off_c = c.log_size()
    time.sleep(1.5)  # past the longest redial backoff (1 s)
    check(b" Bolden " not in c.log_bytes()[off_c:],
          "Bolden still dials Chester after its reload:\n%s"
          % c.log_bytes()[off_c:].decode("utf-8", "replace"))
    ab = nb(status(b), "Alford")
    eq(ab["state"], "up", "Bolden's link to Alford")
    check(ab["since_ms"] >= ab_before["since_ms"] + (time.monotonic() - t_ab) * 1000 - 100,
          "Bolden's link to Alford was not up all along: %s -> %s" % (ab_before, ab))
    t.ok("link removed: closed, refused as no neighbour's until the other end reloaded, "
         "then not dialled; other links untouched")

    # -- a LIVE setting ---------------------------------------------------
    accepted(c, 150)
    c2 = c.connect()
    iamat(c2, b"c2", 200)
    conf.extra = ["max_line 100", "fsync batch"]
    conf.write()
    fsyncs = status(c)["wal"]["fsyncs"]
    expect(reload(c), "Chester's reload with max_line 100, fsync batch",
           changed=["fsync", "max_line"])
    iamat(c2, b"c2", 202)
    check(status(c)["wal"]["fsyncs"] > fsyncs, "no fsync after fsync batch: %d then %d"
          % (fsyncs, status(c)["wal"]["fsyncs"]))
    refused(c, 150)
    refused(c, 150, cc)      # a connection from before the reload too
    refused(c, 101)
    accepted(c, 100)
    iamat(c2, b"c2", 201)    # short lines still go on old connections
    c2.close()
    expect(reload(d), "Dunn's reload with max_line 100 (--max-line 120 given)",
           changed=["fsync"])
    accepted(d, 115)
    refused(d, 121)
    t.ok("max_line 100 and fsync batch live: longer lines refused on new and old "
         "connections, a group fsynced; --max-line on the command line wins")

    # -- FIXED: this server's own address, the data directory -------------
    old_a = conf.servers["Alford"]
    conf.servers["Alford"] = tuple(herdtest.free_ports(2))
    text = conf.text(conf.extra + ["data_dir %s" % os.path.join(t.tmpdir, "data2")])
    text = text.replace("data_dir %s\n" % os.path.join(t.tmpdir, "data"), "", 1)
    conf.write(text)
    expect(reload(a), "Alford's reload with a new address and data_dir",
           changed=["fsync", "max_line"], restart=["listen", "peer_listen", "data_dir"])
    expect(reload(a), "Alford's second reload of the same file",
           restart=["listen", "peer_listen", "data_dir"])
    with a.connect() as ca:
        iamat(ca, b"still-here", 300)
    check(not os.path.exists(os.path.join(t.tmpdir, "data2")),
          "Alford made the new data directory without a restart")
    conf.servers["Alford"] = old_a
    conf.write()
    expect(reload(a), "Alford's reload of the file saying what runs")
    t.ok("address and data_dir changes: restart_needed (listen, peer_listen, data_dir), "
         "the old port still answers; unchanged once the file agrees again")

    # -- files that cannot be taken ---------------------------------------
    good = conf.text()
    nlines = good.count("\n")
    for bad, want in (
            (good + "max_line banana\n",
             "error %s:%d: 'banana' is not a number from 64 to 1048576"
             % (conf.path, nlines + 1)),
            (good.replace("Chester", "Carl"),
             "error %s: no server named 'Chester'" % conf.path),
            (good + "link_timeout_ms 150\n",
             "error %s: link timeout (150 ms) must be longer than the link ping interval "
             "(200 ms)" % conf.path),
            (good + "frobnicate 1\n",
             "error %s:%d: unknown keyword 'frobnicate'" % (conf.path, nlines + 1))):
        conf.write(bad)
        before = status(c)["config"]
        r = reload(c)
        eq(r, want, "reload of a broken file")
        after = status(c)["config"]
        eq(after["last_reload"], "error: " + want[len("error "):], "last_reload")
        eq(after["reloads"], before["reloads"] + 1, "reloads after a broken file")
        check(after["loaded_ms"] >= before["loaded_ms"],
              "loaded_ms went back after a refused reload: %s -> %s" % (before, after))
    refused(c, 101)
    eq([n["name"] for n in status(c)["neighbours"]], ["Dunn"], "Chester's neighbours")
    c.wait_log(r"reload \(control\) of \S+ refused, nothing changed: .*unknown keyword")
    t.ok("broken files (a bad value, this server named nowhere, a link timeout under "
         "the ping, an unknown keyword): error FILE[:LINE], nothing changed, logged")

    # -- SIGHUP -------------------------------------------------------------
    conf.extra = ["max_line 200"]
    conf.write()
    off = c.log_size()
    n = status(c)["config"]["reloads"]
    c.send_signal(signal.SIGHUP)
    c.wait_log(r"reload \(SIGHUP\) of \S+: changed: fsync batch -> never, "
               r"max_line 100 -> 200\n", 5, since=off)
    accepted(c, 150)
    refused(c, 201)
    fsyncs = status(c)["wal"]["fsyncs"]
    with c.connect() as c3:
        iamat(c3, b"c3", 400)
    eq(status(c)["wal"]["fsyncs"], fsyncs, "fsyncs after fsync never")
    cst = status(c)["config"]
    eq((cst["reloads"], cst["last_reload"]), (n + 1, "ok"), "Chester's reloads after SIGHUP")
    check(cst["loaded_ms"] < 2000, "loaded_ms after SIGHUP: %s" % cst)
    t.ok("SIGHUP reloads: max_line 200 and fsync never taken, one log line says what "
         "changed")

    # -- a neighbour restarted at a new address --------------------------
    d.stop()
    conf.servers["Dunn"] = tuple(herdtest.free_ports(2))
    conf.write()
    d.port, d.peer_port = conf.servers["Dunn"]
    d.start()
    expect(reload(c), "Chester's reload with Dunn moved", moved=["Dunn"])
    wait_until(lambda: (nb(status(c), "Dunn") or {}).get("state") == "up", 3,
               "Chester's link to Dunn at its new address")
    wait_until(lambda: same_records(c, d, status(c)["records"]), 3,
               "Dunn caught up again")
    t.ok("a moved neighbour is redialled at its new address")

    # -- a cut neighbour removed: its cut goes, and its line in the cuts file
    eq(ask(c.sock(), "cut Dunn", "Chester"), "ok cut Dunn", "cut Dunn on Chester")
    cuts = os.path.join(t.tmpdir, "data", "Chester", "cuts")
    with open(cuts) as f:
        eq(f.read(), "Dunn\n", "Chester's cuts file")
    conf.links.remove(("Chester", "Dunn"))
    conf.write()
    expect(reload(c), "Chester's reload without Dunn", removed=["Dunn"])
    eq(status(c)["neighbours"], [], "Chester's neighbours")
    check(not os.path.exists(cuts), "Chester's cuts file still names the removed Dunn")
    t.ok("a cut neighbour removed: the cut and the cuts file go")
    cc.close()

    # -- a per-address bound set live counts the connections already open --
    ca1 = a.connect()
    iamat(ca1, b"per-addr", 500)
    conf.extra = ["max_line 200", "max_clients_per_addr 1"]
    conf.write()
    expect(reload(a), "Alford's reload with max_clients_per_addr 1",
           changed=["fsync", "max_line", "max_clients_per_addr"])
    with a.connect() as extra:
        eq(extra.read_to_eof(5), b"", "a second connection from 127.0.0.1 after the bound")
    iamat(ca1, b"per-addr", 501)  # the one open before stays
    ca1.close()

    def one_more():
        with a.connect() as c1:
            c1.send(b"IAMAT per-addr %s %d.5\n" % (LOC, T0 + 502))
            try:
                return c1.read_line(2).startswith(b"AT ")
            except herdtest.TestFailure:
                return False
    wait_until(one_more, 5, "a connection once the one before closed", interval=0.1)
    t.ok("max_clients_per_addr set live: connections open before count, new ones past "
         "the bound are refused, and once one closes another may come")

    # -- SIGHUP while the server stops ----------------------------------
    # From SIGTERM to the exit, a SIGHUP every 0.5 ms: the shutdown runs to
    # its end all the same (exit 0, "stopped" logged). A server holding
    # many records takes milliseconds to free them once its loop is over
    # and its signal handles are closed: SIGHUPs land there. (Not faster:
    # libuv drops a signal it has no room for, the SIGTERM too.)
    runs, nrec = 3, 60000
    for i in range(runs):
        s = t.server("Hup%d" % i)
        s.start()
        load(s, nrec)
        s.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        hups = 0
        while s.proc.poll() is None and time.monotonic() < deadline:
            try:
                os.kill(s.proc.pid, signal.SIGHUP)
                hups += 1
            except ProcessLookupError:
                break
            time.sleep(0.0005)
        rc = s.proc.wait(10)
        s.reaped = True
        eq(rc, 0, "Hup%d's exit after SIGTERM, with %d SIGHUPs after it" % (i, hups))
        check(re.search(rb"stopped$", s.log_bytes().rstrip()),
              "Hup%d's log does not end with 'stopped': %s"
              % (i, show(s.log_bytes()[-300:])))
    t.ok("a SIGHUP every 0.5 ms from SIGTERM to the exit of a server holding %d "
         "records: %d runs, each exit 0 with 'stopped' logged" % (nrec, runs))


herdtest.run(main, watchdog=200)
