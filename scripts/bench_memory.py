#!/usr/bin/env python3
"""Memory and restart numbers of one herd-server, driven by herd-bench.

    bench_memory.py HERD_SERVER HERD_BENCH [IDLE] [CLIENTS]

* idle connections: RSS of a server before and after IDLE (10 000) client
  connections that send nothing, per connection;
* stored clients: RSS before and after CLIENTS (1 000 000) distinct clients
  (one IAMAT each), per client, less the average client id length;
* restart: the same server stopped and started again on its write-ahead
  log, from spawn to listening (its ready descriptor), and the replay time
  it logs.

Everything runs on 127.0.0.1 ports the script probes; every process it
starts is stopped before it exits, and every wait has a deadline.
"""

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Server:
    def __init__(self, binary, work, name):
        self.binary = binary
        self.name = name
        self.port = free_port()
        self.peer_port = free_port()
        self.data = os.path.join(work, name + ".data")
        self.log = os.path.join(work, name + ".log")
        self.proc = None

    def start(self, timeout=60.0):
        """Spawns and waits for the ready byte; returns seconds taken."""
        rfd, wfd = os.pipe()
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [self.binary, self.name, "--listen", "127.0.0.1:%d" % self.port,
             "--peer-listen", "127.0.0.1:%d" % self.peer_port,
             "--data-dir", self.data, "--log-file", self.log,
             "--ready-fd", str(wfd)],
            stdin=subprocess.DEVNULL, pass_fds=(wfd,))
        os.close(wfd)
        try:
            r, _, _ = select.select([rfd], [], [], timeout)
            if not r or os.read(rfd, 1) != b"\n":
                raise RuntimeError("%s did not become ready within %.0f s"
                                   % (self.name, timeout))
        finally:
            os.close(rfd)
        return time.monotonic() - t0

    def stop(self, timeout=30.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("%s did not stop within %.0f s" % (self.name, timeout))
        if rc != 0:
            raise RuntimeError("%s exited %d" % (self.name, rc))

    def settle(self, timeout=10.0):
        """Waits until RSS stops changing (the loop has done its work)."""
        deadline = time.monotonic() + timeout
        last = rss_kb(self.proc.pid)
        while time.monotonic() < deadline:
            time.sleep(0.2)
            cur = rss_kb(self.proc.pid)
            if cur == last:
                return cur
            last = cur
        return last


def idle_connections(server_bin, bench_bin, work, n):
    s = Server(server_bin, work, "Idle")
    s.start()
    bench = None
    try:
        # One connection first, so that what every connection shares (the
        # accept path, the first buffers) is not counted per connection.
        with socket.create_connection(("127.0.0.1", s.port)) as c:
            c.sendall(b"IAMAT warm.up +1+1 1\n")
            c.recv(100)
        before = s.settle()
        fds_before = fd_count(s.proc.pid)
        bench = subprocess.Popen(
            [bench_bin, "--port", str(s.port), "--idle", str(n), "--hold", "120"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = bench.stdout.readline().decode().strip()
        if not line.startswith("idle %d" % n):
            raise RuntimeError("herd-bench --idle: %r" % line)
        deadline = time.monotonic() + 30
        while fd_count(s.proc.pid) < fds_before + n:
            if time.monotonic() > deadline:
                raise RuntimeError("the server holds %d of %d connections"
                                   % (fd_count(s.proc.pid) - fds_before, n))
            time.sleep(0.05)
        after = s.settle()
        per = (after - before) * 1024 / n
        print("idle connections  %6d open: RSS %d -> %d KiB, %.0f bytes per "
              "connection (target < 1024)" % (n, before, after, per), flush=True)
        return per
    finally:
        if bench is not None:
            bench.send_signal(signal.SIGTERM)
            try:
                bench.wait(30)
            except subprocess.TimeoutExpired:
                bench.kill()
                bench.wait()
        s.stop()


def stored_clients(server_bin, bench_bin, work, n):
    s = Server(server_bin, work, "Store")
    s.start()
    try:
        before = s.settle()
        out = subprocess.run(
            [bench_bin, "--port", str(s.port), "--conns", "8", "--pipeline", "64",
             "--requests", str(n)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=300,
            check=True).stdout.decode()
        if " 0 errors" not in out:
            raise RuntimeError("herd-bench: %s" % out.strip())
        after = s.settle()
        # herd-bench names clients bench.client.<seq>.
        id_len = sum(len("bench.client.%d" % i) for i in range(n)) / n
        per = (after - before) * 1024 / n
        print("stored clients  %8d: RSS %d -> %d KiB, %.0f bytes per client, "
              "%.0f beyond its %.1f-byte id (target < 200)"
              % (n, before, after, per, per - id_len, id_len), flush=True)
    finally:
        s.stop()
    wal = os.path.join(s.data, "records.wal")
    size = os.path.getsize(wal)
    took = s.start()
    try:
        with open(s.log, "rb") as f:
            logged = re.findall(rb"replayed (\d+) records \((\d+) clients\) .* in "
                                rb"([0-9.]+) ms", f.read())
        records, clients, replay_ms = logged[-1]
        if int(clients) != n:
            raise RuntimeError("restarted with %s clients, not %d" % (clients, n))
        print("restart with %d clients: ready %.2f s after spawn (log of %.0f MB "
              "replayed in %.0f ms; target < 2 s)"
              % (n, took, size / 1e6, float(replay_ms)), flush=True)
    finally:
        s.stop()
    return per - id_len, took


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 64
    server_bin, bench_bin = argv[0], argv[1]
    idle = int(argv[2]) if len(argv) > 2 else 10000
    clients = int(argv[3]) if len(argv) > 3 else 1000000
    work = tempfile.mkdtemp(prefix="herd-bench-memory-")
    try:
        idle_connections(server_bin, bench_bin, work, idle)
        stored_clients(server_bin, bench_bin, work, clients)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
