/**
 * HA, done-when: 3 nodes (network namespaces, real agents, real tgtd), a 4-path spread disk served from every
 * node; one node dies (agent and tgtds SIGKILLed, cables pulled); its paths answer again from the
 * others, the data reads back identical, and no path IP was ever on two nodes at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type SimCluster, waitUntil } from '../harness/cluster.js';
import { haCluster, haSkip } from '../harness/suite.js';

const skip = haSkip();
const TTL = 3;
const MiB = 1024 * 1024;

describe('HA failover: 3 nodes, a 4-path disk, one node dies', { skip, timeout: 180_000 }, () => {
  let c: SimCluster;
  before(async () => {
    c = await haCluster({ nodes: 3, leaseTtlSeconds: TTL });
  });
  after(async () => {
    await c?.destroy();
  });

  it('serves every path, fails over a dead node, keeps the data, never puts one IP on two nodes', async () => {
    // The spread case (ha-shared.test.ts has the shared one): paths placed one by one over the nodes.
    const added = await c.disks.add({
      name: 'ha1',
      sizeGb: 1,
      activePaths: 4,
      subnet: 3,
      ipMode: 'auto',
      acl: { mode: 'all' },
      auth: { mode: 'none' },
      placement: 'spread',
    });
    assert.ok(added.ok, JSON.stringify(added));
    const { id, iqn } = added.disk;
    const paths = await c.waitServed(id, 30_000);
    assert.equal(paths.length, 4);

    // Spread: 4 paths on 3 nodes -> every node serves the disk, none more than two of its paths.
    const perNode = new Map<string, number>();
    for (const p of paths) perNode.set(p.node as string, (perNode.get(p.node as string) ?? 0) + 1);
    assert.deepEqual([...perNode.keys()].sort(), ['n1', 'n2', 'n3'], JSON.stringify(paths));
    assert.ok(Math.max(...perNode.values()) <= 2);
    // The IP of each path is on its owner's interface, and only there.
    for (const p of paths) {
      const holders = [];
      for (const n of c.nodes) if ((await n.pathIps()).includes(p.ip)) holders.push(n.name);
      assert.deepEqual(holders, [p.node], `${p.ip}`);
    }
    // Every path answers from the client namespace with the disk's identity.
    for (const p of paths) assert.equal(await c.inquiry(p.ip, iqn), `PW${id}`, p.ip);

    // A pattern per path, each written through its own path.
    for (const [i, p] of paths.entries()) await c.writePattern(p.ip, iqn, 0x41 + i, (i + 1) * MiB, MiB);
    assert.equal((await c.disks.get(id)).ok && ((await c.disks.get(id)) as { disk: { status: string } }).disk.status, 'started');

    // The node holding the most paths dies.
    const victim = c.node([...perNode.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] as string);
    const lost = paths.filter((p) => p.node === victim.name);
    // The disk's owner keys as the store's watch delivers them, every revision in order: once the dead
    // node's lease ends, its keys go before another node's claims come, so the disk is short of served
    // paths (its status degraded) for a moment. A poll of the status could miss that moment when the
    // survivors serve within a poll interval (flaky); the watch cannot.
    const ownersNow = new Map<string, string>();
    for (const kv of await c.store.list(`/portway/owners/${id}/`)) ownersNow.set(kv.key, kv.value);
    const servedCount = () => [...ownersNow.values()].filter((v) => (JSON.parse(v) as { state?: string }).state === 'served').length;
    assert.equal(servedCount(), paths.length, 'every path served before the kill');
    let fewestServed = paths.length;
    const ownerWatch = await c.store.watch(`/portway/owners/${id}/`, (ev) => {
      if (ev.type === 'delete') ownersNow.delete(ev.key);
      else if (ev.value !== undefined) ownersNow.set(ev.key, ev.value);
      fewestServed = Math.min(fewestServed, servedCount());
    });
    const { killedAt } = await victim.powerOff();
    // While its lease runs out, the disk is degraded (served once, now short of paths).
    let sawDegraded = false;
    const statuses: string[] = [];
    const moved = await waitUntil(
      "the dead node's paths served elsewhere",
      async () => {
        const d = await c.disks.get(id);
        if (d.ok && !statuses[statuses.length - 1]?.endsWith(`:${d.disk.status}`)) statuses.push(`${Date.now() - killedAt}:${d.disk.status}`);
        if (d.ok && d.disk.status === 'degraded') sawDegraded = true;
        const r = await c.disks.paths(id);
        return r.ok && r.paths.every((p) => p.state === 'served' && p.node && p.node !== victim.name) ? r.paths : undefined;
      },
      30_000,
      25,
    );
    const servedMs = Date.now() - killedAt;
    await c.waitAnswering(lost, iqn, id);
    const answeringMs = Date.now() - killedAt;
    process.stderr.write(`# failover: paths served elsewhere ${servedMs} ms, all answering ${answeringMs} ms after the kill (lease TTL ${TTL} s)\n`);
    await ownerWatch.close();
    // Short of served paths at some revision (the degraded status of such a disk: domain/status.ts, unit
    // tested); the polled status is reported, not asserted.
    assert.ok(fewestServed < paths.length, `the disk was short of served paths while they moved (fewest ${fewestServed} of ${paths.length})`);
    process.stderr.write(`# statuses polled: ${statuses.join(' ')}; degraded seen by the poll: ${sawDegraded}; fewest served ${fewestServed}\n`);
    // How fast is measured in bench/failover.ts; here the waits above bound it (30 s), not the clock of a loaded box.

    // 4 paths on the 2 survivors: two each.
    const after = new Map<string, number>();
    for (const p of moved) after.set(p.node as string, (after.get(p.node as string) ?? 0) + 1);
    assert.deepEqual([...after.values()].sort(), [2, 2], JSON.stringify(moved));
    // Every path answers, and every pattern reads back identical through a different path.
    for (const p of moved) assert.equal(await c.inquiry(p.ip, iqn), `PW${id}`, p.ip);
    for (const [i] of paths.entries()) {
      const via = moved[(i + 1) % moved.length] as { ip: string };
      assert.ok(await c.verifyPattern(via.ip, iqn, 0x41 + i, (i + 1) * MiB, MiB), `pattern ${i} through ${via.ip}`);
    }
    await c.waitStarted(id);
    await c.assertNoIpOnTwoNodes();
  });
});
