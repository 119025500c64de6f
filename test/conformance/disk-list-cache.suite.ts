/**
 * The disk list cache (src/services/disk-list-cache.ts) over a real coordination store: the list it
 * answers must always equal the list read from the store directly, once the watch has delivered
 * other writers' changes, and at once for writes made through track().
 * Run over the embedded store (test/unit) and etcd (test/integration/coord-etcd.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { CoordStore } from '../../src/adapters/coord/types.js';
import type { DiskMeta } from '../../src/domain/disk.js';
import { DISKS, OWNERS, assembleDisks, diskKey, ownerKey, registrationKvs, servedKey } from '../../src/domain/keys.js';
import { DiskListCache } from '../../src/services/disk-list-cache.js';
import { type DiskView, diskView } from '../../src/services/disk-view.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: 'silent' });

function meta(n: number, paths = 2): DiskMeta {
  const id = String(n).padStart(5, '0');
  return {
    id,
    name: `disk-${n}`,
    sizeGb: n,
    createdAt: '2026-11-25T00:00:00.000Z',
    acl: '',
    chapUser: '',
    chapPassword: '',
    iqn: `iqn.2016-05.io.portway:${id}`,
    pool: 'rbd',
    subnet: 1,
    paths: Array.from({ length: paths }, (_, k) => ({ ip: `127.10.1.${(n * paths + k) % 250}`, subnetMask: '255.255.255.0', eth: 'lo' })),
  };
}

async function direct(store: CoordStore): Promise<DiskView[]> {
  const [d, o] = await Promise.all([store.list(DISKS), store.list(OWNERS)]);
  return [...assembleDisks([...d, ...o]).values()].map(diskView).sort((a, b) => (a.id < b.id ? -1 : 1));
}

async function converged(cache: DiskListCache, store: CoordStore, timeoutMs = 5000): Promise<readonly DiskView[]> {
  return waitFor(
    async () => {
      const [c, d] = [await cache.list(), await direct(store)];
      assert.deepEqual(c, d);
      return c as readonly DiskView[];
    },
    { what: 'the cached list to match the store', timeoutMs, intervalMs: 20, retry: (e) => e instanceof assert.AssertionError },
  );
}

export type MakeStore = () => Promise<{ store: CoordStore; cleanup: () => Promise<void> }>;

export function diskListCacheSuite(name: string, make: MakeStore, opts: { skip?: string | false } = {}): void {
  describe(`disk list cache: ${name}`, { skip: opts.skip || false }, () => {
    it('answers what the store holds, and the same array while nothing changes', async () => {
      const { store, cleanup } = await make();
      const cache = new DiskListCache(store, log);
      try {
        for (let n = 1; n <= 5; n++) for (const kv of registrationKvs(meta(n), 'started')) await store.put(kv.key, kv.value);
        const a = await cache.list();
        assert.ok(a);
        assert.deepEqual(a, await direct(store));
        assert.equal(a.length, 5);
        assert.equal(await cache.list(), a, 'no change: the same array');
      } finally {
        await cache.close();
        await cleanup();
      }
    });

    it('reads its own writes at once: add, status change, delete through track()', async () => {
      const { store, cleanup } = await make();
      const cache = new DiskListCache(store, log);
      const tracked = cache.track(store);
      try {
        assert.deepEqual(await cache.list(), []);
        const kvs = registrationKvs(meta(7), 'started');
        assert.ok(
          await tracked.txn(
            kvs.map((kv) => ({ key: kv.key, modRevision: 0 })),
            kvs.map((kv) => ({ type: 'put' as const, ...kv })),
          ),
        );
        const after = await cache.list();
        assert.deepEqual(
          after?.map((d) => d.id),
          ['00007'],
          'the add is in the next list, with no wait',
        );
        assert.equal(after?.[0]?.status, 'starting');
        await tracked.put(ownerKey('00007', 1), JSON.stringify({ node: 'n1', state: 'served' }));
        await tracked.put(ownerKey('00007', 2), JSON.stringify({ node: 'n2', state: 'served' }));
        await tracked.put(servedKey('00007'), '1');
        assert.equal((await cache.list())?.[0]?.status, 'started');
        const rec = await store.get(diskKey('00007'));
        assert.ok(rec);
        assert.ok(
          await tracked.txn(
            [{ key: diskKey('00007'), modRevision: rec.modRevision }],
            [
              { type: 'deletePrefix', prefix: `${diskKey('00007')}/` },
              { type: 'delete', key: diskKey('00007') },
              { type: 'deletePrefix', prefix: `${OWNERS}00007/` },
            ],
          ),
        );
        assert.deepEqual(await cache.list(), [], 'the delete is in the next list, with no wait');
      } finally {
        await cache.close();
        await cleanup();
      }
    });

    it("follows other writers' changes (an agent's owner keys, another server's adds) and equals a direct read", async () => {
      const { store, cleanup } = await make();
      const cache = new DiskListCache(store, log);
      try {
        await cache.list();
        // a random mix of puts and deletes by "others", with lists in between
        let seed = 42;
        const rnd = (n: number) => {
          seed = (seed * 1103515245 + 12345) % 2 ** 31;
          return seed % n;
        };
        for (let step = 0; step < 120; step++) {
          const n = 1 + rnd(12);
          const id = String(n).padStart(5, '0');
          const what = rnd(5);
          if (what === 0) for (const kv of registrationKvs(meta(n, 1 + rnd(4)), rnd(2) ? 'started' : 'stopped')) await store.put(kv.key, kv.value);
          else if (what === 1) await store.put(ownerKey(id, 1 + rnd(4)), JSON.stringify({ node: `n${rnd(3)}`, state: rnd(2) ? 'served' : 'configuring' }));
          else if (what === 2) await store.delete(ownerKey(id, 1 + rnd(4)));
          else if (what === 3) await store.deletePrefix(`${diskKey(id)}`);
          else await store.put(`${diskKey(id)}/1`, 'not json');
          if (step % 10 === 0) await cache.list();
        }
        const final = await converged(cache, store);
        assert.ok(final.length > 0, 'the random mix leaves some disks');
      } finally {
        await cache.close();
        await cleanup();
      }
    });

    it("subscribers hear every change through the cache's own watches, until they unsubscribe", async () => {
      const { store, cleanup } = await make();
      const cache = new DiskListCache(store, log);
      try {
        let a = 0;
        let b = 0;
        const offA = await cache.subscribe(() => a++);
        await cache.subscribe(() => b++);
        const wait = (cond: () => boolean) => waitFor(cond, { what: 'the subscribers called', timeoutMs: 5000, intervalMs: 20 });
        await store.put(ownerKey('00003', 1), JSON.stringify({ node: 'n1', state: 'served' }));
        await wait(() => a >= 1 && b >= 1);
        offA();
        const before = a;
        await store.put(diskKey('00003'), JSON.stringify({ x: 1 }));
        await wait(() => b >= 2);
        assert.equal(a, before, 'no call after unsubscribe');
      } finally {
        await cache.close();
        await cleanup();
      }
    });

    it('a list is not held back by the cache when the store cannot be watched (closed store): undefined, the caller reads directly', async () => {
      const { store, cleanup } = await make();
      await cleanup();
      const cache = new DiskListCache(store, log);
      assert.equal(await cache.list(), undefined);
      await cache.close();
    });
  });
}
