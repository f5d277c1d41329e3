#!/usr/bin/env node
// The binding against the Rust library, on real heaps, same run (issue 21's target: through the
// binding a save costs ≤ 1.15× the library's own save of the heap, a load ≤ 1.3× its verified
// load). Rounds alternate: the Rust example `binding_ref` (one process, ITER iterations per
// heap, medians), then this process through the binding (same pattern, medians). Figures are
// the medians over rounds.
//
//   node js/swing-store/bench/binding.mjs [--rounds 5] [--iter 9] [--chunk 65536] [FILE...]
//
// Default heaps: base-lockdown, a vat-ledger and the 7.8 MB zygote from $SNAPGC_CORPUS or
// ../shared/corpus/xsnap beside the checkout. The binding's save writes the heap in --chunk
// byte pieces (as a stream would); its load reads with read() (a Buffer per 1 MiB chunk) and
// with readInto (one reused buffer). The library's load is timed into a reused Vec (libLoadMs,
// the ratios' reference) and into a fresh Vec of the heap's size (libFreshMs: new memory each
// time, as read() hands out). Needs the addon (npm run build) and cargo.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as native from '../src/native.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return Number(v);
};
const rounds = opt('--rounds', 5);
const iter = opt('--iter', 9);
const chunkBytes = opt('--chunk', 65536);
const corpus = process.env.SNAPGC_CORPUS || path.resolve(repo, '..', 'shared', 'corpus', 'xsnap');
const files = args.length
  ? args
  : ['base-lockdown.xss', 'vat-ledger.d0283.xss', 'full-zygote-supervisor.xss'].map((f) => path.join(corpus, f));
for (const f of files) {
  if (!fs.existsSync(f)) {
    console.error(`bench: no heap ${f} (set SNAPGC_CORPUS)`);
    process.exit(2);
  }
}
const { SnapgcStore } = native.requireNative();

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

// Build the reference once, then run the binary directly (no cargo in the timed loop).
const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(repo, process.env.CARGO_TARGET_DIR) : path.join(repo, 'target');
const built = spawnSync('cargo', ['build', '--release', '-p', 'snapgc-node', '--example', 'binding_ref'], {
  cwd: repo,
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (built.status !== 0) process.exit(1);
const refBin = path.join(targetDir, 'release', 'examples', 'binding_ref');

function rustRound(dir) {
  const r = spawnSync(refBin, [dir, String(iter), ...files], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`binding_ref failed: ${r.stderr}`);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

async function bindingRound(dir) {
  const store = SnapgcStore.open(dir);
  const out = [];
  for (const file of files) {
    const heap = fs.readFileSync(file);
    const saves = [];
    const reads = [];
    const intos = [];
    const target = Buffer.alloc(1 << 20);
    for (let i = 0; i < iter; i += 1) {
      let t = performance.now();
      const save = store.beginSave();
      for (let off = 0; off < heap.length; off += chunkBytes) {
        await save.write(heap.subarray(off, off + chunkBytes));
      }
      const info = await save.finish();
      saves.push(performance.now() - t);

      t = performance.now();
      const load = await store.openLoad(info.hash);
      const parts = [];
      let c;
      while ((c = await load.read()) !== null) parts.push(c);
      reads.push(performance.now() - t);
      if (!Buffer.concat(parts).equals(heap)) throw new Error(`${file}: read() returned other bytes`);

      t = performance.now();
      const load2 = await store.openLoad(info.hash);
      let n;
      let total = 0;
      while ((n = await load2.readInto(target)) > 0) total += n;
      intos.push(performance.now() - t);
      if (total !== heap.length) throw new Error(`${file}: readInto returned ${total} bytes`);
    }
    out.push({ heap: path.basename(file), rawBytes: heap.length, saveMs: median(saves), readMs: median(reads), readIntoMs: median(intos) });
  }
  await store.close();
  return out;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-binding-bench-'));
const per = new Map(files.map((f) => [path.basename(f), { rust: [], node: [] }]));
try {
  for (let r = 0; r < rounds; r += 1) {
    for (const row of rustRound(path.join(tmp, `rust-${r}`))) per.get(row.heap).rust.push(row);
    for (const row of await bindingRound(path.join(tmp, `node-${r}`))) per.get(row.heap).node.push(row);
    fs.rmSync(path.join(tmp, `rust-${r}`), { recursive: true, force: true });
    fs.rmSync(path.join(tmp, `node-${r}`), { recursive: true, force: true });
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

const rows = [];
for (const [heap, { rust, node }] of per) {
  const libSave = median(rust.map((x) => x.saveMs));
  const libLoad = median(rust.map((x) => x.loadMs));
  const libFresh = median(rust.map((x) => x.loadFreshMs));
  const save = median(node.map((x) => x.saveMs));
  const read = median(node.map((x) => x.readMs));
  const into = median(node.map((x) => x.readIntoMs));
  rows.push({
    heap,
    rawMB: +(rust[0].rawBytes / 1e6).toFixed(2),
    libSaveMs: +libSave.toFixed(2),
    saveMs: +save.toFixed(2),
    saveRatio: +(save / libSave).toFixed(3),
    libLoadMs: +libLoad.toFixed(2),
    readMs: +read.toFixed(2),
    readRatio: +(read / libLoad).toFixed(3),
    libFreshMs: +libFresh.toFixed(2),
    readFreshRatio: +(read / libFresh).toFixed(3),
    readIntoMs: +into.toFixed(2),
    readIntoRatio: +(into / libLoad).toFixed(3),
  });
}
console.log(`binding bench: ${rounds} alternating rounds × ${iter} iterations, save chunks ${chunkBytes} B, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.table(rows);
console.log(JSON.stringify({ rounds, iter, chunkBytes, loadavg: os.loadavg(), rows }));
