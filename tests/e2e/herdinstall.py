"""Helpers of the tests of an installed herd (test_install, test_systemd,
test_deploy): run a command with a deadline, install the build into a
temporary prefix, read a systemd unit and run its ExecStart= the way
systemd would."""

import atexit
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile

import herdsup
import herdtest
from herdtest import check, eq, fail


def run(t, argv, timeout=60, env=None, cwd=None):
    """(exit code, stdout, stderr) of argv, which must end within timeout."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout, env=env or herdtest.server_env(), cwd=cwd)
    except subprocess.TimeoutExpired:
        fail("%s did not finish within %ds" % (" ".join(argv), timeout))
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    t.log("%s -> %d\n%s%s" % (" ".join(argv), p.returncode, out[-3000:], err[-3000:]))
    return p.returncode, out, err


def scratch_dir(label):
    """A temporary directory for installed or packaged files, outside the
    test's own (whose files are scanned for sanitizer reports, and a
    sanitizer build's binaries hold those words), removed at exit even
    when the test fails."""
    d = tempfile.mkdtemp(prefix="herd-%s-" % label)
    atexit.register(shutil.rmtree, d, True)
    return d


def install(t, build, prefix):
    """cmake --install build --prefix prefix; exit 0 required."""
    rc, out, err = run(t, ["cmake", "--install", build, "--prefix", prefix])
    eq(rc, 0, "cmake --install exit code (stderr %r)" % err[-2000:])
    return prefix


def unit_values(path, key):
    """The values of KEY= in a unit file, in order (no continuation lines:
    the herd's units have none)."""
    vals = []
    with open(path) as f:
        for line in f:
            if line.startswith(key + "="):
                vals.append(line[len(key) + 1:].rstrip("\n"))
    return vals


def unit_value(path, key, default=None):
    """The one value of KEY= (the last, as systemd takes it), or default."""
    vals = unit_values(path, key)
    return vals[-1] if vals else default


def resolve_specifiers(text, spec):
    """text with systemd's %X specifiers replaced from spec ({'i': 'Alford',
    ...}); %% is a percent sign. An unknown specifier fails the test: the
    unit uses one the test does not know how systemd resolves."""
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        check(i + 1 < len(text), "a lone %% at the end of %r" % text)
        k = text[i + 1]
        if k == "%":
            out.append("%")
        elif k in spec:
            out.append(spec[k])
        else:
            fail("unit specifier %%%s in %r: the test does not resolve it" % (k, text))
        i += 2
    return "".join(out)


def resolve_variables(word, variables, what):
    """word with systemd's $NAME and ${NAME} replaced from variables (a word
    that is one $NAME stays one word, as systemd keeps it). An unknown
    variable fails the test."""
    def value(m):
        name = m.group(1) or m.group(2)
        check(name in variables, "%s uses $%s: the test does not set it" % (what, name))
        return variables[name]
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", value, word)


def exec_argv(unit, spec, key="ExecStart", variables=None):
    """The unit's one KEY= line (ExecStart=, ExecReload=) as argv,
    specifiers resolved and the variables given ($MAINPID) put in: what
    systemd runs (no shell; the herd's units quote nothing)."""
    lines = unit_values(unit, key)
    eq(len(lines), 1, "%s= lines of %s" % (key, unit))
    line = lines[0]
    what = "%s= of %s" % (key, unit)
    check(line[:1] not in "-@:+!", "%s has a prefix: %r" % (what, line))
    if variables is None:
        check("$" not in line, "%s uses environment variables: %r" % (what, line))
    argv = [resolve_specifiers(a, spec) for a in shlex.split(line)]
    return [resolve_variables(a, variables or {}, what) for a in argv]


def unit_directories(unit, spec):
    """systemd's StateDirectory=, LogsDirectory= and RuntimeDirectory= of the
    unit, made under the roots spec gives for %S, %L and %t, with the modes
    the unit asks (default 0755), as systemd makes them before ExecStart."""
    made = {}
    for kind, root in (("State", spec["S"]), ("Logs", spec["L"]), ("Runtime", spec["t"])):
        names = unit_value(unit, kind + "Directory")
        if names is None:
            continue
        mode = int(unit_value(unit, kind + "DirectoryMode", "0755"), 8)
        for name in names.split():
            path = os.path.join(root, resolve_specifiers(name, spec))
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
            made[kind] = path
    return made


UCLA = b"+34.068930-118.445127"


def run_herd(t, bindir):
    """A herd of three started by bindir/herd, which must find the
    herd-server beside it (no server_bin, no HERD_SERVER_BIN): each server
    up and running that binary, an update flooded across, WHATSAT answered
    from the index, then stopped cleanly."""
    names = ["Alford", "Parker", "Powell"]
    h = herdsup.Herd(t, names=names, links=[("Alford", "Parker"), ("Parker", "Powell")],
                     subdir="herd-" + os.path.basename(os.path.dirname(bindir)))
    h.herd_bin = os.path.join(bindir, "herd")
    with open(h.conf) as f:
        lines = [ln for ln in f if not ln.startswith("server_bin ")]
    with open(h.conf, "w") as f:
        f.writelines(lines)
    os.environ.pop("HERD_SERVER_BIN", None)
    try:
        rc, out, err = h.cmd("check")
        eq(rc, 0, "herd check of the test's herd.conf (stderr %r)" % err)
        h.start()
        st = h.status()
        exe = os.path.realpath(os.path.join(bindir, "herd-server"))
        for s in st["servers"]:
            eq(s["state"], "up", "%s state" % s["name"])
            eq(os.readlink("/proc/%d/exe" % s["pid"]), exe, "%s's executable" % s["name"])
        h.wait_links_up("Parker")
        at = h.iamat("Alford", b"installed.client", b"1621464827.959498503", UCLA)
        h.wait_knows("Powell", at)
        with h.client("Powell") as c:
            got, body, _ = herdtest.whatsat(c, b"installed.client", b"10", 3)
        eq(got, at, "WHATSAT's AT line at Powell")
        doc = json.loads(body)
        eq(doc.get("status"), "OK", "WHATSAT status near UCLA: %s" % body[:300])
        check(1 <= len(doc["results"]) <= 3, "1 to 3 places: %d" % len(doc["results"]))
        h.stop()
    finally:
        h.close()
