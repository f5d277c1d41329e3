// @ts-check
// openSwingStore / initSwingStore: @agoric/swing-store 0.10.0 itself (its SQLite, kvStore,
// transcripts, bundles, crank savepoints, activity hash, export data), with the snapStore's
// bytes in snapgc and a commit protocol across the two stores (docs/NODE.md).
//
// Stock `makeSwingStore` is used as is: its `wrapSnapStore` hook substitutes our snapStore (a
// delegate bound once the SQLite handle exists), and the host facet's `commit` / `close` are
// wrapped. Two stock internals are re-created on the same connection because stock does not
// hand them to a snapStore wrapper: `ensureTxn` (BEGIN IMMEDIATE unless in a transaction) and
// `noteExport` (a row in stock's `pendingExports` table when an exportCallback is set).

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Fail, q } from '@endo/errors';
import {
  initSwingStore as stockInitSwingStore,
  openSwingStore as stockOpenSwingStore,
  makeSnapStoreIO,
} from '@agoric/swing-store';

import { openNative } from './native.js';
import {
  makeSnapStore,
  listSnapgcRows,
  rootKey,
  rootValue,
  ROOT_PATTERN,
  ROOT_PREFIX,
} from './snapStore.js';
import { snapgcError, ErrorCodes } from './errors.js';
import { registerSnapgc, unregisterSnapgc, lookupSnapgc } from './registry.js';

/** The SQLite table where this package keeps its own metadata (not consensus). */
export const META_TABLE = 'snapgcMeta';

/** Temp directories of ephemeral (path null) stores, removed at close or at exit. */
const tempDirs = new Set();
let exitHookSet = false;
function noteTempDir(dir) {
  tempDirs.add(dir);
  if (!exitHookSet) {
    exitHookSet = true;
    process.once('exit', () => {
      for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
    });
  }
}

/** Every method of a 0.10.0 snapStore (stock's internal object), forwarded by the delegate. */
const SNAPSTORE_METHODS = /** @type {const} */ ([
  'saveSnapshot',
  'loadSnapshot',
  'deleteAllUnusedSnapshots',
  'deleteVatSnapshots',
  'stopUsingLastSnapshot',
  'getSnapshotInfo',
  'getExportRecords',
  'getArtifactNames',
  'exportSnapshot',
  'importSnapshotRecord',
  'populateSnapshot',
  'assertComplete',
  'repairSnapshotRecord',
  'hasHash',
  'listAllSnapshots',
  'dumpSnapshots',
  'deleteSnapshotByHash',
]);

/** Commit steps, in the order the protocol runs them (test hooks see each name). */
export const COMMIT_STEPS = /** @type {const} */ ([
  'before-snapgc-commit',
  'after-snapgc-commit',
  'after-sqlite-commit',
  'after-gc',
]);

/**
 * Where the snapgc store of a swing-store lives.
 *
 * @param {string | null} dirPath
 * @param {{ asFile?: boolean, snapgc?: { dir?: string } }} options
 * @returns {string | null} null: an ephemeral store (a temp directory)
 */
export function snapgcDirFor(dirPath, options = {}) {
  const explicit = options.snapgc?.dir;
  if (explicit) return path.resolve(explicit);
  if (dirPath === null) return null;
  if (options.asFile) return path.resolve(`${dirPath}.snapgc`);
  return path.resolve(dirPath, 'snapgc');
}

/**
 * @param {import('better-sqlite3').Database} db
 * @returns {number | undefined} the snapgc epoch recorded by the last committed block
 */
function readRecordedEpoch(db) {
  const exists = db
    .prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`)
    .get(META_TABLE);
  if (!exists) return undefined;
  const row = /** @type {{ value: string } | undefined} */ (
    db.prepare(`SELECT value FROM ${META_TABLE} WHERE key = 'epoch'`).get()
  );
  return row === undefined ? undefined : Number(row.value);
}

/** The snapgc kv key naming the swing-store a snapgc store belongs to (not a root). */
export const STORE_ID_KEY = 'swingstore.id';

/**
 * Pairs the two stores at open: SQLite's `snapgcMeta.storeId` (written at the first open, before
 * any snapgc commit) must be the snapgc store's `swingstore.id` when it has one; a snapgc store
 * without one adopts SQLite's (staged: durable with the next snapgc commit). Refuses
 * (SNAPGC_RECONCILE_FOREIGN) a snapgc store that belongs to another swing-store: the reconcile
 * would drop that store's roots and the collector delete its snapshots.
 *
 * @param {import('better-sqlite3').Database} db  not inside a transaction
 * @param {import('./native.js').SnapgcStore} snapgc
 * @param {string} snapgcDir
 * @param {boolean} writable
 */
export function pairStores(db, snapgc, snapgcDir, writable) {
  const hasMeta = db
    .prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`)
    .get(META_TABLE);
  let sqlId = hasMeta
    ? /** @type {string | undefined} */ (
        db.prepare(`SELECT value FROM ${META_TABLE} WHERE key = 'storeId'`).pluck().get()
      )
    : undefined;
  const snapgcId = snapgc.getCommitted(STORE_ID_KEY) ?? undefined;
  if (sqlId === undefined) {
    if (!writable) return;
    sqlId = randomUUID();
    db.prepare(`INSERT INTO ${META_TABLE} (key, value) VALUES ('storeId', ?)`).run(sqlId);
  }
  if (snapgcId !== undefined && snapgcId !== sqlId) {
    throw snapgcError(
      ErrorCodes.RECONCILE_FOREIGN,
      `snapgc store ${snapgcDir} belongs to another swing-store (its id ${snapgcId}, this swing-store's ${sqlId}); opening would drop that store's roots: refusing to start (give this swing-store its own snapgc.dir)`,
      { snapgcId, sqlId },
    );
  }
  if (snapgcId === undefined && writable) snapgc.set(STORE_ID_KEY, sqlId);
}

/**
 * The reconcile at open: every snapshot the committed SQLite keeps in snapgc must have a
 * committed root naming it and its blob; SQLite's recorded snapgc epoch must not be ahead of
 * snapgc's. Returns the committed roots (a Map) and the keys SQLite needs; throws a
 * SNAPGC_RECONCILE_* error naming the vat and position otherwise.
 *
 * @param {import('better-sqlite3').Database} db  not inside a transaction
 * @param {import('./native.js').SnapgcStore} snapgc  no open block
 * @param {string} snapgcDir
 */
export function reconcile(db, snapgc, snapgcDir) {
  const recorded = readRecordedEpoch(db);
  const epoch = snapgc.epoch();
  if (recorded !== undefined && recorded > epoch) {
    throw snapgcError(
      ErrorCodes.RECONCILE_EPOCH,
      `snapgc store ${snapgcDir} is at epoch ${epoch}, but the swing-store's SQLite recorded epoch ${recorded}: the snapgc store is older than the SQLite state (restored from an older backup, or another directory?); refusing to start`,
      { recordedEpoch: recorded, snapgcEpoch: epoch },
    );
  }
  /** @type {Map<string, string>} */
  const roots = new Map(snapgc.scanPrefix(ROOT_PREFIX));
  /** @type {Map<string, string>} */
  const needed = new Map();
  for (const { vatID, snapPos, hash } of listSnapgcRows(db)) {
    const key = rootKey(vatID, snapPos);
    const want = rootValue(hash, snapPos);
    needed.set(key, want);
    const root = snapgc.getCommitted(key);
    if (root == null) {
      // (the binding answers null or undefined for an absent key)
      throw snapgcError(
        ErrorCodes.RECONCILE_MISSING,
        `vat ${vatID}: the committed swing-store names snapshot ${hash} at position ${snapPos}, but snapgc store ${snapgcDir} (epoch ${epoch}) has no committed root for it; refusing to start`,
        { vatID, snapPos, hash },
      );
    }
    if (root !== want) {
      throw snapgcError(
        ErrorCodes.RECONCILE_MISMATCH,
        `vat ${vatID}: the committed swing-store names snapshot ${hash} at position ${snapPos}, but snapgc's committed root ${key} is ${root}; refusing to start`,
        { vatID, snapPos, hash, root },
      );
    }
    if (!snapgc.has(hash)) {
      throw snapgcError(
        ErrorCodes.RECONCILE_MISSING,
        `vat ${vatID}: the committed swing-store names snapshot ${hash} at position ${snapPos}, but snapgc store ${snapgcDir} has no blob for it; refusing to start`,
        { vatID, snapPos, hash },
      );
    }
  }
  return { roots, needed, recordedEpoch: recorded, epoch };
}

/**
 * @typedef {object} SnapgcOptions
 * @property {string} [dir]  the snapgc store's directory (default `<dirPath>/snapgc`)
 * @property {number} [grace]  the collector's grace, in commits (the store's default: 2)
 * @property {string | null} [archive]  an archive for swept history (a directory or s3://...)
 * @property {string | null} [metricsFile]
 * @property {boolean} [gc]  run snapgc's collector after each commit (default true)
 * @property {(step: string) => void} [onCommitStep]  test hook: called at each commit step
 * @property {'snapgc-first' | 'sqlite-first'} [commitOrder]  test only: 'sqlite-first' is the
 *   WRONG order, a mutation the crash test must catch
 *
 * @typedef {import('@agoric/swing-store').SwingStoreOptions & { snapgc?: SnapgcOptions }} SnapgcSwingStoreOptions
 */

/**
 * @param {string | null} dirPath
 * @param {boolean} forceReset
 * @param {SnapgcSwingStoreOptions} options
 */
function makeSnapgcSwingStore(dirPath, forceReset, options = {}) {
  const {
    snapgc: snapgcOptions = {},
    wrapSnapStore: userWrapSnapStore = x => x,
    keepSnapshots,
    archiveSnapshot,
    exportCallback,
    readonly = false,
    ...stockOptions
  } = options;
  const {
    grace,
    archive,
    metricsFile,
    gc: gcAfterCommit = true,
    onCommitStep = () => {},
    commitOrder = 'snapgc-first',
  } = snapgcOptions;
  commitOrder === 'snapgc-first' ||
    commitOrder === 'sqlite-first' ||
    Fail`invalid snapgc.commitOrder ${q(commitOrder)}`;

  let snapgcDir = snapgcDirFor(dirPath, options);
  let tempDir = null;
  if (snapgcDir === null) {
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-ephemeral-'));
    snapgcDir = tempDir;
  } else if (forceReset && options.snapgc?.dir) {
    fs.rmSync(snapgcDir, { recursive: true, force: true });
  }

  /** @type {ReturnType<typeof makeSnapStore> | undefined} */
  let impl;
  const delegate = Object.fromEntries(
    SNAPSTORE_METHODS.map(name => [
      name,
      (...args) => {
        impl || Fail`snapStore used before the store was open`;
        return /** @type {any} */ (impl)[name](...args);
      },
    ]),
  );

  const open = forceReset ? stockInitSwingStore : stockOpenSwingStore;
  const stockStore = open(/** @type {any} */ (dirPath), {
    ...stockOptions,
    keepSnapshots,
    archiveSnapshot,
    exportCallback,
    readonly,
    wrapSnapStore: () => /** @type {any} */ (userWrapSnapStore(delegate)),
  });
  const { kernelStorage, hostStorage: stockHost, debug, internal } = stockStore;
  const db = /** @type {import('better-sqlite3').Database} */ (internal.db);

  const cleanupTemp = () => {
    if (tempDir) {
      fs.rmSync(tempDir, { recursive: true, force: true });
      tempDirs.delete(tempDir);
    }
  };
  if (tempDir) noteTempDir(tempDir);

  /** @type {import('./native.js').SnapgcStore} */
  let snapgc;
  let ownHandle = true;
  try {
    if (!readonly) {
      db.exec(
        `CREATE TABLE IF NOT EXISTS ${META_TABLE} (key TEXT PRIMARY KEY, value TEXT)`,
      );
    }
    const existing = lookupSnapgc(snapgcDir);
    if (existing && readonly) {
      snapgc = existing;
      ownHandle = false;
    } else {
      snapgc = openNative(snapgcDir, {
        create: !readonly,
        rootPatterns: readonly ? undefined : [ROOT_PATTERN],
        grace,
        archive,
        metricsFile,
      });
    }
  } catch (err) {
    db.close();
    cleanupTemp();
    throw err;
  }

  /** committed snapgc roots, as the last snapgc commit left them */
  let committedRoots;
  /** the snapgc epoch the committed SQLite records */
  let lastRecordedEpoch;
  /** the roots the committed SQLite state needs */
  let sqlNeeded;
  try {
    ({
      roots: committedRoots,
      needed: sqlNeeded,
      recordedEpoch: lastRecordedEpoch,
    } = (pairStores(db, snapgc, snapgcDir, !readonly),
    reconcile(db, snapgc, snapgcDir)));
  } catch (err) {
    db.close();
    if (ownHandle) {
      snapgc.close().catch(() => {}).finally(cleanupTemp);
    }
    throw err;
  }
  if (ownHandle) registerSnapgc(snapgcDir, snapgc);

  const sqlBegin = db.prepare('BEGIN IMMEDIATE TRANSACTION');
  function ensureTxn() {
    if (!db.inTransaction) sqlBegin.run();
    return db;
  }
  const sqlAddPendingExport = db.prepare(`
    INSERT INTO pendingExports (key, value)
    VALUES (?, ?)
    ON CONFLICT DO UPDATE SET value = excluded.value
  `);
  /**
   * @param {string} key
   * @param {string | undefined} value
   */
  function noteExport(key, value) {
    if (exportCallback) sqlAddPendingExport.run(key, value);
  }

  impl = makeSnapStore(db, ensureTxn, makeSnapStoreIO(), noteExport, {
    keepSnapshots,
    archiveSnapshot,
    snapgc,
  });

  const sqlRecordEpoch = readonly
    ? undefined
    : db.prepare(
        `INSERT INTO ${META_TABLE} (key, value) VALUES ('epoch', ?)
         ON CONFLICT DO UPDATE SET value = excluded.value`,
      );

  /** @returns {Map<string, string>} */
  function neededNow() {
    return new Map(
      listSnapgcRows(db).map(({ vatID, snapPos, hash }) => [
        rootKey(vatID, snapPos),
        rootValue(hash, snapPos),
      ]),
    );
  }

  /**
   * Stage in snapgc every root `needed` lacks, and (when `removals`) the removal of committed
   * roots neither `needed` nor the committed SQLite state needs; then commit snapgc durably.
   *
   * @param {Map<string, string>} needed
   * @param {boolean} removals
   * @returns {Promise<boolean>} whether anything was committed
   */
  async function commitRoots(needed, removals) {
    /** @type {Array<[string, string | undefined]>} */
    const changes = [];
    for (const [key, value] of needed) {
      if (committedRoots.get(key) !== value) changes.push([key, value]);
    }
    if (removals) {
      for (const key of committedRoots.keys()) {
        if (!needed.has(key) && !sqlNeeded.has(key)) {
          changes.push([key, undefined]);
        }
      }
    }
    if (changes.length === 0) return false;
    try {
      for (const [key, value] of changes) {
        if (value === undefined) snapgc.delete(key);
        else snapgc.set(key, value);
      }
      onCommitStep('before-snapgc-commit');
      await snapgc.commit();
    } catch (err) {
      try {
        snapgc.abort();
      } catch {
        // the handle may be poisoned or closed; the original error says why
      }
      throw err;
    }
    for (const [key, value] of changes) {
      if (value === undefined) committedRoots.delete(key);
      else committedRoots.set(key, value);
    }
    return true;
  }

  /** the SQLite half: record snapgc's epoch and commit (synchronous: no JS runs between) */
  function commitSqlite() {
    if (!db.inTransaction) return false;
    const epoch = snapgc.epoch();
    if (epoch !== lastRecordedEpoch) sqlRecordEpoch?.run(String(epoch));
    lastRecordedEpoch = epoch;
    // stock commit: flush pendingExports to the exportCallback, COMMIT (synchronously; the
    // promise it returns resolves after)
    void stockHost.commit();
    return true;
  }

  /** @type {import('./native.js').GcReport | undefined} */
  let lastGcReport;
  /** @type {any} */
  let lastGcError;
  let committing = Promise.resolve();
  let closed = false;

  async function commitSnapgcFirst() {
    // (1) + (2): roots for every row the open transaction keeps in snapgc, durably committed
    await commitRoots(neededNow(), true);
    onCommitStep('after-snapgc-commit');
    // Anything that wrote SQLite while snapgc committed (a host not awaiting) must be rooted
    // too before SQLite commits: loop until the needed set is rooted, then commit SQLite in
    // the same synchronous stretch.
    let needed = neededNow();
    // eslint-disable-next-line no-await-in-loop
    while (await commitRoots(needed, false)) needed = neededNow();
    // (3): snapgc's epoch into SQLite, commit SQLite
    if (commitSqlite()) {
      // (4): the roots only the previous SQLite state needed are removed by the next commit
      sqlNeeded = needed;
    }
    onCommitStep('after-sqlite-commit');
  }

  async function commitSqliteFirst() {
    // THE WRONG ORDER (test mutation): SQLite commits rows snapgc has not rooted yet (it
    // records snapgc's epoch as it is, so only the missing roots can give it away).
    const needed = neededNow();
    if (db.inTransaction) sqlRecordEpoch?.run(String(snapgc.epoch()));
    void stockHost.commit();
    sqlNeeded = needed;
    onCommitStep('after-sqlite-commit');
    await commitRoots(needed, true);
    onCommitStep('after-snapgc-commit');
  }

  async function commitOnce() {
    !closed || Fail`swing-store closed`;
    if (readonly) {
      // nothing to commit (stock's readonly commit is a no-op too); never touch the snapgc
      // store, which may be the handle of a kernel running in this process
      await stockHost.commit();
      return;
    }
    if (commitOrder === 'sqlite-first') await commitSqliteFirst();
    else await commitSnapgcFirst();
    // (5): collect. Both stores are committed by now, so a failed collection does not fail
    // the commit (the block is durable; garbage only waits): it is kept for
    // debug.getLastGcError(), in snapgc's status.json / metrics, and said once on stderr. A
    // poisoned store fails the next commit before SQLite commits.
    if (gcAfterCommit) {
      try {
        lastGcReport = await snapgc.gc();
        lastGcError = undefined;
      } catch (err) {
        if (String(err?.message) !== String(lastGcError?.message)) {
          console.warn(`snapgc: collection after commit failed (${err?.code}): ${err?.message}`);
        }
        lastGcError = err;
      }
      onCommitStep('after-gc');
    }
  }

  /** Commit both stores (docs/NODE.md, the commit protocol), then collect. */
  function commit() {
    const p = committing.then(commitOnce);
    committing = p.catch(() => {});
    return p;
  }

  async function close() {
    await committing;
    closed = true;
    await stockHost.close();
    if (ownHandle) {
      unregisterSnapgc(/** @type {string} */ (snapgcDir), snapgc);
      try {
        snapgc.abort();
      } catch {
        // nothing staged, or already closed
      }
      await snapgc.close();
    }
    cleanupTemp();
  }

  const hostStorage = {
    ...stockHost,
    commit,
    close,
  };

  const snapgcDebug = {
    ...debug,
    /** the open snapgc store (the binding's handle; not hardened) */
    getSnapgc: () => snapgc,
    snapgcDir,
    /** the report of the collection after the last commit */
    getLastGcReport: () => lastGcReport,
    /** the error of the last collection after a commit, if it failed (undefined once one succeeds) */
    getLastGcError: () => lastGcError,
    /** the committed roots as this process last committed them */
    getCommittedRoots: () => new Map(committedRoots),
  };

  return harden({
    kernelStorage,
    hostStorage,
    debug: snapgcDebug,
    internal,
  });
}

/**
 * Create a new swing-store at `dirPath` (overwriting one there), snapshot bytes in snapgc.
 *
 * @param {string | null} [dirPath]
 * @param {SnapgcSwingStoreOptions} [options]
 */
export function initSwingStore(dirPath = null, options = {}) {
  if (dirPath) {
    typeof dirPath === 'string' || Fail`path must be a string`;
  }
  return makeSnapgcSwingStore(dirPath, true, options);
}

/**
 * Open (or create) the swing-store at `dirPath`, snapshot bytes in snapgc; refuses to start
 * (SNAPGC_RECONCILE_*) when the committed SQLite names a snapshot snapgc does not keep.
 *
 * @param {string} dirPath
 * @param {SnapgcSwingStoreOptions} [options]
 */
export function openSwingStore(dirPath, options = {}) {
  typeof dirPath === 'string' || Fail`path must be a string`;
  return makeSnapgcSwingStore(dirPath, false, options);
}
