/**
 * EtcdStore against real etcd 3.4 started by scripts/etcd-start.sh: the CoordStore conformance suite
 * on 1 member and on 3 members, then failure behaviour: a member killed by PID while operations go
 * on, and a whole (1-member) cluster down and back.
 *
 *   node --import tsx --test test/integration/coord-etcd.test.ts
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../../src/adapters/coord/etcd-store.js';
import { CoordError, type WatchEvent } from '../../src/adapters/coord/types.js';
import { coordStoreSuite } from '../conformance/coord-store.suite.js';
import { diskListCacheSuite } from '../conformance/disk-list-cache.suite.js';
import { type EtcdCluster, etcdAvailable, requireService, sleep, startEtcd } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const gate = requireService('etcd', etcdAvailable(), 'etcd not on PATH (apt-get install etcd-server)');

const clusters: { 1?: EtcdCluster; 3?: EtcdCluster } = {};
const stores: EtcdStore[] = [];

function newStore(c: EtcdCluster, opts: { callTimeoutMs?: number; hosts?: string[]; namespace?: string } = {}): EtcdStore {
  const store = new EtcdStore({
    hosts: opts.hosts ?? c.endpoints,
    namespace: opts.namespace ?? `/test-${randomBytes(4).toString('hex')}`,
    callTimeoutMs: opts.callTimeoutMs ?? 5000,
  });
  stores.push(store);
  return store;
}

function cluster(n: 1 | 3): EtcdCluster {
  const c = clusters[n];
  if (!c) throw new Error(`etcd ${n}-member cluster not started`);
  return c;
}

before(async () => {
  if (gate.skip) return;
  const t0 = Date.now();
  const [one, three] = await Promise.all([startEtcd({ members: 1 }), startEtcd({ members: 3 })]);
  clusters[1] = one;
  clusters[3] = three;
  console.log(`# etcd up: 1 member in ${one.startMs} ms, 3 members in ${three.startMs} ms (both: ${Date.now() - t0} ms)`);
});

after(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await Promise.allSettled([clusters[1]?.stop(), clusters[3]?.stop()]);
});

const make = (n: 1 | 3) => async () => {
  const store = newStore(cluster(n));
  return { store, cleanup: () => store.close() };
};

coordStoreSuite('etcd, 1 member', make(1), { skip: gate.skip, leaseTtl: 2 });
coordStoreSuite('etcd, 3 members', make(3), { skip: gate.skip, leaseTtl: 2 });
diskListCacheSuite('etcd, 3 members', make(3), { skip: gate.skip });

/** Member index of the current leader of a 3-member cluster. */
async function leaderIndex(c: EtcdCluster): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    for (const [i, ep] of c.endpoints.entries()) {
      const client = new Etcd3({ hosts: [ep], dialTimeout: 1000 });
      try {
        const st = await client.maintenance.status({ deadline: Date.now() + 1000 });
        if (st.leader !== '0' && st.leader === st.header.member_id) return i;
      } catch {
        // member down or busy
      } finally {
        client.close();
      }
    }
    await sleep(100);
  }
  throw new Error('no leader found');
}

/** Retries op on CoordError unavailable/timeout; returns how long it was failing (ms). */
async function eventually<T>(what: string, op: () => Promise<T>, budgetMs = 15_000): Promise<{ value: T; failingMs: number; errors: string[] }> {
  const t0 = Date.now();
  const errors: string[] = [];
  const { value } = await waitFor(async () => ({ value: await op() }), {
    what: `${what} to succeed`,
    timeoutMs: budgetMs,
    intervalMs: 100,
    retry: (e) => {
      assert.ok(e instanceof CoordError, `${what}: only CoordError may escape, got ${String(e)}`);
      assert.ok(['unavailable', 'timeout'].includes(e.code), `${what}: unexpected ${e.code}: ${e.message}`);
      errors.push(e.code);
      return true;
    },
  });
  return { value, failingMs: errors.length ? Date.now() - t0 : 0, errors };
}

for (const victim of ['leader', 'follower'] as const) {
  describe(`etcd, 3 members: the ${victim} killed by PID while operations continue`, { skip: gate.skip }, () => {
    it('reads, writes, txns, leases and the watch carry on; the member rejoins', async () => {
      const c = cluster(3);
      // every member up (an earlier failed test may have left one down)
      for (let i = 0; i < 3; i++) if ((await c.pid(i)) === undefined) await c.startMember(i);
      for (let i = 0; i < 3; i++) await waitFor(() => c.healthy(i), { what: `member ${i} healthy`, timeoutMs: 15_000, intervalMs: 200 });
      const ns = `/kill-${victim}-${randomBytes(4).toString('hex')}`;
      const store = newStore(c, { callTimeoutMs: 3000, namespace: ns });
      const events: WatchEvent[] = [];
      let resets = 0;
      const w = await store.watch(
        '/ops/',
        (ev) => events.push(ev),
        () => resets++,
      );
      const lease = await store.grantLease(5);
      await store.put('/owned', 'mine', { lease: lease.id });

      const leader = await leaderIndex(c);
      const idx = victim === 'leader' ? leader : (leader + 1) % 3;
      const pid = await c.pid(idx);
      assert.ok(pid, 'member has a PID');

      // a steady stream of operations; the member dies after the 10th
      let worst = 0;
      const failed: string[] = [];
      const killedAt = { t: 0 };
      const N = 40;
      for (let i = 0; i < N; i++) {
        if (i === 10) {
          await c.killMember(idx);
          killedAt.t = Date.now();
          assert.equal(await c.pid(idx), undefined, 'member is gone');
        }
        const r1 = await eventually(`put ${i}`, () => store.put(`/ops/${i}`, String(i)));
        const r2 = await eventually(`get ${i}`, () => store.get(`/ops/${i}`));
        assert.equal(r2.value?.value, String(i));
        const r3 = await eventually(`txn ${i}`, () =>
          store.txn([{ key: `/ops/once/${i}`, modRevision: 0 }], [{ type: 'put', key: `/ops/once/${i}`, value: 'x' }]),
        );
        // a txn retried after an unknown outcome may find its own earlier write: both are fine
        if (r3.errors.length === 0) assert.equal(r3.value, true);
        const r4 = await eventually(`keepAlive ${i}`, () => lease.keepAliveOnce());
        for (const [op, r] of [
          ['put', r1],
          ['get', r2],
          ['txn', r3],
          ['keepAlive', r4],
        ] as const) {
          worst = Math.max(worst, r.failingMs);
          failed.push(...r.errors.map((e) => `${op}:${e}`));
        }
        await sleep(50);
      }
      console.log(
        `# ${victim} (member ${idx}, pid ${pid}) killed: longest outage ${worst} ms, ${failed.length} failed attempts (${failed.join(',') || 'none'}), watch resets ${resets}`,
      );
      assert.ok(worst < 8000, `outage ${worst} ms`);
      const all = await store.list('/ops/');
      assert.equal(all.filter((kv) => !kv.key.startsWith('/ops/once/')).length, N);
      assert.equal(all.filter((kv) => kv.key.startsWith('/ops/once/')).length, N);
      assert.equal((await store.get('/owned'))?.value, 'mine', 'the kept-alive lease survived');

      // every put reached the watch, in order (a put retried after a timeout may have landed twice)
      await waitFor(() => events.filter((e) => e.type === 'put').length >= 2 * N, { what: 'watch events for every put', timeoutMs: 10_000 });
      const puts = events.filter((e) => e.type === 'put' && !e.key.startsWith('/ops/once/')).map((e) => e.key);
      assert.deepEqual(
        puts.filter((k, i) => k !== puts[i - 1]),
        Array.from({ length: N }, (_, i) => `/ops/${i}`),
      );
      for (let i = 1; i < events.length; i++) assert.ok(events[i]!.modRevision > events[i - 1]!.modRevision);

      // the member comes back by PID and catches up
      await c.startMember(idx);
      await waitFor(() => c.healthy(idx), { what: 'member healthy again', timeoutMs: 15_000, intervalMs: 200 });
      const only = newStore(c, { hosts: [c.endpoints[idx]!] });
      // the rejoined member alone has every key (read with a plain client under the same namespace)
      const raw = new Etcd3({ hosts: [c.endpoints[idx]!] });
      try {
        const { value } = await eventually('read from the rejoined member', async () => {
          const r = await raw.getAll().prefix(`${ns}/ops/`).keys();
          if (r.length < 2 * N) throw new CoordError('unavailable', `only ${r.length} keys yet`);
          return r.length;
        });
        assert.equal(value, 2 * N);
        await only.put('/rejoined', 'yes');
        assert.equal((await only.get('/rejoined'))?.value, 'yes');
      } finally {
        raw.close();
      }
      await lease.revoke();
      await w.close();
      await store.deletePrefix('');
    });
  });
}

describe('etcd, 1 member: the whole cluster down, then back', { skip: gate.skip }, () => {
  it('calls fail fast with CoordError (no hang), then work again; the watch resets and resumes', async () => {
    const c = cluster(1);
    const store = newStore(c, { callTimeoutMs: 2000 });
    const events: WatchEvent[] = [];
    let resets = 0;
    const w = await store.watch(
      '/down/',
      (ev) => events.push(ev),
      () => resets++,
    );
    const lease = await store.grantLease(3);
    await store.put('/down/a', '1');
    await waitFor(() => events.length === 1, { what: 'first event', timeoutMs: 5000 });

    await c.stopMember(0);
    for (const [what, op] of [
      ['get', () => store.get('/down/a')],
      ['put', () => store.put('/down/b', '2')],
      ['txn', () => store.txn([], [{ type: 'put', key: '/down/c', value: '3' }])],
      ['keepAliveOnce', () => lease.keepAliveOnce()],
      ['grantLease', () => store.grantLease(5)],
    ] as const) {
      const t0 = Date.now();
      await assert.rejects(op(), (e: unknown) => {
        assert.ok(e instanceof CoordError, `${what}: ${String(e)}`);
        assert.ok(['unavailable', 'timeout'].includes(e.code), `${what}: ${e.code}`);
        return true;
      });
      const took = Date.now() - t0;
      assert.ok(took < 4000, `${what} took ${took} ms while etcd was down`);
    }

    await c.startMember(0);
    await waitFor(() => c.healthy(0), { what: 'etcd healthy', timeoutMs: 15_000, intervalMs: 100 });
    await eventually('put after restart', () => store.put('/down/d', '4'));
    assert.equal((await store.get('/down/d'))?.value, '4');
    await waitFor(() => resets >= 1, { what: 'watch reset after reconnect', timeoutMs: 10_000 });
    await waitFor(() => events.some((e) => e.key === '/down/d'), { what: 'event after restart', timeoutMs: 10_000 });
    // the lease was granted for 3 s and not renewed while etcd was down: it may or may not have lapsed
    await lease.revoke().catch(() => undefined);
    await w.close();
    await store.deletePrefix('');
  });
});
