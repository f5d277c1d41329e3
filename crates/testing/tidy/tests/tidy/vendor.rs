//! The vendored sled (`vendor/sled/`) differs from sled 0.34.7 only where its patch list says:
//! every change in the source carries a `snapgc patch (vendor/sled/SNAPGC-PATCHES.md, N)`
//! marker, and the numbered entries of `vendor/sled/SNAPGC-PATCHES.md` and the markers are the
//! same set; the workspace builds sled from there.

use std::collections::BTreeSet;

use crate::util::{read, report, rust_files};

const MARKER: &str = "snapgc patch (vendor/sled/SNAPGC-PATCHES.md, ";

/// The patch numbers the markers in sled's source name, with the file of each.
fn markers() -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for (path, text) in rust_files("vendor/sled/src") {
        for (at, _) in text.match_indices(MARKER) {
            let rest = &text[at + MARKER.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse() {
                out.push((n, path.clone()));
            }
        }
    }
    out
}

/// The numbers of the list's entries (`N. **Title**`).
fn listed() -> BTreeSet<u32> {
    read("vendor/sled/SNAPGC-PATCHES.md")
        .lines()
        .filter_map(|line| {
            let (n, rest) = line.split_once(". **")?;
            if rest.is_empty() {
                return None;
            }
            n.trim().parse().ok()
        })
        .collect()
}

#[test]
fn every_sled_patch_is_listed_and_every_listed_patch_is_marked() {
    let markers = markers();
    let marked: BTreeSet<u32> = markers.iter().map(|(n, _)| *n).collect();
    let listed = listed();
    assert!(!listed.is_empty(), "vendor/sled/SNAPGC-PATCHES.md lists no patch");
    let mut problems = Vec::new();
    for (n, path) in &markers {
        if !listed.contains(n) {
            problems.push(format!("{path}: marker for patch {n}, which the list does not have"));
        }
    }
    for n in listed.difference(&marked) {
        problems.push(format!("patch {n} is listed but no source file carries its marker"));
    }
    report("vendor/sled: the patch list and the markers in the source", &problems);
}

#[test]
fn the_workspace_builds_sled_from_vendor() {
    let manifest = read("Cargo.toml");
    let patch = manifest.split("[patch.crates-io]").nth(1).unwrap_or_default();
    assert!(
        patch.lines().any(|l| l.replace(' ', "") == r#"sled={path="vendor/sled"}"#),
        "Cargo.toml must patch sled to vendor/sled (its [patch.crates-io] section)"
    );
    assert!(
        read("vendor/sled/Cargo.toml").contains("version = \"0.34.7\""),
        "vendor/sled must stay sled 0.34.7 (an update goes through SNAPGC-PATCHES.md)"
    );
}
