//! Nothing committed outside `fixtures/` looks like a store (the `3/` accident of issue 24: a
//! store created by an example's positional argument, committed with a 203 MB blob).

use std::process::Command;

use crate::util::{report, root};

/// A path that is a store's marker or sled's database file, outside `fixtures/`.
fn looks_like_store(path: &str) -> bool {
    if path.starts_with("fixtures/") {
        return false;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    name == "SNAPGC-STORE" || path == "kv/db" || path.ends_with("/kv/db")
}

#[test]
fn the_store_rule_sees_a_store_and_only_outside_fixtures() {
    assert!(looks_like_store("3/SNAPGC-STORE"));
    assert!(looks_like_store("3/kv/db"));
    assert!(looks_like_store("kv/db"));
    assert!(looks_like_store("crates/archive/archive-corpus-x/store/SNAPGC-STORE"));
    assert!(!looks_like_store("fixtures/v1-store/SNAPGC-STORE"));
    assert!(!looks_like_store("fixtures/pre-marker/kv/db"));
    assert!(!looks_like_store("docs/format.md"));
    assert!(!looks_like_store("crates/swingstore/src/kv/dbx.rs"));
}

#[test]
fn no_committed_path_outside_fixtures_looks_like_a_store() {
    let out = match Command::new("git").arg("-C").arg(root()).args(["ls-files", "-z"]).output() {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            eprintln!(
                "SKIP: no committed-store check: not a git checkout ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("SKIP: no committed-store check: git is not available ({e})");
            return;
        }
    };
    let files: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    assert!(
        files.iter().any(|f| f == "Cargo.toml"),
        "git ls-files listed no Cargo.toml: {} files",
        files.len()
    );
    let stores: Vec<String> = files.into_iter().filter(|f| looks_like_store(f)).collect();
    report("committed paths that look like a store (only fixtures/ may hold one; git rm them)", &stores);
}
