/**
 * Multi-node faults on the simulated cluster (test/harness/cluster.ts: 3 nodes in network namespaces,
 * real `portway agent` processes and tgtds, etcd), processes killed by PID. Not covered by the
 * ha-*.test.ts files (node power-off, management cut, clean restarts, moves):
 *
 *  - an agent SIGKILLed while it configures a path of a disk being added (its owner key says
 *    `configuring`), its tgtds killed and its path IPs dropped with it (what a supervisor must do for
 *    a crashed agent, docs/HA.md), and the agent started again: the disk ends started, every path
 *    served by exactly one node (the restarted agent's, adopted, or another's if the lease ran out
 *    before the restart). Once with a shared disk (the default: every path on one node, in one
 *    tgtd, so the victim is configuring all of them), once with a spread disk (paths over the nodes);
 *  - the owner node's agent SIGKILLed right after a shared disk's stop (its tgtd, holding every path
 *    IP as a portal, keeps running): the delete that follows gets `disk_not_stopped` while the dead
 *    agent's owner keys live, then completes once its lease ran out; the agent started again removes
 *    the tgtd and the IPs of the deleted disk.
 *
 * After each: the cluster end state is checked (test/reliability/lib/cluster-check.ts: shared
 * consistency checker, each started path served once and answering INQUIRY, a shared disk on one
 * node, nothing else served); throughout, the IP watcher saw no path IP on two nodes and the
 * shared-disk watcher (lib/shared-watch.ts) no shared disk with tgtds on two nodes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SimCluster, SimNode } from '../harness/cluster.js';
import { ipn, killPid, namespaceInode, pidsInNamespaces } from '../harness/netns.js';
import { haCluster, haSkip } from '../harness/suite.js';
import { waitFor } from '../helpers/wait.js';
import { clusterImages, waitClusterConsistent } from './lib/cluster-check.js';
import { measured } from './lib/common.js';
import { SharedDiskWatcher } from './lib/shared-watch.js';

const skip = haSkip();
// Long enough for a killed agent to be started again (node + tsx: seconds on a busy box) before its
// lease ends; the delete test waits for one expiry.
const TTL = 10;

/** Every process in the node's namespace but the agent (its tgtds, and any tgtadm/ip it ran). */
function killNodeChildren(n: SimNode): number {
  const pids = pidsInNamespaces(new Set([namespaceInode(n.ns) ?? -1])).filter((p) => p !== n.agentPid);
  for (const p of pids) killPid(p, 'SIGKILL');
  return pids.length;
}

describe('cluster node faults: agents killed mid-configure and mid-stop', { skip, timeout: 300_000 }, () => {
  let c: SimCluster;
  let shared: SharedDiskWatcher;
  before(async () => {
    c = await haCluster({ nodes: 3, leaseTtlSeconds: TTL });
    shared = new SharedDiskWatcher(c);
    shared.start();
  });
  after(async () => {
    await shared?.stop();
    await c?.destroy();
  });

  for (const placement of ['shared', 'spread'] as const)
    it(`agent SIGKILLed while configuring a new ${placement} disk's path, started again: every path served by exactly one node`, async () => {
      const added = await c.disks.add({
        name: `mid-cfg-${placement}`,
        sizeGb: 1,
        activePaths: 3,
        subnet: 3,
        ipMode: 'auto',
        acl: { mode: 'all' },
        auth: { mode: 'none' },
        ...(placement === 'spread' ? { placement } : {}),
      });
      assert.ok(added.ok, JSON.stringify(added));
      const { id } = added.disk;
      assert.equal(added.disk.placement, placement);
      // The first owner key that says `configuring`: its node is between taking the path and serving it.
      const hit = await waitFor(
        async () => {
          for (const [n, o] of await c.owners(id)) if (o.state === 'configuring') return { n, node: o.node };
          return undefined;
        },
        { what: 'a path in configuring', timeoutMs: 30_000, intervalMs: 5 },
      );
      const victim = c.node(hit.node);
      victim.killAgent();
      const killed = killNodeChildren(victim);
      const t0 = Date.now();
      await victim.stopAgent('SIGKILL', 2000);
      for (const dev of ['eth1', 'eth2']) await ipn(victim.ns, ['addr', 'flush', 'dev', dev]);
      process.stderr.write(`# killed ${victim.name}'s agent while path ${hit.n} of ${id} was configuring (+${killed} processes in its namespace)\n`);
      await victim.startAgent();
      await c.waitServed(id, 60_000);
      measured('agent killed mid-configure -> every path of the disk served', Date.now() - t0);
      await waitClusterConsistent(c, 60_000);
      const owners = await c.owners(id);
      assert.equal(owners.size, 3);
      const nodes = new Set([...owners.values()].map((o) => o.node));
      if (placement === 'shared') assert.equal(nodes.size, 1, `a shared disk on one node: ${JSON.stringify([...owners])}`);
      else process.stderr.write(`# spread disk ${id} on nodes [${[...nodes].sort()}]\n`);
      const adopted = owners.get(hit.n)?.node === victim.name;
      process.stderr.write(
        `# path ${hit.n}: ${adopted ? 'adopted by the restarted agent' : `taken by ${owners.get(hit.n)?.node} (the lease ran out before the restart)`}\n`,
      );
      // Clean up, so the next test's victim serves nothing of a started disk.
      assert.ok((await c.disks.stop(id)).ok);
      await waitFor(
        async () => {
          const d = await c.disks.get(id);
          return d.ok && d.disk.status === 'stopped' ? true : undefined;
        },
        { what: 'disk stopped', timeoutMs: 30_000, intervalMs: 100 },
      );
      assert.ok((await c.disks.delete(id)).ok);
    });

  it("owner agent SIGKILLed right after a shared disk's stop: delete says disk_not_stopped, then completes; the restarted agent drops the deleted disk's tgtd and IPs", async () => {
    const added = await c.disks.add({ name: 'mid-stop', sizeGb: 1, activePaths: 3, subnet: 3, ipMode: 'auto', acl: { mode: 'all' }, auth: { mode: 'none' } });
    assert.ok(added.ok, JSON.stringify(added));
    const { id } = added.disk;
    const paths = await c.waitServed(id, 60_000);
    const victim = c.node(paths[0]?.node as string);
    const ips = paths.map((p) => p.ip).sort();
    assert.deepEqual(new Set(paths.map((p) => p.node)), new Set([victim.name]), 'a shared disk: every path on one node');
    // One tgtd holds every path IP as a portal (its record is rewritten a moment after the paths say served).
    const tgtd = await waitFor(
      () => {
        const ts = victim.tgtds();
        return ts.length === 1 && [...(ts[0]?.portals ?? [])].sort().join() === ips.join() ? ts[0] : undefined;
      },
      { what: `one tgtd on ${victim.name} holding ${ips.join(' ')}`, timeoutMs: 10_000, detail: () => JSON.stringify(victim.tgtds()) },
    );
    assert.equal(tgtd.disk, id, 'the victim serves this disk only, in one tgtd');
    const stopped = await c.disks.stop(id);
    assert.ok(stopped.ok);
    victim.killAgent(); // a crash: its tgtds keep running
    await victim.stopAgent('SIGKILL', 2000);
    const t0 = Date.now();
    // While the dead agent's owner key lives, the disk is not stopped: delete refuses with a code.
    const held = [...(await c.owners(id)).values()].some((o) => o.node === victim.name);
    const early = await c.disks.delete(id);
    if (held) assert.equal(early.ok ? 'deleted' : early.code, 'disk_not_stopped', 'no delete while the dead node holds a path');
    else process.stderr.write(`# note: ${victim.name} had released its path before the kill\n`);
    const deleted =
      early.ok ||
      (await waitFor(
        async () => {
          const r = await c.disks.delete(id);
          if (r.ok) return true;
          assert.equal(r.code, 'disk_not_stopped', r.message);
          return undefined;
        },
        { what: 'the delete to go through', timeoutMs: (TTL + 20) * 1000, intervalMs: 250 },
      ));
    assert.ok(deleted);
    measured('owner agent killed after a stop -> delete completed (its lease ran out)', Date.now() - t0);
    assert.equal(
      (await clusterImages(c).list()).some((i) => i.name === `image-${id}`),
      false,
      'the image is gone',
    );
    // The crashed node still serves the deleted disk (its tgtd and IPs outlive the agent: docs/HA.md;
    // safe here only because the victim holds no path of a started disk, which another node would
    // take once the lease ran out); its agent, started again, removes them.
    await victim.startAgent();
    const gone = async () => {
      const on = await victim.pathIps();
      return !victim.tgtds().some((t) => t.pid === tgtd.pid || t.disk === id || t.portals.some((p) => ips.includes(p))) && !ips.some((ip) => on.includes(ip));
    };
    await waitFor(gone, { what: "the deleted disk's tgtd and IPs gone from the restarted node", timeoutMs: 60_000, intervalMs: 100 }).catch((e) => {
      // Seen once under heavy load (30 s bound then): show what the restarted agent did.
      const tail = victim
        .logText()
        .split('\n')
        .filter((l) => ips.some((ip) => l.includes(ip)) || l.includes(`"disk":"${id}"`) || /"level":[45]0/.test(l))
        .slice(-15);
      throw new Error(`${(e as Error).message}; tgtds ${JSON.stringify(victim.tgtds())}; ${victim.name}'s log:\n${tail.join('\n')}`);
    });
    await waitClusterConsistent(c, 60_000);
    for (const n of c.nodes) for (const ip of ips) assert.equal((await n.pathIps()).includes(ip), false, `${ip} on ${n.name}`);
  });

  it('never had one path IP on two nodes, nor a shared disk served on two nodes', async () => {
    await c.assertNoIpOnTwoNodes();
    process.stderr.write(`# ${await shared.assertNoOverlap()}\n`);
    assert.ok(shared.rounds > 20, `the shared-disk watcher sampled (${shared.rounds} rounds)`);
  });
});
