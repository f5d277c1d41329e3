// Synthesized heap-like streams for the binding's tests (test/binding*.test.js) and benchmarks.
// A seeded 1 MiB base of 16-byte records (four in five from a hot set of 256 shapes, the rest
// small integers) compresses about 3:1 with LZ4, as real XS heaps do; each chunk is the base rotated
// by a chunk-dependent offset with the chunk's index stamped every 4 KiB, so no two chunks are
// alike. One buffer is reused: the binding copies each chunk before write() resolves.
import { createHash } from 'node:crypto';

const BASE_BYTES = 1 << 20;

/** xorshift32, seeded. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** @param {number} seed */
export function makeBase(seed = 21) {
  const next = rng(seed);
  // 16-byte records: a hot set of shapes (repeated often, like a heap's objects of one
  // shape), and one record in five unique but made of small integers.
  const hot = Array.from({ length: 256 }, () => [next(), next() & 0xffff, next() & 0xff, next() & 0xfff]);
  const base = Buffer.alloc(BASE_BYTES);
  for (let off = 0; off < BASE_BYTES; off += 16) {
    const r = next();
    const rec = r % 5 === 0 ? [next() & 0xfffff, r & 0xffff, (r >>> 16) & 0xff, 0] : hot[(r >>> 3) & 255];
    base.writeUInt32LE(rec[0] >>> 0, off);
    base.writeUInt32LE(rec[1], off + 4);
    base.writeUInt32LE(rec[2], off + 8);
    base.writeUInt32LE(rec[3], off + 12);
  }
  return base;
}

/**
 * Yields `total` bytes in chunks of `chunkBytes` (the same Buffer each time: consume it before
 * pulling the next). Deterministic for a seed.
 */
export function* synthChunks(total, { chunkBytes = 1 << 20, seed = 21 } = {}) {
  const base = makeBase(seed);
  const chunk = Buffer.alloc(chunkBytes);
  let index = 0;
  for (let done = 0; done < total; index += 1) {
    const n = Math.min(chunkBytes, total - done);
    let filled = 0;
    let from = (index * 7919 * 64) % BASE_BYTES;
    while (filled < n) {
      const k = Math.min(n - filled, BASE_BYTES - from);
      base.copy(chunk, filled, from, from + k);
      filled += k;
      from = 0;
    }
    for (let off = 0; off + 8 <= n; off += 4096) chunk.writeUInt32LE(index, off);
    done += n;
    yield n === chunkBytes ? chunk : chunk.subarray(0, n);
  }
}

/** sha256 (hex) and length of a synthesized stream, computed in JS. */
export function synthDigest(total, options) {
  const h = createHash('sha256');
  for (const c of synthChunks(total, options)) h.update(c);
  return h.digest('hex');
}
