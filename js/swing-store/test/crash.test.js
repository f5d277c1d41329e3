// Point 3's crash test: a child Node process running kernel-like blocks is SIGKILLed at each
// step of the two-store commit (mid-block, before / between / after the two commits, after
// the collector) and at random times, then restarted on the same directory. After every kill
// the check holds: every snapshot the committed SQLite keeps in snapgc survives a further
// snapgc commit + collection with grace 0 (so it is rooted, not merely present), verifies,
// and loads through openSwingStore. The mutation (SQLite committed first) must fail the check.
import { loadPackage, tempDirFor, collect, sha256 } from '../test-support/helpers.js';

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sqlite3 from 'better-sqlite3';

const { pkg, skip } = await loadPackage();
const T = skip ? (name, _fn) => test(name, { skip }, () => {}) : test;
const child = path.join(path.dirname(fileURLToPath(import.meta.url)), '../test-support/crash-child.mjs');

function runChild(dir, blocks, env = {}) {
  const r = spawnSync(process.execPath, [child, dir, String(blocks)], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * @returns {Promise<{ ok: boolean, why?: string, rows?: number }>}
 */
async function check(dir) {
  const db = sqlite3(path.join(dir, 'swingstore.sqlite'));
  const rows = db
    .prepare(
      `SELECT vatID, snapPos, hash FROM snapshots
       WHERE compressedSnapshot IS NOT NULL AND length(compressedSnapshot) = 0`,
    )
    .all();
  db.close();
  // A: one more snapgc commit and a collection with grace 0 sweeps whatever is not rooted
  const h = pkg.openSnapgc(path.join(dir, 'snapgc'), { create: false, grace: 0 });
  try {
    await h.commit();
    await h.gc();
    const missing = rows.filter(r => !h.has(r.hash));
    if (missing.length) {
      return { ok: false, why: `lost: ${missing.map(r => `${r.vatID}@${r.snapPos}`).join(', ')}` };
    }
    for (const r of rows) await h.verify(r.hash);
  } finally {
    await h.close();
  }
  // B: the store opens (the reconcile) and every kept snapshot loads
  let store;
  try {
    store = pkg.openSwingStore(dir);
  } catch (err) {
    return { ok: false, why: `refused: ${err.code}: ${err.message}` };
  }
  try {
    for (const r of rows) {
      const bytes = await collect(store.internal.snapStore.exportSnapshot(`snapshot.${r.vatID}.${r.snapPos}`));
      if (sha256(bytes) !== r.hash) return { ok: false, why: `bad bytes ${r.vatID}@${r.snapPos}` };
    }
    for (const v of ['v1', 'v2', 'v3', 'v4']) {
      if (store.kernelStorage.snapStore.getSnapshotInfo(v)) {
        await collect(store.kernelStorage.snapStore.loadSnapshot(v));
      }
    }
  } finally {
    await store.hostStorage.close();
  }
  return { ok: true, rows: rows.length };
}

const STEPS = ['mid-block', 'before-snapgc-commit', 'after-snapgc-commit', 'after-sqlite-commit', 'after-gc'];

for (const step of STEPS) {
  T(`SIGKILL at ${step}: restart finds every committed snapshot, and runs on`, async t => {
    const dir = tempDirFor(t, 'snapgc-crash-');
    const warm = runChild(dir, 3);
    assert.equal(warm.status, 0, warm.stderr);
    const killed = runChild(dir, 5, { SNAPGC_CRASH_AT: step, SNAPGC_CRASH_BLOCK: '2' });
    assert.equal(killed.signal, 'SIGKILL', `the child should have killed itself: ${killed.stdout}${killed.stderr}`);
    const c1 = await check(dir);
    assert.ok(c1.ok, c1.why);
    assert.ok(c1.rows > 0);
    const again = runChild(dir, 3);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /"done":/);
    const c2 = await check(dir);
    assert.ok(c2.ok, c2.why);
  });
}

T('SIGKILL at random times, restarted on the same directory each time', async t => {
  const dir = tempDirFor(t, 'snapgc-crash-random-');
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  for (let round = 0; round < 6; round += 1) {
    const p = spawn(process.execPath, [child, dir, '1000'], {
      env: { ...process.env, SNAPGC_SEED: String(round + 1) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', d => (stderr += d));
    const delay = 700 + Math.floor(rand() * 1500);
    const exited = new Promise(resolve => p.on('exit', (code, signal) => resolve({ code, signal })));
    const timer = setTimeout(() => p.kill('SIGKILL'), delay);
    const { code, signal } = await exited;
    clearTimeout(timer);
    assert.ok(signal === 'SIGKILL' || code === 0, `round ${round}: exit ${code} ${signal}: ${stderr}`);
    const c = await check(dir);
    assert.ok(c.ok, `round ${round} (killed after ${delay} ms): ${c.why}`);
  }
  const db = sqlite3(path.join(dir, 'swingstore.sqlite'), { readonly: true });
  const blocks = Number(db.prepare(`SELECT value FROM kvStore WHERE key = 'host.block'`).pluck().get() ?? 0);
  db.close();
  console.log(`random kills: 6 rounds, ${blocks} blocks committed in all`);
  assert.ok(blocks > 0, 'some blocks committed between kills');
});

T('mutation: committing SQLite before snapgc loses snapshots, and the check catches it', async t => {
  const dir = tempDirFor(t, 'snapgc-crash-mutant-');
  const warm = runChild(dir, 3, { SNAPGC_COMMIT_ORDER: 'sqlite-first' });
  assert.equal(warm.status, 0, warm.stderr);
  const sane = await check(dir);
  assert.ok(sane.ok, `without a kill the wrong order still passes: ${sane.why}`);
  const killed = runChild(dir, 5, {
    SNAPGC_COMMIT_ORDER: 'sqlite-first',
    SNAPGC_CRASH_AT: 'after-sqlite-commit',
    SNAPGC_CRASH_BLOCK: '2',
  });
  assert.equal(killed.signal, 'SIGKILL');
  const c = await check(dir);
  assert.equal(c.ok, false, 'the mutated commit order must fail the check');
  assert.match(c.why, /lost: |refused: SNAPGC_RECONCILE_MISSING/);
  // and the reconcile alone (without the check's sweep) refuses too
  const dir2 = tempDirFor(t, 'snapgc-crash-mutant2-');
  runChild(dir2, 3, { SNAPGC_COMMIT_ORDER: 'sqlite-first' });
  runChild(dir2, 5, { SNAPGC_COMMIT_ORDER: 'sqlite-first', SNAPGC_CRASH_AT: 'after-sqlite-commit', SNAPGC_CRASH_BLOCK: '2' });
  const refused = runChild(dir2, 1);
  assert.equal(refused.status, 3, refused.stdout + refused.stderr);
  assert.match(refused.stdout, /SNAPGC_RECONCILE_MISSING/);
  assert.match(refused.stdout, /vat v\d/);
});
