// @ts-check
// What test-agoric/run.mjs puts in place of @agoric/swing-store's src/snapStore.js (in a temp
// copy of the package): stock's internal factory `makeSnapStore(db, ensureTxn, io,
// noteExport, options)` served by @snapgc/swing-store's makeSnapStore, with the snapgc store
// found from the SQLite handle:
//   - a file database `<dir>/swingstore.sqlite` -> `<dir>/snapgc` (where openSwingStore keeps
//     it, so stock's initSwingStore reset removes it with the directory);
//   - any other file `<file>` -> `<file>.snapgc`;
//   - an in-memory database -> a fresh temp directory.
// One handle per directory per process (the exporter stock builds on the same file shares the
// kernel's handle), reopened when the directory was removed (initSwingStore's reset).
// Stock's commit does not run snapgc's protocol here, so nothing is ever collected: bytes
// saved in the open snapgc block stay until the process ends, which is what these tests need.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { makeSnapStore as makeSnapgcSnapStore, ROOT_PATTERN } from '../src/snapStore.js';
import { openNative } from '../src/native.js';
import { lookupSnapgc, registerSnapgc } from '../src/registry.js';

const tempDirs = [];
process.once('exit', () => {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** @param {import('better-sqlite3').Database} db */
export function snapgcDirForDb(db) {
  const name = db.name;
  if (!name || name === ':memory:' || db.memory) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-agoric-mem-'));
    tempDirs.push(dir);
    return dir;
  }
  const abs = path.resolve(name);
  if (path.basename(abs) === 'swingstore.sqlite') return path.join(path.dirname(abs), 'snapgc');
  return `${abs}.snapgc`;
}

/** @param {string} dir */
function handleFor(dir) {
  const existing = lookupSnapgc(dir);
  if (existing && fs.existsSync(path.join(dir, 'snapshots'))) return existing;
  const handle = openNative(dir, { create: true, rootPatterns: [ROOT_PATTERN] });
  registerSnapgc(dir, handle);
  return handle;
}

/**
 * @param {any} db
 * @param {() => void} ensureTxn
 * @param {any} io
 * @param {(key: string, value: string | undefined) => void} [noteExport]
 * @param {{ keepSnapshots?: boolean, archiveSnapshot?: any }} [options]
 */
export function makeSnapStore(db, ensureTxn, io, noteExport = () => {}, options = {}) {
  const snapgc = handleFor(snapgcDirForDb(db));
  return makeSnapgcSnapStore(db, ensureTxn, io, noteExport, { ...options, snapgc });
}
