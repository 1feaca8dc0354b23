"""A stand-in for herd-server under the supervisor, for what a real one
will not do on cue: stay starting, ignore SIGTERM, leave a question
unanswered.

    standin_server.py NAME --config FILE [the supervisor's other options]

It takes the supervisor's arguments (--config, --ready-fd, --lifeline-fd;
the others are ignored), listens on its control socket (RUN_DIR/NAME.sock,
run_dir beside herd.conf), says it is ready on the ready fd, and runs until
SIGTERM or the end of its lifeline. Files in $STANDIN_DIR steer it, read
when they matter:

  NAME.hold   while it exists, the readiness is held back (it starts)
  NAME.deaf   SIGTERM is ignored (only SIGKILL ends it)
  NAME.mute   "reload" gets no answer (the connection stays open)

Each process appends its pid to NAME.pids, and holds an exclusive lock on
NAME.lock for its life: a second process of the same name while one runs
writes NAME.dup and exits 1 (what two herd-servers sharing a data
directory would come to).

On its control socket: "status" -> {"name": NAME, "neighbours": []};
"reload" -> {"ok": true, "unchanged": true}; anything else -> "error ...".
"""

import fcntl
import json
import os
import select
import signal
import socket
import sys
import time


def arg(argv, flag, default=None):
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
    return default


def main():
    argv = sys.argv[1:]
    name = argv[0]
    conf = arg(argv, "--config")
    ready_fd = int(arg(argv, "--ready-fd", "-1"))
    lifeline_fd = int(arg(argv, "--lifeline-fd", "-1"))
    box = os.environ["STANDIN_DIR"]

    def there(what):
        return os.path.exists(os.path.join(box, "%s.%s" % (name, what)))

    lock = open(os.path.join(box, name + ".lock"), "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        with open(os.path.join(box, name + ".dup"), "a") as f:
            f.write("%d\n" % os.getpid())
        sys.exit(1)
    with open(os.path.join(box, name + ".pids"), "a") as f:
        f.write("%d\n" % os.getpid())

    stop = []
    signal.signal(signal.SIGTERM, lambda s, f: None if there("deaf") else stop.append(1))

    path = os.path.join(os.path.dirname(os.path.abspath(conf)), "run", name + ".sock")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(16)

    while there("hold") and not stop:
        time.sleep(0.02)
    if ready_fd >= 0:
        os.write(ready_fd, b"\n")
        os.close(ready_fd)

    conns = {}   # socket -> bytes read so far
    silent = []  # connections left unanswered
    while not stop:
        watch = [ls] + list(conns) + ([lifeline_fd] if lifeline_fd >= 0 else [])
        try:
            r, _, _ = select.select(watch, [], [], 0.1)
        except InterruptedError:
            continue
        for s in r:
            if s is ls:
                c, _ = ls.accept()
                conns[c] = b""
                continue
            if s == lifeline_fd:
                if not os.read(lifeline_fd, 64):
                    stop.append(1)  # the supervisor is gone
                continue
            data = s.recv(4096)
            conns[s] += data
            if b"\n" not in conns[s] and data:
                continue
            line = conns.pop(s).split(b"\n", 1)[0].decode()
            if line == "reload" and there("mute"):
                silent.append(s)
                continue
            if line == "status":
                out = json.dumps({"name": name, "neighbours": []})
            elif line == "reload":
                out = json.dumps({"ok": True, "unchanged": True})
            else:
                out = "error standin_server knows no '%s'" % line
            try:
                s.sendall(out.encode() + b"\n")
            except OSError:
                pass
            s.close()
    os.unlink(path)
    sys.exit(0)


if __name__ == "__main__":
    main()
