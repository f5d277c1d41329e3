// State sync of the real kernel's store: a short real-kernel run (both sides identical), then
//   A. @snapgc/swing-store's makeSwingStoreExporter over the snapgc side -> Agoric's
//      importSwingStore;
//   B. Agoric's makeSwingStoreExporter over the stock side -> @snapgc/swing-store's
//      importSwingStore;
// each round-trips with export data, artifact names and artifact bytes equal to the stock run's,
// and the store B imported into loads every current snapshot through the kernel's snapStore.
import '@endo/init';
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.join(path.dirname(here), 'src', 'main.js');
const require = createRequire(import.meta.url);

function missingPrerequisite() {
  try {
    const xsnapDir = path.dirname(require.resolve('@agoric/xsnap/package.json'));
    if (!fs.existsSync(path.join(xsnapDir, 'xsnap-native/xsnap/build/bin/lin/release/xsnap-worker'))) {
      return 'the xsnap worker is not built; run npm --prefix js/real-kernel run setup';
    }
    require('better-sqlite3')(':memory:').close();
    const addon = path.join(path.dirname(fileURLToPath(import.meta.resolve('@snapgc/swing-store'))), '..', 'snapgc.node');
    if (!fs.existsSync(addon) && !process.env.SNAPGC_NODE_ADDON) return 'the snapgc binding is not built; run npm --prefix js/swing-store run build';
  } catch (e) {
    return `${e.message}; run npm --prefix js/real-kernel run setup`;
  }
  return null;
}

const why = missingPrerequisite();
if (why) console.log(`SKIP real-kernel state-sync test: ${why}`);

const sortedExportData = async exporter => {
  const all = [];
  for await (const [k, v] of exporter.getExportData()) all.push([k, v ?? null]);
  all.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return all;
};
const artifacts = async exporter => {
  const out = new Map();
  for await (const name of exporter.getArtifactNames()) {
    const h = crypto.createHash('sha256');
    let n = 0;
    for await (const chunk of exporter.getArtifact(name)) {
      h.update(chunk);
      n += chunk.length;
    }
    out.set(name, `${h.digest('hex')}/${n}`);
  }
  return out;
};
async function describeStore(mod, dir) {
  const exporter = mod.makeSwingStoreExporter(dir);
  try {
    return { exportData: await sortedExportData(exporter), artifacts: await artifacts(exporter) };
  } finally {
    await exporter.close();
  }
}

test('state sync of a real kernel store, both ways between @snapgc/swing-store and @agoric/swing-store', { skip: why ?? false, timeout: 900_000 }, async () => {
  const stock = await import('@agoric/swing-store');
  const snapgc = await import('@snapgc/swing-store');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-real-kernel-statesync-'));
  try {
    const store = path.join(root, 'run');
    const r = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [MAIN, '--blocks', '5', '--vats', '1', '--store', store, '--json', '--quiet', '--no-sink'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', d => (stdout += d));
      child.stderr.on('data', d => (stderr += d));
      child.on('error', reject);
      child.on('exit', code => resolve({ code, stdout, stderr }));
    });
    assert.equal(r.code, 0, `the real-kernel run failed: ${r.stderr.slice(-3000)}`);
    const run = JSON.parse(r.stdout);
    assert.equal(run.identical, true);
    assert.ok(run.snapgc.saves > 0, 'the run saved no snapshot');

    const reference = await describeStore(stock, path.join(store, 'stock'));
    const ours = await describeStore(snapgc, path.join(store, 'snapgc'));
    assert.deepEqual(ours.exportData, reference.exportData, 'export data of the snapgc side differs from stock');
    assert.deepEqual([...ours.artifacts.entries()], [...reference.artifacts.entries()], 'artifacts of the snapgc side differ from stock');
    assert.ok([...reference.artifacts.keys()].some(n => n.startsWith('snapshot.')), 'no snapshot artifact exported');

    // A. ours -> Agoric's importer
    {
      const exporter = snapgc.makeSwingStoreExporter(path.join(store, 'snapgc'));
      const dirA = path.join(root, 'imported-by-agoric');
      const imported = await stock.importSwingStore(exporter, dirA);
      await imported.hostStorage.commit();
      await imported.hostStorage.close(); // (the importer closed the exporter)
      const a = await describeStore(stock, dirA);
      assert.deepEqual(a.exportData, reference.exportData, 'A: export data after import differs');
      assert.deepEqual([...a.artifacts.entries()], [...reference.artifacts.entries()], 'A: artifacts after import differ');
    }
    // B. Agoric's exporter -> ours
    {
      const exporter = stock.makeSwingStoreExporter(path.join(store, 'stock'));
      const dirB = path.join(root, 'imported-by-snapgc');
      const imported = await snapgc.importSwingStore(exporter, dirB);
      await imported.hostStorage.commit();
      await imported.hostStorage.close(); // (the importer closed the exporter)
      const b = await describeStore(snapgc, dirB);
      assert.deepEqual(b.exportData, reference.exportData, 'B: export data after import differs');
      assert.deepEqual([...b.artifacts.entries()], [...reference.artifacts.entries()], 'B: artifacts after import differ');
      // the imported store serves every current snapshot to a kernel (hash-verified loads)
      const reopened = snapgc.openSwingStore(dirB);
      try {
        const db = reopened.internal?.db ?? reopened.debug.getDatabase();
        const rows = db.prepare('SELECT vatID, hash FROM snapshots WHERE inUse = 1').all();
        assert.ok(rows.length > 0);
        for (const { vatID, hash } of rows) {
          const h = crypto.createHash('sha256');
          for await (const c of reopened.kernelStorage.snapStore.loadSnapshot(vatID)) h.update(c);
          assert.equal(h.digest('hex'), hash, `B: ${vatID} loads other bytes`);
        }
      } finally {
        await reopened.hostStorage.close();
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
