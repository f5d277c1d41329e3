// @ts-check
// @snapgc/swing-store: a drop-in for @agoric/swing-store 0.10.0 whose snapshot bytes live in
// snapgc. Everything @agoric/swing-store exports is exported here under the same name; the
// ones that touch snapshot bytes are ours.

import { openNative, SnapgcStore, bindingAvailable, bindingError } from './native.js';

export {
  initSwingStore,
  openSwingStore,
  reconcile,
  pairStores,
  snapgcDirFor,
  STORE_ID_KEY,
} from './swingStore.js';
export { makeSwingStoreExporter } from './exporter.js';
export { importSwingStore } from './importer.js';
export { makeSnapStore, rootKey, rootValue, ROOT_PATTERN } from './snapStore.js';
export { snapgcError, ErrorCodes } from './errors.js';

// unchanged from @agoric/swing-store (no snapshot bytes involved)
export {
  isSwingStore,
  makeArchiveSnapshot,
  makeArchiveTranscript,
  makeKVStore,
  getKeyType,
  makeTranscriptStore,
  makeSnapStoreIO,
  makeBundleStore,
  bundleIDFromName,
} from '@agoric/swing-store';

/**
 * Opens a snapgc store directly: the binding's own handle, for tools and tests.
 *
 * @param {string} dir
 * @param {import('./native.js').SnapgcOpenOptions} [options]
 * @returns {import('./native.js').SnapgcStore}
 */
export function openSnapgc(dir, options) {
  return openNative(dir, options);
}

export { SnapgcStore, bindingAvailable, bindingError };
