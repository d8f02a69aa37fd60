#!/usr/bin/env python3
"""Turns what benches/compare.sh measured into the markdown tables of BENCHMARKS.md.

    tables.py OUT_DIR CAPTURE SIZE_BYTES PACKETS > results.md
"""
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone

out, capture, size, packets = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def load(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)["results"]


results = {
    r["command"]: r
    for r in load("hyperfine.json") + load("hyperfine-bar.json") + load("hyperfine-tshark.json")
}


def mean(name):
    r = results.get(name)
    return r["mean"] if r else None


def stddev(name):
    r = results.get(name)
    return (r.get("stddev") or 0.0) if r else 0.0


def spread(r):
    times = r["times"]
    return f"{min(times):.3f}–{max(times):.3f}" if len(times) > 1 else "1 run"


def gbps(seconds):
    return size / seconds / 1e9


def mib(kib):
    return kib / 1024


floor, j1, j2 = mean("floor"), mean("mtlscan -j 1"), mean("mtlscan -j 2")
nh1, nh2 = mean("mtlscan --no-hash -j 1"), mean("mtlscan --no-hash -j 2")
stdin = mean("mtlscan -j 1, stdin")
sha = mean("SHA-256 of the file")
bar, nobar = mean("mtlscan -j 1 on a terminal, progress bar"), mean("mtlscan -j 1 on a terminal, -q")
tshark_name = "tshark SNI of every ClientHello"
tshark = mean(tshark_name)

memory = {}
if os.path.exists(os.path.join(out, "memory.tsv")):
    with open(os.path.join(out, "memory.tsv")) as f:
        for line in f:
            name, hwm, anon, file_, maxrss = line.rstrip("\n").split("\t")
            memory[name] = (int(hwm), int(anon), int(file_), int(maxrss))

p = print
mem_gib = int(run("awk '/MemTotal/ {print $2}' /proc/meminfo") or 0) // 1048576
loadavg = run("cut -d' ' -f1-3 /proc/loadavg")
now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
commit = run(f"git -C {root} rev-parse --short HEAD")
dirty = " (with uncommitted changes)" if run(f"git -C {root} status --porcelain -- src") else ""
p(f"Measured {now} on commit `{commit}`{dirty} by `benches/compare.sh`.")
p()
p("**Machine.** " + ", ".join(x for x in [
    run("lscpu | sed -n 's/^Model name: *//p'"),
    f"{os.cpu_count()} cores",
    f"{mem_gib} GiB RAM",
    "Linux " + run("uname -r"),
    run("rustc --version"),
    run("cc --version | head -1"),
    run("hyperfine --version"),
    run(f"cat {out}/tshark.version 2>/dev/null") or None,
] if x) + f"; load average at the end {loadavg}. Shared machine: "
  "compare ratios measured in the same run, not absolute times across runs.")
p()
p(f"**Capture.** `{os.path.basename(capture)}`: {size / 1e9:.2f} GB, {packets / 1e6:.2f} M packets "
  f"(page cache warm).")
p()
p("### Wall time (hyperfine, mean of the runs after one warm-up)")
p()
p("| command | mean (s) | min–max (s) | throughput | packets/s | vs. floor |")
p("|---|---:|---:|---:|---:|---:|")
for name in ["floor", "SHA-256 of the file", "mtlscan -j 1", "mtlscan -j 2",
             "mtlscan --no-hash -j 1", "mtlscan --no-hash -j 2", "mtlscan -j 1, stdin",
             "mtlscan -j 1 on a terminal, progress bar", "mtlscan -j 1 on a terminal, -q",
             tshark_name]:
    r = results.get(name)
    if not r:
        continue
    m = r["mean"]
    p(f"| {name} | {m:.3f} | {spread(r)} | {gbps(m):.2f} GB/s | {packets / m / 1e6:.2f} M "
      f"| {m / floor:.2f}× |" if floor else "")
p()
p("Commands: `floor CAPTURE` (benches/floor.c), `openssl dgst -sha256 CAPTURE` (SHA-NI, the "
  "speed of the hash every report carries), `mtlscan -j N -f json -o /dev/null CAPTURE`, "
  "the same with `--no-hash`, "
  "`cat CAPTURE | mtlscan -j 1 -f json -o /dev/null -`, the `-j 1` run under `script` so that "
  "standard error is a terminal and the progress bar is drawn (and with `-q`, no bar; this "
  "pair runs more often than the rest, in a hyperfine run of its own, as its difference is "
  "smaller than the noise of a few runs), "
  "`tshark -r CAPTURE -Y tls.handshake.type==1 -T fields -e "
  "tls.handshake.extensions_server_name` (one run).")
p()

if memory:
    p("### Peak memory (one run each)")
    p()
    p("| mode | peak RSS (VmHWM) | heap: peak RssAnon | mapped capture: peak RssFile | `time -v` max RSS |")
    p("|---|---:|---:|---:|---:|")
    for name, (hwm, anon, file_, maxrss) in memory.items():
        p(f"| {name} | {mib(hwm):.0f} MiB | {mib(anon):.0f} MiB | {mib(file_):.0f} MiB "
          f"| {mib(maxrss):.0f} MiB |")
    p()
    p("RssAnon and RssFile are the largest values sampled every 5 ms from `/proc/PID/status`; "
      "VmHWM is the kernel's exact peak of their sum. A mapped capture's pages count in RssFile: "
      "they belong to the page cache, not to the process.")
    p()


def verdict(ok):
    return "**met**" if ok else "**not met**"


p("### Targets")
p()
if sha and j1 and floor:
    p(f"A run hashes the whole file for the report's `sha256` unless `--no-hash` is given: alone "
      f"that takes {sha:.2f} s here ({gbps(sha):.2f} GB/s, {sha / floor:.2f}× the floor), which "
      f"bounds any run that reports it. `mtlscan -j 1` takes {j1 / sha:.2f}× the hash alone.")
    p()
p("| target | measured | |")
p("|---|---:|---|")
if nh1:
    p(f"| `--no-hash`, one thread ≥ 2 GB/s end to end | {gbps(nh1):.2f} GB/s "
      f"| {verdict(gbps(nh1) >= 2)} |")
if nh1 and floor:
    p(f"| `--no-hash`, one thread ≤ 2× the floor | {nh1 / floor:.2f}× | {verdict(nh1 / floor <= 2)} |")
if nh1 and nh2:
    p(f"| `--no-hash`, two threads ≥ 1.6× one thread | {nh1 / nh2:.2f}× "
      f"| {verdict(nh1 / nh2 >= 1.6)} |")
if j2 and sha:
    p(f"| hash on, two threads ≤ 1.15× the SHA-256 alone | {j2 / sha:.2f}× "
      f"| {verdict(j2 / sha <= 1.15)} |")
if bar and nobar:
    # "Measurable" is taken against the noise of the two runs: the difference of the means is
    # measurable when it exceeds both 2 % and twice the combined standard deviation.
    sd = (stddev("mtlscan -j 1 on a terminal, progress bar") ** 2
          + stddev("mtlscan -j 1 on a terminal, -q") ** 2) ** 0.5
    noise = max(0.02 * nobar, 2 * sd)
    p(f"| progress bar costs no measurable time | {bar / nobar:.3f}× the run without it "
      f"({bar - nobar:+.3f} s; noise ±{noise:.3f} s) | {verdict(bar - nobar <= noise)} |")
if j1 and tshark:
    p(f"| ≥ 100× faster than tshark (SNIs) | {tshark / j1:.0f}× (`-j 1`), {tshark / j2:.0f}× (`-j 2`) "
      f"| {verdict(tshark / j1 >= 100)} |")
if "mtlscan -j 1, stdin" in memory:
    hwm = mib(memory["mtlscan -j 1, stdin"][0])
    p(f"| peak RSS < 200 MiB from stdin | {hwm:.0f} MiB | {verdict(hwm < 200)} |")
if "mtlscan -j 1" in memory and "mtlscan -j 1, stdin" in memory:
    mapped, streamed = mib(memory["mtlscan -j 1"][1]), mib(memory["mtlscan -j 1, stdin"][1])
    p(f"| mapped: heap of the same order as from stdin | {mapped:.0f} MiB vs {streamed:.0f} MiB "
      f"| {verdict(mapped <= 2 * max(streamed, 1))} |")
p()

crit = os.path.join(root, "target", "criterion", "pipeline")
if os.path.isdir(crit):
    rows = []
    for stage in ["read", "decode", "reassemble", "classify", "end_to_end", "end_to_end_2_threads"]:
        d = os.path.join(crit, stage, "new")
        try:
            with open(os.path.join(d, "estimates.json")) as f:
                ns = json.load(f)["mean"]["point_estimate"]
            with open(os.path.join(d, "benchmark.json")) as f:
                tp = json.load(f)["throughput"]
        except (OSError, KeyError, ValueError):
            continue
        both = tp.get("ElementsAndBytes") or {}
        b, e = both.get("bytes") or tp.get("Bytes"), both.get("elements") or tp.get("Elements")
        rows.append((stage, ns / 1e9, b, e))
    if rows:
        b0, e0 = rows[0][2], rows[0][3]
        p(f"### Per stage (`cargo bench --bench pipeline`, generated capture: {b0 / 1e6:.0f} MB, "
          f"{e0 / 1e6:.2f} M packets)")
        p()
        p("| stage | time (s) | throughput | packets/s |")
        p("|---|---:|---:|---:|")
        for stage, s, b, e in rows:
            p(f"| {stage} | {s:.3f} | {b / s / 1e9:.2f} GB/s | {e / s / 1e6:.2f} M |")
        p()


def lines_of(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.rstrip() for l in f if l.strip()]


def code(title, rows):
    if not rows:
        return
    p(title)
    p()
    p("```text")
    for r in rows:
        p(r)
    p("```")
    p()


# perf: "  18.90%  [.] symbol   -  -" -> "18.90%  symbol"
perf_rows = []
for l in lines_of("perf-self.txt")[:25]:
    m = re.match(r"\s*([\d.]+%)\s+\[[.k]\]\s+(.*?)(\s+-\s+-)?$", l)
    if m:
        perf_rows.append(f"{m.group(1):>7}  {m.group(2)}")
code("### Profile: self time (`perf record`, `mtlscan -j 1` on a prefix of the capture)", perf_rows)

# callgrind: "Ir (pct) file:function [object]" -> "pct function", each function once.
seen, cg_rows = set(), []
for l in lines_of("callgrind-inclusive.txt"):
    m = re.match(r"\s*[\d,]+ \(\s*([\d.]+)%\)\s+(.*)$", l)
    if not m or "PROGRAM TOTALS" in l:
        continue
    text = re.sub(r" \[[^\]]*\]$", "", m.group(2))
    parts = re.split(r"(?<!:):(?!:)", text, maxsplit=1)
    func = parts[-1]
    if func in seen or func.startswith("0x") or "(below main)" in func:
        continue
    seen.add(func)
    cg_rows.append(f"{m.group(1):>6}%  {func}")
code("### Profile: inclusive cost (`valgrind --tool=callgrind`, same prefix; instructions, all threads)",
     cg_rows[:30])
