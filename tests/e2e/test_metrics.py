#!/usr/bin/env python3
"""GET /metrics: Prometheus' text format 0.0.4, checked by a real parser
(Debian's python3-prometheus-client, run under /usr/bin/python3) and
strictly here, and its values against what was done to the herd.

* Content-Type is exactly "text/plain; version=0.0.4; charset=utf-8".
* Every family has one HELP and one TYPE, before its samples, which come
  together; counters (and only they) end in _total; a histogram's buckets
  are cumulative, in rising order, end in +Inf, and +Inf equals _count;
  every sample has the label server (and peer for a link).
* The values are the herd's: IAMAT, WHATSAT, invalid lines and client
  connections per server exactly as sent, WHATSAT latency counts, records
  held, every link of herd.conf up from both ends, records sent over the
  links equal to records received, all in sync.
* herd kill Parker: its restarts go to 1 and its counters start again;
  herd stop Powell: herd_up 0, only what the supervisor knows of it, and
  its neighbours' links to it down.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import json
import re
import subprocess
import urllib.request

import herdsup
import herdtest
from herdsup import check, eq, fail, show, wait_until

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SYSTEM_PYTHON = "/usr/bin/python3"
IAMATS = {"Alford": 5, "Bolden": 3, "Hamilton": 2, "Parker": 4, "Powell": 1}
WHATSATS = {"Alford": 2, "Parker": 3}
INVALID = {"Bolden": 2}

PARSER = r"""
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [[s.name, s.labels, s.value] for s in f.samples]})
json.dump(out, sys.stdout)
"""

NAME_RE = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_RE = re.compile(r"^(%s)(?:\{(.*)\})? (\S+)$" % NAME_RE)
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def get_metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        eq(r.status, 200, "GET /metrics status")
        eq(r.headers.get("Content-Type"), CONTENT_TYPE, "GET /metrics Content-Type")
        return r.read().decode("utf-8")


def parse_labels(text, line):
    labels = {}
    pos = 0
    while pos < len(text):
        m = LABEL_RE.match(text, pos)
        check(m is not None, "bad labels at %r in %r" % (text[pos:], line))
        value = m.group(2).replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        check(m.group(1) not in labels, "label %s twice in %r" % (m.group(1), line))
        labels[m.group(1)] = value
        pos = m.end()
    return labels


def strict(text):
    """Checks the exposition by the format's rules; returns {family: type}
    and {(sample name, frozenset(labels)): value}."""
    check(text.endswith("\n"), "the text does not end with a newline")
    types, helps, values = {}, set(), {}
    current = None
    seen_samples = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            check(name not in helps, "HELP %s twice" % name)
            check(name not in types, "HELP %s after its TYPE" % name)
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            check(len(parts) == 4 and re.fullmatch(NAME_RE, parts[2]), "bad TYPE line %r" % line)
            name, typ = parts[2], parts[3]
            check(name not in types, "TYPE %s twice" % name)
            check(name in helps, "TYPE %s without a HELP before it" % name)
            check(typ in ("counter", "gauge", "histogram"), "type %s of %s" % (typ, name))
            check((typ == "counter") == name.endswith("_total"),
                  "%s is a %s: only counters end in _total" % (name, typ))
            check(name not in seen_samples, "samples of %s before its TYPE" % name)
            types[name] = typ
            current = name
            continue
        check(not line.startswith("#") and line, "unexpected line %r" % line)
        m = SAMPLE_RE.match(line)
        check(m is not None, "bad sample line %r" % line)
        sname, ltext, value = m.group(1), m.group(2) or "", m.group(3)
        check(current is not None, "sample before any TYPE: %r" % line)
        suffixes = ("_bucket", "_sum", "_count") if types[current] == "histogram" else ("",)
        check(any(sname == current + s for s in suffixes),
              "sample %s is not of family %s (samples of a family come together)" % (sname, current))
        seen_samples.add(current)
        labels = parse_labels(ltext, line)
        check("server" in labels or current == "herd_all_in_sync",
              "sample without a server label: %r" % line)
        if current.startswith("herd_link_"):
            check("peer" in labels, "link sample without a peer label: %r" % line)
        try:
            v = float(value)
        except ValueError:
            fail("bad value in %r" % line)
        key = (sname, frozenset(labels.items()))
        check(key not in values, "sample twice: %r" % line)
        values[key] = v
    for name in helps:
        check(name in types, "HELP %s without a TYPE" % name)
    check_histograms(types, values)
    return types, values


def check_histograms(types, values):
    for name, typ in types.items():
        if typ != "histogram":
            continue
        series = {}
        for (sname, labels), v in values.items():
            if sname == name + "_bucket":
                d = dict(labels)
                le = d.pop("le")
                series.setdefault(frozenset(d.items()), []).append((le, v))
        check(series, "histogram %s has no buckets" % name)
        for labels, buckets in series.items():
            check(buckets[-1][0] == "+Inf", "%s%s: last bucket is le=%s, not +Inf"
                  % (name, dict(labels), buckets[-1][0]))
            bounds = [float(le) for le, _ in buckets]
            check(bounds == sorted(bounds) and len(set(bounds)) == len(bounds),
                  "%s%s: le not rising: %s" % (name, dict(labels), bounds))
            counts = [v for _, v in buckets]
            check(counts == sorted(counts), "%s%s: buckets not cumulative: %s"
                  % (name, dict(labels), counts))
            count = values.get((name + "_count", labels))
            check(count == counts[-1], "%s%s: +Inf %s but _count %s"
                  % (name, dict(labels), counts[-1], count))
            check((name + "_sum", labels) in values, "%s%s: no _sum" % (name, dict(labels)))


def parse_with_client(text):
    """Debian's prometheus_client parser, under the system's Python."""
    p = subprocess.run([SYSTEM_PYTHON, "-c", PARSER], input=text.encode(),
                       capture_output=True, timeout=60)
    check(p.returncode == 0, "prometheus_client's parser refused the text:\n%s"
          % p.stderr.decode(errors="replace")[-3000:])
    return json.loads(p.stdout)


def check_with_client(text, types, values):
    families = parse_with_client(text)
    eq(len(families), len(types), "families the parser found")
    got = {}
    for f in families:
        check(f["type"] in ("counter", "gauge", "histogram"), "parser: type %s of %s"
              % (f["type"], f["name"]))
        check(f["help"], "parser: no help for %s" % f["name"])
        for sname, labels, value in f["samples"]:
            if sname.endswith("_created"):
                continue
            got[(sname, frozenset(labels.items()))] = value
    eq(set(got), set(values), "the samples the parser found")
    for k, v in values.items():
        check(got[k] == v, "parser: %s%s = %s, here %s" % (k[0], dict(k[1]), got[k], v))
    return len(families)


def value(values, name, **labels):
    return values.get((name, frozenset(labels.items())))


def scrape(t, port):
    text = get_metrics(port)
    types, values = strict(text)
    return text, types, values


def send_traffic(h):
    conns = {n: 0 for n in h.names}
    clients = []
    for name, n in IAMATS.items():
        for i in range(n):
            cid = b"m%s%d.example" % (name.encode(), i)
            h.iamat(name, cid, b"1621464827.%d" % (i + 1))
            clients.append((name, cid))
            conns[name] += 1
    for name, n in WHATSATS.items():
        cid = b"m%s0.example" % name.encode()
        for _ in range(n):
            check(h.whatsat_at(name, cid) is not None, "WHATSAT at %s: unknown client" % name)
            conns[name] += 1
    for name, n in INVALID.items():
        for _ in range(n):
            with h.client(name) as c:
                c.send(b"HELLO there\n")
                line = c.read_line()
            check(line.startswith(b"? "), "an invalid line at %s: %s" % (name, show(line)))
            conns[name] += 1
    return conns, len(clients)


def main(t):
    port = herdtest.free_port()
    h = herdsup.Herd(t, extra_conf="http 127.0.0.1:%d" % port)
    try:
        h.start()
        wait_until(lambda: all(s.get("state") == "up" for s in h.status()["links"]), 15,
                   "every link up")
        conns, nrecords = send_traffic(h)

        def settled():
            text, types, values = scrape(t, port)
            sent = sum(v for (n, _), v in values.items() if n == "herd_link_records_sent_total")
            received = sum(v for (n, _), v in values.items()
                           if n == "herd_link_records_received_total")
            ok = all(value(values, "herd_records", server=n) == nrecords for n in h.names) and \
                sent == received and sent > 0
            return (text, types, values) if ok else None
        text, types, values = wait_until(settled, 15, "every server to hold %d records and the "
                                         "links' records sent to equal those received" % nrecords,
                                         0.2)
        nfam = check_with_client(text, types, values)
        t.ok("/metrics: %s; %d families, %d samples, accepted by prometheus_client's parser and "
             "the format's rules (HELP/TYPE once, _total, cumulative buckets to +Inf)"
             % (CONTENT_TYPE, nfam, len(values)))

        for n in h.names:
            eq(value(values, "herd_up", server=n), 1, "herd_up of %s" % n)
            eq(value(values, "herd_restarts_total", server=n), 0, "restarts of %s" % n)
            eq(value(values, "herd_iamat_total", server=n), IAMATS[n], "herd_iamat_total of %s" % n)
            eq(value(values, "herd_whatsat_total", server=n), WHATSATS.get(n, 0),
               "herd_whatsat_total of %s" % n)
            eq(value(values, "herd_whatsat_latency_seconds_count", server=n), WHATSATS.get(n, 0),
               "WHATSAT latency count of %s" % n)
            eq(value(values, "herd_invalid_lines_total", server=n), INVALID.get(n, 0),
               "herd_invalid_lines_total of %s" % n)
            eq(value(values, "herd_connections_total", server=n), conns[n],
               "herd_connections_total of %s" % n)
            eq(value(values, "herd_in_sync", server=n), 1, "herd_in_sync of %s" % n)
            up = value(values, "herd_uptime_seconds", server=n)
            check(up is not None and 0 < up < 300, "uptime of %s: %s" % (n, up))
        eq(value(values, "herd_all_in_sync"), 1, "herd_all_in_sync")
        links = {(a, b) for a, b in h.links} | {(b, a) for a, b in h.links}
        got_links = {(dict(l)["server"], dict(l)["peer"]) for (n, l) in values
                     if n == "herd_link_up"}
        eq(sorted(got_links), sorted(links), "the links of herd_link_up")
        for a, b in links:
            eq(value(values, "herd_link_up", server=a, peer=b), 1, "herd_link_up %s -> %s" % (a, b))
            rtt = value(values, "herd_link_rtt_seconds", server=a, peer=b)
            check(rtt is None or 0 < rtt < 1, "rtt %s -> %s: %s" % (a, b, rtt))
        t.ok("values: IAMAT %s, WHATSAT %s, invalid %s, connections %s per server as sent; "
             "%d records everywhere; every link up both ways"
             % (IAMATS, WHATSATS, INVALID, conns, nrecords))

        pid = h.server("Parker")["pid"]
        h.ok_cmd("kill", "Parker")
        h.wait_state("Parker", "up", pred=lambda s: s["pid"] not in (None, pid))

        def restarted():
            _, _, v = scrape(t, port)
            ok = value(v, "herd_restarts_total", server="Parker") == 1 and \
                value(v, "herd_iamat_total", server="Parker") == 0
            return v if ok else None
        wait_until(restarted, 10, "Parker's restarts at 1 and its counters anew", 0.2)
        t.ok("after herd kill Parker: herd_restarts_total 1, herd_iamat_total 0 (a new process)")

        h.ok_cmd("stop", "Powell")

        def stopped():
            _, _, v = scrape(t, port)
            gone = [k for k in v if dict(k[1]).get("server") == "Powell"]
            ok = value(v, "herd_up", server="Powell") == 0 and \
                value(v, "herd_restarts_total", server="Powell") == 0 and \
                value(v, "herd_iamat_total", server="Powell") is None and \
                all(value(v, "herd_link_up", server=n, peer="Powell") == 0
                    for n in h.neighbours("Powell"))
            return sorted(k[0] for k in gone) if ok else None
        names = wait_until(stopped, 5, "Powell down in /metrics", 0.2)
        eq(names, ["herd_restarts_total", "herd_up"], "what /metrics says of a stopped Powell")
        t.ok("after herd stop Powell: herd_up 0 and only what the supervisor knows; its "
             "neighbours' links to it down")
        h.stop()
    finally:
        h.close()


herdsup.run(main, watchdog=200)
