"""herd cut / herd heal on the default five-server graph: a true split brain
on one machine.

Cutting Alford - Parker and Bolden - Parker leaves two sides with no link
between them: {Alford, Powell, Bolden} and {Parker, Hamilton}. Each side
takes its own IAMAT for the same client and answers with it; the cut
survives `herd restart Parker`; `herd heal` joins the sides and every
server settles on the newest record. Also: the servers' control sockets
(mode 0600, `status` as JSON, errors for unknown commands, the connection
limit and the idle timeout) and the errors of `herd cut`."""

import json
import os
import re
import socket
import stat
import time

import herdsup
from herdsup import check, eq, fail, show, wait_until

SIDE_A = ["Alford", "Powell", "Bolden"]
SIDE_B = ["Parker", "Hamilton"]
CUT = [("Alford", "Parker"), ("Bolden", "Parker")]
CLIENT = b"splitbrain.example"


def sock_path(h, name):
    return os.path.join(h.run_dir, name + ".sock")


class Ctl:
    """A connection to a server's control socket."""

    def __init__(self, h, name, timeout=5.0):
        self.name = name
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(sock_path(h, name))
        self.buf = b""

    def send(self, line):
        self.s.sendall(line + b"\n")

    def read_line(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                fail("%s control socket: no reply line in time (have %s)"
                     % (self.name, show(self.buf)))
            if not chunk:
                fail("%s control socket closed before a reply line (have %s)"
                     % (self.name, show(self.buf)))
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def ask(self, line):
        self.send(line)
        return self.read_line()

    def closed_by_server(self, timeout):
        """True if the server closes the connection within timeout."""
        self.s.settimeout(timeout)
        try:
            return self.s.recv(1) == b""
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        self.s.close()


def server_status(h, name):
    c = Ctl(h, name)
    try:
        line = c.ask(b"status")
    finally:
        c.close()
    try:
        return json.loads(line)
    except ValueError:
        fail("%s: control status is not JSON: %s" % (name, show(line)))


def neighbour_states(h, name):
    return {nb["name"]: nb["state"] for nb in server_status(h, name)["neighbours"]}


def link_states(h):
    st = h.status()
    check("links" in st, "herd status --json lacks links: %s" % st)
    return {(l["a"], l["b"]): l["state"] for l in st["links"]}


def key(a, b):
    return (a, b) if (a, b) in herdsup.DEFAULT_LINKS else (b, a)


def wait_links(h, want, timeout, what):
    """Waits until herd status --json shows every link as in want
    (default up)."""
    def cond():
        got = link_states(h)
        exp = {l: want.get(l, "up") for l in herdsup.DEFAULT_LINKS}
        return got if got == exp else None
    try:
        return wait_until(cond, timeout, what)
    except herdsup.herdtest.TestFailure:
        fail("%s: links are %s" % (what, link_states(h)))


def main(t):
    h = herdsup.Herd(t)
    try:
        h.start()
        for n in h.names:
            h.wait_links_up(n)

        # -- the control sockets ------------------------------------------
        for n in h.names:
            st = os.stat(sock_path(h, n))
            check(stat.S_ISSOCK(st.st_mode), "%s is not a socket" % sock_path(h, n))
            eq(oct(st.st_mode & 0o777), oct(0o600), "mode of %s" % sock_path(h, n))
        t.ok("every server has a control socket RUN_DIR/NAME.sock of mode 0600")

        c = Ctl(h, "Parker")
        line = c.ask(b"status")
        try:
            st = json.loads(line)
        except ValueError:
            fail("Parker: control status is not JSON: %s" % show(line))
        for k in ("name", "epoch", "uptime_ms", "records", "digest", "clients",
                  "neighbours"):
            check(k in st, "control status lacks %s: %s" % (k, st))
        eq(st["name"], "Parker", "status name")
        check(re.fullmatch(r"[0-9a-f]{16}", st["digest"]), "digest: %s" % st["digest"])
        eq(sorted(nb["name"] for nb in st["neighbours"]), ["Alford", "Bolden", "Hamilton"],
           "Parker's neighbours")
        for nb in st["neighbours"]:
            eq(nb["state"], "up", "Parker's link to %s" % nb["name"])
            for k in ("rtt_us", "sent", "received"):
                check(isinstance(nb[k], int), "neighbour %s lacks %s: %s" % (nb["name"], k, nb))
        reply = c.ask(b"fly away")
        check(reply.startswith(b"error "), "unknown command: %s" % show(reply))
        reply = c.ask(b"cut Nobody")
        check(reply.startswith(b"error ") and b"Nobody" in reply,
              "cut of an unknown neighbour: %s" % show(reply))
        eq(c.ask(b"status")[:1], b"{", "the connection serves more commands after errors")
        c.close()
        t.ok("control socket: status is one line of JSON; unknown commands and "
             "neighbours get an error line; the connection stays open")

        # -- herd cut: errors ---------------------------------------------
        rc, out, err = h.cmd("cut", "Nobody")
        check(rc != 0 and "Nobody" in err, "herd cut Nobody: rc=%d err=%s" % (rc, err))
        rc, out, err = h.cmd("cut", "Alford", "Hamilton")
        check(rc != 0 and "not a link" in err,
              "herd cut Alford Hamilton (no such link): rc=%d err=%s" % (rc, err))
        rc, out, err = h.cmd("cut", "Alford", "Nobody")
        check(rc != 0 and "Nobody" in err, "herd cut Alford Nobody: rc=%d err=%s" % (rc, err))
        rc, out, err = h.cmd("cut")
        eq(rc, 64, "herd cut without names is a usage error")
        wait_links(h, {}, 5.0, "every link up after refused cuts")
        t.ok("herd cut of an unknown server or of a pair that is not a link fails "
             "with a message, and changes nothing")

        # -- the split ----------------------------------------------------
        for a, b in CUT:
            out = h.ok_cmd("cut", a, b)
            check("%s - %s" % (a, b) in out, "herd cut %s %s says what it cut: %s" % (a, b, out))
        wait_links(h, {key(a, b): "cut" for a, b in CUT}, 5.0,
                   "herd status to show the two links cut")
        txt = h.ok_cmd("status")
        for a, b in CUT:
            check(re.search(r"^%s - %s\s+cut\b" % (a, b), txt, re.M),
                  "herd status lacks '%s - %s  cut':\n%s" % (a, b, txt))
        check(re.search(r"^Alford - Powell\s+up\b", txt, re.M),
              "herd status lacks 'Alford - Powell  up':\n%s" % txt)
        eq(neighbour_states(h, "Parker"),
           {"Alford": "cut", "Bolden": "cut", "Hamilton": "up"}, "Parker's view")
        t.ok("herd cut Alford Parker, herd cut Bolden Parker: herd status shows "
             "them cut, the other links up")

        t_old = b"1700000000.500000000"
        t_new = b"1700000001.250000000"
        at_a = h.iamat("Alford", CLIENT, t_old, b"+34.068930-118.445127")
        at_b = h.iamat("Parker", CLIENT, t_new, b"-33.868800+151.209300")
        for n in SIDE_A:
            h.wait_knows(n, at_a, timeout=3.0)
        for n in SIDE_B:
            h.wait_knows(n, at_b, timeout=3.0)
        # Both sides settled on their own record: neither crossed over.
        for n in SIDE_A:
            eq(h.whatsat_at(n, CLIENT), at_a, "WHATSAT at %s (side A) during the split" % n)
        for n in SIDE_B:
            eq(h.whatsat_at(n, CLIENT), at_b, "WHATSAT at %s (side B) during the split" % n)
        t.ok("split brain: each side answers IAMAT with its own record, and WHATSAT "
             "on the other side shows the other record (Bolden: %s; Hamilton: %s)"
             % (at_a.split()[1].decode(), at_b.split()[1].decode()))

        # -- the cut survives a restart ----------------------------------
        old_pid = h.server("Parker")["pid"]
        since = len(h.log("Parker"))
        h.ok_cmd("restart", "Parker")
        s = h.server("Parker")
        check(s["state"] == "up" and s["pid"] != old_pid, "Parker restarted: %s" % s)
        h.wait_log("Parker", rb"links cut by the operator \(kept in [^)]*\): Alford, Bolden",
                   5.0, since)
        h.wait_links_up("Parker", since=since, timeout=5.0, names=["Hamilton"])
        eq(neighbour_states(h, "Parker"),
           {"Alford": "cut", "Bolden": "cut", "Hamilton": "up"},
           "Parker's view after its restart")
        wait_links(h, {key(a, b): "cut" for a, b in CUT}, 5.0,
                   "herd status to show the links still cut after the restart")
        txt = h.ok_cmd("status")
        for a, b in CUT:
            check(re.search(r"^%s - %s\s+cut\b" % (a, b), txt, re.M),
                  "herd status after the restart lacks '%s - %s  cut':\n%s" % (a, b, txt))
        log = h.log("Parker")[since:]
        check(not re.search(rb"link (Alford|Bolden) up", log),
              "a cut link came up after the restart:\n%s" % show(log[-1500:]))
        eq(h.whatsat_at("Parker", CLIENT), at_b, "Parker's record after its restart")
        eq(h.whatsat_at("Bolden", CLIENT), at_a, "Bolden's record after Parker's restart")
        t.ok("herd restart Parker: it comes back with Alford and Bolden cut (logged "
             "at start), Hamilton linked; herd status still says cut")

        # -- heal ---------------------------------------------------------
        t0 = time.monotonic()
        out = h.ok_cmd("heal")
        for a, b in herdsup.DEFAULT_LINKS:
            check("%s - %s" % (a, b) in out, "herd heal lists %s - %s: %s" % (a, b, out))

        def converged():
            return all(h.whatsat_at(n, CLIENT) == at_b for n in h.names)
        try:
            wait_until(converged, 2.0, "every server to hold the newest record")
        except herdsup.herdtest.TestFailure:
            fail("not converged 2 s after herd heal: %s"
                 % {n: h.whatsat_at(n, CLIENT) for n in h.names})
        took = time.monotonic() - t0
        t.ok("herd heal: every server holds the newest record %.3f s after the command "
             "(limit 2 s)" % took)
        wait_links(h, {}, 5.0, "every link up after herd heal")
        check(not os.path.exists(os.path.join(h.dir, "data", "Parker", "cuts")),
              "data/Parker/cuts left after herd heal")
        digests = {s["name"]: s["digest"] for s in h.status()["servers"]}
        eq(len(set(digests.values())), 1, "every server's digest after the heal: %s" % digests)
        t.ok("herd status shows every link up again and equal digests everywhere")

        # -- a server that is down ---------------------------------------
        h.ok_cmd("stop", "Hamilton")
        rc, out, err = h.cmd("cut", "Hamilton", "Parker")
        check(rc == 1 and "Hamilton" in err and "not running" in err,
              "herd cut with Hamilton down: rc=%d err=%s" % (rc, err))
        eq(neighbour_states(h, "Parker")["Alford"], "up", "Parker - Alford untouched")
        check(not os.path.exists(os.path.join(h.dir, "data", "Parker", "cuts")),
              "a refused cut was saved at Parker")
        txt = h.ok_cmd("status")
        check(re.search(r"^Hamilton - Parker\s+down\b", txt, re.M),
              "herd status with Hamilton stopped lacks 'Hamilton - Parker  down':\n%s" % txt)
        h.ok_cmd("start", "Hamilton")
        wait_links(h, {}, 5.0, "every link up after Hamilton is back")
        t.ok("herd cut with a server down names it, exits 1 and changes nothing")

        # -- connection limit and idle timeout ---------------------------
        conns = [Ctl(h, "Alford") for _ in range(16)]
        extra = Ctl(h, "Alford")
        reply = extra.read_line()
        check(reply.startswith(b"error ") and b"too many" in reply,
              "a 17th control connection: %s" % show(reply))
        check(extra.closed_by_server(2.0), "the 17th connection is closed")
        extra.close()
        t0 = time.monotonic()
        check(conns[0].closed_by_server(8.0), "a silent control connection is closed")
        took = time.monotonic() - t0
        for c in conns:
            c.close()
        eq(server_status(h, "Alford")["name"], "Alford", "Alford's control socket still serves")
        t.ok("control socket: 16 connections at once (the 17th refused), silent ones "
             "closed (after %.1f s)" % took)

        h.stop()
        for n in h.names:
            check(not os.path.exists(sock_path(h, n)),
                  "%s left behind after herd stop" % sock_path(h, n))
        t.ok("herd stop: every control socket removed")
    finally:
        h.close()


herdsup.run(main)
