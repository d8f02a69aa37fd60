#!/usr/bin/env python3
"""Peak memory of one run of a shell command, measured on its process named NAME.

    peak_memory.py NAME COMMAND...

Prints one tab-separated line: peak resident set (VmHWM, KiB, exact), largest sampled RssAnon
(heap and stacks, KiB) and RssFile (mapped file pages, KiB), sampled from /proc every 5 ms, and
the maximum resident set size the kernel reports for the command (what `/usr/bin/time -v`
prints as "Maximum resident set size")."""
import resource
import subprocess
import sys
import time


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def find(pid, name):
    """The process named `name` among `pid` and its descendants."""
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() == name:
                    return p
        except OSError:
            pass
        todo.extend(children(p))
    return None


def status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "RssAnon", "RssFile"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def main():
    name, command = sys.argv[1], " ".join(sys.argv[2:])
    shell = subprocess.Popen(["bash", "-c", command])
    peak = {"VmHWM": 0, "RssAnon": 0, "RssFile": 0}
    target = None
    while shell.poll() is None:
        if target is None:
            target = find(shell.pid, name)
        if target is not None:
            for k, v in status(target).items():
                peak[k] = max(peak[k], v)
        time.sleep(0.005)
    # poll() reaped the shell: its tree's largest resident set is now in the children's usage.
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if shell.returncode != 0:
        sys.exit(f"command failed with {shell.returncode}: {command}")
    print(f"{peak['VmHWM']}\t{peak['RssAnon']}\t{peak['RssFile']}\t{maxrss}")


main()
