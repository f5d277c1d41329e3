// @ts-check
// The snapgc stores this process has open, by directory. A snapgc store is locked by one
// handle at a time, so an exporter made in the process that runs the kernel reads through the
// kernel's own handle (under leases) instead of opening the directory a second time.

import fs from 'node:fs';
import path from 'node:path';

/** @type {Map<string, import('./native.js').SnapgcStore>} */
const open = new Map();

/** @param {string} dir */
export function canonicalDir(dir) {
  const abs = path.resolve(dir);
  try {
    return fs.realpathSync(abs);
  } catch {
    return abs;
  }
}

/**
 * @param {string} dir
 * @param {import('./native.js').SnapgcStore} handle
 */
export function registerSnapgc(dir, handle) {
  open.set(canonicalDir(dir), handle);
}

/**
 * @param {string} dir
 * @param {import('./native.js').SnapgcStore} handle
 */
export function unregisterSnapgc(dir, handle) {
  const key = canonicalDir(dir);
  if (open.get(key) === handle) open.delete(key);
}

/**
 * @param {string} dir
 * @returns {import('./native.js').SnapgcStore | undefined}
 */
export function lookupSnapgc(dir) {
  return open.get(canonicalDir(dir));
}
