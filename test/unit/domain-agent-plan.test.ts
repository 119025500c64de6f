/**
 * The agent's planner (domain/agent-plan.ts), table-driven: from a cluster view to what one node
 * keeps, adopts, releases, claims and writes. Pure: no store, no tgtd.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planAgent } from '../../src/domain/agent-plan.js';
import { type StoredKv, clusterView } from '../../src/domain/cluster-view.js';
import type { Placement } from '../../src/domain/disk.js';
import { planRebalanceMixed } from '../../src/domain/placement.js';
import { type DiskRecord, diskKey, drainedKey, moveKey, nodeKey, ownerKey, pathKey } from '../../src/domain/keys.js';

interface DiskSpec {
  id: string;
  paths: number;
  placement?: Placement;
  desired?: 'started' | 'stopped';
  /** path index -> owner node (and state, default served). */
  owners?: Record<number, string | [string, 'served' | 'configuring']>;
  /** path index -> intent target. */
  intents?: Record<number, string>;
}

interface World {
  nodes: string[];
  drained?: string[];
  disks: DiskSpec[];
  /** lease of every owner key (default 'L'): adopt tests use another. */
  ownerLease?: string;
}

let rev = 1;
function kvsOf(w: World): StoredKv[] {
  const out: StoredKv[] = [];
  const put = (key: string, value: unknown, lease?: string) => out.push({ key, value: JSON.stringify(value), modRevision: rev++, ...(lease ? { lease } : {}) });
  for (const n of w.nodes) put(nodeKey(n), { name: n, startedAt: '' }, 'L');
  for (const n of w.drained ?? []) put(drainedKey(n), { since: '' });
  for (const d of w.disks) {
    const rec: DiskRecord = {
      id: d.id,
      name: `d${d.id}`,
      iqn: `iqn.2016-05.io.portway:${d.id}`,
      sizeGb: 1,
      createdAt: '',
      acl: '',
      chapUser: '',
      subnet: 3,
      pathCount: d.paths,
      desired: d.desired ?? 'started',
      ...(d.placement ? { placement: d.placement } : {}),
    };
    put(diskKey(d.id), rec);
    for (let i = 1; i <= d.paths; i++) put(pathKey(d.id, i), { ip: `10.0.${i % 2}.${Number(d.id) * 10 + i}`, subnetMask: '255.255.255.0', eth: 'eth0' });
    for (const [i, o] of Object.entries(d.owners ?? {})) {
      const [node, state] = typeof o === 'string' ? [o, 'served'] : o;
      put(ownerKey(d.id, Number(i)), { node, state }, w.ownerLease ?? 'L');
    }
    for (const [i, to] of Object.entries(d.intents ?? {})) put(moveKey(d.id, Number(i)), { to, from: null, requestedAt: '' });
  }
  return out;
}

const plan = (w: World, me: string, leaseId = 'L') => planAgent({ view: clusterView(kvsOf(w)), me, leaseId });
const refs = (list: { id: string; index: number }[]) => list.map((p) => `${p.id}/${p.index}`).sort();
const claimed = (w: World, me: string) =>
  plan(w, me)
    .claims.map((c) => `${c.id}:${c.paths.map((p) => p.index).join(',')}`)
    .sort();

describe('agent plan: shared disks', () => {
  const cases: { name: string; world: World; me: string; claims?: string[]; release?: string[]; keep?: string[] }[] = [
    {
      name: 'a new shared disk is claimed whole by one node (the least loaded; by name on a tie)',
      world: { nodes: ['a', 'b'], disks: [{ id: '00001', paths: 2, placement: 'shared' }] },
      me: 'a',
      claims: ['00001:1,2'],
    },
    {
      name: '... and the other node claims none of it',
      world: { nodes: ['a', 'b'], disks: [{ id: '00001', paths: 2, placement: 'shared' }] },
      me: 'b',
      claims: [],
    },
    {
      name: 'two new shared disks go to two nodes',
      world: {
        nodes: ['a', 'b'],
        disks: [
          { id: '00001', paths: 2, placement: 'shared' },
          { id: '00002', paths: 2, placement: 'shared' },
        ],
      },
      me: 'b',
      claims: ['00002:1,2'],
    },
    {
      name: 'placement counts load: the node holding more paths gets nothing new',
      world: {
        nodes: ['a', 'b'],
        disks: [
          { id: '00001', paths: 4, placement: 'shared', owners: { 1: 'a', 2: 'a', 3: 'a', 4: 'a' } },
          { id: '00002', paths: 2, placement: 'shared' },
          { id: '00003', paths: 2, placement: 'shared' },
        ],
      },
      me: 'b',
      claims: ['00002:1,2', '00003:1,2'],
    },
    {
      name: 'a shared disk with one path lost (its node died) is completed by its home, not by another node',
      world: { nodes: ['a', 'b'], disks: [{ id: '00001', paths: 2, placement: 'shared', owners: { 1: 'b' } }] },
      me: 'a',
      claims: [],
    },
    {
      name: '... its home claims the lost path',
      world: { nodes: ['a', 'b'], disks: [{ id: '00001', paths: 2, placement: 'shared', owners: { 1: 'b' } }] },
      me: 'b',
      claims: ['00001:2'],
      keep: ['00001/1'],
    },
    {
      name: 'a shared disk split over two nodes (e.g. switched from spread) converges: the non-home gives its path back',
      world: { nodes: ['a', 'b'], disks: [{ id: '00001', paths: 2, placement: 'shared', owners: { 1: 'a', 2: 'b' } }] },
      me: 'b',
      release: ['00001/2'],
      keep: [],
    },
    {
      name: '... the home (owner of the lowest path on a tie) keeps its path',
      world: { nodes: ['a', 'b'], disks: [{ id: '00001', paths: 2, placement: 'shared', owners: { 1: 'a', 2: 'b' } }] },
      me: 'a',
      keep: ['00001/1'],
      release: [],
    },
    {
      name: 'the home is where most of its paths are',
      world: { nodes: ['a', 'b'], disks: [{ id: '00001', paths: 3, placement: 'shared', owners: { 1: 'a', 2: 'b', 3: 'b' } }] },
      me: 'a',
      release: ['00001/1'],
    },
    {
      name: 'a move intent makes its target the home: the owner releases every path',
      world: { nodes: ['a', 'b'], disks: [{ id: '00001', paths: 2, placement: 'shared', owners: { 1: 'a', 2: 'a' }, intents: { 1: 'b', 2: 'b' } }] },
      me: 'a',
      release: ['00001/1', '00001/2'],
    },
    {
      name: '... and the target claims the disk whole once it is free',
      world: { nodes: ['a', 'b'], disks: [{ id: '00001', paths: 2, placement: 'shared', intents: { 1: 'b', 2: 'b' } }] },
      me: 'b',
      claims: ['00001:1,2'],
    },
    {
      name: 'an intent to a node that is gone is void: the disk is placed as usual',
      world: { nodes: ['a', 'b'], disks: [{ id: '00001', paths: 2, placement: 'shared', intents: { 1: 'c', 2: 'c' } }] },
      me: 'a',
      claims: ['00001:1,2'],
    },
    {
      name: 'a stopped shared disk is released and not claimed',
      world: { nodes: ['a'], disks: [{ id: '00001', paths: 2, placement: 'shared', desired: 'stopped', owners: { 1: 'a' } }] },
      me: 'a',
      release: ['00001/1'],
      claims: [],
    },
    {
      name: 'a drained node claims nothing',
      world: { nodes: ['a', 'b'], drained: ['a'], disks: [{ id: '00001', paths: 2, placement: 'shared' }] },
      me: 'a',
      claims: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = plan(c.world, c.me);
      if (c.claims) assert.deepEqual(claimed(c.world, c.me), c.claims, 'claims');
      if (c.release) assert.deepEqual(refs(p.release), c.release, 'release');
      if (c.keep) assert.deepEqual(refs(p.keep), c.keep, 'keep');
    });
  }

  it('after a node dies, exactly one survivor claims each of its shared disks, whole', () => {
    const disks: DiskSpec[] = [];
    for (let i = 1; i <= 12; i++) disks.push({ id: String(i).padStart(5, '0'), paths: 2, placement: 'shared' });
    // Node c died: its disks have no owners now; a and b are the survivors.
    const world: World = { nodes: ['a', 'b'], disks };
    const a = plan(world, 'a').claims;
    const b = plan(world, 'b').claims;
    const all = [...a, ...b].map((c) => c.id).sort();
    assert.deepEqual(
      all,
      disks.map((d) => d.id),
      'every disk claimed once',
    );
    for (const c of [...a, ...b])
      assert.deepEqual(
        c.paths.map((p) => p.index),
        [1, 2],
        'whole',
      );
    assert.ok(Math.abs(a.length - b.length) <= 1, `spread over the survivors (${a.length}/${b.length})`);
  });

  it('a drained node moves a shared disk whole to one node', () => {
    const world: World = {
      nodes: ['a', 'b', 'c'],
      drained: ['a'],
      disks: [{ id: '00001', paths: 3, placement: 'shared', owners: { 1: 'a', 2: 'a', 3: 'a' } }],
    };
    const p = plan(world, 'a');
    assert.equal(p.intents.length, 3);
    assert.equal(new Set(p.intents.map((i) => i.to)).size, 1, 'one target for every path');
    assert.notEqual(p.intents[0]?.to, 'a');
  });
});

describe('agent plan: spread disks and common duties', () => {
  it('a spread disk (or one made before placement existed) is placed path by path over the nodes', () => {
    for (const placement of ['spread', undefined] as const) {
      const world: World = { nodes: ['a', 'b'], disks: [{ id: '00001', paths: 2, ...(placement ? { placement } : {}) }] };
      assert.deepEqual(claimed(world, 'a'), ['00001:1']);
      assert.deepEqual(claimed(world, 'b'), ['00001:2']);
    }
  });

  it('a spread path with an intent is released by its owner and claimed only by the target', () => {
    const world: World = { nodes: ['a', 'b', 'c'], disks: [{ id: '00001', paths: 2, placement: 'spread', owners: { 1: 'a', 2: 'b' }, intents: { 1: 'c' } }] };
    assert.deepEqual(refs(plan(world, 'a').release), ['00001/1']);
    const freed: World = { ...world, disks: [{ id: '00001', paths: 2, placement: 'spread', owners: { 2: 'b' }, intents: { 1: 'c' } }] };
    assert.deepEqual(claimed(freed, 'a'), []);
    assert.deepEqual(claimed(freed, 'c'), ['00001:1']);
  });

  it("keys of a previous run (another lease) are kept and adopted; the current lease's are only kept", () => {
    const world: World = { nodes: ['a'], ownerLease: 'OLD', disks: [{ id: '00001', paths: 2, placement: 'shared', owners: { 1: 'a', 2: 'a' } }] };
    const p = plan(world, 'a', 'NEW');
    assert.deepEqual(refs(p.adopt), ['00001/1', '00001/2']);
    assert.deepEqual(refs(plan(world, 'a', 'OLD').adopt), []);
  });

  it("this node's owner keys of a disk that is gone are cleaned up; another node's are not", () => {
    const kvs = kvsOf({ nodes: ['a', 'b'], disks: [] });
    kvs.push({ key: ownerKey('00009', 1), value: JSON.stringify({ node: 'a', state: 'served' }), modRevision: 1 });
    kvs.push({ key: ownerKey('00009', 2), value: JSON.stringify({ node: 'b', state: 'served' }), modRevision: 1 });
    const p = planAgent({ view: clusterView(kvs), me: 'a', leaseId: 'L' });
    assert.deepEqual(
      p.cleanup.map((k) => k.key),
      [ownerKey('00009', 1)],
    );
  });

  it('the first eligible node keeps the SERVED markers', () => {
    const world: World = { nodes: ['a', 'b'], disks: [{ id: '00001', paths: 2, placement: 'shared', owners: { 1: 'a', 2: 'a' } }] };
    assert.deepEqual(plan(world, 'a').markers, [{ id: '00001', change: 'set' }]);
    assert.deepEqual(plan(world, 'b').markers, []);
  });

  it('shared and spread disks share the load: a node full of shared paths gets the spread paths', () => {
    const world: World = {
      nodes: ['a', 'b'],
      disks: [
        { id: '00001', paths: 4, placement: 'shared', owners: { 1: 'a', 2: 'a', 3: 'a', 4: 'a' } },
        { id: '00002', paths: 1, placement: 'spread' },
      ],
    };
    assert.deepEqual(claimed(world, 'b'), ['00002:1']);
    assert.deepEqual(claimed(world, 'a'), []);
  });
});

describe('rebalance with shared disks (planRebalanceMixed)', () => {
  const a = (id: string, index: number, node: string) => ({ id, index, node });
  it('moves shared disks whole, from the fullest node to the emptiest', () => {
    const assigned = [a('00001', 1, 'a'), a('00001', 2, 'a'), a('00002', 1, 'a'), a('00002', 2, 'a')];
    const moves = planRebalanceMixed(assigned, new Set(['00001', '00002']), ['a', 'b']);
    assert.equal(new Set(moves.map((m) => m.id)).size, 1, 'one disk moves');
    assert.deepEqual(moves.map((m) => m.index).sort(), [1, 2], 'both of its paths');
    assert.ok(moves.every((m) => m.to === 'b'));
  });
  it('a split shared disk is brought onto one node', () => {
    const moves = planRebalanceMixed([a('00001', 1, 'a'), a('00001', 2, 'b')], new Set(['00001']), ['a', 'b']);
    assert.deepEqual(moves, [{ id: '00001', index: 2, from: 'b', to: 'a' }]);
  });
  it('a shared disk on a drained node moves whole to an eligible one', () => {
    const moves = planRebalanceMixed([a('00001', 1, 'x'), a('00001', 2, 'x')], new Set(['00001']), ['a', 'b']);
    assert.equal(moves.length, 2);
    assert.equal(new Set(moves.map((m) => m.to)).size, 1);
  });
  it('spread paths and shared disks even out together, the shared disk staying whole', () => {
    const assigned = [a('00001', 1, 'a'), a('00001', 2, 'a'), a('00002', 1, 'a'), a('00003', 1, 'a')];
    const moves = planRebalanceMixed(assigned, new Set(['00001']), ['a', 'b']);
    const where = new Map(assigned.map((p) => [`${p.id}/${p.index}`, p.node]));
    for (const m of moves) where.set(`${m.id}/${m.index}`, m.to);
    assert.equal(where.get('00001/1'), where.get('00001/2'), 'the shared disk is whole');
    const load = (n: string) => [...where.values()].filter((x) => x === n).length;
    assert.equal(load('a'), 2);
    assert.equal(load('b'), 2);
    assert.equal(moves.length, 2, 'two moves');
  });
  it('a balanced cluster needs no move', () => {
    const assigned = [a('00001', 1, 'a'), a('00001', 2, 'a'), a('00002', 1, 'b'), a('00002', 2, 'b')];
    assert.deepEqual(planRebalanceMixed(assigned, new Set(['00001', '00002']), ['a', 'b']), []);
  });
});
