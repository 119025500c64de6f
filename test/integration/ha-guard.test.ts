/**
 * HA, the fence guard (src/agent/guard.ts): the node's agent process dies or hangs while the node
 * stays up -- its tgtds and path IPs left as they are -- and the guard, a separate process the agent
 * feeds a deadline after every renewal, fences the node (tgtds SIGKILLed, path IPs dropped) before
 * the lease can expire; the other nodes take the paths and no IP is ever on two nodes.
 *
 *  1. agent SIGKILLed and kept dead: the guard fences before the lease expires, others serve the paths;
 *  2. agent SIGSTOPped for longer than the TTL: the same; after SIGCONT the agent sees it lost its
 *     lease and serves nothing that others own;
 *  3. agent SIGKILLed and started again within the fence time: no flap (the guard did not fence, the
 *     new agent took over feeding it; same tgtd PIDs, IPs never gone).
 *
 * Times are measured and printed; the assertions are orderings (fenced before the lease expired),
 * never wall-clock bounds.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { type SimCluster, type SimNode, waitUntil } from '../harness/cluster.js';
import { alive, killPid } from '../harness/netns.js';
import { haCluster, haSkip } from '../harness/suite.js';

const skip = haSkip();
// Fence time 0.6 TTL = 9 s: the restart in (3) (node + tsx on a loaded 2-CPU box: seconds) must fit.
const TTL = 15;

describe('HA fence guard: an agent that dies or hangs is fenced by its guard', { skip, timeout: 600_000 }, () => {
  let c: SimCluster;
  let disk: { id: string; iqn: string };
  before(async () => {
    c = await haCluster({ nodes: 3, leaseTtlSeconds: TTL });
    const added = await c.disks.add({ name: 'guard1', sizeGb: 1, activePaths: 3, subnet: 1, ipMode: 'auto', acl: { mode: 'all' }, auth: { mode: 'none' } });
    assert.ok(added.ok, JSON.stringify(added));
    disk = added.disk;
    await c.waitServed(disk.id, 60_000);
  });
  after(async () => {
    await c?.destroy();
  });

  /** A node serving at least one path, its tgtds, IPs and guard. */
  const victimWithPaths = async (): Promise<{ v: SimNode; tgtds: { ip: string; pid: number }[]; ips: string[]; guard: number }> => {
    const v = c.nodes.find((n) => n.tgtds().length > 0 && n.agentPid !== undefined) as SimNode;
    assert.ok(v, 'a node serves a path');
    const guard = await waitUntil(`${v.name}: guard running`, () => v.guardPid(), 20_000, 50);
    return { v, tgtds: v.tgtds(), ips: await v.pathIps(), guard };
  };

  /** Waits until the victim's IPs and tgtds are gone and its lease expired; returns both times (ms after t0). */
  const fenceAndExpiry = async (v: SimNode, tgtds: { pid: number }[], t0: number) => {
    let fencedAt: number | undefined;
    let expiredAt: number | undefined;
    await Promise.all([
      waitUntil(
        `${v.name}: IPs and tgtds gone`,
        async () => {
          if ((await v.pathIps()).length === 0 && tgtds.every((t) => !alive(t.pid))) fencedAt = performance.now() - t0;
          return fencedAt;
        },
        60_000,
        20,
      ),
      waitUntil(
        `${v.name}: lease expired`,
        async () => {
          if (!(await c.store.get(`/portway/nodes/${v.name}`))) expiredAt = performance.now() - t0;
          return expiredAt;
        },
        60_000,
        20,
      ),
    ]);
    return { fencedMs: Math.round(fencedAt as number), expiredMs: Math.round(expiredAt as number) };
  };

  const guardFenceLine = (v: SimNode): { lateMs: number; tookMs: number; tgtdsKilled: number; ips: string[] } | undefined => {
    const line = v
      .guardLogText()
      .split('\n')
      .reverse()
      .find((l) => l.includes('"msg":"guard fenced"'));
    return line ? JSON.parse(line) : undefined;
  };

  const servedElsewhere = async (v: SimNode, ips: string[], t0: number) => {
    const paths = await c.waitServed(disk.id, 60_000, [v.name]);
    const servedMs = Math.round(performance.now() - t0);
    for (const ip of ips) {
      const p = paths.find((x) => x.ip === ip);
      assert.ok(p && p.node !== v.name, `${ip} served by another node`);
    }
    for (const p of paths) assert.equal(await c.inquiry(p.ip, disk.iqn, 20_000), `PW${disk.id}`, `${p.ip} answers from the client`);
    return { servedMs, answeredMs: Math.round(performance.now() - t0) };
  };

  it('agent SIGKILLed and kept dead: the guard fences before the lease expires, the others serve its paths', async () => {
    const { v, tgtds, ips, guard } = await victimWithPaths();
    const t0 = performance.now();
    killPid(v.agentPid as number, 'SIGKILL'); // the agent only: its tgtds and IPs stay as they are
    await v.stopAgent('SIGKILL', 1000);
    assert.ok(
      tgtds.every((t) => alive(t.pid)),
      'the tgtds outlived the agent',
    );
    const { fencedMs, expiredMs } = await fenceAndExpiry(v, tgtds, t0);
    const info = guardFenceLine(v);
    const { servedMs, answeredMs } = await servedElsewhere(v, ips, t0);
    process.stderr.write(
      `# guard, agent killed (TTL ${TTL} s, fence time ${0.6 * TTL * 1000} ms): IPs and tgtds gone ${fencedMs} ms after the kill, ` +
        `lease expired ${expiredMs} ms, paths served elsewhere ${servedMs} ms, all answering ${answeredMs} ms; ` +
        `guard: ${info?.lateMs} ms after its deadline, fence took ${info?.tookMs} ms, ${info?.tgtdsKilled} tgtd(s) killed, IPs ${JSON.stringify(info?.ips)}\n`,
    );
    assert.ok(info, 'the guard logged its fence');
    assert.deepEqual([...(info?.ips ?? [])].sort(), [...ips].sort(), 'the guard dropped exactly the IPs the node held');
    assert.ok(fencedMs < expiredMs, `fenced (${fencedMs} ms) before the lease expired (${expiredMs} ms)`);
    assert.equal(alive(guard), false, 'the guard exited after fencing');
    assert.equal(v.guardPid(), undefined);
    // Back: a new agent and guard, holding nothing (the paths are owned elsewhere).
    await v.startAgent();
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(await v.pathIps(), []);
    assert.deepEqual(v.tgtds(), []);
    assert.ok(await waitUntil(`${v.name}: new guard`, () => v.guardPid(), 20_000, 50));
  });

  it('agent SIGSTOPped past the TTL: the guard fences in time; after SIGCONT the agent serves nothing others own', async () => {
    const { v, tgtds, ips, guard } = await victimWithPaths();
    const agentPid = v.agentPid as number;
    const joinedBefore = (v.logText().match(/"msg":"agent joined"/g) ?? []).length;
    const t0 = performance.now();
    killPid(agentPid, 'SIGSTOP');
    try {
      const { fencedMs, expiredMs } = await fenceAndExpiry(v, tgtds, t0);
      const info = guardFenceLine(v);
      const { servedMs, answeredMs } = await servedElsewhere(v, ips, t0);
      process.stderr.write(
        `# guard, agent stopped: IPs and tgtds gone ${fencedMs} ms after SIGSTOP, lease expired ${expiredMs} ms, served elsewhere ${servedMs} ms, ` +
          `answering ${answeredMs} ms; guard ${info?.lateMs} ms after its deadline, took ${info?.tookMs} ms\n`,
      );
      assert.ok(info, 'the guard logged its fence');
      assert.ok(fencedMs < expiredMs, `fenced (${fencedMs} ms) before the lease expired (${expiredMs} ms)`);
      assert.equal(alive(guard), false, 'the guard exited after fencing');
      // stopped for longer than the TTL in all
      const rest = TTL * 1000 + 2000 - (performance.now() - t0);
      if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    } finally {
      killPid(agentPid, 'SIGCONT');
    }
    const contAt = performance.now();
    const owners = await c.owners(disk.id);
    await waitUntil(
      `${v.name}: rejoined with a new lease`,
      () => (v.logText().match(/"msg":"agent joined"/g) ?? []).length > joinedBefore || undefined,
      30_000,
      100,
    );
    const rejoinMs = Math.round(performance.now() - contAt);
    await new Promise((r) => setTimeout(r, 3000)); // a few reconciles
    assert.deepEqual(await v.pathIps(), [], 'no IP back on the stopped node');
    assert.deepEqual(v.tgtds(), [], 'no tgtd on the stopped node');
    assert.deepEqual(await c.owners(disk.id), owners, 'ownership unchanged by the resumed agent');
    for (const o of owners.values()) assert.notEqual(o.node, v.name);
    const log = v.logText();
    process.stderr.write(
      `# guard, after SIGCONT: rejoined ${rejoinMs} ms later; agent log: fenced=${/"msg":"fenced"/.test(log)}, ` +
        `guard told it=${/the fence guard fenced this node/.test(log)}, not adopted=${/could not be adopted/.test(log)}\n`,
    );
    assert.ok(await waitUntil(`${v.name}: new guard`, () => v.guardPid(), 20_000, 50));
  });

  it('agent SIGKILLed and restarted within the fence time: nothing flaps, the guard did not fence', async () => {
    const { v, tgtds, ips, guard } = await victimWithPaths();
    const owners = await c.owners(disk.id);
    const fencesBefore = (v.guardLogText().match(/"msg":"guard fenced"/g) ?? []).length;
    let flapped: string | undefined;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const now = await v.pathIps();
        if (JSON.stringify(now) !== JSON.stringify(ips)) flapped ??= `IPs ${JSON.stringify(now)}`;
        const t = v
          .tgtds()
          .map((x) => x.pid)
          .join(',');
        if (t !== tgtds.map((x) => x.pid).join(',')) flapped ??= `tgtds ${t}`;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const t0 = performance.now();
    const logFrom = v.logText().length;
    let readyMs = 0;
    try {
      v.killAgent();
      await v.stopAgent('SIGKILL', 1000);
      await v.startAgent();
      readyMs = Math.round(performance.now() - t0);
      // the new agent takes over feeding the guard once it adopted its keys
      await waitUntil(
        `${v.name}: guard follows the new lease`,
        () => v.logText().slice(logFrom).includes('fence guard follows this lease') || undefined,
        30_000,
        50,
      );
      await new Promise((r) => setTimeout(r, 0.6 * TTL * 1000)); // past the old deadline
    } finally {
      watching = false;
      await watch;
    }
    process.stderr.write(`# guard, agent restarted: ready again ${readyMs} ms after the kill (fence time ${0.6 * TTL * 1000} ms)\n`);
    assert.equal(flapped, undefined, `nothing changed during the restart (${flapped})`);
    assert.equal((v.guardLogText().match(/"msg":"guard fenced"/g) ?? []).length, fencesBefore, 'the guard did not fence');
    assert.equal(v.guardPid(), guard, 'the same guard');
    assert.deepEqual(v.tgtds(), tgtds, 'same tgtd PIDs');
    assert.deepEqual(await c.owners(disk.id), owners, 'same owners');

    await c.assertNoIpOnTwoNodes();
  });
});
