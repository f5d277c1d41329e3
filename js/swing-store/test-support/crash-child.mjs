// The crash test's child: runs kernel-like blocks on a swing-store and kills itself with
// SIGKILL at the commit step named by SNAPGC_CRASH_AT in block SNAPGC_CRASH_BLOCK.
//
//   node crash-child.mjs DIR BLOCKS
//   SNAPGC_CRASH_AT     mid-block | before-snapgc-commit | after-snapgc-commit |
//                       after-sqlite-commit | after-gc   (absent: no self-kill)
//   SNAPGC_CRASH_BLOCK  the block (1-based count since this start) to die in (default 2)
//   SNAPGC_COMMIT_ORDER sqlite-first: the WRONG order (the mutation the test must catch)
//   SNAPGC_SEED         varies the heaps (default 1)
// Exit 0 after BLOCKS blocks; exit 3 with {"refused": code} on stdout when the store refuses
// to open.
import './helpers.js';
import fs from 'node:fs';
import { heapLike, streamOf } from './helpers.js';

const { openSwingStore } = await import('../src/index.js');

const [dir, blocksArg] = process.argv.slice(2);
const blocks = Number(blocksArg || 4);
const crashAt = process.env.SNAPGC_CRASH_AT;
const crashBlock = Number(process.env.SNAPGC_CRASH_BLOCK || 2);
const seed = Number(process.env.SNAPGC_SEED || 1);
const commitOrder = process.env.SNAPGC_COMMIT_ORDER || 'snapgc-first';

let blockOfThisRun = 0;
const die = step => {
  if (crashAt === step && blockOfThisRun === crashBlock) {
    process.kill(process.pid, 'SIGKILL');
  }
};

let store;
try {
  store = openSwingStore(dir, {
    snapgc: { grace: 0, onCommitStep: die, commitOrder },
  });
} catch (err) {
  // (writeSync: process.exit would cut an asynchronous write to a pipe)
  fs.writeSync(1, `${JSON.stringify({ refused: err.code ?? 'ERROR', message: err.message })}\n`);
  process.exit(3);
}
const { kernelStorage: ks, hostStorage: hs } = store;
const vats = ['v1', 'v2', 'v3', 'v4'];
let block = Number(hs.kvStore.get('host.block') ?? 0);

for (let i = 0; i < blocks; i += 1) {
  block += 1;
  blockOfThisRun += 1;
  for (const [n, vat] of vats.entries()) {
    if ((block + n) % 2 !== 0) continue; // half the vats snapshot each block
    ks.startCrank();
    ks.establishCrankSavepoint('deliver');
    // v3 and v4 come from one zygote: same heap, one blob
    const heapSeed = vat === 'v4' ? seed * 100_000 + block * 10 + 2 : seed * 100_000 + block * 10 + n;
    await ks.snapStore.saveSnapshot(vat, block * 10, streamOf(heapLike(heapSeed, 20_000 + n * 7_000)));
    if (block % 5 === 4 && vat === 'v2') {
      // a failed upgrade: stopUsingLastSnapshot rolled back
      ks.establishCrankSavepoint('upgrade');
      ks.snapStore.stopUsingLastSnapshot(vat);
      ks.rollbackCrank('upgrade');
    }
    ks.kvStore.set(`${vat}.t.endPosition`, String(block * 10));
    ks.emitCrankHashes();
    ks.endCrank();
    die('mid-block');
  }
  if (block % 7 === 6) {
    ks.startCrank();
    ks.snapStore.stopUsingLastSnapshot('v1'); // an upgrade: v1 restarts from its bundle
    ks.endCrank();
  }
  hs.kvStore.set('host.block', String(block));
  await hs.commit();
}
await hs.close();
console.log(JSON.stringify({ done: block }));
