//! docs/CRASH-SAFETY.md against the code: its step table and its mutation table name exactly
//! the durability steps (`SyncStep::ALL`); its crash-point table names exactly the failpoints
//! (`failpoint::points`); and every failpoint is set by some test.

use std::collections::BTreeSet;

use swingstore::failpoint::SYNC_STEPS;

use crate::util::{backticked, read, report, rust_files, section, table_rows};

const DOC: &str = "docs/CRASH-SAFETY.md";

/// The first code span of the first cell of each row.
fn first_column(text: &str) -> BTreeSet<String> {
    table_rows(text).iter().filter_map(|row| backticked(&row[0]).into_iter().next()).collect()
}

/// `(CONST_NAME, "point.name")` of every failpoint in `failpoint.rs`'s `points` module.
fn failpoints() -> Vec<(String, String)> {
    let source = read("crates/swingstore/src/failpoint.rs");
    let body = source.split("pub mod points {").nth(1).expect("failpoint.rs has `pub mod points`");
    let body = body.split("\n}").next().unwrap_or(body);
    body.lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("pub const ")?;
            let (name, value) = rest.split_once(": &str = \"")?;
            Some((name.to_owned(), value.split('"').next()?.to_owned()))
        })
        .collect()
}

fn compare(what: &str, code: &BTreeSet<String>, doc: &BTreeSet<String>, problems: &mut Vec<String>) {
    problems.extend(code.difference(doc).map(|s| format!("`{s}` is missing from {what}")));
    problems
        .extend(doc.difference(code).map(|s| format!("{what} names `{s}`, which the code does not have")));
}

#[test]
fn the_durability_tables_name_every_sync_step() {
    let doc = read(DOC);
    let steps: BTreeSet<String> = SYNC_STEPS.iter().map(|s| s.name().to_owned()).collect();
    let mut problems = Vec::new();
    let table = first_column(section(&doc, "## How the store makes it durable"));
    compare("the step table (\"How the store makes it durable\")", &steps, &table, &mut problems);
    let mutation = first_column(section(&doc, "### Every step matters (the mutation check)"));
    compare("the mutation table (\"Every step matters\")", &steps, &mutation, &mut problems);
    report(DOC, &problems);
}

#[test]
fn the_crash_point_table_names_every_failpoint() {
    let doc = read(DOC);
    let points: BTreeSet<String> = failpoints().into_iter().map(|(_, p)| p).collect();
    assert!(points.len() >= 10, "failpoints not found in failpoint.rs: {points:?}");
    let mut table = first_column(section(&doc, "## The crash points"));
    // The sync steps' failpoints are one family row.
    assert!(table.remove("sync.<step>"), "the crash-point table lost its `sync.<step>` row");
    let mut problems = Vec::new();
    compare("the crash-point table (\"The crash points\")", &points, &table, &mut problems);
    report(DOC, &problems);
}

/// A failpoint no test sets proves nothing (issue 24: `sweep.after_archive`).
#[test]
fn every_failpoint_is_set_by_a_test() {
    let sources: Vec<(String, String)> = rust_files("crates")
        .into_iter()
        .filter(|(path, _)| path.contains("/tests/") || path.starts_with("crates/testing/"))
        .filter(|(path, _)| !path.starts_with("crates/testing/tidy/"))
        .collect();
    let problems: Vec<String> = failpoints()
        .into_iter()
        .filter(|(name, point)| {
            !sources.iter().any(|(_, text)| {
                text.contains(&format!("points::{name}")) || text.contains(&format!("\"{point}\""))
            })
        })
        .map(|(name, point)| format!("`{point}` (points::{name}) is set by no test"))
        .collect();
    report("failpoints", &problems);
}
