//! Tidy tests (rust-analyzer's idea): checks that hold the docs and the tree to the code. The
//! checks are in `tests/tidy/`, one module per kind; this library is empty.
//!
//! `cargo test --release -p tidy` runs them.
