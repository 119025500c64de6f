/** The plan of a live lease TTL change (domain/lease-move.ts): which keys move, in which transactions. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type LeasedKv, MAX_KEYS_PER_TXN, earliestDeadline, leaseTtlChange, planLeaseMove, remainingOnLease, splitBatch } from '../../src/domain/lease-move.js';

const owner = (id: number, n: number, lease: string | undefined, rev: number): LeasedKv => ({
  key: `/portway/owners/${String(id).padStart(5, '0')}/${n}`,
  value: JSON.stringify({ node: 'n1', state: 'served' }),
  modRevision: rev,
  ...(lease ? { lease } : {}),
});

describe('planLeaseMove', () => {
  it('moves only the keys on the old lease, node record first (with its new value), each guarded by its mod revision', () => {
    const kvs: LeasedKv[] = [
      owner(2, 1, '7', 12),
      owner(1, 1, '7', 11),
      owner(1, 2, '9', 13), // another node's lease
      owner(3, 1, undefined, 14), // no lease
      { key: '/portway/nodes/n1', value: '{"name":"n1","settingsVersion":1}', modRevision: 5, lease: '7' },
      { key: '/portway/nodes/n2', value: '{"name":"n2"}', modRevision: 6, lease: '9' },
    ];
    const p = planLeaseMove({ kvs, from: '7', to: '8', rewrite: new Map([['/portway/nodes/n1', '{"name":"n1","settingsVersion":2}']]) });
    assert.deepEqual(p.keys, ['/portway/nodes/n1', '/portway/owners/00001/1', '/portway/owners/00002/1']);
    assert.equal(p.batches.length, 1);
    const b = p.batches[0]!;
    assert.deepEqual(b.compares, [
      { key: '/portway/nodes/n1', modRevision: 5 },
      { key: '/portway/owners/00001/1', modRevision: 11 },
      { key: '/portway/owners/00002/1', modRevision: 12 },
    ]);
    assert.deepEqual(
      b.puts.map((x) => [x.key, x.lease, x.value]),
      [
        ['/portway/nodes/n1', '8', '{"name":"n1","settingsVersion":2}'],
        ['/portway/owners/00001/1', '8', owner(1, 1, '7', 11).value],
        ['/portway/owners/00002/1', '8', owner(2, 1, '7', 12).value],
      ],
    );
  });

  it(`batches of at most ${MAX_KEYS_PER_TXN} keys; a smaller batch size when asked, never a larger one`, () => {
    const kvs = Array.from({ length: 130 }, (_, i) => owner(i + 1, 1, '7', 100 + i));
    const p = planLeaseMove({ kvs, from: '7', to: '8' });
    assert.deepEqual(
      p.batches.map((b) => b.puts.length),
      [64, 64, 2],
    );
    for (const b of p.batches) assert.equal(b.compares.length, b.puts.length);
    assert.equal(new Set(p.batches.flatMap((b) => b.puts.map((x) => x.key))).size, 130, 'every key once');
    assert.deepEqual(
      planLeaseMove({ kvs, from: '7', to: '8', batchSize: 50 }).batches.map((b) => b.puts.length),
      [50, 50, 30],
    );
    assert.deepEqual(
      planLeaseMove({ kvs, from: '7', to: '8', batchSize: 500 }).batches.map((b) => b.puts.length),
      [64, 64, 2],
    );
    assert.deepEqual(planLeaseMove({ kvs: [], from: '7', to: '8' }), { batches: [], keys: [] });
    assert.throws(() => planLeaseMove({ kvs, from: '7', to: '7' }), RangeError);
  });

  it('a failed batch splits into one guarded transaction per key', () => {
    const p = planLeaseMove({ kvs: [owner(1, 1, '7', 11), owner(1, 2, '7', 12)], from: '7', to: '8' });
    const one = splitBatch(p.batches[0]!);
    assert.deepEqual(
      one.map((b) => [b.compares, b.puts.map((x) => x.key)]),
      [
        [[{ key: '/portway/owners/00001/1', modRevision: 11 }], ['/portway/owners/00001/1']],
        [[{ key: '/portway/owners/00001/2', modRevision: 12 }], ['/portway/owners/00001/2']],
      ],
    );
  });

  it('remainingOnLease: what still holds the old lease back', () => {
    assert.deepEqual(remainingOnLease([owner(1, 1, '7', 1), owner(1, 2, '8', 2), owner(1, 3, undefined, 3)], '7'), ['/portway/owners/00001/1']);
    assert.deepEqual(remainingOnLease([owner(1, 2, '8', 2)], '7'), []);
  });
});

describe('leaseTtlChange and earliestDeadline', () => {
  it('a change only to another valid TTL', () => {
    assert.equal(leaseTtlChange(10, 6), 6);
    assert.equal(leaseTtlChange(10, 10), undefined);
    assert.equal(leaseTtlChange(10, undefined), undefined);
    assert.equal(leaseTtlChange(10, 0), undefined);
    assert.equal(leaseTtlChange(10, 2.5), undefined);
  });

  it('the fence deadline is the earlier of the two leases', () => {
    // old lease TTL 10 renewed at t=1000 (fence at +6000), new one TTL 6 granted at t=5000 (fence at +3600)
    assert.equal(
      earliestDeadline([
        { lastRenewSentOk: 5000, fenceAfterMs: 3600 },
        { lastRenewSentOk: 1000, fenceAfterMs: 6000 },
      ]),
      7000,
    );
    assert.equal(earliestDeadline([{ lastRenewSentOk: 5000, fenceAfterMs: 3600 }]), 8600);
  });
});
