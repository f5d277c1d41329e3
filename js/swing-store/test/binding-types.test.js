// native.d.ts (the binding's contract) compiles under tsc --strict against a use of every
// export, written to a temp dir. Skipped visibly when typescript is not installed.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const native = fileURLToPath(new URL('../src/native.js', import.meta.url));
let tsc;
try {
  tsc = fileURLToPath(new URL('../bin/tsc', import.meta.resolve('typescript')));
} catch {
  tsc = undefined;
}
const skip = tsc && fs.existsSync(tsc) ? undefined : 'typescript is not installed';
if (skip) console.log(`binding: skipped: ${skip}`);

const use = `
import {
  requireNative, openNative, bindingAvailable, bindingError, addonPath, ERROR_CODES, SnapgcStore,
  formatRootValue, type SaveInfo, type GcReport, type StoreStatus, type SnapgcError, type ErrorCode,
} from ${JSON.stringify(native)};

export async function use(): Promise<void> {
  if (!bindingAvailable) throw bindingError ?? new Error(addonPath);
  const addon = requireNative();
  const store: SnapgcStore = addon.SnapgcStore.open('/x', { create: true, grace: 2, archive: null, rootPatterns: ['v*.lastSnapshot'], metricsFile: '/m' });
  const other: SnapgcStore = openNative('/y');
  const save = store.beginSave();
  const queued: boolean = save.tryWrite(new Uint8Array(3));
  await save.write(new Uint8Array(3));
  const info: SaveInfo = await save.finish();
  save.abort();
  store.set('v1.lastSnapshot', formatRootValue(info.hash, 1));
  store.delete('k');
  const value: string | undefined = store.get('k') ?? store.getCommitted('k');
  const epoch: number = (await store.commit()) + store.epoch();
  store.abort();
  const report: GcReport = await store.gc();
  const status: StoreStatus = await store.status();
  const json: string = await store.statusJson();
  const load = await store.openLoad(info.hash, { chunkBytes: 65536 });
  for await (const chunk of load) {
    const b: Buffer = chunk;
    void b;
  }
  const n: number = (await load.readInto(new Uint8Array(10))) + load.tryReadInto(new Uint8Array(1));
  const next: Buffer | null = await load.read();
  const now: Buffer | null | undefined = load.tryRead();
  load.close();
  const direct = store.openLoadNow(info.hash);
  const lease = store.lease(info.hash);
  const leased: string = lease.hash + direct.hash;
  lease.release();
  const pairs: Array<[string, string]> = store.scanPrefix('v');
  const bytes: Buffer = store.readSync(info.hash);
  const saved: SaveInfo = await store.saveFrom([new Uint8Array(1)]);
  const loaded: Buffer = await store.loadBytes(saved.hash);
  const codes: readonly ErrorCode[] = ERROR_CODES;
  const external: number = addon.externalMemory();
  const present: boolean = store.has(info.hash) && !store.closed;
  try {
    store.epoch();
  } catch (e) {
    const err = e as SnapgcError;
    const code: ErrorCode = err.code;
    void code;
  }
  console.log(queued, value, epoch, report.durationMs, report.errors, status.epoch, json, n, next, now, leased,
    pairs, bytes, loaded, codes, external, present, other.path, await store.verify(info.hash),
    store.blobInfo(info.hash)?.condemnedEpoch);
  await store.close();
}
`;

test('native.d.ts compiles under tsc --strict against a use of every export', { skip, timeout: 120_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapgc-binding-types-'));
  try {
    fs.writeFileSync(path.join(dir, 'use.mts'), use);
    const typeRoots = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules', '@types');
    const r = spawnSync(
      process.execPath,
      [tsc, '--strict', '--noEmit', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
        '--types', 'node', '--typeRoots', typeRoots, path.join(dir, 'use.mts')],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
