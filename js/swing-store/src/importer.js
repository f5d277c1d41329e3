// @ts-check
// State-sync import into a swing-store whose snapshot bytes go to snapgc: stock's importer
// (0.10.0 src/importer.js, which calls the unexported makeSwingStore) over our initSwingStore.
// Snapshot artifacts stream into snapgc (hash-checked against the export data); the returned
// hostStorage.commit() is the two-store commit, so the import becomes durable in one commit.

import { Fail, q } from '@endo/errors';

import { initSwingStore } from './swingStore.js';
import { validateArtifactMode, assertComplete } from './exporter.js';

/** @param {import('@agoric/swing-store').AnyIterable<Uint8Array>} inStream */
const buffer = async inStream => {
  const chunks = [];
  for await (const chunk of inStream) chunks.push(chunk);
  return Buffer.concat(chunks);
};

/**
 * @typedef {object} ImportSwingStoreOptions
 * @property {import('@agoric/swing-store').ArtifactMode} [artifactMode]
 */

/**
 * @param {import('@agoric/swing-store').SwingStoreExporter} exporter
 * @param {string | null} [dirPath]
 * @param {ImportSwingStoreOptions & import('./swingStore.js').SnapgcSwingStoreOptions} [options]
 */
export async function importSwingStore(exporter, dirPath = null, options = {}) {
  if (dirPath && typeof dirPath !== 'string') {
    Fail`dirPath must be a string`;
  }
  const { artifactMode = 'operational', ...makeSwingStoreOptions } = options;
  validateArtifactMode(artifactMode);

  const { hostStorage, kernelStorage, internal, debug } = initSwingStore(
    dirPath,
    {
      unsafeFastMode: true,
      ...makeSwingStoreOptions,
    },
  );
  const snapStore = /** @type {any} */ (internal.snapStore);

  const allMetadata = new Map();
  for await (const [key, value] of exporter.getExportData()) {
    const [tag] = key.split('.', 1);
    if (tag === 'kv') {
      const subKey = key.substring(tag.length + 1);
      if (value == null) {
        kernelStorage.kvStore.delete(subKey);
      } else {
        kernelStorage.kvStore.set(subKey, value);
      }
    } else if (value == null) {
      allMetadata.delete(key);
    } else {
      allMetadata.set(key, value);
    }
  }

  for (const [key, value] of allMetadata.entries()) {
    const [tag] = key.split('.', 1);
    if (tag === 'bundle') {
      internal.bundleStore.importBundleRecord(key, value);
    } else if (tag === 'snapshot') {
      snapStore.importSnapshotRecord(key, value);
    } else if (tag === 'transcript') {
      internal.transcriptStore.importTranscriptSpanRecord(key, value);
    } else {
      Fail`unknown export-data type ${q(tag)} on import`;
    }
  }

  for await (const name of exporter.getArtifactNames()) {
    const makeChunkIterator = () => exporter.getArtifact(name);
    const dataProvider = async () => buffer(makeChunkIterator());
    const [tag] = name.split('.', 1);
    if (tag === 'bundle') {
      await internal.bundleStore.importBundle(name, dataProvider);
    } else if (tag === 'snapshot') {
      await snapStore.populateSnapshot(name, makeChunkIterator, {
        artifactMode,
      });
    } else if (tag === 'transcript') {
      await internal.transcriptStore.populateTranscriptSpan(
        name,
        makeChunkIterator,
        { artifactMode },
      );
    } else {
      Fail`unknown artifact type ${q(tag)} on import`;
    }
  }

  const checkMode = artifactMode === 'debug' ? 'operational' : artifactMode;
  assertComplete(/** @type {any} */ (internal), checkMode);

  await exporter.close();
  return { hostStorage, debug };
}
