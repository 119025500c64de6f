import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type PathRef, pathSubnet, placePaths } from '../../src/domain/placement.js';

const refs = (id: string, n: number): PathRef[] => Array.from({ length: n }, (_, i) => ({ id, index: i + 1 }));
const id5 = (n: number) => String(n).padStart(5, '0');
const none = new Map<string, PathRef[]>();

/** Plan as a plain object: node -> ["id/index", ...] sorted. */
function flat(plan: Map<string, PathRef[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [n, ps] of [...plan.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) out[n] = ps.map((p) => `${p.id}/${p.index}`).sort();
  return out;
}

function loads(plan: Map<string, PathRef[]>, held: ReadonlyMap<string, readonly PathRef[]> = none): number[] {
  return [...plan.entries()].map(([n, ps]) => ps.length + (held.get(n)?.length ?? 0));
}

function assertCoversExactlyOnce(plan: Map<string, PathRef[]>, unowned: PathRef[]): void {
  const placed = [...plan.values()]
    .flat()
    .map((p) => `${p.id}/${p.index}`)
    .sort();
  assert.deepEqual(placed, unowned.map((p) => `${p.id}/${p.index}`).sort());
}

function rng(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

function shuffle<T>(xs: readonly T[], r: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

describe('placePaths basics', () => {
  it('no nodes -> empty plan', () => {
    assert.equal(placePaths(refs('00001', 2), [], none).size, 0);
    assert.equal(placePaths([], [], none).size, 0);
  });

  it('no unowned paths -> every node with an empty list', () => {
    assert.deepEqual(flat(placePaths([], ['a', 'b'], none)), { a: [], b: [] });
  });

  it('a single node takes everything', () => {
    const u = [...refs('00001', 3), ...refs('00002', 2)];
    const plan = placePaths(u, ['solo'], none);
    assert.equal(plan.get('solo')?.length, 5);
    assertCoversExactlyOnce(plan, u);
  });

  it('plan keys are exactly the given nodes', () => {
    const plan = placePaths(refs('00001', 1), ['c', 'a', 'b'], new Map([['dead', refs('00009', 3)]]));
    assert.deepEqual([...plan.keys()].sort(), ['a', 'b', 'c']);
  });

  it('every unowned path is placed exactly once', () => {
    const u = [...refs('00001', 8), ...refs('00002', 3), ...refs('00003', 1)];
    assertCoversExactlyOnce(placePaths(u, ['a', 'b', 'c'], none), u);
  });

  it('does not mutate its inputs', () => {
    const u = [
      { id: '00002', index: 1 },
      { id: '00001', index: 2 },
      { id: '00001', index: 1 },
    ];
    const nodes = ['b', 'a'];
    const held = new Map([['a', refs('00003', 1)]]);
    const before = JSON.stringify([u, nodes, [...held]]);
    placePaths(u, nodes, held);
    assert.equal(JSON.stringify([u, nodes, [...held]]), before);
  });
});

describe('placePaths spreads one disk’s paths over different nodes', () => {
  it('n paths on >= n nodes: all on different nodes', () => {
    for (let paths = 1; paths <= 8; paths++) {
      for (let nodes = paths; nodes <= 9; nodes++) {
        const names = Array.from({ length: nodes }, (_, i) => `node-${i}`);
        const plan = placePaths(refs('00001', paths), names, none);
        for (const ps of plan.values()) assert.ok(ps.length <= 1, `${paths} paths on ${nodes} nodes`);
      }
    }
  });

  it('more paths than nodes: as even as possible', () => {
    const plan = placePaths(refs('00001', 8), ['a', 'b', 'c'], none);
    const l = loads(plan).sort();
    assert.deepEqual(l, [2, 3, 3]);
  });

  it('two disks of 2 paths on 2 nodes: each disk on both nodes', () => {
    const plan = placePaths([...refs('00001', 2), ...refs('00002', 2)], ['a', 'b'], none);
    for (const ps of plan.values()) assert.deepEqual(ps.map((p) => p.id).sort(), ['00001', '00002']);
  });

  it('many disks at once: every disk with paths <= nodes has its paths on distinct nodes', () => {
    const r = rng(7);
    for (let trial = 0; trial < 100; trial++) {
      const nodeCount = 1 + Math.floor(r() * 8);
      const names = Array.from({ length: nodeCount }, (_, i) => `n${i}`);
      const u: PathRef[] = [];
      const diskCount = 1 + Math.floor(r() * 20);
      for (let d = 1; d <= diskCount; d++) u.push(...refs(id5(d), 1 + Math.floor(r() * 8)));
      const plan = placePaths(shuffle(u, r), names, none);
      assertCoversExactlyOnce(plan, u);
      for (let d = 1; d <= diskCount; d++) {
        const id = id5(d);
        const count = u.filter((p) => p.id === id).length;
        const perNode = [...plan.values()].map((ps) => ps.filter((p) => p.id === id).length);
        if (count <= nodeCount)
          assert.ok(
            perNode.every((c) => c <= 1),
            `trial ${trial} disk ${id}`,
          );
        else
          assert.ok(
            perNode.every((c) => c >= 1),
            `trial ${trial} disk ${id} uses every node`,
          );
      }
    }
  });
});

describe('placePaths keeps loads even', () => {
  it('from empty: max - min <= 1 (random disks and node counts)', () => {
    const r = rng(99);
    for (let trial = 0; trial < 200; trial++) {
      const nodeCount = 1 + Math.floor(r() * 10);
      const names = Array.from({ length: nodeCount }, (_, i) => `node${String.fromCharCode(97 + i)}`);
      const u: PathRef[] = [];
      const diskCount = Math.floor(r() * 30);
      for (let d = 1; d <= diskCount; d++) u.push(...refs(id5(d), 1 + Math.floor(r() * 8)));
      const l = loads(placePaths(u, names, none));
      assert.ok(Math.max(...l) - Math.min(...l) <= 1, `trial ${trial}: ${l}`);
    }
  });

  it('single-path disks round-robin over nodes', () => {
    const u = Array.from({ length: 9 }, (_, i) => ({
      id: id5(i + 1),
      index: 1,
    }));
    assert.deepEqual(loads(placePaths(u, ['a', 'b', 'c'], none)), [3, 3, 3]);
  });

  it('held paths count toward load: the lightly loaded node fills up first', () => {
    const held = new Map<string, PathRef[]>([
      ['a', [...refs('00101', 2), ...refs('00102', 1)]],
      ['b', []],
    ]);
    const u = [
      { id: '00001', index: 1 },
      { id: '00002', index: 1 },
      { id: '00003', index: 1 },
    ];
    const plan = placePaths(u, ['a', 'b'], held);
    assert.equal(plan.get('b')?.length, 3);
    assert.equal(plan.get('a')?.length, 0);
    const more = [...u, { id: '00004', index: 1 }, { id: '00005', index: 1 }];
    const l = loads(placePaths(more, ['a', 'b'], held), held);
    assert.ok(Math.max(...l) - Math.min(...l) <= 1, `${l}`);
  });

  it('held paths count toward load with many nodes', () => {
    const held = new Map<string, PathRef[]>([
      ['a', refs('00100', 4)],
      ['b', refs('00101', 2)],
    ]);
    const u = Array.from({ length: 6 }, (_, i) => ({
      id: id5(i + 1),
      index: 1,
    }));
    const l = loads(placePaths(u, ['a', 'b', 'c'], held), held);
    assert.deepEqual(l, [4, 4, 4]);
  });

  it('held paths count toward spread: a disk’s next path avoids the node already serving it', () => {
    // a serves 00001/1 and is the least loaded; 00001/2 still goes to b
    const held = new Map<string, PathRef[]>([
      ['a', [{ id: '00001', index: 1 }]],
      ['b', [...refs('00050', 3)]],
    ]);
    const plan = placePaths([{ id: '00001', index: 2 }], ['a', 'b'], held);
    assert.deepEqual(flat(plan), { a: [], b: ['00001/2'] });
  });

  it('spread prefers among non-holders the least loaded', () => {
    const held = new Map<string, PathRef[]>([
      ['a', [{ id: '00001', index: 1 }]],
      ['b', refs('00050', 3)],
      ['c', refs('00051', 1)],
    ]);
    const plan = placePaths([{ id: '00001', index: 2 }], ['a', 'b', 'c'], held);
    assert.deepEqual(flat(plan), { a: [], b: [], c: ['00001/2'] });
  });

  it('held paths on nodes not in the list (dead nodes) are ignored', () => {
    const held = new Map<string, PathRef[]>([['dead', refs('00001', 1)]]);
    const plan = placePaths([{ id: '00001', index: 2 }], ['a', 'b'], held);
    assert.deepEqual(flat(plan), { a: ['00001/2'], b: [] });
  });
});

describe('placePaths is deterministic', () => {
  it('same plan whatever the order of paths and nodes', () => {
    const r = rng(2024);
    const u = [...refs('00003', 4), ...refs('00001', 2), ...refs('00010', 3), ...refs('00002', 1), ...refs('00007', 8)];
    const nodes = ['n3', 'n1', 'n4', 'n2', 'n5'];
    const held = new Map<string, PathRef[]>([
      ['n2', refs('00020', 2)],
      ['n5', [{ id: '00003', index: 9 }]],
    ]);
    const expected = flat(placePaths(u, nodes, held));
    for (let i = 0; i < 50; i++) {
      const heldShuffled = new Map(shuffle([...held.entries()], r).map(([k, v]) => [k, shuffle(v, r)]));
      assert.deepEqual(flat(placePaths(shuffle(u, r), shuffle(nodes, r), heldShuffled)), expected);
    }
  });

  it('each node’s list is in (id, index) order', () => {
    const plan = placePaths(
      [
        { id: '00002', index: 1 },
        { id: '00001', index: 3 },
        { id: '00001', index: 1 },
      ],
      ['a'],
      none,
    );
    assert.deepEqual(plan.get('a'), [
      { id: '00001', index: 1 },
      { id: '00001', index: 3 },
      { id: '00002', index: 1 },
    ]);
  });

  it('ties go to the first node by name', () => {
    assert.deepEqual(flat(placePaths([{ id: '00001', index: 1 }], ['zeta', 'alpha', 'mid'], none)), {
      alpha: ['00001/1'],
      mid: [],
      zeta: [],
    });
  });

  it('every agent computing the plan agrees (same inputs, same result)', () => {
    const u = [...refs('00001', 3), ...refs('00002', 3)];
    const a = flat(placePaths(u, ['x', 'y', 'z'], none));
    const b = flat(placePaths([...u].reverse(), ['z', 'y', 'x'], none));
    assert.deepEqual(a, b);
    assert.deepEqual(a, {
      x: ['00001/1', '00002/1'],
      y: ['00001/2', '00002/2'],
      z: ['00001/3', '00002/3'],
    });
  });
});

describe('placePaths: a node holding two paths of a disk holds them on different subnets', () => {
  const S1 = '10.0.1.0/24';
  const S2 = '10.0.2.0/24';
  const p = (index: number, subnet: string): PathRef => ({
    id: '00001',
    index,
    subnet,
  });
  /** node -> subnets of the disk's paths it holds (plan + held). */
  function subnetsPerNode(plan: Map<string, PathRef[]>, held: ReadonlyMap<string, readonly PathRef[]> = none): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [n, ps] of plan)
      out.set(
        n,
        [...(held.get(n) ?? []), ...ps].filter((x) => x.id === '00001').map((x) => x.subnet ?? '?'),
      );
    return out;
  }

  it("pathSubnet is the path's network in CIDR", () => {
    assert.equal(pathSubnet('10.0.1.17', '255.255.255.0'), S1);
    assert.equal(pathSubnet('192.168.7.200', '255.255.254.0'), '192.168.6.0/23');
    assert.equal(pathSubnet('10.0.1.x', '255.255.255.0'), undefined);
    assert.equal(pathSubnet('10.0.1.1', '255.0.255.0'), undefined);
  });

  it('4 paths on 3 nodes: the second path of a node is on the other subnet (not just the least loaded node)', () => {
    // subnets 1,2,2,1: by load and name alone path 4 (subnet 1) would join path 1 (subnet 1) on a
    const plan = placePaths([p(1, S1), p(2, S2), p(3, S2), p(4, S1)], ['a', 'b', 'c'], none);
    assert.deepEqual(flat(plan), {
      a: ['00001/1'],
      b: ['00001/2', '00001/4'],
      c: ['00001/3'],
    });
  });

  it("failover: the dead node's paths go where their subnet is not yet", () => {
    // a died holding paths 1 (subnet 1) and 4 (subnet 2); b holds 2 (subnet 1), c holds 3 (subnet 2)
    const held = new Map([
      ['b', [p(2, S1)]],
      ['c', [p(3, S2)]],
    ]);
    const plan = placePaths([p(1, S1), p(4, S2)], ['b', 'c'], held);
    assert.deepEqual(flat(plan), { b: ['00001/4'], c: ['00001/1'] });
    for (const [n, subnets] of subnetsPerNode(plan, held)) assert.equal(new Set(subnets).size, subnets.length, n);
  });

  it('spread over nodes still comes first: never two paths on a node while another has none', () => {
    const plan = placePaths([p(1, S1), p(2, S1), p(3, S1)], ['a', 'b', 'c'], none);
    assert.deepEqual(
      [...plan.values()].map((ps) => ps.length),
      [1, 1, 1],
    );
  });

  it('random loads and sizes: at most ceil(paths/nodes) per node, and one path per subnet per node', () => {
    const r = rng(4);
    for (let round = 0; round < 300; round++) {
      const n = 2 + Math.floor(r() * 4);
      const k = n + 1 + Math.floor(r() * n); // n < k <= 2n
      const nodes = Array.from({ length: n }, (_, i) => `n${i}`);
      // other disks' paths already held, unevenly
      const held = new Map<string, PathRef[]>();
      for (const node of nodes) held.set(node, refs(`9${node}`.padStart(5, '0'), Math.floor(r() * 4)));
      const start = r() < 0.5 ? 0 : 1;
      const unowned = shuffle(
        Array.from({ length: k }, (_, i) => p(i + 1, (i + start) % 2 === 0 ? S1 : S2)),
        r,
      );
      const plan = placePaths(unowned, nodes, held);
      assertCoversExactlyOnce(plan, unowned);
      for (const [node, subnets] of subnetsPerNode(plan)) {
        assert.ok(subnets.length <= Math.ceil(k / n), `${node}: ${subnets.length} of ${k} paths on ${n} nodes`);
        assert.equal(new Set(subnets).size, subnets.length, `${node}: ${subnets.join(',')} (k=${k}, n=${n})`);
      }
    }
  });
});
