"""The Debian package (CPack's DEB generator, as scripts/package runs it),
built from this build directory into a temporary directory.

dpkg-deb -I: the package's name, version and architecture; Depends names
the package of every shared library the binaries need (readelf's NEEDED,
found with dpkg -S) and adduser; the maintainer scripts are there and
executable, and /etc/herd/herd.conf is a conffile.
dpkg-deb -c: every file in its place under /usr, /etc/herd/herd.conf, the
directories /var/lib/herd (0700) and /var/log/herd (0750), owned by root
in the archive (postinst gives them to herd).

postinst, run with $DPKG_ROOT at a temporary root and stand-ins for
getent, addgroup, adduser and chown that record their calls: makes the
system group herd and the user herd in it only when missing (each on its
own), gives the user the data and log directories with their modes, and
makes the secret (root's, 0600, 64 hex digits) only once, an upgrade's
configure included. postrm remove keeps the data and the units an operator
enabled; postrm purge removes the data, the logs, the secret and the links
systemctl enable made, and no other package's.

The package extracted (dpkg-deb -x) into a temporary root: the herd from
there checks its herd.conf and runs a herd of three.
"""

import os
import re
import shutil
import stat
import sys

import herdinstall
import herdtest
from herdinstall import run
from herdtest import check, eq, fail

FILES = {   # path in the package -> mode (owner root)
    "./usr/bin/herd": "-rwxr-xr-x",
    "./usr/bin/herd-server": "-rwxr-xr-x",
    "./usr/share/herd/places.idx": "-rw-r--r--",
    "./usr/share/herd/herd.conf": "-rw-r--r--",
    "./etc/herd/herd.conf": "-rw-r--r--",
    "./usr/share/man/man1/herd.1": "-rw-r--r--",
    "./usr/share/man/man8/herd-server.8": "-rw-r--r--",
    "./usr/lib/systemd/system/herd-server@.service": "-rw-r--r--",
    "./usr/lib/systemd/system/herd.service": "-rw-r--r--",
    "./usr/lib/systemd/system/herd.target": "-rw-r--r--",
    "./usr/lib/sysusers.d/herd.conf": "-rw-r--r--",
    "./var/lib/herd/": "drwx------",
    "./var/log/herd/": "drwxr-x---",
}
LIBC = ("libc6", "libc6-i386", "libc6-amd64")
SANITIZER_RE = re.compile(r"^lib(asan|ubsan|lsan|tsan|hwasan)\.so")


def build_package(t):
    out_dir = os.path.join(t.scratch, "pkg")
    rc, out, err = run(t, ["cpack", "-G", "DEB", "--config",
                           os.path.join(t.args.build, "CPackConfig.cmake"), "-B", out_dir],
                       timeout=120)
    eq(rc, 0, "cpack exit code (stderr %r)" % err[-2000:])
    debs = [f for f in os.listdir(out_dir) if f.endswith(".deb")]
    eq(len(debs), 1, "packages made: %s" % debs)
    return os.path.join(out_dir, debs[0])


def project_version(build):
    with open(os.path.join(build, "CPackConfig.cmake")) as f:
        m = re.search(r'set\(CPACK_PACKAGE_VERSION "([^"]+)"\)', f.read())
    check(m is not None, "no CPACK_PACKAGE_VERSION in CPackConfig.cmake")
    return m.group(1)


def control_fields(info):
    fields = {}
    for line in info.splitlines():
        m = re.match(r"^ ([A-Za-z-]+): (.*)$", line)
        if m:
            fields[m.group(1)] = m.group(2)
    return fields


def needed_packages(t, binaries):
    """The Debian packages of the shared libraries the binaries need."""
    pkgs = {}
    for b in binaries:
        rc, out, err = run(t, ["readelf", "-d", b])
        eq(rc, 0, "readelf -d %s" % b)
        for lib in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out):
            rc, out2, err2 = run(t, ["dpkg", "-S", "*/" + lib])
            eq(rc, 0, "dpkg -S */%s: no package has it" % lib)
            names = {ln.split(":")[0].split(",")[0] for ln in out2.splitlines()
                     if ln.rstrip().endswith("/" + lib)}
            check(names, "dpkg -S */%s: %r" % (lib, out2))
            pkgs[lib] = names
    return pkgs


def check_info(t, deb, root):
    rc, info, err = run(t, ["dpkg-deb", "-I", deb])
    eq(rc, 0, "dpkg-deb -I")
    f = control_fields(info)
    eq(f.get("Package"), "herd", "Package")
    eq(f.get("Version"), project_version(t.args.build), "Version")
    rc, arch, _ = run(t, ["dpkg", "--print-architecture"])
    eq(f.get("Architecture"), arch.strip(), "Architecture")
    depends = {d.strip().split(" ")[0] for d in f.get("Depends", "").split(",")}
    for want in ("libuv1", "libcurl4", "libjansson4", "libssl3", "libmicrohttpd12",
                 "libsystemd0", "adduser"):
        check(want in depends, "Depends lacks %s: %s" % (want, f.get("Depends")))
    bins = [os.path.join(root, "usr/bin", b) for b in ("herd", "herd-server")]
    for lib, names in needed_packages(t, bins).items():
        if SANITIZER_RE.match(lib):
            t.note("%s: a sanitizer build's runtime, not a dependency of a release" % lib)
            continue
        check(names & depends or names <= set(LIBC) and "libc6" in depends,
              "%s (from %s) is needed but Depends names none of them: %s"
              % (lib, sorted(names), f.get("Depends")))
    for script in ("postinst", "prerm", "postrm"):
        check(re.search(r"^\s+\d+ bytes,\s+\d+ lines\s+\*\s+%s\s" % script, info, re.M),
              "%s missing or not executable in:\n%s" % (script, info))
    ctl = os.path.join(t.tmpdir, "control")
    rc, out, err = run(t, ["dpkg-deb", "-e", deb, ctl])
    eq(rc, 0, "dpkg-deb -e")
    with open(os.path.join(ctl, "conffiles")) as fh:
        eq(fh.read().split(), ["/etc/herd/herd.conf"], "conffiles")
    return ctl


def check_contents(t, deb):
    rc, out, err = run(t, ["dpkg-deb", "-c", deb])
    eq(rc, 0, "dpkg-deb -c")
    entries = {}
    for line in out.splitlines():
        parts = line.split()
        entries[parts[5]] = (parts[0], parts[1])
    for path, mode in FILES.items():
        check(path in entries, "%s not in the package:\n%s" % (path, out))
        eq(entries[path], (mode, "root/root"), "mode and owner of %s" % path)
    for path in entries:
        check(path.startswith(("./usr/", "./etc/herd/", "./var/lib/", "./var/log/"))
              or path in ("./", "./usr/", "./etc/", "./var/"),
              "unexpected path in the package: %s" % path)


def make_stubs(d, log, group_exists, user_exists):
    """getent (which knows the group herd and the user herd as told),
    addgroup, adduser, chown and systemctl that record their arguments in
    log."""
    os.makedirs(d, exist_ok=True)
    getent = ('case "$1" in group) exit %d ;; passwd) exit %d ;; esac\nexit 2\n'
              % (0 if group_exists else 2, 0 if user_exists else 2))
    for name, tail in (("getent", getent), ("addgroup", "exit 0\n"), ("adduser", "exit 0\n"),
                       ("chown", "exit 0\n"), ("systemctl", "exit 0\n")):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write('#!/bin/sh\necho "%s $*" >>"%s"\n%s' % (name, log, tail))
        os.chmod(path, 0o755)


def run_script(t, ctl, script, arg, root, stubs, *more):
    env = {"PATH": stubs + ":/usr/bin:/bin", "DPKG_ROOT": root, "LANG": "C"}
    rc, out, err = run(t, ["/bin/sh", os.path.join(ctl, script), arg] + list(more), timeout=20,
                       env=env)
    eq(rc, 0, "%s %s exit code (stderr %r)" % (script, arg, err))


def calls(log):
    try:
        with open(log) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def check_scripts(t, ctl, root):
    stubs = os.path.join(t.tmpdir, "stubs")
    log = os.path.join(t.tmpdir, "calls.log")
    make_stubs(stubs, log, group_exists=False, user_exists=False)
    # Modes as unpacked; postinst sets them again.
    os.chmod(os.path.join(root, "var/log/herd"), 0o755)
    run_script(t, ctl, "postinst", "configure", root, stubs)
    got = calls(log)
    eq([c for c in got if c.startswith("addgroup ")], ["addgroup --system --quiet herd"],
       "addgroup calls")
    adds = [c for c in got if c.startswith("adduser ")]
    eq(len(adds), 1, "adduser calls: %s" % got)
    for word in ("--system", "--ingroup herd", "--home /var/lib/herd", "--no-create-home"):
        check(word in adds[0], "adduser without %s: %s" % (word, adds[0]))
    check(adds[0].endswith(" herd"), "adduser makes no user herd: %s" % adds[0])
    check("--gecos" not in adds[0], "adduser with --gecos (deprecated): %s" % adds[0])
    eq([c for c in got if c.startswith("chown ")],
       ["chown herd:herd %s/var/lib/herd %s/var/log/herd" % (root, root)], "chown calls")
    for rel, mode in (("var/lib/herd", 0o700), ("var/log/herd", 0o750)):
        eq(oct(stat.S_IMODE(os.stat(os.path.join(root, rel)).st_mode)), oct(mode),
           "mode of %s after postinst" % rel)
    secret = os.path.join(root, "etc/herd/secret")
    st = os.stat(secret)
    eq(oct(stat.S_IMODE(st.st_mode)), "0o600", "the secret's mode")
    with open(secret, "rb") as f:
        first = f.read()
    check(re.fullmatch(rb"[0-9a-f]{64}\n", first), "the secret: %r" % first)
    check(not os.path.exists(secret + ".new"), "postinst left secret.new")

    # Again (an upgrade from 0.0.9), the user there: no addgroup nor
    # adduser, the same secret.
    os.remove(log)
    make_stubs(stubs, log, group_exists=True, user_exists=True)
    run_script(t, ctl, "postinst", "configure", root, stubs, "0.0.9")
    check(not [c for c in calls(log) if c.startswith(("addgroup ", "adduser "))],
          "addgroup or adduser called although both exist: %s" % calls(log))
    with open(secret, "rb") as f:
        eq(f.read(), first, "the secret after a second configure")

    # The group left without its user: only the user is made, in it.
    os.remove(log)
    make_stubs(stubs, log, group_exists=True, user_exists=False)
    run_script(t, ctl, "postinst", "configure", root, stubs)
    got = calls(log)
    check(not [c for c in got if c.startswith("addgroup ")], "addgroup called: %s" % got)
    adds = [c for c in got if c.startswith("adduser ")]
    check(len(adds) == 1 and "--ingroup herd" in adds[0], "adduser calls: %s" % got)
    t.ok("postinst: the group and the user herd once (either may be there already), "
         "directories with owner and mode, one secret (0600)")
    return stubs


def check_purge(t, ctl, root, stubs):
    # What systemctl enable made (herd-server@Alford, herd.service), and a
    # link of another package's.
    etc = os.path.join(root, "etc/systemd/system")
    ours = ["multi-user.target.wants/herd-server@Alford.service",
            "herd.target.wants/herd-server@Alford.service",
            "multi-user.target.wants/herd.service"]
    other = os.path.join(etc, "multi-user.target.wants/other.service")
    for rel in ours + [os.path.relpath(other, etc)]:
        os.makedirs(os.path.dirname(os.path.join(etc, rel)), exist_ok=True)
        os.symlink("/usr/lib/systemd/system/" + os.path.basename(rel), os.path.join(etc, rel))

    run_script(t, ctl, "postrm", "remove", root, stubs)
    for rel in ours:
        check(os.path.islink(os.path.join(etc, rel)), "postrm remove took %s" % rel)
    check(os.path.isdir(os.path.join(root, "var/lib/herd")), "postrm remove took the data")

    run_script(t, ctl, "postrm", "purge", root, stubs)
    for rel in ("var/lib/herd", "var/log/herd", "etc/herd/secret",
                "etc/systemd/system/herd.target.wants"):
        check(not os.path.lexists(os.path.join(root, rel)), "postrm purge left %s" % rel)
    for rel in ours:
        check(not os.path.lexists(os.path.join(etc, rel)), "postrm purge left %s" % rel)
    check(os.path.islink(other), "postrm purge removed another package's link")
    check(os.path.exists(os.path.join(root, "usr/bin/herd")), "postrm removed a binary")
    t.ok("postrm: remove keeps the data and the enabled units; purge takes the data, the logs, "
         "the secret and the units' links, nothing else")


def main(t):
    for tool in ("cpack", "dpkg-deb", "readelf"):
        if shutil.which(tool) is None:
            fail("%s is not installed" % tool)
    t.scratch = herdinstall.scratch_dir("package")
    deb = build_package(t)
    root = os.path.join(t.scratch, "root")
    rc, out, err = run(t, ["dpkg-deb", "-x", deb, root])
    eq(rc, 0, "dpkg-deb -x")
    ctl = check_info(t, deb, root)
    t.ok("dpkg-deb -I: name, version, architecture, Depends covering every library, "
         "maintainer scripts, conffiles")
    check_contents(t, deb)
    t.ok("dpkg-deb -c: %d paths with their modes, owned by root" % len(FILES))

    rc, out, err = run(t, [os.path.join(root, "usr/bin/herd"), "-c",
                           os.path.join(root, "etc/herd/herd.conf"), "check"])
    eq(rc, 0, "the package's herd check of its herd.conf (stderr %r)" % err)
    herdinstall.run_herd(t, os.path.join(root, "usr/bin"))
    t.ok("extracted into a temporary root: herd check, and a herd of three runs from it")

    stubs = check_scripts(t, ctl, root)
    check_purge(t, ctl, root, stubs)


def add_args(ap):
    ap.add_argument("--herd", required=True, help="path to the herd binary")
    ap.add_argument("--build", required=True, help="the build directory to package")


if shutil.which("dpkg-deb") is None:
    print("ok - skipped: dpkg-deb is not installed (not a Debian system)")
    sys.exit(77)
herdtest.run(main, watchdog=120, add_args=add_args)
