// The host's inputs, block by block: a pure function of (block, vats), so the snapgc run and
// the stock run (and a restarted run) queue exactly the same messages.

/** Dynamic vats alive at most at once (created from one bundle: the zygote case). */
export const MAX_DYNAMIC = 6;

/** Names of the contract-like static vats. */
export const contractNames = vats => Array.from({ length: vats }, (_, i) => `contract${i + 1}`);

/**
 * A small deterministic generator (mulberry32) from a 32-bit state: numbers in [0, 1).
 * @param {number} state
 */
export function makeRng(state) {
  let s = state >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The block's generator, seeded by the block number. */
const rng = seed => makeRng((seed * 0x9e3779b9) >>> 0);

/**
 * What the host does in block `block` (1-based; block 1 is the bootstrap): messages to vat roots and lifecycle orders to
 * the bootstrap vat. Lifecycle, in a 12-block cycle: create dynamic vats early, an upgrade at
 * 6, a failed upgrade (rolled back) at 8, a termination at 11.
 *
 * @param {number} block
 * @param {number} vats  contract-like vats
 * @returns {{ sends: Array<[vat: string, method: string, args: unknown[]]>, events: string[] }}
 */
export function planBlock(block, vats) {
  if (block <= 1) {
    // the first block runs the bootstrap vat's bootstrap() alone
    return { sends: [], events: ['bootstrap'] };
  }
  const r = rng(block);
  const contracts = contractNames(vats);
  /** @type {Array<[string, string, unknown[]]>} */
  const sends = [];
  const events = [];
  // Each block is busy on one contract (rotating) and lightly on the next, so the working set
  // is a few vats and the rest page out and in as the focus moves.
  const focus = block % vats;
  const next = (block + 1) % vats;
  // The busy transport vat: a batch of small messages fanned out to the contracts.
  const batch = [];
  for (let i = 0; i < 10; i += 1) {
    batch.push({
      to: i < 8 ? focus : next,
      op: r() < 0.3 ? 'transfer' : 'deposit',
      from: `acct${Math.floor(r() * 50)}`,
      acct: `acct${Math.floor(r() * 200)}`,
      amount: 1 + Math.floor(r() * 1000),
      memo: `b${block}m${i}`,
    });
  }
  sends.push(['transport', 'deliver', [batch]]);
  // Contract state grows: direct deposits and offers carrying a memo.
  const c = contracts[focus];
  const n = 2 + Math.floor(r() * 3);
  for (let i = 0; i < n; i += 1) {
    sends.push([c, 'deposit', [`acct${block * 7 + i}`, 10 + i, `direct ${block}/${i} ${'x'.repeat(40)}`]]);
  }
  sends.push([c, 'makeOffer', [`give ${block}`, `want ${block}`]]);
  // Dynamic vats: one bundle, created two at a time (a cohort); one cohort poked per block, its
  // vats alike, so their heaps are equal (the zygote case: one blob in snapgc).
  const phase = block % 12;
  if (block <= 3 || phase === 1 || phase === 2) {
    for (let i = 0; i < 2; i += 1) {
      const name = `dyn-${block}-${i}`;
      sends.push(['bootstrap', 'createDynamic', [name, 0]]);
      events.push(`create ${name}`);
    }
  }
  sends.push(['bootstrap', 'pokeCohort', [3, `poke ${block}`, block]]);
  if (phase === 6) {
    sends.push(['bootstrap', 'upgradeOldest', [false]]);
    events.push('upgrade');
  }
  if (phase === 8) {
    sends.push(['bootstrap', 'upgradeOldest', [true]]);
    events.push('failed upgrade');
  }
  if (phase === 11 || phase === 4) {
    sends.push(['bootstrap', 'terminateOldest', []]);
    events.push('terminate');
  }
  return { sends, events };
}
