// The two stores' modules. Stock is @agoric/swing-store 0.10.0; the snapgc side is
// @snapgc/swing-store (same `openSwingStore` signature and return shape). REAL_KERNEL_SNAPGC_SIDE=stock
// runs stock on both sides (a control run: every difference then is noise).
import path from 'node:path';
import * as stock from '@agoric/swing-store';

export async function loadStores() {
  const control = process.env.REAL_KERNEL_SNAPGC_SIDE === 'stock';
  let snapgc;
  if (control) {
    snapgc = { ...stock, isStockControl: true };
  } else {
    try {
      snapgc = await import('@snapgc/swing-store');
    } catch (e) {
      const err = Error(
        `cannot load @snapgc/swing-store (${e.message}); run \`npm --prefix js/real-kernel run setup\` first`,
      );
      err.code = e.code ?? 'SNAPGC_BINDING_MISSING';
      throw err;
    }
  }
  return { stock, snapgc, control };
}

/** Where a side's snapgc blob store lives: @snapgc/swing-store's default, `<dirPath>/snapgc`. */
export const snapgcDirOf = sideDir => path.join(sideDir, 'snapgc');
