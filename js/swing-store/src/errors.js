// Errors this package raises itself (the binding raises its own SNAPGC_* codes).

/**
 * An Error with a stable `code`, like the binding's.
 *
 * @param {string} code
 * @param {string} message
 * @param {Record<string, unknown>} [details]
 * @returns {Error & { code: string }}
 */
export function snapgcError(code, message, details = {}) {
  const err = /** @type {Error & { code: string }} */ (new Error(message));
  err.code = code;
  Object.assign(err, details);
  return err;
}

/** Codes this package's own errors carry (besides the binding's). */
export const ErrorCodes = Object.freeze({
  /** The committed SQLite names a snapshot snapgc has no committed root or no blob for. */
  RECONCILE_MISSING: 'SNAPGC_RECONCILE_MISSING',
  /** snapgc's committed root for a (vat, position) names another snapshot than SQLite's row. */
  RECONCILE_MISMATCH: 'SNAPGC_RECONCILE_MISMATCH',
  /** SQLite recorded a snapgc epoch newer than the snapgc store's committed epoch. */
  RECONCILE_EPOCH: 'SNAPGC_RECONCILE_EPOCH',
  /** The snapgc store belongs to another swing-store (its `swingstore.id` is not SQLite's). */
  RECONCILE_FOREIGN: 'SNAPGC_RECONCILE_FOREIGN',
  /** A snapshot's bytes do not hash to the name SQLite has for them. */
  CORRUPT: 'SNAPGC_CORRUPT',
});
