//! The crash-safety suite, one binary:
//!
//! * `crash_kill`: random real process kills (SIGKILL, or an abort at a failpoint) of a child
//!   running a kernel workload, each checked after reopen;
//! * `failpoints`: one crash at each failpoint, in a child, both recovery ways;
//! * `fail_inject`: an injected I/O failure at each failpoint, in process;
//! * `races`: a dedup save racing the sweep; `hostile`: damaged and hostile input;
//! * `import_crash`: a state-sync import killed at each import failpoint, then re-run;
//! * `patterns`: the root-pattern matcher against its spec.

mod crash_kill;
mod fail_inject;
mod failpoints;
mod hostile;
mod import_crash;
mod patterns;
mod races;
