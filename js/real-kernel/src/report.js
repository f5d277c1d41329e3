// The text summary of a run (stdout), side by side.

const mb = b => (b === null || b === undefined ? '-' : `${(b / 1e6).toFixed(2)} MB`);
const ms = x => (x === null || x === undefined ? '-' : `${Math.round(x)} ms`);

export function printText(json, checks) {
  const g = json.snapgc;
  const s = json.stock;
  const lines = [];
  lines.push(`real kernel (@agoric/swingset-vat 0.33.0, xsnap): ${json.blocks} blocks, ${json.vats} contract vats${json.settings.control_run ? '  [CONTROL RUN: stock on both sides]' : ''}`);
  const row = (label, a, b) => lines.push(`  ${label.padEnd(34)} ${String(a).padStart(16)} ${String(b).padStart(16)}`);
  row('', 'snapgc', 'stock');
  if (g || s) {
    row('stored snapshot bytes', mb(g?.stored_bytes), mb(s?.stored_bytes));
    row('files / rows with bytes', g?.blob_files ?? '-', s?.snapshot_rows_with_bytes ?? '-');
    row('time in the snapStore', ms(g?.snapstore_ms), ms(s?.snapstore_ms));
    row('  of which saves / loads', g ? `${ms(g.save_ms)} / ${ms(g.load_ms)}` : '-', s ? `${ms(s.save_ms)} / ${ms(s.load_ms)}` : '-');
    row("  waiting on xsnap's stream", ms(g && g.xsnap_save_ms + g.xsnap_load_ms), ms(s && s.xsnap_save_ms + s.xsnap_load_ms));
    row("  xsnap alone (sink estimate)", ms(g?.xsnap_sink_ms), ms(s?.xsnap_sink_ms));
    row("  the store's own share (sink)", ms(g?.store_own_sink_ms), ms(s?.store_own_sink_ms));
    row('snapshots saved / loaded', g ? `${g.saves} / ${g.loads}` : '-', s ? `${s.saves} / ${s.loads}` : '-');
    row('  of which live (snapgc roots)', mb(g?.live_bytes), '-');
    row('peak stored bytes', mb(g?.peak_stored_bytes), mb(s?.peak_stored_bytes));
    row('gc per block (p99)', g ? `${g.gc_ms_p99.toFixed(2)} ms` : '-', '-');
    row('run + commit wall time', ms(g?.wall_ms), ms(s?.wall_ms));
  }
  if (json.archive) {
    lines.push(`  archive: ${mb(json.archive.bytes)} of history vs stock keepSnapshots ${mb(json.archive.stock_keep_snapshots_bytes)}`);
  }
  if (json.ratios) {
    const r = json.ratios;
    lines.push(`  snapStore time: stock/snapgc ${r.snapstore_time_stock_over_snapgc}x (the store's own share, sink: ${r.store_own_sink_stock_over_snapgc ?? '-'}x); stored bytes snapgc/stock ${r.stored_bytes_snapgc_over_stock}; wall snapgc/stock ${r.wall_snapgc_over_stock}`);
  }
  lines.push(`  page-ins: ${json.page_ins}`);
  if (g && g.bound_held_every_block !== undefined) {
    lines.push(`  stored <= live + garbage in grace after every block: ${g.bound_held_every_block ? 'yes' : 'NO'}`);
  }
  lines.push(`  identical (activity hash, export data, transcripts): ${json.identical ? 'yes' : 'NO'}`);
  for (const c of checks) if (!c.ok) lines.push(`  FAILED: ${c.name}: ${c.detail}`);
  return `${lines.join('\n')}\n`;
}
