// Types of @snapgc/swing-store: the API of @agoric/swing-store 0.10.0 (which ships no
// declarations; these follow its JSDoc), plus the snapgc options. Self-contained.
import type { Database } from 'better-sqlite3';
import type { SnapgcStore, SnapgcOpenOptions, GcReport, SaveInfo } from './native.js';

export { SnapgcStore } from './native.js';
export type { SnapgcOpenOptions, GcReport, SaveInfo };

export type AnyIterable<T> = Iterable<T> | AsyncIterable<T>;
export type ArtifactMode = 'operational' | 'replay' | 'archival' | 'debug';
export type KVPair = readonly [key: string, value?: string | null | undefined];

export interface KVStore {
  has(key: string): boolean;
  get(key: string): string | undefined;
  getNextKey(previousKey: string): string | undefined;
  set(key: string, value: string): void;
  delete(key: string): void;
}

export interface SnapshotResult {
  /** sha256 of the uncompressed snapshot */
  hash: string;
  uncompressedSize: number;
  /** the stored (here: LZ4 blob) size */
  compressedSize: number;
  /** time to stream, hash and compress */
  compressSeconds: number;
  /** time to write the row */
  dbSaveSeconds: number;
  /** time of the archiveSnapshot callback, if any */
  archiveWriteSeconds?: number;
}

export interface SnapshotInfo {
  snapPos: number;
  hash: string;
  uncompressedSize: number;
  compressedSize: number;
}

export interface SnapshotRow {
  vatID: string;
  snapPos: number;
  hash?: string;
  inUse?: number | null;
  uncompressedSize: number;
  compressedSize: number;
}

/** The kernel's facet of the snapStore (kernelStorage.snapStore). */
export interface SnapStore {
  loadSnapshot(vatID: string): AsyncIterableIterator<Uint8Array>;
  saveSnapshot(
    vatID: string,
    snapPos: number,
    snapshotStream: AsyncIterable<Uint8Array>,
  ): Promise<SnapshotResult>;
  deleteAllUnusedSnapshots(): void;
  deleteVatSnapshots(vatID: string, budget?: number): { done: boolean; cleanups: number };
  stopUsingLastSnapshot(vatID: string): void;
  getSnapshotInfo(vatID: string): SnapshotInfo;
}

/** The whole snapStore (internal.snapStore, and what makeSnapStore returns). */
export interface SnapStoreInternal extends SnapStore {
  exportSnapshot(name: string): AsyncIterableIterator<Uint8Array>;
  getExportRecords(includeHistorical?: boolean): IterableIterator<readonly [key: string, value: string]>;
  getArtifactNames(artifactMode: ArtifactMode): AsyncIterableIterator<string>;
  importSnapshotRecord(key: string, value: string): void;
  populateSnapshot(
    name: string,
    makeChunkIterator: () => AnyIterable<Uint8Array>,
    options: { artifactMode: ArtifactMode },
  ): Promise<void>;
  assertComplete(checkMode: Exclude<ArtifactMode, 'debug'>): void;
  repairSnapshotRecord(key: string, value: string): void;
  hasHash(vatID: string, hash: string): boolean;
  listAllSnapshots(): Iterable<SnapshotRow>;
  dumpSnapshots(
    includeHistorical?: boolean,
  ): Record<string, Array<{ snapPos: number; hash: string; compressedSnapshot: Buffer; inUse: 0 | 1 }>>;
  deleteSnapshotByHash(vatID: string, hash: string): void;
}

export interface SwingStoreKernelStorage {
  kvStore: KVStore;
  transcriptStore: Record<string, (...args: any[]) => any>;
  snapStore: SnapStore;
  bundleStore: Record<string, (...args: any[]) => any>;
  startCrank(): void;
  establishCrankSavepoint(savepoint: string): void;
  rollbackCrank(savepoint: string): void;
  emitCrankHashes(): { crankhash: string; activityhash: string };
  endCrank(): void;
  getActivityhash(): string;
}

export interface SwingStoreHostStorage {
  kvStore: KVStore;
  /** The two-store commit (docs/NODE.md), then snapgc's collector. */
  commit(): Promise<void>;
  /** Closes SQLite and the snapgc store, abandoning uncommitted changes. */
  close(): Promise<void>;
  diskUsage?(): number;
  repairMetadata(exporter: SwingStoreExporter): Promise<void>;
}

export interface SwingStoreInternal {
  dirPath: string | null;
  asFile?: boolean;
  db: Database;
  kvStore: KVStore;
  transcriptStore: Record<string, (...args: any[]) => any>;
  snapStore: SnapStoreInternal;
  bundleStore: Record<string, (...args: any[]) => any>;
}

export interface SnapgcDebugTools {
  dump(includeHistorical?: boolean): {
    kvEntries: Record<string, string>;
    transcripts: Record<string, unknown>;
    snapshots: Record<string, unknown>;
    bundles: Record<string, unknown>;
  };
  serialize(): Buffer;
  getDatabase(): Database;
  /** The open snapgc store (the binding's handle). */
  getSnapgc(): SnapgcStore;
  snapgcDir: string;
  /** The collector's report after the last commit. */
  getLastGcReport(): GcReport | undefined;
  /** The error of the last collection after a commit, if it failed (the commit itself succeeded). */
  getLastGcError(): (Error & { code?: string }) | undefined;
  /** The committed snapgc roots: key `snapshot.<vatID>.<snapPos>`, Agoric's root value. */
  getCommittedRoots(): Map<string, string>;
}

export interface SwingStore {
  kernelStorage: SwingStoreKernelStorage;
  hostStorage: SwingStoreHostStorage;
  debug: SnapgcDebugTools;
  internal: SwingStoreInternal;
}

export type CommitStep =
  | 'before-snapgc-commit'
  | 'after-snapgc-commit'
  | 'after-sqlite-commit'
  | 'after-gc';

/** `options.snapgc` of openSwingStore / initSwingStore. */
export interface SnapgcOptions {
  /** The snapgc store's directory (default `<dirPath>/snapgc`; a temp dir when dirPath is null). */
  dir?: string;
  /** The collector's grace, in commits (kept in the store; its default is 2). */
  grace?: number;
  /** An archive for swept history: a directory or `s3://...`; null = none. */
  archive?: string | null;
  /** The Prometheus metrics file. */
  metricsFile?: string | null;
  /** Run snapgc's collector after each hostStorage.commit() (default true). */
  gc?: boolean;
  /** Test hook: called at each commit step. */
  onCommitStep?: (step: CommitStep) => void;
  /** Test only: 'sqlite-first' is the WRONG order, the mutation the crash test catches. */
  commitOrder?: 'snapgc-first' | 'sqlite-first';
}

/** @agoric/swing-store 0.10.0's options, plus `snapgc`. */
export interface SwingStoreOptions {
  /** For testing: dirPath is the database file, not its directory. */
  asFile?: boolean;
  /** Binary data to load in memory (dirPath null). */
  serialized?: Buffer;
  /** Disable SQLite safeties (e.g. for a fast import). */
  unsafeFastMode?: boolean;
  readonly?: boolean;
  /** Path at which to record kvStore set/delete activity. */
  traceFile?: string;
  /** Retain old heap snapshots (here: keep them rooted in snapgc). */
  keepSnapshots?: boolean;
  /** Retain old transcript span items. */
  keepTranscripts?: boolean;
  /** Called with the gzipped contents of each new heap snapshot. */
  archiveSnapshot?: (name: string, compressedData: AsyncIterable<Uint8Array>) => Promise<void>;
  /** Called after a formerly-current transcript span is finalized. */
  archiveTranscript?: (spanName: string, entries: AsyncIterable<Uint8Array>) => Promise<void>;
  /** Receives the pending export-data records at each crank end and commit. */
  exportCallback?: (pendingExports: Iterable<[key: string, value: string | null]>) => void;
  wrapKvStore?: <T>(store: T) => T;
  wrapTranscriptStore?: <T>(store: T) => T;
  wrapSnapStore?: <T>(store: T) => T;
  wrapBundleStore?: <T>(store: T) => T;
  /** Where the snapshot bytes go. */
  snapgc?: SnapgcOptions;
}

export function openSwingStore(dirPath: string, options?: SwingStoreOptions): SwingStore;
export function initSwingStore(dirPath?: string | null, options?: SwingStoreOptions): SwingStore;
export function isSwingStore(dirPath: string): boolean;
export function snapgcDirFor(
  dirPath: string | null,
  options?: { asFile?: boolean; snapgc?: { dir?: string } },
): string | null;

/** The snapgc kv key naming the swing-store a snapgc store belongs to. */
export const STORE_ID_KEY: string;
/** The open-time pairing (openSwingStore runs it); throws SNAPGC_RECONCILE_FOREIGN. */
export function pairStores(db: Database, snapgc: SnapgcStore, snapgcDir: string, writable: boolean): void;
/** The open-time check (openSwingStore runs it); throws SNAPGC_RECONCILE_* errors. */
export function reconcile(
  db: Database,
  snapgc: SnapgcStore,
  snapgcDir: string,
): {
  roots: Map<string, string>;
  needed: Map<string, string>;
  recordedEpoch: number | undefined;
  epoch: number;
};

export interface SwingStoreExporter {
  getHostKV(key: string): string | undefined;
  getExportData(): AnyIterable<KVPair>;
  getArtifactNames(): AnyIterable<string>;
  getArtifact(name: string): AnyIterable<Uint8Array>;
  close(): Promise<void>;
}

export interface ExportSwingStoreOptions {
  artifactMode?: ArtifactMode;
  snapgc?: { dir?: string };
}
export function makeSwingStoreExporter(
  dirPath: string,
  options?: ExportSwingStoreOptions,
): SwingStoreExporter;

export function importSwingStore(
  exporter: SwingStoreExporter,
  dirPath?: string | null,
  options?: { artifactMode?: ArtifactMode } & SwingStoreOptions,
): Promise<Pick<SwingStore, 'hostStorage' | 'debug'>>;

/** swing-store 0.10.0's internal factory; `options.snapgc` is an open snapgc store. */
export function makeSnapStore(
  db: Database,
  ensureTxn: () => void,
  io: { measureSeconds: <T>(fn: () => Promise<T>) => Promise<{ result: T; duration: number }> },
  noteExport?: (key: string, value: string | undefined) => void,
  options?: {
    keepSnapshots?: boolean;
    archiveSnapshot?: (name: string, compressedData: AsyncIterable<Uint8Array>) => Promise<void>;
    snapgc: SnapgcStore;
  },
): SnapStoreInternal;

/** The binding's own handle, for tools and tests. */
export function openSnapgc(dir: string, options?: SnapgcOpenOptions): SnapgcStore;
/** Whether the addon loaded, and why not. */
export const bindingAvailable: boolean;
export const bindingError: (Error & { code: string }) | null;

export const ROOT_PATTERN: string;
export function rootKey(vatID: string, snapPos: number): string;
export function rootValue(hash: string, snapPos: number): string;

export function snapgcError(
  code: string,
  message: string,
  details?: Record<string, unknown>,
): Error & { code: string };
export const ErrorCodes: {
  readonly RECONCILE_MISSING: 'SNAPGC_RECONCILE_MISSING';
  readonly RECONCILE_MISMATCH: 'SNAPGC_RECONCILE_MISMATCH';
  readonly RECONCILE_EPOCH: 'SNAPGC_RECONCILE_EPOCH';
  readonly RECONCILE_FOREIGN: 'SNAPGC_RECONCILE_FOREIGN';
  readonly CORRUPT: 'SNAPGC_CORRUPT';
};

// unchanged from @agoric/swing-store (no snapshot bytes involved)
export function makeArchiveSnapshot(
  dirPath: string,
  powers: { fs: typeof import('fs'); path: typeof import('path'); tmp: { fileSync: (...args: any[]) => any } },
): (name: string, gzData: AnyIterable<Uint8Array>) => Promise<void>;
export function makeArchiveTranscript(
  dirPath: string,
  powers: { fs: typeof import('fs'); path: typeof import('path'); tmp: { fileSync: (...args: any[]) => any } },
): (spanName: string, entries: AnyIterable<Uint8Array>) => Promise<void>;
export function makeKVStore(db: Database, ensureTxn: () => void, trace?: (...args: string[]) => void): KVStore;
export function getKeyType(key: string): 'local' | 'host' | 'consensus';
export function makeTranscriptStore(
  db: Database,
  ensureTxn: () => void,
  noteExport?: (key: string, value: string | undefined) => void,
  options?: { keepTranscripts?: boolean; archiveTranscript?: (...args: any[]) => Promise<void> },
): Record<string, (...args: any[]) => any>;
export function makeSnapStoreIO(): {
  measureSeconds: <T>(fn: () => Promise<T>) => Promise<{ result: T; duration: number }>;
};
export function makeBundleStore(
  db: Database,
  ensureTxn: () => void,
  noteExport?: (key: string, value: string | undefined) => void,
): Record<string, (...args: any[]) => any>;
export function bundleIDFromName(name: string): string;
