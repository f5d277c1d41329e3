// Compiled (not run) by test/types.test.js: the declarations cover what a host and a tool use.
import {
  openSwingStore,
  initSwingStore,
  makeSwingStoreExporter,
  importSwingStore,
  makeSnapStore,
  makeSnapStoreIO,
  openSnapgc,
  SnapgcStore,
  ErrorCodes,
  type SwingStore,
  type SnapshotResult,
  type GcReport,
} from '../../src/index.js';

export async function host(dir: string): Promise<string> {
  const store: SwingStore = openSwingStore(dir, {
    keepSnapshots: false,
    exportCallback: entries => void [...entries],
    snapgc: { grace: 2, archive: null, gc: true },
  });
  const { kernelStorage, hostStorage, debug, internal } = store;
  async function* stream() {
    yield new Uint8Array([1, 2, 3]);
  }
  kernelStorage.startCrank();
  const r: SnapshotResult = await kernelStorage.snapStore.saveSnapshot('v1', 1, stream());
  kernelStorage.endCrank();
  await hostStorage.commit();
  for await (const chunk of kernelStorage.snapStore.loadSnapshot('v1')) void chunk.length;
  const report: GcReport | undefined = debug.getLastGcReport();
  const handle: SnapgcStore = debug.getSnapgc();
  const epoch: number = handle.epoch();
  void internal.snapStore.hasHash('v1', r.hash);
  const exporter = makeSwingStoreExporter(dir, { artifactMode: 'operational' });
  const imported = await importSwingStore(exporter, null, { artifactMode: 'replay' });
  await imported.hostStorage.close();
  const mem = initSwingStore(null);
  const snapStore = makeSnapStore(mem.internal.db, () => {}, makeSnapStoreIO(), undefined, {
    snapgc: openSnapgc(`${dir}-other`, { create: true, rootPatterns: ['snapshot.*.*'] }),
  });
  void snapStore.getSnapshotInfo('v1');
  await hostStorage.close();
  return `${ErrorCodes.RECONCILE_MISSING} ${epoch} ${report?.swept}`;
}
