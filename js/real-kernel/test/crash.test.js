// Crash and restart under the real kernel: SIGKILL the Node host (src/main.js, the snapgc side
// only) at chosen points (mid-crank, mid-save, between the two commits, during gc, ...) and at
// random times, restart it on the same store, and check: every snapshot the committed SQLite
// names is in snapgc and loads; the kernel resumes and reaches the end; after a final gc snapgc
// holds only what SQLite names; the final activity hash equals an uninterrupted run's.
//
//   REAL_KERNEL_KILLS=N (default 50)   node --test test/crash.test.js
//   just real-kernel-crash N           (the same, on demand, e.g. N=500)
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

import { makeRng } from '../src/workload.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.dirname(here);
const MAIN = path.join(pkg, 'src', 'main.js');
const CHECK = path.join(pkg, 'src', 'check-store.js');
const KILLS = Number(process.env.REAL_KERNEL_KILLS ?? 50);
const BLOCKS = Number(process.env.REAL_KERNEL_CRASH_BLOCKS ?? 6);
const SEED = Number(process.env.REAL_KERNEL_CRASH_SEED ?? Date.now() % 1_000_000);
const CHILD_ARGS = ['--vats', '1', '--snapshot-interval', '4', '--max-vats-online', '3', '--only', 'snapgc', '--json', '--quiet'];

// Kill points and how many times each is reached at most per block (n is drawn up to that).
const POINTS = {
  queued: 2,
  crank: 60,
  'before-save': 5,
  'mid-save': 30,
  'after-save': 5,
  ran: 2,
  'before-snapgc-commit': 2,
  'after-snapgc-commit': 2,
  'after-sqlite-commit': 2,
  'during-gc': 2,
  'after-gc': 2,
  committed: 2,
};

/** Why this machine cannot run the test, or null. */
function missingPrerequisite() {
  const require = createRequire(import.meta.url);
  try {
    const xsnapDir = path.dirname(require.resolve('@agoric/xsnap/package.json'));
    const worker = path.join(xsnapDir, 'xsnap-native/xsnap/build/bin/lin/release/xsnap-worker');
    if (!fs.existsSync(worker)) return `the xsnap worker is not built (${worker}); run npm --prefix js/real-kernel run setup`;
  } catch {
    return '@agoric/xsnap is not installed; run npm --prefix js/real-kernel run setup';
  }
  try {
    require('better-sqlite3')(':memory:').close();
  } catch (e) {
    return `better-sqlite3 does not load (${e.message}); run npm --prefix js/real-kernel run setup`;
  }
  if (process.env.REAL_KERNEL_SNAPGC_SIDE !== 'stock') {
    const addon = path.join(path.dirname(fileURLToPath(import.meta.resolve('@snapgc/swing-store'))), '..', 'snapgc.node');
    if (!fs.existsSync(addon) && !process.env.SNAPGC_NODE_ADDON) return `the snapgc binding is not built (${addon}); run npm --prefix js/swing-store run build`;
  }
  return null;
}

/** The kill plan's generator (the seed is printed, to replay a run). */
const rng = seed => makeRng(seed);

function run(cmd, args, { env = {}, killAfterMs } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', d => (stdout += d));
    child.stderr.on('data', d => {
      stderr += d;
      if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
    });
    let timer;
    if (killAfterMs !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const lastJson = s => {
  const start = s.indexOf('{');
  if (start < 0) return null;
  try {
    return JSON.parse(s.slice(start));
  } catch {
    const lines = s.trim().split('\n');
    try {
      return JSON.parse(lines[lines.length - 1]);
    } catch {
      return null;
    }
  }
};

const mainRun = (store, opts) => run(process.execPath, [MAIN, '--blocks', String(BLOCKS), '--store', store, ...CHILD_ARGS], opts);
const checkRun = async (store, final) => {
  const r = await run(process.execPath, [CHECK, store, ...(final ? ['--final'] : [])]);
  const j = lastJson(r.stdout);
  assert.ok(j, `checker printed no JSON (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  return { ...j, exit: r.code };
};

const why = missingPrerequisite();
if (why) console.log(`SKIP real-kernel crash test: ${why}`);

test(`real kernel: ${KILLS} SIGKILLs of the host, restarts on the same store`, { skip: why ?? false, timeout: 3_600_000 }, async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-real-kernel-crash-'));
  const t0 = Date.now();
  const next = rng(SEED);
  console.log(`crash test: ${KILLS} kills, ${BLOCKS}-block episodes, seed ${SEED} (REAL_KERNEL_CRASH_SEED replays it)`);
  try {
    // The uninterrupted run: its final activity hash is what every episode must reach.
    const ref = await mainRun(path.join(root, 'ref'));
    assert.equal(ref.code, 0, `the uninterrupted run failed: ${ref.stderr.slice(-3000)}`);
    const refJson = lastJson(ref.stdout);
    assert.ok(refJson?.snapgc?.activityhash, 'the uninterrupted run printed no activity hash');
    assert.equal(refJson.blocks, BLOCKS);
    const refHash = refJson.snapgc.activityhash;

    let kills = 0;
    let episodes = 0;
    const byPoint = {};
    let resumedChecks = 0;
    while (kills < KILLS) {
      episodes += 1;
      const store = path.join(root, `ep${episodes}`);
      for (;;) {
        const wantKill = kills < KILLS;
        let env = {};
        let killAfterMs;
        let what = 'finish';
        if (wantKill) {
          if (next() < 0.25) {
            killAfterMs = 400 + Math.floor(next() * 7000);
            what = `timer ${killAfterMs} ms`;
          } else {
            const names = Object.keys(POINTS);
            const point = names[Math.floor(next() * names.length)];
            const n = 1 + Math.floor(next() * POINTS[point]);
            env = { REAL_KERNEL_KILL_AT: `${point}:${n}` };
            what = `${point}:${n}`;
          }
        }
        const r = await mainRun(store, { env, killAfterMs });
        if (r.signal === 'SIGKILL') {
          kills += 1;
          const key = what.startsWith('timer') ? 'timer' : what.split(':')[0];
          byPoint[key] = (byPoint[key] ?? 0) + 1;
          // As a restarting node opens it: nothing SQLite names may be missing from snapgc.
          const c = await checkRun(store, false);
          assert.equal(c.refused, undefined, `after kill ${kills} (${what}) the store refused to open: ${c.message}`);
          assert.deepEqual(c.missing, [], `after kill ${kills} (${what}) SQLite names snapshots snapgc lacks`);
          assert.deepEqual(c.load_errors, [], `after kill ${kills} (${what}) snapshots do not load`);
          resumedChecks += 1;
          continue;
        }
        assert.equal(r.code, 0, `episode ${episodes}: the host failed after a restart (${what}): ${r.stderr.slice(-3000)}`);
        const j = lastJson(r.stdout);
        assert.ok(j, `episode ${episodes}: no JSON from the host`);
        if (j.blocks < BLOCKS) continue; // cannot happen (the host runs to --blocks), but be safe
        assert.equal(j.snapgc.activityhash, refHash, `episode ${episodes}: the final activity hash differs from the uninterrupted run's`);
        const c = await checkRun(store, true);
        assert.equal(c.refused, undefined, `episode ${episodes}: the final store refused to open: ${c.message}`);
        assert.deepEqual(c.missing, []);
        assert.deepEqual(c.load_errors, []);
        assert.equal(c.activityhash, refHash);
        if (!c.control) {
          assert.equal(c.extra, 0, `episode ${episodes}: after a final gc snapgc still holds ${c.extra} blobs SQLite does not name`);
          assert.equal(c.temp, 0, `episode ${episodes}: temp files left in snapgc`);
        }
        console.log(`crash test: episode ${episodes} done after ${kills} kills in all: final activity hash equal, ${c.blobs ?? '-'} blobs = ${c.needed ?? '-'} named by SQLite`);
        fs.rmSync(store, { recursive: true, force: true });
        break;
      }
    }
    console.log(
      `crash test: ${kills} kills (${Object.entries(byPoint).map(([k, v]) => `${k} ${v}`).join(', ')}), ${resumedChecks} restarted stores checked, ${episodes} episodes, ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

// The mutation the crash test must catch: @snapgc/swing-store committing SQLite before snapgc
// (REAL_KERNEL_COMMIT_ORDER=sqlite-first), killed between the two commits of a block that saved
// snapshots. The restarted store must not pass the checker.
test('real kernel: the wrong commit order (SQLite first) killed between the commits is caught', { skip: why ?? (process.env.REAL_KERNEL_SNAPGC_SIDE === 'stock' ? 'stock control run' : false), timeout: 600_000 }, async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-real-kernel-mutant-'));
  try {
    const store = path.join(root, 'mutant');
    // block 1 (bootstrap) saves snapshots: die after its SQLite commit, before snapgc's
    const r = await mainRun(store, { env: { REAL_KERNEL_COMMIT_ORDER: 'sqlite-first', REAL_KERNEL_KILL_AT: 'after-sqlite-commit:2' } });
    assert.equal(r.signal, 'SIGKILL', `the mutant host was not killed (exit ${r.code}): ${r.stderr.slice(-2000)}`);
    const c = await checkRun(store, false);
    const caught = c.refused !== undefined || c.missing.length > 0 || c.load_errors.length > 0;
    assert.ok(caught, `the wrong commit order went unnoticed: ${JSON.stringify(c)}`);
    console.log(`crash test mutation: caught (${c.refused ?? `${c.missing.length} missing, ${c.load_errors.length} unloadable`})`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
