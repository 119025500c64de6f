/**
 * A live lease TTL change in the agent (moveLease): a new lease, both renewed while the node's keys
 * move, the old one revoked; nothing given back or served again. A move that fails half way leaves
 * every key on one of the two leases, both kept alive, and goes on at a later reconcile; a key changed
 * meanwhile is not overwritten. In-memory store, fake target and network: no tgtd, no root.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { EmbeddedStore } from '../../src/adapters/coord/embedded-store.js';
import { type Compare, type CoordStore, CoordError, type Lease, type TxnOp, type WatchEvent } from '../../src/adapters/coord/types.js';
import { Agent } from '../../src/agent/agent.js';
import type { StoredClusterSettings } from '../../src/domain/cluster-settings.js';
import { type DiskRecord, type OwnerRecord, diskKey, nodeKey, ownerKey, pathKey } from '../../src/domain/keys.js';
import { fakeImages, quietNet, storeWithDisk } from '../helpers/agent-fixture.js';
import { FakeTarget } from '../helpers/fake-target.js';
import { sleep, waitFor } from '../helpers/wait.js';

const ID = '00001';
const IQN = 'iqn.2016-05.io.portway.test:00001';
const IPS = ['127.97.1.10', '127.97.1.11'];
const DISK = { id: ID, iqn: IQN, ips: IPS };
const net = quietNet;
/** Cluster settings whose TTL the test changes (as the settings watch would). */
function settings(ttl: number) {
  let current: StoredClusterSettings = {
    version: 1,
    settings: {
      iqnBase: 'iqn.2016-05.io.portway.test',
      pool: 'rbd',
      subnet1: { cidr: '127.97.1.0/24', autoIpFrom: '127.97.1.10', autoIpTo: '127.97.1.200' },
      subnet2: { cidr: '127.97.2.0/24', autoIpFrom: '127.97.2.10', autoIpTo: '127.97.2.200' },
      leaseTtlSeconds: ttl,
    },
    changedAt: new Date().toISOString(),
    changedBy: 'test',
  };
  return {
    cluster: { current: () => current, interfaces: { subnet1: 'lo', subnet2: 'lo' } },
    setTtl(t: number) {
      current = { ...current, version: current.version + 1, settings: { ...current.settings, leaseTtlSeconds: t } };
    },
  };
}

/** store, with its txn going through fn first (which gets the real store). */
function withTxn(store: CoordStore, txn: (real: CoordStore, cmp: Compare[], ops: TxnOp[]) => Promise<boolean>): CoordStore {
  return new Proxy(store, {
    get(t, p) {
      if (p === 'txn') return (cmp: Compare[], ops: TxnOp[]) => txn(t, cmp, ops);
      const v = Reflect.get(t, p, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  }) as CoordStore;
}

const mineKeys = [nodeKey('node1'), ownerKey(ID, 1), ownerKey(ID, 2)];
const leasesOf = async (store: CoordStore) => Promise.all(mineKeys.map(async (k) => (await store.get(k))?.lease));
const stateOf = async (store: CoordStore, n: number) => (JSON.parse((await store.get(ownerKey(ID, n)))?.value ?? '{}') as OwnerRecord).state;

/** Owner/node key deletes seen (a flap would show as one). */
async function deletes(store: CoordStore): Promise<{ events: WatchEvent[]; close: () => Promise<void> }> {
  const events: WatchEvent[] = [];
  const ws = await Promise.all(['/portway/owners/', '/portway/nodes/'].map((p) => store.watch(p, (ev) => ev.type === 'delete' && events.push(ev))));
  return { events, close: async () => void (await Promise.all(ws.map((w) => w.close()))) };
}

describe('agent: a live lease TTL change', () => {
  it('moves the node record and owner keys to a lease of the new TTL and revokes the old one; nothing is given back or re-served', async () => {
    const store = await storeWithDisk(DISK);
    const s = settings(4);
    const target = new FakeTarget();
    const agent = new Agent({
      node: 'node1',
      store,
      images: fakeImages(DISK),
      target,
      net,
      log: pino({ level: 'silent' }),
      leaseTtlSeconds: 4,
      cluster: s.cluster,
    });
    const seen = await deletes(store);
    try {
      await agent.start();
      await agent.reconcile();
      assert.equal(await stateOf(store, 1), 'served');
      const old = agent.leases.current as string;
      assert.deepEqual(await leasesOf(store), [old, old, old]);
      const callsBefore = target.calls.length;

      s.setTtl(2);
      await agent.clusterSettingsChanged();
      await agent.reconcile();
      assert.equal(agent.ttl, 2);
      const next = agent.leases.current as string;
      assert.notEqual(next, old);
      assert.equal(agent.leases.previous, undefined, 'the move is done');
      assert.deepEqual(await leasesOf(store), [next, next, next], 'every key of the node on the new lease');
      assert.equal((await store.leaseInfo(next))?.ttlSeconds, 2);
      assert.equal(await store.leaseInfo(old), undefined, 'the old lease is revoked');
      assert.equal((JSON.parse((await store.get(nodeKey('node1')))?.value ?? '{}') as { settingsVersion?: number }).settingsVersion, 2);
      assert.equal(await stateOf(store, 1), 'served');
      assert.equal(await stateOf(store, 2), 'served');
      // Renewed at the new TTL: alive well past the old TTL, never fenced.
      await sleep(4500);
      assert.equal(agent.isFenced, false);
      assert.equal((await store.leaseInfo(next))?.ttlSeconds, 2);
      assert.deepEqual(await leasesOf(store), [next, next, next]);
      const after = target.calls.slice(callsBefore);
      assert.equal(
        after.some((c) => c.startsWith('unserve')),
        false,
        `no target stopped: ${after.join(' ')}`,
      );
      assert.deepEqual(target.portals().sort(), [...IPS].sort());
      assert.deepEqual(seen.events, [], 'no owner or node key was deleted on the way');
    } finally {
      await seen.close();
      await agent.stop({ release: false });
      await store.close();
    }
  });

  it('81 keys (40 disks of 2 paths and the node record) move in guarded transactions of at most 64 keys', async () => {
    const store = new EmbeddedStore({ tickMs: 50 });
    const ids = Array.from({ length: 40 }, (_, i) => String(i + 1).padStart(5, '0'));
    for (const [i, id] of ids.entries()) {
      const rec: DiskRecord = {
        id,
        name: `d${i}`,
        iqn: `${IQN}-${id}`,
        sizeGb: 1,
        createdAt: new Date().toISOString(),
        acl: '',
        chapUser: '',
        subnet: 1,
        pathCount: 2,
        desired: 'started',
      };
      await store.put(diskKey(id), JSON.stringify(rec));
      for (const n of [1, 2]) await store.put(pathKey(id, n), JSON.stringify({ ip: `127.97.${n}.${10 + i}`, subnetMask: '255.255.255.0', eth: 'lo' }));
    }
    const s = settings(60);
    const moves: { keys: number; compares: number }[] = [];
    let newLease: string | undefined;
    const proxy = withTxn(store, async (t, cmp, ops) => {
      if (newLease !== undefined && ops.length > 0 && ops.every((op) => op.type === 'put' && op.lease === newLease) && cmp.every((c) => c.modRevision > 0))
        moves.push({ keys: ops.length, compares: cmp.length });
      return t.txn(cmp, ops);
    });
    const agent = new Agent({
      node: 'node1',
      store: proxy,
      images: fakeImages(DISK),
      target: new FakeTarget(),
      net,
      log: pino({ level: 'silent' }),
      leaseTtlSeconds: 60,
      cluster: s.cluster,
    });
    try {
      await agent.start();
      await agent.reconcile();
      const owners = await store.list('/portway/owners/');
      assert.equal(owners.length, 80);
      newLease = String(Number(agent.leases.current) + 1);
      s.setTtl(30);
      await agent.reconcile();
      assert.equal(agent.leases.current, newLease);
      assert.equal(agent.leases.previous, undefined);
      assert.deepEqual(
        moves.map((m) => m.keys),
        [64, 17],
        'two transactions',
      );
      for (const m of moves) assert.equal(m.compares, m.keys, 'each key guarded');
      for (const kv of [...(await store.list('/portway/owners/')), ...(await store.list('/portway/nodes/'))]) assert.equal(kv.lease, newLease, kv.key);
    } finally {
      await agent.stop({ release: false });
      await store.close();
    }
  });

  it('a move that fails half way keeps both leases renewed, every key on one of them, and finishes at a later reconcile', async () => {
    const base = await storeWithDisk(DISK);
    const s = settings(3);
    let broken = false;
    let refused = 0;
    let newLease: string | undefined;
    // While broken, every write of a key under the new lease fails as if etcd were unreachable.
    const store = withTxn(base, async (t, cmp, ops) => {
      if (broken && ops.some((op) => op.type === 'put' && op.lease === newLease)) {
        refused++;
        throw new CoordError('unavailable', 'injected: etcd unreachable');
      }
      return t.txn(cmp, ops);
    });
    const target = new FakeTarget();
    const agent = new Agent({
      node: 'node1',
      store,
      images: fakeImages(DISK),
      target,
      net,
      log: pino({ level: 'silent' }),
      leaseTtlSeconds: 3,
      cluster: s.cluster,
    });
    const seen = await deletes(base);
    try {
      await agent.start();
      await agent.reconcile();
      const old = agent.leases.current as string;
      assert.equal(await stateOf(base, 2), 'served');
      broken = true;
      newLease = String(Number(old) + 1); // the embedded store numbers its leases
      s.setTtl(2);
      await agent.reconcile();
      assert.equal(agent.leases.current, newLease);
      assert.equal(agent.leases.previous, old, 'still moving');
      assert.ok(refused > 0, 'the move was tried');
      // Longer than both TTLs: both leases stay alive (renewed), the keys with them, no fence.
      await sleep(4000);
      await agent.reconcile();
      assert.equal(agent.isFenced, false);
      assert.ok(await base.leaseInfo(old), 'old lease renewed');
      assert.ok(await base.leaseInfo(newLease), 'new lease renewed');
      for (const l of await leasesOf(base)) assert.ok(l === old || l === newLease, `key on lease ${l}`);
      assert.equal(await stateOf(base, 1), 'served');
      assert.equal(await stateOf(base, 2), 'served');

      broken = false;
      await agent.reconcile();
      assert.equal(agent.leases.previous, undefined);
      assert.deepEqual(await leasesOf(base), [newLease, newLease, newLease]);
      assert.equal(await base.leaseInfo(old), undefined);
      assert.equal(agent.ttl, 2);
      assert.deepEqual(seen.events, [], 'no owner or node key was deleted on the way');
      assert.equal(
        target.calls.some((c) => c.startsWith('unserve')),
        false,
      );
    } finally {
      await seen.close();
      await agent.stop({ release: false });
      await base.close();
    }
  });

  it('the old lease lost while keys are still on it: the agent fences (those paths may go to another node)', async () => {
    const base = await storeWithDisk(DISK);
    const s = settings(3);
    let broken = false;
    const granted: Lease[] = [];
    const store = new Proxy(
      withTxn(base, async (t, cmp, ops) => {
        if (broken && ops.some((op) => op.type === 'put' && op.lease !== undefined && op.lease !== granted[0]?.id))
          throw new CoordError('unavailable', 'injected: etcd unreachable');
        return t.txn(cmp, ops);
      }),
      {
        get(t, p) {
          if (p === 'grantLease')
            return async (ttl: number) => {
              const l = await base.grantLease(ttl);
              granted.push(l);
              return l;
            };
          return Reflect.get(t, p, t);
        },
      },
    ) as CoordStore;
    const fences: string[] = [];
    const agent = new Agent({
      node: 'node1',
      store,
      images: fakeImages(DISK),
      target: new FakeTarget(),
      net,
      log: pino({ level: 'silent' }),
      leaseTtlSeconds: 3,
      cluster: s.cluster,
      onFence: (f) => fences.push(f.reason),
    });
    try {
      await agent.start();
      await agent.reconcile();
      broken = true;
      s.setTtl(2);
      await agent.reconcile();
      assert.equal(agent.leases.previous, granted[0]?.id, 'keys still on the old lease');
      await granted[0]?.revoke();
      await waitFor(() => agent.isFenced, { what: 'the fence', timeoutMs: 3000 });
      assert.deepEqual(fences, ['previous lease lost while moving keys to the new one']);
      assert.equal(agent.leases.previous, undefined);
    } finally {
      await agent.stop({ release: false });
      await base.close();
    }
  });

  it('a key changed between the read and the move is not overwritten; the rest move, and it follows', async () => {
    const base = await storeWithDisk(DISK);
    const s = settings(60);
    let changed = false;
    const marked = JSON.stringify({ node: 'node1', state: 'served', problem: 'changed meanwhile' } satisfies OwnerRecord);
    const store = withTxn(base, async (t, cmp, ops) => {
      // Right before the first move batch runs, path 2's key changes (same lease, new value).
      const moving = async () => {
        if (ops.length < 2) return false;
        for (const op of ops) if (op.type !== 'put' || op.lease === undefined || op.lease === (await t.get(op.key))?.lease) return false;
        return true;
      };
      if (!changed && (await moving())) {
        changed = true;
        const kv = await t.get(ownerKey(ID, 2));
        await t.put(ownerKey(ID, 2), marked, kv?.lease ? { lease: kv.lease } : {});
      }
      return t.txn(cmp, ops);
    });
    const target = new FakeTarget();
    const agent = new Agent({
      node: 'node1',
      store,
      images: fakeImages(DISK),
      target,
      net,
      log: pino({ level: 'silent' }),
      leaseTtlSeconds: 60,
      cluster: s.cluster,
    });
    try {
      await agent.start();
      await agent.reconcile();
      s.setTtl(30);
      await agent.reconcile();
      assert.ok(changed, 'the key changed under the move');
      await waitFor(
        async () => {
          if (agent.leases.previous === undefined) return true;
          await agent.reconcile();
          return false;
        },
        { what: 'the move done', timeoutMs: 5000 },
      );
      const next = agent.leases.current as string;
      assert.deepEqual(await leasesOf(base), [next, next, next]);
      assert.equal((await base.get(ownerKey(ID, 2)))?.value, marked, 'the changed value was kept, not overwritten by the one read before');
    } finally {
      await agent.stop({ release: false });
      await base.close();
    }
  });
});
