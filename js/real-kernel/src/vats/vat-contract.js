// A contract-like vat whose state grows: accounts with balances and a ledger of every
// movement, kept on the JS heap (so its XS snapshots grow block after block).
import { Far } from '@endo/far';

export function buildRootObject(_vatPowers, vatParameters) {
  const name = (vatParameters && vatParameters.name) || 'contract';
  /** @type {Map<string, { balance: bigint, ledger: string[] }>} */
  const accounts = new Map();
  const offers = [];
  let seq = 0;

  const account = id => {
    let a = accounts.get(id);
    if (!a) {
      a = { balance: 0n, ledger: [] };
      accounts.set(id, a);
    }
    return a;
  };

  return Far(`${name} root`, {
    deposit(id, amount, memo) {
      seq += 1;
      const a = account(id);
      a.balance += BigInt(amount);
      a.ledger.push(`${seq}:+${amount}:${memo}`);
      return `${a.balance}`;
    },
    transfer(from, to, amount, memo) {
      seq += 1;
      const a = account(from);
      const b = account(to);
      const amt = BigInt(amount);
      if (a.balance < amt) {
        a.ledger.push(`${seq}:refused:${memo}`);
        return false;
      }
      a.balance -= amt;
      b.balance += amt;
      a.ledger.push(`${seq}:-${amount}>${to}:${memo}`);
      b.ledger.push(`${seq}:+${amount}<${from}:${memo}`);
      return true;
    },
    makeOffer(give, want) {
      seq += 1;
      const offer = harden({ seq, give, want, note: `offer ${seq} of ${name}` });
      offers.push(offer);
      return offer.seq;
    },
    summary() {
      let total = 0n;
      for (const a of accounts.values()) total += a.balance;
      return harden({ name, accounts: accounts.size, offers: offers.length, total: `${total}`, seq });
    },
  });
}
