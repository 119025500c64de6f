/** The store lock: a lease that vanishes right after its grant is replaced, not turned into a failed operation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EmbeddedStore } from '../../src/adapters/coord/embedded-store.js';
import { type CoordStore, CoordError } from '../../src/adapters/coord/types.js';
import { withStoreLock } from '../../src/services/store-lock.js';

/** The store, with its first `failures` lock transactions refused as etcd refuses a lease it no longer has. */
function losingLeases(store: EmbeddedStore, failures: number): { store: CoordStore; grants: () => number } {
  let left = failures;
  let grants = 0;
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'txn')
        return async (...args: Parameters<CoordStore['txn']>) => {
          if (left > 0) {
            left--;
            throw new CoordError('lease_lost', 'etcdserver: requested lease not found');
          }
          return target.txn(...args);
        };
      if (prop === 'grantLease')
        return async (ttl: number) => {
          grants++;
          return target.grantLease(ttl);
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { store: proxy, grants: () => grants };
}

describe('withStoreLock', () => {
  it('takes a new lease when the one just granted is gone, and runs the operation', async () => {
    const base = new EmbeddedStore({ tickMs: 50 });
    const { store, grants } = losingLeases(base, 2);
    let ran = false;
    const out = await withStoreLock(store, 'allocate', async () => {
      ran = true;
      assert.ok(await base.get('/portway/locks/allocate'), 'the lock key is held while the operation runs');
      return 42;
    });
    assert.equal(out, 42);
    assert.ok(ran);
    assert.equal(grants(), 3, 'the first grant and one per lost lease');
    assert.equal(await base.get('/portway/locks/allocate'), undefined, 'released after');
    await base.close();
  });

  it('gives up after a few lost leases with the store error', async () => {
    const base = new EmbeddedStore({ tickMs: 50 });
    const { store } = losingLeases(base, 10);
    await assert.rejects(
      withStoreLock(store, 'allocate', async () => 1),
      (e: unknown) => e instanceof CoordError && e.code === 'lease_lost',
    );
    await base.close();
  });
});
