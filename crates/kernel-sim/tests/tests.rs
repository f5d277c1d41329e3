//! kernel-sim's integration tests, in one binary (linking one test binary per file costs more
//! than the tests on a small machine): [`cli`] runs the real binary, [`sim`] calls the library.
//! Cargo.toml sets `autotests = false`, so a new file here is a module of this binary: add it
//! below.

mod cli;
mod sim;
mod status;
mod util;
