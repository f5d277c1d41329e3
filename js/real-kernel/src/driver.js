// Driving a side block by block: queue the block's messages, run the kernel to quiescence under
// a run policy that budgets the cleanup of terminated vats, commit.
import { HEIGHT_KEY } from './side.js';
import { contractNames } from './workload.js';

/** Cleanup of a terminated vat in budgeted steps (so deleteVatSnapshots(vatID, budget) runs). */
export function makeRunPolicy(hooks = {}) {
  return harden({
    vatCreated: () => true,
    crankComplete: () => {
      hooks.at?.('crank');
      return true;
    },
    crankFailed: () => true,
    emptyCrank: () => true,
    allowCleanup: () => ({ default: 5 }),
    didCleanup: () => true,
  });
}

/** The static vats the host sends to; pinned once, before the first block commits. */
export const staticRoots = vats => ['bootstrap', 'transport', ...contractNames(vats)];

/**
 * Runs one block on one side. `hooks.at(point)` lets the crash test kill the host at
 * 'queued', 'ran', 'committed' (after hostStorage.commit()).
 *
 * @param {any} side  from openSide
 * @param {number} block
 * @param {{ sends: Array<[string, string, unknown[]]> }} plan
 * @param {{ at?: (point: string) => void }} [hooks]
 */
export async function runBlock(side, block, plan, hooks = {}) {
  const { controller, hostStorage } = side;
  const t0 = performance.now();
  for (const [vat, method, args] of plan.sends) {
    controller.queueToVatRoot(vat, method, args, 'ignore');
  }
  hooks.at?.('queued');
  const cranks = await controller.run(makeRunPolicy(hooks));
  const t1 = performance.now();
  hooks.at?.('ran');
  hostStorage.kvStore.set(HEIGHT_KEY, String(block));
  const commitResult = await hostStorage.commit();
  const t2 = performance.now();
  hooks.at?.('committed');
  side.height = block;
  return {
    block,
    cranks,
    run_ms: t1 - t0,
    commit_ms: t2 - t1,
    wall_ms: t2 - t0,
    commitResult,
    activityhash: controller.getActivityhash(),
    timers: side.takeTimers(),
    export: side.takeExport(),
  };
}

/** Pins the static vat roots when no block has committed yet (pinning changes the activity hash). */
export function pinStaticRoots(side, vats) {
  if (side.height === 0) {
    for (const v of staticRoots(vats)) side.pin(v);
  }
}
