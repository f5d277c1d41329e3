//! The Prometheus text exposition (format 0.0.4) of a [`StoreStatus`]: names prefixed
//! `snapgc_`, units in the names, `# HELP` and `# TYPE` for each, counters ending in `_total`.
//! node_exporter's textfile collector reads such a file (`snapgc config set --metrics-file`).

use std::fmt::Write;

use super::StoreStatus;

/// Renders the metrics.
pub(crate) fn render(s: &StoreStatus) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let value = if value.is_nan() {
                "NaN".to_owned()
            } else if value.is_infinite() {
                "+Inf".to_owned()
            } else {
                format!("{value}")
            };
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let g = |v: u64| v as f64;
    metric("snapgc_epoch", "gauge", "The last committed epoch.", &[("", g(s.epoch))]);
    metric("snapgc_roots", "gauge", "Committed root keys.", &[("", g(s.roots))]);
    metric(
        "snapgc_live_snapshots",
        "gauge",
        "Distinct snapshots the committed roots name.",
        &[("", g(s.live))],
    );
    metric("snapgc_blobs", "gauge", "Blobs the store has records of.", &[("", g(s.blobs))]);
    metric("snapgc_stored_bytes", "gauge", "Bytes of every blob on disk.", &[("", g(s.stored_bytes))]);
    metric("snapgc_live_bytes", "gauge", "Bytes of the live blobs on disk.", &[("", g(s.live_bytes))]);
    metric("snapgc_garbage_blobs", "gauge", "Blobs no committed root names.", &[("", g(s.garbage_blobs))]);
    metric(
        "snapgc_garbage_bytes",
        "gauge",
        "Bytes of the blobs no committed root names.",
        &[("", g(s.garbage_bytes))],
    );
    metric(
        "snapgc_pending_blobs",
        "gauge",
        "Condemned blobs due for deletion but left by the budget.",
        &[("", g(s.pending))],
    );
    metric(
        "snapgc_missing_live_snapshots",
        "gauge",
        "Live snapshots whose blob is missing: vats that cannot be paged in.",
        &[("", g(s.missing_live))],
    );
    metric(
        "snapgc_failed_closed",
        "gauge",
        "1 when the last collection refused to delete anything (a malformed root).",
        &[("", if s.failed_closed.is_some() { 1.0 } else { 0.0 })],
    );
    metric(
        "snapgc_gc_errors",
        "gauge",
        "Per-item errors of the last full collection (each kept something it should have done).",
        &[("", g(s.errors))],
    );
    metric(
        "snapgc_archive_errors",
        "gauge",
        "Blobs the last full collection kept because it could not archive them.",
        &[("", g(s.archive_errors))],
    );
    metric(
        "snapgc_gc_passes_total",
        "counter",
        "Collections run since the store was opened.",
        &[("", g(s.passes_total))],
    );
    metric(
        "snapgc_swept_blobs_total",
        "counter",
        "Blobs deleted since the store was opened.",
        &[("", g(s.swept_total))],
    );
    metric(
        "snapgc_swept_bytes_total",
        "counter",
        "Bytes of the blobs deleted since the store was opened.",
        &[("", g(s.swept_bytes_total))],
    );
    let us = |v: u64| v as f64 / 1e6;
    metric(
        "snapgc_gc_duration_seconds",
        "gauge",
        "Time the last full collection spent marking and sweeping.",
        &[(r#"{phase="mark"}"#, us(s.last_pass.mark_us)), (r#"{phase="sweep"}"#, us(s.last_pass.sweep_us))],
    );
    let b = &s.backlog;
    metric(
        "snapgc_backlog_falling_behind",
        "gauge",
        "1 when garbage grew over a full window of passes mostly held back by the budget.",
        &[("", if b.falling_behind { 1.0 } else { 0.0 })],
    );
    metric(
        "snapgc_backlog_growth_blobs",
        "gauge",
        "Garbage blobs now minus at the start of the backlog window.",
        &[("", b.growth_blobs as f64)],
    );
    metric(
        "snapgc_backlog_drain_epochs",
        "gauge",
        "Epochs to drain the pending blobs at the window's net rate (+Inf: not draining).",
        &[(
            "",
            match (b.pending, b.drain_epochs) {
                (0, _) => 0.0,
                (_, Some(e)) => e as f64,
                (_, None) => f64::INFINITY,
            },
        )],
    );
    metric(
        "snapgc_status_updated_seconds",
        "gauge",
        "When the store last wrote these figures (Unix time).",
        &[("", s.updated_unix_ms as f64 / 1e3)],
    );
    out
}
