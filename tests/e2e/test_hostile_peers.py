#!/usr/bin/env python3
"""Hostile peers: only a neighbour that proves the herd secret may send records.

Servers with a herd secret (--secret-file) speak TLS 1.3 on their peer links
from the first byte, keyed by the secret as an external pre-shared key; the
herd's own handshake (HELLO/PROOF lines, server/handshake.h) runs inside that
session.  Python's ssl module cannot do TLS with external pre-shared keys,
so this script speaks through herd-tls-tunnel (tests/tools/tls_tunnel.c,
passed as --tunnel): a plaintext connection to a tunnel in --dial mode comes
out at the server as a TLS connection made with the secret file the tunnel
was given (the tunnel's first line names the port the server sees), and a
tunnel in --accept mode stands behind a peer port a server dials.  Tunnels
are stopped at the end whatever happened (they are registered with the
harness's cleanup).

Alford and Bolden share a herd secret and link up.  At the TLS layer: an
impostor that dials Alford with another secret fails the TLS handshake and
never hears a HELLO; one that sends a HELLO (or HTTP) in clear gets nothing
back (at most a TLS alert: no HELLO, epoch, count, digest or proof) and is
closed at once.  Alford logs each ("binder does not verify", "speaks in
clear"), and the records they sent change nothing.  Then, inside TLS made
with the right secret, a third process that pretends to be Bolden speaks the
inner handshake with a proof made with another secret, no proof, a replayed
or reflected proof, a proof for another name, a name that is not a
neighbour, another protocol version, garbage, 1 MiB without a newline,
records before or instead of its proof, or nothing at all for more than 5 s
(also, in clear: a TCP connection that never starts TLS, or stops inside
the header of its first TLS record).  Each time Alford refuses and closes
that connection, logs why, keeps its real link to Bolden, and every `AT`
line the impostor sent (before, after or instead of its proof) changes
nothing: WHATSAT for that client answers `?` at Alford and at Bolden.

Positive controls: an impostor that does know the secret (the proof is
computed here with hmac/hashlib) completes the handshake, its malformed
records are logged and dropped while the link stays up, and its valid record
is applied at Alford and, once the real link is back, reaches Bolden.  The
same from the other side: Ives dials a stand-in acceptor ("Jones") written
here, behind a tunnel in --accept mode; Ives refuses it while its HELLO carries a bad
proof, and takes its records once the proof is right (Ives' own PROOF is
checked here too).

Also: servers where only one side has a secret do not link, whichever side
dials.  Dialled in clear, the side with the secret logs that the other
"speaks in clear"; dialled with TLS, the side without refuses the
ClientHello as "the other end speaks TLS".  Two servers with different
secrets do not link: the acceptor logs the TLS failure ("binder does not
verify").  In all three the dialer only sees the other end hang up, and
logs that (a dialer with TLS: "during the TLS handshake"); all
of them still serve clients and nothing crosses.  Two servers without a
secret link in clear with proofs `-` and warn "no herd secret"; and a client
that sends `AT ...` on the client port gets `? AT ...` and changes nothing
anywhere.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import hashlib
import hmac
import os
import re
import select
import socket
import subprocess
import time

import herdtest
from herdtest import check, eq, fail, show, split_at

SECRET = b"0123456789abcdef-the-herd-secret"
OTHER_SECRET = b"fedcba9876543210-not-the-secret!"
UCLA = b"+34.068930-118.445127"
CTIME = b"1621464827.959498503"
HANDSHAKE_TIMEOUT = 5.0
CLOSE_WITHIN = 3.0


# ---------------------------------------------------------------------------
# the handshake, written from server/handshake.h


def proof(secret, role, dialer, acceptor, dial_nonce, accept_nonce):
    prefix = b"herd/2 dial|" if role == "dial" else b"herd/2 accept|"
    msg = prefix + dialer + b"|" + acceptor + b"|" + dial_nonce + accept_nonce
    return hmac.new(secret, msg, hashlib.sha256).hexdigest().encode()


def hello(name, nonce, proof_field=None, epoch=1, count=0, digest=0):
    line = b"HELLO herd/2 %s %d %d %016x %s" % (name, epoch, count, digest,
                                                 nonce.hex().encode())
    if proof_field is not None:
        line += b" " + proof_field
    return line + b"\n"


def parse_hello(line, who):
    f = line.split(b" ")
    check(len(f) in (7, 8) and f[0] == b"HELLO" and f[1] == b"herd/2",
          "%s: not a HELLO line: %s" % (who, show(line)))
    check(re.match(rb"^[0-9]+$", f[3]) and re.match(rb"^[0-9]+$", f[4]),
          "%s: HELLO epoch/count not decimal: %s" % (who, show(line)))
    check(re.match(rb"^[0-9a-f]{16}$", f[5]), "%s: HELLO digest: %s" % (who, show(line)))
    check(re.match(rb"^[0-9a-f]{32}$", f[6]), "%s: HELLO nonce: %s" % (who, show(line)))
    return {"name": f[2], "nonce": bytes.fromhex(f[6].decode()),
            "proof": f[7] if len(f) == 8 else None}


def at_line(cid, server=b"Bolden", diff=b"+0.000000001", loc=UCLA, ctime=CTIME):
    return b"AT %s %s %s %s %s" % (server, diff, cid, loc, ctime)


class Tunnel:
    """A herd-tls-tunnel process; t.cleanup() stops it, also on failure."""

    def __init__(self, t, role, secret, to_port, label, listen_port=0):
        self.label = label
        self.stderr_path = os.path.join(t.tmpdir, "tunnel-%s.stderr.txt" % label)
        argv = [t.args.tunnel, "--" + role,
                "--listen", "%s:%d" % (herdtest.LOOPBACK, listen_port),
                "--to", "%s:%d" % (herdtest.LOOPBACK, to_port),
                "--secret-file", secret]
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=err,
                                         env=herdtest.server_env())
        # Registered with the harness's fakes: t.cleanup() calls stop() on
        # each of them whatever happened (its forked children end with it).
        t.fakes.append(self)
        t.log("started tunnel %s (pid %d): %s" % (label, self.proc.pid, " ".join(argv)))
        line = b""
        deadline = time.monotonic() + 10.0
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not r:
                fail("tunnel %s: no 'listening PORT' line within 10 s; got %s"
                     % (label, show(line)))
            b = os.read(self.proc.stdout.fileno(), 1)
            if not b:
                fail("tunnel %s exited (%s) before listening; got %s; stderr in %s"
                     % (label, self.proc.poll(), show(line), self.stderr_path))
            line += b
        m = re.match(rb"^listening ([0-9]+)\n$", line)
        check(m, "tunnel %s: first line %s, not 'listening PORT'" % (label, show(line)))
        self.port = int(m.group(1))
        check(listen_port == 0 or self.port == listen_port,
              "tunnel %s listens on %d, not %d" % (label, self.port, listen_port))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()


class Raw(herdtest.Client):
    """A connection to a peer port: through a dialling Tunnel (TLS with the
    tunnel's secret, plaintext here), or, given a port number, in clear."""

    def __init__(self, via, label, banner=True):
        self.tunnel = via if isinstance(via, Tunnel) else None
        super().__init__(via.port if self.tunnel else via, timeout=5.0, label=label)
        self.local_port = None if self.tunnel else self.sock.getsockname()[1]
        if self.tunnel and banner:
            self.read_banner()

    def read_banner(self, expect_ok=True):
        """The tunnel's first line: "TUNNEL <port>" once the TLS handshake is
        done (that port is the one the server logs), or "TUNNEL-FAILED
        <reason>". Returns the reason of a failure (expect_ok False), or None."""
        line = self.read_line(timeout=8.0)
        m = re.match(rb"^TUNNEL ([0-9]+)$", line)
        if m:
            check(expect_ok, "%s: the TLS handshake succeeded (%s)" % (self.label, show(line)))
            self.local_port = int(m.group(1))
            return None
        check(line.startswith(b"TUNNEL-FAILED "),
              "%s: tunnel's first line %s" % (self.label, show(line)))
        check(not expect_ok, "%s: the tunnel's TLS handshake failed: %s"
              % (self.label, show(line)))
        return line[len(b"TUNNEL-FAILED "):]

    def send_quiet(self, data):
        """Send; a peer that already closed is not an error here."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def closed_within(self, timeout):
        """Read until EOF; returns (bytes read, seconds); fails at the deadline."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        got = self.buf
        self.buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("%s: still open %.1f s later; read %s" % (self.label, timeout, show(got)))
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                chunk = self.sock.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                return got, time.monotonic() - t0
            got += chunk


def whatsat_unknown(srv, cid, what):
    with srv.connect() as c:
        req = b"WHATSAT " + cid + b" 10 1"
        c.send(req + b"\n")
        first, line = c.read_whatsat()
        eq(line if first == b"?" else first, b"? " + req,
           "%s: WHATSAT at %s for a client nobody should know" % (what, srv.name))


def whatsat_first(srv, cid, timeout=5.0):
    """Poll WHATSAT until it answers; returns the AT line."""
    deadline = time.monotonic() + timeout
    with srv.connect() as c:
        while True:
            c.send(b"WHATSAT " + cid + b" 10 1\n")
            first, body = c.read_whatsat()
            if first != b"?":
                return first
            if time.monotonic() > deadline:
                fail("%s never learnt %s within %.1f s; last reply %s"
                     % (srv.name, show(cid), timeout, show(body)))
            time.sleep(0.05)


def whatsat_until(srv, cid, want, what, timeout=5.0):
    """Poll WHATSAT until it answers `want` (a client already known there
    answers its older record until the newer one has crossed)."""
    deadline = time.monotonic() + timeout
    with srv.connect() as c:
        while True:
            c.send(b"WHATSAT " + cid + b" 10 1\n")
            first, body = c.read_whatsat()
            if first == want:
                return
            if time.monotonic() > deadline:
                eq(first, want, "%s (at %s, still after %.1f s)" % (what, srv.name, timeout))
            time.sleep(0.05)


def iamat(srv, cid, loc=UCLA, ctime=CTIME):
    with srv.connect() as c:
        c.send(b"IAMAT %s %s %s\n" % (cid, loc, ctime))
        at = c.read_line()
    f = split_at(at)
    eq(f[3], cid, "%s: AT client id" % srv.name)
    return at


SOFT = []


def soft_wait_log(t, srv, pattern, timeout, since, what):
    """Like wait_log, but a miss is collected and the test goes on (it still
    fails at the end), so one missing log line does not hide later checks."""
    try:
        srv.wait_log(pattern, timeout, since)
        return True
    except herdtest.TestFailure:
        SOFT.append("%s\n      expected: a log line matching %s\n      got:      none "
                    "within %.0f s in %s"
                    % (what, pattern.decode(), timeout, srv.log_path))
        t.note("FAILED (reported at the end): %s" % what)
        return False


def refused(srv, raw, reason, since):
    """The log says this very connection was refused for `reason`."""
    srv.wait_log(rb"peer connection 127\.0\.0\.1:%d refused: %s"
                 % (raw.local_port, re.escape(reason)), 5.0, since)


# ---------------------------------------------------------------------------
# an impostor dialling Alford as Bolden


def impostor_hello(a, tun, label, name=b"Bolden", nonce=None):
    """An impostor's HELLO to Alford, inside TLS made by the tunnel `tun`."""
    raw = Raw(tun, label)
    nonce = nonce or os.urandom(16)
    raw.send(hello(name, nonce))
    got = parse_hello(raw.read_line(), "%s: Alford's answer" % label)
    eq(got["name"], b"Alford", "%s: name in the acceptor's HELLO" % label)
    return raw, nonce, got


def no_hello_in(got, what):
    """Bytes a refused connection got: nothing of a herd handshake."""
    check(b"HELLO" not in got and b"PROOF" not in got
          and not re.search(rb"[0-9a-f]{32}", got),
          "%s: the server told something of itself: %s" % (what, show(got)))
    for line in got.split(b"\n"):
        f = line.split(b" ")
        check(not (len(f) in (7, 8) and f[1:2] == [b"herd/2"]),
              "%s: a line that parses as a HELLO: %s" % (what, show(line)))


def tls_layer_cases(t, a, tun_wrong, evil_ats):
    """Refusals before the inner handshake: another secret, plaintext."""
    # The wrong secret: the TLS handshake fails; no HELLO, no records.
    since = a.log_size()
    raw = Raw(tun_wrong, "impostor with the wrong secret", banner=False)
    # What it would say goes in before the TLS handshake is done: the tunnel
    # forwards it only if the handshake succeeds.
    raw.send_quiet(hello(b"Bolden", os.urandom(16)) + b"PROOF "
                   + b"ab" * 32 + b"\n" + evil_ats())
    why = raw.read_banner(expect_ok=False)
    got, _ = raw.closed_within(CLOSE_WITHIN)
    raw.close()
    eq(got, b"", "bytes after TUNNEL-FAILED (the wrong secret)")
    a.wait_log(rb"peer connection 127\.0\.0\.1:[0-9]+ closed during the handshake: "
               rb"TLS: [^\n]*binder does not verify", 5.0, since)
    log = a.log_bytes()[since:]
    check(b"refused:" not in log and b"link Bolden" not in log,
          "the wrong-secret connection reached the herd handshake:\n%s"
          % log.decode("utf-8", "replace"))
    t.ok("the wrong secret: the TLS handshake fails (%s), no HELLO from Alford, "
         "logged as a TLS failure" % why.decode("utf-8", "replace"))

    # A HELLO in clear, then a PROOF and records: nothing comes back but, at
    # most, a TLS alert; the connection is closed and logged.
    since = a.log_size()
    raw = Raw(a.peer_port, "a dialer speaking in clear")
    raw.send_quiet(hello(b"Bolden", os.urandom(16)))
    got, took = raw.closed_within(HANDSHAKE_TIMEOUT + CLOSE_WITHIN)
    raw.send_quiet(b"PROOF " + b"ab" * 32 + b"\n" + evil_ats())
    raw.close()
    no_hello_in(got, "a plaintext HELLO to a server with a secret")
    check(len(got) <= 64, "a plaintext HELLO got %d bytes back: %s" % (len(got), show(got)))
    check(took < CLOSE_WITHIN, "a plaintext HELLO was closed only after %.2f s" % took)
    a.wait_log(rb"peer connection 127\.0\.0\.1:%d closed during the handshake: TLS: "
               rb"the other end speaks in clear, not TLS \(no herd secret there\?\)"
               % raw.local_port, 5.0, since)
    t.ok("a HELLO in clear: closed after %.2f s with %d bytes back (no HELLO), logged "
         "'speaks in clear'" % (took, len(got)))

    # Plaintext that is not a HELLO: refused by TLS as well.
    since = a.log_size()
    raw = Raw(a.peer_port, "a dialer sending HTTP in clear")
    raw.send_quiet(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + evil_ats(1))
    got, took = raw.closed_within(HANDSHAKE_TIMEOUT + CLOSE_WITHIN)
    raw.close()
    no_hello_in(got, "HTTP in clear to a server with a secret")
    check(len(got) <= 64, "HTTP in clear got %d bytes back: %s" % (len(got), show(got)))
    a.wait_log(rb"peer connection 127\.0\.0\.1:%d closed during the handshake: TLS: "
               % raw.local_port, 5.0, since)
    t.ok("HTTP in clear: closed with %d bytes back, logged as a TLS failure" % len(got))


def attack_cases(t, a, b, tun, tun_wrong):
    """Every way the handshake can fail; returns the client ids they tried."""
    ids = []
    hostile_ids = iter(b"hostile.%d" % i for i in range(1000))

    def evil_ats(n=2):
        out = b""
        for _ in range(n):
            cid = next(hostile_ids)
            ids.append(cid)
            out += at_line(cid) + b"\n"
        return out

    tls_layer_cases(t, a, tun_wrong, evil_ats)

    # Inside TLS with the right secret: a PROOF made with another secret.
    since = a.log_size()
    raw, dn, got = impostor_hello(a, tun, "impostor proving another secret")
    an_earlier = got["nonce"]
    check(got["proof"] is not None and got["proof"] != b"-",
          "Alford (with a secret) sent no proof: %s" % show(got["proof"]))
    eq(got["proof"], proof(SECRET, "accept", b"Bolden", b"Alford", dn, got["nonce"]),
       "Alford's accept proof, computed here from the shared secret")
    raw.send_quiet(b"PROOF " + proof(OTHER_SECRET, "dial", b"Bolden", b"Alford", dn,
                                      got["nonce"]) + b"\n" + evil_ats())
    eq(raw.closed_within(CLOSE_WITHIN)[0], b"", "bytes after a wrong PROOF")
    raw.close()
    refused(a, raw, b"wrong proof", since)
    t.ok("inside TLS, a proof made with another secret: refused and closed, logged "
         "'wrong proof'")

    # "PROOF -" (no secret), then records.
    since = a.log_size()
    raw, dn, got = impostor_hello(a, tun, "impostor without a proof")
    raw.send_quiet(b"PROOF -\n" + evil_ats())
    eq(raw.closed_within(CLOSE_WITHIN)[0], b"", "bytes after PROOF -")
    raw.close()
    refused(a, raw, b"neighbour sent no proof", since)
    t.ok("PROOF -: refused and closed")

    # Records instead of the proof.
    since = a.log_size()
    raw, dn, got = impostor_hello(a, tun, "impostor sending AT instead of PROOF")
    raw.send_quiet(evil_ats(3))
    eq(raw.closed_within(CLOSE_WITHIN)[0], b"", "bytes after AT instead of PROOF")
    raw.close()
    refused(a, raw, b"no proof after HELLO", since)
    t.ok("AT lines instead of PROOF: refused and closed")

    # Records before the HELLO.
    since = a.log_size()
    raw = Raw(tun, "impostor sending AT before HELLO")
    raw.send_quiet(evil_ats(2) + hello(b"Bolden", os.urandom(16)))
    eq(raw.closed_within(CLOSE_WITHIN)[0], b"", "bytes after AT before HELLO")
    raw.close()
    refused(a, raw, b"not a herd handshake", since)
    t.ok("AT lines before HELLO: refused and closed, nothing sent back")

    # Alford's own accept proof reflected back as the dialer's.
    since = a.log_size()
    raw, dn, got = impostor_hello(a, tun, "impostor reflecting Alford's proof")
    raw.send_quiet(b"PROOF " + got["proof"] + b"\n" + evil_ats())
    eq(raw.closed_within(CLOSE_WITHIN)[0], b"", "bytes after a reflected proof")
    raw.close()
    refused(a, raw, b"wrong proof", since)
    t.ok("the acceptor's proof reflected as the dialer's: refused")

    # The right secret but the accept role (a proof of the wrong direction).
    since = a.log_size()
    raw, dn, got = impostor_hello(a, tun, "impostor with the accept role's proof")
    raw.send_quiet(b"PROOF " + proof(SECRET, "accept", b"Bolden", b"Alford", dn, got["nonce"])
                   + b"\n" + evil_ats())
    eq(raw.closed_within(CLOSE_WITHIN)[0], b"", "bytes after a wrong-role proof")
    raw.close()
    refused(a, raw, b"wrong proof", since)
    t.ok("a proof made with the right secret for the other role: refused")

    # A replay: the same dialer nonce again, and the proof that would have
    # been right had Alford used an earlier acceptor nonce again (the one of
    # the first case inside TLS).
    since = a.log_size()
    raw, dn2, got = impostor_hello(a, tun, "impostor replaying an old proof", nonce=dn)
    check(got["nonce"] != an_earlier, "Alford reused its nonce %s" % got["nonce"].hex())
    raw.send_quiet(b"PROOF " + proof(SECRET, "dial", b"Bolden", b"Alford", dn, an_earlier)
                   + b"\n" + evil_ats())
    eq(raw.closed_within(CLOSE_WITHIN)[0], b"", "bytes after a replayed proof")
    raw.close()
    refused(a, raw, b"wrong proof", since)
    t.ok("a proof valid for an earlier nonce pair (replay): refused")

    # The right secret but the proof names another pair of servers.
    since = a.log_size()
    raw, dn, got = impostor_hello(a, tun, "impostor proving another name")
    raw.send_quiet(b"PROOF " + proof(SECRET, "dial", b"Mallory", b"Alford", dn, got["nonce"])
                   + b"\n" + evil_ats())
    eq(raw.closed_within(CLOSE_WITHIN)[0], b"", "bytes after a proof for another name")
    raw.close()
    refused(a, raw, b"wrong proof", since)
    t.ok("a proof for another dialer name: refused")

    # Not a neighbour.
    since = a.log_size()
    raw = Raw(tun, "impostor named Mallory")
    raw.send_quiet(hello(b"Mallory", os.urandom(16)) + evil_ats())
    eq(raw.closed_within(CLOSE_WITHIN)[0], b"", "bytes sent to a non-neighbour")
    raw.close()
    refused(a, raw, b"not a configured neighbour", since)
    # Alford's own name is not its neighbour either.
    since = a.log_size()
    raw = Raw(tun, "impostor named Alford")
    raw.send_quiet(hello(b"Alford", os.urandom(16)) + evil_ats())
    eq(raw.closed_within(CLOSE_WITHIN)[0], b"", "bytes sent to an impostor named Alford")
    raw.close()
    refused(a, raw, b"not a configured neighbour", since)
    t.ok("a name that is not a neighbour (Mallory, Alford itself): refused, nothing sent")

    # Garbage of several kinds.
    garbage = [
        ("binary", b"\x00\xff\xfe garbage \x01\x02\n"),
        ("HTTP", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("client IAMAT", b"IAMAT kiwi " + UCLA + b" " + CTIME + b"\n"),
        ("HELLO with a short nonce", b"HELLO herd/2 Bolden 1 0 0000000000000000 abcd\n"),
        ("HELLO with an upper-case nonce",
         b"HELLO herd/2 Bolden 1 0 0000000000000000 " + b"AB" * 16 + b"\n"),
        ("HELLO with a 400-digit count",
         b"HELLO herd/2 Bolden 1 " + b"9" * 400 + b" 0000000000000000 " + b"ab" * 16 + b"\n"),
        ("HELLO with a NUL in the name",
         b"HELLO herd/2 Bol\x00den 1 0 0000000000000000 " + b"ab" * 16 + b"\n"),
        ("dialer HELLO carrying a proof",
         hello(b"Bolden", os.urandom(16), b"ab" * 32)),
    ]
    for what, data in garbage:
        since = a.log_size()
        raw = Raw(tun, "impostor sending %s" % what)
        raw.send_quiet(data + evil_ats(1))
        eq(raw.closed_within(CLOSE_WITHIN)[0], b"", "bytes sent back for %s" % what)
        raw.close()
        refused(a, raw, b"not a herd handshake", since)
    t.ok("%d kinds of garbage instead of HELLO: refused, logged, nothing sent back"
         % len(garbage))

    # A neighbour speaking another version of the peer protocol: refused
    # with a reason that names the version this server speaks.
    for old in (b"herd/1", b"herd/3"):
        since = a.log_size()
        raw = Raw(tun, "impostor speaking %s" % old.decode())
        raw.send_quiet(b"HELLO " + old + b" Bolden 1 0 0000000000000000 "
                       + b"ab" * 16 + b"\n" + evil_ats(1))
        eq(raw.closed_within(CLOSE_WITHIN)[0], b"", "bytes sent back for %s" % old)
        raw.close()
        refused(a, raw, b"another version of the peer protocol (this server "
                b"speaks herd/2)", since)
    t.ok("HELLO herd/1 and herd/3: refused as another version of the peer protocol")

    # A huge line with no newline on the peer port: not buffered, closed.
    since = a.log_size()
    raw = Raw(tun, "impostor sending 1 MiB without newline")
    raw.sock.settimeout(5)
    sent = 0
    try:
        while sent < (1 << 20):
            sent += raw.sock.send(b"x" * 65536)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    eq(raw.closed_within(CLOSE_WITHIN)[0], b"", "bytes sent back for 1 MiB of garbage")
    raw.close()
    t.ok("1 MiB without newline on the peer port: closed (after %d bytes)" % sent)
    if soft_wait_log(t, a, rb"peer connection 127\.0\.0\.1:%d\b" % raw.local_port, 3.0, since,
                     "a peer connection closed for a 1 MiB line without newline (a failed "
                     "handshake) is logged as 'peer connection 127.0.0.1:%d ...'"
                     % raw.local_port):
        t.ok("... and logged")

    # Stalls: nothing at all, a HELLO then nothing, half a HELLO (inside
    # TLS); a TCP connection that never starts TLS, or stops halfway through
    # the header of its first TLS record (in clear).
    since = a.log_size()
    t0 = time.monotonic()
    silent = Raw(tun, "impostor that says nothing")
    half = Raw(tun, "impostor that sends half a HELLO")
    half.send(b"HELLO herd/2 Bolden 1 0")
    stalled = Raw(tun, "impostor that stops after HELLO")
    stalled.send(hello(b"Bolden", os.urandom(16)))
    parse_hello(stalled.read_line(), "Alford's answer to the stalling impostor")
    no_tls = Raw(a.peer_port, "a TCP connection that never starts TLS")
    half_tls = Raw(a.peer_port, "a dialer that stops inside its first TLS record")
    half_tls.send(b"\x16\x03\x01\x02")   # a handshake record, its length cut short
    stalls = (silent, half, stalled, no_tls, half_tls)
    for raw in stalls:
        # Each is not closed before the handshake timeout...
        left = t0 + HANDSHAKE_TIMEOUT - 0.5 - time.monotonic()
        if left > 0:
            raw.expect_nothing(left)
    for raw in stalls:
        # ...and is closed a little after it.
        got, _ = raw.closed_within(t0 + HANDSHAKE_TIMEOUT + CLOSE_WITHIN - time.monotonic())
        took = time.monotonic() - t0
        if raw.tunnel:
            eq(got, b"", "bytes sent to %s" % raw.label)
        else:
            no_hello_in(got, raw.label)
            check(len(got) <= 64, "%s: %d bytes back: %s" % (raw.label, len(got), show(got)))
        check(took >= HANDSHAKE_TIMEOUT - 0.5,
              "%s closed after %.2f s, before the 5 s handshake timeout" % (raw.label, took))
        raw.send_quiet(at_line(next(hostile_ids)) + b"\n")
        raw.close()
        a.wait_log(rb"peer connection 127\.0\.0\.1:%d: no handshake within 5000 ms"
                   % raw.local_port, 5.0, since)
    t.ok("silent, half-HELLO and post-HELLO stalls inside TLS, and a connection that "
         "never starts TLS or stops inside its first record: closed after 5 s and logged")

    return ids


# ---------------------------------------------------------------------------
# a stand-in acceptor ("Jones") that Ives dials


class FakeAcceptor:
    """The stand-in Jones: a tunnel in --accept mode on Jones' peer port
    (the TLS end Ives dials), carrying each connection in clear to a
    socket here."""

    def __init__(self):
        self.port = herdtest.free_port()   # Jones' peer port, as Ives knows it
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind((herdtest.LOOPBACK, 0))
        self.inner_port = self.lsock.getsockname()[1]
        self.tunnel = None
        # Nothing listens on self.port yet: Ives' dials are refused (and
        # retried) until the test gets to it, so no connection waits in a
        # backlog meanwhile.

    def listen(self, t, secret):
        self.lsock.listen(16)
        self.tunnel = Tunnel(t, "accept", secret, self.inner_port, "jones",
                             listen_port=self.port)

    def accept(self, timeout=8.0):
        r, _, _ = select.select([self.lsock], [], [], timeout)
        check(r, "Ives did not dial its neighbour Jones within %.0f s (tunnel's stderr: %s)"
              % (timeout, self.tunnel.stderr_path))
        s, _ = self.lsock.accept()
        c = Raw.__new__(Raw)
        c.label = "Ives' connection to the stand-in Jones"
        c.timeout = 5.0
        c.buf = b""
        c.eof = False
        c.sock = s
        c.tunnel = self.tunnel
        c.local_port = None   # the tunnel's, not Ives': Ives' log is not matched on it
        return c

    def close(self):
        self.lsock.close()


def forged_acceptor(t, ives, fake, secret):
    """Ives (with the secret) dials Jones; Jones answers in several wrong ways."""
    ids = []
    fake.listen(t, secret)
    cases = [
        ("a wrong proof", lambda dn, an: proof(OTHER_SECRET, "accept", b"Ives", b"Jones", dn, an),
         b"Jones", b"wrong proof"),
        ("no proof", lambda dn, an: b"-", b"Jones", b"neighbour sent no proof"),
        ("Ives' own dial proof",
         lambda dn, an: proof(SECRET, "dial", b"Ives", b"Jones", dn, an),
         b"Jones", b"wrong proof"),
        ("another server's name", lambda dn, an: proof(SECRET, "accept", b"Ives", b"Mallory",
                                                       dn, an),
         b"Mallory", b"unexpected handshake answer"),
    ]
    for i, (what, make, name, reason) in enumerate(cases):
        since = ives.log_size()
        c = fake.accept()
        got = parse_hello(c.read_line(), "Ives' HELLO")
        eq(got["name"], b"Ives", "name in the dialer's HELLO")
        eq(got["proof"], None, "the dialer's HELLO carries no proof")
        an = os.urandom(16)
        cid = b"hostile.jones.%d" % i
        ids.append(cid)
        c.send_quiet(hello(name, an, make(got["nonce"], an)) + at_line(cid, b"Jones") + b"\n")
        eq(c.closed_within(CLOSE_WITHIN)[0], b"", "bytes from Ives after %s" % what)
        c.close()
        ives.wait_log(rb"peer connection [^ ]+ refused: %s" % re.escape(reason), 5.0, since)
    t.ok("a stand-in acceptor with a wrong/no/reflected proof or another name: "
         "Ives refuses and closes (%d cases)" % len(cases))

    # Garbage instead of the acceptor's HELLO.
    since = ives.log_size()
    c = fake.accept()
    c.read_line()
    c.send_quiet(b"HTTP/1.1 200 OK\r\n\r\n" + at_line(b"hostile.jones.http", b"Jones") + b"\n")
    ids.append(b"hostile.jones.http")
    eq(c.closed_within(CLOSE_WITHIN)[0], b"", "bytes from Ives after garbage")
    c.close()
    ives.wait_log(rb"refused: unexpected handshake answer", 5.0, since)
    t.ok("garbage instead of the acceptor's HELLO: Ives refuses")

    # The right secret: Ives proves itself and takes records.
    since = ives.log_size()
    c = fake.accept()
    got = parse_hello(c.read_line(), "Ives' HELLO")
    dn, an = got["nonce"], os.urandom(16)
    c.send(hello(b"Jones", an, proof(SECRET, "accept", b"Ives", b"Jones", dn, an)))
    eq(c.read_line(), b"PROOF " + proof(SECRET, "dial", b"Ives", b"Jones", dn, an),
       "Ives' PROOF line, computed here from the shared secret")
    ives.wait_log(rb"link Jones up", 5.0, since)
    rec = at_line(b"jones.ok", b"Jones", b"+0.250000000")
    c.send(b"AT Jones +0.250000000 jones.bad +91-118 " + CTIME + b"\n" + rec + b"\n")
    eq(whatsat_first(ives, b"jones.ok"), rec, "record from the proven stand-in acceptor")
    ives.wait_log(rb"link Jones: dropped invalid record \(bad location\)", 5.0, since)
    whatsat_unknown(ives, b"jones.bad", "invalid record over a proven link")
    c.close()
    ives.wait_log(rb"link Jones down", 5.0, since)
    t.ok("a stand-in acceptor with the right proof: Ives' own PROOF is right, link up, "
         "its valid record applied, its bad one dropped")
    return ids


# ---------------------------------------------------------------------------


def main(t):
    secret = t.secret_file("secret", SECRET)
    other = t.secret_file("other-secret", OTHER_SECRET)
    fake = FakeAcceptor()
    try:
        run(t, secret, other, fake)
    finally:
        fake.close()


def run(t, secret, other, fake):
    a = t.server("Alford", extra_args=["--secret-file", secret])
    b = t.server("Bolden", extra_args=["--secret-file", secret])
    t.link(a, b)
    # One side with the secret, one without (the one with it dials: the
    # name that sorts first dials); then two different secrets.
    c = t.server("Carver", extra_args=["--secret-file", secret])
    d = t.server("Dalton")
    t.link(c, d)
    e = t.server("Easton", extra_args=["--secret-file", secret])
    f = t.server("Fulton", extra_args=["--secret-file", other])
    t.link(e, f)
    # No secret on either side.
    g = t.server("Gibson")
    h = t.server("Harlow")
    t.link(g, h)
    # One side with the secret, one without, the one without dialling.
    k = t.server("Kimball")
    l = t.server("Lowell", extra_args=["--secret-file", secret])
    t.link(k, l)
    # Ives dials a stand-in neighbour.
    ives = t.server("Ives", extra_args=["--secret-file", secret])
    ives.peers.append(("Jones", fake.port))
    # The acceptors of the pairs that cannot link listen before their
    # dialers start, so that a dialer's first failure (the one it logs) is
    # the handshake's, not "connection refused".
    for s in (d, f, l):
        s.start()
    t.start_all()

    a.wait_links_up(["Bolden"])
    b.wait_links_up(["Alford"])
    base = iamat(a, b"legit.kiwi")
    eq(whatsat_first(b, b"legit.kiwi"), base, "a record flooded over the real link")
    t.ok("Alford and Bolden with the same secret link up and flood")

    # The impostors' way in: TLS with the herd's secret, or with another one.
    tun = Tunnel(t, "dial", secret, a.peer_port, "alford")
    tun_wrong = Tunnel(t, "dial", other, a.peer_port, "alford-wrong-secret")

    a_mark = a.log_size()
    ids = attack_cases(t, a, b, tun, tun_wrong)

    # A client's AT on the client port.
    with a.connect() as cl:
        line = at_line(b"client.at", b"Alford")
        cl.send(line + b"\n")
        eq(cl.read_line(), b"? " + line, "reply to an AT line on the client port")
    ids.append(b"client.at")
    t.ok("AT on the client port: answered '? AT ...'")

    # Nothing any impostor sent was applied, the real link never dropped.
    marker = iamat(a, b"legit.after")
    eq(whatsat_first(b, b"legit.after"), marker, "a record flooded after the attacks")
    for cid in ids:
        whatsat_unknown(a, cid, "record from a refused connection")
        whatsat_unknown(b, cid, "record from a refused connection")
    log = a.log_bytes()[a_mark:]
    check(b"link Bolden down" not in log and b"link Bolden up" not in log,
          "the real link Alford-Bolden went down during the attacks:\n%s"
          % "\n".join(l.decode("utf-8", "replace") for l in log.split(b"\n")
                      if b"link Bolden" in l))
    t.ok("none of the %d AT lines from refused connections (or the client port) is known "
         "at Alford or Bolden; the real link stayed up" % len(ids))

    # Positive control: an impostor that knows the secret is a neighbour.
    since = a.log_size()
    raw, dn, got = impostor_hello(a, tun, "a Bolden that knows the secret")
    raw.send(b"PROOF " + proof(SECRET, "dial", b"Bolden", b"Alford", dn, got["nonce"]) + b"\n")
    a.wait_log(rb"link Bolden up", 5.0, since)
    bad = [
        (b"bad.diff", at_line(b"bad.diff", diff=b"+0.1")),
        (b"bad.diffsign", at_line(b"bad.diffsign", diff=b"0.000000001")),
        (b"bad.loc", at_line(b"bad.loc", loc=b"34.068930-118.445127")),
        (b"bad.nan", at_line(b"bad.nan", loc=b"+nan-118")),
        (b"bad.inf", at_line(b"bad.inf", loc=b"+34-inf")),
        (b"bad.range", at_line(b"bad.range", loc=b"+90.000000001-118")),
        (b"bad.lng", at_line(b"bad.lng", loc=b"+34-180.5")),
        (b"bad.exp", at_line(b"bad.exp", loc=b"+3.4e1-118")),
        (b"bad.time", at_line(b"bad.time", ctime=b"-1621464827")),
        (b"bad.time400", at_line(b"bad.time400", ctime=b"9" * 400)),
        (b"bad.timeexp", at_line(b"bad.timeexp", ctime=b"1.6e9")),
        (b"bad.server", at_line(b"bad.server", server=b"Bol/den")),
        (b"bad.nul", at_line(b"bad.nul", loc=b"+34-11\x008")),
        (b"bad.fields", b"AT Bolden +0.000000001 bad.fields " + UCLA),
        (b"bad.more", at_line(b"bad.more") + b" extra"),
        (b"bad.iamat", b"IAMAT bad.iamat " + UCLA + b" " + CTIME),
        (b"bad.whatsat", b"WHATSAT legit.kiwi 10 5"),
        (b"i" * 257, at_line(b"i" * 257)),
    ]
    good = at_line(b"forged.ok", diff=b"+0.123456789", loc=b"+34.5-118.5")
    raw.send(b"".join(l + b"\n" for _, l in bad) + good + b"\n")
    eq(whatsat_first(a, b"forged.ok"), good, "record from the proven impostor at Alford")
    deadline = time.monotonic() + 5
    while True:
        n = len(re.findall(rb"link Bolden: dropped invalid record", a.log_bytes()[since:]))
        if n >= len(bad):
            break
        if time.monotonic() > deadline:
            fail("Alford logged %d 'dropped invalid record' lines for %d bad records"
                 % (n, len(bad)))
        time.sleep(0.02)
    eq(n, len(bad), "'dropped invalid record' lines at Alford")
    for cid, _ in bad[:-1]:
        whatsat_unknown(a, cid, "malformed record over a proven link")
    check(still_open(raw), "Alford closed the proven link after malformed records")
    t.ok("a Bolden that knows the secret links up; %d malformed records are logged and "
         "dropped, the link stays up, the valid record after them is applied" % len(bad))

    # In one write, so that each line is looked at ahead of time: the held
    # copy of forged.ok (dropped as stale), the same record re-spaced (not
    # byte-identical: parsed, still stale), a valid record with tabs and
    # double spaces (applied, kept single-spaced), a newer forged.ok.
    newer = at_line(b"forged.ok", diff=b"+0.223456789", loc=b"+34.6-118.5",
                    ctime=b"1621464828.959498503")
    spaced = (b"AT  Bolden\t+0.000000002   spaced.ok  +34.5-118.5\t" + CTIME)
    raw.send(good + b"\n" + good.replace(b" ", b"  ") + b"\n" + spaced + b"\r\n"
             + good + b"\n" + newer + b"\n")
    whatsat_until(a, b"forged.ok", newer, "the newer forged.ok after the batch")
    eq(whatsat_first(a, b"spaced.ok"),
       b"AT Bolden +0.000000002 spaced.ok +34.5-118.5 " + CTIME,
       "a re-spaced valid record, stored single-spaced")
    n2 = len(re.findall(rb"link Bolden: dropped invalid record", a.log_bytes()[since:]))
    eq(n2, len(bad), "'dropped invalid record' lines after the well-formed batch")
    t.ok("held copies, re-spaced copies and re-spaced new records in one batch: "
         "stale ones change nothing, new ones are applied in the canonical form")

    # When it goes, the real Bolden comes back and catches up.
    raw.close()
    a.wait_log(rb"link Bolden down", 5.0, since)
    since2 = a.log_size()
    a.wait_links_up(["Bolden"], 10.0, since2)
    eq(whatsat_first(b, b"forged.ok"), newer, "the impostor's record at Bolden after catch-up")
    whatsat_unknown(b, b"bad.loc", "malformed record after catch-up")
    t.ok("after the proven impostor leaves, the real link comes back and carries its record")

    # One side with a secret, or different secrets: no link. The side with
    # the secret speaks TLS, the other in clear; what each end can tell:
    dialer_gone = rb"link %s: cannot connect to 127\.0\.0\.1:%d: (closed by the other end|" \
                  rb"connection reset by peer)[^\n]*\(retrying\)"
    # ... and a dialer with TLS says it happened during its TLS handshake.
    tls_gone = rb"link %s: cannot connect to 127\.0\.0\.1:%d: (closed by the other end|" \
               rb"connection reset by peer) during the TLS handshake \(another herd " \
               rb"secret or CA there, or none\?\) \(retrying\)"
    # Carver (secret) dials Dalton (none): Dalton reads Carver's ClientHello
    # as a line (it holds a newline) and refuses it, naming TLS; Carver
    # sees it hang up during its TLS handshake.
    d.wait_log(rb"peer connection [^ ]+ refused: the other end speaks TLS \(a herd secret "
               rb"or certificates there, none here\?\): \\x16\\x03", 10.0)
    c.wait_log(tls_gone % (b"Dalton", d.peer_port), 10.0)
    # Kimball (none) dials Lowell (secret) with a HELLO in clear: Lowell
    # says so (and sends nothing back); Kimball only sees it hang up.
    l.wait_log(rb"peer connection 127\.0\.0\.1:[0-9]+ closed during the handshake: TLS: "
               rb"the other end speaks in clear, not TLS \(no herd secret there\?\)", 10.0)
    k.wait_log(dialer_gone % (b"Lowell", l.peer_port), 10.0)
    # Easton dials Fulton, whose secret is another: the TLS handshake fails
    # at Fulton; Easton only sees it hang up.
    f.wait_log(rb"peer connection 127\.0\.0\.1:[0-9]+ closed during the handshake: TLS: "
               rb"[^\n]*binder does not verify", 10.0)
    e.wait_log(tls_gone % (b"Fulton", f.peer_port), 10.0)
    pairs = ((c, d), (k, l), (e, f))
    for x, y in pairs:
        for s in (x, y):
            log = s.log_bytes()
            check(not re.search(rb"link \w+ up", log),
                  "%s: a link came up without a shared secret" % s.name)
            check(s in (d, k) or b"refused: " not in log,
                  "%s (with a secret) got as far as the herd handshake" % s.name)
    for x, y in pairs:
        for s in (x, y):
            iamat(s, s.name.lower().encode() + b".kiwi")
    time.sleep(0.3)
    for x, y in pairs:
        for s, other_s in ((x, y), (y, x)):
            whatsat_unknown(other_s, s.name.lower().encode() + b".kiwi",
                            "record across an unauthenticated pair")
    t.ok("one secret vs none (either side dialling): no link; the side with the secret "
         "logs 'speaks in clear' when dialled in clear, the side without refuses a "
         "ClientHello as 'speaks TLS'; two different secrets: no link, the acceptor "
         "logs the TLS failure; the dialers log the hang-up (during the TLS handshake, "
         "when they speak TLS); each serves its clients, nothing crosses")

    # No secret anywhere: links with '-' and a warning.
    g.wait_links_up(["Harlow"])
    h.wait_links_up(["Gibson"])
    for s in (g, h):
        s.wait_log(rb"warning: no herd secret", 2.0)
    at = iamat(g, b"gibson.kiwi")
    eq(whatsat_first(h, b"gibson.kiwi"), at, "record over a link without secret")
    for s in (d, k):
        s.wait_log(rb"warning: no herd secret", 2.0)
    for s in (a, b, c, e, f, l, ives):
        check(b"warning: no herd secret" not in s.log_bytes(),
              "%s (with a secret) warned about no herd secret" % s.name)
    t.ok("no secret on either side: the link comes up with '-' proofs, both warn")

    ids_j = forged_acceptor(t, ives, fake, secret)
    for cid in ids_j:
        whatsat_unknown(ives, cid, "record from a refused acceptor")
    t.ok("none of the refused acceptor's records is known at Ives")
    if SOFT:
        t.stop_all()       # still check the exit codes and sanitizer reports
        t.scan_logs()
        t.ok("clean shutdown (exit 0) and no sanitizer report")
        fail("%d expectation(s) failed:\n  - %s" % (len(SOFT), "\n  - ".join(SOFT)))


def still_open(raw):
    """True unless the other end closed (bytes it sent are read and dropped)."""
    while True:
        r, _, _ = select.select([raw.sock], [], [], 0)
        if not r:
            return True
        try:
            if not raw.sock.recv(1 << 16):
                return False
        except ConnectionResetError:
            return False


def add_args(ap):
    ap.add_argument("--tunnel", required=True, help="path to herd-tls-tunnel")


if __name__ == "__main__":
    herdtest.run(main, add_args=add_args)
