// The snapgc binding (crates/node) through native.js: open, kv, commit, gc, leases, status,
// streamed saves and verified loads, coded errors. Needs snapgc.node (`npm run build`);
// without it each test prints "binding: skipped: ..." and is reported as skipped.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';

import * as native from '../src/native.js';
import { synthChunks } from '../bench/synth.mjs';

/** Skips `t` visibly when the addon is absent; else returns the addon. */
function addonOr(t) {
  if (native.bindingAvailable) return native.requireNative();
  const why = native.bindingError?.message ?? 'the binding did not load';
  console.log(`binding: skipped: ${why}`);
  t.skip(why);
  return null;
}

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-binding-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens a fresh store in a temp dir, closed after the test. */
function freshStore(t, options) {
  const dir = tempDir(t);
  const store = native.openNative(path.join(dir, 'store'), options);
  t.after(() => store.close());
  return store;
}

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof Error, 'an Error');
    assert.equal(e.code, code, `code ${e.code}: ${e.message}`);
    return true;
  });
}

function throwsWith(fn, code) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof Error, 'an Error');
    assert.equal(e.code, code, `code ${e.code}: ${e.message}`);
    return true;
  });
}

async function saveBytes(store, bytes, chunkBytes = 65536) {
  const save = store.beginSave();
  for (let off = 0; off < bytes.length; off += chunkBytes) {
    await save.write(bytes.subarray(off, off + chunkBytes));
  }
  return save.finish();
}

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

test('open creates, reopens, refuses a second handle and a non-store', { timeout: 120_000 }, async (t) => {
  if (!addonOr(t)) return;
  const dir = tempDir(t);
  const where = path.join(dir, 'store');
  throwsWith(() => native.openNative(where, { create: false }), 'SNAPGC_NO_STORE');
  const store = native.openNative(where);
  assert.equal(store.path, where);
  assert.equal(store.epoch(), 0);
  assert.equal(store.closed, false);
  throwsWith(() => native.openNative(where), 'SNAPGC_IN_USE');
  const other = path.join(dir, 'not-a-store');
  fs.mkdirSync(other);
  fs.writeFileSync(path.join(other, 'someone.txt'), 'x');
  throwsWith(() => native.openNative(other), 'SNAPGC_NO_STORE');
  throwsWith(() => native.openNative(path.join(dir, 'x'), { grace: 'two' }), 'SNAPGC_INVALID_ARGUMENT');
  store.set('a', '1');
  assert.equal(await store.commit(), 1);
  await store.close();
  assert.equal(store.closed, true);
  throwsWith(() => store.epoch(), 'SNAPGC_CLOSED');
  await rejectsWith(store.commit(), 'SNAPGC_CLOSED');
  const again = native.openNative(where, { create: false });
  assert.equal(again.epoch(), 1);
  assert.equal(again.getCommitted('a'), '1');
  await again.close();
});

test('kv: staged reads, commit, abort, delete, scanPrefix', { timeout: 120_000 }, async (t) => {
  if (!addonOr(t)) return;
  const store = freshStore(t);
  assert.equal(store.get('k'), undefined);
  store.set('k', 'v1');
  store.set('p.1', 'one');
  store.set('p.2', 'two');
  store.set('q', 'x');
  assert.equal(store.get('k'), 'v1', 'reads see the open block');
  assert.equal(store.getCommitted('k'), undefined);
  assert.equal(await store.commit(), 1);
  assert.equal(store.getCommitted('k'), 'v1');
  assert.deepEqual(store.scanPrefix('p.'), [
    ['p.1', 'one'],
    ['p.2', 'two'],
  ]);
  store.set('k', 'v2');
  store.delete('q');
  assert.equal(store.get('q'), undefined);
  store.abort();
  assert.equal(store.get('k'), 'v1');
  assert.equal(store.get('q'), 'x');
  store.delete('q');
  assert.equal(await store.commit(), 2);
  assert.equal(store.epoch(), 2);
  assert.equal(store.getCommitted('q'), undefined);
});

test('save in chunks, load back equal; dedup; has, blobInfo, verify, readSync', { timeout: 120_000 }, async (t) => {
  if (!addonOr(t)) return;
  const store = freshStore(t);
  const bytes = Buffer.concat([...synthChunks(3_500_000, { chunkBytes: 1 << 20 })].map((c) => Buffer.from(c)));
  const info = await saveBytes(store, bytes, 100_000);
  assert.equal(info.hash, sha256(bytes));
  assert.equal(info.rawBytes, bytes.length);
  assert.ok(info.compressedBytes > 0 && info.compressedBytes < bytes.length, `${info.compressedBytes}`);
  assert.equal(info.deduplicated, false);
  assert.equal(info.savedEpoch, 1);
  assert.equal(store.has(info.hash), true);
  assert.equal(store.has('ab'.repeat(32)), false);
  throwsWith(() => store.has('not-a-hash'), 'SNAPGC_INVALID_ARGUMENT');
  const meta = store.blobInfo(info.hash);
  assert.equal(meta.rawBytes, bytes.length);
  assert.equal(meta.savedEpoch, 1);

  for (const chunkBytes of [undefined, 4096, 1 << 22]) {
    const load = await store.openLoad(info.hash, chunkBytes ? { chunkBytes } : undefined);
    assert.equal(load.hash, info.hash);
    const parts = [];
    let chunk;
    while ((chunk = await load.read()) !== null) {
      assert.ok(chunk.length <= (chunkBytes ?? 1 << 20));
      parts.push(chunk);
    }
    assert.equal(await load.read(), null, 'reads after the end stay null');
    assert.ok(Buffer.concat(parts).equals(bytes), `chunkBytes ${chunkBytes}`);
  }
  for (const size of [7777, 65537, 1 << 20, 5 << 20]) {
    const load = await store.openLoad(info.hash, { chunkBytes: 65536 });
    const target = Buffer.alloc(size);
    const parts = [];
    let n;
    while ((n = await load.readInto(target)) > 0) {
      parts.push(Buffer.from(target.subarray(0, n)));
      if (parts.length === 3) parts.push(await load.read(), Buffer.alloc(0)); // the two mix
      assert.ok(n >= 1 && n <= size);
    }
    assert.equal(await load.readInto(target), 0, 'stays at the end');
    await rejectsWith(load.readInto(Buffer.alloc(0)), 'SNAPGC_INVALID_ARGUMENT');
    await rejectsWith(load.readInto('x'), 'SNAPGC_INVALID_ARGUMENT');
    assert.ok(Buffer.concat(parts.filter(Boolean)).equals(bytes), `readInto ${size}`);
  }
  assert.ok((await store.loadBytes(info.hash)).equals(bytes));
  assert.ok(store.readSync(info.hash).equals(bytes));
  assert.equal(await store.verify(info.hash), bytes.length);

  const again = await store.saveFrom([bytes.subarray(0, 10), bytes.subarray(10)]);
  assert.equal(again.hash, info.hash);
  assert.equal(again.deduplicated, true, 'an identical save deduplicates');
  const typed = await store.saveFrom([new Uint8Array([1, 2, 3]), new Uint8Array(new ArrayBuffer(8), 2, 4)]);
  assert.equal(typed.hash, sha256(Buffer.from([1, 2, 3, 0, 0, 0, 0])));
  const wrong = store.beginSave();
  await rejectsWith(wrong.write('a string'), 'SNAPGC_INVALID_ARGUMENT');
  wrong.abort();
  // A small chunk, then one larger than the queue's budget, then small ones: none waits forever.
  const mixed = [Buffer.alloc(100_000, 1), Buffer.alloc(6 << 20, 2), Buffer.alloc(10, 3), Buffer.alloc(300_000, 4)];
  const mixedInfo = await store.saveFrom(mixed);
  assert.equal(mixedInfo.hash, sha256(Buffer.concat(mixed)));
  assert.ok((await store.loadBytes(mixedInfo.hash)).equals(Buffer.concat(mixed)));
  const empty = await store.saveFrom([]);
  assert.equal(empty.rawBytes, 0);
  assert.equal(empty.hash, sha256(Buffer.alloc(0)));
  assert.equal((await store.loadBytes(empty.hash)).length, 0);

  await rejectsWith(store.openLoad('cd'.repeat(32)), 'SNAPGC_NOT_FOUND');
  await rejectsWith(store.openLoad('xyz'), 'SNAPGC_INVALID_ARGUMENT');
  await rejectsWith(store.openLoad(info.hash, { chunkBytes: 10 }), 'SNAPGC_INVALID_ARGUMENT');
  await rejectsWith(store.verify('cd'.repeat(32)), 'SNAPGC_NOT_FOUND');
});

test('one waiting write / read at a time; abort publishes nothing; a closed load', { timeout: 120_000 }, async (t) => {
  if (!addonOr(t)) return;
  const store = freshStore(t);
  // Writes not awaited: those the queue takes at once succeed (in order); once one has to
  // wait, another write is refused until it settles.
  const save = store.beginSave();
  const results = [];
  for (let i = 0; i < 200; i += 1) {
    results.push(save.write(Buffer.alloc(1 << 20, i)).then(() => 'ok', (e) => e));
  }
  const settled = await Promise.all(results);
  assert.equal(settled[0], 'ok');
  const refused = settled.filter((r) => r !== 'ok');
  assert.ok(refused.length > 0, 'some write found another waiting');
  for (const e of refused) assert.equal(e.code, 'SNAPGC_INVALID_ARGUMENT', e.message);
  save.abort();
  await rejectsWith(save.write(Buffer.alloc(10)), 'SNAPGC_CLOSED');
  await rejectsWith(save.finish(), 'SNAPGC_CLOSED');
  assert.equal(store.has(sha256(Buffer.alloc(1 << 20, 0))), false, 'an aborted save is not published');
  const aborted = store.beginSave();
  await aborted.write(Buffer.alloc(3 << 20, 9));
  aborted.abort();
  aborted.abort();
  assert.equal(store.has(sha256(Buffer.alloc(3 << 20, 9))), false);

  // The first chunk of a 24 MiB load in 8 MiB chunks exists only after 16 MiB decoded: the
  // first read waits, and a second one is refused meanwhile.
  const info = await store.saveFrom([Buffer.alloc(24 << 20, 2)]);
  const load = await store.openLoad(info.hash, { chunkBytes: 8 << 20 });
  const r1 = load.read();
  await rejectsWith(load.read(), 'SNAPGC_INVALID_ARGUMENT');
  assert.equal((await r1).length, 8 << 20);
  load.close();
  load.close();
  await rejectsWith(load.read(), 'SNAPGC_CLOSED');
  await rejectsWith(load.readInto(Buffer.alloc(10)), 'SNAPGC_CLOSED');
  // A for-await left early closes the load.
  const iterated = await store.openLoad(info.hash, { chunkBytes: 1 << 20 });
  for await (const chunk of iterated) {
    assert.equal(chunk.length, 1 << 20);
    break;
  }
  await rejectsWith(iterated.read(), 'SNAPGC_CLOSED');
});

test('commit refuses a root naming a missing snapshot (SNAPGC_DANGLING_ROOT)', { timeout: 120_000 }, async (t) => {
  if (!addonOr(t)) return;
  const store = freshStore(t);
  store.set('v1.lastSnapshot', native.formatRootValue('ef'.repeat(32), 3));
  await rejectsWith(store.commit(), 'SNAPGC_DANGLING_ROOT');
  assert.equal(store.epoch(), 0, 'nothing committed');
  store.abort();
  assert.equal(await store.commit(), 1);
  throwsWith(() => native.formatRootValue('nope', 1), 'SNAPGC_INVALID_ARGUMENT');
  assert.equal(
    native.formatRootValue('ef'.repeat(32), 3),
    `{"snapshotID":"${'ef'.repeat(32)}","startPos":{"itemCount":3}}`,
  );
});

test('gc report, grace, and a lease protects a blob until release', { timeout: 120_000 }, async (t) => {
  if (!addonOr(t)) return;
  const store = freshStore(t, { grace: 0, rootPatterns: ['snapshot.*.current'] });
  const a = await store.saveFrom([Buffer.from('heap A')]);
  store.set('snapshot.v1.current', native.formatRootValue(a.hash, 1));
  await store.commit();
  let report = await store.gc();
  assert.equal(report.roots, 1);
  assert.equal(report.live, 1);
  assert.equal(report.swept, 0);
  assert.equal(report.grace, 0);
  assert.equal(typeof report.durationMs, 'number');
  assert.ok(Array.isArray(report.errors) && Array.isArray(report.strays));

  const b = await store.saveFrom([Buffer.from('heap B')]);
  store.set('snapshot.v1.current', native.formatRootValue(b.hash, 2));
  await store.commit();
  const lease = store.lease(a.hash);
  assert.equal(lease.hash, a.hash);
  // A is young until its protection runs out: commit empty blocks until the pass wants it.
  for (let i = 0; i < 4; i += 1) {
    report = await store.gc();
    assert.equal(report.swept, 0, 'a leased blob is never swept');
    await store.commit();
  }
  report = await store.gc();
  assert.equal(report.swept, 0);
  assert.ok(report.keptLeased >= 1, `keptLeased ${report.keptLeased}`);
  assert.equal(store.has(a.hash), true);
  lease.release();
  lease.release();
  await store.commit();
  report = await store.gc();
  assert.equal(report.swept, 1, JSON.stringify(report));
  assert.ok(report.sweptBytes > 0);
  assert.equal(store.has(a.hash), false);
  assert.equal(store.has(b.hash), true);
  throwsWith(() => store.lease('zz'), 'SNAPGC_INVALID_ARGUMENT');

  const status = await store.status();
  assert.equal(status.epoch, store.epoch());
  assert.equal(status.roots, 1);
  assert.equal(typeof JSON.parse(await store.statusJson()).passes_total, 'number');
});

test('a corrupt blob fails the load with SNAPGC_CORRUPT and never delivers the last chunk', { timeout: 120_000 }, async (t) => {
  if (!addonOr(t)) return;
  const dir = tempDir(t);
  const where = path.join(dir, 'store');
  const store = native.openNative(where);
  t.after(() => store.close());
  // Poorly compressible bytes, so the flipped byte is a literal: the frame still decodes and
  // only the sha256 at the end can tell.
  const bytes = Buffer.alloc(5 << 20);
  let x = 12345;
  for (let i = 0; i < bytes.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes.writeInt32LE(x | 0, i);
  }
  const info = await saveBytes(store, bytes, 1 << 20);
  await store.commit();
  const blob = path.join(where, 'snapshots', `${info.hash}.lz4`);
  const file = fs.readFileSync(blob);
  const at = Math.floor(file.length * 0.6);
  file[at] ^= 0x40;
  fs.writeFileSync(blob, file);

  for (const chunkBytes of [1 << 20, 4096]) {
    const load = await store.openLoad(info.hash, { chunkBytes });
    let delivered = 0;
    await rejectsWith(
      (async () => {
        for (;;) {
          const chunk = await load.read();
          if (chunk === null) break;
          delivered += chunk.length;
        }
      })(),
      'SNAPGC_CORRUPT',
    );
    assert.ok(delivered < bytes.length, `delivered ${delivered} of ${bytes.length}: never the whole stream`);
    assert.ok(delivered <= bytes.length - chunkBytes, 'the last chunk was held back');
    await rejectsWith(load.read(), 'SNAPGC_CORRUPT');
  }
  const into = await store.openLoad(info.hash);
  const target = Buffer.alloc(1 << 20);
  let delivered = 0;
  await rejectsWith(
    (async () => {
      let n;
      while ((n = await into.readInto(target)) > 0) delivered += n;
    })(),
    'SNAPGC_CORRUPT',
  );
  assert.ok(delivered <= bytes.length - (1 << 20), `readInto delivered ${delivered}`);
  await rejectsWith(store.verify(info.hash), 'SNAPGC_CORRUPT');
  throwsWith(() => store.readSync(info.hash), 'SNAPGC_CORRUPT');
});

test('open options: root patterns, grace, archive, metrics file; refusals', { timeout: 120_000 }, async (t) => {
  if (!addonOr(t)) return;
  const dir = tempDir(t);
  const where = path.join(dir, 'store');
  const archiveDir = path.join(dir, 'archive');
  const metrics = path.join(dir, 'metrics.prom');
  let store = native.openNative(where, { rootPatterns: ['r.*'], grace: 0, archive: archiveDir, metricsFile: metrics });
  const a = await store.saveFrom([Buffer.alloc(100_000, 7)]);
  store.set('r.1', native.formatRootValue(a.hash, 0));
  await store.commit();
  const b = await store.saveFrom([Buffer.alloc(100_000, 8)]);
  store.set('r.1', native.formatRootValue(b.hash, 1));
  await store.commit();
  let swept = 0;
  for (let i = 0; i < 6 && swept === 0; i += 1) {
    swept += (await store.gc()).swept;
    await store.commit();
  }
  assert.equal(swept, 1, 'the old snapshot went');
  assert.ok(fs.readdirSync(archiveDir).length > 0, 'after it was archived');
  await store.close();
  // Written by the store's status thread (at most once a second, and at close).
  assert.ok(fs.existsSync(metrics), 'the metrics file is where it was asked');

  // Patterns that would un-root the committed root are refused; the store stays usable.
  throwsWith(() => native.openNative(where, { rootPatterns: ['other.*'] }), 'SNAPGC_WOULD_UNROOT');
  throwsWith(() => native.openNative(where, { rootPatterns: ['r.*', 'a**'] }), 'SNAPGC_CONFIG');
  throwsWith(() => native.openNative(where, { archive: '' }), 'SNAPGC_CONFIG');
  throwsWith(() => native.openNative(where, { nope: 1 }), 'SNAPGC_INVALID_ARGUMENT');
  throwsWith(() => native.openNative(where, 'x'), 'SNAPGC_INVALID_ARGUMENT');
  store = native.openNative(where, { archive: null, metricsFile: null });
  const status = await store.status();
  assert.equal(status.roots, 1);
  assert.equal(store.getCommitted('r.1'), native.formatRootValue(b.hash, 1));
  await store.close();
});
