// The binding's streaming promises: the event loop keeps running while a large heap saves and
// loads (the work is off the JS thread), and a 600 MB heap saves and loads with the Node
// process's peak RSS under 150 MB (chunks stream through bounded queues; nothing holds the
// heap). The 600 MB run is a child process (this file, with SNAPGC_BINDING_RSS_CHILD set), so
// its peak RSS (VmHWM) is its own. Sizes: SNAPGC_BINDING_TICK_MB (default 200),
// SNAPGC_BINDING_RSS_MB (default 600).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import * as native from '../src/native.js';
import { synthChunks } from '../bench/synth.mjs';

const MB = 1 << 20;

function addonOr(t) {
  if (native.bindingAvailable) return native.requireNative();
  const why = native.bindingError?.message ?? 'the binding did not load';
  console.log(`binding: skipped: ${why}`);
  t.skip(why);
  return null;
}

/** Peak RSS of this process in bytes (VmHWM on Linux), or null. */
function vmHwm() {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Saves `total` synthesized bytes; the save's info and time. */
async function saveSynth(store, total) {
  const t0 = performance.now();
  const save = store.beginSave();
  for (const chunk of synthChunks(total)) await save.write(chunk);
  const info = await save.finish();
  return { info, saveMs: performance.now() - t0 };
}

/** Loads `hash` back hashing in JS, with read() (a Buffer per chunk) or readInto (one buffer). */
async function loadHashing(store, hash, how) {
  const t0 = performance.now();
  const load = await store.openLoad(hash);
  const h = createHash('sha256');
  let loaded = 0;
  if (how === 'readInto') {
    const target = Buffer.alloc(MB);
    let n;
    while ((n = await load.readInto(target)) > 0) {
      h.update(target.subarray(0, n));
      loaded += n;
    }
  } else {
    let chunk;
    while ((chunk = await load.read()) !== null) {
      h.update(chunk);
      loaded += chunk.length;
    }
  }
  return { loaded, digest: h.digest('hex'), loadMs: performance.now() - t0 };
}

async function roundTrip(store, total) {
  const { info, saveMs } = await saveSynth(store, total);
  const r = await loadHashing(store, info.hash, 'read');
  return { info, saveMs, ...r };
}

async function child() {
  const total = Number(process.env.SNAPGC_BINDING_RSS_MB || 600) * MB;
  const dir = process.env.SNAPGC_BINDING_RSS_CHILD;
  const store = native.openNative(path.join(dir, 'store'));
  let sampled = 0;
  const sampler = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage.rss());
  }, 5);
  const start = vmHwm();
  const { info, saveMs } = await saveSynth(store, total);
  const afterSave = vmHwm();
  const read = await loadHashing(store, info.hash, 'read');
  const afterRead = vmHwm();
  const into = await loadHashing(store, info.hash, 'readInto');
  const afterInto = vmHwm();
  clearInterval(sampler);
  sampled = Math.max(sampled, process.memoryUsage.rss());
  await store.close();
  process.stdout.write(
    `${JSON.stringify({
      total,
      hash: info.hash,
      rawBytes: info.rawBytes,
      compressedBytes: info.compressedBytes,
      saveMs: Math.round(saveMs),
      read: { ...read, loadMs: Math.round(read.loadMs) },
      readInto: { ...into, loadMs: Math.round(into.loadMs) },
      hwm: { start, afterSave, afterRead, afterInto },
      vmHwm: vmHwm(),
      sampledRss: sampled,
    })}\n`,
  );
}

/** Loads abandoned part-way (no close()), then collected: V8's external memory comes back. */
async function abandonChild() {
  const dir = process.env.SNAPGC_BINDING_ABANDON_CHILD;
  const store = native.openNative(path.join(dir, 'store'));
  const { info } = await saveSynth(store, 64 * MB);
  let peak = 0;
  const readSome = async () => {
    const load = await store.openLoad(info.hash);
    for (let i = 0; i < 40; i += 1) await load.read();
    peak = Math.max(peak, native.requireNative().externalMemory());
  };
  for (let k = 0; k < 3; k += 1) await readSome();
  // Another load, closed: whatever the engine still holds of the last abandoned one goes.
  (await store.openLoad(info.hash)).close();
  for (let i = 0; i < 5; i += 1) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const after = native.requireNative().externalMemory();
  await store.close();
  process.stdout.write(`${JSON.stringify({ peak, after })}\n`);
}

/** One 256 MiB chunk written at once: the save holds at most its queue's budget in copies. */
async function bigChunkChild() {
  const dir = process.env.SNAPGC_BINDING_BIG_CHILD;
  const store = native.openNative(path.join(dir, 'store'));
  const big = Buffer.allocUnsafe(256 * MB);
  let off = 0;
  for (const chunk of synthChunks(big.length, { chunkBytes: 4 * MB })) {
    chunk.copy(big, off);
    off += chunk.length;
  }
  const before = vmHwm();
  const save = store.beginSave();
  await save.write(big);
  const info = await save.finish();
  const after = vmHwm();
  await store.close();
  process.stdout.write(`${JSON.stringify({ before, after, rawBytes: info.rawBytes })}\n`);
}

if (process.env.SNAPGC_BINDING_BIG_CHILD) {
  if (native.bindingAvailable) await bigChunkChild();
} else if (process.env.SNAPGC_BINDING_ABANDON_CHILD) {
  if (native.bindingAvailable) await abandonChild();
} else if (process.env.SNAPGC_BINDING_RSS_CHILD) {
  if (!native.bindingAvailable) {
    console.log(`binding: skipped: ${native.bindingError?.message}`);
  } else {
    await child();
  }
} else {
  test('the event loop keeps ticking (10 ms interval) while a large heap saves and loads', { timeout: 300_000 }, async (t) => {
    if (!addonOr(t)) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-binding-tick-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const store = native.openNative(path.join(dir, 'store'));
    t.after(() => store.close());
    const total = Number(process.env.SNAPGC_BINDING_TICK_MB || 200) * MB;
    const ticks = [];
    const timer = setInterval(() => ticks.push(performance.now()), 10);
    const start = performance.now();
    let r;
    try {
      r = await roundTrip(store, total);
    } finally {
      clearInterval(timer);
    }
    const end = performance.now();
    assert.equal(r.loaded, total);
    assert.equal(r.digest, r.info.hash);
    const marks = [start, ...ticks, end];
    const maxGap = Math.max(...marks.slice(1).map((m, i) => m - marks[i]));
    const elapsed = end - start;
    console.log(
      `binding: ${total / MB} MB saved in ${r.saveMs.toFixed(0)} ms, loaded in ${r.loadMs.toFixed(0)} ms; ` +
        `${ticks.length} ticks of a 10 ms interval, longest gap ${maxGap.toFixed(1)} ms; load average ${os.loadavg()[0].toFixed(1)}`,
    );
    // On the JS thread, the save alone would be one gap as long as itself (hundreds of ms).
    assert.ok(ticks.length >= elapsed / 10 / 4, `${ticks.length} ticks in ${elapsed.toFixed(0)} ms`);
    assert.ok(maxGap < Math.max(150, elapsed / 5), `longest gap ${maxGap.toFixed(1)} ms of ${elapsed.toFixed(0)} ms`);
  });

  test('a load collected without close() gives back what it reported to V8', { timeout: 300_000 }, async (t) => {
    if (!addonOr(t)) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-binding-abandon-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const run = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], {
      env: { ...process.env, SNAPGC_BINDING_ABANDON_CHILD: dir },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, `child failed: ${run.stderr}`);
    const r = JSON.parse(run.stdout.trim().split('\n').pop());
    console.log(`binding: external memory ${(r.peak / MB).toFixed(0)} MB while 3 loads were read 40 MB each, ${(r.after / MB).toFixed(1)} MB once they were collected`);
    // Each load reported (40 - 16) MB × 4 = 96 MB; kept, three would leave ~288 MB.
    assert.ok(r.peak > 96 * MB, 'the reads were reported');
    assert.ok(r.after < 32 * MB, `external memory after collection: ${(r.after / MB).toFixed(1)} MB`);
  });

  test('one 256 MiB chunk saves without a second copy of it (child process)', { timeout: 300_000 }, async (t) => {
    if (!addonOr(t)) return;
    if (vmHwm() === null) {
      console.log('binding: skipped: no /proc/self/status VmHWM here');
      t.skip('no VmHWM');
      return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-binding-big-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
      env: { ...process.env, SNAPGC_BINDING_BIG_CHILD: dir },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, `child failed: ${run.stderr}`);
    const r = JSON.parse(run.stdout.trim().split('\n').pop());
    console.log(`binding: peak RSS ${(r.before / MB).toFixed(0)} MB holding a 256 MiB chunk, ${(r.after / MB).toFixed(0)} MB after saving it in one write`);
    assert.equal(r.rawBytes, 256 * MB);
    assert.ok(r.after - r.before < 64 * MB, `the save added ${((r.after - r.before) / MB).toFixed(0)} MB to the peak`);
  });

  test('a 600 MB heap saves and loads (read and readInto) with peak RSS under 150 MB (child process)', { timeout: 300_000 }, async (t) => {
    if (!addonOr(t)) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-binding-rss-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
      env: { ...process.env, SNAPGC_BINDING_RSS_CHILD: dir },
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    assert.equal(run.status, 0, `child failed: ${run.stderr}`);
    const line = run.stdout.trim().split('\n').pop();
    const r = JSON.parse(line);
    const peak = r.vmHwm ?? r.sampledRss;
    const mb = (b) => (b === null ? 'n/a' : (b / MB).toFixed(1));
    console.log(
      `binding: ${r.total / MB} MB (${(r.compressedBytes / MB).toFixed(0)} MB stored): save ${r.saveMs} ms, ` +
        `load ${r.read.loadMs} ms (read) / ${r.readInto.loadMs} ms (readInto); peak RSS ${mb(peak)} MB ` +
        `(VmHWM at start ${mb(r.hwm.start)}, after the save ${mb(r.hwm.afterSave)}, after read() ${mb(r.hwm.afterRead)}, ` +
        `after readInto ${mb(r.hwm.afterInto)}; sampled ${mb(r.sampledRss)}); load average ${os.loadavg()[0].toFixed(1)}`,
    );
    assert.equal(r.rawBytes, r.total);
    for (const how of ['read', 'readInto']) {
      assert.equal(r[how].loaded, r.total, how);
      assert.equal(r[how].digest, r.hash, `${how}: the loaded bytes hash to the saved name`);
    }
    assert.ok(r.compressedBytes < r.total / 2, `compresses like a heap (real XS heaps: ~3:1): ${r.compressedBytes} of ${r.total}`);
    assert.ok(peak < 150 * MB, `peak RSS ${(peak / MB).toFixed(1)} MB`);
  });
}
