// The snapgc binding (crates/node, napi-rs): loads js/swing-store/snapgc.node, built by
// `npm --prefix js/swing-store run build`. The contract is native.d.ts (docs/NODE.md).
//
// `requireNative()` returns the addon or throws an Error with code SNAPGC_BINDING_MISSING
// naming the build command; `bindingAvailable` / `bindingError` say so without throwing.
// SNAPGC_NODE_ADDON=/path/to/x.node loads another build.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where the addon is looked for. */
export const addonPath = process.env.SNAPGC_NODE_ADDON
  ? path.resolve(process.env.SNAPGC_NODE_ADDON)
  : path.join(pkgDir, 'snapgc.node');

const BUILD_COMMAND = 'npm --prefix js/swing-store run build';

let addon = null;
let loadError = null;
try {
  addon = require(addonPath);
} catch (cause) {
  const missing = cause && cause.code === 'MODULE_NOT_FOUND';
  loadError = new Error(
    missing
      ? `the snapgc binding is not built (no ${addonPath}): run \`${BUILD_COMMAND}\``
      : `the snapgc binding at ${addonPath} does not load (${cause && cause.message}): rebuild it with \`${BUILD_COMMAND}\``,
    { cause },
  );
  loadError.code = 'SNAPGC_BINDING_MISSING';
}

if (addon) {
  const { SnapgcStore, SnapgcSave, SnapgcLoad } = addon;
  const RESOLVED = Promise.resolve();

  // A fast path resolves in a microtask. A consumer whose chunks are always ready would then
  // never let the event loop turn: timers, I/O and the finalizers that free its old chunks
  // (Node frees external buffers from the loop) would wait for the whole stream. So once the
  // fast paths have run for YIELD_MS without a turn of the loop, the next one resolves from
  // setImmediate.
  const YIELD_MS = 4;
  let turnAt = performance.now();
  const fast = (value) => {
    const now = performance.now();
    if (now - turnAt < YIELD_MS) return value === undefined ? RESOLVED : Promise.resolve(value);
    return new Promise((resolve) => {
      setImmediate(() => {
        turnAt = performance.now();
        resolve(value);
      });
    });
  };

  // The fast paths: a chunk the save queue can take, a chunk the load queue holds, and the
  // start of a load are done on the JS thread (a copy, a queue operation, a stat): no trip
  // through libuv's thread pool. Only waiting (a full or an empty queue) goes to the pool.
  const writeWaiting = SnapgcSave.prototype.write;
  /** Resolves when a copy of chunk is queued (bounded queue: backpressure). */
  SnapgcSave.prototype.write = function write(chunk) {
    if (!ArrayBuffer.isView(chunk)) {
      const e = new TypeError(`write: expected a Uint8Array, not ${typeof chunk}`);
      e.code = 'SNAPGC_INVALID_ARGUMENT';
      return Promise.reject(e);
    }
    try {
      if (this.tryWrite(chunk)) return fast(undefined);
    } catch (e) {
      return Promise.reject(e);
    }
    turnAt = performance.now(); // it resolves from the loop
    return writeWaiting.call(this, chunk);
  };

  const readWaiting = SnapgcLoad.prototype.read;
  /** The next chunk; null at the end (the final chunks only once verified). */
  SnapgcLoad.prototype.read = function read() {
    let chunk;
    try {
      chunk = this.tryRead();
    } catch (e) {
      return Promise.reject(e);
    }
    if (chunk === undefined) {
      turnAt = performance.now(); // it resolves from the loop
      return readWaiting.call(this);
    }
    return fast(chunk);
  };

  const readIntoWaiting = SnapgcLoad.prototype.readInto;
  /** Copies what is ready (at least one byte) into target; its count, 0 at the end. */
  SnapgcLoad.prototype.readInto = function readInto(target) {
    if (!ArrayBuffer.isView(target)) {
      const e = new TypeError(`readInto: expected a Uint8Array, not ${typeof target}`);
      e.code = 'SNAPGC_INVALID_ARGUMENT';
      return Promise.reject(e);
    }
    let n;
    try {
      n = this.tryReadInto(target);
    } catch (e) {
      return Promise.reject(e);
    }
    if (n < 0) {
      turnAt = performance.now(); // it resolves from the loop
      return readIntoWaiting.call(this, target);
    }
    return fast(n);
  };

  /** A verified load of hash, leased while it runs. */
  SnapgcStore.prototype.openLoad = function openLoad(hash, options) {
    try {
      return Promise.resolve(this.openLoadNow(hash, options));
    } catch (e) {
      return Promise.reject(e);
    }
  };

  /** The library's StoreStatus (status.json's fields). */
  SnapgcStore.prototype.status = async function status() {
    return JSON.parse(await this.statusJson());
  };

  /**
   * Saves every chunk of an (async) iterable of Uint8Arrays; aborts the save if the iterable
   * throws. The chunks may be reused by the producer after each is taken.
   */
  SnapgcStore.prototype.saveFrom = async function saveFrom(chunks) {
    const save = this.beginSave();
    try {
      for await (const chunk of chunks) {
        await save.write(chunk);
      }
    } catch (e) {
      save.abort();
      throw e;
    }
    return save.finish();
  };

  /** Loads a whole snapshot into one Buffer (small snapshots and tests). */
  SnapgcStore.prototype.loadBytes = async function loadBytes(hash) {
    const load = await this.openLoad(hash);
    const parts = [];
    for await (const chunk of load) parts.push(chunk);
    return Buffer.concat(parts);
  };

  /** `for await (const chunk of load)`; leaving the loop early closes the load. */
  SnapgcLoad.prototype[Symbol.asyncIterator] = async function* chunks() {
    try {
      for (;;) {
        const chunk = await this.read();
        if (chunk === null) return;
        yield chunk;
      }
    } finally {
      this.close();
    }
  };
}

/** Whether the addon loaded. */
export const bindingAvailable = addon !== null;
/** Why it did not (an Error with code SNAPGC_BINDING_MISSING), or null. */
export const bindingError = loadError;

/** The addon, or throws SNAPGC_BINDING_MISSING. */
export function requireNative() {
  if (!addon) throw loadError;
  return addon;
}

/** `SnapgcStore.open(dir, options)`, or throws SNAPGC_BINDING_MISSING. */
export function openNative(dir, options) {
  return requireNative().SnapgcStore.open(dir, options);
}

/** Every error code the binding uses (stable). */
export const ERROR_CODES = Object.freeze([
  'SNAPGC_POISONED',
  'SNAPGC_NOT_FOUND',
  'SNAPGC_NO_STORE',
  'SNAPGC_DANGLING_ROOT',
  'SNAPGC_IN_USE',
  'SNAPGC_CORRUPT',
  'SNAPGC_BAD_ROOT',
  'SNAPGC_CODEC',
  'SNAPGC_INVALID_ARGUMENT',
  'SNAPGC_CONFIG',
  'SNAPGC_BLOCK_OPEN',
  'SNAPGC_UNSUPPORTED_FORMAT',
  'SNAPGC_READ_ONLY',
  'SNAPGC_WOULD_UNROOT',
  'SNAPGC_IO',
  'SNAPGC_DB',
  'SNAPGC_IMPORT_REFUSED',
  'SNAPGC_EXPORT_FAILED',
  'SNAPGC_ARCHIVE',
  'SNAPGC_CLOSED',
  'SNAPGC_BINDING_MISSING',
  'SNAPGC_INTERNAL',
]);

// The addon's classes (undefined when the binding is missing: check bindingAvailable, or use
// requireNative()).
export const SnapgcStore = addon?.SnapgcStore;
export const SnapgcSave = addon?.SnapgcSave;
export const SnapgcLoad = addon?.SnapgcLoad;
export const SnapgcLease = addon?.SnapgcLease;
export const formatRootValue = addon?.formatRootValue;
