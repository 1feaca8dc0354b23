"""The supervisor's web page in a real browser.

Starts the default five-server herd with its web page on a probed loopback
port, reads the page's address and token with `herd web`, keeps a little
client traffic going (so records cross the links), and runs
tests/browser/page.test.mjs: Debian's chromium, driven by playwright-core,
checks what a person would see while `herd stop`, `herd cut`, `herd heal`
and the page's own buttons change the herd (a kill with the token, a stop
without it refused), then the supervisor goes and one that runs only two
of the five comes. Screenshots of every step land in --artifacts
(default ./artifacts/browser); --update-readme-shot also copies the one of
the whole herd to tests/browser/herd.png (the README's picture), which is
written anyway when it is missing.

Needs node, tests/browser/node_modules (npm ci --prefix tests/browser) and
/usr/bin/chromium (apt-get install chromium)."""

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import herdsup
import herdtest
from herdsup import check, fail

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.normpath(os.path.join(HERE, "..", "browser"))
SCRIPT = os.path.join(BROWSER_DIR, "page.test.mjs")
README_SHOT = os.path.join(BROWSER_DIR, "herd.png")
CHROMIUM = "/usr/bin/chromium"
NODE_DEADLINE = 90.0  # the script bounds itself at 75 s


def prerequisites():
    """Fails with what to install when the browser or its driver is missing."""
    missing = []
    if shutil.which("node") is None:
        missing.append("node is missing: apt-get install nodejs npm")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        missing.append("tests/browser/node_modules lacks playwright-core: "
                       "npm ci --prefix tests/browser")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(CHROMIUM + " is missing: apt-get install chromium")
    if missing:
        fail("the browser test cannot run:\n  " + "\n  ".join(missing))


class Traffic:
    """A few IAMATs a second at each server, round robin, until stopped: the
    links carry records while the page is watched. A server that is down
    (stopped or killed by the test) is skipped for a moment."""

    INTERVAL = 0.05

    def __init__(self, h):
        self.h = h
        self.stopping = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self):
        self.thread.start()

    def one(self, name, n):
        t = "%.9f" % time.time()
        line = b"IAMAT browser-%d.example +34.068930-118.445127 %s\n" % (n % 20, t.encode())
        with socket.create_connection(("127.0.0.1", self.h.port[name]), timeout=1.0) as s:
            s.sendall(line)
            got = b""
            while not got.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        if got.startswith(b"AT "):
            self.sent += 1

    def run(self):
        n = 0
        resting = {}
        while not self.stopping.is_set():
            name = self.h.names[n % len(self.h.names)]
            n += 1
            if resting.get(name, 0) > time.monotonic():
                continue
            try:
                self.one(name, n)
            except OSError:
                resting[name] = time.monotonic() + 0.5
            self.stopping.wait(self.INTERVAL)

    def stop(self):
        if self.thread.ident is None:
            return
        self.stopping.set()
        self.thread.join(5.0)
        check(not self.thread.is_alive(), "the traffic thread did not stop")


def web_url(h):
    """`herd web` prints http://HOST:PORT/#token=TOKEN."""
    out = h.ok_cmd("web").strip()
    m = re.fullmatch(r"(http://127\.0\.0\.1:%d/)#token=([0-9a-f]{64})" % h.http_port, out)
    check(m is not None, "herd web printed %r, not http://127.0.0.1:%d/#token=<64 hex>"
          % (out, h.http_port))
    with open(os.path.join(h.run_dir, "http-token")) as f:
        check(f.read().strip() == m.group(2), "herd web's token is not RUN_DIR/http-token")
    return m.group(1), m.group(2)


def run_page_test(h, url, token, artifacts, readme_shot):
    argv = ["node", SCRIPT, "--url", url, "--token", token,
            "--herd", json.dumps([h.herd_bin, "-c", h.conf]),
            "--artifacts", artifacts]
    if readme_shot:
        argv += ["--readme-shot", readme_shot]
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=NODE_DEADLINE, env=herdtest.server_env(), cwd=h.dir)
    except subprocess.TimeoutExpired as e:
        fail("the browser test did not finish within %.0f s\n%s%s"
             % (NODE_DEADLINE, (e.stdout or b"").decode(errors="replace"),
                (e.stderr or b"").decode(errors="replace")))
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    print(out, end="", flush=True)
    # The chromium launcher's shell script complains about its own test of
    # the machine's memory; not the page's business.
    err = "\n".join(l for l in err.splitlines() if "unexpected operator" not in l)
    check(p.returncode == 0, "the browser test failed (exit %d) after %.1f s; "
          "screenshots in %s\n%s\n%s" % (p.returncode, time.monotonic() - t0, artifacts, err, out))
    return time.monotonic() - t0


def main(t):
    prerequisites()
    artifacts = os.path.abspath(t.args.artifacts)
    shutil.rmtree(artifacts, ignore_errors=True)
    os.makedirs(artifacts)
    readme_shot = README_SHOT if t.args.update_readme_shot or not os.path.exists(README_SHOT) else None

    http_port = herdtest.free_ports(1)[0]
    h = herdsup.Herd(t, extra_conf="http 127.0.0.1:%d" % http_port)
    h.http_port = http_port
    traffic = Traffic(h)
    try:
        _, took = h.start()
        print("# herd started in %.2f s" % took)
        url, token = web_url(h)
        traffic.start()
        took = run_page_test(h, url, token, artifacts, readme_shot)
        print("# the browser's part took %.1f s" % took)
        traffic.stop()
        check(traffic.sent > 0, "no IAMAT was answered while the page was watched")
        # The script ends with `herd stop`: every process of the herd gone.
        h.started = False
        h.assert_all_gone()
        check(not os.path.exists(os.path.join(h.run_dir, "herd.sock")),
              "the control socket is left after the script's herd stop")
        t.ok("the page in chromium: herd up, stop, cut, heal, kill, refusals, "
             "supervisor gone, servers it does not run (%d IAMATs meanwhile)" % traffic.sent)
        if readme_shot:
            print("# %s written" % readme_shot)
    finally:
        traffic.stop()
        # The script runs a second supervisor (herd start --only) that
        # h.close() does not know of: stopped by the socket it left.
        if os.path.exists(os.path.join(h.run_dir, "herd.sock")):
            h.cmd("stop", timeout=20)
        h.close()


def add_args(ap):
    ap.add_argument("--artifacts", default=os.path.join("artifacts", "browser"),
                    help="where screenshots go (default ./artifacts/browser)")
    ap.add_argument("--update-readme-shot", action="store_true",
                    help="copy the screenshot of the whole herd to tests/browser/herd.png")


if __name__ == "__main__":
    def _add(ap):
        ap.add_argument("--herd", required=True, help="path to the herd binary")
        add_args(ap)
    herdtest.run(main, watchdog=120, description=__doc__, add_args=_add)
