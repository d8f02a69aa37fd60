#!/usr/bin/env bash
# Measures mtlscan against the floor (a C record walk with a flow table) and tshark on the
# reference workload, side by side in one run, and writes the tables of BENCHMARKS.md.
#
#   benches/compare.sh [CAPTURE] [OUT_DIR]
#
# CAPTURE defaults to OUT_DIR/workload.pcap, made with shared/workload/make_workload.sh (found by
# walking up from the repository) when missing. OUT_DIR defaults to target/compare. Environment:
#   RUNS=3            hyperfine runs per command (tshark always runs once)
#   BAR_RUNS=10       hyperfine runs of the progress bar and its baseline
#   TSHARK=1          0 skips tshark (the ratio is then left out)
#   BENCH=1           0 skips `cargo bench --bench pipeline` (the per-stage table)
#   PROFILE=1         0 skips the perf and callgrind profiles
#   PROFILE_MB=200    size of the capture prefix that is profiled
#   UPDATE=1          0 leaves BENCHMARKS.md alone (tables are still in OUT_DIR/results.md)
#   NICE=10           niceness of every measured command
# Needs: cargo, cc, hyperfine, tshark, python3, perf, valgrind, openssl, script (apt-get install
# hyperfine tshark linux-perf valgrind openssl util-linux).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${2:-$ROOT/target/compare}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RUNS=${RUNS:-3}
BAR_RUNS=${BAR_RUNS:-10}
NICE=${NICE:-10}
N="nice -n $NICE"
log() { printf '== %s\n' "$*" >&2; }

CAP=${1:-}
if [ -z "$CAP" ]; then
    CAP=$OUT/workload.pcap
    if [ ! -f "$CAP" ]; then
        dir=$ROOT
        while [ "$dir" != / ] && [ ! -f "$dir/shared/workload/make_workload.sh" ]; do
            dir=$(dirname "$dir")
        done
        [ -f "$dir/shared/workload/make_workload.sh" ] ||
            { echo "no capture given and shared/workload/make_workload.sh not found" >&2; exit 2; }
        log "generating the reference workload into $CAP"
        bash "$dir/shared/workload/make_workload.sh" "$CAP"
    fi
fi
CAP=$(cd "$(dirname "$CAP")" && pwd)/$(basename "$CAP")
SIZE=$(stat -c %s "$CAP")

log "building"
(cd "$ROOT" && cargo build --release --quiet)
BIN=$ROOT/target/release/mtlscan
cc -O2 -o "$OUT/floor" "$ROOT/benches/floor.c"

log "warming the page cache"
cat "$CAP" > /dev/null
FLOOR_OUT=$("$OUT/floor" "$CAP")
PACKETS=$(echo "$FLOOR_OUT" | awk '{print $1}')

J1="$BIN -j 1 -f json -o /dev/null $CAP"
J2="$BIN -j 2 -f json -o /dev/null $CAP"
NH1="$BIN -j 1 --no-hash -f json -o /dev/null $CAP"
NH2="$BIN -j 2 --no-hash -f json -o /dev/null $CAP"
STDIN="cat $CAP | $BIN -j 1 -f json -o /dev/null -"
HASH="openssl dgst -sha256 $CAP"
# The progress bar is drawn only on a terminal: `script` gives the run one (the report still
# goes to /dev/null), and the same run with -q (no bar) is its baseline.
BAR="script -qec '$J1' /dev/null"
NOBAR="script -qec '$J1 -q' /dev/null"
TSHARK_CMD="tshark -r $CAP -Y tls.handshake.type==1 -T fields -e tls.handshake.extensions_server_name > /dev/null"

log "hyperfine: floor, SHA-256, mtlscan -j 1, -j 2 (with and without the hash), stdin ($RUNS runs each)"
$N hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$OUT/hyperfine.json" \
    -n floor "$OUT/floor $CAP" \
    -n "SHA-256 of the file" "$HASH" \
    -n "mtlscan -j 1" "$J1" \
    -n "mtlscan -j 2" "$J2" \
    -n "mtlscan --no-hash -j 1" "$NH1" \
    -n "mtlscan --no-hash -j 2" "$NH2" \
    -n "mtlscan -j 1, stdin" "$STDIN" >&2

# A cost too small to see needs more runs than the rest to be told from the noise.
log "hyperfine: progress bar against -q ($BAR_RUNS runs each)"
$N hyperfine --style basic --warmup 1 --runs "$BAR_RUNS" --export-json "$OUT/hyperfine-bar.json" \
    -n "mtlscan -j 1 on a terminal, progress bar" "$BAR" \
    -n "mtlscan -j 1 on a terminal, -q" "$NOBAR" >&2

if [ "${TSHARK:-1}" = 1 ]; then
    log "hyperfine: tshark, one run (about 100 s on 2 GB)"
    $N hyperfine --style basic --runs 1 --export-json "$OUT/hyperfine-tshark.json" \
        -n "tshark SNI of every ClientHello" "$TSHARK_CMD" >&2
    tshark -v | head -1 > "$OUT/tshark.version"
else
    rm -f "$OUT/hyperfine-tshark.json"
fi

log "peak memory (VmHWM exact, RssAnon/RssFile sampled every 5 ms)"
{
    for mode in "mtlscan -j 1|$N $J1" "mtlscan -j 2|$N $J2" "mtlscan -j 1, stdin|cat $CAP | $N $BIN -j 1 -f json -o /dev/null -"; do
        printf '%s\t%s\n' "${mode%%|*}" "$(python3 "$ROOT/benches/peak_memory.py" mtlscan "${mode#*|}")"
    done
} > "$OUT/memory.tsv"

if [ "${BENCH:-1}" = 1 ]; then
    log "cargo bench --bench pipeline"
    (cd "$ROOT" && $N cargo bench --quiet --bench pipeline > "$OUT/criterion.txt" 2>&1)
fi

if [ "${PROFILE:-1}" = 1 ]; then
    PMB=${PROFILE_MB:-200}
    PREFIX=$OUT/prefix.pcap
    head -c "$((PMB * 1000000))" "$CAP" > "$PREFIX"
    log "perf profile of mtlscan -j 1 on the first $PMB MB"
    perf record -q -o "$OUT/perf.data" -F 2000 -g -- "$BIN" -q -j 1 -f json -o /dev/null "$PREFIX" \
        > /dev/null 2>&1 || true
    perf report -i "$OUT/perf.data" --no-children --percent-limit 1.5 --sort symbol --stdio \
        -g none 2>/dev/null | grep -E '^ +[0-9]' > "$OUT/perf-self.txt" || true
    log "callgrind profile of mtlscan -j 1 on the first $PMB MB"
    valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
        "$BIN" -q -j 1 -f json -o /dev/null "$PREFIX" > /dev/null 2> "$OUT/callgrind.log" || true
    callgrind_annotate --inclusive=yes "$OUT/callgrind.out" 2>/dev/null | head -120 \
        > "$OUT/callgrind-inclusive.txt" || true
    rm -f "$PREFIX"
fi

log "writing $OUT/results.md"
python3 "$ROOT/benches/tables.py" "$OUT" "$CAP" "$SIZE" "$PACKETS" > "$OUT/results.md"

if [ "${UPDATE:-1}" = 1 ]; then
    python3 - "$ROOT/BENCHMARKS.md" "$OUT/results.md" <<'EOF'
import sys
doc_path, results_path = sys.argv[1], sys.argv[2]
begin, end = "<!-- compare.sh:begin -->", "<!-- compare.sh:end -->"
doc = open(doc_path).read()
results = open(results_path).read()
head, rest = doc.split(begin, 1)
_, tail = rest.split(end, 1)
open(doc_path, "w").write(head + begin + "\n" + results + end + tail)
EOF
    log "BENCHMARKS.md updated"
fi
cat "$OUT/results.md"
