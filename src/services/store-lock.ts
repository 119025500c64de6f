/**
 * A lock held in the coordination store, so API servers of one cluster take turns (e.g. adds, which
 * allocate ids and IPs). The lock key lives under a lease: a holder that dies frees it when the lease
 * expires; a live holder renews it while it works. Correctness never rests on the lock alone (the
 * registration transaction checks every id, IP and name); it only spares the losers wasted work.
 */
import { type CoordStore, CoordError } from '../adapters/coord/types.js';
import { sleep } from '../util/async.js';

export async function withStoreLock<T>(
  store: CoordStore,
  name: string,
  fn: () => Promise<T>,
  opts: { ttlSeconds?: number; timeoutMs?: number } = {},
): Promise<T> {
  const ttl = opts.ttlSeconds ?? 10;
  const key = `/portway/locks/${name}`;
  let lease = await store.grantLease(ttl);
  let renew: NodeJS.Timeout | undefined;
  try {
    const end = Date.now() + (opts.timeoutMs ?? 30_000);
    let regranted = 0;
    for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
      try {
        if (await store.txn([{ key, modRevision: 0 }], [{ type: 'put', key, value: String(process.pid), lease: lease.id }])) break;
      } catch (e) {
        // The lease just granted is gone (seen once right after etcd restarted): nothing is held under it,
        // so take a new one and try again, a few times, rather than fail the caller's operation.
        if (!(e instanceof CoordError && e.code === 'lease_lost') || regranted >= 3 || Date.now() > end) throw e;
        regranted++;
        lease = await store.grantLease(ttl);
        continue;
      }
      if (Date.now() > end) throw new CoordError('timeout', `lock ${name} is busy`);
      await sleep(wait * (0.5 + Math.random()));
    }
    renew = setInterval(() => void lease.keepAliveOnce().catch(() => {}), (ttl * 1000) / 3);
    return await fn();
  } finally {
    if (renew) clearInterval(renew);
    await lease.revoke().catch(() => {});
  }
}
