// A stand-in for @agoric/internal/tools/ava-assertions.js, which @agoric/internal 0.4.0 does
// not publish but @agoric/swing-store's deletion tests import. Same contract: the array has
// the expected length and each element is `t.like` its expected counterpart.

/**
 * @param {import('ava').ExecutionContext} t
 * @param {unknown[]} array
 * @param {unknown[]} expected
 * @param {string} [message]
 */
export const arrayIsLike = (t, array, expected, message) => {
  t.is(array.length, expected.length, message ?? 'array length');
  expected.forEach((want, i) => {
    const label = `${message ?? 'element'} [${i}]`;
    if (want !== null && typeof want === 'object') {
      t.like(array[i], want, label);
    } else {
      t.deepEqual(array[i], want, label);
    }
  });
};
