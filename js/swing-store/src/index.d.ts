// Types of @snapgc/swing-store: @agoric/swing-store 0.10.0's, plus the snapgc options.
import type {
  SwingStore as AgoricSwingStore,
  SwingStoreOptions as AgoricSwingStoreOptions,
  SwingStoreExporter,
  SnapStore,
  SnapshotResult,
  SnapshotInfo,
  ArtifactMode,
} from '@agoric/swing-store';
import type { Database } from 'better-sqlite3';
import type {
  SnapgcStore,
  SnapgcOpenOptions,
  GcReport,
  SaveInfo,
} from './native.js';

export type { SnapgcStore, SnapgcOpenOptions, GcReport, SaveInfo };
export type { SwingStoreExporter, SnapStore, SnapshotResult, SnapshotInfo, ArtifactMode };

/** `options.snapgc` of openSwingStore / initSwingStore. */
export interface SnapgcOptions {
  /** The snapgc store's directory (default `<dirPath>/snapgc`; a temp dir when dirPath is null). */
  dir?: string;
  /** The collector's grace, in commits (the store's configured default when absent: 2). */
  grace?: number;
  /** An archive for swept history: a directory or `s3://...`; null = none. */
  archive?: string | null;
  /** A metrics file the store appends to. */
  metricsFile?: string | null;
  /** Run snapgc's collector after each hostStorage.commit() (default true). */
  gc?: boolean;
  /** Test hook: called at each commit step (COMMIT_STEPS). */
  onCommitStep?: (step: CommitStep) => void;
  /** Test only: 'sqlite-first' is the WRONG order, the mutation the crash test catches. */
  commitOrder?: 'snapgc-first' | 'sqlite-first';
}

export type CommitStep =
  | 'before-snapgc-commit'
  | 'after-snapgc-commit'
  | 'after-sqlite-commit'
  | 'after-gc';

export type SwingStoreOptions = AgoricSwingStoreOptions & { snapgc?: SnapgcOptions };

export interface SnapgcDebugTools {
  dump: AgoricSwingStore['debug']['dump'];
  serialize: AgoricSwingStore['debug']['serialize'];
  getDatabase: () => Database;
  /** The open snapgc store (the binding's handle). */
  getSnapgc: () => SnapgcStore;
  snapgcDir: string;
  /** The collector's report after the last commit. */
  getLastGcReport: () => GcReport | undefined;
  /** The committed snapgc roots, key `snapshot.<vatID>.<snapPos>`, Agoric's root value. */
  getCommittedRoots: () => Map<string, string>;
}

export interface SwingStore {
  kernelStorage: AgoricSwingStore['kernelStorage'];
  hostStorage: AgoricSwingStore['hostStorage'];
  debug: SnapgcDebugTools;
  internal: AgoricSwingStore['internal'];
}

export function openSwingStore(dirPath: string, options?: SwingStoreOptions): SwingStore;
export function initSwingStore(dirPath?: string | null, options?: SwingStoreOptions): SwingStore;
export function isSwingStore(dirPath: string): boolean;
export function snapgcDirFor(
  dirPath: string | null,
  options?: { asFile?: boolean; snapgc?: { dir?: string } },
): string | null;

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
  io: { measureSeconds: (fn: () => Promise<any>) => Promise<{ result: any; duration: number }> },
  noteExport?: (key: string, value: string | undefined) => void,
  options?: {
    keepSnapshots?: boolean;
    archiveSnapshot?: (name: string, compressedData: AsyncIterable<Uint8Array>) => Promise<void>;
    snapgc: SnapgcStore;
  },
): SnapStore & Record<string, (...args: any[]) => any>;

/** The binding's own handle, for tools and tests. */
export function openSnapgc(dir: string, options?: SnapgcOpenOptions): SnapgcStore;
export { SnapgcStore };
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
  readonly CORRUPT: 'SNAPGC_CORRUPT';
};

export {
  makeArchiveSnapshot,
  makeArchiveTranscript,
  makeKVStore,
  getKeyType,
  makeTranscriptStore,
  makeSnapStoreIO,
  makeBundleStore,
  bundleIDFromName,
} from '@agoric/swing-store';
