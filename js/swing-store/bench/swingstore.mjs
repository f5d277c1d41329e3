#!/usr/bin/env node
// saveSnapshot / loadSnapshot of real XS heaps through openSwingStore (@snapgc/swing-store)
// against stock @agoric/swing-store 0.10.0, same heaps, same run, interleaved.
//
//   node js/swing-store/bench/swingstore.mjs [--heaps DIR] [--reps N] [--chunk BYTES] [--json FILE]
//
// Heaps: every *.xss in DIR (default /work/shared/corpus/xsnap; without it, synthesized
// heap-like bytes, said in the output). Each save is fed the way the kernel feeds it: an async
// stream of CHUNK-byte Buffers (default 64 KiB, what xsnap's snapshot pipe yields), inside a
// crank; each load is consumed to the end, as xsnap's loader does. The save is timed from the
// call to the resolved result (stream, hash, compress, row); the block's commit after it is
// timed apart (stock: SQLite fsync; snapgc: blob fsync + roots + SQLite + gc). Medians over
// REPS, alternating stock / snapgc.
import '@endo/init';

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import * as stock from '@agoric/swing-store';
import * as snapgc from '../src/index.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const heapDir = opt('--heaps', '/work/shared/corpus/xsnap');
const reps = Number(opt('--reps', 5));
const chunk = Number(opt('--chunk', 65536));
const jsonFile = opt('--json');

if (!snapgc.bindingAvailable) {
  console.log(`SKIP: ${snapgc.bindingError?.message}`);
  process.exit(0);
}

/** @type {Array<{ name: string, bytes: Buffer }>} */
let heaps = [];
let source;
if (fs.existsSync(heapDir)) {
  heaps = fs
    .readdirSync(heapDir)
    .filter(f => f.endsWith('.xss'))
    .sort()
    .map(f => ({ name: f, bytes: fs.readFileSync(path.join(heapDir, f)) }));
  source = heapDir;
}
if (heaps.length === 0) {
  source = 'synthesized (no real heaps found)';
  for (const [i, n] of [2_500_000, 8_000_000].entries()) {
    const unit = Buffer.from(`{"slot":${i},"kind":"vatstore","data":"${'x'.repeat(40)}"}`);
    const b = Buffer.alloc(n);
    for (let j = 0; j < n; j += unit.length) unit.copy(b, j, 0, Math.min(unit.length, n - j));
    for (let j = 0; j < n; j += 4096) b.writeUInt32LE((j * 2654435761) >>> 0, j);
    heaps.push({ name: `synthetic-${n}`, bytes: b });
  }
}

async function* feed(bytes) {
  for (let i = 0; i < bytes.length; i += chunk) {
    yield bytes.subarray(i, Math.min(i + chunk, bytes.length));
  }
}

const median = xs => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-bench-swingstore-'));
const stores = {
  stock: stock.initSwingStore(path.join(root, 'stock')),
  snapgc: snapgc.initSwingStore(path.join(root, 'snapgc')),
};

let vatSeq = 0;
async function once(kind, bytes) {
  const { kernelStorage: ks, hostStorage: hs } = stores[kind];
  vatSeq += 1;
  const vatID = `v${vatSeq}`;
  ks.startCrank();
  let t0 = performance.now();
  const r = await ks.snapStore.saveSnapshot(vatID, 10, feed(bytes));
  const save = performance.now() - t0;
  ks.endCrank();
  t0 = performance.now();
  await hs.commit();
  const commit = performance.now() - t0;
  t0 = performance.now();
  let n = 0;
  for await (const c of ks.snapStore.loadSnapshot(vatID)) n += c.length;
  const load = performance.now() - t0;
  if (n !== bytes.length) throw Error(`${kind}: loaded ${n} of ${bytes.length} bytes`);
  // the vat goes, as a terminated vat's snapshots do (keeps the stores small)
  ks.startCrank();
  ks.snapStore.deleteVatSnapshots(vatID);
  ks.endCrank();
  await hs.commit();
  return { save, commit, load, compressed: r.compressedSize };
}

const rows = [];
console.log(`heaps: ${source}; ${reps} reps each, ${chunk}-byte chunks; medians in ms`);
console.log(
  `${'heap'.padEnd(28)} ${'MB'.padStart(5)} | ${'save stock'.padStart(10)} ${'snapgc'.padStart(7)} ${'x'.padStart(5)} | ${'load stock'.padStart(10)} ${'snapgc'.padStart(7)} ${'x'.padStart(5)} | ${'commit stock'.padStart(12)} ${'snapgc'.padStart(7)}`,
);
// warm-up: one of each, not counted
await once('stock', heaps[0].bytes);
await once('snapgc', heaps[0].bytes);
for (const { name, bytes } of heaps) {
  const m = { stock: [], snapgc: [] };
  for (let i = 0; i < reps; i += 1) {
    for (const kind of i % 2 ? ['snapgc', 'stock'] : ['stock', 'snapgc']) {
      m[kind].push(await once(kind, bytes));
    }
  }
  const med = (kind, field) => median(m[kind].map(x => x[field]));
  const row = {
    heap: name,
    rawBytes: bytes.length,
    stock: { save: med('stock', 'save'), load: med('stock', 'load'), commit: med('stock', 'commit'), compressed: m.stock[0].compressed },
    snapgc: { save: med('snapgc', 'save'), load: med('snapgc', 'load'), commit: med('snapgc', 'commit'), compressed: m.snapgc[0].compressed },
  };
  row.saveSpeedup = row.stock.save / row.snapgc.save;
  row.loadSpeedup = row.stock.load / row.snapgc.load;
  rows.push(row);
  console.log(
    `${name.padEnd(28)} ${(bytes.length / 1e6).toFixed(1).padStart(5)} | ${row.stock.save.toFixed(1).padStart(10)} ${row.snapgc.save.toFixed(1).padStart(7)} ${row.saveSpeedup.toFixed(1).padStart(5)} | ${row.stock.load.toFixed(1).padStart(10)} ${row.snapgc.load.toFixed(1).padStart(7)} ${row.loadSpeedup.toFixed(1).padStart(5)} | ${row.stock.commit.toFixed(1).padStart(12)} ${row.snapgc.commit.toFixed(1).padStart(7)}`,
  );
}
const sum = (kind, field) => rows.reduce((a, r) => a + r[kind][field], 0);
const total = {
  rawBytes: rows.reduce((a, r) => a + r.rawBytes, 0),
  saveSpeedup: sum('stock', 'save') / sum('snapgc', 'save'),
  loadSpeedup: sum('stock', 'load') / sum('snapgc', 'load'),
  stockSaveMBps: rows.reduce((a, r) => a + r.rawBytes, 0) / 1e3 / sum('stock', 'save'),
  snapgcSaveMBps: rows.reduce((a, r) => a + r.rawBytes, 0) / 1e3 / sum('snapgc', 'save'),
  stockLoadMBps: rows.reduce((a, r) => a + r.rawBytes, 0) / 1e3 / sum('stock', 'load'),
  snapgcLoadMBps: rows.reduce((a, r) => a + r.rawBytes, 0) / 1e3 / sum('snapgc', 'load'),
};
console.log(
  `all heaps: save ${total.saveSpeedup.toFixed(1)}x (stock ${total.stockSaveMBps.toFixed(0)} MB/s, snapgc ${total.snapgcSaveMBps.toFixed(0)} MB/s), load ${total.loadSpeedup.toFixed(1)}x (stock ${total.stockLoadMBps.toFixed(0)} MB/s, snapgc ${total.snapgcLoadMBps.toFixed(0)} MB/s); load average ${os.loadavg().map(x => x.toFixed(2)).join(' ')}`,
);
if (jsonFile) {
  fs.writeFileSync(jsonFile, JSON.stringify({ source, reps, chunk, loadavg: os.loadavg(), rows, total }, null, 2));
}
await stores.stock.hostStorage.close();
await stores.snapgc.hostStorage.close();
fs.rmSync(root, { recursive: true, force: true });
