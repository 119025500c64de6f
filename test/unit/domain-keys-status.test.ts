import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DiskMeta, PathSpec } from '../../src/domain/disk.js';
import {
  assembleDisks,
  DISKS,
  type DiskRecord,
  type DiskState,
  diskKey,
  diskRecordOf,
  NODES,
  nodeKey,
  OWNERS,
  type OwnerRecord,
  type OwnerState,
  ownerKey,
  parseKey,
  pathKey,
  ROOT,
} from '../../src/domain/keys.js';
import { diskStatus, servedCount } from '../../src/domain/status.js';

const record = (id: string, pathCount = 2, desired: 'started' | 'stopped' = 'started'): DiskRecord => ({
  id,
  name: `disk-${id}`,
  iqn: `iqn.2016-05.com.example:${id}`,
  sizeGb: 10,
  createdAt: '2024-01-01T00:00:00.000Z',
  acl: '',
  chapUser: '',
  subnet: 1,
  pathCount,
  desired,
});
const path = (n: number): PathSpec => ({
  ip: `10.0.1.${n}`,
  subnetMask: '255.255.255.0',
  eth: 'eth1',
});
const owner = (node: string, state: OwnerState = 'served'): OwnerRecord => ({
  node,
  state,
});
const kv = (key: string, value: unknown) => ({
  key,
  value: typeof value === 'string' ? value : JSON.stringify(value),
});

describe('key builders', () => {
  it('layout under the root', () => {
    assert.equal(ROOT, '/portway');
    assert.equal(DISKS, '/portway/disks/');
    assert.equal(OWNERS, '/portway/owners/');
    assert.equal(NODES, '/portway/nodes/');
    assert.equal(diskKey('00001'), '/portway/disks/00001');
    assert.equal(pathKey('00001', 1), '/portway/disks/00001/1');
    assert.equal(pathKey('00001', 8), '/portway/disks/00001/8');
    assert.equal(ownerKey('00001', 2), '/portway/owners/00001/2');
    assert.equal(nodeKey('node-a'), '/portway/nodes/node-a');
  });

  it('a disk key is a prefix of its path keys but not of another disk’s', () => {
    assert.ok(pathKey('00001', 1).startsWith(`${diskKey('00001')}/`));
    assert.ok(!diskKey('00011').startsWith(`${diskKey('00001')}/`));
  });
});

describe('diskRecordOf', () => {
  const meta: DiskMeta = {
    id: '00007',
    name: 'db',
    sizeGb: 100,
    createdAt: '2024-03-04T05:06:07.089Z',
    acl: 'iqn.1993-08.org.debian:01:abc',
    chapUser: 'alice',
    chapPassword: 'S3cretPassw0rd',
    iqn: 'iqn.2016-05.com.example:00007',
    pool: 'rbd',
    subnet: 3,
    paths: [path(10), path(11), path(12)],
  };

  it('carries what lists show, with the path count and desired state', () => {
    const r = diskRecordOf(meta, 'started');
    assert.equal(r.id, '00007');
    assert.equal(r.name, 'db');
    assert.equal(r.iqn, meta.iqn);
    assert.equal(r.sizeGb, 100);
    assert.equal(r.createdAt, meta.createdAt);
    assert.equal(r.acl, meta.acl);
    assert.equal(r.chapUser, 'alice');
    assert.equal(r.subnet, 3);
    assert.equal(r.pathCount, 3);
    assert.equal(r.desired, 'started');
    assert.equal(diskRecordOf(meta, 'stopped').desired, 'stopped');
  });

  it('never carries the CHAP password', () => {
    const r = diskRecordOf(meta, 'started');
    assert.equal('chapPassword' in r, false);
    assert.ok(!JSON.stringify(r).includes('S3cretPassw0rd'));
  });

  it('round-trips through the store with assembleDisks', () => {
    const r = diskRecordOf(meta, 'started');
    const m = assembleDisks([kv(diskKey('00007'), r), ...meta.paths.map((p, i) => kv(pathKey('00007', i + 1), p))]);
    assert.deepEqual(m.get('00007')?.record, r);
    assert.deepEqual([...(m.get('00007')?.paths.values() ?? [])], meta.paths);
  });
});

describe('parseKey', () => {
  it('round-trips every builder', () => {
    for (const id of ['00001', '00042', '99999']) {
      assert.deepEqual(parseKey(diskKey(id)), { kind: 'disk', id });
      for (let n = 1; n <= 8; n++) {
        assert.deepEqual(parseKey(pathKey(id, n)), {
          kind: 'path',
          id,
          index: n,
        });
        assert.deepEqual(parseKey(ownerKey(id, n)), {
          kind: 'owner',
          id,
          index: n,
        });
      }
    }
    for (const name of ['node-a', 'n1', 'host.example.com']) assert.deepEqual(parseKey(nodeKey(name)), { kind: 'node', name });
    assert.deepEqual(parseKey(pathKey('00001', 12)), {
      kind: 'path',
      id: '00001',
      index: 12,
    });
  });

  it('anything else is "other"', () => {
    for (const key of [
      '',
      '/',
      '/portway',
      '/portway/',
      '/portway/disks',
      '/portway/disks/',
      '/portway/disks/1',
      '/portway/disks/000001',
      '/portway/disks/abcde',
      '/portway/disks/00001/',
      '/portway/disks/00001/x',
      '/portway/disks/00001/1/2',
      '/portway/disks/00001/-1',
      '/portway/owners/00001',
      '/portway/owners/00001/',
      '/portway/owners/1/1',
      '/portway/nodes/',
      '/other/disks/00001',
      'portway/disks/00001',
      '/portway/disks/00001 ',
      '/portway/config',
    ]) {
      assert.deepEqual(parseKey(key), { kind: 'other' }, key);
    }
  });
});

describe('assembleDisks', () => {
  it('groups disk, path and owner keys by disk', () => {
    const m = assembleDisks([
      kv(diskKey('00001'), record('00001')),
      kv(pathKey('00001', 1), path(10)),
      kv(pathKey('00001', 2), path(11)),
      kv(ownerKey('00001', 1), owner('a')),
      kv(diskKey('00002'), record('00002', 1, 'stopped')),
      kv(pathKey('00002', 1), path(12)),
    ]);
    assert.deepEqual([...m.keys()].sort(), ['00001', '00002']);
    const d1 = m.get('00001') as DiskState;
    assert.deepEqual(d1.record, record('00001'));
    assert.deepEqual(
      [...d1.paths.entries()],
      [
        [1, path(10)],
        [2, path(11)],
      ],
    );
    assert.deepEqual([...d1.owners.entries()], [[1, owner('a')]]);
    const d2 = m.get('00002') as DiskState;
    assert.equal(d2.record.desired, 'stopped');
    assert.equal(d2.paths.size, 1);
    assert.equal(d2.owners.size, 0);
  });

  it('works whatever the key order (paths and owners before their disk)', () => {
    const kvs = [
      kv(ownerKey('00001', 2), owner('b', 'configuring')),
      kv(pathKey('00001', 2), path(11)),
      kv(pathKey('00001', 1), path(10)),
      kv(diskKey('00001'), record('00001')),
    ];
    const d = assembleDisks(kvs).get('00001') as DiskState;
    assert.equal(d.paths.size, 2);
    assert.deepEqual(d.owners.get(2), owner('b', 'configuring'));
    assert.deepEqual(assembleDisks([...kvs].reverse()).get('00001'), d);
  });

  it('ignores owners and paths of unknown disks, node keys and other keys', () => {
    const m = assembleDisks([
      kv(diskKey('00001'), record('00001', 1)),
      kv(pathKey('00001', 1), path(10)),
      kv(ownerKey('00009', 1), owner('a')),
      kv(pathKey('00008', 1), path(99)),
      kv(nodeKey('a'), { name: 'a', startedAt: 'x' }),
      kv('/portway/config', { foo: 1 }),
      kv('/elsewhere/disks/00001/2', path(50)),
    ]);
    assert.deepEqual([...m.keys()], ['00001']);
    assert.equal(m.get('00001')?.paths.size, 1);
    assert.equal(m.get('00001')?.owners.size, 0);
  });

  it('ignores values that are not JSON, keeping the rest of the list', () => {
    const m = assembleDisks([
      kv(diskKey('00001'), record('00001')),
      kv(pathKey('00001', 1), '{not json'),
      kv(pathKey('00001', 2), path(11)),
      kv(ownerKey('00001', 2), 'node-a'),
      kv(diskKey('00002'), ''),
      kv(pathKey('00002', 1), path(12)),
      kv(diskKey('00003'), '\u0000\u0001binary'),
    ]);
    assert.deepEqual([...m.keys()], ['00001']);
    const d = m.get('00001') as DiskState;
    assert.deepEqual([...d.paths.keys()], [2]);
    assert.equal(d.owners.size, 0);
  });

  it('ignores JSON values of the wrong shape (null, numbers, strings, arrays)', () => {
    // BUG: only JSON.parse failures are skipped; `null` becomes a disk record (diskStatus then throws),
    // and 42 / "x" / [] become paths or owners.
    const m = assembleDisks([
      kv(diskKey('00001'), 'null'),
      kv(diskKey('00002'), '42'),
      kv(diskKey('00003'), '"text"'),
      kv(diskKey('00004'), '[]'),
      kv(diskKey('00005'), record('00005')),
      kv(pathKey('00005', 1), '42'),
      kv(pathKey('00005', 2), '"10.0.1.5"'),
      kv(ownerKey('00005', 1), '"node-a"'),
      kv(ownerKey('00005', 2), '[1]'),
    ]);
    assert.deepEqual([...m.keys()], ['00005'], 'only well-formed disk records are kept');
    const d = m.get('00005') as DiskState;
    assert.equal(d.paths.size, 0, 'malformed paths are skipped');
    assert.equal(d.owners.size, 0, 'malformed owners are skipped');
    for (const s of m.values()) assert.doesNotThrow(() => diskStatus(s));
  });

  it('empty input -> empty map', () => {
    assert.equal(assembleDisks([]).size, 0);
  });
});

function state(desired: 'started' | 'stopped', pathCount: number, owners: Record<number, OwnerState> = {}): DiskState {
  const paths = new Map<number, PathSpec>();
  for (let i = 1; i <= pathCount; i++) paths.set(i, path(9 + i));
  const o = new Map<number, OwnerRecord>();
  for (const [i, s] of Object.entries(owners)) o.set(Number(i), owner(`node-${i}`, s));
  return { record: record('00001', pathCount, desired), paths, owners: o };
}

describe('servedCount', () => {
  it('counts paths whose owner is serving', () => {
    assert.equal(servedCount(state('started', 3)), 0);
    assert.equal(servedCount(state('started', 3, { 1: 'served', 2: 'configuring' })), 1);
    assert.equal(servedCount(state('started', 3, { 1: 'served', 2: 'served', 3: 'served' })), 3);
  });

  it('ignores owners of paths that do not exist', () => {
    assert.equal(servedCount(state('started', 1, { 1: 'served', 5: 'served' })), 1);
  });
});

describe('diskStatus', () => {
  it('starting until every path is served', () => {
    assert.equal(diskStatus(state('started', 2)), 'starting');
    assert.equal(diskStatus(state('started', 2, { 1: 'served' })), 'starting');
    assert.equal(diskStatus(state('started', 2, { 1: 'served', 2: 'configuring' })), 'starting');
    assert.equal(diskStatus(state('started', 2, { 1: 'configuring', 2: 'configuring' })), 'starting');
    assert.equal(
      diskStatus(
        state('started', 8, {
          1: 'served',
          2: 'served',
          3: 'served',
          4: 'served',
          5: 'served',
          6: 'served',
          7: 'served',
        }),
      ),
      'starting',
    );
  });

  it('started when all paths are served', () => {
    assert.equal(diskStatus(state('started', 1, { 1: 'served' })), 'started');
    assert.equal(diskStatus(state('started', 2, { 1: 'served', 2: 'served' })), 'started');
    const eight: Record<number, OwnerState> = {};
    for (let i = 1; i <= 8; i++) eight[i] = 'served';
    assert.equal(diskStatus(state('started', 8, eight)), 'started');
    assert.equal(diskStatus(state('started', 2, { 1: 'served', 2: 'served' }), new Set(['a'])), 'started');
  });

  it('an owner on a non-existent path index does not make a disk started', () => {
    assert.equal(diskStatus(state('started', 2, { 1: 'served', 3: 'served' })), 'starting');
  });

  it('a started disk without path keys is not "started"', () => {
    assert.notEqual(diskStatus(state('started', 0)), 'started');
  });

  it('stopping while any owner remains, then stopped', () => {
    assert.equal(diskStatus(state('stopped', 2, { 1: 'served' })), 'stopping');
    assert.equal(diskStatus(state('stopped', 2, { 1: 'configuring' })), 'stopping');
    assert.equal(diskStatus(state('stopped', 2, { 1: 'served', 2: 'served' })), 'stopping');
    assert.equal(diskStatus(state('stopped', 2)), 'stopped');
    assert.equal(diskStatus(state('stopped', 2), new Set()), 'stopped');
  });

  it('degraded when unserved paths have no live node to go to', () => {
    assert.equal(diskStatus(state('started', 2, { 1: 'served' }), new Set()), 'degraded');
    assert.equal(diskStatus(state('started', 2), new Set()), 'degraded');
    assert.equal(diskStatus(state('started', 2, { 1: 'served' }), new Set(['a'])), 'starting');
    assert.equal(diskStatus(state('started', 2, { 1: 'served' })), 'starting');
  });

  it('works on states assembled from keys', () => {
    const m = assembleDisks([
      kv(diskKey('00001'), record('00001', 2)),
      kv(pathKey('00001', 1), path(10)),
      kv(pathKey('00001', 2), path(11)),
      kv(ownerKey('00001', 1), owner('a')),
      kv(ownerKey('00001', 2), owner('b')),
      kv(diskKey('00002'), record('00002', 2)),
      kv(pathKey('00002', 1), path(12)),
      kv(pathKey('00002', 2), path(13)),
      kv(ownerKey('00002', 2), owner('b', 'configuring')),
    ]);
    assert.equal(diskStatus(m.get('00001') as DiskState), 'started');
    assert.equal(diskStatus(m.get('00002') as DiskState), 'starting');
  });
});
