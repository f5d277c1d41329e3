//! A hand-written SVG chart: stored bytes and blob count per block, with the collector and
//! (with `--compare`) without it.

use std::fmt::Write;

use crate::sim::SimResult;
use crate::stats::human_bytes;

/// One line of a panel.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub color: &'static str,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// One plot: lines over a shared x axis.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub lines: Vec<Line>,
}

const WIDTH: f64 = 960.0;
const PANEL_HEIGHT: f64 = 290.0;
const TOP: f64 = 100.0;
const GAP: f64 = 70.0;
const LEFT: f64 = 88.0;
const RIGHT: f64 = 30.0;

/// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `target` ticks.
pub fn nice_step(range: f64, target: f64) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / target;
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn fmt_tick(v: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{v:.0}")
    } else {
        let decimals = (-step.log10().floor()) as usize;
        format!("{v:.decimals$}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Renders panels stacked vertically, sharing the x axis label.
pub fn chart(title: &str, subtitle: &str, x_label: &str, panels: &[Panel]) -> String {
    let height = TOP + panels.len() as f64 * (PANEL_HEIGHT + GAP) + 10.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="30" font-size="20" font-weight="bold" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="54" font-size="13" fill="#444" text-anchor="middle">{}</text>"##,
        WIDTH / 2.0,
        escape(subtitle)
    );
    let x_max = panels
        .iter()
        .flat_map(|p| p.lines.iter().flat_map(|l| l.points.iter().map(|pt| pt.0)))
        .fold(1.0f64, f64::max);
    let plot_w = WIDTH - LEFT - RIGHT;
    for (i, panel) in panels.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL_HEIGHT + GAP);
        let bottom = top + PANEL_HEIGHT;
        let y_max_data =
            panel.lines.iter().flat_map(|l| l.points.iter().map(|pt| pt.1)).fold(0.0f64, f64::max);
        let y_step = nice_step(if y_max_data > 0.0 { y_max_data } else { 1.0 }, 5.0);
        let y_max = (y_max_data / y_step).ceil().max(1.0) * y_step;
        let x_step = nice_step(x_max, 8.0);
        let sx = |x: f64| LEFT + x / x_max * plot_w;
        let sy = |y: f64| bottom - y / y_max * PANEL_HEIGHT;
        let _ = writeln!(
            svg,
            r#"<text x="{LEFT}" y="{}" font-size="15" font-weight="bold">{}</text>"#,
            top - 10.0,
            escape(&panel.title)
        );
        // Grid and y ticks.
        let mut y = 0.0;
        while y <= y_max + y_step / 2.0 {
            let py = sy(y);
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#e3e3e3"/><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{}</text>"##,
                LEFT + plot_w,
                LEFT - 6.0,
                py + 4.0,
                fmt_tick(y, y_step)
            );
            y += y_step;
        }
        // x ticks.
        let mut x = 0.0;
        while x <= x_max + x_step / 100.0 {
            let px = sx(x);
            let _ = writeln!(
                svg,
                r##"<line x1="{px:.1}" y1="{bottom}" x2="{px:.1}" y2="{:.1}" stroke="#333"/><text x="{px:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"##,
                bottom + 5.0,
                bottom + 19.0,
                fmt_tick(x, x_step)
            );
            x += x_step;
        }
        let _ = writeln!(
            svg,
            r##"<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL_HEIGHT}" fill="none" stroke="#333"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="13" text-anchor="middle">{}</text>"#,
            LEFT + plot_w / 2.0,
            bottom + 38.0,
            escape(x_label)
        );
        let cy = top + PANEL_HEIGHT / 2.0;
        let _ = writeln!(
            svg,
            r#"<text x="20" y="{cy:.1}" font-size="13" text-anchor="middle" transform="rotate(-90 20 {cy:.1})">{}</text>"#,
            escape(&panel.y_label)
        );
        // Lines.
        for line in &panel.lines {
            if line.points.is_empty() {
                continue;
            }
            let mut d = String::new();
            for (j, (x, y)) in line.points.iter().enumerate() {
                let _ = write!(d, "{}{:.1},{:.1}", if j == 0 { "M" } else { " L" }, sx(*x), sy(*y));
            }
            let dash = if line.dashed { r#" stroke-dasharray="6 4""# } else { "" };
            let _ = writeln!(
                svg,
                r#"<path d="{d}" fill="none" stroke="{}" stroke-width="2"{dash} stroke-linejoin="round"/>"#,
                line.color
            );
        }
        // Legend (top left, on a white box).
        let legend_h = 8.0 + 20.0 * panel.lines.len() as f64;
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="330" height="{legend_h:.1}" fill="white" fill-opacity="0.9" stroke="#bbb"/>"##,
            LEFT + 10.0,
            top + 10.0
        );
        for (j, line) in panel.lines.iter().enumerate() {
            let ly = top + 28.0 + 20.0 * j as f64;
            let dash = if line.dashed { r#" stroke-dasharray="6 4""# } else { "" };
            let _ = writeln!(
                svg,
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="3"{dash}/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
                LEFT + 20.0,
                ly - 4.0,
                LEFT + 50.0,
                ly - 4.0,
                line.color,
                LEFT + 58.0,
                ly,
                escape(&line.label)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

const GC_COLOR: &str = "#1f77b4";
const NO_GC_COLOR: &str = "#d62728";
const LIVE_COLOR: &str = "#2ca02c";

/// What the archive holds after each block, and what the same history would cost as whole
/// LZ4 blobs and as whole gzip-6 files (cumulative bytes; `(block, archive, lz4, gzip)`).
#[derive(Debug, Clone, Default)]
pub struct ArchiveSeries {
    pub points: Vec<(u64, u64, u64, u64)>,
}

const ARCHIVE_COLOR: &str = "#9467bd";
const GZIP_COLOR: &str = "#ff7f0e";

/// The storage picture of a run, with the no-gc baseline if given.
pub fn storage_report(gc: &SimResult, baseline: Option<&SimResult>) -> String {
    storage_report_with_archive(gc, baseline, None)
}

/// [`storage_report`], plus a panel of the archive's bytes next to whole-LZ4 and whole-gzip
/// copies of the same history.
pub fn storage_report_with_archive(
    gc: &SimResult,
    baseline: Option<&SimResult>,
    archive: Option<&ArchiveSeries>,
) -> String {
    let s = &gc.summary;
    let mb = |v: u64| v as f64 / 1e6;
    let bytes_of = |r: &SimResult, f: fn(&crate::sim::BlockStat) -> u64| {
        r.series.iter().map(|b| (b.block as f64, mb(f(b)))).collect::<Vec<_>>()
    };
    let count_of = |r: &SimResult, f: fn(&crate::sim::BlockStat) -> u64| {
        r.series.iter().map(|b| (b.block as f64, f(b) as f64)).collect::<Vec<_>>()
    };
    let gc_label = if s.gc { format!("with gc (grace {})", s.grace) } else { "without gc".to_owned() };
    let mut bytes = vec![];
    let mut counts = vec![];
    if let Some(base) = baseline {
        bytes.push(Line {
            label: format!("no gc: {}", human_bytes(base.summary.stored_bytes)),
            color: NO_GC_COLOR,
            dashed: false,
            points: bytes_of(base, |b| b.stored_bytes),
        });
        counts.push(Line {
            label: format!("no gc: {} blobs", base.summary.blobs),
            color: NO_GC_COLOR,
            dashed: false,
            points: count_of(base, |b| b.blobs),
        });
    }
    bytes.push(Line {
        label: format!("{gc_label}: {}", human_bytes(s.stored_bytes)),
        color: GC_COLOR,
        dashed: false,
        points: bytes_of(gc, |b| b.stored_bytes),
    });
    bytes.push(Line {
        label: format!("live (named by roots): {}", human_bytes(s.live_stored_bytes)),
        color: LIVE_COLOR,
        dashed: true,
        points: bytes_of(gc, |b| b.live_bytes),
    });
    counts.push(Line {
        label: format!("{gc_label}: {} blobs", s.blobs),
        color: GC_COLOR,
        dashed: false,
        points: count_of(gc, |b| b.blobs),
    });
    counts.push(Line {
        label: format!("live: {} snapshots", s.live),
        color: LIVE_COLOR,
        dashed: true,
        points: count_of(gc, |b| b.live),
    });
    let title = format!("kernel-sim: snapshot storage, workload {}", s.workload);
    let subtitle = format!(
        "{} blocks, seed {}, {} vats created, {} terminated, {} snapshots saved ({} deduplicated), {} page-ins, gc p99 {:.1} ms",
        s.blocks,
        s.seed,
        s.vats_created,
        s.vats_terminated,
        s.snapshots_saved,
        s.snapshots_deduplicated,
        s.page_ins,
        s.gc_p99_us as f64 / 1000.0
    );
    chart(
        &title,
        &subtitle,
        "block",
        &[
            Panel {
                title: "Stored snapshot bytes (blob files on disk)".into(),
                y_label: "MB".into(),
                lines: bytes,
            },
            Panel { title: "Blob files".into(), y_label: "blobs".into(), lines: counts },
        ]
        .into_iter()
        .chain(archive.map(archive_panel))
        .collect::<Vec<_>>(),
    )
}

fn archive_panel(a: &ArchiveSeries) -> Panel {
    let mb = |v: u64| v as f64 / 1e6;
    let line = |label: String, color, dashed, f: fn(&(u64, u64, u64, u64)) -> u64| Line {
        label,
        color,
        dashed,
        points: a.points.iter().map(|p| (p.0 as f64, mb(f(p)))).collect(),
    };
    let last = a.points.last().copied().unwrap_or_default();
    Panel {
        title: "History (every replaced snapshot a root named): the archive vs whole files".into(),
        y_label: "MB".into(),
        lines: vec![
            line(format!("as whole gzip-6 files (Agoric): {}", human_bytes(last.3)), GZIP_COLOR, true, |p| {
                p.3
            }),
            line(format!("as whole LZ4 blobs: {}", human_bytes(last.2)), NO_GC_COLOR, true, |p| p.2),
            line(format!("archive (CDC chunks, zstd): {}", human_bytes(last.1)), ARCHIVE_COLOR, false, |p| {
                p.1
            }),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(7.0, 5.0), 2.0);
        assert_eq!(nice_step(0.0, 5.0), 1.0);
        assert!((nice_step(0.3, 5.0) - 0.1).abs() < 1e-9);
    }

    #[test]
    fn chart_is_one_svg_with_every_label() {
        let svg = chart(
            "t <1>",
            "sub",
            "block",
            &[Panel {
                title: "p".into(),
                y_label: "MB".into(),
                lines: vec![Line {
                    label: "a & b".into(),
                    color: "red",
                    dashed: true,
                    points: vec![(1.0, 2.0), (2.0, 3.0)],
                }],
            }],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;1&gt;") && svg.contains("a &amp; b") && svg.contains("<path d=\"M"));
    }
}
