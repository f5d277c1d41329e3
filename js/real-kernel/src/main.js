// The real SwingSet kernel on snapgc, side by side with stock @agoric/swing-store.
//
//   npm --prefix js/real-kernel run main -- --blocks N [--vats V] [--store DIR] [--archive DIR]
//       [--report FILE.svg] [--json]
//
// Both sides run the same blocks on the real @agoric/swingset-vat 0.33.0 kernel with xsnap
// workers; each block: queue the host's messages, controller.run(), hostStorage.commit(). The
// activity hash, the export data and the transcripts must be identical (exit 1 otherwise).
import '@endo/init';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, USAGE } from './args.js';
import { runJob } from './job.js';
import { printText } from './report.js';

// The kernel and its vats print to stdout (console.log); this job's stdout is its result alone
// (one JSON document with --json), so everything else goes to stderr.
const writeStdout = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`real-kernel: ${e.message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    writeStdout(`${USAGE}\n`);
    return 0;
  }
  // `npm --prefix js/real-kernel run main` runs in js/real-kernel: relative paths are the
  // caller's (npm's INIT_CWD), not the package's
  const base = process.env.INIT_CWD ?? process.cwd();
  for (const k of ['store', 'archive', 'report']) {
    if (args[k] !== undefined) args[k] = path.resolve(base, args[k]);
  }
  const log = args.json || args.quiet ? () => {} : s => console.error(`real-kernel: ${s}`);
  const temp = !args.store;
  const storeDir = args.store ?? fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-real-kernel-'));
  let result;
  try {
    result = await runJob({ ...args, storeDir, log });
  } finally {
    if (temp) fs.rmSync(storeDir, { recursive: true, force: true });
  }
  if (args.json) {
    writeStdout(`${JSON.stringify(result.json, null, 2)}\n`);
  } else {
    writeStdout(printText(result.json, result.checks));
  }
  return result.ok ? 0 : 1;
}

main().then(
  code => {
    process.exitCode = code;
    // xsnap workers are shut down by the job; nothing else should keep the loop alive
    setTimeout(() => process.exit(code), 200).unref();
  },
  e => {
    console.error(`real-kernel: FAILED: ${e && e.stack ? e.stack : e}`);
    process.exit(1);
  },
);
