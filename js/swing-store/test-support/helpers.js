// Shared helpers of the node:test suites (outside test/: `node --test test/` runs every file there).
import '@endo/init/debug.js';

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';

/**
 * Loads the package, or says why it cannot (the binding not built): tests then print a
 * visible SKIP line instead of passing silently.
 *
 * @returns {Promise<{ pkg?: typeof import('../src/index.js'), skip?: string }>}
 */
export async function loadPackage() {
  const pkg = await import('../src/index.js');
  if (!pkg.bindingAvailable) {
    const skip = `SKIP: ${pkg.bindingError?.message}`;
    console.log(skip);
    return { skip };
  }
  return { pkg };
}

/** @param {string} [prefix] */
export function tempDir(prefix = 'snapgc-swing-store-test-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** @param {import('node:test').TestContext} t */
export function tempDirFor(t, prefix) {
  const dir = tempDir(prefix);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An async stream of `data` in `chunkSize` pieces that records whether return() was called. */
export function trackedStream(data, chunkSize = 65536) {
  const buf = Buffer.from(data);
  let pos = 0;
  const state = { returned: 0, nexts: 0 };
  const it = {
    state,
    async next() {
      state.nexts += 1;
      if (pos >= buf.length) return { done: true, value: undefined };
      const chunk = buf.subarray(pos, pos + chunkSize);
      pos += chunkSize;
      return { done: false, value: chunk };
    },
    async return() {
      state.returned += 1;
      pos = buf.length;
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}

/** @param {string | Uint8Array} contents */
export async function* streamOf(contents) {
  yield Buffer.from(contents);
}

/** @param {AsyncIterable<Uint8Array> | Iterable<Uint8Array>} it */
export async function collect(it) {
  const chunks = [];
  for await (const c of it) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** @param {Uint8Array} bytes */
export const sha256 = bytes => createHash('sha256').update(bytes).digest('hex');

/** Deterministic pseudo-random bytes (SplitMix64-ish), `n` long, from `seed`. */
export function bytesFrom(seed, n) {
  const out = Buffer.alloc(n);
  let x = BigInt(seed) & 0xffffffffffffffffn;
  for (let i = 0; i < n; i += 8) {
    x = (x + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    z ^= z >> 31n;
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(z);
    b.copy(out, i, 0, Math.min(8, n - i));
  }
  return out;
}

/** Compressible heap-like bytes: repeated records with a seed-dependent tail. */
export function heapLike(seed, n) {
  const unit = Buffer.from(`{"slot":${seed},"kind":"vatstore","data":"${'x'.repeat(40)}"}`);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += unit.length) unit.copy(out, i, 0, Math.min(unit.length, n - i));
  bytesFrom(seed, Math.min(4096, n)).copy(out, 0);
  return out;
}
