#!/usr/bin/env bash
# Side-by-side comparison with @agoric/swing-store 0.10.0 (the peer), on the same real XS heaps,
# both durable (docs/PERFORMANCE.md, target 6). Not run by CI: needs ../shared and Node 20.
#
#   bench/peer-agoric/run.sh [RUNS] [VATS] [SNAPS_PER_VAT]     (or: just bench-peer)
#
# Two patterns, both alternating peer and snapgc runs: "block" (every save of the run in one
# block, one commit: issue 13's figure) and "per-save" (a commit after every save: the peer's
# own default pattern, what its own figures mean).
#
# Installs the peer harness once into $PEER_WORK (default $TMPDIR/peerbench, outside the tree;
# no node_modules in the repo), then alternates peer and snapgc runs RUNS times and prints
# medians and ratios. Whole processes are timed too (wall clock around each process).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared=${SNAPGC_SHARED:-$repo/../shared}
peer_src=$shared/peer/agoric
corpus=${SNAPGC_CORPUS:-$shared/corpus/xsnap}
work=${PEER_WORK:-${TMPDIR:-/tmp}/peerbench}
runs=${1:-3}
vats=${2:-10}
snaps=${3:-8}
out=${RESULTS:-$work/results-$(date +%Y%m%d-%H%M%S)}

[ -d "$peer_src" ] || { echo "no peer harness at $peer_src" >&2; exit 1; }
[ -d "$corpus" ] || { echo "no corpus at $corpus" >&2; exit 1; }

if ! (cd "$work" 2>/dev/null && node -e "require('better-sqlite3')(':memory:')" >/dev/null 2>&1); then
  echo "installing the peer harness into $work (once; ~2 min)" >&2
  rm -rf "$work" && cp -r "$peer_src" "$work" && chmod -R u+w "$work"
  (cd "$work" && npm ci --ignore-scripts)
  gyp=node-gyp; command -v node-gyp >/dev/null || gyp="npx --yes node-gyp"
  (cd "$work/node_modules/better-sqlite3" && $gyp rebuild --release --nodedir=/usr)
  (cd "$work" && node -e "require('better-sqlite3')(':memory:')")
fi

(cd "$repo" && cargo build --release -q -p swingstore --example peer_bench)
ours=$repo/target/release/examples/peer_bench
mkdir -p "$out"

now_ms() { date +%s%3N; }
# Runs a harness, prefixing its JSON line with the whole process's wall time.
timed() {
  local t line
  t=$(now_ms)
  line=$("$@")
  echo "{\"process_wall_ms\":$(( $(now_ms) - t )),${line#\{}"
}
saves=$(( vats * snaps ))
for pattern in block per-save; do
  if [ "$pattern" = block ]; then per_commit=$saves; else per_commit=1; fi
  mkdir -p "$out/$pattern"
  for i in $(seq 1 "$runs"); do
    echo "$pattern: run $i/$runs" >&2
    (cd "$work" && timed node bench.mjs --corpus "$corpus" --vats "$vats" --snaps-per-vat "$snaps" \
      --durability full --saves-per-commit "$per_commit") >> "$out/$pattern/peer.jsonl"
    timed "$ours" --corpus "$corpus" --vats "$vats" --snaps-per-vat "$snaps" \
      --saves-per-commit "$per_commit" >> "$out/$pattern/snapgc.jsonl"
  done
done

for pattern in block per-save; do
  echo "## $pattern ($([ "$pattern" = block ] && echo "all $saves saves, one commit" || echo "one commit per save"))"
  python3 "$here/summarize.py" "$out/$pattern"
  echo
done
