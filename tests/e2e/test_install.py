"""cmake --install: the installed tree, and a herd run from it.

`cmake --install BUILD --prefix P` puts the binaries, the offline places
index, an example herd.conf (share/herd, and etc/herd where the units read
it), the man pages, the systemd units and the sysusers.d file in their
places, and makes var/lib/herd (0700) and var/log/herd (0750). The units
and herd.conf name the installed paths of that prefix.

Then the tree is moved elsewhere (an installed tree must not lean on the
build tree or on the prefix it was installed to): the installed `herd
check` accepts the installed herd.conf; a damaged installed places index
makes the installed herd-server refuse to start (78) naming that file, so
it is the one the server reads; and with the index restored, the installed
herd (no server_bin, no HERD_SERVER_BIN) starts a herd of three from the
herd-server beside it, floods an update, answers WHATSAT from the index,
and stops cleanly.
"""

import os
import re
import shutil
import stat

import herdinstall
import herdtest
from herdinstall import run, unit_values
from herdtest import check, eq

# path -> mode (None: a file of any mode; the binaries must be executable).
EXPECTED = {
    "bin/herd": 0o755,
    "bin/herd-server": 0o755,
    "share/herd/places.idx": 0o644,
    "share/herd/herd.conf": 0o644,
    "etc/herd/herd.conf": 0o644,
    "share/man/man1/herd.1": 0o644,
    "share/man/man8/herd-server.8": 0o644,
    "lib/systemd/system/herd-server@.service": 0o644,
    "lib/systemd/system/herd.service": 0o644,
    "lib/systemd/system/herd.target": 0o644,
    "lib/sysusers.d/herd.conf": 0o644,
}
DIRS = {"var/lib/herd": 0o700, "var/log/herd": 0o750}


def install(t, prefix):
    herdinstall.install(t, t.args.build, prefix)
    for rel, mode in EXPECTED.items():
        path = os.path.join(prefix, rel)
        check(os.path.isfile(path), "not installed: %s" % rel)
        eq(oct(stat.S_IMODE(os.stat(path).st_mode)), oct(mode), "mode of %s" % rel)
    for rel, mode in DIRS.items():
        path = os.path.join(prefix, rel)
        check(os.path.isdir(path), "directory not made: %s" % rel)
        eq(oct(stat.S_IMODE(os.stat(path).st_mode)), oct(mode), "mode of %s" % rel)
    with open(os.path.join(t.args.build, "places.idx"), "rb") as a, \
            open(os.path.join(prefix, "share/herd/places.idx"), "rb") as b:
        check(a.read() == b.read(), "the installed places index differs from the build's")


def check_units(prefix):
    units = os.path.join(prefix, "lib/systemd/system")
    server = os.path.join(units, "herd-server@.service")
    start = unit_values(server, "ExecStart")
    eq(len(start), 1, "ExecStart lines of herd-server@.service")
    argv = start[0].split()
    eq(argv[0], os.path.join(prefix, "bin/herd-server"), "herd-server@'s binary")
    eq(argv[1], "%i", "herd-server@'s server name")
    eq(argv[argv.index("--config") + 1], os.path.join(prefix, "etc/herd/herd.conf"),
       "herd-server@'s herd.conf")
    eq(unit_values(server, "LoadCredential"),
       ["secret:" + os.path.join(prefix, "etc/herd/secret")], "herd-server@'s secret")
    eq(unit_values(server, "Type"), ["notify"], "herd-server@'s Type")
    sup = unit_values(os.path.join(units, "herd.service"), "ExecStart")
    eq(sup, ["%s -c %s start --foreground" % (os.path.join(prefix, "bin/herd"),
                                              os.path.join(prefix, "etc/herd/herd.conf"))],
       "herd.service's ExecStart")
    with open(os.path.join(prefix, "etc/herd/herd.conf")) as f:
        conf = f.read()
    for key, want in (("run_dir", "run/herd"), ("log_dir", "var/log/herd"),
                      ("data_dir", "var/lib/herd")):
        m = re.search(r"^%s\s+(\S+)" % key, conf, re.M)
        check(m is not None, "installed herd.conf has no %s" % key)
        eq(m.group(1), os.path.join(prefix, want), "installed herd.conf's %s" % key)


def render(t, page):
    """The man page as text (plain ASCII, no overstriking), its whitespace
    runs made one space, and its sections: {"OPTIONS": text, ...}."""
    env = dict(os.environ, LC_ALL="C")
    rc, out, err = run(t, ["groff", "-man", "-Tascii", "-P-cbou", page], env=env)
    eq(rc, 0, "groff -Tascii on %s (stderr %r)" % (page, err))
    sections = {}
    for part in re.split(r"^(?=[A-Z][A-Z ]+$)", out, flags=re.M):
        head, _, body = part.partition("\n")
        sections[head.strip()] = re.sub(r"\s+", " ", body)
    return re.sub(r"\s+", " ", out), sections


def help_commands(t, herd):
    """The commands of herd --help, each as its fixed words ("start",
    "restart --rolling", "cut")."""
    rc, out, err = run(t, [herd, "--help"])
    eq(rc, 0, "herd --help")
    body = out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    found = []
    for line in body.splitlines():
        m = re.match(r"^  ([a-z][a-z-]*(?: --[a-z-]+)?)", line)
        if m:
            found.append(m.group(1))
    check(len(found) >= 10, "commands of herd --help: %s" % found)
    return found


def check_man(t, prefix):
    if shutil.which("groff") is None:
        t.note("groff is not installed: the man pages are not rendered")
        return
    pages = {"herd": os.path.join(prefix, "share/man/man1/herd.1"),
             "herd-server": os.path.join(prefix, "share/man/man8/herd-server.8")}
    for page in pages.values():
        env = dict(os.environ, LC_ALL="C.UTF-8")
        rc, out, err = run(t, ["groff", "-man", "-ww", "-z", page], env=env)
        eq((rc, err), (0, ""), "groff -man -ww on %s" % page)

    # herd(1) describes every command herd --help lists.
    _, sections = render(t, pages["herd"])
    for cmd in help_commands(t, os.path.join(prefix, "bin/herd")):
        check(re.search(r"(^| )%s( |$)" % re.escape(cmd), sections.get("COMMANDS", "")),
              "herd(1) does not describe '%s' of herd --help" % cmd)
    # herd-server(8): every option it names exists, every signal the
    # server's --help speaks of is there.
    rc, usage, _ = run(t, [os.path.join(prefix, "bin/herd-server"), "--help"])
    eq(rc, 0, "herd-server --help")
    text, sections = render(t, pages["herd-server"])
    check("OPTIONS" in sections, "herd-server(8) has no OPTIONS")
    for opt in sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", sections["OPTIONS"]))):
        check(opt in usage, "herd-server(8) names %s, which herd-server --help does not" % opt)
    for sig in sorted(set(re.findall(r"SIG[A-Z]+", usage))):
        check(sig in text, "herd-server --help speaks of %s, herd-server(8) does not" % sig)


def index_is_the_installed_one(t, prefix):
    """A damaged installed index: the installed server refuses it by name."""
    idx = os.path.join(prefix, "share/herd/places.idx")
    good = idx + ".good"
    os.rename(idx, good)
    try:
        with open(idx, "wb") as f:
            f.write(b"not an index\n")
        port, pport = herdtest.free_ports(2)
        rc, out, err = run(t, [os.path.join(prefix, "bin/herd-server"), "Solo",
                               "--listen", "127.0.0.1:%d" % port,
                               "--peer-listen", "127.0.0.1:%d" % pport,
                               "--log-file", "/dev/null"], timeout=20)
        eq(rc, 78, "the installed server on a damaged installed index (stderr %r)" % err)
        check(idx in err, "the refusal names the installed index %s: %r" % (idx, err))
    finally:
        os.replace(good, idx)


def main(t):
    scratch = herdinstall.scratch_dir("install")
    first = os.path.join(scratch, "prefix")
    install(t, first)
    check_units(first)
    check_man(t, first)
    t.ok("cmake --install: binaries, index, herd.conf, man pages (each command of herd --help "
         "in herd(1), herd-server(8) true to --help), units, directories and modes")

    moved = os.path.join(scratch, "moved")
    os.rename(first, moved)
    for conf in ("etc/herd/herd.conf", "share/herd/herd.conf"):
        rc, out, err = run(t, [os.path.join(moved, "bin/herd"), "-c",
                               os.path.join(moved, conf), "check"])
        eq(rc, 0, "installed herd check of %s (stderr %r)" % (conf, err))
        check("ok: 5 servers, 5 links" in out, "check's line: %r" % out)
    t.ok("the installed herd check accepts the installed herd.conf")

    index_is_the_installed_one(t, moved)
    t.ok("the installed herd-server reads the installed index (a damaged one is refused by name)")

    herdinstall.run_herd(t, os.path.join(moved, "bin"))
    t.ok("a herd of three from the moved install: up, flooded, WHATSAT from the index, stopped")


def add_args(ap):
    ap.add_argument("--herd", required=True, help="path to the herd binary")
    ap.add_argument("--build", required=True, help="the build directory to install from")


herdtest.run(main, watchdog=90, add_args=add_args)
