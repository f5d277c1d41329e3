// openSwingStore's snapStore, the commit protocol, the reconcile and state sync, against the
// real binding; stock @agoric/swing-store 0.10.0 as the reference for consensus.
import {
  loadPackage,
  tempDirFor,
  trackedStream,
  streamOf,
  collect,
  sha256,
  heapLike,
} from '../test-support/helpers.js';

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import sqlite3 from 'better-sqlite3';
import tmp from 'tmp';
import * as stock from '@agoric/swing-store';

const { pkg, skip } = await loadPackage();
const T = skip ? (name, _fn) => test(name, { skip }, () => {}) : test;

/** The blob file of `hash` in a snapgc store (docs/format.md: snapshots/<hash>.lz4). */
const blobPath = (snapgcDir, hash) =>
  path.join(snapgcDir, 'snapshots', `${hash}.lz4`);

/**
 * One scripted run: cranks with kv writes, saves, a rolled-back save, an upgrade
 * (stopUsingLastSnapshot), a termination (deleteVatSnapshots with a budget), commits between
 * blocks. Returns the export log and the activity hashes.
 */
async function scriptedRun(store) {
  const { kernelStorage: ks, hostStorage: hs } = store;
  const hashes = [];
  const crank = async fn => {
    ks.startCrank();
    ks.establishCrankSavepoint('start');
    await fn();
    hashes.push(ks.emitCrankHashes());
    ks.endCrank();
  };
  // block 1: three vats, the first snapshots
  for (const v of ['v1', 'v2', 'v3']) {
    await crank(async () => {
      ks.kvStore.set(`${v}.o.nextID`, '10');
      await ks.snapStore.saveSnapshot(v, 2, streamOf(heapLike(1, 3000)));
      ks.kvStore.set(`${v}.lastSnapshot`, 'x');
    });
  }
  await hs.commit();
  // block 2: new snapshots, a rolled back save, a zygote-like duplicate
  await crank(async () => {
    await ks.snapStore.saveSnapshot('v1', 7, streamOf(heapLike(2, 5000)));
  });
  await crank(async () => {
    ks.kvStore.set('v2.o.nextID', '11');
    ks.establishCrankSavepoint('deliver');
    await ks.snapStore.saveSnapshot('v2', 9, streamOf(heapLike(3, 4000)));
    ks.rollbackCrank('deliver');
  });
  await crank(async () => {
    await ks.snapStore.saveSnapshot('v3', 8, streamOf(heapLike(2, 5000)));
  });
  await hs.commit();
  // block 3: a failed upgrade of v1 (rolled back), upgrade v2 (stop using its snapshot),
  // terminate v3 (budgeted deletion)
  await crank(async () => {
    ks.establishCrankSavepoint('upgrade');
    ks.snapStore.stopUsingLastSnapshot('v1');
    ks.kvStore.set('v1.incarnation', '1');
    ks.rollbackCrank('upgrade');
  });
  await crank(async () => {
    ks.snapStore.stopUsingLastSnapshot('v2');
    ks.kvStore.set('v2.incarnation', '1');
  });
  await crank(async () => {
    ks.snapStore.deleteVatSnapshots('v3', 1);
  });
  await crank(async () => {
    ks.snapStore.deleteVatSnapshots('v3', 1);
  });
  await hs.commit();
  await crank(async () => {
    await ks.snapStore.saveSnapshot('v2', 12, streamOf(heapLike(4, 2000)));
  });
  await hs.commit();
  return hashes;
}

T('saveSnapshot / loadSnapshot: stock result shape, bytes round trip, the stream is returned', async t => {
  const dir = tempDirFor(t);
  const store = pkg.openSwingStore(dir);
  t.after(() => store.hostStorage.close());
  const { kernelStorage: ks, hostStorage: hs } = store;
  const heap = heapLike(7, 300_000);
  const stream = trackedStream(heap, 16384);
  const result = await ks.snapStore.saveSnapshot('v1', 10, stream);
  assert.deepEqual(Object.keys(result).sort(), [
    'archiveWriteSeconds',
    'compressSeconds',
    'compressedSize',
    'dbSaveSeconds',
    'hash',
    'uncompressedSize',
  ]);
  assert.equal(result.hash, sha256(heap));
  assert.equal(result.uncompressedSize, heap.length);
  assert.ok(result.compressedSize > 0 && result.compressedSize < heap.length);
  assert.ok(stream.state.returned >= 1, 'saveSnapshot must call snapshotStream.return()');
  assert.deepEqual(ks.snapStore.getSnapshotInfo('v1'), {
    snapPos: 10,
    hash: result.hash,
    uncompressedSize: heap.length,
    compressedSize: result.compressedSize,
  });
  assert.ok(store.internal.snapStore.hasHash('v1', result.hash));
  assert.ok(!store.internal.snapStore.hasHash('v2', result.hash));
  assert.ok(store.debug.getSnapgc().has(result.hash), 'the bytes are in snapgc');
  const row = store.internal.db
    .prepare('SELECT length(compressedSnapshot) AS n FROM snapshots WHERE vatID = ?')
    .get('v1');
  assert.equal(row.n, 0, 'SQLite keeps only the zero-length marker');
  assert.deepEqual(await collect(ks.snapStore.loadSnapshot('v1')), heap);
  await hs.commit();
  assert.deepEqual(await collect(ks.snapStore.loadSnapshot('v1')), heap);
  await assert.rejects(collect(ks.snapStore.loadSnapshot('v9')), /no snapshot available/);
});

T('a failing snapshot stream aborts the save, writes no row, and is returned', async t => {
  const dir = tempDirFor(t);
  const store = pkg.openSwingStore(dir);
  t.after(() => store.hostStorage.close());
  const { kernelStorage: ks } = store;
  let returned = 0;
  const bad = {
    n: 0,
    async next() {
      this.n += 1;
      if (this.n > 2) throw Error('worker died');
      return { done: false, value: Buffer.from('abc') };
    },
    async return() {
      returned += 1;
      return { done: true };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  await assert.rejects(ks.snapStore.saveSnapshot('v1', 3, bad), /worker died/);
  assert.equal(returned, 1);
  assert.equal(ks.snapStore.getSnapshotInfo('v1'), undefined);
});

T('consensus is stock: export data, activity hashes and kv identical to @agoric/swing-store', async t => {
  const stockLog = [];
  const ourLog = [];
  const stockDir = tempDirFor(t);
  const ourDir = tempDirFor(t);
  const stockStore = stock.initSwingStore(stockDir, { exportCallback: e => stockLog.push(...e) });
  const ourStore = pkg.initSwingStore(ourDir, { exportCallback: e => ourLog.push(...e) });
  const stockHashes = await scriptedRun(stockStore);
  const ourHashes = await scriptedRun(ourStore);
  assert.deepEqual(ourHashes, stockHashes);
  assert.deepEqual(ourLog, stockLog);
  // the rows are stock's except compressedSize (LZ4 in snapgc, gzip in stock)
  const strip = rows => [...rows].map(({ compressedSize: _, ...r }) => r);
  assert.deepEqual(
    strip(ourStore.internal.snapStore.listAllSnapshots()),
    strip(stockStore.internal.snapStore.listAllSnapshots()),
  );
  // the whole debug dump too: kv, transcripts, bundles, and each snapshot's gzip bytes (ours
  // gzipped from snapgc on the fly) equal to stock's
  assert.deepEqual(ourStore.debug.dump(), stockStore.debug.dump());
  // the exporters agree on export data and artifacts
  const stockExp = stock.makeSwingStoreExporter(stockDir);
  const ourExp = pkg.makeSwingStoreExporter(ourDir);
  const data = async e => {
    const out = [];
    for await (const kv of e.getExportData()) out.push(kv);
    return out;
  };
  assert.deepEqual(await data(ourExp), await data(stockExp));
  const arts = async e => {
    const out = {};
    for await (const name of e.getArtifactNames()) out[name] = sha256(await collect(e.getArtifact(name)));
    return out;
  };
  assert.deepEqual(await arts(ourExp), await arts(stockExp));
  await stockExp.close();
  await ourExp.close();
  await stockStore.hostStorage.close();
  await ourStore.hostStorage.close();
});

T('commit: roots mirror the rows SQLite keeps in snapgc; a rolled-back save is not rooted and is swept', async t => {
  const dir = tempDirFor(t);
  const store = pkg.openSwingStore(dir, { snapgc: { grace: 0 } });
  t.after(() => store.hostStorage.close());
  const { kernelStorage: ks, hostStorage: hs } = store;
  const snapgc = store.debug.getSnapgc();
  const a = heapLike(1, 10_000);
  const b = heapLike(2, 10_000);
  const c = heapLike(3, 10_000);
  ks.startCrank();
  await ks.snapStore.saveSnapshot('v1', 1, streamOf(a));
  ks.endCrank();
  ks.startCrank();
  ks.establishCrankSavepoint('s');
  await ks.snapStore.saveSnapshot('v2', 1, streamOf(c));
  ks.rollbackCrank('s');
  ks.endCrank();
  await hs.commit();
  assert.deepEqual([...store.debug.getCommittedRoots().keys()], ['snapshot.v1.1']);
  assert.equal(
    snapgc.getCommitted('snapshot.v1.1'),
    pkg.rootValue(sha256(a), 1),
  );
  assert.ok(!snapgc.has(sha256(c)), 'the rolled-back save was swept (grace 0)');
  // a new snapshot: the old root stays for one commit (the committed SQLite needed it when
  // this commit began), then goes; its blob is swept.
  ks.startCrank();
  await ks.snapStore.saveSnapshot('v1', 5, streamOf(b));
  ks.endCrank();
  await hs.commit();
  assert.ok(snapgc.has(sha256(a)));
  await hs.commit();
  assert.deepEqual([...store.debug.getCommittedRoots().keys()], ['snapshot.v1.5']);
  await hs.commit();
  assert.ok(!snapgc.has(sha256(a)), 'the pruned snapshot was swept');
  assert.deepEqual(await collect(ks.snapStore.loadSnapshot('v1')), b);
  // a termination un-roots everything of the vat
  ks.startCrank();
  assert.deepEqual(ks.snapStore.deleteVatSnapshots('v1'), { done: true, cleanups: 2 });
  ks.endCrank();
  await hs.commit();
  await hs.commit();
  await hs.commit();
  assert.deepEqual([...store.debug.getCommittedRoots().keys()], []);
  assert.ok(!snapgc.has(sha256(b)));
});

T('keepSnapshots keeps every snapshot rooted (what stock keeps, we keep)', async t => {
  const dir = tempDirFor(t);
  const store = pkg.openSwingStore(dir, { keepSnapshots: true, snapgc: { grace: 0 } });
  t.after(() => store.hostStorage.close());
  const { kernelStorage: ks, hostStorage: hs } = store;
  const heaps = [1, 2, 3].map(i => heapLike(i, 5000));
  for (const [i, h] of heaps.entries()) {
    ks.startCrank();
    await ks.snapStore.saveSnapshot('v1', i * 10, streamOf(h));
    ks.endCrank();
    await hs.commit();
  }
  await hs.commit();
  await hs.commit();
  assert.deepEqual([...store.debug.getCommittedRoots().keys()].sort(), [
    'snapshot.v1.0',
    'snapshot.v1.10',
    'snapshot.v1.20',
  ]);
  for (const h of heaps) assert.ok(store.debug.getSnapgc().has(sha256(h)));
  // the historical ones export in debug mode with their bytes
  const exp = pkg.makeSwingStoreExporter(dir, { artifactMode: 'debug' });
  const names = [];
  for await (const n of exp.getArtifactNames()) names.push(n);
  assert.deepEqual(names.sort(), ['snapshot.v1.0', 'snapshot.v1.10', 'snapshot.v1.20']);
  assert.deepEqual(await collect(exp.getArtifact('snapshot.v1.0')), heaps[0]);
  await exp.close();
  // deleteAllUnusedSnapshots drops the history: un-rooted at the next commits
  store.internal.snapStore.deleteAllUnusedSnapshots();
  await hs.commit();
  await hs.commit();
  assert.deepEqual([...store.debug.getCommittedRoots().keys()], ['snapshot.v1.20']);
});

T('many vats saving one heap share one blob', async t => {
  const dir = tempDirFor(t);
  const store = pkg.openSwingStore(dir);
  t.after(() => store.hostStorage.close());
  const { kernelStorage: ks, hostStorage: hs } = store;
  const heap = heapLike(9, 50_000);
  ks.startCrank();
  for (let i = 1; i <= 5; i += 1) {
    await ks.snapStore.saveSnapshot(`v${i}`, 3, streamOf(heap));
  }
  ks.endCrank();
  await hs.commit();
  const files = fs.readdirSync(path.join(store.debug.snapgcDir, 'snapshots'));
  assert.deepEqual(files, [`${sha256(heap)}.lz4`]);
  assert.equal(store.debug.getCommittedRoots().size, 5);
});

T('reopen: state survives close; the reconcile refuses a missing root, a missing blob, a mismatched root and an older snapgc', async t => {
  const dir = tempDirFor(t);
  const heap = heapLike(5, 20_000);
  const hash = sha256(heap);
  {
    const store = pkg.openSwingStore(dir);
    const { kernelStorage: ks, hostStorage: hs } = store;
    ks.startCrank();
    await ks.snapStore.saveSnapshot('v7', 42, streamOf(heap));
    ks.endCrank();
    await hs.commit();
    await hs.close();
  }
  {
    const store = pkg.openSwingStore(dir);
    assert.deepEqual(await collect(store.kernelStorage.snapStore.loadSnapshot('v7')), heap);
    await store.hostStorage.close();
  }
  const snapgcDir = path.join(dir, 'snapgc');
  const withSnapgc = async fn => {
    const h = pkg.openSnapgc(snapgcDir);
    try {
      await fn(h);
    } finally {
      await h.close();
    }
  };
  const refuses = (code, re) =>
    assert.throws(
      () => pkg.openSwingStore(dir),
      err => {
        assert.equal(err.code, code);
        assert.match(err.message, re);
        return true;
      },
    );
  // a mismatched root
  const root = pkg.rootValue(hash, 42);
  await withSnapgc(async h => {
    h.set('snapshot.v7.42', pkg.rootValue(hash, 41));
    await h.commit();
  });
  refuses('SNAPGC_RECONCILE_MISMATCH', /vat v7.*position 42/);
  // a missing root
  await withSnapgc(async h => {
    h.delete('snapshot.v7.42');
    await h.commit();
  });
  refuses('SNAPGC_RECONCILE_MISSING', /vat v7.*position 42.*no committed root/);
  await withSnapgc(async h => {
    h.set('snapshot.v7.42', root);
    await h.commit();
  });
  // SQLite recorded a newer snapgc epoch
  const db = sqlite3(path.join(dir, 'swingstore.sqlite'));
  const recorded = Number(db.prepare(`SELECT value FROM snapgcMeta WHERE key = 'epoch'`).pluck().get());
  db.prepare(`UPDATE snapgcMeta SET value = ? WHERE key = 'epoch'`).run(String(recorded + 100));
  refuses('SNAPGC_RECONCILE_EPOCH', /epoch/);
  db.prepare(`UPDATE snapgcMeta SET value = ? WHERE key = 'epoch'`).run(String(recorded));
  db.close();
  // a missing blob
  fs.rmSync(blobPath(snapgcDir, hash));
  refuses('SNAPGC_RECONCILE_MISSING', /vat v7.*position 42.*no blob/);
});

T('reconcile drops roots the committed SQLite does not need', async t => {
  const dir = tempDirFor(t);
  const store = pkg.openSwingStore(dir);
  const { kernelStorage: ks, hostStorage: hs } = store;
  ks.startCrank();
  await ks.snapStore.saveSnapshot('v1', 1, streamOf('one'));
  ks.endCrank();
  await hs.commit();
  await hs.close();
  const h = pkg.openSnapgc(path.join(dir, 'snapgc'));
  h.set('snapshot.v9.9', pkg.rootValue(sha256(Buffer.from('one')), 9));
  await h.commit();
  await h.close();
  const again = pkg.openSwingStore(dir);
  t.after(() => again.hostStorage.close());
  await again.hostStorage.commit();
  assert.deepEqual([...again.debug.getCommittedRoots().keys()], ['snapshot.v1.1']);
});

T('a corrupt blob fails loadSnapshot with a SNAPGC_ code', async t => {
  const dir = tempDirFor(t);
  const store = pkg.openSwingStore(dir);
  t.after(() => store.hostStorage.close());
  const { kernelStorage: ks, hostStorage: hs } = store;
  const heap = heapLike(11, 200_000);
  ks.startCrank();
  const { hash } = await ks.snapStore.saveSnapshot('v1', 1, streamOf(heap));
  ks.endCrank();
  await hs.commit();
  const file = blobPath(store.debug.snapgcDir, hash);
  const bytes = fs.readFileSync(file);
  bytes[bytes.length >> 1] ^= 0x55;
  fs.writeFileSync(file, bytes);
  await assert.rejects(collect(ks.snapStore.loadSnapshot('v1')), err => {
    assert.equal(err.code, 'SNAPGC_CORRUPT');
    return true;
  });
});

T('state sync: export a snapgc store, import into a new one, bytes and export data equal', async t => {
  const src = tempDirFor(t);
  const dst = tempDirFor(t);
  const store = pkg.initSwingStore(src, { exportCallback: () => {} });
  await scriptedRun(store);
  const exp = pkg.makeSwingStoreExporter(src);
  const exportData = [];
  for await (const kv of exp.getExportData()) exportData.push(kv);
  const imported = await pkg.importSwingStore(exp, dst);
  await imported.hostStorage.commit();
  await imported.hostStorage.close();
  const reopened = pkg.openSwingStore(dst);
  t.after(() => reopened.hostStorage.close());
  for (const v of ['v1', 'v2']) {
    assert.deepEqual(
      await collect(reopened.kernelStorage.snapStore.loadSnapshot(v)),
      await collect(store.kernelStorage.snapStore.loadSnapshot(v)),
    );
  }
  const exp2 = pkg.makeSwingStoreExporter(dst);
  const exportData2 = [];
  for await (const kv of exp2.getExportData()) exportData2.push(kv);
  await exp2.close();
  assert.deepEqual(exportData2, exportData);
  await store.hostStorage.close();
});

T('state sync: stock export imports into snapgc, and a snapgc export imports into stock', async t => {
  const stockDir = tempDirFor(t);
  const ourDir = tempDirFor(t);
  const s1 = stock.initSwingStore(stockDir);
  await scriptedRun(s1);
  await s1.hostStorage.close();
  const fromStock = await pkg.importSwingStore(stock.makeSwingStoreExporter(stockDir), ourDir);
  await fromStock.hostStorage.commit();
  await fromStock.hostStorage.close();
  const back = tempDirFor(t);
  const toStock = await stock.importSwingStore(pkg.makeSwingStoreExporter(ourDir), back);
  await toStock.hostStorage.commit();
  const a = stock.makeSwingStoreExporter(stockDir);
  const b = stock.makeSwingStoreExporter(back);
  const all = async e => {
    const out = [];
    for await (const kv of e.getExportData()) out.push(kv);
    for await (const n of e.getArtifactNames()) out.push([n, sha256(await collect(e.getArtifact(n)))]);
    return out;
  };
  assert.deepEqual(await all(b), await all(a));
  await a.close();
  await b.close();
  await toStock.hostStorage.close();
});

T('an in-process exporter holds its snapshots under leases while the kernel commits on', async t => {
  const dir = tempDirFor(t);
  const store = pkg.openSwingStore(dir, { snapgc: { grace: 0 } });
  t.after(() => store.hostStorage.close());
  const { kernelStorage: ks, hostStorage: hs } = store;
  const old = heapLike(21, 30_000);
  ks.startCrank();
  await ks.snapStore.saveSnapshot('v1', 1, streamOf(old));
  ks.endCrank();
  await hs.commit();
  const exp = pkg.makeSwingStoreExporter(dir);
  ks.startCrank();
  await ks.snapStore.saveSnapshot('v1', 2, streamOf(heapLike(22, 30_000)));
  ks.endCrank();
  for (let i = 0; i < 4; i += 1) await hs.commit();
  assert.ok(store.debug.getSnapgc().has(sha256(old)), 'leased by the exporter');
  assert.deepEqual(await collect(exp.getArtifact('snapshot.v1.1')), old);
  await exp.close();
  await hs.commit();
  assert.ok(!store.debug.getSnapgc().has(sha256(old)), 'swept once the exporter closed');
});

T('a store written by stock swing-store opens and its gzip rows still load', async t => {
  const dir = tempDirFor(t);
  const s = stock.initSwingStore(dir);
  s.kernelStorage.startCrank();
  await s.kernelStorage.snapStore.saveSnapshot('v1', 4, streamOf('legacy heap'));
  s.kernelStorage.endCrank();
  await s.hostStorage.commit();
  await s.hostStorage.close();
  const ours = pkg.openSwingStore(dir);
  t.after(() => ours.hostStorage.close());
  const ks = ours.kernelStorage;
  assert.equal((await collect(ks.snapStore.loadSnapshot('v1'))).toString(), 'legacy heap');
  ks.startCrank();
  await ks.snapStore.saveSnapshot('v1', 8, streamOf('new heap'));
  ks.endCrank();
  await ours.hostStorage.commit();
  assert.equal((await collect(ks.snapStore.loadSnapshot('v1'))).toString(), 'new heap');
  assert.deepEqual([...ours.debug.getCommittedRoots().keys()], ['snapshot.v1.8']);
});

T('in-memory stores (path null) keep their bytes in a temp snapgc dir removed at close', async () => {
  const store = pkg.initSwingStore(null);
  const dir = store.debug.snapgcDir;
  assert.ok(fs.existsSync(dir));
  store.kernelStorage.startCrank();
  await store.kernelStorage.snapStore.saveSnapshot('v1', 1, streamOf('mem'));
  store.kernelStorage.endCrank();
  await store.hostStorage.commit();
  assert.equal((await collect(store.kernelStorage.snapStore.loadSnapshot('v1'))).toString(), 'mem');
  await store.hostStorage.close();
  assert.ok(!fs.existsSync(dir));
});

T('archiveSnapshot gets the gzip of the saved bytes, as stock gives it', async t => {
  const dir = tempDirFor(t);
  const archiveDir = path.join(dir, 'archive');
  const archiveSnapshot = pkg.makeArchiveSnapshot(archiveDir, { fs, path, tmp });
  const store = pkg.openSwingStore(path.join(dir, 'store'), { archiveSnapshot });
  t.after(() => store.hostStorage.close());
  const heap = heapLike(31, 150_000);
  const r = await store.kernelStorage.snapStore.saveSnapshot('v1', 47, streamOf(heap));
  assert.equal(typeof r.archiveWriteSeconds, 'number');
  assert.deepEqual(fs.readdirSync(archiveDir), ['snapshot.v1.47.gz']);
  assert.deepEqual(zlib.gunzipSync(fs.readFileSync(path.join(archiveDir, 'snapshot.v1.47.gz'))), heap);
});

T('readonly: opens beside a running store in the same process (its handle), reads, and commits nothing to snapgc', async t => {
  const dir = tempDirFor(t);
  const store = pkg.openSwingStore(dir);
  t.after(() => store.hostStorage.close());
  const { kernelStorage: ks, hostStorage: hs } = store;
  ks.startCrank();
  await ks.snapStore.saveSnapshot('v1', 1, streamOf('one'));
  ks.endCrank();
  await hs.commit();
  const ro = pkg.openSwingStore(dir, { readonly: true });
  assert.equal((await collect(ro.kernelStorage.snapStore.loadSnapshot('v1'))).toString(), 'one');
  // the kernel moves on: its roots change under the readonly store's feet
  ks.startCrank();
  await ks.snapStore.saveSnapshot('v1', 2, streamOf('two'));
  ks.endCrank();
  await hs.commit();
  await hs.commit();
  const epoch = store.debug.getSnapgc().epoch();
  await ro.hostStorage.commit();
  assert.equal(store.debug.getSnapgc().epoch(), epoch, 'the readonly store committed nothing');
  await ro.hostStorage.close();
  await hs.commit();
  assert.equal((await collect(ks.snapStore.loadSnapshot('v1'))).toString(), 'two');
});

T('a collection that fails after the commit does not fail the commit (both stores are durable); it is reported', async t => {
  const dir = tempDirFor(t);
  const store = pkg.openSwingStore(dir);
  t.after(() => store.hostStorage.close());
  const { kernelStorage: ks, hostStorage: hs } = store;
  // a malformed root (a hand edit): the collector fails closed
  const h = store.debug.getSnapgc();
  h.set('snapshot.v9.9', 'not json');
  await h.commit();
  ks.startCrank();
  await ks.snapStore.saveSnapshot('v1', 1, streamOf('kept'));
  ks.endCrank();
  await hs.commit(); // (prints the warning once)
  assert.equal(store.debug.getLastGcError()?.code, 'SNAPGC_BAD_ROOT');
  await hs.commit();
  assert.equal(store.debug.getLastGcError()?.code, 'SNAPGC_BAD_ROOT');
  assert.ok(store.debug.getCommittedRoots().has('snapshot.v1.1'));
  h.delete('snapshot.v9.9');
  await h.commit();
  await hs.commit();
  assert.equal(store.debug.getLastGcError(), undefined);
});

T('our exporter exports a store stock wrote (no snapgc directory), as stock does', async t => {
  const dir = tempDirFor(t);
  const s = stock.initSwingStore(dir);
  await scriptedRun(s);
  await s.hostStorage.close();
  const all = async e => {
    const out = [];
    for await (const kv of e.getExportData()) out.push(kv);
    for await (const n of e.getArtifactNames()) out.push([n, sha256(await collect(e.getArtifact(n)))]);
    await e.close();
    return out;
  };
  assert.ok(!fs.existsSync(path.join(dir, 'snapgc')));
  assert.deepEqual(await all(pkg.makeSwingStoreExporter(dir)), await all(stock.makeSwingStoreExporter(dir)));
});

T('a snapgc store belongs to one swing-store: another refuses it (SNAPGC_RECONCILE_FOREIGN) instead of dropping its roots', async t => {
  const shared = path.join(tempDirFor(t), 'shared-snapgc');
  const a = tempDirFor(t);
  const b = tempDirFor(t);
  const heap = heapLike(41, 10_000);
  const first = pkg.openSwingStore(a, { snapgc: { dir: shared, grace: 0 } });
  first.kernelStorage.startCrank();
  await first.kernelStorage.snapStore.saveSnapshot('v1', 1, streamOf(heap));
  first.kernelStorage.endCrank();
  await first.hostStorage.commit();
  await first.hostStorage.close();
  assert.throws(
    () => pkg.openSwingStore(b, { snapgc: { dir: shared, grace: 0 } }),
    err => err.code === 'SNAPGC_RECONCILE_FOREIGN' && /belongs to another swing-store/.test(err.message),
  );
  // the refused open changed nothing: the first store still opens and loads
  const again = pkg.openSwingStore(a, { snapgc: { dir: shared, grace: 0 } });
  t.after(() => again.hostStorage.close());
  await again.hostStorage.commit();
  assert.deepEqual(await collect(again.kernelStorage.snapStore.loadSnapshot('v1')), heap);
});

T('an exporter in another process while the store is open fails clearly (SNAPGC_IN_USE); on a stopped store it works', async t => {
  const dir = tempDirFor(t);
  const store = pkg.openSwingStore(dir);
  store.kernelStorage.startCrank();
  await store.kernelStorage.snapStore.saveSnapshot('v1', 1, streamOf('abc'));
  store.kernelStorage.endCrank();
  await store.hostStorage.commit();
  const indexUrl = new URL('../src/index.js', import.meta.url).href;
  const exportIn = () =>
    spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import '@endo/init/debug.js';
         const pkg = await import(${JSON.stringify(indexUrl)});
         try {
           const e = pkg.makeSwingStoreExporter(${JSON.stringify(dir)});
           const chunks = [];
           for await (const c of e.getArtifact('snapshot.v1.1')) chunks.push(c);
           await e.close();
           console.log('OK', Buffer.concat(chunks).toString());
         } catch (err) { console.log('ERR', err.code); }`,
      ],
      { encoding: 'utf8', cwd: path.dirname(new URL(import.meta.url).pathname) },
    ).stdout.trim();
  assert.equal(exportIn(), 'ERR SNAPGC_IN_USE');
  await store.hostStorage.close();
  assert.equal(exportIn(), 'OK abc');
});
