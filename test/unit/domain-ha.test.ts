/** HA domain: move / drain / served keys, the degraded status, and the rebalance plan. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PathSpec } from '../../src/domain/disk.js';
import {
  type DiskRecord,
  type DiskState,
  type OwnerRecord,
  asMoveIntent,
  assembleDisks,
  diskKey,
  drainedKey,
  moveKey,
  ownerKey,
  parseKey,
  pathKey,
  servedKey,
} from '../../src/domain/keys.js';
import { type Assignment, type PathRef, planRebalance } from '../../src/domain/placement.js';
import { diskStatus, fullyServed, servedMarkerChange } from '../../src/domain/status.js';

const record = (id: string, pathCount: number, desired: 'started' | 'stopped' = 'started'): DiskRecord => ({
  id,
  name: `d${id}`,
  iqn: `iqn.2016-05.com.example:${id}`,
  sizeGb: 1,
  createdAt: '2024-01-01T00:00:00.000Z',
  acl: '',
  chapUser: '',
  subnet: 1,
  pathCount,
  desired,
});
const path = (n: number): PathSpec => ({ ip: `10.0.1.${n}`, subnetMask: '255.255.255.0', eth: 'eth1' });

function state(pathCount: number, served: number[], opts: { desired?: 'started' | 'stopped'; servedOnce?: boolean; configuring?: number[] } = {}): DiskState {
  const paths = new Map<number, PathSpec>();
  for (let i = 1; i <= pathCount; i++) paths.set(i, path(i));
  const owners = new Map<number, OwnerRecord>();
  for (const i of served) owners.set(i, { node: `n${i}`, state: 'served' });
  for (const i of opts.configuring ?? []) owners.set(i, { node: `n${i}`, state: 'configuring' });
  return { record: record('00001', pathCount, opts.desired), paths, owners, ...(opts.servedOnce ? { servedOnce: true as const } : {}) };
}

describe('HA keys', () => {
  it('builds and parses move, drained and served keys', () => {
    assert.equal(moveKey('00001', 2), '/portway/moves/00001/2');
    assert.equal(drainedKey('n1'), '/portway/drained/n1');
    assert.equal(servedKey('00001'), '/portway/disks/00001/served');
    assert.deepEqual(parseKey(moveKey('00007', 3)), { kind: 'move', id: '00007', index: 3 });
    assert.deepEqual(parseKey(drainedKey('node.a')), { kind: 'drained', name: 'node.a' });
    assert.deepEqual(parseKey(servedKey('00042')), { kind: 'served', id: '00042' });
    for (const k of ['/portway/moves/00001', '/portway/moves/1/1', '/portway/drained/', '/portway/disks/00001/servedx', '/portway/disks/1/served'])
      assert.deepEqual(parseKey(k), { kind: 'other' }, k);
  });

  it('the served marker lives under the disk prefix and marks the assembled disk', () => {
    assert.ok(servedKey('00001').startsWith(`${diskKey('00001')}/`));
    const kv = (key: string, v: unknown) => ({ key, value: JSON.stringify(v) });
    const m = assembleDisks([
      kv(diskKey('00001'), record('00001', 1)),
      kv(pathKey('00001', 1), path(1)),
      kv(ownerKey('00001', 1), { node: 'a', state: 'served' }),
      kv(servedKey('00001'), { since: 'x' }),
      kv(diskKey('00002'), record('00002', 1)),
      kv(servedKey('00009'), { since: 'x' }),
    ]);
    assert.equal(m.get('00001')?.servedOnce, true);
    assert.equal(m.get('00002')?.servedOnce, undefined);
    assert.equal(m.has('00009'), false);
    assert.equal(m.get('00001')?.paths.size, 1, 'the marker is not a path');
  });

  it('reads move intents defensively', () => {
    assert.deepEqual(asMoveIntent({ to: 'n2', from: 'n1', requestedAt: 't' }), { to: 'n2', from: 'n1', requestedAt: 't' });
    assert.deepEqual(asMoveIntent({ to: 'n2' }), { to: 'n2', from: null, requestedAt: '' });
    for (const bad of [null, 1, 'n2', [], {}, { to: '' }, { to: 3 }]) assert.equal(asMoveIntent(bad), undefined);
  });
});

describe('degraded status', () => {
  it('starting until first fully served, then started', () => {
    assert.equal(diskStatus(state(3, [])), 'starting');
    assert.equal(diskStatus(state(3, [1, 2])), 'starting');
    assert.equal(diskStatus(state(3, [1, 2, 3])), 'started');
    assert.equal(diskStatus(state(3, [1, 2, 3], { servedOnce: true })), 'started');
  });

  it('degraded when a disk served once is short of a path (dead node, move in progress)', () => {
    assert.equal(diskStatus(state(3, [1, 2], { servedOnce: true })), 'degraded');
    assert.equal(diskStatus(state(3, [1, 2], { servedOnce: true, configuring: [3] })), 'degraded');
    assert.equal(diskStatus(state(3, [], { servedOnce: true })), 'degraded');
  });

  it('stopped disks are stopping/stopped whatever the marker', () => {
    assert.equal(diskStatus(state(2, [1], { desired: 'stopped', servedOnce: true })), 'stopping');
    assert.equal(diskStatus(state(2, [], { desired: 'stopped', servedOnce: true })), 'stopped');
  });

  it('the marker is set on the first full service and cleared once stopped with no owner left', () => {
    assert.equal(servedMarkerChange(state(2, [1])), undefined);
    assert.equal(servedMarkerChange(state(2, [1, 2])), 'set');
    assert.equal(servedMarkerChange(state(2, [1, 2], { servedOnce: true })), undefined);
    assert.equal(servedMarkerChange(state(2, [1], { servedOnce: true })), undefined);
    assert.equal(servedMarkerChange(state(2, [1], { desired: 'stopped', servedOnce: true })), undefined, 'still stopping');
    assert.equal(servedMarkerChange(state(2, [], { desired: 'stopped', servedOnce: true })), 'clear');
    assert.equal(servedMarkerChange(state(2, [], { desired: 'stopped' })), undefined);
    assert.equal(fullyServed(state(0, [])), false);
  });
});

const at = (id: string, index: number, node: string): Assignment => ({ id, index, node });
const key = (p: PathRef) => `${p.id}/${p.index}`;
function apply(assigned: Assignment[], moves: ReturnType<typeof planRebalance>): Map<string, string> {
  const m = new Map(assigned.map((a) => [key(a), a.node]));
  for (const mv of moves) {
    assert.equal(m.get(key(mv)), mv.from, `move ${key(mv)} from its current node`);
    m.set(key(mv), mv.to);
  }
  return m;
}
function loads(final: Map<string, string>, nodes: string[]): number[] {
  return nodes.map((n) => [...final.values()].filter((x) => x === n).length);
}
function rng(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe('planRebalance', () => {
  it('nothing to do on a balanced cluster, or without nodes', () => {
    const a = [at('00001', 1, 'a'), at('00001', 2, 'b'), at('00002', 1, 'c')];
    assert.deepEqual(planRebalance(a, ['a', 'b', 'c']), []);
    assert.deepEqual(planRebalance(a, []), []);
    assert.deepEqual(planRebalance([], ['a']), []);
  });

  it('evens loads with the fewest moves', () => {
    const a = [at('00001', 1, 'a'), at('00002', 1, 'a'), at('00003', 1, 'a'), at('00004', 1, 'a')];
    const moves = planRebalance(a, ['a', 'b']);
    assert.equal(moves.length, 2);
    assert.deepEqual(loads(apply(a, moves), ['a', 'b']), [2, 2]);
  });

  it('spreads one disk’s paths over distinct nodes first', () => {
    const a = [at('00001', 1, 'a'), at('00001', 2, 'a'), at('00002', 1, 'b'), at('00002', 2, 'c')];
    const final = apply(a, planRebalance(a, ['a', 'b', 'c']));
    assert.notEqual(final.get('00001/1'), final.get('00001/2'));
    assert.notEqual(final.get('00002/1'), final.get('00002/2'));
    const l = loads(final, ['a', 'b', 'c']);
    assert.ok(Math.max(...l) - Math.min(...l) <= 1, `${l}`);
  });

  it('moves paths off nodes that may not hold them (drained, gone)', () => {
    const a = [at('00001', 1, 'x'), at('00001', 2, 'a'), at('00002', 1, 'x')];
    const moves = planRebalance(a, ['a', 'b']);
    const final = apply(a, moves);
    assert.ok([...final.values()].every((n) => n === 'a' || n === 'b'));
    assert.notEqual(final.get('00001/1'), final.get('00001/2'));
    assert.ok(moves.every((m) => m.from !== m.to));
  });

  it('a node that must hold two paths of a disk gets them on different subnets', () => {
    // 4 paths (two per subnet) on 3 nodes: node a holds both subnet-1 paths
    const sub = (id: string, index: number, node: string, subnet: string): Assignment => ({ id, index, node, subnet });
    const a = [sub('00001', 1, 'a', 's1'), sub('00001', 3, 'a', 's1'), sub('00001', 2, 'b', 's2'), sub('00001', 4, 'c', 's2')];
    const moves = planRebalance(a, ['a', 'b', 'c']);
    const final = apply(a, moves);
    for (const n of ['a', 'b', 'c']) {
      const mine = a.filter((p) => final.get(key(p)) === n);
      assert.ok(mine.length <= 2);
      assert.equal(new Set(mine.map((p) => p.subnet)).size, mine.length, `node ${n} holds ${mine.map(key)}: one per subnet`);
    }
    assert.equal(moves.length, 1, 'one move does it');
    // already so: nothing to do
    assert.deepEqual(
      planRebalance(
        [...final].map(([k, n]) => sub(k.split('/')[0] as string, Number(k.split('/')[1]), n, Number(k.split('/')[1]) % 2 ? 's1' : 's2')),
        ['a', 'b', 'c'],
      ),
      [],
    );
  });

  it('random clusters with two subnets: no node holds more of a disk on one subnet than it must', () => {
    const r = rng(23);
    for (let trial = 0; trial < 150; trial++) {
      const nodes = Array.from({ length: 2 + Math.floor(r() * 4) }, (_, i) => `n${i}`);
      const a: Assignment[] = [];
      for (let d = 1; d <= 1 + Math.floor(r() * 8); d++) {
        const id = String(d).padStart(5, '0');
        for (let i = 1; i <= 1 + Math.floor(r() * 6); i++)
          a.push({ id, index: i, node: nodes[Math.floor(r() * nodes.length)] as string, subnet: i % 2 ? 's1' : 's2' });
      }
      const final = apply(a, planRebalance(a, nodes));
      for (const id of new Set(a.map((x) => x.id)))
        for (const s of ['s1', 's2']) {
          const mine = a.filter((x) => x.id === id && x.subnet === s).map((x) => final.get(key(x)) as string);
          const cap = Math.ceil(mine.length / nodes.length);
          for (const n of nodes) assert.ok(mine.filter((x) => x === n).length <= cap, `trial ${trial}: disk ${id} subnet ${s} on ${n}`);
        }
      const l = loads(final, nodes);
      assert.ok(Math.max(...l) - Math.min(...l) <= 1, `trial ${trial}: loads ${l}`);
    }
  });

  it('random clusters: spread where possible, loads within one, each path moved at most once, deterministic', () => {
    const r = rng(11);
    for (let trial = 0; trial < 150; trial++) {
      const nodes = Array.from({ length: 1 + Math.floor(r() * 5) }, (_, i) => `n${i}`);
      const a: Assignment[] = [];
      for (let d = 1; d <= 1 + Math.floor(r() * 8); d++) {
        const id = String(d).padStart(5, '0');
        for (let i = 1; i <= 1 + Math.floor(r() * 4); i++) a.push(at(id, i, nodes[Math.floor(r() * nodes.length)] as string));
      }
      const moves = planRebalance(a, nodes);
      assert.equal(new Set(moves.map(key)).size, moves.length, 'each path at most once');
      assert.deepEqual(planRebalance([...a].reverse(), [...nodes].reverse()), moves, 'deterministic');
      const final = apply(a, moves);
      for (const id of new Set(a.map((x) => x.id))) {
        const mine = a.filter((x) => x.id === id).map((x) => final.get(key(x)) as string);
        const cap = Math.ceil(mine.length / nodes.length);
        for (const n of nodes) assert.ok(mine.filter((x) => x === n).length <= cap, `trial ${trial}: disk ${id} spread`);
      }
      const l = loads(final, nodes);
      assert.ok(Math.max(...l) - Math.min(...l) <= 1 || nodes.length === 1, `trial ${trial}: loads ${l}`);
      // Already balanced -> nothing more.
      assert.deepEqual(
        planRebalance(
          [...final].map(([k, n]) => at(k.split('/')[0] as string, Number(k.split('/')[1]), n)),
          nodes,
        ),
        [],
      );
    }
  });
});
