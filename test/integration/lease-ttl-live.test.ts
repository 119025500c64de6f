/**
 * A live change of the lease TTL (docs/HA.md "Changing the lease TTL (live)") on the namespaced
 * cluster: 3 nodes (cluster init / node join, etcd with TLS and auth), n1 running `portway serve`
 * over HTTPS. Two disks served (a shared 2-path one and a spread 3-path one on both subnets); the TTL
 * is changed 10 -> 6 through the API (from the client namespace, curl with the product's certificate)
 * while every path is probed with INQUIRY without a pause. Then:
 * - every agent's keys (node record and owner keys) are on a lease whose TTL is 6 (leaseInfo, asked of
 *   etcd), the old leases are gone, and they stay renewed (past a whole old TTL);
 * - not one INQUIRY failed, no owner key was deleted on the way (a watch), the tgtds serving are the
 *   same processes and the agents the same PIDs (nothing restarted, nothing re-served);
 * - no path IP was on two nodes at any sample.
 * The agents' move durations (their 'lease TTL changed' log lines) are printed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WatchEvent } from '../../src/adapters/coord/types.js';
import { type SimCluster, waitUntil } from '../harness/cluster.js';
import { haCluster, haSkip } from '../harness/suite.js';

const skip = haSkip(['curl']);
const FROM = 10;
const TO = 6;

interface Probe {
  rounds: number;
  failures: { ip: string; at: number; err: string }[];
  stop(): Promise<void>;
}

/** INQUIRY through each path in a loop of its own, until stopped. */
function probe(c: SimCluster, paths: { ip: string; iqn: string; id: string }[]): Probe {
  let running = true;
  const p: Probe = {
    rounds: 0,
    failures: [],
    stop: async () => {
      running = false;
      await loops;
    },
  };
  const loops = Promise.all(
    paths.map(async ({ ip, iqn, id }) => {
      while (running) {
        const serial = await c.inquiry(ip, iqn, 10_000).catch((e: Error) => `error: ${e.message.split('\n')[0]}`);
        p.rounds++;
        if (serial !== `PW${id}`) p.failures.push({ ip, at: Date.now(), err: serial });
      }
    }),
  );
  return p;
}

describe('lease TTL changed live: keys move to new leases, no path flaps', { skip, timeout: 400_000 }, () => {
  let c: SimCluster;
  const disks: { id: string; iqn: string }[] = [];

  before(async () => {
    c = await haCluster({ nodes: 3, leaseTtlSeconds: FROM, join: true, etcdTls: true, serveOn: 'n1' });
    assert.equal((await c.login()).status, 200);
  });
  after(async () => {
    await c?.destroy();
  });

  /** Node -> the leases of its keys (node record and owner keys), from etcd. */
  const leasesByNode = async () => {
    const out = new Map<string, Set<string>>();
    const add = (node: string, lease: string | undefined) => {
      const s = out.get(node) ?? new Set<string>();
      s.add(lease ?? 'none');
      out.set(node, s);
    };
    for (const n of c.nodes) add(n.name, (await c.store.get(`/portway/nodes/${n.name}`))?.lease);
    for (const kv of await c.store.list('/portway/owners/')) add((JSON.parse(kv.value) as { node: string }).node, kv.lease);
    return out;
  };

  it('two disks served through the API, every path answering', async () => {
    const bodies = [
      { name: 'ttl-shared', sizeGb: 1, activePaths: 2, subnet: 3, ipMode: 'auto', acl: { mode: 'all' }, auth: { mode: 'none' }, placement: 'shared' },
      { name: 'ttl-spread', sizeGb: 1, activePaths: 3, subnet: 3, ipMode: 'auto', acl: { mode: 'all' }, auth: { mode: 'none' }, placement: 'spread' },
    ];
    for (const b of bodies) {
      const r = await c.api('POST', '/api/v1/disks', b);
      assert.equal(r.status, 201, r.text);
      disks.push({ id: r.json.disk.id, iqn: r.json.disk.iqn });
    }
    for (const d of disks) {
      const paths = await c.waitServed(d.id, 90_000);
      await c.waitAnswering(paths, d.iqn, d.id, 60_000);
    }
    const leases = await leasesByNode();
    for (const n of c.nodes) {
      const ids = [...(leases.get(n.name) ?? [])];
      assert.equal(ids.length, 1, `${n.name}'s keys on one lease: ${ids.join(',')}`);
      assert.equal((await c.store.leaseInfo(ids[0] as string))?.ttlSeconds, FROM);
    }
  });

  it(`TTL ${FROM} -> ${TO} through the API: every agent's keys on a lease of ${TO} s, not one INQUIRY failed, nothing re-served`, async () => {
    const paths: { ip: string; iqn: string; id: string }[] = [];
    for (const d of disks) for (const p of await c.waitServed(d.id)) paths.push({ ip: p.ip, iqn: d.iqn, id: d.id });
    const before = await leasesByNode();
    const oldLeases = new Set([...before.values()].flatMap((s) => [...s]));
    const agentPids = c.nodes.map((n) => n.agentPid);
    const tgtds = c.nodes.map((n) => n.tgtds().map((t) => `${t.disk}:${t.pid}`));
    const logFrom = new Map(c.nodes.map((n) => [n.name, n.logText().length]));
    const ownerDeletes: WatchEvent[] = [];
    const w = await c.store.watch('/portway/owners/', (ev) => ev.type === 'delete' && ownerDeletes.push(ev));
    const pr = probe(c, paths);
    try {
      await waitUntil('the probe running', () => pr.rounds >= paths.length * 3 || undefined, 30_000);
      const roundsBefore = pr.rounds;
      const current = await c.api('GET', '/api/v1/settings/cluster');
      assert.equal(current.status, 200, current.text);
      const t0 = Date.now();
      const put = await c.api('PUT', '/api/v1/settings/cluster', { leaseTtlSeconds: TO, version: current.json.version });
      assert.equal(put.status, 200, put.text);
      // Every node's keys on one lease of the new TTL, none on an old one.
      const ttlOf = new Map<string, number | undefined>();
      const ttl = async (id: string) => {
        if (!ttlOf.has(id)) ttlOf.set(id, (await c.store.leaseInfo(id))?.ttlSeconds);
        return ttlOf.get(id);
      };
      await waitUntil(
        `every node's keys on a lease of ${TO} s`,
        async () => {
          ttlOf.clear();
          for (const [node, ids] of await leasesByNode()) {
            if (ids.size !== 1) return undefined;
            const id = [...ids][0] as string;
            if (oldLeases.has(id) || (await ttl(id)) !== TO) return undefined;
            if (!c.nodes.some((n) => n.name === node)) return undefined;
          }
          return true;
        },
        60_000,
        200,
      );
      const movedMs = Date.now() - t0;
      for (const id of oldLeases) assert.equal(await c.store.leaseInfo(id), undefined, `old lease ${id} revoked`);
      // Renewed at the new TTL: still on the same leases well past a whole old TTL.
      const after1 = await leasesByNode();
      await new Promise((r) => setTimeout(r, (FROM + 2) * 1000));
      assert.deepEqual(await leasesByNode(), after1, 'the new leases are kept alive');
      assert.ok(pr.rounds - roundsBefore > paths.length * 10, `probed throughout (${pr.rounds - roundsBefore} INQUIRYs)`);
      await pr.stop();
      assert.deepEqual(pr.failures, [], 'no INQUIRY failed during the change');
      assert.deepEqual(ownerDeletes, [], 'no owner key was deleted (no path given back or expired)');
      assert.deepEqual(
        c.nodes.map((n) => n.agentPid),
        agentPids,
        'no agent restarted',
      );
      assert.deepEqual(
        c.nodes.map((n) => n.tgtds().map((t) => `${t.disk}:${t.pid}`)),
        tgtds,
        'the same tgtds serve',
      );
      for (const d of disks) await c.waitStarted(d.id, 5000);
      // The move as each agent logged it.
      const lines: string[] = [];
      for (const n of c.nodes) {
        const entry = n
          .logText()
          .slice(logFrom.get(n.name) ?? 0)
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((e) => typeof e.msg === 'string' && e.msg.startsWith('lease TTL changed'));
        assert.ok(entry, `${n.name} logged its move`);
        assert.equal(entry.ttl, TO);
        lines.push(`${n.name} ${entry.ms} ms (${entry.keys} keys, ${entry.batches} txn)`);
      }
      process.stderr.write(
        `# lease TTL ${FROM} -> ${TO}: every node's keys on new leases ${movedMs} ms after the API's 200; moves: ${lines.join('; ')}; ${pr.rounds - roundsBefore} INQUIRYs over ${paths.length} paths, 0 failed\n`,
      );
    } finally {
      await pr.stop();
      await w.close();
    }
    await c.assertNoIpOnTwoNodes();
  });
});
