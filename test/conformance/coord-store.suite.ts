/**
 * Conformance suite of the CoordStore interface (src/adapters/coord/types.ts): every implementation
 * (embedded store, etcd) must pass it. Each test works under its own random key root, so `make` may
 * hand out stores that share one backend.
 *
 *   coordStoreSuite('etcd', async () => ({ store, cleanup }), { leaseTtl: 2 });
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CoordError, type CoordStore, createAllIfAbsent, type KeyValue, type WatchEvent } from '../../src/adapters/coord/types.js';
import { sleep, waitFor } from '../helpers/wait.js';

export interface CoordSuiteExtra {
  /** Skip the whole suite with this reason (see test/helpers/services.ts requireService). */
  skip?: string;
  /** Lease TTL the lease tests use, in seconds (default 2; etcd's minimum is 2 with default timings). */
  leaseTtl?: number;
  /** How long an expired lease may take to delete its keys, beyond its TTL, in ms (default 4000). */
  expirySlackMs?: number;
  /** How long a watch event may take to arrive, in ms (default 3000). */
  eventTimeoutMs?: number;
}

type Made = { store: CoordStore; cleanup: () => Promise<void> };

function isCoordError(code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof CoordError, `expected CoordError(${code}), got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  };
}

export function coordStoreSuite(name: string, make: () => Promise<Made>, extra: CoordSuiteExtra = {}): void {
  const ttl = extra.leaseTtl ?? 2;
  const slack = extra.expirySlackMs ?? 4000;
  const evTimeout = extra.eventTimeoutMs ?? 3000;

  describe(`CoordStore conformance: ${name}`, { skip: extra.skip }, () => {
    let made: Made | undefined;
    let s: CoordStore;
    let root: string;

    beforeEach(async () => {
      made = await make();
      s = made.store;
      root = `/conformance/${randomBytes(5).toString('hex')}/`;
    });
    afterEach(async () => {
      try {
        await s.deletePrefix(root);
      } catch {
        // the test may have closed the store
      }
      await made?.cleanup();
      made = undefined;
    });

    // ---- key-value ----------------------------------------------------------------------------

    it('get of a missing key is undefined; put then get returns the value and revisions', async () => {
      assert.equal(await s.get(`${root}a`), undefined);
      await s.put(`${root}a`, 'one');
      const kv = await s.get(`${root}a`);
      assert.ok(kv);
      assert.equal(kv.key, `${root}a`);
      assert.equal(kv.value, 'one');
      assert.ok(kv.createRevision > 0);
      assert.equal(kv.modRevision, kv.createRevision);
      assert.equal(kv.lease, undefined);
      await s.put(`${root}a`, 'two');
      const kv2 = await s.get(`${root}a`);
      assert.ok(kv2);
      assert.equal(kv2.value, 'two');
      assert.equal(kv2.createRevision, kv.createRevision);
      assert.ok(kv2.modRevision > kv.modRevision);
    });

    it('values round-trip exactly (empty, unicode, newlines, large)', async () => {
      const values = ['', 'ü€😀', 'a\nb\r\n"c"\t\\', 'x'.repeat(64 * 1024), JSON.stringify({ a: [1, 2], b: null })];
      for (const [i, v] of values.entries()) {
        await s.put(`${root}v${i}`, v);
        assert.equal((await s.get(`${root}v${i}`))?.value, v);
      }
    });

    it('revisions increase across keys, and each write gets a new one', async () => {
      await s.put(`${root}x`, '1');
      await s.put(`${root}y`, '1');
      await s.put(`${root}x`, '2');
      const x = await s.get(`${root}x`);
      const y = await s.get(`${root}y`);
      assert.ok(x && y);
      assert.ok(y.modRevision > x.createRevision);
      assert.ok(x.modRevision > y.modRevision);
    });

    it('list(prefix) returns every key under the prefix, sorted by key, and nothing else', async () => {
      for (const k of ['b/2', 'b/10', 'a', 'b/1', 'bb', 'b']) await s.put(`${root}${k}`, k);
      const under = await s.list(`${root}b/`);
      assert.deepEqual(
        under.map((kv) => kv.key),
        [`${root}b/1`, `${root}b/10`, `${root}b/2`],
      );
      assert.deepEqual(
        under.map((kv) => kv.value),
        ['b/1', 'b/10', 'b/2'],
      );
      const all = await s.list(root);
      assert.deepEqual(
        all.map((kv) => kv.key.slice(root.length)),
        ['a', 'b', 'b/1', 'b/10', 'b/2', 'bb'],
      );
      for (const kv of all) assert.ok(kv.modRevision > 0 && kv.createRevision > 0);
      assert.deepEqual(await s.list(`${root}nothing/`), []);
    });

    it('delete returns whether the key existed', async () => {
      await s.put(`${root}d`, 'v');
      assert.equal(await s.delete(`${root}d`), true);
      assert.equal(await s.get(`${root}d`), undefined);
      assert.equal(await s.delete(`${root}d`), false);
    });

    it('deletePrefix deletes only the keys under the prefix and counts them', async () => {
      for (const k of ['p/1', 'p/2', 'p/3/x', 'p', 'pq', 'q/1']) await s.put(`${root}${k}`, '.');
      assert.equal(await s.deletePrefix(`${root}p/`), 3);
      assert.deepEqual(
        (await s.list(root)).map((kv) => kv.key.slice(root.length)),
        ['p', 'pq', 'q/1'],
      );
      assert.equal(await s.deletePrefix(`${root}p/`), 0);
    });

    // ---- transactions -------------------------------------------------------------------------

    it('txn with modRevision 0 creates only when absent', async () => {
      const k = `${root}c`;
      assert.equal(await s.txn([{ key: k, modRevision: 0 }], [{ type: 'put', key: k, value: 'first' }]), true);
      assert.equal(await s.txn([{ key: k, modRevision: 0 }], [{ type: 'put', key: k, value: 'second' }]), false);
      assert.equal((await s.get(k))?.value, 'first');
    });

    it('txn compare-and-swap on modRevision', async () => {
      const k = `${root}cas`;
      await s.put(k, 'v1');
      const kv = await s.get(k);
      assert.ok(kv);
      assert.equal(await s.txn([{ key: k, modRevision: kv.modRevision }], [{ type: 'put', key: k, value: 'v2' }]), true);
      // the revision moved on: the old one no longer matches
      assert.equal(await s.txn([{ key: k, modRevision: kv.modRevision }], [{ type: 'put', key: k, value: 'v3' }]), false);
      assert.equal((await s.get(k))?.value, 'v2');
      // a present key never matches 0
      assert.equal(await s.txn([{ key: k, modRevision: 0 }], [{ type: 'delete', key: k }]), false);
      assert.equal((await s.get(k))?.value, 'v2');
    });

    it('of many racing create-if-absent txns exactly one wins', async () => {
      for (let round = 0; round < 5; round++) {
        const k = `${root}race/${round}`;
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.txn([{ key: k, modRevision: 0 }], [{ type: 'put', key: k, value: `w${i}` }])));
        assert.equal(results.filter(Boolean).length, 1, `round ${round}: ${results}`);
        const winner = results.indexOf(true);
        assert.equal((await s.get(k))?.value, `w${winner}`);
      }
    });

    it('racing createAllIfAbsent on overlapping key sets: one wins, the loser writes nothing', async () => {
      const a = [`${root}m/1`, `${root}m/2`, `${root}m/3`];
      const b = [`${root}m/3`, `${root}m/4`];
      const [ra, rb] = await Promise.all([
        createAllIfAbsent(
          s,
          a.map((key) => ({ key, value: 'A' })),
        ),
        createAllIfAbsent(
          s,
          b.map((key) => ({ key, value: 'B' })),
        ),
      ]);
      assert.equal(Number(ra) + Number(rb), 1);
      const keys = (await s.list(`${root}m/`)).map((kv) => `${kv.key.slice(root.length)}=${kv.value}`);
      assert.deepEqual(keys, ra ? ['m/1=A', 'm/2=A', 'm/3=A'] : ['m/3=B', 'm/4=B']);
    });

    it('txn is all-or-nothing: one failing compare applies no op', async () => {
      await s.put(`${root}t/present`, 'p');
      await s.put(`${root}t/keep/1`, 'k');
      const ok = await s.txn(
        [
          { key: `${root}t/absent`, modRevision: 0 },
          { key: `${root}t/present`, modRevision: 0 }, // fails
        ],
        [
          { type: 'put', key: `${root}t/absent`, value: 'x' },
          { type: 'delete', key: `${root}t/present` },
          { type: 'deletePrefix', prefix: `${root}t/keep/` },
        ],
      );
      assert.equal(ok, false);
      assert.equal(await s.get(`${root}t/absent`), undefined);
      assert.equal((await s.get(`${root}t/present`))?.value, 'p');
      assert.equal((await s.get(`${root}t/keep/1`))?.value, 'k');
    });

    it('txn applies every op (put, delete, deletePrefix) at one revision when the compares hold', async () => {
      await s.put(`${root}u/old`, 'o');
      await s.put(`${root}u/dir/1`, '1');
      await s.put(`${root}u/dir/2`, '2');
      const old = await s.get(`${root}u/old`);
      assert.ok(old);
      const ok = await s.txn(
        [
          { key: `${root}u/old`, modRevision: old.modRevision },
          { key: `${root}u/new`, modRevision: 0 },
        ],
        [
          { type: 'put', key: `${root}u/new`, value: 'n' },
          { type: 'put', key: `${root}u/new2`, value: 'n2' },
          { type: 'delete', key: `${root}u/old` },
          { type: 'deletePrefix', prefix: `${root}u/dir/` },
        ],
      );
      assert.equal(ok, true);
      const after = await s.list(`${root}u/`);
      assert.deepEqual(
        after.map((kv) => kv.key.slice(root.length)),
        ['u/new', 'u/new2'],
      );
      assert.equal(after[0]?.modRevision, after[1]?.modRevision, 'one txn, one revision');
    });

    it('txn with no compares always applies', async () => {
      assert.equal(await s.txn([], [{ type: 'put', key: `${root}nc`, value: '1' }]), true);
      assert.equal((await s.get(`${root}nc`))?.value, '1');
    });

    // ---- leases -------------------------------------------------------------------------------

    it('grantLease gives a decimal id and at least the TTL asked; keys carry the lease', async () => {
      const lease = await s.grantLease(ttl);
      try {
        assert.match(lease.id, /^[0-9]+$/);
        assert.ok(lease.ttlSeconds >= ttl, `ttl ${lease.ttlSeconds}`);
        await s.put(`${root}l/a`, 'a', { lease: lease.id });
        assert.equal((await s.get(`${root}l/a`))?.lease, lease.id);
        assert.equal(await s.txn([{ key: `${root}l/b`, modRevision: 0 }], [{ type: 'put', key: `${root}l/b`, value: 'b', lease: lease.id }]), true);
        assert.equal((await s.get(`${root}l/b`))?.lease, lease.id);
        const two = await s.grantLease(ttl);
        assert.notEqual(two.id, lease.id);
        await two.revoke();
      } finally {
        await lease.revoke();
      }
    });

    it('a lease that is not kept alive expires and deletes its keys', async () => {
      const lease = await s.grantLease(ttl);
      const t0 = Date.now();
      await s.put(`${root}e/a`, 'a', { lease: lease.id });
      await s.put(`${root}e/b`, 'b', { lease: lease.id });
      await s.put(`${root}e/plain`, 'p');
      await sleep(Math.max(0, ttl * 1000 - 700 - (Date.now() - t0)));
      assert.ok(await s.get(`${root}e/a`), 'still there before the TTL');
      await waitFor(async () => (await s.get(`${root}e/a`)) === undefined, { what: 'lease keys to expire', timeoutMs: 700 + slack, intervalMs: 25 });
      assert.equal(await s.get(`${root}e/b`), undefined);
      assert.equal((await s.get(`${root}e/plain`))?.value, 'p');
      await assert.rejects(lease.keepAliveOnce(), isCoordError('lease_lost'));
    });

    it('keepAliveOnce extends a lease past its TTL', async () => {
      const lease = await s.grantLease(ttl);
      await s.put(`${root}k/a`, 'a', { lease: lease.id });
      const end = Date.now() + ttl * 2000 + 500;
      while (Date.now() < end) {
        await lease.keepAliveOnce();
        await sleep((ttl * 1000) / 4);
      }
      assert.equal((await s.get(`${root}k/a`))?.value, 'a', 'kept alive for twice the TTL');
      await waitFor(async () => (await s.get(`${root}k/a`)) === undefined, {
        what: 'lease keys to expire once renewals stop',
        timeoutMs: ttl * 1000 + slack,
        intervalMs: 25,
      });
    });

    it('revoke deletes the keys at once; then keepAliveOnce and writes with it fail with lease_lost', async () => {
      const lease = await s.grantLease(Math.max(ttl, 30));
      await s.put(`${root}r/a`, 'a', { lease: lease.id });
      await lease.revoke();
      assert.equal(await s.get(`${root}r/a`), undefined);
      await assert.rejects(lease.keepAliveOnce(), isCoordError('lease_lost'));
      await assert.rejects(s.put(`${root}r/b`, 'b', { lease: lease.id }), isCoordError('lease_lost'));
      await assert.rejects(s.txn([], [{ type: 'put', key: `${root}r/c`, value: 'c', lease: lease.id }]), isCoordError('lease_lost'));
      assert.deepEqual(await s.list(`${root}r/`), []);
      await lease.revoke(); // revoking twice is harmless
    });

    it('leaseInfo: the granted TTL and the seconds left; a key moves to another lease with a guarded put; undefined once revoked', async () => {
      const long = Math.max(ttl, 30);
      const a = await s.grantLease(long);
      const b = await s.grantLease(long + 5);
      try {
        const ia = await s.leaseInfo(a.id);
        assert.ok(ia, 'a lease that exists');
        assert.equal(ia.ttlSeconds, a.ttlSeconds);
        assert.ok(ia.remainingSeconds > 0 && ia.remainingSeconds <= a.ttlSeconds, `remaining ${ia.remainingSeconds} of ${a.ttlSeconds}`);
        assert.equal((await s.leaseInfo(b.id))?.ttlSeconds, b.ttlSeconds);
        // What a live TTL change does with a node's keys: put again under the other lease, only if unchanged.
        await s.put(`${root}li/a`, 'a', { lease: a.id });
        const kv = (await s.get(`${root}li/a`)) as KeyValue;
        assert.equal(await s.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ type: 'put', key: kv.key, value: kv.value, lease: b.id }]), true);
        assert.equal((await s.get(`${root}li/a`))?.lease, b.id);
        assert.equal(await s.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ type: 'put', key: kv.key, value: 'stale', lease: a.id }]), false);
        await a.revoke();
        assert.equal(await s.leaseInfo(a.id), undefined, 'a revoked lease');
        assert.equal((await s.get(`${root}li/a`))?.value, 'a', 'the moved key outlives the old lease');
        assert.equal(await s.leaseInfo('987654321'), undefined, 'a lease never granted');
      } finally {
        await a.revoke();
        await b.revoke();
      }
    });

    // ---- watch --------------------------------------------------------------------------------

    it('watch delivers puts and deletes under the prefix, in revision order, and nothing else', async () => {
      const got: WatchEvent[] = [];
      const w = await s.watch(`${root}w/`, (ev) => got.push(ev));
      try {
        await s.put(`${root}w/a`, '1');
        await s.put(`${root}other`, 'x');
        await s.put(`${root}wx`, 'x');
        await s.put(`${root}w/b`, '2');
        await s.put(`${root}w/a`, '3');
        await s.delete(`${root}w/b`);
        await s.txn(
          [],
          [
            { type: 'put', key: `${root}w/c`, value: '4' },
            { type: 'deletePrefix', prefix: `${root}w/a` },
          ],
        );
        await waitFor(() => got.length >= 6, { what: '6 events', timeoutMs: evTimeout, intervalMs: 25 });
        await sleep(200);
        const brief = got.map((e) => `${e.type} ${e.key.slice(root.length)} ${e.value ?? '-'}`);
        assert.deepEqual(brief.slice(0, 4), ['put w/a 1', 'put w/b 2', 'put w/a 3', 'delete w/b -']);
        // the txn's two events share a revision; their order within it is not specified
        assert.deepEqual(brief.slice(4).sort(), ['delete w/a -', 'put w/c 4']);
        assert.equal(got.length, 6);
        for (let i = 1; i < got.length; i++) assert.ok(got[i]!.modRevision >= got[i - 1]!.modRevision, 'revision order');
        assert.ok(got[3]!.modRevision > got[2]!.modRevision);
        assert.equal(got[4]!.modRevision, got[5]!.modRevision);
        const a = got[2]!;
        assert.equal('value' in a && a.value, '3');
        assert.equal(got[3]!.value, undefined);
      } finally {
        await w.close();
      }
    });

    it('watch sees only changes made after it started, with the modRevision of each', async () => {
      await s.put(`${root}w2/before`, 'b');
      const got: WatchEvent[] = [];
      const w = await s.watch(`${root}w2/`, (ev) => got.push(ev));
      try {
        await s.put(`${root}w2/after`, 'a');
        await waitFor(() => got.length >= 1, { what: '1 event', timeoutMs: evTimeout, intervalMs: 25 });
        await sleep(150);
        assert.equal(got.length, 1);
        assert.equal(got[0]!.key, `${root}w2/after`);
        assert.equal(got[0]!.modRevision, (await s.get(`${root}w2/after`))?.modRevision);
      } finally {
        await w.close();
      }
    });

    it('lease revocation shows as delete events', async () => {
      const got: WatchEvent[] = [];
      const w = await s.watch(`${root}wl/`, (ev) => got.push(ev));
      try {
        const lease = await s.grantLease(Math.max(ttl, 30));
        await s.put(`${root}wl/a`, 'a', { lease: lease.id });
        await lease.revoke();
        await waitFor(() => got.length >= 2, { what: 'put + delete', timeoutMs: evTimeout, intervalMs: 25 });
        assert.deepEqual(
          got.map((e) => `${e.type} ${e.key.slice(root.length)}`),
          ['put wl/a', 'delete wl/a'],
        );
      } finally {
        await w.close();
      }
    });

    it('two watches on one store each get their own events; close stops events', async () => {
      const a: WatchEvent[] = [];
      const b: WatchEvent[] = [];
      const wa = await s.watch(`${root}wa/`, (ev) => a.push(ev));
      const wb = await s.watch(`${root}wb/`, (ev) => b.push(ev));
      try {
        await s.put(`${root}wa/1`, '1');
        await s.put(`${root}wb/1`, '1');
        await waitFor(() => a.length === 1 && b.length === 1, { what: 'both events', timeoutMs: evTimeout, intervalMs: 25 });
        await wa.close();
        await s.put(`${root}wa/2`, '2');
        await s.put(`${root}wb/2`, '2');
        await waitFor(() => b.length === 2, { what: 'second event on the open watch', timeoutMs: evTimeout, intervalMs: 25 });
        await sleep(300);
        assert.equal(a.length, 1, 'no event after close');
        await wa.close(); // closing twice is harmless
      } finally {
        await wb.close();
      }
      await s.put(`${root}wb/3`, '3');
      await sleep(300);
      assert.equal(b.length, 2);
    });

    it('an empty prefix watch sees every key', async () => {
      const got: WatchEvent[] = [];
      const w = await s.watch('', (ev) => {
        if (ev.key.startsWith(root)) got.push(ev);
      });
      try {
        await s.put(`${root}any/where`, '1');
        await waitFor(() => got.length === 1, { what: 'event', timeoutMs: evTimeout, intervalMs: 25 });
      } finally {
        await w.close();
      }
    });

    // ---- close --------------------------------------------------------------------------------

    it('after close() every call rejects with CoordError closed', async () => {
      const other = await make();
      try {
        await other.store.put(`${root}z`, '1');
        await other.store.close();
        await assert.rejects(other.store.get(`${root}z`), isCoordError('closed'));
        await assert.rejects(other.store.put(`${root}z`, '2'), isCoordError('closed'));
        await assert.rejects(other.store.txn([], []), isCoordError('closed'));
        await assert.rejects(other.store.grantLease(ttl), isCoordError('closed'));
        await assert.rejects(
          other.store.watch(root, () => undefined),
          isCoordError('closed'),
        );
        await other.store.close(); // twice is harmless
      } finally {
        await other.cleanup();
      }
    });
  });
}
