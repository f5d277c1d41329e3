// The job: both sides, block by block, the checks, the figures.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { loadBundles } from './bundles.js';
import { loadStores, snapgcDirOf } from './stores.js';
import {
  openSide,
  transcriptDigest,
  sqliteSnapshotBytes,
  snapgcBlobBytes,
  duBytes,
} from './side.js';
import { runBlock, pinStaticRoots } from './driver.js';
import { planBlock } from './workload.js';
import { snapstoreMs, storeOwnMs } from './timing.js';
import { chart, COLORS } from './svg.js';
import { measureXsnapSink } from './xsnap-sink.js';

const p99 = xs => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)];
};
const sum = xs => xs.reduce((a, b) => a + b, 0);
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/**
 * The points where the crash test can have the host kill itself (SIGKILL), in a block's order:
 * a crank ended; a save begins, streams, ends (in a crank); the run ended (nothing committed);
 * @snapgc/swing-store's commit steps (before snapgc's commit, between the two commits, after
 * SQLite's, after gc); 'during-gc' kills a moment after SQLite's commit, while the collector runs
 * off the JS thread; the block committed.
 */
export const KILL_POINTS = [
  'queued',
  'crank',
  'before-save',
  'mid-save',
  'after-save',
  'ran',
  'before-snapgc-commit',
  'after-snapgc-commit',
  'after-sqlite-commit',
  'during-gc',
  'after-gc',
  'committed',
];

/** REAL_KERNEL_KILL_AT=<point>:<n> kills this process (SIGKILL) the n-th time `point` is reached. */
export function makeKillHooks(env = process.env) {
  const spec = env.REAL_KERNEL_KILL_AT;
  if (!spec) return { at: () => {}, onSave: () => {} };
  const [point, nStr] = spec.split(':');
  let left = Number(nStr ?? '1');
  const die = () => process.kill(process.pid, 'SIGKILL');
  const hit = p => {
    if (point === 'during-gc' && p === 'after-sqlite-commit') {
      left -= 1;
      // the collector runs off the JS thread: die while it works
      if (left <= 0) setImmediate(die);
      return;
    }
    if (p === point) {
      left -= 1;
      if (left <= 0) die();
    }
  };
  return { at: hit, onSave: hit };
}

/** The gc figures of a side's last commit (@snapgc/swing-store's debug.getLastGcReport()), or null for stock. */
function gcOf(side) {
  const gc = side.swingStore.debug?.getLastGcReport?.();
  if (!gc) return null;
  const ms = gc.durationMs ?? gc.duration_ms ?? (gc.durationUs !== undefined ? gc.durationUs / 1000 : undefined);
  return { ms: typeof ms === 'number' ? ms : null, swept: gc.swept ?? gc.sweptBlobs ?? null, report: gc };
}

/** Stored snapshot bytes of a side, by the side's own accounting. */
function storedOf(side) {
  if (side.kind === 'snapgc') {
    const b = snapgcBlobBytes(side.swingStore.debug?.snapgcDir ?? snapgcDirOf(side.dir));
    return { bytes: b.bytes, files: b.files };
  }
  const s = sqliteSnapshotBytes(side.swingStore.internal?.db ?? side.swingStore.debug.getDatabase());
  return { bytes: s.bytes, files: s.files, rows: s.rows, raw: s.raw };
}

/** Export data of a committed side, via its package's exporter (sha256 over every record). */
async function exportDataDigest(mod, dir) {
  const exporter = mod.makeSwingStoreExporter(dir);
  const h = crypto.createHash('sha256');
  let records = 0;
  try {
    const all = [];
    for await (const [k, v] of exporter.getExportData()) all.push([k, v]);
    all.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [k, v] of all) {
      h.update(`${k}\n${v ?? '\u0000'}\n`);
      records += 1;
    }
  } finally {
    await exporter.close();
  }
  return { digest: h.digest('hex'), records };
}

/**
 * @param {{ blocks: number, vats: number, storeDir: string, archive?: string, report?: string,
 *   snapshotInterval: number, maxVatsOnline: number, only?: 'snapgc'|'stock', log: (s: string) => void }} o
 */
export async function runJob(o) {
  const { log } = o;
  const tJob = performance.now();
  const checks = [];
  const check = (name, ok, detail = '') => {
    checks.push({ name, ok, detail });
    if (!ok) log(`CHECK FAILED: ${name} ${detail}`);
  };

  const bundles = await loadBundles({ log });
  log(`bundles ${bundles.cached ? 'from cache' : 'built'} in ${bundles.seconds.toFixed(1)} s`);
  const stores = await loadStores();
  const hooks = makeKillHooks();
  fs.mkdirSync(o.storeDir, { recursive: true });
  if (o.archive) fs.mkdirSync(o.archive, { recursive: true });

  const sideSpecs = [
    {
      kind: 'snapgc',
      mod: stores.snapgc,
      storeOptions: stores.control
        ? {}
        : {
            snapgc: {
              ...(o.archive ? { archive: path.resolve(o.archive) } : {}),
              onCommitStep: hooks.at,
              // test only: the crash test's mutation (SQLite committed before snapgc)
              ...(process.env.REAL_KERNEL_COMMIT_ORDER ? { commitOrder: process.env.REAL_KERNEL_COMMIT_ORDER } : {}),
            },
          },
    },
    // with --archive, stock keeps the whole history (what snapgc's archive is compared with)
    { kind: 'stock', mod: stores.stock, storeOptions: o.archive ? { keepSnapshots: true } : {} },
  ].filter(s => !o.only || s.kind === o.only);

  const sides = [];
  for (const spec of sideSpecs) {
    const dir = path.join(o.storeDir, spec.kind);
    const side = await openSide({
      name: spec.kind,
      dir,
      openSwingStore: spec.mod.openSwingStore,
      storeOptions: spec.storeOptions,
      bundles,
      vats: o.vats,
      snapshotInterval: o.snapshotInterval,
      maxVatsOnline: o.maxVatsOnline,
      hooks,
    });
    side.kind = spec.kind;
    side.mod = spec.mod;
    side.records = [];
    pinStaticRoots(side, o.vats);
    log(
      `${spec.kind}: ${side.created ? 'created' : `reopened at block ${side.height}`} (open ${side.openMs.toFixed(0)} ms, kernel start ${side.startMs.toFixed(0)} ms)`,
    );
    sides.push(side);
  }

  const first = Math.min(...sides.map(s => s.height)) + 1;
  let mismatches = 0;
  for (let block = first; block <= o.blocks; block += 1) {
    const plan = planBlock(block, o.vats);
    // alternate which side goes first, so neither always runs on a warmer machine
    const order = block % 2 === 0 ? sides : [...sides].reverse();
    const recs = {};
    for (const side of order) {
      if (side.height >= block) continue;
      // test only: the identity check's mutation (one extra message on the snapgc side)
      const sidePlan =
        process.env.REAL_KERNEL_MUTATE === 'diverge' && side.kind === 'snapgc' && block === 2
          ? { ...plan, sends: [...plan.sends, ['contract1', 'deposit', ['mutant', 1, 'one extra message']]] }
          : plan;
      const r = await runBlock(side, block, sidePlan, hooks);
      const stored = storedOf(side);
      const gc = gcOf(side);
      let status = null;
      if (side.kind === 'snapgc' && typeof side.swingStore.debug?.getSnapgc === 'function') {
        try {
          status = await side.swingStore.debug.getSnapgc().status();
        } catch {
          // a status is a figure, not a check
        }
      }
      const rec = {
        block,
        cranks: r.cranks,
        run_ms: r.run_ms,
        commit_ms: r.commit_ms,
        wall_ms: r.wall_ms,
        activityhash: r.activityhash,
        export: r.export,
        timers: r.timers,
        snapstore_ms: snapstoreMs(r.timers),
        store_own_ms: storeOwnMs(r.timers),
        stored,
        gc_ms: gc?.ms ?? null,
        gc_swept: gc?.swept ?? null,
        page_ins: r.timers.load.calls,
        saves: r.timers.save.calls,
        archive_bytes: side.kind === 'snapgc' && o.archive ? duBytes(o.archive) : null,
        live_bytes: status?.live_bytes ?? null,
        garbage_bytes: status?.garbage_bytes ?? null,
        // every blob no root names is still within its grace (or young/leased): the bound
        bound_ok: status
          ? status.garbage_blobs <=
            (status.last_pass?.kept_grace ?? 0) + (status.last_pass?.kept_young ?? 0) + (status.last_pass?.kept_leased ?? 0) + (status.pending ?? 0)
          : null,
      };
      side.records.push(rec);
      recs[side.kind] = rec;
    }
    if (recs.snapgc && recs.stock) {
      if (recs.snapgc.activityhash !== recs.stock.activityhash) {
        mismatches += 1;
        check(`activity hash after block ${block}`, false, `${recs.snapgc.activityhash} != ${recs.stock.activityhash}`);
      }
      if (recs.snapgc.export.digest !== recs.stock.export.digest) {
        mismatches += 1;
        check(`export data committed in block ${block}`, false, `${recs.snapgc.export.records} vs ${recs.stock.export.records} records`);
      }
    }
    const s = recs.snapgc ?? recs.stock;
    if (s && !o.quiet) {
      const parts = sides
        .filter(sd => recs[sd.kind])
        .map(sd => {
          const r = recs[sd.kind];
          return `${sd.kind} ${r.wall_ms.toFixed(0)} ms (snapStore ${r.snapstore_ms.toFixed(0)} ms, ${r.saves} saves, ${r.page_ins} loads, ${(r.stored.bytes / 1e6).toFixed(2)} MB in ${r.stored.files})`;
        });
      log(`block ${block}: ${s.cranks} cranks; ${parts.join('; ')}`);
    }
  }

  // Final checks, on the committed state of both sides.
  const both = sides.length === 2;
  const final = {};
  for (const side of sides) {
    final[side.kind] = {
      activityhash: side.controller.getActivityhash(),
      height: side.height,
      stored: storedOf(side),
      transcripts: transcriptDigest(side.swingStore.internal?.db ?? side.swingStore.debug.getDatabase()),
    };
  }
  for (const side of sides) {
    await side.controller.shutdown();
  }
  // xsnap's own share, with a sink that only counts bytes, on a few of the run's real heaps
  let sink = null;
  if (o.sink && !o.only && sides.length > 0) {
    try {
      const side = sides[0];
      const db = side.swingStore.internal?.db ?? side.swingStore.debug.getDatabase();
      const rows = db.prepare('SELECT vatID FROM snapshots WHERE inUse = 1 ORDER BY vatID').all().slice(0, 4);
      const heaps = [];
      for (const { vatID } of rows) {
        const chunks = [];
        for await (const c of side.kernelStorage.snapStore.loadSnapshot(vatID)) chunks.push(Buffer.from(c));
        heaps.push(Buffer.concat(chunks));
      }
      if (heaps.length > 0) {
        const a = await measureXsnapSink(heaps);
        const b = await measureXsnapSink(heaps);
        sink = {
          heaps: a.heaps,
          raw_bytes: a.raw_bytes,
          save_ms_per_mb: Math.min(a.save_ms_per_mb, b.save_ms_per_mb),
          load_ms_per_mb: Math.min(a.load_ms_per_mb, b.load_ms_per_mb),
        };
      }
    } catch (e) {
      log(`xsnap sink measurement failed: ${e.message}`);
    }
  }
  let snapgcStatus = null;
  for (const side of sides) {
    if (side.kind === 'snapgc' && typeof side.swingStore.debug?.getSnapgc === 'function') {
      try {
        snapgcStatus = await side.swingStore.debug.getSnapgc().status();
      } catch (e) {
        log(`snapgc status: ${e.message}`);
      }
    }
    await side.hostStorage.close();
  }
  for (const side of both ? sides : []) {
    try {
      final[side.kind].exportData = await exportDataDigest(side.mod, side.dir);
    } catch (e) {
      final[side.kind].exportData = { error: e.message };
      check(`${side.kind} export data readable`, false, e.message);
    }
  }
  if (both) {
    check('final activity hash', final.snapgc.activityhash === final.stock.activityhash,
      `${final.snapgc.activityhash} vs ${final.stock.activityhash}`);
    check('final export data', final.snapgc.exportData.digest === final.stock.exportData.digest,
      `${final.snapgc.exportData.records} vs ${final.stock.exportData.records} records`);
    check('transcripts', final.snapgc.transcripts.digest === final.stock.transcripts.digest,
      `${final.snapgc.transcripts.items} vs ${final.stock.transcripts.items} items`);
    check('same blocks', final.snapgc.height === final.stock.height, `${final.snapgc.height} vs ${final.stock.height}`);
  }
  const identical = both ? mismatches === 0 && checks.every(c => c.ok) : false;

  const archiveBytes = o.archive ? duBytes(o.archive) : null;
  const sideJson = kind => {
    const side = sides.find(s => s.kind === kind);
    if (!side) return null;
    const rs = side.records;
    const t = k => sum(rs.map(r => r.timers[k].ms));
    const gcs = rs.map(r => r.gc_ms).filter(x => typeof x === 'number');
    return {
      stored_bytes: final[kind].stored.bytes,
      ...(kind === 'snapgc' ? { blob_files: final[kind].stored.files } : { snapshot_rows_with_bytes: final[kind].stored.files }),
      snapstore_ms: round(sum(rs.map(r => r.snapstore_ms))),
      store_own_ms: round(sum(rs.map(r => r.store_own_ms))),
      save_ms: round(t('save')),
      load_ms: round(t('load')),
      xsnap_save_ms: round(sum(rs.map(r => r.timers.save.xsnap_ms))),
      xsnap_load_ms: round(sum(rs.map(r => r.timers.load.xsnap_ms))),
      saves: sum(rs.map(r => r.saves)),
      loads: sum(rs.map(r => r.page_ins)),
      saved_raw_bytes: sum(rs.map(r => r.timers.save.bytes)),
      ...(sink
        ? (() => {
            // a save under restartWorkerOnSnapshot: xsnap writes its heap while a fresh worker
            // reads it (the two branches of the kernel's tee, in lockstep: the slower sets the
            // pace); a load: a fresh worker reads it (its spawn included, as in the kernel)
            const savedMb = sum(rs.map(r => r.timers.save.bytes)) / 1e6;
            const loadedMb = sum(rs.map(r => r.timers.load.bytes)) / 1e6;
            const xs = savedMb * Math.max(sink.save_ms_per_mb, sink.load_ms_per_mb) + loadedMb * sink.load_ms_per_mb;
            const total = sum(rs.map(r => r.snapstore_ms));
            return { xsnap_sink_ms: round(xs), store_own_sink_ms: round(Math.max(0, total - xs)) };
          })()
        : {}),
      ...(kind === 'snapgc'
        ? {
            gc_ms_p99: round(p99(gcs), 2),
            gc_ms_total: round(sum(gcs)),
            gc_reports: gcs.length,
            live_bytes: rs.length ? rs[rs.length - 1].live_bytes : null,
            peak_stored_bytes: Math.max(0, ...rs.map(r => r.stored.bytes)),
            bound_held_every_block: rs.every(r => r.bound_ok !== false),
          }
        : { peak_stored_bytes: Math.max(0, ...rs.map(r => r.stored.bytes)) }),
      run_ms: round(sum(rs.map(r => r.run_ms))),
      commit_ms: round(sum(rs.map(r => r.commit_ms))),
      wall_ms: round(sum(rs.map(r => r.wall_ms))),
      activityhash: final[kind].activityhash,
      height: final[kind].height,
      export_records: final[kind].exportData?.records ?? null,
      transcript_items: final[kind].transcripts.items,
      per_block: rs.map(r => ({
        block: r.block,
        cranks: r.cranks,
        wall_ms: round(r.wall_ms),
        snapstore_ms: round(r.snapstore_ms),
        store_own_ms: round(r.store_own_ms),
        saves: r.saves,
        page_ins: r.page_ins,
        stored_bytes: r.stored.bytes,
        files: r.stored.files,
        gc_ms: r.gc_ms === null ? null : round(r.gc_ms, 2),
        ...(r.archive_bytes !== null ? { archive_bytes: r.archive_bytes } : {}),
        ...(r.live_bytes !== null ? { live_bytes: r.live_bytes, garbage_bytes: r.garbage_bytes, bound_ok: r.bound_ok } : {}),
      })),
    };
  };
  const snapgcJ = sideJson('snapgc');
  const stockJ = sideJson('stock');
  if (snapgcJ && snapgcStatus) snapgcJ.status = snapgcStatus;
  if (snapgcJ && stores.control) snapgcJ.control_run_on_stock = true;
  const pageIns = (snapgcJ ?? stockJ)?.loads ?? 0;
  const blocksRun = Math.max(0, ...sides.map(s => s.records.length));
  const json = {
    blocks: Math.min(...sides.map(s => s.height)),
    blocks_run: blocksRun,
    vats: o.vats,
    identical: both ? identical : null,
    snapgc: snapgcJ,
    stock: stockJ,
    page_ins: pageIns,
    xsnap_sink: sink
      ? { heaps: sink.heaps, raw_bytes: sink.raw_bytes, save_ms_per_mb: round(sink.save_ms_per_mb, 2), load_ms_per_mb: round(sink.load_ms_per_mb, 2) }
      : null,
    ...(o.archive ? { archive: { dir: path.resolve(o.archive), bytes: archiveBytes, stock_keep_snapshots_bytes: stockJ?.stored_bytes ?? null } } : {}),
    ratios: snapgcJ && stockJ ? {
      snapstore_time_stock_over_snapgc: snapgcJ.snapstore_ms > 0 ? round(stockJ.snapstore_ms / snapgcJ.snapstore_ms, 2) : null,
      store_own_time_stock_over_snapgc: snapgcJ.store_own_ms > 0 ? round(stockJ.store_own_ms / snapgcJ.store_own_ms, 2) : null,
      ...(sink && snapgcJ.store_own_sink_ms > 0
        ? { store_own_sink_stock_over_snapgc: round(stockJ.store_own_sink_ms / snapgcJ.store_own_sink_ms, 2) }
        : {}),
      stored_bytes_snapgc_over_stock: stockJ.stored_bytes > 0 ? round(snapgcJ.stored_bytes / stockJ.stored_bytes, 3) : null,
      wall_snapgc_over_stock: stockJ.wall_ms > 0 ? round(snapgcJ.wall_ms / stockJ.wall_ms, 3) : null,
      ...(o.archive && archiveBytes !== null && stockJ.stored_bytes > 0
        ? {
            archive_over_stock_keep: round(archiveBytes / stockJ.stored_bytes, 3),
            history_over_stock_keep: round((archiveBytes + snapgcJ.stored_bytes) / stockJ.stored_bytes, 3),
          }
        : {}),
    } : null,
    checks,
    settings: { snapshot_interval: o.snapshotInterval, max_vats_online: o.maxVatsOnline, control_run: stores.control },
    job_seconds: round((performance.now() - tJob) / 1000, 1),
    load_average: (await import('node:os')).loadavg().map(x => round(x, 2)),
  };
  const ok = checks.every(c => c.ok) && (both ? identical : true);

  if (o.report) {
    fs.writeFileSync(o.report, renderSvg(json, o));
    log(`chart written to ${o.report}`);
  }
  return { json, checks, ok };
}

function renderSvg(json, o) {
  const pts = (j, f) => (j ? j.per_block.map(r => [r.block, f(r)]) : []);
  const panels = [
    {
      title: 'Stored snapshot bytes after each block',
      yLabel: 'MB',
      lines: [
        { label: 'snapgc (LZ4 blobs on disk, after gc)', color: COLORS.snapgc, points: pts(json.snapgc, r => r.stored_bytes / 1e6) },
        { label: `stock swing-store (gzip rows${o.archive ? ', keepSnapshots' : ''})`, color: COLORS.stock, points: pts(json.stock, r => r.stored_bytes / 1e6) },
        { label: 'snapgc: live (blobs the committed roots name)', color: COLORS.live, dashed: true, points: json.snapgc ? json.snapgc.per_block.filter(r => r.live_bytes !== undefined).map(r => [r.block, r.live_bytes / 1e6]) : [] },
      ],
    },
    {
      title: 'Time in the snapStore per block (the kernel waiting on saves and loads)',
      yLabel: 'ms',
      lines: [
        { label: 'snapgc', color: COLORS.snapgc, points: pts(json.snapgc, r => r.snapstore_ms) },
        { label: 'stock swing-store', color: COLORS.stock, points: pts(json.stock, r => r.snapstore_ms) },
        { label: 'snapgc: the store\'s own share (minus xsnap)', color: COLORS.snapgc, dashed: true, points: pts(json.snapgc, r => r.store_own_ms) },
        { label: 'stock: the store\'s own share (minus xsnap)', color: COLORS.stock, dashed: true, points: pts(json.stock, r => r.store_own_ms) },
      ],
    },
  ];
  if (o.archive) {
    panels.push({
      title: 'History: snapgc hot store + archive vs stock keeping every snapshot (keepSnapshots)',
      yLabel: 'MB',
      lines: [
        { label: 'snapgc archive (CDC chunks, zstd)', color: COLORS.other, points: json.snapgc ? json.snapgc.per_block.filter(r => r.archive_bytes !== undefined).map(r => [r.block, r.archive_bytes / 1e6]) : [] },
        { label: 'snapgc archive + hot store', color: COLORS.snapgc, points: json.snapgc ? json.snapgc.per_block.filter(r => r.archive_bytes !== undefined).map(r => [r.block, (r.archive_bytes + r.stored_bytes) / 1e6]) : [] },
        { label: 'stock, every snapshot whole (gzip rows)', color: COLORS.stock, points: pts(json.stock, r => r.stored_bytes / 1e6) },
      ],
    });
  }
  const sub = `real @agoric/swingset-vat 0.33.0 kernel on xsnap, ${json.vats} contract vats, ${json.blocks} blocks; identical: ${json.identical}; load ${json.load_average.join(' ')}`;
  return chart('The real SwingSet kernel: snapgc vs stock @agoric/swing-store', sub, 'block', panels);
}
