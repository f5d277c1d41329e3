// The crash test's checker: opens a real-kernel store's snapgc side (DIR/snapgc) with
// @snapgc/swing-store, as a restarting node would (its reconcile refuses to start when SQLite
// names a snapshot snapgc lacks), and checks it:
//   - every snapshot the committed SQLite names (rows in use) has its blob in snapgc;
//   - every in-use snapshot loads in full through the kernel's snapStore (hash-verified);
//   - with --final: after grace+1 more epochs (each followed by gc), snapgc holds exactly
//     the blobs SQLite names and no temp file (the leftovers of the kills are reclaimed).
// Prints one JSON line; exit 0 when it could check (the verdict is in the JSON), 3 when the
// store refused to open.
//
//   node src/check-store.js STORE_DIR [--final]
import '@endo/init';
import fs from 'node:fs';
import path from 'node:path';

const [storeDir, ...rest] = process.argv.slice(2);
const final = rest.includes('--final');
const control = process.env.REAL_KERNEL_SNAPGC_SIDE === 'stock';
const mod = control ? await import('@agoric/swing-store') : await import('@snapgc/swing-store');
const dir = path.join(storeDir, 'snapgc');

const out = { dir, final, control };
let ss;
try {
  ss = mod.openSwingStore(dir, {});
} catch (e) {
  console.log(JSON.stringify({ ...out, refused: e.code ?? 'ERROR', message: e.message }));
  process.exit(3);
}
const db = ss.internal?.db ?? ss.debug.getDatabase();
const rows = db.prepare('SELECT vatID, snapPos, hash, inUse FROM snapshots').all();
const inUse = rows.filter(r => r.inUse);
out.rows = rows.length;
out.in_use = inUse.length;
out.height = Number(ss.hostStorage.kvStore.get('host.height') ?? 0);
out.activityhash = ss.kernelStorage.getActivityhash();

const snapgc = control ? null : ss.debug.getSnapgc();
const snapgcDir = control ? null : ss.debug.snapgcDir;
const blobFiles = () =>
  new Set(
    (fs.existsSync(path.join(snapgcDir, 'snapshots')) ? fs.readdirSync(path.join(snapgcDir, 'snapshots')) : [])
      .filter(n => n.endsWith('.lz4'))
      .map(n => n.slice(0, -4)),
  );
const tempFiles = () =>
  fs.existsSync(path.join(snapgcDir, 'tmp')) ? fs.readdirSync(path.join(snapgcDir, 'tmp')) : [];

out.missing = control ? [] : inUse.filter(r => !snapgc.has(r.hash)).map(r => `${r.vatID}@${r.snapPos}`);
out.load_errors = [];
out.loaded = 0;
out.loaded_bytes = 0;
for (const r of inUse) {
  try {
    for await (const chunk of ss.kernelStorage.snapStore.loadSnapshot(r.vatID)) out.loaded_bytes += chunk.length;
    out.loaded += 1;
  } catch (e) {
    out.load_errors.push(`${r.vatID}@${r.snapPos}: ${e.code ?? ''} ${e.message}`);
  }
}
if (!control) {
  if (final) {
    // The grace counts epochs, and a commit that changes nothing is no epoch: advance snapgc's
    // epoch grace+1 times with a key outside the root pattern, collecting after each commit.
    await ss.hostStorage.commit();
    const grace = Number((await snapgc.gc()).grace || 2);
    let swept = 0;
    for (let i = 0; i <= grace + 1; i += 1) {
      snapgc.set('check.final', String(i));
      await snapgc.commit();
      swept += (await snapgc.gc()).swept;
    }
    snapgc.delete('check.final');
    await snapgc.commit();
    swept += (await snapgc.gc()).swept;
    out.grace = grace;
    out.final_swept = swept;
  }
  const needed = new Set(inUse.map(r => r.hash));
  const blobs = blobFiles();
  out.blobs = blobs.size;
  out.needed = needed.size;
  out.extra = [...blobs].filter(h => !needed.has(h)).length;
  out.temp = tempFiles().length;
}
await ss.hostStorage.close();
console.log(JSON.stringify(out));
