#!/usr/bin/env bash
# Peak memory of `mtlscan --follow` on a stream of millions of flows through a pipe, beside the
# same stream read without --follow (which keeps every flow's result until the end).
#
#   benches/follow_memory.sh [FLOWS]
#
# FLOWS defaults to 3000000 (24 M packets, made by benches/flowgen.py: about a minute). The
# batch run reads a tenth of them. Prints a Markdown table of peak resident set sizes (VmHWM,
# from benches/peak_memory.py).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FLOWS=${1:-3000000}
BATCH_FLOWS=$((FLOWS / 10))
cd "$ROOT"
cargo build --release --quiet
BIN=$ROOT/target/release/mtlscan

peak() { # peak resident set (MiB) of the mtlscan process of a shell command
    python3 benches/peak_memory.py mtlscan "$1; true" | awk '{ printf "%.0f", $1 / 1024 }'
}

follow_policy=$(peak "python3 benches/flowgen.py $FLOWS | $BIN --follow -f jsonl --require encrypted - > /dev/null")
follow_plain=$(peak "python3 benches/flowgen.py $FLOWS | $BIN --follow -f jsonl - > /dev/null")
batch=$(peak "python3 benches/flowgen.py $BATCH_FLOWS | $BIN -f jsonl - > /dev/null")

echo "| run | flows | peak RSS |"
echo "|---|---|---|"
echo "| \`--follow -f jsonl --require encrypted -\` (every flow a violation: its id is kept for the summary) | $FLOWS | $follow_policy MiB |"
echo "| \`--follow -f jsonl -\` | $FLOWS | $follow_plain MiB |"
echo "| \`-f jsonl -\` (batch: every result kept until the end) | $BATCH_FLOWS | $batch MiB |"
