//! docs/CLI.md's synopsis (its first code block) names every subcommand clap knows, each with
//! every flag and positional argument; the global flags are in its "Global options" table.

use clap::CommandFactory;

use crate::snapgc_cli::Cli;
use crate::util::{backticked, first_code_block, read, report, section};

/// The synopsis lines, as the words after `snapgc --store DIR` (an indented line continues the
/// one above).
fn synopsis(doc: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for line in first_code_block(doc) {
        let words = line.split_whitespace().map(str::to_owned);
        if let Some(rest) = line.strip_prefix("snapgc --store DIR ") {
            out.push(rest.split_whitespace().map(str::to_owned).collect());
        } else if line.starts_with(' ')
            && let Some(last) = out.last_mut()
        {
            last.extend(words);
        }
    }
    out
}

/// `--flag` as a whole word of `text` (`--archive` is not in `--archive-keep-last`).
fn names_flag(text: &str, flag: &str) -> bool {
    text.match_indices(flag).any(|(i, _)| {
        let after = text[i + flag.len()..].chars().next();
        let before = text[..i].chars().next_back();
        !matches!(after, Some(c) if c.is_ascii_alphanumeric() || c == '-')
            && !matches!(before, Some(c) if c.is_ascii_alphanumeric() || c == '-')
    })
}

/// Checks `cmd` (reached by `path`) and its subcommands against the synopsis.
fn check(cmd: &clap::Command, path: &mut Vec<String>, lines: &[Vec<String>], problems: &mut Vec<String>) {
    let subs: Vec<&str> = cmd.get_subcommands().map(clap::Command::get_name).collect();
    let runnable = !cmd.is_subcommand_required_set() || subs.is_empty();
    if !path.is_empty() && runnable {
        // A runnable command: some synopsis line is exactly this path, then its arguments.
        let mine: Vec<&Vec<String>> = lines
            .iter()
            .filter(|l| {
                l.len() >= path.len()
                    && l[..path.len()] == path[..]
                    && l.get(path.len()).is_none_or(|next| !subs.contains(&next.as_str()))
            })
            .collect();
        let joined = mine.iter().map(|l| l.join(" ")).collect::<Vec<_>>().join("\n");
        let name = path.join(" ");
        if mine.is_empty() {
            problems.push(format!("`snapgc {name}` has no synopsis line"));
        }
        for arg in cmd.get_arguments().filter(|a| !a.is_global_set()) {
            if arg.get_id() == "help" || arg.get_id() == "version" {
                continue;
            }
            if arg.is_positional() {
                let value = arg
                    .get_value_names()
                    .and_then(|v| v.first())
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
                let shown =
                    joined.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|w| w == value);
                if !shown {
                    problems.push(format!("`snapgc {name}`: the argument {value} is not in its synopsis"));
                }
            } else {
                let long = arg.get_long().map(|l| format!("--{l}"));
                let short = arg.get_short().map(|s| format!("-{s}"));
                let shown =
                    [long.as_deref(), short.as_deref()].into_iter().flatten().any(|f| names_flag(&joined, f));
                if !shown {
                    problems.push(format!(
                        "`snapgc {name}`: the flag {} is not in its synopsis",
                        long.or(short).unwrap_or_default()
                    ));
                }
            }
        }
    }
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        path.push(sub.get_name().to_owned());
        check(sub, path, lines, problems);
        path.pop();
    }
}

#[test]
fn the_synopsis_in_cli_md_names_every_command_and_flag_clap_knows() {
    let doc = read("docs/CLI.md");
    let lines = synopsis(&doc);
    assert!(lines.len() > 5, "docs/CLI.md's first code block is not the synopsis: {lines:?}");
    let mut problems = Vec::new();
    check(&Cli::command(), &mut Vec::new(), &lines, &mut problems);
    report("docs/CLI.md's synopsis (first code block) is behind the CLI", &problems);
}

#[test]
fn the_global_flags_are_in_cli_md_global_options() {
    let doc = read("docs/CLI.md");
    let table = backticked(section(&doc, "## Global options")).join(" ");
    let problems: Vec<String> = Cli::command()
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter_map(|a| a.get_long())
        .map(|l| format!("--{l}"))
        .filter(|flag| !names_flag(&table, flag))
        .map(|flag| format!("{flag} is not in docs/CLI.md's \"Global options\""))
        .collect();
    report("global flags", &problems);
}

#[test]
fn the_flag_matcher_needs_a_whole_flag() {
    assert!(names_flag("config set [--archive LOCATION]", "--archive"));
    assert!(!names_flag("config set [--archive-keep-last N]", "--archive"));
    assert!(!names_flag("[--no-archive]", "--archive"));
    assert!(names_flag("[-o FILE]", "-o"));
}

/// Every metric the store writes (`status/metrics.rs`) is in docs/CLI.md's metrics table, and
/// the table names no other.
#[test]
fn the_metrics_table_names_every_metric() {
    let code = read("crates/swingstore/src/status/metrics.rs");
    let written: std::collections::BTreeSet<String> = code
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("snapgc_") && s.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(str::to_owned)
        .collect();
    assert!(written.len() >= 10, "metric names not found in metrics.rs: {written:?}");
    let doc = read("docs/CLI.md");
    let table: std::collections::BTreeSet<String> =
        crate::util::table_rows(section(&doc, "### Metrics (Prometheus text format)"))
            .iter()
            .flat_map(|row| backticked(&row[0]))
            .map(|m| m.split('{').next().unwrap_or_default().to_owned())
            .collect();
    let mut problems: Vec<String> = written
        .difference(&table)
        .map(|m| format!("`{m}` is written but not in docs/CLI.md's metrics table"))
        .collect();
    problems.extend(
        table
            .difference(&written)
            .map(|m| format!("docs/CLI.md's metrics table names `{m}`, which is not written")),
    );
    report("metrics", &problems);
}
