//! The crash-safety suite, one binary:
//!
//! * `crash_kill`: random real process kills (SIGKILL, or an abort at a failpoint) of a child
//!   running a kernel workload, each checked after reopen;
//! * `failpoints`: one crash at each failpoint, in a child, both recovery ways;
//! * `fail_inject`: an injected I/O failure at each failpoint, in process;
//! * `races`: a dedup save racing the sweep; `hostile`: damaged and hostile input;
//! * `patterns`: the root-pattern matcher against its spec.

mod crash_kill;
mod fail_inject;
mod failpoints;
mod hostile;
mod patterns;
mod races;
