// The dynamic vats' one bundle (the zygote case): every dynamic vat starts from it with the same
// parameters. An upgrade with `fail: true` throws in buildRootObject, so the kernel rolls the
// upgrade back and the vat goes on in its previous incarnation.
import { Far } from '@endo/far';

export function buildRootObject(_vatPowers, vatParameters, baggage) {
  const { version = 1, fail = false, seed = 0 } = vatParameters || {};
  if (fail) {
    throw Error(`deliberately failed upgrade to version ${version}`);
  }
  if (!baggage.has('incarnations')) baggage.init('incarnations', 0);
  baggage.set('incarnations', baggage.get('incarnations') + 1);
  const items = [];
  let done = 0;
  return Far('dyn root', {
    work(count, memo) {
      for (let i = 0; i < count; i += 1) {
        done += 1;
        items.push({ n: done, memo: `${memo}/${seed}/${i}`, version });
      }
      if (items.length > 400) items.splice(0, items.length - 400);
      return done;
    },
    info() {
      return harden({ version, done, incarnations: baggage.get('incarnations') });
    },
  });
}
