// The bootstrap vat of the real-kernel job: it wires the static vats together and holds the
// admin nodes of the dynamic vats (creation from one bundle, upgrade, failed upgrade,
// termination), on the host's orders.
import { Far, E } from '@endo/far';

export function buildRootObject(_vatPowers, vatParameters) {
  const maxDynamic = (vatParameters && vatParameters.maxDynamic) || 6;
  let vatAdmin;
  let statics;
  /** @type {Map<string, { root: any, adminNode: any, version: number }>} */
  const dynamic = new Map();
  const events = [];

  const upgradeDynamic = async (name, fail) => {
    const entry = dynamic.get(name);
    if (!entry) return `no ${name}`;
    const bcap = await E(vatAdmin).getNamedBundleCap('dyn');
    const version = entry.version + 1;
    try {
      await E(entry.adminNode).upgrade(bcap, {
        vatParameters: { version, fail: !!fail },
      });
      entry.version = version;
      events.push(`upgraded ${name} to ${version}`);
      return `upgraded ${name} to v${version}`;
    } catch (e) {
      events.push(`upgrade of ${name} failed`);
      return `upgrade of ${name} failed (rolled back): ${e && e.message}`;
    }
  };

  const terminateDynamic = async name => {
    const entry = dynamic.get(name);
    if (!entry) return `no ${name}`;
    dynamic.delete(name);
    await E(entry.adminNode).terminateWithFailure(
      harden({ reason: `host terminated ${name}` }),
    );
    events.push(`terminated ${name}`);
    return `terminated ${name}`;
  };

  const oldest = () => [...dynamic.keys()][0];

  return Far('bootstrap', {
    async bootstrap(vats, devices) {
      statics = vats;
      vatAdmin = await E(vats.vatAdmin).createVatAdminService(devices.vatAdmin);
      const contracts = Object.keys(vats)
        .filter(n => n.startsWith('contract'))
        .sort()
        .map(n => vats[n]);
      await E(vats.transport).setPeers(contracts);
      return 'bootstrapped';
    },
    async createDynamic(name, seed) {
      if (dynamic.size >= maxDynamic) return `skipped ${name}`;
      const bcap = await E(vatAdmin).getNamedBundleCap('dyn');
      const { root, adminNode } = await E(vatAdmin).createVat(bcap, {
        name,
        vatParameters: { version: 1, seed },
      });
      dynamic.set(name, { root, adminNode, version: 1 });
      events.push(`created ${name}`);
      return name;
    },
    async pokeDynamic(count, memo, start = 0, n = Infinity) {
      const names = [...dynamic.keys()].sort();
      const picked = [];
      for (let i = 0; i < Math.min(n, names.length); i += 1) {
        picked.push(names[(start + i) % names.length]);
      }
      const results = await Promise.all(
        picked.map(name => E(dynamic.get(name).root).work(count, memo)),
      );
      return results.length;
    },
    /** Pokes every vat of one cohort (the vats created together) alike: their heaps stay equal. */
    async pokeCohort(count, memo, k) {
      const cohorts = [...new Set([...dynamic.keys()].map(n => n.replace(/-[0-9]+$/, '')))].sort();
      if (cohorts.length === 0) return 0;
      const cohort = cohorts[k % cohorts.length];
      const names = [...dynamic.keys()].filter(n => n.replace(/-[0-9]+$/, '') === cohort).sort();
      const results = await Promise.all(
        names.map(name => E(dynamic.get(name).root).work(count, memo)),
      );
      return results.length;
    },
    upgradeDynamic,
    terminateDynamic,
    async upgradeOldest(fail) {
      const name = oldest();
      return name ? upgradeDynamic(name, fail) : 'no dynamic vat';
    },
    async terminateOldest() {
      const name = oldest();
      return name ? terminateDynamic(name) : 'no dynamic vat';
    },
    listDynamic() {
      return harden([...dynamic.keys()].sort());
    },
    getEvents() {
      return harden([...events]);
    },
    ping() {
      return statics ? 'ready' : 'not bootstrapped';
    },
  });
}
