// A busy transport-like vat (vattp's pattern): many small deliveries, small state that does not
// grow (a bounded window of recent acks), fanning messages out to the contract vats.
import { Far, E } from '@endo/far';

export function buildRootObject() {
  let peers = [];
  let ack = 0;
  const window = [];

  return Far('transport root', {
    setPeers(contracts) {
      peers = [...contracts];
      return peers.length;
    },
    deliver(batch) {
      for (const msg of batch) {
        ack += 1;
        window.push(`${ack}:${msg.to}:${msg.op}`);
        if (window.length > 64) window.shift();
        const peer = peers[msg.to % Math.max(peers.length, 1)];
        if (!peer) continue;
        if (msg.op === 'transfer') {
          void E(peer).transfer(msg.from, msg.acct, msg.amount, msg.memo);
        } else {
          void E(peer).deposit(msg.acct, msg.amount, msg.memo);
        }
      }
      return ack;
    },
    getAck() {
      return ack;
    },
  });
}
