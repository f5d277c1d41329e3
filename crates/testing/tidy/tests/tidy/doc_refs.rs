//! What a doc names exists: tests (long snake_case names, alone or as `module::name`), source
//! and test files (`*.rs` paths, matched as a suffix of a real path), `crates/…` paths, and the
//! modules of `swingstore::…` paths.

use crate::util::{all_files, backticked, docs, read, report, rust_files};

/// A snake_case identifier of at least three words (`a_b_c`): a test name, a JSON field, a
/// metric, a function. Shorter ones are too often plain words to check.
fn is_long_snake(s: &str) -> bool {
    s.split('_').count() >= 3
        && s.split('_')
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        && s.starts_with(|c: char| c.is_ascii_lowercase())
}

#[test]
fn every_test_and_name_a_doc_gives_exists_in_the_code() {
    let sources = rust_files("crates");
    let mut text: String = sources.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n");
    for (_, t) in rust_files("fuzz") {
        text.push_str(&t);
    }
    for extra in ["tests/interop/interop.mjs", "bench/summarize.py", "js/real-kernel/src/job.js"] {
        text.push_str(&std::fs::read_to_string(crate::util::root().join(extra)).unwrap_or_default());
    }
    let mut problems = Vec::new();
    for (doc, body) in docs() {
        for span in backticked(&body) {
            let span = span.trim();
            // `module::test_name`: the module's file holds the name.
            let (module, name) = match span.rsplit_once("::") {
                Some((m, n)) if m.chars().all(|c| c.is_ascii_lowercase() || c == '_') => (Some(m), n),
                _ => (None, span),
            };
            if !is_long_snake(name) || module == Some("swingstore") {
                continue;
            }
            let found = match module {
                Some(m) => sources.iter().any(|(path, t)| {
                    (path.ends_with(&format!("/{m}.rs")) || path.contains(&format!("/{m}/")))
                        && t.contains(name)
                }),
                None => text.contains(name),
            };
            if !found {
                problems.push(format!("{doc}: `{span}` is not in the code"));
            }
        }
    }
    report("names in the docs that the code does not have", &problems);
}

#[test]
fn every_file_a_doc_names_exists() {
    let files = all_files();
    let mut problems = Vec::new();
    for (doc, body) in docs() {
        for span in backticked(&body) {
            let span = span.trim().trim_end_matches(['.', ',']);
            if span.contains(' ') || span.contains('*') || span.contains('<') || span.contains('…') {
                continue;
            }
            let is_rs = span.ends_with(".rs");
            let is_crate_path = span.starts_with("crates/");
            if !is_rs && !is_crate_path {
                continue;
            }
            let exists = files.iter().any(|f| {
                f == span
                    || f.trim_end_matches('/') == span.trim_end_matches('/')
                    || f.ends_with(&format!("/{span}"))
            });
            if !exists {
                problems.push(format!("{doc}: `{span}` does not exist"));
            }
        }
    }
    report("files named in the docs that do not exist", &problems);
}

#[test]
fn every_swingstore_module_a_doc_names_exists() {
    let lib = read("crates/swingstore/src/lib.rs");
    let files = all_files();
    let mut problems = Vec::new();
    for (doc, body) in docs() {
        for span in backticked(&body) {
            let Some(rest) = span.trim().strip_prefix("swingstore::") else { continue };
            let first: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if first.is_empty() {
                continue;
            }
            let public = lib.contains(&format!("pub mod {first}"))
                || lib.contains(&format!(" {first},"))
                || lib.contains(&format!(" {first}}}"))
                || lib.contains(&format!("{{{first},"))
                || lib.contains(&format!("{{{first}}}"))
                || lib.contains(&format!("::{first};"));
            let module = files.iter().any(|f| {
                f == &format!("crates/swingstore/src/{first}.rs")
                    || f == &format!("crates/swingstore/src/{first}/")
            });
            if !public && !module {
                problems.push(format!("{doc}: `{span}`: swingstore has no `{first}`"));
            }
        }
    }
    report("swingstore paths in the docs", &problems);
}

#[test]
fn the_long_snake_rule_picks_names_not_words() {
    assert!(is_long_snake("gc_exits_2_when_a_live_blob_is_missing"));
    assert!(is_long_snake("snapgc_backlog_drain_epochs"));
    assert!(!is_long_snake("load_into"));
    assert!(!is_long_snake("v*.lastSnapshot"));
    assert!(!is_long_snake("Foo_bar_baz"));
}
