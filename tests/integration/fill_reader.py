#!/usr/bin/env python3
"""A reader of a lading-fill mount that outlives the filler.

fill_reader.py MODE PATH SOURCE CTL
  MODE open: holds PATH open and preads it
       cwd:  has its cwd in PATH's directory and opens the file anew by name
       mmap: holds a shared mapping of PATH; a forked child touches it (a
             missing page kills it with SIGBUS)
  SOURCE: the file PATH must equal.  CTL: a directory of commands.

Writes CTL/ready once set up, then for N = 1, 2, ... waits for CTL/cmd.N
("read") and answers it in CTL/res.N; exits when CTL/quit appears: eio, sigbus, data (the
source's bytes), zeros or wrong.  Reads 1 MiB at 8 MiB.  Waits are bounded.
"""
import mmap
import os
import signal
import sys
import time

OFF, LEN = 8 << 20, 1 << 20


def verdict(got, want):
    if got == want:
        return "data"
    return "zeros" if got == bytes(len(got)) else "wrong"


def main():
    mode, path, source, ctl = sys.argv[1:5]
    want = open(source, "rb").read()[OFF:OFF + LEN]
    fd = mm = None
    if mode == "open":
        fd = os.open(path, os.O_RDONLY)
    elif mode == "cwd":
        os.chdir(os.path.dirname(path))
        path = os.path.basename(path)
    elif mode == "mmap":
        f = os.open(path, os.O_RDONLY)
        mm = mmap.mmap(f, 0, prot=mmap.PROT_READ)
        os.close(f)
    else:
        raise SystemExit("unknown mode " + mode)
    open(os.path.join(ctl, "ready"), "w").close()
    n = 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(ctl, "quit")):
            return
        cmd = os.path.join(ctl, "cmd.%d" % (n + 1))
        if not os.path.exists(cmd):
            time.sleep(0.05)
            continue
        n += 1
        if mode == "mmap":
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGBUS, signal.SIG_DFL)
                os._exit({"data": 0, "zeros": 3}.get(verdict(mm[OFF:OFF + LEN], want), 4))
            _, st = os.waitpid(pid, 0)
            if os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGBUS:
                res = "sigbus"
            else:
                res = {0: "data", 3: "zeros"}.get(os.WEXITSTATUS(st), "wrong")
        else:
            try:
                if mode == "cwd":
                    g = os.open(path, os.O_RDONLY)
                    try:
                        got = os.pread(g, LEN, OFF)
                    finally:
                        os.close(g)
                else:
                    got = os.pread(fd, LEN, OFF)
                res = verdict(got, want)
            except OSError as e:
                res = "eio" if e.errno == 5 else "errno %d" % e.errno
        tmp = os.path.join(ctl, "res.%d.tmp" % n)
        open(tmp, "w").write(res + "\n")
        os.rename(tmp, os.path.join(ctl, "res.%d" % n))


main()
