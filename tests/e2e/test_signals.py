#!/usr/bin/env python3
"""Process behaviour: signals, exit codes, --help.

SIGTERM and SIGINT end a server with exit code 0 within 5 s (also with
clients connected, a WHATSAT waiting on the provider and a peer link up);
bad arguments exit 64 with one line on stderr; --help exits 0 and prints the
usage; an address already in use or a malformed HOST:PORT exits 78.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import signal
import socket
import time

import herdtest
from herdtest import check, eq, free_ports

EX_USAGE = 64
EX_CONFIG = 78


def main(t):
    fake = t.fakeplaces("ok")

    # -- SIGTERM, idle ---------------------------------------------------------
    s1 = t.server("Alford", places=fake)
    s1.start()
    took = s1.stop(signal.SIGTERM)
    t.ok("SIGTERM on an idle server: exit 0 in %.0f ms" % (took * 1000))

    # -- SIGINT ------------------------------------------------------------------
    s1.start()
    with s1.connect() as c:
        c.send(b"IAMAT kiwi +34-118 1621464827.5\n")
        c.read_line()
    took = s1.stop(signal.SIGINT)
    t.ok("SIGINT: exit 0 in %.0f ms" % (took * 1000))

    # The ports are free again at once: the same arguments start again.
    s1.start()
    t.ok("restart on the same ports right after a clean exit")

    # -- SIGTERM, busy -------------------------------------------------------------
    s2 = t.server("Bolden", places=fake, places_timeout=5000)
    t.link(s1, s2)
    s1.stop()
    t.start_all()
    s1.wait_links_up()
    s2.wait_links_up()
    fake.set_mode("slow", delay=30)
    idle = s1.connect()
    busy = s1.connect()
    busy.send(b"IAMAT kiwi +34-118 1621464827.5\nWHATSAT kiwi 10 5\n")
    busy.read_line()
    fake.wait_requests(1, 5)     # the WHATSAT is now waiting on the provider
    partial = s1.connect()
    partial.send(b"IAMAT half a line")
    took = s1.stop(signal.SIGTERM)
    for name, c in (("idle", idle), ("busy", busy), ("partial", partial)):
        c.read_to_eof(2)         # closed, whatever it got
        c.close()
    t.ok("SIGTERM with idle, busy (WHATSAT on a slow provider) and half-line clients "
         "and a peer link: exit 0 in %.0f ms, clients closed" % (took * 1000))
    took = s2.stop(signal.SIGTERM)
    t.ok("SIGTERM on its neighbour after the link went down: exit 0 in %.0f ms" % (took * 1000))
    fake.set_mode("ok")

    # -- bad arguments -------------------------------------------------------------
    port, pport = free_ports(2)
    listen = "127.0.0.1:%d" % port
    plisten = "127.0.0.1:%d" % pport
    bad = [
        [],
        ["Alford"],
        ["Alford", "--listen"],
        ["Alford", "--listen", listen, "--peer-listen", plisten, "--bogus"],
        ["Alford", "Bolden", "--listen", listen, "--peer-listen", plisten],
        ["--listen", listen, "--peer-listen", plisten],
    ]
    for argv in bad:
        code, out, err = t.run_once(argv)
        what = "herd-server %s" % " ".join(argv)
        eq(code, EX_USAGE, "exit code of %s" % what)
        check(err.endswith(b"\n") and err.count(b"\n") == 1 and err.strip(),
              "%s: stderr should be one line, got %s" % (what, herdtest.show(err)))
        eq(out, b"", "%s: stdout" % what)
    t.ok("bad arguments (%d forms): exit 64, one line on stderr" % len(bad))

    # -- --help ----------------------------------------------------------------------
    code, out, err = t.run_once(["--help"])
    eq(code, 0, "exit code of --help")
    check(b"usage" in out.lower() and b"--listen" in out,
          "--help should print the usage (with --listen) on stdout, got %s"
          % herdtest.show(out))
    t.ok("--help: exit 0, usage on stdout")

    # -- unusable addresses ----------------------------------------------------------
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    taken = "127.0.0.1:%d" % holder.getsockname()[1]
    try:
        port, pport = free_ports(2)
        listen = "127.0.0.1:%d" % port
        plisten = "127.0.0.1:%d" % pport
        cases = [
            ("client port in use", ["Alford", "--listen", taken, "--peer-listen", plisten]),
            ("peer port in use", ["Alford", "--listen", listen, "--peer-listen", taken]),
            ("HOST:PORT without port", ["Alford", "--listen", "127.0.0.1", "--peer-listen", plisten]),
            ("port not a number", ["Alford", "--listen", "127.0.0.1:http", "--peer-listen", plisten]),
            ("port out of range", ["Alford", "--listen", "127.0.0.1:70000", "--peer-listen", plisten]),
        ]
        wrong = []
        for label, argv in cases:
            t0 = time.monotonic()
            code, out, err = t.run_once(argv)
            if code != EX_CONFIG:
                wrong.append("%s (herd-server %s): expected exit 78, got %d; stderr %s"
                             % (label, " ".join(argv), code, herdtest.show(err)))
                continue
            check(err.strip(), "%s: no message on stderr" % label)
            t.ok("%s: exit 78 in %.0f ms" % (label, (time.monotonic() - t0) * 1000))
        check(not wrong, "unusable addresses must exit 78 (EX_CONFIG):\n   "
              + "\n   ".join(wrong))
    finally:
        holder.close()


if __name__ == "__main__":
    herdtest.run(main)
