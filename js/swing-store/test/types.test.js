// The package's TypeScript declarations compile (strict) against a host-like use of them.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
let tsc;
try {
  tsc = fileURLToPath(new URL('../bin/tsc', import.meta.resolve('typescript')));
} catch {
  tsc = undefined;
}
const skip = tsc && fs.existsSync(tsc) ? undefined : 'SKIP: typescript is not installed';
if (skip) console.log(skip);

test('src/index.d.ts compiles under tsc --strict with a host-like use', { skip }, () => {
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(here, 'types/tsconfig.json')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
