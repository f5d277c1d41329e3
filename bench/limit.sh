#!/usr/bin/env bash
# Issue 25: the store against the machine's limit, in one run (docs/PERFORMANCE.md, "Round three").
#
#   bench/limit.sh [ROUNDS]        (default 3; run from the repository root)
#
# Alternates, ROUNDS times, on the same files (the real XS heaps of ../shared/corpus/xsnap, or
# the files in $LIMIT_FILES):
#   1. ../shared/tools/limit on the files (the yardstick: save_MBps, load_MBps);
#   2. `snapgc import` of the files into an existing store (whole process, temp store);
#   3. `snapgc verify --deep` of that store (whole process);
# and prints each round's MB/s and ratio (targets 1 and 2) and their medians. Then target 3, for
# the largest, the smallest and a median-sized heap, alternating ROUNDS times: the limit tool on
# that one file, then example `save_commit` (the store already open in-process, the median of 7
# rounds of a save of the file, its root set and a commit; a temp store); per heap the median
# MB/s and ratio, then the median of the per-heap ratios. Then the fixed costs (target 4):
# fsync/fdatasync counts (strace -f) and median wall times of a 1 KB `snapgc import` into an
# existing, cleanly closed store, of `snapgc stats`, and of a bare sled open of the same database
# (example `sled_open`).
#
# Without ../shared (or $SHARED) it prints a skip line and exits 0. The limit tool is built in a
# temp CARGO_TARGET_DIR (or $LIMIT_TARGET_DIR, to reuse a build); snapgc in $CARGO_TARGET_DIR.
set -euo pipefail

rounds=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-}
if [ -z "$shared" ]; then
    for cand in "$root/../shared" "$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)/../../shared"; do
        if [ -d "$cand/tools/limit" ]; then shared=$(cd "$cand" && pwd); break; fi
    done
fi
if [ -z "$shared" ] || [ ! -d "$shared/tools/limit" ]; then
    echo "bench/limit.sh: skipped (no ../shared/tools/limit: set SHARED=DIR)"
    exit 0
fi
if [ -n "${LIMIT_FILES:-}" ]; then
    read -r -a files <<<"$LIMIT_FILES"
else
    files=("$shared"/corpus/xsnap/*.xss)
fi

target=${CARGO_TARGET_DIR:-$root/target}
limit_target=${LIMIT_TARGET_DIR:-}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
[ -n "$limit_target" ] || limit_target="$scratch/limit-target"

echo "building (snapgc, sled_open, save_commit; limit in $limit_target)" >&2
(cd "$root" && cargo build --release --locked -q -p snapgc \
    && cargo build --release --locked -q -p swingstore --example sled_open --example save_commit)
CARGO_TARGET_DIR=$limit_target cargo build --release --locked -q --manifest-path "$shared/tools/limit/Cargo.toml"
snapgc=$target/release/snapgc
sled_open=$target/release/examples/sled_open
save_commit=$target/release/examples/save_commit
limit=$(find "$limit_target/release" -maxdepth 1 -type f -perm -u+x -name 'limit*' | head -1)

raw=$(cat "${files[@]}" | wc -c)
# The wall time of one process, from its spawn to its exit, in ns: the timer's own start-up (and
# no `date` process) inside the interval. Exits with the process's status if it failed.
run_ns() {
    python3 -c 'import subprocess, sys, time
t = time.perf_counter_ns()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
ns = time.perf_counter_ns() - t
sys.exit(r.returncode) if r.returncode else print(ns)' "$@"
}
mbps() { python3 -c "print(f'{$1 / ($2 / 1e9) / 1e6:.0f}')"; }
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
json_field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }

echo "uptime: $(uptime)"
echo "files: ${#files[@]}, $raw raw bytes; $rounds rounds"
printf '%-6s %10s %10s %10s %7s %10s %7s\n' round lim_save import ratio1 lim_load verify ratio2
r1=(); r2=(); imp=(); ver=(); ls_=(); ll=()
one_kb="$scratch/one-kb"
for i in $(seq 1 "$rounds"); do
    out=$("$limit" "${files[@]}")
    lsave=$(json_field "$out" save_MBps); lload=$(json_field "$out" load_MBps)
    store="$scratch/store-$i"
    head -c 1024 /dev/urandom >"$one_kb"
    "$snapgc" --store "$store" import "$one_kb" >/dev/null # an existing, cleanly closed store
    sync
    ns_import=$(run_ns "$snapgc" --store "$store" import "${files[@]}")
    ns_verify=$(run_ns "$snapgc" --store "$store" verify --deep)
    im=$(mbps "$raw" "$ns_import"); ve=$(mbps "$raw" "$ns_verify")
    a=$(python3 -c "print(f'{$im / $lsave:.2f}')"); b=$(python3 -c "print(f'{$ve / $lload:.2f}')")
    printf '%-6s %10.0f %10s %10s %7s %10s %7s\n' "$i" "$lsave" "$im" "$a" "$lload" "$ve" "$b"
    r1+=("$a"); r2+=("$b"); imp+=("$im"); ver+=("$ve"); ls_+=("$lsave"); ll+=("$lload")
    rm -rf "$store"
done
echo "median: limit save $(median "${ls_[@]}") MB/s, import $(median "${imp[@]}") MB/s, ratio $(median "${r1[@]}") (target 1: >= 0.8)"
echo "median: limit load $(median "${ll[@]}") MB/s, verify --deep $(median "${ver[@]}") MB/s, ratio $(median "${r2[@]}") (target 2: >= 0.85)"

# Target 3: one heap saved and committed in-process against the limit for that heap alone.
mapfile -t by_size < <(for f in "${files[@]}"; do printf '%s\t%s\n' "$(wc -c <"$f")" "$f"; done | sort -n | cut -f2-)
n=${#by_size[@]}
heaps3=("${by_size[$((n - 1))]}")
[ "$n" -gt 1 ] && heaps3+=("${by_size[0]}")
[ "$n" -gt 2 ] && heaps3+=("${by_size[$((n / 2))]}")
echo "target 3: one heap saved + committed in-process (example save_commit, median of 7 rounds each; limit on that file)"
printf '%-34s %5s %10s %10s %7s\n' heap round lim_save ours ratio3
r3=()
for f in "${heaps3[@]}"; do
    hl=(); ho=(); hr=()
    for i in $(seq 1 "$rounds"); do
        lsave=$(json_field "$("$limit" "$f")" save_MBps)
        ours=$(json_field "$("$save_commit" --store "$scratch/t3-store" "$f")" median_MBps)
        rm -rf "$scratch/t3-store"
        c=$(python3 -c "print(f'{$ours / $lsave:.2f}')")
        printf '%-34s %5s %10.0f %10.0f %7s\n' "$(basename "$f")" "$i" "$lsave" "$ours" "$c"
        hl+=("$lsave"); ho+=("$ours"); hr+=("$c")
    done
    m=$(median "${hr[@]}")
    echo "  $(basename "$f") ($(wc -c <"$f") B): limit save $(median "${hl[@]}") MB/s, save + commit $(median "${ho[@]}") MB/s, ratio $m"
    r3+=("$m")
done
echo "median: ratio $(median "${r3[@]}") over ${#heaps3[@]} heaps (target 3: >= 0.7)"

# Target 4: fixed costs of an existing, cleanly closed store.
store="$scratch/fixed"
head -c 1024 /dev/urandom >"$one_kb"
"$snapgc" --store "$store" import "$one_kb" >/dev/null
count_syncs() {
    if ! command -v strace >/dev/null; then echo "n/a (no strace)"; return; fi
    strace -f -qq -o "$scratch/strace" -e trace=fsync,fdatasync "$@" >/dev/null 2>&1 || true
    grep -cE '(fsync|fdatasync)\(' "$scratch/strace" || true
}
head -c 1024 /dev/urandom >"$one_kb"
n_import=$(count_syncs "$snapgc" --store "$store" import "$one_kb")
n_stats=$(count_syncs "$snapgc" --store "$store" stats)
n_sled=$(count_syncs "$sled_open" "$store/kv")
wall() { # median wall ms of N runs of "$@"
    local ts=()
    for _ in 1 2 3 4 5 6 7; do
        [ "$1" = import ] && head -c 1024 /dev/urandom >"$one_kb"
        local ns
        case "$1" in
            import) ns=$(run_ns "$snapgc" --store "$store" import "$one_kb") ;;
            stats) ns=$(run_ns "$snapgc" --store "$store" stats) ;;
            sled) ns=$(run_ns "$sled_open" "$store/kv") ;;
            true) ns=$(run_ns true) ;;
            version) ns=$(run_ns "$snapgc" --version) ;;
        esac
        ts+=("$(python3 -c "print($ns / 1e6)")")
    done
    python3 -c "import statistics,sys; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.1f}')" "${ts[@]}"
}
echo "fixed costs (existing, cleanly closed store; fsync+fdatasync by strace -f; median wall of 7):"
echo "  1 KB import: $n_import syncs, $(wall import) ms (target 4: <= 5 syncs)"
echo "  stats:       $n_stats syncs, $(wall stats) ms (target 4: 0 syncs)"
echo "  bare sled open + one get + drop: $n_sled syncs, $(wall sled) ms"
echo "  a process: true $(wall true) ms, snapgc --version $(wall version) ms"
