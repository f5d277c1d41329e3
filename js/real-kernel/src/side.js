// One kernel on one store: the real @agoric/swingset-vat kernel, xsnap workers, on a swing-store
// opened with the given `openSwingStore` (stock @agoric/swing-store or @snapgc/swing-store: same
// signature, same return shape). Both sides of the job are built by this one function.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import {
  initializeSwingset,
  makeSwingsetController,
  swingsetIsInitialized,
} from '@agoric/swingset-vat';
import { wrapSnapStoreWithTimers } from './timing.js';
import { contractNames, MAX_DYNAMIC } from './workload.js';

export const HEIGHT_KEY = 'host.height';
export const VATS_KEY = 'host.vats';

/**
 * The SwingSet config: the job's static vats on xsnap, the dynamic vats' bundle by name.
 *
 * @param {{ vats: number, bundles: { vatBundles: Record<string, any> }, snapshotInterval: number }} o
 */
export function makeConfig({ vats, bundles, snapshotInterval }) {
  const { vatBundles } = bundles;
  const config = {
    bootstrap: 'bootstrap',
    defaultManagerType: 'xsnap',
    defaultReapInterval: 5,
    snapshotInitial: 2,
    snapshotInterval,
    bundles: { dyn: { bundle: vatBundles.dyn } },
    vats: {
      bootstrap: { bundle: vatBundles.bootstrap, parameters: { maxDynamic: MAX_DYNAMIC } },
      transport: { bundle: vatBundles.transport },
    },
  };
  for (const name of contractNames(vats)) {
    config.vats[name] = { bundle: vatBundles.contract, parameters: { name } };
  }
  return config;
}

/**
 * Opens (or creates) a side: its store, the kernel on it, pinned vat roots.
 *
 * @param {{
 *   name: string,
 *   dir: string,
 *   openSwingStore: (dir: string, options?: any) => any,
 *   storeOptions?: Record<string, any>,
 *   bundles: { kernelBundles: Record<string, any>, vatBundles: Record<string, any> },
 *   vats: number,
 *   snapshotInterval: number,
 *   maxVatsOnline: number,
 *   hooks?: { onSave?: (phase: string) => void },
 * }} o
 */
export async function openSide(o) {
  const { name, dir, bundles, vats } = o;
  fs.mkdirSync(dir, { recursive: true });
  // export data as the store emits it at each commit, digested per block
  let exportDigest = crypto.createHash('sha256');
  let exportRecords = 0;
  const exportCallback = updates => {
    for (const [k, v] of updates) {
      exportDigest.update(`${k}\n${v === null || v === undefined ? '\u0000' : v}\n`);
      exportRecords += 1;
    }
  };
  const t0 = performance.now();
  const swingStore = o.openSwingStore(dir, { ...(o.storeOptions ?? {}), exportCallback });
  const openMs = performance.now() - t0;
  const { kernelStorage, hostStorage } = swingStore;
  const timed = wrapSnapStoreWithTimers(kernelStorage.snapStore, o.hooks);
  const storage = { ...kernelStorage, snapStore: timed.snapStore };

  let initialized = swingsetIsInitialized(storage);
  if (!initialized) {
    const config = makeConfig({ vats, bundles, snapshotInterval: o.snapshotInterval });
    await initializeSwingset(config, [], storage, { kernelBundles: bundles.kernelBundles });
    hostStorage.kvStore.set(HEIGHT_KEY, '0');
    hostStorage.kvStore.set(VATS_KEY, String(vats));
    await hostStorage.commit();
  }
  const height = Number(hostStorage.kvStore.get(HEIGHT_KEY) ?? '0');
  const createdWith = hostStorage.kvStore.get(VATS_KEY);
  if (createdWith !== undefined && Number(createdWith) !== vats) {
    await hostStorage.close();
    throw Error(`${dir} was created with --vats ${createdWith}; run it with --vats ${createdWith} (or a new --store)`);
  }
  const t1 = performance.now();
  const controller = await makeSwingsetController(
    storage,
    {},
    {
      kernelBundle: bundles.kernelBundles.kernel,
      warehousePolicy: { maxVatsOnline: o.maxVatsOnline },
      env: {},
    },
  );
  const startMs = performance.now() - t1;
  const pinned = new Set();
  const pin = vat => {
    if (!pinned.has(vat)) {
      controller.pinVatRoot(vat);
      pinned.add(vat);
    }
  };

  return {
    name,
    dir,
    swingStore,
    kernelStorage,
    hostStorage,
    controller,
    height,
    openMs,
    startMs,
    created: !initialized,
    pin,
    takeTimers: () => timed.takeTimers(),
    /** The export-data digest and record count since the last call (one block's updates). */
    takeExport() {
      const d = exportDigest.digest('hex');
      const n = exportRecords;
      exportDigest = crypto.createHash('sha256');
      exportRecords = 0;
      return { digest: d, records: n };
    },
  };
}

/** sha256 of every transcript item and span row in the side's SQLite (the transcripts check). */
export function transcriptDigest(db) {
  const h = crypto.createHash('sha256');
  let items = 0;
  for (const row of db
    .prepare('SELECT vatID, position, item FROM transcriptItems ORDER BY vatID, position')
    .raw(true)
    .iterate()) {
    h.update(`${row[0]}\n${row[1]}\n${row[2]}\n`);
    items += 1;
  }
  let spans = 0;
  for (const row of db
    .prepare(
      'SELECT vatID, startPos, endPos, hash, isCurrent, incarnation FROM transcriptSpans ORDER BY vatID, startPos',
    )
    .raw(true)
    .iterate()) {
    h.update(`${row.join('|')}\n`);
    spans += 1;
  }
  return { digest: h.digest('hex'), items, spans };
}

/** Stock's own accounting of stored snapshot bytes: rows still holding their gzip bytes. */
export function sqliteSnapshotBytes(db) {
  const r = db
    .prepare(
      'SELECT COUNT(*) AS n, COALESCE(SUM(compressedSize), 0) AS bytes, COALESCE(SUM(uncompressedSize), 0) AS raw FROM snapshots WHERE compressedSnapshot IS NOT NULL',
    )
    .get();
  const all = db
    .prepare('SELECT COUNT(*) AS n, COALESCE(SUM(compressedSize), 0) AS bytes FROM snapshots')
    .get();
  return { files: r.n, bytes: r.bytes, raw: r.raw, rows: all.n, rows_gzip_bytes: all.bytes };
}

/** Blob files of a snapgc store directory and their bytes on disk (`<dir>/snapshots/*.lz4`). */
export function snapgcBlobBytes(snapgcDir) {
  let files = 0;
  let bytes = 0;
  let names;
  try {
    names = fs.readdirSync(path.join(snapgcDir, 'snapshots'));
  } catch {
    return { files, bytes };
  }
  for (const n of names) {
    if (!n.endsWith('.lz4')) continue;
    try {
      bytes += fs.statSync(path.join(snapgcDir, 'snapshots', n)).size;
      files += 1;
    } catch {
      // swept meanwhile
    }
  }
  return { files, bytes };
}

/** Total bytes of the files under `dir` (recursively). */
export function duBytes(dir) {
  let total = 0;
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += duBytes(p);
    else {
      try {
        total += fs.statSync(p).size;
      } catch {
        // gone
      }
    }
  }
  return total;
}
