// @ts-check
// The snapStore of @agoric/swing-store 0.10.0 with the snapshot BYTES in snapgc.
//
// Every row, its metadata and its export-data records stay exactly as stock keeps them in the
// `snapshots` table: this module builds stock's own snapStore on the same db and replaces only
// the four methods that touch bytes (saveSnapshot, loadSnapshot, exportSnapshot,
// populateSnapshot). A row whose bytes live in snapgc carries a zero-length BLOB in
// `compressedSnapshot` (the "snapgc marker"): non-NULL, so stock's own rules for which rows
// have bytes (stopUsingLastSnapshot's pruning, getArtifactNames, assertComplete, deletion)
// apply unchanged, and the rows snapgc must keep are exactly
//   SELECT vatID, snapPos, hash FROM snapshots WHERE length(compressedSnapshot) = 0.
// A row with real gzip bytes (a store written by stock swing-store) is still read from SQLite.

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip, createGzip, gzipSync } from 'node:zlib';

import { Fail, q } from '@endo/errors';
import { makeSnapStore as makeStockSnapStore } from '@agoric/swing-store';

/** The `compressedSnapshot` value of a row whose bytes are in snapgc. */
export const SNAPGC_MARKER = Buffer.alloc(0);

/** Root keys in the snapgc store: one per (vatID, snapPos) whose bytes snapgc keeps. */
export const ROOT_PATTERN = 'snapshot.*.*';
export const ROOT_PREFIX = 'snapshot.';

/**
 * @param {string} vatID
 * @param {number} snapPos
 */
export const rootKey = (vatID, snapPos) => `snapshot.${vatID}.${snapPos}`;

/**
 * Agoric's root value, as snapgc's collector parses it.
 *
 * @param {string} hash
 * @param {number} snapPos
 */
export const rootValue = (hash, snapPos) =>
  `{"snapshotID":"${hash}","startPos":{"itemCount":${snapPos}}}`;

/**
 * @param {unknown} compressedSnapshot
 * @returns {boolean}
 */
export const isSnapgcMarker = compressedSnapshot =>
  Buffer.isBuffer(compressedSnapshot) && compressedSnapshot.length === 0;

/**
 * The rows whose bytes snapgc must keep, as the connection sees them (inside its open
 * transaction if there is one).
 *
 * @param {import('better-sqlite3').Database} db
 * @returns {Array<{ vatID: string, snapPos: number, hash: string }>}
 */
export function listSnapgcRows(db) {
  return /** @type {any[]} */ (
    db
      .prepare(
        `SELECT vatID, snapPos, hash FROM snapshots
         WHERE compressedSnapshot IS NOT NULL AND length(compressedSnapshot) = 0
         ORDER BY vatID, snapPos`,
      )
      .all()
  );
}

/**
 * The bytes of one snapgc blob, chunk by chunk, under the load's lease (the sweep never takes
 * a blob being read). The binding verifies length and sha256 before it hands over the last chunk.
 *
 * @param {import('./native.js').SnapgcStore} snapgc
 * @param {string} hash
 * @returns {AsyncGenerator<Buffer, void, undefined>}
 */
export async function* readSnapgcBlob(snapgc, hash) {
  // openLoad holds its own lease for as long as the load runs
  const load = await snapgc.openLoad(hash);
  try {
    for (;;) {
      const chunk = await load.read();
      if (chunk === null) break;
      yield chunk;
    }
  } finally {
    load.close();
  }
}

/**
 * Stock's path for a row with gzip bytes in SQLite: gunzip, and check the hash at the end.
 *
 * @param {Buffer} compressed
 * @param {string} hash
 * @param {string} what
 * @returns {AsyncGenerator<Buffer, void, undefined>}
 */
async function* readGzipRow(compressed, hash, what) {
  const hasher = createHash('sha256');
  const reader = Readable.from([compressed]).pipe(createGunzip());
  for await (const chunk of reader) {
    hasher.update(chunk);
    yield chunk;
  }
  const actual = hasher.digest('hex');
  actual === hash ||
    Fail`${q(what)}: actual hash ${q(actual)} !== expected ${q(hash)}`;
}

/**
 * Streams `snapshotStream` into snapgc. Always ends the stream with `return()` (under the
 * kernel's restartWorkerOnSnapshot the stream is a branch of a synchronizedTee, and the new
 * worker starts only once every branch returned), and aborts the save on any error.
 *
 * @param {import('./native.js').SnapgcStore} snapgc
 * @param {AsyncIterable<Uint8Array> | Iterable<Uint8Array>} snapshotStream
 * @returns {Promise<import('./native.js').SaveInfo>}
 */
export async function saveStreamToSnapgc(snapgc, snapshotStream) {
  const iterator =
    /** @type {AsyncIterator<Uint8Array> & { return?: Function }} */ (
      Symbol.asyncIterator in snapshotStream
        ? snapshotStream[Symbol.asyncIterator]()
        : /** @type {Iterable<Uint8Array>} */ (snapshotStream)[
            Symbol.iterator
          ]()
    );
  const save = snapgc.beginSave();
  let ok = false;
  try {
    for (;;) {
      const { done, value } = await iterator.next();
      if (done) break;
      if (value.length > 0) await save.write(value);
    }
    const info = await save.finish();
    ok = true;
    return info;
  } finally {
    if (!ok) save.abort();
    await iterator.return?.();
  }
}

/**
 * @typedef {import('@agoric/swing-store').SnapStore} SnapStore
 * @typedef {ReturnType<typeof makeStockSnapStore>} StockSnapStore
 * @typedef {object} SnapgcSnapStoreOptions
 * @property {boolean} [keepSnapshots]
 * @property {(name: string, compressedData: AsyncIterable<Uint8Array>) => Promise<void>} [archiveSnapshot]
 * @property {import('./native.js').SnapgcStore} snapgc an open snapgc store (required)
 */

/**
 * swing-store 0.10.0's internal factory, with `options.snapgc` the open snapgc store that
 * holds the bytes. Same signature, methods and results as stock's `makeSnapStore`.
 *
 * @param {import('better-sqlite3').Database} db
 * @param {() => void} ensureTxn
 * @param {{ measureSeconds: ReturnType<typeof import('@agoric/internal').makeMeasureSeconds> }} io
 * @param {(key: string, value: string | undefined) => void} [noteExport]
 * @param {SnapgcSnapStoreOptions} [options]
 * @returns {StockSnapStore}
 */
export function makeSnapStore(
  db,
  ensureTxn,
  io,
  noteExport = () => {},
  options = /** @type {any} */ ({}),
) {
  const { keepSnapshots = false, archiveSnapshot, snapgc } = options;
  snapgc ||
    Fail`makeSnapStore: options.snapgc must be an open snapgc store (openSnapgc)`;
  const { measureSeconds } = io;

  // Stock's store on the same db: the table, every metadata method, the export records,
  // deletion and pruning rules. We replace only what reads or writes bytes.
  const stock = makeStockSnapStore(db, ensureTxn, io, noteExport, {
    keepSnapshots,
  });

  const sqlSaveSnapshot = db.prepare(`
    INSERT OR REPLACE INTO snapshots
      (vatID, snapPos, inUse, hash, uncompressedSize, compressedSize, compressedSnapshot)
    VALUES (?, ?, ?, ?, ?, ?, ?)
  `);

  /**
   * @param {string} vatID
   * @param {number} snapPos
   * @param {string} hash
   * @param {number} inUse
   */
  const exportRecord = (vatID, snapPos, hash, inUse) =>
    JSON.stringify({ vatID, snapPos, hash, inUse });

  /** @param {AsyncIterable<Uint8Array>} rawChunks */
  const gzipOf = rawChunks => Readable.from(rawChunks).pipe(createGzip());

  /**
   * @param {string} vatID
   * @param {number} snapPos
   * @param {AsyncIterable<Uint8Array>} snapshotStream
   */
  async function saveSnapshot(vatID, snapPos, snapshotStream) {
    const { duration: compressSeconds, result: info } = await measureSeconds(
      () => saveStreamToSnapgc(snapgc, snapshotStream),
    );
    const { hash, rawBytes: uncompressedSize, compressedBytes: compressedSize } =
      info;
    const exportKey = `snapshot.${vatID}.${snapPos}`;

    const { duration: dbSaveSeconds } = await measureSeconds(async () => {
      ensureTxn();
      stock.stopUsingLastSnapshot(vatID);
      sqlSaveSnapshot.run(
        vatID,
        snapPos,
        1,
        hash,
        uncompressedSize,
        compressedSize,
        SNAPGC_MARKER,
      );
      noteExport(exportKey, exportRecord(vatID, snapPos, hash, 1));
      noteExport(`snapshot.${vatID}.current`, exportKey);
    });

    let archiveWriteSeconds;
    if (archiveSnapshot) {
      ({ duration: archiveWriteSeconds } = await measureSeconds(async () => {
        const gz = gzipOf(readSnapgcBlob(snapgc, hash));
        try {
          await archiveSnapshot(exportKey, gz);
        } finally {
          gz.destroy();
        }
      }));
    }

    return harden({
      hash,
      uncompressedSize,
      compressSeconds,
      dbSaveSeconds,
      archiveWriteSeconds,
      compressedSize,
    });
  }

  const sqlLoadSnapshot = db.prepare(`
    SELECT hash, compressedSnapshot
    FROM snapshots
    WHERE vatID = ? AND inUse = 1
  `);

  /**
   * @param {string} vatID
   * @returns {AsyncGenerator<Uint8Array, void, undefined>}
   */
  async function* loadSnapshot(vatID) {
    const loadInfo = /** @type {any} */ (sqlLoadSnapshot.get(vatID));
    loadInfo || Fail`no snapshot available for vat ${q(vatID)}`;
    const { hash, compressedSnapshot } = loadInfo;
    compressedSnapshot || Fail`no snapshot available for vat ${q(vatID)}`;
    await null;
    if (isSnapgcMarker(compressedSnapshot)) {
      yield* readSnapgcBlob(snapgc, hash);
    } else {
      yield* readGzipRow(compressedSnapshot, hash, `snapshot of ${vatID}`);
    }
  }
  harden(loadSnapshot);

  const sqlGetSnapshot = db.prepare(`
    SELECT hash, compressedSnapshot
    FROM snapshots
    WHERE vatID = ? AND snapPos = ?
  `);

  /**
   * @param {string} name
   * @returns {AsyncIterableIterator<Uint8Array>}
   */
  function exportSnapshot(name) {
    typeof name === 'string' || Fail`artifact name must be a string`;
    const parts = name.split('.');
    const [type, vatID, pos] = parts;
    // prettier-ignore
    (parts.length === 3 && type === 'snapshot') ||
      Fail`expected artifact name of the form 'snapshot.{vatID}.{snapPos}', saw ${q(name)}`;
    const snapPos = Number(pos);
    const snapshotInfo = /** @type {any} */ (sqlGetSnapshot.get(vatID, snapPos));
    snapshotInfo || Fail`snapshot ${q(name)} not available`;
    const { hash, compressedSnapshot } = snapshotInfo;
    compressedSnapshot || Fail`artifact ${q(name)} is not available`;
    if (isSnapgcMarker(compressedSnapshot)) {
      return readSnapgcBlob(snapgc, hash);
    }
    return readGzipRow(compressedSnapshot, hash, name);
  }

  const sqlGetSnapshotHashFor = db.prepare(`
    SELECT hash, inUse
    FROM snapshots
    WHERE vatID = ? AND snapPos = ?
  `);

  const sqlPopulateSnapshot = db.prepare(`
    UPDATE snapshots SET
      uncompressedSize = ?, compressedSize = ?, compressedSnapshot = ?
    WHERE vatID = ? AND snapPos = ?
  `);

  /**
   * @param {string} name
   * @param {() => import('@agoric/swing-store').AnyIterable<Uint8Array>} makeChunkIterator
   * @param {{ artifactMode: import('@agoric/swing-store').ArtifactMode }} options
   */
  async function populateSnapshot(name, makeChunkIterator, { artifactMode }) {
    ensureTxn();
    const parts = name.split('.');
    const [type, vatID, rawEndPos] = parts;
    // prettier-ignore
    parts.length === 3 && type === 'snapshot' ||
      Fail`expected snapshot name of the form 'snapshot.{vatID}.{snapPos}', saw '${q(name)}'`;
    const snapPos = Number(rawEndPos);
    const metadata =
      /** @type {any} */ (sqlGetSnapshotHashFor.get(vatID, snapPos)) ||
      Fail`no metadata for snapshot ${name}`;

    if (!metadata.inUse && artifactMode !== 'debug') {
      return; // ignore old snapshots
    }

    const info = await saveStreamToSnapgc(
      snapgc,
      /** @type {AsyncIterable<Uint8Array>} */ (makeChunkIterator()),
    );
    // validate against the previously-established metadata (an unmatched blob is left
    // unrooted: snapgc's collector reclaims it)
    metadata.hash === info.hash ||
      Fail`snapshot ${q(name)} hash is ${q(info.hash)}, metadata says ${q(metadata.hash)}`;

    ensureTxn();
    sqlPopulateSnapshot.run(
      info.rawBytes,
      info.compressedBytes,
      SNAPGC_MARKER,
      vatID,
      snapPos,
    );
  }

  /**
   * stock's debug dump, with each snapgc row's bytes as stock has them: gzip, read
   * synchronously (readSync blocks the thread: a debug tool for small stores).
   *
   * @param {boolean} [includeHistorical]
   */
  function dumpSnapshots(includeHistorical = true) {
    const dump = stock.dumpSnapshots(includeHistorical);
    for (const rows of Object.values(dump)) {
      for (const row of rows) {
        if (isSnapgcMarker(row.compressedSnapshot)) {
          row.compressedSnapshot = gzipSync(snapgc.readSync(row.hash));
        }
      }
    }
    return dump;
  }

  return harden({
    ...stock,
    dumpSnapshots,
    saveSnapshot,
    loadSnapshot,
    exportSnapshot,
    populateSnapshot,
  });
}
