/**
 * HA, admin side and restarts on a simulated 3-node cluster:
 * - an agent restart (crash, then start) flaps nothing: same tgtd PIDs, same owners, IPs never gone;
 * - a rolling upgrade (every agent in turn: SIGQUIT, started again) flaps nothing either, and every
 *   path answers INQUIRY from the client throughout;
 * - a stopped agent (SIGTERM) gives its paths back and the others take them;
 * - move one path to a named node, rebalance, drain and undrain, through the HTTP routes (spread
 *   disks: paths placed one by one);
 * - a shared disk: every path on one node in one tgtd; a move, a drain and a rebalance take it whole.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApi } from '../../src/api/server.js';
import { checkConfig } from '../../src/domain/config.js';
import { AuthService } from '../../src/services/auth-service.js';
import { type SimCluster, waitUntil } from '../harness/cluster.js';
import { haCluster, haSkip } from '../harness/suite.js';

const skip = haSkip();
// Long enough for an agent to start again (node + tsx, seconds on a busy 2-core box) before its old
// lease ends; nothing in this file waits for a lease to expire except the restart test (once).
const TTL = 20;

describe('HA admin: restarts, moves, rebalance, drain', { skip, timeout: 400_000 }, () => {
  let c: SimCluster;
  let app: FastifyInstance;
  let a: { id: string; iqn: string };
  let b: { id: string; iqn: string };
  const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
    const res = await app.inject({ method, url, ...(body === undefined ? {} : { payload: body as object }) });
    return { status: res.statusCode, json: res.json() as any };
  };
  const owners = async () => {
    const out: Record<string, string> = {};
    for (const d of [a, b]) for (const [n, o] of await c.owners(d.id)) out[`${d.id}/${n}`] = `${o.node}:${o.state}`;
    return out;
  };
  /** Per node: paths held; per disk: whether its paths are on distinct nodes. */
  const layout = async () => {
    const r = await call('GET', '/api/v1/nodes');
    assert.equal(r.status, 200);
    const nodes = r.json.nodes as { name: string; up: boolean; drained: boolean; paths: string[]; pathCount: number }[];
    const spread = (id: string) => {
      const on = nodes.map((n) => n.paths.filter((p) => p.startsWith(`${id}/`)).length).filter((x) => x > 0);
      return Math.max(...on) <= 1;
    };
    return { nodes, spread };
  };

  before(async () => {
    c = await haCluster({ nodes: 3, leaseTtlSeconds: TTL });
    // The real API (schemas, validation, failure shape) over the cluster's services; logins off.
    const checked = checkConfig(c.config);
    if (!checked.ok) throw new Error(checked.message);
    const log = pino({ level: 'silent' });
    app = await buildApi({
      disks: c.disks,
      paths: c.paths,
      config: c.config,
      subnet1: checked.subnet1,
      subnet2: checked.subnet2,
      log,
      auth: { service: new AuthService({ store: c.store, log, sessionIdleMs: 3_600_000 }), enabled: false, secureCookie: false },
    });
    await app.ready();
    const spread = { ipMode: 'auto', acl: { mode: 'all' }, auth: { mode: 'none' }, placement: 'spread' } as const;
    const ra = await c.disks.add({ name: 'adm-a', sizeGb: 1, activePaths: 3, subnet: 1, ...spread });
    const rb = await c.disks.add({ name: 'adm-b', sizeGb: 1, activePaths: 2, subnet: 2, ...spread });
    assert.ok(ra.ok && rb.ok);
    a = ra.disk;
    b = rb.disk;
    await c.waitServed(a.id, 30_000);
    await c.waitServed(b.id, 30_000);
  });
  after(async () => {
    await app?.close();
    await c?.destroy();
  });

  it('places paths spread and even: each disk on distinct nodes, loads 2/2/1', async () => {
    const { nodes, spread } = await layout();
    assert.ok(spread(a.id) && spread(b.id), JSON.stringify(nodes));
    assert.deepEqual(nodes.map((n) => n.pathCount).sort(), [1, 2, 2]);
    assert.ok(nodes.every((n) => n.up && !n.drained));
  });

  it('an agent restart flaps nothing: same tgtds, same owners, its IPs never gone', async () => {
    const node = c.nodes.find((n) => n.tgtds().length > 0) as (typeof c.nodes)[number];
    const tgtdsBefore = node.tgtds();
    const ownersBefore = await owners();
    const ipsBefore = await node.pathIps();
    const leaseBefore = (await c.store.get(`/portway/nodes/${node.name}`))?.lease;
    let flapped: string | undefined;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const now = await node.pathIps();
        if (JSON.stringify(now) !== JSON.stringify(ipsBefore)) flapped ??= `IPs ${JSON.stringify(now)}`;
        const t = node
          .tgtds()
          .map((x) => x.pid)
          .join(',');
        if (t !== tgtdsBefore.map((x) => x.pid).join(',')) flapped ??= `tgtds ${t}`;
        const o = await owners();
        if (JSON.stringify(o) !== JSON.stringify(ownersBefore)) flapped ??= `owners ${JSON.stringify(o)}`;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      node.killAgent(); // a crash: no release
      await node.stopAgent('SIGKILL', 1000);
      await node.startAgent();
      await new Promise((r) => setTimeout(r, 1500)); // a few reconciles, and past a renewal or two
    } finally {
      watching = false;
      await watch;
    }
    assert.equal(flapped, undefined, `nothing changed during the restart (${flapped})`);
    assert.deepEqual(node.tgtds(), tgtdsBefore, 'same tgtd PIDs');
    assert.deepEqual(await owners(), ownersBefore, 'same owners');
    assert.match(node.logText(), /adopted path from previous run/);
    // The owner keys now live under the new lease (the node key's), so they outlive the old one.
    const nodeLease = (await c.store.get(`/portway/nodes/${node.name}`))?.lease;
    assert.ok(nodeLease && nodeLease !== leaseBefore, 'the agent has a new lease');
    for (const kv of await c.store.list('/portway/owners/'))
      if ((JSON.parse(kv.value) as { node: string }).node === node.name) assert.equal(kv.lease, nodeLease, kv.key);
  });

  it('a rolling upgrade (each agent in turn: SIGQUIT, started again) flaps nothing; every path answers throughout', async () => {
    // docs/OPERATIONS.md, "Rolling upgrade of the agents": `systemctl kill -s SIGQUIT portway-agent`
    // then `systemctl start portway-agent`, one node at a time.
    const paths = [...[...(await c.owners(a.id)).keys()].map((n) => ({ d: a, n })), ...[...(await c.owners(b.id)).keys()].map((n) => ({ d: b, n }))];
    const ipOf = new Map<string, string>();
    for (const d of [a, b]) {
      const r = await c.disks.paths(d.id);
      assert.ok(r.ok, r.ok ? '' : r.message);
      for (const p of r.paths) ipOf.set(`${d.id}/${p.index}`, p.ip);
    }
    assert.equal(ipOf.size, 5, JSON.stringify([...ipOf]));
    const snapshot = async () => ({
      owners: await owners(),
      ips: await Promise.all(c.nodes.map((n) => n.pathIps())),
      tgtds: c.nodes.map((n) => n.tgtds().map((x) => x.pid)),
    });
    const before = await snapshot();
    let flapped: string | undefined;
    const unanswered: string[] = [];
    let inquiries = 0;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const now = await snapshot();
        if (JSON.stringify(now) !== JSON.stringify(before)) flapped ??= JSON.stringify(now);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // Every path asked INQUIRY in turn, all the time (a host's I/O): none may go unanswered.
    const ask = (async () => {
      while (watching)
        for (const p of paths) {
          const ip = ipOf.get(`${p.d.id}/${p.n}`) as string;
          try {
            await c.inquiry(ip, p.d.iqn, 5_000);
            inquiries++;
          } catch (e) {
            unanswered.push(`${ip}: ${(e as Error).message.slice(0, 200)}`);
          }
        }
    })();
    try {
      for (const node of c.nodes) {
        await node.stopAgent('SIGQUIT', 15_000);
        await node.startAgent();
        // a few reconciles and renewals of the new agent before the next node
        await new Promise((r) => setTimeout(r, 1500));
      }
    } finally {
      watching = false;
      await Promise.all([watch, ask]);
    }
    assert.equal(flapped, undefined, `nothing changed during the rolling restart (${flapped})`);
    assert.deepEqual(unanswered, [], 'every INQUIRY answered');
    assert.ok(inquiries >= paths.length, `${inquiries} inquiries`);
    for (const node of c.nodes) if (node.tgtds().length > 0) assert.match(node.logText(), /adopted path from previous run/);
  });

  it('a stopped agent (SIGTERM) gives its paths back at once; started again, it takes none', async () => {
    const node = c.nodes.find((n) => n.tgtds().length > 0) as (typeof c.nodes)[number];
    await node.stopAgent('SIGTERM', 60_000);
    const t0 = Date.now();
    assert.deepEqual(await node.pathIps(), []);
    assert.deepEqual(node.tgtds(), []);
    await c.waitServed(a.id, 30_000, [node.name]);
    await c.waitServed(b.id, 30_000, [node.name]);
    const ms = Date.now() - t0;
    assert.ok(ms < TTL * 1000, `taken over ${ms} ms after the agent exited: its lease was revoked, not left to expire`);
    await node.startAgent();
    const { nodes } = await layout();
    assert.equal(nodes.find((n) => n.name === node.name)?.pathCount, 0);
  });

  it('moves one path to a named node (release, then take), with stable error codes', async () => {
    const { nodes } = await layout();
    const empty = nodes.find((n) => n.pathCount === 0) as { name: string };
    const r = await call('POST', `/api/v1/disks/${a.id}/paths/1/move`, { node: empty.name });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.move.to, empty.name);
    assert.equal(r.json.move.moved, true);
    const o = await c.owners(a.id);
    assert.deepEqual({ node: o.get(1)?.node, state: o.get(1)?.state }, { node: empty.name, state: 'served' });
    const ip = (await c.waitServed(a.id)).find((p) => p.index === 1)?.ip as string;
    assert.deepEqual(await c.node(empty.name).pathIps(), [ip]);
    assert.equal(await c.inquiry(ip, a.iqn), `PW${a.id}`);
    // Again to the same node: nothing to do, refused with its own code (no success reported for a no-op).
    const again = await call('POST', `/api/v1/disks/${a.id}/paths/1/move`, { node: empty.name });
    assert.equal(again.status, 409);
    assert.equal(again.json.code, 'path_on_node_already');
    assert.equal(again.json.details.field, 'node');
    // Errors.
    const e1 = await call('POST', `/api/v1/disks/${a.id}/paths/1/move`, { node: 'nope' });
    assert.equal(e1.status, 404);
    assert.equal(e1.json.code, 'node_not_found');
    assert.deepEqual(Object.keys(e1.json).sort(), ['code', 'details', 'message']);
    assert.equal((await call('POST', `/api/v1/disks/${a.id}/paths/9/move`, { node: empty.name })).json.code, 'path_not_found');
    assert.equal((await call('POST', '/api/v1/disks/99999/paths/1/move', { node: empty.name })).json.code, 'disk_not_found');
    const e4 = await call('POST', `/api/v1/disks/${a.id}/paths/1/move`, {});
    assert.equal(e4.status, 400);
    assert.equal(e4.json.code, 'data_missing');
    assert.equal(e4.json.details.field, 'node');
  });

  it('rebalances: a plan from the domain, run as moves; afterwards spread and even, nothing left to do', async () => {
    // Make it uneven: every path of disk b onto one node.
    const target = c.nodes[0]?.name as string;
    for (const n of [1, 2]) assert.equal((await call('POST', `/api/v1/disks/${b.id}/paths/${n}/move`, { node: target })).status, 200);
    const before = await layout();
    assert.ok(!before.spread(b.id));
    const plan = await call('GET', '/api/v1/paths/plan');
    assert.ok(plan.json.moves.length > 0);
    const r = await call('POST', '/api/v1/paths/rebalance');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.failed, []);
    assert.equal(r.json.moves.length, plan.json.moves.length);
    const { nodes, spread } = await layout();
    assert.ok(spread(a.id) && spread(b.id), JSON.stringify(nodes));
    const loads = nodes.map((n) => n.pathCount);
    assert.ok(Math.max(...loads) - Math.min(...loads) <= 1, `${loads}`);
    assert.deepEqual((await call('GET', '/api/v1/paths/plan')).json.moves, []);
    for (const p of await c.waitServed(b.id)) assert.equal(await c.inquiry(p.ip, b.iqn), `PW${b.id}`);
  });

  it('drains a node (its paths move away, it takes no new ones) and undrains it', async () => {
    const name = c.nodes[1]?.name as string;
    const r = await call('POST', `/api/v1/nodes/${name}/drain`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.node.drained, true);
    assert.equal(r.json.node.pathCount, 0);
    assert.deepEqual(await c.node(name).pathIps(), []);
    await c.waitServed(a.id, 15_000, [name]);
    await c.waitServed(b.id, 15_000, [name]);
    // A new disk while drained: not on the drained node.
    const rc = await c.disks.add({
      name: 'adm-c',
      sizeGb: 1,
      activePaths: 2,
      subnet: 1,
      ipMode: 'auto',
      acl: { mode: 'all' },
      auth: { mode: 'none' },
      placement: 'spread',
    });
    assert.ok(rc.ok);
    const pc = await c.waitServed(rc.disk.id, 20_000);
    assert.ok(pc.every((p) => p.node !== name));
    // Survives the node's restart.
    await c.node(name).stopAgent('SIGTERM', 60_000);
    await c.node(name).startAgent();
    let nodes = (await layout()).nodes;
    assert.equal(nodes.find((n) => n.name === name)?.drained, true);
    assert.equal(nodes.find((n) => n.name === name)?.pathCount, 0);
    // Moving a path to a drained node is refused.
    const refused = await call('POST', `/api/v1/disks/${a.id}/paths/1/move`, { node: name });
    assert.equal(refused.status, 409);
    assert.equal(refused.json.code, 'node_drained');
    // Undrain, then rebalance: it gets its share again.
    const u = await call('POST', `/api/v1/nodes/${name}/undrain`);
    assert.equal(u.status, 200);
    assert.equal(u.json.node.drained, false);
    const rb = await call('POST', '/api/v1/paths/rebalance');
    assert.deepEqual(rb.json.failed, []);
    nodes = (await layout()).nodes;
    const loads = nodes.map((n) => n.pathCount);
    assert.ok((nodes.find((n) => n.name === name)?.pathCount ?? 0) > 0);
    assert.ok(Math.max(...loads) - Math.min(...loads) <= 1, `${loads}`);
    assert.equal((await call('POST', '/api/v1/nodes/nope/drain')).json.code, 'node_not_found');
  });

  it('a shared disk: every path on one node in one tgtd; a move, a drain and a rebalance take it whole', async () => {
    const rs = await c.disks.add({ name: 'adm-s', sizeGb: 1, activePaths: 2, subnet: 3, ipMode: 'auto', acl: { mode: 'all' }, auth: { mode: 'none' } });
    assert.ok(rs.ok);
    const s = rs.disk;
    assert.equal(s.placement, 'shared', 'shared by default');
    const onOneNode = async () => {
      const paths = await c.waitServed(s.id, 20_000);
      const nodes = new Set(paths.map((p) => p.node));
      assert.equal(nodes.size, 1, `every path on one node: ${JSON.stringify(paths)}`);
      const node = c.node([...nodes][0] as string);
      const units = node.tgtds().filter((t) => t.disk === s.id);
      assert.equal(units.length, 1, 'one tgtd for the disk');
      assert.deepEqual(units[0]?.portals, paths.map((p) => p.ip).sort(), 'with every path IP as a portal');
      for (const p of paths) assert.equal(await c.inquiry(p.ip, s.iqn), `PW${s.id}`);
      return node.name;
    };
    const home = await onOneNode();
    const other = c.nodes.find((n) => n.name !== home)?.name as string;
    // Moving path 2 moves the disk.
    const r = await call('POST', `/api/v1/disks/${s.id}/paths/2/move`, { node: other });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.move.index, 2);
    assert.deepEqual(r.json.moves.map((m: { index: number; to: string }) => `${m.index}:${m.to}`).sort(), [`1:${other}`, `2:${other}`]);
    assert.equal(await onOneNode(), other);
    assert.deepEqual(
      c
        .node(home)
        .tgtds()
        .filter((t) => t.disk === s.id),
      [],
      'nothing of it left on the old node',
    );
    // A drain moves it whole.
    const d = await call('POST', `/api/v1/nodes/${other}/drain`);
    assert.equal(d.status, 200, JSON.stringify(d.json));
    assert.notEqual(await onOneNode(), other);
    assert.equal((await call('POST', `/api/v1/nodes/${other}/undrain`)).status, 200);
    // A rebalance never splits it.
    const rb = await call('POST', '/api/v1/paths/rebalance');
    assert.deepEqual(rb.json.failed, []);
    await onOneNode();
    assert.deepEqual((await call('GET', '/api/v1/paths/plan')).json.moves, []);
  });

  it('never had one path IP on two nodes', async () => {
    await c.assertNoIpOnTwoNodes();
    await waitUntil('all disks started', async () => {
      const r = await c.disks.list();
      return r.ok && r.disks.every((d) => d.status === 'started') ? true : undefined;
    });
  });
});
