/** The charts' shaping of the I/O series (web/src/io-series.ts): sums across nodes, per node, latest. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIops, formatRate, latest, perNode, readWrite } from '../../web/src/io-series.js';

const A = {
  node: 'a',
  points: [
    [1000, 100, 10, 5, 1],
    [4000, 200, 20, 6, 2],
  ],
};
const B = {
  node: 'b',
  points: [
    [2500, 1000, 0, 50, 0],
    [5500, 3000, 0, 70, 0],
  ],
};

describe('I/O series for the charts', () => {
  it('one node: its own points, read and write', () => {
    const d = readWrite([A], 'bytes', 0, 10_000);
    assert.deepEqual(d.xs, [1, 4]);
    assert.deepEqual(d.lines, [
      { key: 'read', label: 'Read', values: [100, 200] },
      { key: 'write', label: 'Write', values: [10, 20] },
    ]);
    assert.deepEqual(
      readWrite([A], 'iops', 0, 10_000).lines.map((l) => l.values),
      [
        [5, 6],
        [1, 2],
      ],
    );
  });

  it('nodes sampled at different times: each held at its last point until its next', () => {
    const d = readWrite([A, B], 'iops', 0, 10_000);
    assert.deepEqual(d.xs, [1, 2.5, 4, 5.5]);
    assert.deepEqual(d.lines[0]?.values, [5, 55, 56, 76]);
  });

  it('a node with no point for longer than the hold counts as 0', () => {
    const d = readWrite([A, B], 'iops', 0, 1000);
    // at 2.5 s A's point of 1 s is 1.5 s old: out; at 4 s B's of 2.5 s: out; at 5.5 s A's of 4 s: out.
    assert.deepEqual(d.lines[0]?.values, [5, 50, 6, 70]);
  });

  it('only points after since', () => {
    assert.deepEqual(readWrite([A, B], 'bytes', 3000, 10_000).xs, [4, 5.5]);
  });

  it('per node: read + write, one line per node by name', () => {
    const d = perNode([B, A], 'bytes', 0, 10_000);
    assert.deepEqual(
      d.lines.map((l) => [l.key, l.values]),
      [
        ['a', [110, 110, 220, 220]],
        ['b', [0, 1000, 1000, 3000]],
      ],
    );
  });

  it('latest: the last values, or 0 once the newest point is stale', () => {
    const d = readWrite([A, B], 'iops', 0, 10_000);
    assert.deepEqual(
      latest(d, 6000, 5000).map((l) => l.value),
      [76, 2],
    );
    assert.deepEqual(
      latest(d, 60_000, 5000).map((l) => l.value),
      [0, 0],
    );
    assert.deepEqual(
      latest(readWrite([], 'iops', 0, 1), 0, 1).map((l) => l.value),
      [0, 0],
    );
  });

  it('formats rates in binary units and IOPS', () => {
    assert.equal(formatRate(0), '0 B/s');
    assert.equal(formatRate(0.5), '0.5 B/s');
    assert.equal(formatRate(512), '512 B/s');
    assert.equal(formatRate(8192 * 1000), '7.8 MiB/s');
    assert.equal(formatIops(8413.4), '8,413 IOPS');
    assert.equal(formatIops(2.25), '2.3 IOPS');
  });
});
