# Mirrors of the cargo commands (the README never needs `just`).

default: test

# The main job: a realistic kernel workload with gc after every block.
run:
    cargo run --release -p kernel-sim -- --workload testnet --compare --report storage.svg

# Every test, as CI runs them (then snapgc and kernel-sim again without the test-only features).
test:
    cargo test --workspace --release
    cargo test -p snapgc -p kernel-sim --release

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# CI's whole script.
ci:
    bash .ci/run

# Benchmarks (results go in docs/PERFORMANCE.md).
bench:
    cargo bench -p swingstore

# Medians and same-run ratios of the last `just bench` (for docs/PERFORMANCE.md).
bench-summary:
    python3 bench/summarize.py target/criterion

# Side by side with @agoric/swing-store 0.10.0 on the real heaps (needs ../shared and Node 20; not in CI).
bench-peer runs="3":
    bash bench/peer-agoric/run.sh {{runs}}

# State-sync interop with the real @agoric/swing-store 0.10.0 (tests/interop; npm ci + a
# node-gyp build of better-sqlite3 into $TMPDIR/snapgc-interop, ~2 min once). Prints a skip line
# without node/npm or if the install fails.
interop:
    bash tests/interop/run.sh

# Crash tests: N random process kills (SIGKILL at a random time or an abort at a random
# failpoint hit), each checked after reopen (docs/CRASH-SAFETY.md). CI runs 100.
crash-test N="1000":
    CRASHTEST_KILLS={{N}} cargo test --release -p crashtest --test crash_kill -- --nocapture

# Fuzz each target for SECS seconds (nightly toolchain and `cargo install cargo-fuzz`).
fuzz SECS="60":
    cd fuzz && for t in meta_decode root_value root_pattern blob_load; do mkdir -p corpus/$t && cargo +nightly fuzz run -O $t corpus/$t seeds/$t -- -max_total_time={{SECS}} -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 || exit 1; done

# Power-loss cuts (crates/testing/powerfs, a strict crash file system on FUSE): N cuts plain, then N
# torn. Needs root and /dev/fuse (otherwise each run prints its skip line and passes).
powerloss N="1000":
    cargo run --release -p powerfs --bin powerloss -- --cuts {{N}}
    cargo run --release -p powerfs --bin powerloss -- --cuts {{N}} --torn

# Mutation check: each durability step switched off in turn must make CUTS cuts (half plain,
# half torn) report violations. Prints a table (first row: nothing skipped, which must be 0);
# fails if some step's removal goes unnoticed.
powerloss-mutations CUTS="300":
    #!/usr/bin/env bash
    set -uo pipefail
    cargo build --release -p powerfs --bin powerloss || exit 1
    bin=${CARGO_TARGET_DIR:-target}/release/powerloss
    half=$(( {{CUTS}} / 2 ))
    missed=0
    printf '%-16s %6s %6s %6s %8s\n' step cuts plain torn verdict
    for step in none $("$bin" --list-syncs); do
        counts=()
        skip=(--skip-sync "$step")
        [ "$step" = none ] && skip=()
        for torn in "" --torn; do
            out=$("$bin" --cuts "$half" "${skip[@]}" --seed 1 $torn | tail -n 1)
            case "$out" in
                "powerloss: skipped"*) echo "$out"; exit 0 ;;
            esac
            counts+=("$(echo "$out" | sed -n 's/^powerloss: [0-9]* cuts, \([0-9]*\) violations$/\1/p')")
        done
        total=$(( ${counts[0]:-0} + ${counts[1]:-0} ))
        if [ "$step" = none ]; then
            if [ "$total" -eq 0 ]; then verdict=baseline; else verdict=NOT-ZERO; missed=$((missed + 1)); fi
        elif [ "$total" -gt 0 ]; then verdict=caught
        else verdict=MISSED; missed=$((missed + 1)); fi
        printf '%-16s %6s %6s %6s %8s\n' "$step" $(( 2 * half )) "${counts[0]:-?}" "${counts[1]:-?}" "$verdict"
    done
    [ "$missed" -eq 0 ]

# The real SwingSet kernel (js/real-kernel, xsnap workers) on @snapgc/swing-store: N SIGKILLs of
# the Node host at kill points and random times, restarts on the same store, checked after each
# (CI runs 50). Needs `npm --prefix js/real-kernel run setup` once (prints a skip line otherwise).
real-kernel-crash N="500":
    REAL_KERNEL_KILLS={{N}} node --test js/real-kernel/test/crash.test.js
