#!/usr/bin/env python3
"""Run one golden protocol case against a real herd-server.

    run_golden.py --server BIN CASE_DIR

CASE_DIR holds `input` (raw bytes a client sends to one server, which then
half-closes its side with shutdown(SHUT_WR)) and `expected` (the exact bytes
the server sends back before it closes).  The server is named Alford, has no
peers, and its places provider is a loopback stand-in in `ok` mode with
HERD_PLACES_KEY=testkey.  The time difference (field 3 of an AT line) depends
on the clock, so it is replaced by `<DIFF>` in the actual output before the
comparison; `expected` files hold `<DIFF>` there.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import difflib
import os

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))

import herdtest  # noqa: E402
from herdtest import fail  # noqa: E402

SERVER_NAME = "Alford"
READ_DEADLINE = 15.0


def readable(data):
    """Lines of `data` rendered so that every byte is visible."""
    out = []
    for line in data.split(b"\n"):
        out.append(repr(line)[2:-1])
    return out


def main(t):
    case = os.path.abspath(t.args.case_dir)
    with open(os.path.join(case, "input"), "rb") as f:
        data_in = f.read()
    with open(os.path.join(case, "expected"), "rb") as f:
        expected = f.read()

    fake = t.fakeplaces("ok")
    srv = t.server(SERVER_NAME, places=fake, places_timeout=5000)
    t.start_all()

    c = srv.connect(timeout=READ_DEADLINE)
    c.send(data_in)
    c.shutdown_wr()
    got = c.read_to_eof(READ_DEADLINE)
    c.close()
    masked = herdtest.mask_diff(got)
    if masked != expected:
        diff = difflib.unified_diff(readable(expected), readable(masked),
                                    "expected", "got (AT time difference masked)",
                                    lineterm="", n=3)
        fail("case %s: output differs from expected\n%s"
             % (os.path.basename(case), "\n".join(diff)))
    t.ok("golden %s (%d bytes in, %d bytes out)" % (os.path.basename(case), len(data_in), len(got)))


def add_args(ap):
    ap.add_argument("case_dir", help="directory with `input` and `expected`")


if __name__ == "__main__":
    herdtest.run(main, watchdog=25, add_args=add_args,
                 description="Run one golden protocol case.")
