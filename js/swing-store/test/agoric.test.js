// Point 5: @agoric/swing-store 0.10.0's own ava suite against our snapStore (test-agoric/run.mjs):
// every test passes except the cannot-apply ones the runner lists with their reasons.
import { loadPackage } from '../test-support/helpers.js';

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const runner = path.join(here, '../test-agoric/run.mjs');
const { skip: bindingSkip } = await loadPackage();
let skip = bindingSkip;
const ava = fileURLToPath(new URL('../entrypoints/cli.mjs', import.meta.resolve('ava')));
if (!skip && !fs.existsSync(ava)) {
  skip = `SKIP: ava is not installed (${ava})`;
  console.log(skip);
}

test("Agoric's swing-store suite passes against @snapgc/swing-store", { skip, timeout: 600_000 }, () => {
  const r = spawnSync(process.execPath, [runner, '--no-stock'], { encoding: 'utf8', maxBuffer: 16 << 20 });
  const summary = r.stdout.split('\n').filter(l => l.startsWith('@agoric/swing-store')).join('\n');
  console.log(summary || r.stdout.slice(-2000));
  assert.equal(r.status, 0, `${r.stdout.slice(-6000)}\n${r.stderr.slice(-3000)}`);
  assert.match(summary, / 0 fail /);
});
