// The identity check is a check: one extra message on the snapgc side (REAL_KERNEL_MUTATE=diverge)
// must make the job report identical: false and exit 1; the same run without it must pass.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.join(path.dirname(here), 'src', 'main.js');
const require = createRequire(import.meta.url);

function missingPrerequisite() {
  try {
    const xsnapDir = path.dirname(require.resolve('@agoric/xsnap/package.json'));
    if (!fs.existsSync(path.join(xsnapDir, 'xsnap-native/xsnap/build/bin/lin/release/xsnap-worker'))) {
      return 'the xsnap worker is not built; run npm --prefix js/real-kernel run setup';
    }
    require('better-sqlite3')(':memory:').close();
    const addon = path.join(path.dirname(fileURLToPath(import.meta.resolve('@snapgc/swing-store'))), '..', 'snapgc.node');
    if (!fs.existsSync(addon) && !process.env.SNAPGC_NODE_ADDON) return 'the snapgc binding is not built; run npm --prefix js/swing-store run build';
  } catch (e) {
    return `${e.message}; run npm --prefix js/real-kernel run setup`;
  }
  return null;
}
const why = missingPrerequisite();
if (why) console.log(`SKIP real-kernel identity test: ${why}`);

const runMain = env =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, '--blocks', '2', '--vats', '1', '--json', '--quiet', '--no-sink'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', d => (stdout += d));
    child.stderr.on('data', d => (stderr += d));
    child.on('error', reject);
    child.on('exit', code => resolve({ code, stdout, stderr }));
  });

test('real kernel: the side-by-side identity check catches one extra message', { skip: why ?? false, timeout: 600_000 }, async () => {
  const [good, mutant] = [await runMain({}), await runMain({ REAL_KERNEL_MUTATE: 'diverge' })];
  assert.equal(good.code, 0, `the plain run failed: ${good.stderr.slice(-2000)}`);
  assert.equal(JSON.parse(good.stdout).identical, true);
  assert.equal(mutant.code, 1, 'the diverging run did not exit 1');
  const j = JSON.parse(mutant.stdout);
  assert.equal(j.identical, false);
  assert.ok(j.checks.some(c => !c.ok && c.name.startsWith('activity hash after block 2')), JSON.stringify(j.checks));
});
