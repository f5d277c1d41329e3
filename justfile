# Mirrors of the cargo commands (the README never needs `just`).

default: test

# The main job: a realistic kernel workload with gc after every block.
run:
    cargo run --release -p kernel-sim -- --workload testnet --compare --report storage.svg

# Every test, as CI runs them.
test:
    cargo test --workspace --release

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
