// Timers around the snapStore the kernel is handed: how long the kernel waits in each method,
// and, for saves and loads, how much of that is xsnap's own work (producing the heap stream on a
// save, consuming the chunks on a load) rather than the store's.

/** @returns {{ ms: number, calls: number, xsnap_ms: number, bytes: number }} */
const counter = () => ({ ms: 0, calls: 0, xsnap_ms: 0, bytes: 0 });

export function makeSnapTimers() {
  return {
    save: counter(),
    load: counter(),
    info: counter(),
    other: counter(),
  };
}

/** Adds `b` into `a` (same shape as makeSnapTimers). */
export function addTimers(a, b) {
  for (const k of Object.keys(a)) {
    for (const f of Object.keys(a[k])) a[k][f] += b[k][f];
  }
  return a;
}

export const snapstoreMs = t => t.save.ms + t.load.ms + t.info.ms + t.other.ms;
/** The store's own share: the time in the store's methods minus xsnap's share of saves/loads. */
export const storeOwnMs = t => snapstoreMs(t) - t.save.xsnap_ms - t.load.xsnap_ms;

/**
 * Wraps an async iterator: `inside` accumulates the time spent inside its next() calls.
 *
 * @param {AsyncIterator<Uint8Array>} it
 * @param {(ms: number, bytes: number) => void} onNext
 * @param {() => void} [onDone]
 */
function timedIterator(it, onNext, onDone) {
  let finished = false;
  const finish = () => {
    if (!finished) {
      finished = true;
      onDone?.();
    }
  };
  const wrapped = {
    async next(...args) {
      const t0 = performance.now();
      try {
        const r = await it.next(...args);
        onNext(performance.now() - t0, r.done ? 0 : (r.value?.length ?? 0));
        if (r.done) finish();
        return r;
      } catch (e) {
        onNext(performance.now() - t0, 0);
        finish();
        throw e;
      }
    },
    async return(v) {
      finish();
      return it.return ? it.return(v) : { done: true, value: v };
    },
    async throw(e) {
      finish();
      if (it.throw) return it.throw(e);
      throw e;
    },
    [Symbol.asyncIterator]() {
      return wrapped;
    },
  };
  return wrapped;
}

/**
 * The kernel's snapStore with timers. `timers()` returns the counters of the current block;
 * `hooks.beforeSave/afterSave` let the crash test kill the host at a chosen point.
 *
 * @param {any} snapStore
 * @param {{ onSave?: (phase: string) => void }} [hooks]
 */
export function wrapSnapStoreWithTimers(snapStore, hooks = {}) {
  let t = makeSnapTimers();
  const wrapped = {
    async saveSnapshot(vatID, snapPos, snapshotStream) {
      hooks.onSave?.('before-save');
      const t0 = performance.now();
      // time spent waiting for xsnap to produce the heap (the store pulls the stream)
      let inStream = 0;
      let bytes = 0;
      const src = snapshotStream[Symbol.asyncIterator]();
      const stream = timedIterator(src, (ms, n) => {
        inStream += ms;
        bytes += n;
        if (bytes > 0) hooks.onSave?.('mid-save');
      });
      try {
        return await snapStore.saveSnapshot(vatID, snapPos, stream);
      } finally {
        t.save.ms += performance.now() - t0;
        t.save.calls += 1;
        t.save.xsnap_ms += inStream;
        t.save.bytes += bytes;
        hooks.onSave?.('after-save');
      }
    },
    loadSnapshot(vatID) {
      // the kernel consumes the chunks (feeding xsnap); the store's time is inside next()
      const t0 = performance.now();
      let inStore = 0;
      let bytes = 0;
      const gen = snapStore.loadSnapshot(vatID);
      t.load.calls += 1;
      const tt = t;
      return timedIterator(
        gen[Symbol.asyncIterator](),
        (ms, n) => {
          inStore += ms;
          bytes += n;
        },
        () => {
          const total = performance.now() - t0;
          tt.load.ms += total;
          tt.load.xsnap_ms += total - inStore;
          tt.load.bytes += bytes;
        },
      );
    },
    getSnapshotInfo(vatID) {
      const t0 = performance.now();
      try {
        return snapStore.getSnapshotInfo(vatID);
      } finally {
        t.info.ms += performance.now() - t0;
        t.info.calls += 1;
      }
    },
  };
  for (const m of ['stopUsingLastSnapshot', 'deleteVatSnapshots', 'deleteAllUnusedSnapshots', 'hasHash']) {
    if (typeof snapStore[m] !== 'function') continue;
    wrapped[m] = (...args) => {
      const t0 = performance.now();
      let r;
      try {
        r = snapStore[m](...args);
      } finally {
        if (!(r && typeof r.then === 'function')) {
          t.other.ms += performance.now() - t0;
          t.other.calls += 1;
        }
      }
      if (r && typeof r.then === 'function') {
        return r.finally(() => {
          t.other.ms += performance.now() - t0;
          t.other.calls += 1;
        });
      }
      return r;
    };
  }
  return {
    snapStore: wrapped,
    /** The counters since the last call (one block's worth). */
    takeTimers() {
      const cur = t;
      t = makeSnapTimers();
      return cur;
    },
  };
}
