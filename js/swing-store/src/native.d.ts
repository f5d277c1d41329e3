// The snapgc binding's contract (crates/node, napi-rs; docs/NODE.md). Errors are JS `Error`s
// with a stable `code` (see ErrorCode) and the library's message as `message`.

/** Every code a binding error carries. */
export type ErrorCode =
  | 'SNAPGC_POISONED' // an earlier sync failed: the handle refuses writes; reopen the store
  | 'SNAPGC_NOT_FOUND' // the snapshot is not in the store
  | 'SNAPGC_NO_STORE' // the directory is not a store (or is missing with create: false)
  | 'SNAPGC_DANGLING_ROOT' // commit refused: a staged root names a snapshot not in the store
  | 'SNAPGC_IN_USE' // another process (or handle) holds the store
  | 'SNAPGC_CORRUPT' // a blob's content does not match its name or recorded length
  | 'SNAPGC_BAD_ROOT' // a root value names no snapshot: the collector refuses to run
  | 'SNAPGC_CODEC' // a metadata record does not decode
  | 'SNAPGC_INVALID_ARGUMENT' // a malformed hash, a bad option, a second pending write/read
  | 'SNAPGC_CONFIG' // invalid configuration (root patterns, grace, archive location)
  | 'SNAPGC_BLOCK_OPEN' // refused while a block is open (e.g. a config change): commit or abort it first
  | 'SNAPGC_UNSUPPORTED_FORMAT' // the store's on-disk format is not one this build reads
  | 'SNAPGC_READ_ONLY' // a write through a store opened read-only
  | 'SNAPGC_WOULD_UNROOT' // new root patterns would un-root committed root keys
  | 'SNAPGC_IO' // a file-system error
  | 'SNAPGC_DB' // the kv database failed
  | 'SNAPGC_IMPORT_REFUSED' // a state-sync import refused its input
  | 'SNAPGC_EXPORT_FAILED' // a state-sync export could not be made
  | 'SNAPGC_ARCHIVE' // the configured archive could not be opened
  | 'SNAPGC_CLOSED' // the store was closed, or the save / load has ended
  | 'SNAPGC_BINDING_MISSING' // the addon is not built: npm --prefix js/swing-store run build
  | 'SNAPGC_INTERNAL'; // a bug (a worker thread panicked)

export interface SnapgcError extends Error {
  code: ErrorCode;
}

export interface SnapgcOpenOptions {
  /** Create the store if the directory is missing or empty (default true). */
  create?: boolean;
  /** kv key patterns that are roots (set in the store's config at open when given). */
  rootPatterns?: string[];
  /** Default grace in epochs (set in the store's config at open when given). */
  grace?: number;
  /** Archive location (a directory or s3://bucket[/prefix]); null removes it; absent keeps it. */
  archive?: string | null;
  /** Where the Prometheus metrics file goes; null: <store>/metrics.prom; absent keeps it. */
  metricsFile?: string | null;
}

export interface SaveInfo {
  /** sha256 of the raw bytes (64 lowercase hex): the snapshot's name. */
  hash: string;
  rawBytes: number;
  /** Length of the blob file (LZ4 frame). */
  compressedBytes: number;
  /** The blob was already stored: its protection was renewed. */
  deduplicated: boolean;
  /** The block the save belongs to (committed epoch + 1): commit its root in that block. */
  savedEpoch: number;
}

export interface GcError {
  item: string;
  error: string;
}

/** The library's GcReport, camelCase. */
export interface GcReport {
  epoch: number;
  roots: number;
  live: number;
  swept: number;
  sweptBytes: number;
  keptGrace: number;
  keptYoung: number;
  keptLeased: number;
  pending: number;
  grace: number;
  /** The pass decided from its saved state that nothing could have changed (O(1)). */
  skipped: boolean;
  orphansAdopted: number;
  tempRemoved: number;
  strays: string[];
  errors: GcError[];
  markUs: number;
  sweepUs: number;
  /** markUs + sweepUs, in milliseconds. */
  durationMs: number;
}

export interface BlobInfo {
  hash: string;
  rawBytes: number;
  compressedBytes: number;
  savedEpoch: number;
  condemnedEpoch?: number;
}

/** The library's StoreStatus (status.json: snake_case, as the library writes it). */
export interface StoreStatus {
  epoch: number;
  roots: number;
  live: number;
  blobs: number;
  stored_bytes: number;
  live_bytes: number;
  garbage_blobs: number;
  garbage_bytes: number;
  pending: number;
  missing_live: number;
  failed_closed: string | null;
  last_error: string | null;
  last_pass: object;
  passes_total: number;
  swept_total: number;
  swept_bytes_total: number;
  backlog: object;
  pid: number;
  updated_unix_ms: number;
  [key: string]: unknown;
}

export interface LoadOptions {
  /** Bytes per chunk (default 1 MiB; 4 KiB to 64 MiB). */
  chunkBytes?: number;
}

export declare class SnapgcStore {
  private constructor();
  /** Opens (by default creating) the store at dir, synchronously. */
  static open(dir: string, options?: SnapgcOpenOptions): SnapgcStore;
  readonly path: string;
  /** close() was called. */
  readonly closed: boolean;
  /** The committed epoch. */
  epoch(): number;
  // kv (block-staged; reads see the open block)
  get(key: string): string | undefined;
  getCommitted(key: string): string | undefined;
  set(key: string, value: string): void;
  delete(key: string): void;
  scanPrefix(prefix: string): Array<[string, string]>;
  /** Drops the open block's kv writes (snapshots saved in it stay, as young garbage). */
  abort(): void;
  /** Durable when it resolves; the new epoch. Rejects SNAPGC_DANGLING_ROOT (block stays staged). */
  commit(): Promise<number>;
  gc(): Promise<GcReport>;
  /** The library's StoreStatus (added by native.js over statusJson()). */
  status(): Promise<StoreStatus>;
  statusJson(): Promise<string>;
  /** A blob file is present. */
  has(hash: string): boolean;
  /** The metadata the store keeps of a blob, or null. */
  blobInfo(hash: string): BlobInfo | null;
  /** Protects hash from the sweep until release(). */
  lease(hash: string): SnapgcLease;
  /** Bytes streamed in, hashed and compressed off the JS thread. */
  beginSave(): SnapgcSave;
  /** A verified load, leased while it runs. Rejects SNAPGC_NOT_FOUND. */
  openLoad(hash: string, options?: LoadOptions): Promise<SnapgcLoad>;
  /** The whole verified snapshot, read on the JS thread (blocking: debug tools, small heaps). */
  readSync(hash: string): Buffer;
  /** openLoad on the JS thread (a stat and a thread start); openLoad wraps it. */
  openLoadNow(hash: string, options?: LoadOptions): SnapgcLoad;
  /** Re-hashes a blob; its raw length. */
  verify(hash: string): Promise<number>;
  /** Clean close (saves/loads still running keep the store open until they end); later calls: SNAPGC_CLOSED. */
  close(): Promise<void>;
  /** Saves every chunk of an (async) iterable (native.js helper); aborts on a throw. */
  saveFrom(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<SaveInfo>;
  /** A whole snapshot in one Buffer, verified (native.js helper; small snapshots and tests). */
  loadBytes(hash: string): Promise<Buffer>;
}

export declare class SnapgcLease {
  private constructor();
  readonly hash: string;
  /** Idempotent. */
  release(): void;
}

export declare class SnapgcSave {
  private constructor();
  /** Resolves when a copy of chunk is queued (bounded queue: backpressure). One at a time. */
  write(chunk: Uint8Array): Promise<void>;
  /** write() without waiting: true if a copy was queued, false if the queue is full (nothing taken). */
  tryWrite(chunk: Uint8Array): boolean;
  /** Published under its hash (durable with the next commit). */
  finish(): Promise<SaveInfo>;
  /** Nothing is published; idempotent. */
  abort(): void;
}

export declare class SnapgcLoad implements AsyncIterable<Buffer> {
  private constructor();
  readonly hash: string;
  /** Next chunk; null at the end. The last chunk(s) arrive only after length + sha256 verified. One at a time. */
  read(): Promise<Buffer | null>;
  /** readInto without waiting (JS thread): the count copied, 0 at the end, -1 when nothing is ready. */
  tryReadInto(target: Uint8Array): number;
  /** read() without waiting: a queued chunk, null at the end, undefined when none is ready yet. */
  tryRead(): Buffer | null | undefined;
  /**
   * Copies the next bytes into target: at least one (waiting for them), as many as are ready
   * and fit; resolves their count, 0 at the end (like fs.read). No garbage per chunk (one
   * reused buffer). Leave target alone until it settles. The final bytes arrive only after
   * verification, as with read(). Shares the one-at-a-time rule with read().
   */
  readInto(target: Uint8Array): Promise<number>;
  /** Idempotent; the load thread ends and its lease goes. */
  close(): void;
  /** native.js: for await over read(); leaving early closes the load. */
  [Symbol.asyncIterator](): AsyncIterator<Buffer>;
}

/** Agoric's root value {"snapshotID":hash,"startPos":{"itemCount":n}}. */
export declare function formatRootValue(hash: string, itemCount: number): string;

/** V8's external memory as napi sees it (array-buffer backing stores plus addons' reports); for tests. */
export declare function externalMemory(): number;

export interface NativeAddon {
  externalMemory: typeof externalMemory;
  SnapgcStore: typeof SnapgcStore;
  SnapgcSave: typeof SnapgcSave;
  SnapgcLoad: typeof SnapgcLoad;
  SnapgcLease: typeof SnapgcLease;
  formatRootValue: typeof formatRootValue;
}

export declare const addonPath: string;
export declare const bindingAvailable: boolean;
export declare const bindingError: SnapgcError | null;
/** The addon, or throws SNAPGC_BINDING_MISSING. */
export declare function requireNative(): NativeAddon;
/** SnapgcStore.open(dir, options), or throws SNAPGC_BINDING_MISSING. */
export declare function openNative(dir: string, options?: SnapgcOpenOptions): SnapgcStore;
export declare const ERROR_CODES: readonly ErrorCode[];
