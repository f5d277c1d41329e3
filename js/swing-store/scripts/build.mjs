#!/usr/bin/env node
// Builds the snapgc binding (crates/node, package snapgc-node) in release and places the addon
// in this package as snapgc.node (gitignored): `npm --prefix js/swing-store run build`.
// Respects CARGO_TARGET_DIR (default <repo>/target) and CARGO (default `cargo`).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repo = path.resolve(pkgDir, '..', '..');
const cargo = process.env.CARGO || 'cargo';
const targetDir = process.env.CARGO_TARGET_DIR
  ? path.resolve(repo, process.env.CARGO_TARGET_DIR)
  : path.join(repo, 'target');

const args = ['build', '--release', '-p', 'snapgc-node'];
console.log(`binding build: ${cargo} ${args.join(' ')} (target dir ${targetDir})`);
const built = spawnSync(cargo, args, { cwd: repo, stdio: 'inherit' });
if (built.error) {
  console.error(`binding build: FAILED: could not run ${cargo}: ${built.error.message}`);
  process.exit(1);
}
if (built.status !== 0) {
  console.error(`binding build: FAILED: cargo exited with ${built.status ?? built.signal}`);
  process.exit(1);
}
const names = { linux: 'libsnapgc_node.so', darwin: 'libsnapgc_node.dylib', win32: 'snapgc_node.dll' };
const lib = path.join(targetDir, 'release', names[process.platform] ?? 'libsnapgc_node.so');
if (!existsSync(lib)) {
  console.error(`binding build: FAILED: cargo left no ${lib}`);
  process.exit(1);
}
// Copy beside, then rename: a process that has the old addon loaded keeps its mapping.
const dest = path.join(pkgDir, 'snapgc.node');
const temp = `${dest}.tmp-${process.pid}`;
copyFileSync(lib, temp);
renameSync(temp, dest);
console.log(`binding build: ${dest} (${(statSync(dest).size / 1048576).toFixed(1)} MiB)`);
