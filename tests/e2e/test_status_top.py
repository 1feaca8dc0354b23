"""herd status and herd top on the default five-server graph: records and
an in-sync mark per server, the links as 'A - B  up 3m12s  rtt 0.2 ms',
'down 12s  (silent)' and 'cut', --json carrying the whole view (each
server's stats, each link's since and why), in-sync marks through a
partition and its heal, herd top's rates while a client sends IAMATs, and
its command line."""

import os
import re
import select
import signal
import subprocess
import threading
import time

import herdsup
import herdtest
from herdsup import check, eq, fail, wait_until

# A duration as herd status writes it: 12s, 3m12s, 1h05m, 2d03h.
DURATION = r"(?:\d+s|\d+m[0-5]\ds|\d+h[0-5]\dm|\d+d[0-2]\dh)"
RTT = r"rtt (?:\d+\.\d ms|\d+ us)"
HEADER = re.compile(r"^herd top  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  every (\d+) ms  ")
SERVER_COLS = ["NAME", "STATE", "RECORDS", "SYNC", "IN/s", "OUT/s", "WHATSAT/s",
               "IAMAT/s", "MISSES/s"]


def link_line(txt, a, b):
    m = re.search(r"^%s - %s  +(.*)$" % (a, b), txt, re.M)
    return m.group(1) if m else None


def server_rows(txt, names):
    """herd status's server table: {name: {column: text}} by the header's
    column positions (NOTE may hold spaces: the rest of the line)."""
    lines = txt.splitlines()
    head = lines[0]
    check(head.startswith("NAME"), "herd status starts with its header: %s" % txt)
    cols = ["NAME", "STATE", "PID", "ADDRESS", "UPTIME", "RECORDS", "SYNC",
            "RESTARTS", "LAST EXIT", "NOTE"]
    at = []
    for c in cols:
        i = head.find(c)
        check(i >= 0, "herd status header lacks %s: %s" % (c, head))
        at.append(i)
    eq(at, sorted(at), "herd status column order")
    rows = {}
    for line in lines[1:]:
        if not line.strip():
            break
        row = {}
        for k, c in enumerate(cols):
            end = at[k + 1] if k + 1 < len(cols) else len(line)
            row[c] = line[at[k]:end].strip()
        rows[row["NAME"]] = row
    eq(sorted(rows), sorted(names), "the servers of herd status")
    return rows


def view(h):
    st = h.status()
    for key in ("supervisor_pid", "in_sync", "servers", "links"):
        check(key in st, "herd status --json lacks %s: %s" % (key, list(st)))
    return st


def by_name(st):
    return {s["name"]: s for s in st["servers"]}


def by_link(st):
    return {(l["a"], l["b"]): l for l in st["links"]}


def wait_in_sync(h, want, timeout, what):
    """Waits until every server's in_sync is as in want (name -> value)."""
    def cond():
        st = view(h)
        got = {n: s["in_sync"] for n, s in by_name(st).items()}
        return st if got == want else None
    try:
        return wait_until(cond, timeout, what, 0.1)
    except herdtest.TestFailure:
        fail("%s: in_sync is %s" % (what, {n: s["in_sync"] for n, s in by_name(view(h)).items()}))


def wait_links_timed(h, timeout, what):
    """Waits until every link is up with a round trip measured."""
    def cond():
        return all(l["state"] == "up" and l["rtt_us"] for l in view(h)["links"])
    wait_until(cond, timeout, what, 0.1)


class Sender:
    """A client thread sending IAMATs to one server, one every 10 ms, each
    answered, until stopped."""

    def __init__(self, h, name):
        self.h = h
        self.name = name
        self.stop = threading.Event()
        self.sent = 0
        self.error = None
        self.th = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            with self.h.client(self.name) as c:
                t0 = int(time.time())
                while not self.stop.is_set():
                    self.sent += 1
                    c.send(b"IAMAT topclient%d +34.068930-118.445127 %d.%09d\n"
                           % (self.sent % 50, t0, self.sent))
                    line = c.read_line()
                    if not line.startswith(b"AT "):
                        raise herdtest.TestFailure("IAMAT answered %r" % line)
                    self.stop.wait(0.01)
        except BaseException as e:  # noqa: BLE001 (reported by finish)
            self.error = e

    def start(self):
        self.th.start()
        return self

    def finish(self):
        self.stop.set()
        self.th.join(10)
        check(not self.th.is_alive(), "the IAMAT thread did not stop")
        check(self.error is None, "the IAMAT thread failed: %r" % self.error)


def parse_frames(out):
    """herd top's output (not a terminal): frames separated by blank lines,
    each a header, the server table, a blank line, the link table."""
    check("\x1b" not in out, "herd top wrote escapes to a pipe: %r" % out[:200])
    frames = []
    for block in re.split(r"\n(?=herd top  )", out.strip("\n")):
        lines = block.rstrip("\n").split("\n")
        m = HEADER.match(lines[0])
        check(m, "herd top frame header: %r" % lines[0])
        eq(lines[1].split(), SERVER_COLS, "herd top server header")
        servers = {}
        k = 2
        while k < len(lines) and lines[k].strip():
            f = lines[k].split()
            check(len(f) == len(SERVER_COLS), "herd top server row: %r" % lines[k])
            servers[f[0]] = dict(zip(SERVER_COLS, f))
            k += 1
        check(k + 1 < len(lines) and lines[k] == "" and lines[k + 1].startswith("LINK"),
              "herd top: the link table after a blank line: %r" % block)
        links = {}
        for line in lines[k + 2:]:
            m = re.match(r"^(\S+) - (\S+)  +(up|down|cut|unknown)(?: (%s))?\s+(\S+)\s+(\S+)$"
                         % DURATION, line)
            check(m, "herd top link row: %r" % line)
            links[(m.group(1), m.group(2))] = {"state": m.group(3), "a_to_b": m.group(5),
                                               "b_to_a": m.group(6)}
        frames.append({"servers": servers, "links": links})
    return frames


def rate(s):
    check(s != "-", "a rate is missing")
    return float(s)


def check_status_up(t, h):
    txt = h.ok_cmd("status")
    rows = server_rows(txt, h.names)
    for n, r in rows.items():
        eq(r["STATE"], "up", "%s state" % n)
        check(re.fullmatch(r"\d+", r["RECORDS"]), "%s RECORDS: %r" % (n, r["RECORDS"]))
        eq(r["SYNC"], "yes", "%s SYNC after converging" % n)
    for a, b in herdsup.DEFAULT_LINKS:
        line = link_line(txt, a, b)
        check(line is not None and re.match(r"up %s +%s$" % (DURATION, RTT), line),
              "herd status: '%s - %s  up DURATION  rtt N ms': %r\n%s" % (a, b, line, txt))
    t.ok("herd status: RECORDS and SYNC per server, every link 'up DURATION  rtt ...'")

    st = view(h)
    eq(st["in_sync"], True, "herd in_sync")
    eq(st["supervisor_pid"], h.supervisor_pid, "supervisor_pid")
    digests = set()
    for s in st["servers"]:
        eq(s["managed"], True, "%s managed" % s["name"])
        eq(s["in_sync"], True, "%s in_sync" % s["name"])
        stats = s["stats"]
        check(isinstance(stats, dict), "%s stats: %r" % (s["name"], stats))
        eq(stats["name"], s["name"], "stats name")
        eq(stats["digest"], s["digest"], "%s digest in stats and in the view" % s["name"])
        eq(stats["records"], s["records"], "%s records" % s["name"])
        eq(len(stats["neighbours"]), len(h.neighbours(s["name"])), "%s neighbours" % s["name"])
        check("rates" in s, "%s has rates (null in herd status)" % s["name"])
        digests.add(s["digest"])
    eq(len(digests), 1, "one digest")
    for l in st["links"]:
        eq(l["state"], "up", "%s - %s" % (l["a"], l["b"]))
        check(isinstance(l["since_ms"], int) and l["since_ms"] >= 0,
              "link since_ms: %s" % l)
        eq(l["why"], "", "why of a link that is up")
        check(isinstance(l["rtt_us"], int) and l["rtt_us"] > 0, "link rtt_us: %s" % l)
    eq([(l["a"], l["b"]) for l in st["links"]], herdsup.DEFAULT_LINKS, "links in herd.conf's order")
    t.ok("herd status --json: in_sync, each server's stats, each link's since_ms, why, rtt_us")


def check_down(t, h):
    h.ok_cmd("stop", "Parker")
    parker_links = [(a, b) for a, b in herdsup.DEFAULT_LINKS if "Parker" in (a, b)]

    def all_down():
        txt = h.ok_cmd("status")
        lines = {l: link_line(txt, *l) for l in parker_links}
        ok = all(v is not None and v.startswith("down") for v in lines.values())
        return (txt, lines) if ok else None
    txt, lines = wait_until(all_down, 10.0, "Parker's links to be down", 0.1)
    for (a, b), line in lines.items():
        m = re.match(r"down (%s) +\(([^()]+)\)" % DURATION, line)
        check(m, "herd status: '%s - %s  down DURATION (REASON)': %r" % (a, b, line))
    rows = server_rows(txt, h.names)
    eq(rows["Parker"]["STATE"], "down", "Parker's state")
    eq(rows["Parker"]["SYNC"], "-", "Parker's SYNC when it does not answer")
    eq(rows["Parker"]["RECORDS"], "-", "Parker's RECORDS when it does not answer")
    st = view(h)
    parker = by_name(st)["Parker"]
    check(parker["stats"] is None and parker["in_sync"] is None and parker["records"] is None,
          "Parker stopped: stats, in_sync and records null: %s" % parker)
    first = by_link(st)[("Hamilton", "Parker")]
    eq(first["state"], "down", "Hamilton - Parker in --json")
    check(isinstance(first["since_ms"], int) and first["why"] != "",
          "a down link has since_ms and why: %s" % first)
    eq(first["rtt_us"], None, "rtt_us of a link that is down")
    time.sleep(1.2)   # how long it has been down must grow
    later = by_link(view(h))[("Hamilton", "Parker")]
    check(later["since_ms"] >= first["since_ms"] + 1000,
          "since_ms of a down link grows: %s then %s" % (first["since_ms"], later["since_ms"]))
    t.ok("herd stop Parker: its links 'down DURATION (%s)', since_ms growing (%d -> %d ms), "
         "Parker's SYNC '-'" % (first["why"], first["since_ms"], later["since_ms"]))
    h.ok_cmd("start", "Parker")
    wait_links_timed(h, 10.0, "every link up after herd start Parker")


def check_cut_and_sync(t, h):
    h.ok_cmd("cut", "Alford", "Powell")
    h.ok_cmd("cut", "Alford", "Parker")
    txt = h.ok_cmd("status")
    for a, b in (("Alford", "Powell"), ("Alford", "Parker")):
        line = link_line(txt, a, b)
        check(line is not None and re.match(r"cut\b", line),
              "herd status: '%s - %s  cut': %r\n%s" % (a, b, line, txt))
    links = by_link(view(h))
    for key in (("Alford", "Powell"), ("Alford", "Parker")):
        eq(links[key]["state"], "cut", "%s - %s in --json" % key)
        eq(links[key]["why"], "cut", "why of %s - %s" % key)
        check(isinstance(links[key]["since_ms"], int), "since_ms of a cut link: %s" % links[key])
    t.ok("herd cut Alford Powell, herd cut Alford Parker: herd status says 'cut'")

    # Alford alone takes an update the others never see.
    at = h.iamat("Alford", b"lonely", b"1700000000.5")
    h.wait_knows("Alford", at)
    want = {"Alford": False, "Parker": False, "Powell": False,
            "Bolden": True, "Hamilton": True}
    st = wait_in_sync(h, want, 5.0, "Alford and its neighbours out of sync")
    eq(st["in_sync"], False, "the herd's in_sync during the split")
    rows = server_rows(h.ok_cmd("status"), h.names)
    eq({n: r["SYNC"] for n, r in rows.items()},
       {n: "yes" if v else "NO" for n, v in want.items()}, "the SYNC column during the split")
    t.ok("split: Alford (cut off, with its own update) and its neighbours Parker and Powell "
         "NO, Bolden and Hamilton yes; the herd not in sync")

    h.ok_cmd("heal")
    st = wait_in_sync(h, {n: True for n in h.names}, 10.0, "every server in sync after the heal")
    eq(st["in_sync"], True, "the herd's in_sync after the heal")
    wait_links_timed(h, 10.0, "every link up again after the heal")
    t.ok("herd heal: every server in sync again")


def check_top(t, h):
    sender = Sender(h, "Alford").start()
    try:
        wait_until(lambda: sender.sent > 20 or sender.error, 5.0, "the IAMAT thread to send")
        t0 = time.monotonic()
        out = h.ok_cmd("top", "--count", "3", "--interval", "300")
        took = time.monotonic() - t0
    finally:
        sender.finish()
    frames = parse_frames(out)
    eq(len(frames), 3, "herd top --count 3 frames")
    check(took >= 0.85, "3 frames at 300 ms took %.3f s" % took)
    check(re.search(r"\n\nherd top  ", out), "frames separated by a blank line")
    for f in frames:
        eq(sorted(f["servers"]), sorted(h.names), "herd top servers")
        eq(sorted(f["links"]), sorted(herdsup.DEFAULT_LINKS), "herd top links")
        s = f["servers"]
        for n in h.names:
            eq(s[n]["STATE"], "up", "%s in herd top" % n)
        check(rate(s["Alford"]["IAMAT/s"]) > 0, "Alford IAMAT/s: %s" % s["Alford"])
        check(rate(s["Alford"]["OUT/s"]) > 0, "Alford updates out/s: %s" % s["Alford"])
        for n in ("Parker", "Powell"):
            check(rate(s[n]["IN/s"]) > 0, "%s updates in/s: %s" % (n, s[n]))
        for n in ("Bolden", "Hamilton", "Parker", "Powell"):
            eq(rate(s[n]["IAMAT/s"]), 0.0, "%s IAMAT/s" % n)
        for n in h.names:
            eq(rate(s[n]["WHATSAT/s"]), 0.0, "%s WHATSAT/s" % n)
            eq(rate(s[n]["MISSES/s"]), 0.0, "%s MISSES/s" % n)
        ap = f["links"][("Alford", "Parker")]
        check(rate(ap["a_to_b"]) > 0, "Alford - Parker A->B/s: %s" % ap)
        hp = f["links"][("Hamilton", "Parker")]
        check(rate(hp["b_to_a"]) > 0 and rate(hp["a_to_b"]) == 0.0,
              "Hamilton - Parker: records go to Hamilton only: %s" % hp)
    last = frames[-1]["servers"]["Alford"]
    t.ok("herd top --count 3 --interval 300: 3 frames in %.2f s; with IAMATs at Alford, "
         "Alford IAMAT/s %s and out/s %s, Parker and Powell in/s > 0, records/s on "
         "Alford -> Parker" % (took, last["IAMAT/s"], last["OUT/s"]))


def check_top_args(t, h):
    for args in (["--count", "0"], ["--count", "x"], ["--interval", "abc"],
                 ["--interval", "5"], ["--bogus"], ["--count"], ["--count=2", "extra"]):
        rc, out, err = h.cmd("top", *args)
        eq(rc, 64, "herd top %s exit code" % " ".join(args))
        eq(out, "", "herd top %s prints no frame" % " ".join(args))
        check(err.startswith("herd: "), "herd top %s says why: %r" % (" ".join(args), err))
    t.ok("herd top with bad arguments: a message and exit 64")

    # Until Ctrl-C: frames keep coming; SIGINT ends it with exit 0.
    p = subprocess.Popen([h.herd_bin, "-c", h.conf, "top", "--interval", "100"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=herdtest.server_env(), cwd=h.dir)
    try:
        out = b""
        deadline = time.monotonic() + 10
        while out.count(b"herd top  ") < 2:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("herd top printed no second frame: %r" % out)
            r, _, _ = select.select([p.stdout], [], [], left)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    fail("herd top exited early (%s): %r" % (p.poll(), out))
                out += chunk
        p.send_signal(signal.SIGINT)
        rc = p.wait(5)
        eq(rc, 0, "herd top's exit code after Ctrl-C")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    t.ok("herd top without --count runs until Ctrl-C, then exits 0")


def check_hung_supervisor(t, h):
    """A supervisor that does not answer (stopped here with SIGSTOP) costs
    herd status a bounded wait and a clear failure; herd top shows what the
    servers say of themselves, frame after frame, and Ctrl-C still ends it
    within seconds."""
    sup = h.supervisor_pid
    os.kill(sup, signal.SIGSTOP)
    p = None
    try:
        t0 = time.monotonic()
        rc, out, err = h.cmd("status", timeout=20)
        took = time.monotonic() - t0
        check(rc != 0 and "supervisor" in err, "herd status, supervisor stopped: %d %r %r"
              % (rc, out, err))
        check(took < 8, "herd status waited %.1f s for a stopped supervisor" % took)
        p = subprocess.Popen([h.herd_bin, "-c", h.conf, "top", "--interval", "100"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=herdtest.server_env(), cwd=h.dir)
        out = b""
        deadline = time.monotonic() + 15
        while out.count(b"herd top  ") < 2:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("herd top printed no second frame with the supervisor stopped: %r" % out)
            r, _, _ = select.select([p.stdout], [], [], left)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    fail("herd top exited early (%s): %r" % (p.poll(), out))
                out += chunk
        frame = parse_frames(out.decode().split("\nherd top  ")[0])[0]
        for n in h.names:
            eq(frame["servers"][n]["STATE"], "up", "%s in herd top, supervisor stopped" % n)
        t1 = time.monotonic()
        p.send_signal(signal.SIGINT)
        try:
            rc = p.wait(8)
        except subprocess.TimeoutExpired:
            fail("herd top did not end within 8 s of Ctrl-C with the supervisor stopped")
        eq(rc, 0, "herd top's exit code after Ctrl-C, supervisor stopped")
        ended = time.monotonic() - t1
    finally:
        os.kill(sup, signal.SIGCONT)
        if p is not None:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
    t.ok("supervisor stopped: herd status fails after %.1f s (%s); herd top shows the servers "
         "and ends %.1f s after Ctrl-C" % (took, err.strip(), ended))


def main(t):
    h = herdsup.Herd(t)
    try:
        h.start()
        for n in h.names:
            h.wait_links_up(n)
        at = h.iamat("Bolden", b"kiwi", b"1621464827.959498503")
        for n in h.names:
            h.wait_knows(n, at)
        wait_in_sync(h, {n: True for n in h.names}, 5.0, "every server in sync")
        wait_links_timed(h, 5.0, "every link up with a heartbeat's round trip")
        check_status_up(t, h)
        check_down(t, h)
        check_cut_and_sync(t, h)
        check_top(t, h)
        check_top_args(t, h)
        check_hung_supervisor(t, h)
        h.stop()
    finally:
        h.close()


herdsup.run(main)
