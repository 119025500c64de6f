/** The warm pool size (domain/warm-pool.ts): a node's share of the busiest other node's disks, plus a margin. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clusterView } from '../../src/domain/cluster-view.js';
import { drainedKey, nodeKey, ownerKey } from '../../src/domain/keys.js';
import { recordJson } from '../../src/domain/records.js';
import { WARM_MARGIN, warmPoolSize } from '../../src/domain/warm-pool.js';

let rev = 1;
const kv = (key: string, value: string) => ({ key, value, modRevision: rev++ });
const node = (name: string) => kv(nodeKey(name), recordJson('node', { name, startedAt: '2026-12-04T00:00:00Z' }));
/** `disks` disks of `paths` paths each, all held by `owner`, numbered from `first`. */
const held = (owner: string, first: number, disks: number, paths = 2) =>
  Array.from({ length: disks }, (_, d) =>
    Array.from({ length: paths }, (_, p) => kv(ownerKey(String(first + d).padStart(5, '0'), p + 1), recordJson('owner', { node: owner, state: 'served' }))),
  ).flat();

describe('warmPoolSize', () => {
  it('is this node’s share of the busiest other node’s disks (not paths), plus the margin', () => {
    const v = clusterView([node('a'), node('b'), node('c'), ...held('a', 1, 5), ...held('b', 6, 17), ...held('c', 23, 3)]);
    // b fails: its 17 disks go to a and c.
    assert.equal(warmPoolSize(v, 'a', 64), Math.ceil(17 / 2) + WARM_MARGIN);
    // c's busiest other node is b too.
    assert.equal(warmPoolSize(v, 'c', 64), Math.ceil(17 / 2) + WARM_MARGIN);
    // b's busiest other is a (5 disks).
    assert.equal(warmPoolSize(v, 'b', 64), Math.ceil(5 / 2) + WARM_MARGIN);
  });

  it('is capped, and 0 when disabled, alone, drained, or when no other node holds a disk', () => {
    const v = clusterView([node('a'), node('b'), ...held('b', 1, 100)]);
    assert.equal(warmPoolSize(v, 'a', 32), 32);
    assert.equal(warmPoolSize(v, 'a', 0), 0);
    assert.equal(warmPoolSize(clusterView([node('a'), ...held('a', 1, 10)]), 'a', 32), 0, 'a single node takes over from nobody');
    assert.equal(warmPoolSize(clusterView([node('a'), node('b'), kv(drainedKey('a'), '{}'), ...held('b', 1, 10)]), 'a', 32), 0, 'a drained node takes nothing');
    assert.equal(warmPoolSize(clusterView([node('a'), node('b'), ...held('a', 1, 10)]), 'a', 32), 0, 'b holds nothing');
  });

  it('counts only eligible nodes as takers', () => {
    // c is drained: b's 12 disks would all go to a.
    const v = clusterView([node('a'), node('b'), node('c'), kv(drainedKey('c'), '{}'), ...held('b', 1, 12)]);
    assert.equal(warmPoolSize(v, 'a', 64), 12 + WARM_MARGIN);
  });
});
