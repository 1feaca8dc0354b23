#!/usr/bin/env python3
"""herd-floor, the stand-in relay behind scripts/bench's bound, does what
the bound takes it to do.

A real herd-server (Alford) links to a herd-floor (Yan) that passes what
it reads on to a second one (Zed):

* Yan answers Alford's HELLO, so the link comes up;
* every AT line Alford floods reaches both files, byte for byte and in
  order (after the dialer's "PROOF -"), and nothing else does;
* SIGTERM ends each with exit 0 and its byte counts on stderr;
* bad usage exits 64 with the usage; an address that refuses exits 1.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import os
import signal
import socket
import subprocess
import time

import herdtest
from herdtest import check, eq, fail

LOOPBACK = "127.0.0.1"


def wait_listening(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((LOOPBACK, port), timeout=1).close()
            return
        except OSError:
            pass
        if proc.poll() is not None:
            fail("herd-floor on port %d exited with %s" % (port, proc.returncode))
        if time.monotonic() > deadline:
            fail("nothing listens on port %d" % port)
        time.sleep(0.02)


def records(path):
    try:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
    except FileNotFoundError:
        return []
    return [l for l in lines if l and l != b"PROOF -"]


def main(t):
    floor = t.args.floor
    zed_port, yan_port = herdtest.free_ports(2)
    wal = {n: os.path.join(t.tmpdir, n + ".wal") for n in ("Zed", "Yan")}
    err = {n: os.path.join(t.tmpdir, n + ".stderr") for n in ("Zed", "Yan")}
    procs = {}

    def start(name, port, forwards):
        argv = [floor, "--name", name, "--listen", "%s:%d" % (LOOPBACK, port),
                "--wal", wal[name]]
        for f in forwards:
            argv += ["--forward", "%s:%d" % (LOOPBACK, f)]
        with open(err[name], "wb") as e:
            procs[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=e)
        wait_listening(port, procs[name])

    try:
        start("Zed", zed_port, [])
        start("Yan", yan_port, [zed_port])
        alford = t.server("Alford", extra_args=[
            "--places", "offline", "--peer", "Yan=%s:%d" % (LOOPBACK, yan_port)])
        t.start_all()
        alford.wait_links_up(["Yan"], timeout=15)
        t.ok("Yan answered Alford's HELLO: the link is up")

        sent = []
        with alford.connect() as c:
            for i in range(200):
                c.send(b"IAMAT floor.%d +34.068930-118.445127 %d.%09d\n"
                       % (i % 7, 1700000000 + i, i))
                line = c.read_line()
                check(line.startswith(b"AT Alford "), "reply %d: %r" % (i, line))
                sent.append(line)
        deadline = time.monotonic() + 10
        while not (records(wal["Yan"]) == sent and records(wal["Zed"]) == sent):
            if time.monotonic() > deadline:
                fail("files hold %d and %d of %d records (first differences: %r / %r)"
                     % (len(records(wal["Yan"])), len(records(wal["Zed"])), len(sent),
                        next((a for a, b in zip(records(wal["Yan"]), sent) if a != b), None),
                        next((a for a, b in zip(records(wal["Zed"]), sent) if a != b), None)))
            time.sleep(0.02)
        t.ok("all %d AT lines reached Yan's file and, passed on, Zed's, byte for byte"
             % len(sent))

        # A HELLO in two pieces is still answered.
        with socket.create_connection((LOOPBACK, zed_port), timeout=5) as raw:
            raw.sendall(b"HELLO herd/2 Tester 1 0 0 ")
            time.sleep(0.05)  # let the first piece be read alone
            raw.sendall(b"00112233445566778899aabbccddeeff\n")
            got = b""
            while not got.endswith(b"\n"):
                chunk = raw.recv(4096)
                check(chunk != b"", "Zed closed the connection without a HELLO")
                got += chunk
        check(got.startswith(b"HELLO herd/2 Zed "), "Zed's answer to a split HELLO: %r" % got)
        t.ok("a HELLO that arrives in two pieces is answered: %r" % got.strip()[:40])
    finally:
        for name, p in procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = {name: p.wait(10) for name, p in procs.items()}
    for name in ("Yan", "Zed"):
        eq(codes[name], 0, "%s: exit status after SIGTERM" % name)
        with open(err[name], "rb") as f:
            summary = f.read().decode()
        check(("herd-floor %s: " % name) in summary and " bytes in, " in summary,
              "%s: summary on stderr: %r" % (name, summary))
    t.ok("SIGTERM: exit 0 and a summary (%s)" % summary.strip())

    p = subprocess.run([floor], capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    eq(p.returncode, 64, "no arguments: exit status")
    check(b"usage" in p.stderr, "no arguments: usage on stderr")
    p = subprocess.run([floor, "--help"], capture_output=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    eq(p.returncode, 0, "--help: exit status")
    check(b"usage" in p.stdout, "--help: usage on stdout")
    closed = herdtest.free_port()  # probed free: nothing listens there
    p = subprocess.run([floor, "--name", "X", "--listen", "%s:%d" % (LOOPBACK, herdtest.free_port()),
                        "--wal", os.path.join(t.tmpdir, "x.wal"), "--forward",
                        "%s:%d" % (LOOPBACK, closed)],
                       capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    eq(p.returncode, 1, "a refused --forward: exit status")
    check(b"cannot reach" in p.stderr, "a refused --forward: %r" % p.stderr)
    t.ok("bad usage exits 64, --help 0, a refused --forward 1")


def add_args(ap):
    ap.add_argument("--floor", required=True, help="path to herd-floor")


if __name__ == "__main__":
    herdtest.run(main, add_args=add_args)
