// @ts-check
// State-sync export of a swing-store whose snapshot bytes are in snapgc: stock's exporter
// (0.10.0 src/exporter.js, which builds its own stores from the SQLite file and so cannot be
// handed ours) re-assembled with our snapStore. Same export data, artifact names and bytes.
//
// The export is a fixed view of the last commit: one SQLite read transaction, and a snapgc
// lease on every snapshot that view keeps in snapgc, taken in the same synchronous stretch as
// the first read. Within a process that has the store open (the kernel's), the exporter reads
// through that handle; otherwise it opens the snapgc directory itself (which fails with
// SNAPGC_IN_USE or a lock error while another process holds it).

import sqlite3 from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';

import { Fail, q } from '@endo/errors';
import {
  makeBundleStore,
  makeTranscriptStore,
  makeSnapStoreIO,
  getKeyType,
} from '@agoric/swing-store';

import { openNative } from './native.js';
import { makeSnapStore, listSnapgcRows } from './snapStore.js';
import { lookupSnapgc } from './registry.js';
import { snapgcDirFor } from './swingStore.js';

export const artifactModes = ['operational', 'replay', 'archival', 'debug'];

/** @param {string} artifactMode */
export function validateArtifactMode(artifactMode) {
  if (!artifactModes.includes(artifactMode)) {
    Fail`invalid artifactMode ${q(artifactMode)}`;
  }
}

/**
 * stock src/assertComplete.js (not exported by the package)
 *
 * @param {{ bundleStore: any, transcriptStore: any, snapStore: any }} internal
 * @param {string} checkMode
 */
export function assertComplete(internal, checkMode) {
  internal.bundleStore.assertComplete(checkMode);
  internal.transcriptStore.assertComplete(checkMode);
  internal.snapStore.assertComplete(checkMode);
}

/**
 * Stands in for the snapgc store of a swing-store that has none (written by stock): nothing
 * to lease, nothing to read, nothing to close.
 *
 * @param {string} dir
 * @returns {any}
 */
function noSnapgcStore(dir) {
  const none = () => {
    throw Error(`no snapgc store at ${dir}`);
  };
  return { lease: none, openLoad: none, readSync: none, has: () => false, close: async () => {} };
}

/**
 * @typedef {object} ExportSwingStoreOptions
 * @property {import('@agoric/swing-store').ArtifactMode} [artifactMode]
 * @property {{ dir?: string }} [snapgc]  where the snapgc store is (default `<dirPath>/snapgc`)
 */

/**
 * @param {string} dirPath
 * @param {ExportSwingStoreOptions} [options]
 * @returns {import('@agoric/swing-store').SwingStoreExporter}
 */
export function makeSwingStoreExporter(dirPath, options = {}) {
  typeof dirPath === 'string' || Fail`dirPath must be a string`;
  const { artifactMode = 'operational' } = options;
  validateArtifactMode(artifactMode);

  const filePath = path.resolve(dirPath, 'swingstore.sqlite');
  const db = sqlite3(filePath);

  // One read transaction: the state of the last commit, whatever happens after.
  db.prepare('BEGIN TRANSACTION').run();
  // The first read fixes the snapshot of the database; lease what it keeps in snapgc at once.
  const snapgcRows = listSnapgcRows(db);

  const snapgcDir = /** @type {string} */ (snapgcDirFor(dirPath, options));
  let snapgc = lookupSnapgc(snapgcDir);
  const ownHandle = !snapgc;
  /** @type {import('./native.js').SnapgcLease[]} */
  const leases = [];
  try {
    if (!snapgc && snapgcRows.length === 0 && !fs.existsSync(snapgcDir)) {
      // a store stock swing-store wrote: every snapshot is gzip in SQLite
      snapgc = noSnapgcStore(snapgcDir);
    } else if (!snapgc) {
      snapgc = openNative(snapgcDir, { create: false });
    }
    const hashes = new Set(snapgcRows.map(r => r.hash));
    for (const hash of hashes) leases.push(snapgc.lease(hash));
  } catch (err) {
    for (const lease of leases) lease.release();
    db.prepare('ROLLBACK').run();
    db.close();
    throw err;
  }
  const handle = /** @type {import('./native.js').SnapgcStore} */ (snapgc);

  const ensureTxn = () => {};
  const snapStore = makeSnapStore(db, ensureTxn, makeSnapStoreIO(), () => {}, {
    snapgc: handle,
  });
  const bundleStore = makeBundleStore(db, ensureTxn, () => {});
  const transcriptStore = makeTranscriptStore(db, ensureTxn, () => {});

  const sqlKVGet = db.prepare(`
    SELECT value
    FROM kvStore
    WHERE key = ?
  `);
  sqlKVGet.pluck(true);

  /**
   * @param {string} key
   * @returns {string | undefined}
   */
  function getHostKV(key) {
    getKeyType(key) === 'host' || Fail`getHostKV requires host keys`;
    return /** @type {string | undefined} */ (sqlKVGet.get(key));
  }

  /** @type {any} */
  const sqlGetAllKVData = db.prepare(`
    SELECT key, value
    FROM kvStore
    ORDER BY key
  `);

  /** @returns {AsyncIterableIterator<import('@agoric/swing-store').KVPair>} */
  async function* getExportData() {
    for (const { key, value } of sqlGetAllKVData.iterate()) {
      if (getKeyType(key) === 'consensus') {
        yield [`kv.${key}`, value];
      }
    }
    yield* snapStore.getExportRecords(true);
    yield* transcriptStore.getExportRecords(true);
    yield* bundleStore.getExportRecords();
  }
  harden(getExportData);

  async function* generateArtifactNames() {
    yield* snapStore.getArtifactNames(artifactMode);
    yield* transcriptStore.getArtifactNames(artifactMode);
    yield* bundleStore.getArtifactNames();
  }
  harden(generateArtifactNames);

  /** @returns {AsyncIterableIterator<string>} */
  function getArtifactNames() {
    if (artifactMode !== 'debug') {
      assertComplete({ snapStore, bundleStore, transcriptStore }, artifactMode);
    }
    return generateArtifactNames();
  }

  /**
   * @param {string} name
   * @returns {AsyncIterableIterator<Uint8Array>}
   */
  function getArtifact(name) {
    typeof name === 'string' || Fail`artifact name must be a string`;
    const [type] = name.split('.', 1);
    if (type === 'snapshot') {
      return snapStore.exportSnapshot(name);
    } else if (type === 'transcript') {
      return transcriptStore.exportSpan(name);
    } else if (type === 'bundle') {
      return bundleStore.exportBundle(name);
    } else {
      throw Fail`invalid type in artifact name ${q(name)}`;
    }
  }

  const sqlAbort = db.prepare('ROLLBACK');
  let closed = false;

  async function close() {
    if (closed) return;
    closed = true;
    sqlAbort.run();
    db.close();
    for (const lease of leases) lease.release();
    if (ownHandle) await handle.close();
  }

  return harden({
    getHostKV,
    getExportData,
    getArtifactNames,
    getArtifact,
    close,
  });
}
