// Bundles of the kernel, its built-in vats and this job's vats, built once and cached.
//
// Bundling the kernel takes ~18 s here; the bundles depend only on the installed packages and
// on src/vats/, so they are cached as JSON under the OS temp dir (never in the tree), keyed by a
// hash of those inputs. A stale or unreadable cache entry is rebuilt.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import bundleSource from '@endo/bundle-source';
import { buildKernelBundles } from '@agoric/swingset-vat';

const here = path.dirname(fileURLToPath(import.meta.url));
export const VATS_DIR = path.join(here, 'vats');
/** The job's own vats (static and the dynamic vats' one bundle). */
export const VAT_SOURCES = {
  bootstrap: 'vat-bootstrap.js',
  contract: 'vat-contract.js',
  transport: 'vat-transport.js',
  dyn: 'vat-dyn.js',
};

function cacheKey() {
  const require = createRequire(import.meta.url);
  const h = crypto.createHash('sha256');
  for (const pkg of ['@agoric/swingset-vat', '@agoric/swingset-liveslots', '@agoric/xsnap-lockdown', 'ses']) {
    try {
      const pj = require.resolve(`${pkg}/package.json`);
      h.update(`${pkg}@${JSON.parse(fs.readFileSync(pj, 'utf8')).version}\n`);
    } catch {
      h.update(`${pkg}@?\n`);
    }
  }
  for (const f of Object.values(VAT_SOURCES).sort()) {
    h.update(f);
    h.update(fs.readFileSync(path.join(VATS_DIR, f)));
  }
  h.update(process.version);
  return h.digest('hex').slice(0, 24);
}

/**
 * @param {{ log?: (s: string) => void, cacheDir?: string }} [opts]
 * @returns {Promise<{ kernelBundles: Record<string, any>, vatBundles: Record<string, any>, seconds: number, cached: boolean }>}
 */
export async function loadBundles(opts = {}) {
  const { log = () => {} } = opts;
  const cacheDir =
    opts.cacheDir ?? process.env.REAL_KERNEL_BUNDLE_CACHE ?? path.join(os.tmpdir(), 'snapgc-real-kernel-bundles');
  const file = path.join(cacheDir, `bundles-${cacheKey()}.json`);
  const t0 = performance.now();
  try {
    const cached = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (cached && cached.kernelBundles && cached.vatBundles) {
      return { ...cached, seconds: (performance.now() - t0) / 1000, cached: true };
    }
  } catch {
    // absent or unreadable: rebuild below
  }
  log('bundling the kernel and the vats (once; cached under the OS temp dir)');
  const kernelBundles = await buildKernelBundles();
  const vatBundles = {};
  for (const [name, f] of Object.entries(VAT_SOURCES)) {
    vatBundles[name] = await bundleSource(path.join(VATS_DIR, f));
  }
  const result = { kernelBundles, vatBundles };
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(result));
    fs.renameSync(tmp, file);
  } catch (e) {
    log(`note: could not cache the bundles in ${cacheDir}: ${e.message}`);
  }
  return { ...result, seconds: (performance.now() - t0) / 1000, cached: false };
}
