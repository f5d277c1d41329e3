// xsnap's own share of a save and a load, measured with a sink that only counts bytes: real XS
// heaps of the run are loaded into a fresh xsnap worker from memory (no store behind the
// stream) and written back out into a counter (no store in front of it). What the kernel waits
// for in a store's saveSnapshot/loadSnapshot beyond this is the store's own share.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { xsnap } from '@agoric/xsnap';

let tmpCounter = 0;
const tmpName = (_opts, cb) => cb(null, path.join(os.tmpdir(), `snapgc-xsnap-sink-${process.pid}-${(tmpCounter += 1)}`));

const CHUNK = 1 << 20;
async function* fromBuffer(buf, onDone) {
  for (let i = 0; i < buf.length; i += CHUNK) yield buf.subarray(i, Math.min(buf.length, i + CHUNK));
  onDone();
}

/**
 * @param {Buffer[]} heaps  raw XS snapshots
 * @returns {Promise<{ heaps: number, raw_bytes: number, load_ms: number, save_ms: number,
 *   load_ms_per_mb: number, save_ms_per_mb: number }>}
 */
export async function measureXsnapSink(heaps) {
  let loadMs = 0;
  let saveMs = 0;
  let raw = 0;
  for (const [i, heap] of heaps.entries()) {
    const t0 = performance.now();
    let streamDone = t0;
    const w = await xsnap({
      os: os.type(),
      spawn,
      fs: { ...fs, ...fs.promises, tmpName },
      name: `sink-${i}`,
      snapshotStream: fromBuffer(heap, () => {
        streamDone = performance.now();
      }),
      snapshotDescription: `sink-${i}`,
      meteringLimit: 0,
    });
    await w.isReady();
    loadMs += Math.max(streamDone, t0) - t0;
    const t1 = performance.now();
    let n = 0;
    for await (const chunk of w.makeSnapshotStream(`sink-${i}`)) n += chunk.length;
    saveMs += performance.now() - t1;
    raw += heap.length;
    if (n !== heap.length) {
      // XS re-snapshots a restored heap to the same bytes; a different length is worth saying
      console.error(`xsnap sink: heap ${i} re-snapshot is ${n} bytes, was ${heap.length}`);
    }
    await w.close();
  }
  const mb = raw / 1e6 || 1;
  return {
    heaps: heaps.length,
    raw_bytes: raw,
    load_ms: loadMs,
    save_ms: saveMs,
    load_ms_per_mb: loadMs / mb,
    save_ms_per_mb: saveMs / mb,
  };
}
