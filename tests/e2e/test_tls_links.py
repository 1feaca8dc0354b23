#!/usr/bin/env python3
"""Peer links inside TLS 1.3: what someone on the path can and cannot do.

Pre-shared key (the herd secret).  Alford dials Bolden through a TCP proxy
written here, which sees every byte of the link and can change it.
  * The link comes up through the proxy and both ends log TLS 1.3 keyed by
    the secret; a record flooded over it reaches Bolden, and the proxy saw
    neither the client id, nor the handshake's words, nor the location.
  * Bytes injected into the stream (an `AT` line for a new client, as a
    proxy could write into a link in clear): Bolden drops the link and logs
    a TLS error; the injected record is stored nowhere; the link comes back
    and a later record flows.
  * One byte changed in a record on its way: the link is dropped and logged,
    and the record that was lost with it still reaches Bolden by the
    catch-up once the link is back.
  * One byte changed in the ClientHello, then in the ServerHello: the
    handshake fails on the side that checks it, logged, nothing crosses;
    with the proxy honest again the link comes up.

Certificates.  Hamilton and Parker have certificates naming them, signed by
one CA made here with the openssl tool, and no secret.
  * They link, and log that certificates authenticate the link.
  * Mallory holds a certificate of the same CA and claims to be Hamilton
    (through herd-tls-tunnel): Parker refuses it, logged, without a HELLO.
  * A certificate naming Hamilton from another CA: the TLS handshake fails.
  * Abbott dials "Parker" and finds Mallory's certificate there: Abbott's
    handshake fails with a hostname mismatch.
  * tls_cert without tls_key is a usage error (64); a key that does not
    match its certificate, an unusable configuration (78).
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import os
import re
import select
import shutil
import socket
import subprocess
import threading
import time

import herdtest
from herdtest import check, eq, fail, show

SECRET = b"0123456789abcdef-the-herd-secret"
UCLA = b"+34.068930-118.445127"
CTIME = b"1621464827.959498503"


class Proxy:
    """A TCP proxy between a dialler and its neighbour's peer port, one
    thread, select() over every pair.  Tampering is armed per direction
    ("up": dialler to acceptor, "down": back) and fires once."""

    def __init__(self, to_port):
        self.to_port = to_port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = []          # [dialler side, acceptor side, chunks passed]
        self.seen_up = bytearray()
        self.arm = {}            # direction -> ("inject", data) | ("flip", nth chunk of a connection)
        self.fired = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def arm_inject(self, data):
        with self.lock:
            self.arm["up"] = ("inject", data)

    def arm_flip(self, direction, first_chunk):
        """Flip one byte of the next chunk in direction; first_chunk: only
        the first chunk of a new connection (a hello)."""
        with self.lock:
            self.arm[direction] = ("flip", first_chunk)

    def drop_all(self):
        with self.lock:
            for p in self.pairs:
                p[0].close()
                p[1].close()
            self.pairs = []

    def run(self):
        while not self.stop:
            with self.lock:
                socks = [self.lsock] + [s for p in self.pairs for s in p[:2]]
            try:
                r, _, _ = select.select(socks, [], [], 0.05)
            except (OSError, ValueError):
                continue
            for s in r:
                if s is self.lsock:
                    c, _ = self.lsock.accept()
                    try:
                        u = socket.create_connection(("127.0.0.1", self.to_port), timeout=2)
                    except OSError:
                        c.close()
                        continue
                    with self.lock:
                        self.pairs.append([c, u, {"up": 0, "down": 0}])
                    continue
                self.forward(s)

    def forward(self, s):
        with self.lock:
            pair = next((p for p in self.pairs if s in p[:2]), None)
            if pair is None:
                return
            direction = "up" if s is pair[0] else "down"
            dst = pair[1] if direction == "up" else pair[0]
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                for x in pair[:2]:
                    x.close()
                self.pairs.remove(pair)
                return
            n = pair[2][direction]
            pair[2][direction] = n + 1
            if direction == "up":
                self.seen_up += data
            arm = self.arm.get(direction)
            if arm is not None and arm[0] == "inject":
                del self.arm[direction]
                self.fired.append("inject")
                data = data + arm[1]
            elif arm is not None and arm[0] == "flip" and ((arm[1] and n == 0) or
                                                        (not arm[1] and n > 0)):
                del self.arm[direction]
                self.fired.append("flip " + direction)
                i = len(data) // 2
                data = data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1:]
            try:
                dst.sendall(data)
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.drop_all()
        self.lsock.close()


def whatsat_reply(srv, cid):
    with srv.connect() as c:
        c.send(b"WHATSAT " + cid + b" 10 1\n")
        first, body = c.read_whatsat()
    return body if first == b"?" else first


def wait_knows(srv, cid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        first = whatsat_reply(srv, cid)
        if not first.startswith(b"?"):
            return first
        if time.monotonic() > deadline:
            fail("%s never learnt %s within %.1f s" % (srv.name, show(cid), timeout))
        time.sleep(0.05)


def iamat(srv, cid):
    with srv.connect() as c:
        c.send(b"IAMAT %s %s %s\n" % (cid, UCLA, CTIME))
        at = c.read_line()
    check(at.startswith(b"AT "), "%s: IAMAT %s answered %s" % (srv.name, show(cid), show(at)))
    return at


def psk_cases(t):
    secret = t.secret_file("secret", SECRET)
    a = t.server("Alford", extra_args=["--secret-file", secret])
    b = t.server("Bolden", extra_args=["--secret-file", secret])
    proxy = Proxy(b.peer_port)
    t.proxies.append(proxy)
    a.peers.append(("Bolden", proxy.port))
    b.add_peer(a)
    t.start_all()
    a.wait_links_up(["Bolden"])
    b.wait_links_up(["Alford"])
    for s in (a, b):
        s.wait_log(rb"peer links: TLS 1\.3, authenticated by a pre-shared key", 1)
    t.ok("a link through the proxy comes up inside TLS 1.3 keyed by the secret")

    cid = b"kiwi-private-7f3a"
    iamat(a, cid)
    wait_knows(b, cid)
    up = bytes(proxy.seen_up)
    for word in (cid, b"HELLO", b"herd/2", b"PROOF", b"34.068930", b"Alford"):
        check(word not in up, "the proxy saw %s in clear in %d bytes" % (show(word), len(up)))
    t.ok("a flooded record arrives; the proxy saw %d bytes and none of the "
         "client id, location, names or handshake words" % len(up))

    # Injection: an AT line written into the stream.
    since_a, since_b = a.log_size(), b.log_size()
    forged = b"forged-by-proxy"
    proxy.arm_inject(b"AT Parker +0.000000001 %s %s %s\n" % (forged, UCLA, CTIME))
    iamat(a, b"trigger-1")           # a chunk for the injection to ride on
    m = b.wait_log(rb"link Alford down: TLS: ([^\n]*)", 5, since_b)
    t.note("Bolden: %s" % m.group(0).decode())
    eq(whatsat_reply(b, forged), b"? WHATSAT " + forged + b" 10 1",
       "Bolden after the injection")
    eq(whatsat_reply(a, forged), b"? WHATSAT " + forged + b" 10 1",
       "Alford after the injection")
    a.wait_links_up(["Bolden"], 10, since_a)
    b.wait_links_up(["Alford"], 10, since_b)
    iamat(a, b"after-injection")
    wait_knows(b, b"after-injection")
    t.ok("an injected AT line: link dropped with a TLS error, nothing stored, "
         "the link comes back and records flow")

    # A byte changed in a record: the record is lost with the link, and
    # comes back by the catch-up.
    since_a, since_b = a.log_size(), b.log_size()
    proxy.arm_flip("up", first_chunk=False)
    lost = b"carried-by-a-flipped-record"
    iamat(a, lost)
    m = b.wait_log(rb"link Alford down: TLS: ([^\n]*)", 5, since_b)
    t.note("Bolden: %s" % m.group(0).decode())
    check("flip up" in proxy.fired, "the proxy did not flip a byte")
    b.wait_links_up(["Alford"], 10, since_b)
    wait_knows(b, lost, 10)
    t.ok("a changed byte in a record: link dropped and logged; the record "
         "arrives by the catch-up after the link is back")

    # The handshake rewritten: ClientHello, then ServerHello.
    for direction, checker, who in (("up", b, "Bolden"), ("down", a, "Alford")):
        since_a, since_b = a.log_size(), b.log_size()
        proxy.arm_flip(direction, first_chunk=True)
        proxy.drop_all()             # Alford redials through the proxy
        if direction == "up":
            m = b.wait_log(rb"peer connection [^\n]* closed during the handshake: "
                           rb"TLS: ([^\n]*)", 10, since_b)
        else:
            m = a.wait_log(rb"link Bolden: cannot connect to [^\n]*: TLS: ([^\n]*)",
                           10, since_a)
        t.note("%s: %s" % (who, m.group(0).decode()))
        check("flip " + direction in proxy.fired, "the proxy did not flip the hello")
        a.wait_links_up(["Bolden"], 10, since_a)
        b.wait_links_up(["Alford"], 10, since_b)
        data = b.log_bytes()[since_b:]
        check(b"link Alford up" in data, "Bolden: link never came back")
    t.ok("a changed ClientHello (refused by Bolden) and ServerHello (refused "
         "by Alford): no link until the proxy is honest, then the link is up")
    for s in (a, b):
        s.stop()


def openssl(t, *args):
    p = subprocess.run(["openssl"] + list(args), cwd=t.certdir,
                       capture_output=True, timeout=30)
    check(p.returncode == 0, "openssl %s failed: %s" % (" ".join(args), show(p.stderr)))


def make_ca(t, name):
    openssl(t, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "2",
            "-subj", "/CN=" + name)


def make_cert(t, ca, file, name):
    openssl(t, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", file + ".key", "-out", file + ".csr", "-subj", "/CN=" + name)
    ext = os.path.join(t.certdir, file + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:%s\n" % name)
    openssl(t, "x509", "-req", "-in", file + ".csr", "-CA", ca + ".pem", "-CAkey",
            ca + ".key", "-CAcreateserial", "-out", file + ".pem", "-days", "2",
            "-extfile", ext)
    return [os.path.join(t.certdir, file + x) for x in (".pem", ".key")]


def tls_args(cert, ca):
    return ["--tls-cert", cert[0], "--tls-key", cert[1], "--tls-ca", ca]


class Tunnel:
    def __init__(self, t, *args):
        self.proc = subprocess.Popen([t.args.tunnel] + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        t.tunnels.append(self)
        r, _, _ = select.select([self.proc.stdout], [], [], 10)
        check(r, "herd-tls-tunnel did not start")
        line = self.proc.stdout.readline()
        m = re.match(rb"listening (\d+)", line)
        check(m, "herd-tls-tunnel said %s" % show(line))
        self.port = int(m.group(1))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


def cert_cases(t):
    t.certdir = os.path.join(t.tmpdir, "certs")
    os.makedirs(t.certdir)
    make_ca(t, "ca")
    make_ca(t, "other-ca")
    ca = os.path.join(t.certdir, "ca.pem")
    certs = {n: make_cert(t, "ca", n, n) for n in ("Hamilton", "Parker", "Mallory", "Abbott")}
    forged = make_cert(t, "other-ca", "forged-Hamilton", "Hamilton")

    h = t.server("Hamilton", extra_args=tls_args(certs["Hamilton"], ca))
    p = t.server("Parker", extra_args=tls_args(certs["Parker"], ca))
    t.link(h, p)
    t.start_all()
    h.wait_links_up(["Parker"])
    p.wait_links_up(["Hamilton"])
    for s in (h, p):
        s.wait_log(rb"peer links: TLS 1\.3, authenticated by certificates", 1)
    iamat(h, b"cert-linked")
    wait_knows(p, b"cert-linked")
    t.ok("certificates naming each server: the link comes up and carries records")

    # Mallory, with a certificate of the herd's CA, claims to be Hamilton.
    tun = Tunnel(t, "--dial", "--listen", "127.0.0.1:0", "--to",
                 "127.0.0.1:%d" % p.peer_port, *tls_args(certs["Mallory"], ca),
                 "--name", "Parker")
    since = p.log_size()
    with herdtest.Client(tun.port, label="Mallory") as c:
        first = c.read_line()
        m = re.match(rb"TUNNEL (\d+)$", first)
        check(m, "Mallory's TLS handshake with Parker: %s" % show(first))
        c.send(b"HELLO herd/2 Hamilton 1 0 0000000000000000 %s\n" % (b"00" * 16))
        rest = c.read_to_eof(8)
    check(b"HELLO" not in rest, "Parker answered Mallory: %s" % show(rest))
    p.wait_log(rb"peer connection 127\.0\.0\.1:%s refused: its certificate does not name "
               rb"the server it claims to be" % m.group(1), 5, since)
    t.ok("a certificate of the herd's CA naming Mallory cannot claim Hamilton: "
         "refused, logged, no HELLO")

    # A certificate naming Hamilton, from another CA.
    tun2 = Tunnel(t, "--dial", "--listen", "127.0.0.1:0", "--to",
                  "127.0.0.1:%d" % p.peer_port, *tls_args(forged, ca), "--name", "Parker")
    since = p.log_size()
    with herdtest.Client(tun2.port, label="forged Hamilton") as c:
        # TLS 1.3 ends the client's handshake before the server has checked
        # its certificate: the tunnel may say TUNNEL, then the server closes.
        first = c.read_line()
        if first.startswith(b"TUNNEL "):
            c.send(b"HELLO herd/2 Hamilton 1 0 0000000000000000 %s\n" % (b"00" * 16))
            rest = c.read_to_eof(8)
            check(b"HELLO" not in rest, "Parker answered a forged Hamilton: %s" % show(rest))
    m = p.wait_log(rb"closed during the handshake: TLS: ([^\n]*certificate[^\n]*)", 5, since)
    t.ok("a certificate naming Hamilton from another CA: the TLS handshake fails (%s)"
         % m.group(1).decode())

    # Abbott dials Parker's name and finds Mallory there.
    tun3 = Tunnel(t, "--accept", "--listen", "127.0.0.1:0", "--to",
                  "127.0.0.1:%d" % p.peer_port, *tls_args(certs["Mallory"], ca))
    ab = t.server("Abbott", extra_args=tls_args(certs["Abbott"], ca))
    ab.peers.append(("Parker", tun3.port))
    ab.start()
    m = ab.wait_log(rb"link Parker: cannot connect to [^\n]*: TLS: ([^\n]*)", 10)
    check(b"hostname mismatch" in m.group(1), "Abbott's reason: %s" % show(m.group(1)))
    t.ok("a dialler checks the name: Mallory's certificate where Parker should "
         "be fails with %s" % m.group(1).decode())
    for tn in (tun, tun2, tun3):
        tn.close()

    # Settings.
    code, _, err = t.run_once(["X", "--listen", "127.0.0.1:1", "--tls-cert",
                               certs["Abbott"][0]])
    eq(code, 64, "tls_cert without tls_key: exit status (stderr %s)" % show(err))
    check(b"go together" in err, "message: %s" % show(err))
    code, _, err = t.run_once(["X", "--listen", "127.0.0.1:1", "--control", "none",
                               "--tls-cert", certs["Abbott"][0], "--tls-key",
                               certs["Mallory"][1], "--tls-ca", ca])
    eq(code, 78, "a key of another certificate: exit status (stderr %s)" % show(err))
    check(b"tls_key" in err, "message: %s" % show(err))
    t.ok("tls_cert alone: usage error 64; a key that is not the certificate's: 78")


def main(t):
    if shutil.which("openssl") is None:
        fail("the openssl tool is needed (apt-get install openssl)")
    t.proxies, t.tunnels = [], []
    try:
        psk_cases(t)
        cert_cases(t)
    finally:
        for x in t.proxies + t.tunnels:
            try:
                x.close()
            except Exception:  # noqa: BLE001 - cleanup goes on
                pass


def add_args(ap):
    ap.add_argument("--tunnel", required=True, help="path to herd-tls-tunnel")


if __name__ == "__main__":
    herdtest.run(main, watchdog=110, description=__doc__, add_args=add_args)
