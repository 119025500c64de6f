/**
 * The agent adopts the owner keys a previous run of its node left (after a restart, or after a fence
 * when the store comes back). A key that changed between the agent's read and its adoption (the old
 * lease expired, and another node took the path) is not the agent's: it must not serve that path
 * (a path served by two nodes). In-memory store, fake target and network: no tgtd, no root.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { Compare, CoordStore, TxnOp } from '../../src/adapters/coord/types.js';
import type { ImageStore } from '../../src/adapters/images/types.js';
import { Agent } from '../../src/agent/agent.js';
import { type DiskRecord, type OwnerRecord, diskKey, ownerKey } from '../../src/domain/keys.js';
import { clientsKey } from '../../src/domain/storage-clients.js';
import { fakeImages, quietNet, storeWithDisk } from '../helpers/agent-fixture.js';
import { FakeTarget } from '../helpers/fake-target.js';
import { waitFor } from '../helpers/wait.js';

const ID = '00001';
const IQN = 'iqn.2016-05.io.portway.test:00001';
const IPS = ['127.98.1.10', '127.98.1.11'];
const DISK = { id: ID, iqn: IQN, ips: IPS };
const net = quietNet;

/** store, with its txn replaced by txn (which gets the real store to call through). */
function withTxn(store: CoordStore, txn: (real: CoordStore, cmp: Compare[], ops: TxnOp[]) => Promise<boolean>): CoordStore {
  return new Proxy(store, {
    get(t, p) {
      if (p === 'txn') return (cmp: Compare[], ops: TxnOp[]) => txn(t, cmp, ops);
      const v = Reflect.get(t, p, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  }) as CoordStore;
}

describe('agent: adopting the keys of a previous run', () => {
  it('a key that changed before its adoption (another node took the path) is not served; the others are', async () => {
    const store = await storeWithDisk(DISK);
    // The previous run of node1 (or node1 before a fence) held both paths under a lease of its own.
    const old = await store.grantLease(60);
    const served = (node: string) => JSON.stringify({ node, state: 'served' } satisfies OwnerRecord);
    for (const n of [1, 2]) await store.put(ownerKey(ID, n), served('node1'), { lease: old.id });

    // Between node1's read and its adoption of path 1, the key changes hands: the old lease expired and
    // node2 took the path (done here right before node1's adoption transaction runs).
    let stolen = false;
    const proxy = withTxn(store, async (t, cmp, ops) => {
      if (!stolen && ops.some((op) => op.type === 'put' && op.key === ownerKey(ID, 1))) {
        stolen = true;
        await t.delete(ownerKey(ID, 1));
        const l2 = await t.grantLease(60);
        await t.put(ownerKey(ID, 1), served('node2'), { lease: l2.id });
      }
      return t.txn(cmp, ops);
    });

    const target = new FakeTarget();
    const { calls } = target;
    const agent = new Agent({ node: 'node1', store: proxy, images: fakeImages(DISK), target, net, log: pino({ level: 'silent' }), leaseTtlSeconds: 60 });
    try {
      await agent.start();
      await agent.reconcile();
      await agent.reconcile();
      assert.ok(stolen, 'the adoption of path 1 was attempted');
      assert.equal(
        calls.some((c) => c.startsWith('serve') && c.includes(IPS[0] as string)),
        false,
        `node1 never serves path 1, which node2 owns (calls: ${calls.join(' ')})`,
      );
      // Before serving anything, tgtds of the cluster's path IPs a previous run never recorded are swept, once.
      assert.equal(calls[0], `sweep ${IPS.join(',')}`);
      assert.equal(calls.filter((c) => c.startsWith('sweep')).length, 1);
      assert.deepEqual(target.portals(), [IPS[1]], 'node1 serves path 2 only');
      const o1 = JSON.parse((await store.get(ownerKey(ID, 1)))?.value ?? '{}') as OwnerRecord;
      assert.equal(o1.node, 'node2', 'path 1 stays with node2');
      const k2 = await store.get(ownerKey(ID, 2));
      assert.notEqual(k2?.lease, old.id, 'path 2 was adopted under the new lease');
      assert.equal((JSON.parse(k2?.value ?? '{}') as OwnerRecord).state, 'served');
    } finally {
      await agent.stop({ release: false });
      await store.close();
    }
  });

  it("a clean stop before the previous run's keys were adopted deletes them too (else they say served until that lease expires)", async () => {
    const store = await storeWithDisk(DISK);
    const served = (node: string) => JSON.stringify({ node, state: 'served' } satisfies OwnerRecord);
    // Path 1: node1's previous run, under its own (still live) lease. Path 2: node2's.
    const old = await store.grantLease(60);
    await store.put(ownerKey(ID, 1), served('node1'), { lease: old.id });
    const other = await store.grantLease(60);
    await store.put(ownerKey(ID, 2), served('node2'), { lease: other.id });
    // The adoption does not happen (as when the stop comes before the first reconcile got to it).
    const proxy = withTxn(store, async (t, cmp, ops) => (ops.some((op) => op.type === 'put' && op.key === ownerKey(ID, 1)) ? false : t.txn(cmp, ops)));
    const target = new FakeTarget();
    const agent = new Agent({ node: 'node1', store: proxy, images: fakeImages(DISK), target, net, log: pino({ level: 'silent' }), leaseTtlSeconds: 60 });
    try {
      await agent.start();
      await agent.reconcile();
      assert.equal((await store.get(ownerKey(ID, 1)))?.lease, old.id, 'not adopted');
      await agent.stop({ release: true });
      assert.equal(await store.get(ownerKey(ID, 1)), undefined, "the previous run's key is gone with the stop");
      assert.equal((await store.get(ownerKey(ID, 2)))?.value, served('node2'), "another node's key is left alone");
    } finally {
      await agent.stop({ release: false });
      await store.close();
    }
  });
});

describe('agent: served means answering', () => {
  const stateOf = async (store: CoordStore, n: number) => (JSON.parse((await store.get(ownerKey(ID, n)))?.value ?? '{}') as OwnerRecord).state;
  const until = (what: string, fn: () => Promise<boolean>) => waitFor(fn, { what, timeoutMs: 10_000, intervalMs: 20 });

  it('a target that fails its check is not marked served; one that stops answering leaves served, is restarted, and comes back', async () => {
    const store = await storeWithDisk(DISK);
    const target = new FakeTarget();
    target.broken.set(ID, 'portal does not accept connections');
    const agent = new Agent({
      node: 'node1',
      store,
      images: fakeImages(DISK),
      target,
      net,
      log: pino({ level: 'silent' }),
      leaseTtlSeconds: 60,
      resyncMs: 100,
    });
    try {
      await agent.start();
      await agent.reconcile();
      // Claimed, served, checked: broken, so not served (and the target restarted).
      assert.equal(await stateOf(store, 1), 'configuring');
      assert.ok(target.calls.includes(`unserve ${ID}`), target.calls.join(' '));
      // It answers now: the retry (backoff) or the resync marks it served.
      target.broken.delete(ID);
      await until('served', async () => (await stateOf(store, 1)) === 'served' && (await stateOf(store, 2)) === 'served');
      // It stops answering behind the agent's back: at the next resync it leaves served.
      target.broken.set(ID, 'tgtd has no control socket any more');
      await until('configuring again', async () => (await stateOf(store, 1)) === 'configuring');
      target.broken.delete(ID);
      await until('served again', async () => (await stateOf(store, 1)) === 'served');
    } finally {
      await agent.stop({ release: false });
      await store.close();
    }
  });
});

describe('agent: storage fencing of a shared disk taken over (Ceph mode)', () => {
  it('serves only after the image was fenced; while fencing fails the disk is not served and its paths say why', async () => {
    const store = await storeWithDisk(DISK);
    // The disk is shared (placement set), and the image store is RBD: a takeover must fence.
    const rec = JSON.parse((await store.get(diskKey(ID)))?.value ?? '{}') as DiskRecord;
    await store.put(diskKey(ID), JSON.stringify({ ...rec, placement: 'shared' } satisfies DiskRecord));
    let failing = true;
    const fenced: string[] = [];
    const base = fakeImages(DISK);
    const images = Object.assign(Object.create(base) as ImageStore, {
      kind: 'rbd' as const,
      async fenceClients(name: string, keep?: ReadonlySet<string>, also?: readonly string[]) {
        if (failing) throw new Error('the Ceph cluster did not answer');
        fenced.push(`${name} keeping ${[...(keep ?? [])].join(',')} also ${(also ?? []).join(',')}`);
        return ['10.99.0.12:0/123', ...(also ?? [])];
      },
      async clients() {
        return ['10.99.0.11:0/777'];
      },
      async clientIp() {
        return '10.99.0.11';
      },
    });
    // A node that is gone (node9) recorded its client of the image: it is blocklisted even though its
    // watch may have expired (a node frozen longer than the OSDs' watch timeout).
    await store.put(clientsKey(ID, 'node9'), JSON.stringify({ addrs: ['10.99.0.13:0/555'], at: '' }));
    const target = new FakeTarget();
    const agent = new Agent({ node: 'node1', store, images, target, net, log: pino({ level: 'silent' }), leaseTtlSeconds: 60, resyncMs: 100 });
    const owner = async (n: number) => JSON.parse((await store.get(ownerKey(ID, n)))?.value ?? '{}') as OwnerRecord;
    try {
      await agent.start();
      await agent.reconcile();
      // Claimed whole, marked for fencing; fencing failed: not served, the reason on the paths.
      assert.equal((await owner(1)).state, 'configuring');
      assert.equal((await owner(1)).fence, true);
      assert.match((await owner(1)).problem ?? '', /storage fencing failed/);
      assert.equal(target.calls.filter((c) => c.startsWith('serve')).length, 0, `never served while unfenced: ${target.calls.join(' ')}`);
      // Ceph answers again: fenced, then served; the marks are gone.
      failing = false;
      await waitFor(async () => (await owner(1)).state === 'served' && (await owner(2)).state === 'served', {
        what: 'served after fencing succeeded',
        timeoutMs: 10_000,
        intervalMs: 20,
      });
      // The live nodes' clients (this node's own) are kept; the gone node's recorded client is blocklisted
      // and its record removed; this node records its own client of the image.
      assert.deepEqual(fenced, [`image-${ID} keeping 10.99.0.11 also 10.99.0.13:0/555`]);
      assert.equal(await store.get(clientsKey(ID, 'node9')), undefined);
      await waitFor(() => store.get(clientsKey(ID, 'node1')), { what: 'node1 records its client', timeoutMs: 5000, intervalMs: 20 });
      assert.deepEqual(JSON.parse((await store.get(clientsKey(ID, 'node1')))?.value ?? '{}').addrs, ['10.99.0.11:0/777']);
      assert.equal((await owner(1)).fence, undefined);
      assert.equal((await owner(1)).problem, undefined);
      assert.ok(
        target.calls.indexOf(`unserve ${ID}`) < target.calls.findIndex((c) => c.startsWith('serve ')),
        'a local target of the disk goes before the fence',
      );
    } finally {
      await agent.stop({ release: false });
      await store.close();
    }
  });
});
