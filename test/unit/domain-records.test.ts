/** Schema versions of stored records (src/domain/records.ts): read old, write new. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DiskMeta, parseDiskMeta, placementOf } from '../../src/domain/disk.js';
import { assembleDisks, diskKey, diskRecordOf, ownerKey, pathKey, registrationKvs } from '../../src/domain/keys.js';
import { clusterView } from '../../src/domain/cluster-view.js';
import { MIGRATIONS, type Migrations, RECORD_VERSIONS, type RecordKind, readRecord, recordJson, upgrade, versionOf } from '../../src/domain/records.js';

/** A disk's metadata as a release before placement and versions wrote it. */
const OLD_META = {
  id: '00003',
  name: 'legacy',
  sizeGb: 4,
  createdAt: '2024-01-02T03:04:05.000Z',
  acl: '',
  chapUser: '',
  chapPassword: '',
  iqn: 'iqn.2016-05.io.portway:00003',
  pool: 'rbd',
  subnet: 1,
  paths: [{ ip: '127.10.1.10', subnetMask: '255.255.255.0', eth: 'lo' }],
};
const OLD_RECORD = {
  id: '00003',
  name: 'legacy',
  iqn: 'iqn.2016-05.io.portway:00003',
  sizeGb: 4,
  createdAt: '2024-01-02T03:04:05.000Z',
  acl: '',
  chapUser: '',
  subnet: 1,
  pathCount: 1,
  desired: 'started',
};

describe('record versions', () => {
  it('every kind is at version 1 or has a migration step from each older version', () => {
    for (const [kind, current] of Object.entries(RECORD_VERSIONS) as [RecordKind, number][])
      for (let v = 1; v < current; v++) assert.equal(typeof MIGRATIONS[kind]?.[v], 'function', `${kind}: a step from version ${v}`);
  });

  it('a record without a version is version 1; nonsense versions too', () => {
    assert.equal(versionOf({}), 1);
    assert.equal(versionOf({ v: 1 }), 1);
    assert.equal(versionOf({ v: 3 }), 3);
    for (const v of [0, -1, 1.5, '2', null]) assert.equal(versionOf({ v }), 1, String(v));
  });

  it('written: the current version first, replacing an old one; a newer version is kept', () => {
    assert.equal(recordJson('owner', { node: 'n1', state: 'served' }), '{"v":1,"node":"n1","state":"served"}');
    assert.equal(recordJson('owner', { v: 0, node: 'n1', state: 'served' }), '{"v":1,"node":"n1","state":"served"}');
    assert.equal(recordJson('owner', { v: 7, node: 'n1', state: 'served', future: true }), '{"v":7,"node":"n1","state":"served","future":true}');
  });

  it('read: the current version carries no v in memory; a newer one keeps it and its unknown fields', () => {
    assert.deepEqual(readRecord('owner', '{"node":"n1","state":"served"}'), { node: 'n1', state: 'served' });
    assert.deepEqual(readRecord('owner', '{"v":1,"node":"n1","state":"served"}'), { node: 'n1', state: 'served' });
    assert.deepEqual(readRecord('owner', '{"v":2,"node":"n1","state":"served","x":1}'), { v: 2, node: 'n1', state: 'served', x: 1 });
    for (const bad of [null, undefined, '', 'not json', '[]', '"x"', '7', 'null']) assert.equal(readRecord('owner', bad), undefined, String(bad));
  });

  it('the migration path: an old record goes through every step to the current version, read old, write new', () => {
    // A made-up future: disk records at version 3 (1 -> 2 renames `desired` to `want`, 2 -> 3 adds `tier`).
    const steps: Migrations = {
      disk: {
        1: ({ desired, ...r }) => ({ ...r, want: desired }),
        2: (r) => ({ ...r, tier: r.tier ?? 'standard' }),
      },
    };
    const v1 = upgrade('disk', OLD_RECORD, 3, steps);
    assert.deepEqual(v1, { ...Object.fromEntries(Object.entries(OLD_RECORD).filter(([k]) => k !== 'desired')), want: 'started', tier: 'standard' });
    const v2 = upgrade('disk', { ...OLD_RECORD, v: 2, want: 'stopped', tier: 'fast' }, 3, steps);
    assert.equal(v2?.want, 'stopped', 'a version-2 record skips the first step');
    assert.equal(v2?.tier, 'fast');
    assert.deepEqual(upgrade('disk', { ...(v1 as object), v: 3 }, 3, steps), v1, 'the current version is read as it is');
    assert.throws(() => upgrade('disk', OLD_RECORD, 3, { disk: { 2: (r) => r } }), /no migration of disk records from version 1/);
  });

  it('a disk record made before versions and placement: read as spread, written with v and the placement the list shows', () => {
    const [d] = [
      ...assembleDisks([
        { key: diskKey('00003'), value: JSON.stringify(OLD_RECORD) },
        { key: pathKey('00003', 1), value: JSON.stringify(OLD_META.paths[0]) },
      ]).values(),
    ];
    assert.ok(d);
    assert.equal(d.record.placement, undefined, 'read as stored: no placement filled in');
    assert.equal(placementOf(d.record), 'spread');
    assert.equal('v' in d.record, false);
    const written = JSON.parse(recordJson('disk', d.record));
    assert.equal(written.v, 1);
    const again = [...assembleDisks([{ key: diskKey('00003'), value: JSON.stringify(written) }]).values()][0];
    assert.deepEqual(again?.record, d.record, 'read again: the same record');
  });

  it('disk metadata made before versions and placement: read without placement (target id 1 stays), written with v only', () => {
    const meta = parseDiskMeta(JSON.stringify(OLD_META)) as DiskMeta;
    assert.ok(meta);
    assert.equal(meta.placement, undefined, 'the agent keeps tid 1 for metadata without placement: it must stay absent');
    assert.equal(placementOf(meta), 'spread');
    const written = JSON.parse(recordJson('meta', { ...meta, name: 'renamed' }));
    assert.equal(written.v, 1);
    assert.equal('placement' in written, false);
    assert.deepEqual(parseDiskMeta(JSON.stringify(written)), { ...meta, name: 'renamed' });
    assert.equal(diskRecordOf(meta, 'started').placement, 'spread', 'the record lists it as spread, as before');
  });

  it('registration writes every key versioned; the cluster view reads versioned and unversioned records alike', () => {
    const meta = { ...(OLD_META as DiskMeta), placement: 'shared' as const };
    const kvs = registrationKvs(meta, 'started');
    assert.equal(JSON.parse(kvs[0]?.value as string).v, 1, 'disk record');
    assert.equal(JSON.parse(kvs[1]?.value as string).v, 1, 'path');
    const stored = [
      ...kvs.map((kv, i) => ({ ...kv, modRevision: i + 1 })),
      { key: ownerKey('00003', 1), value: '{"node":"n1","state":"served"}', modRevision: 9 },
      { key: '/portway/nodes/n1', value: '{"name":"n1","startedAt":"2024-01-01T00:00:00Z"}', modRevision: 10 },
      { key: '/portway/nodes/n2', value: recordJson('node', { name: 'n2', startedAt: '2024-01-01T00:00:00Z' }), modRevision: 11 },
      { key: '/portway/moves/00003/1', value: recordJson('move', { to: 'n2', from: 'n1', requestedAt: '' }), modRevision: 12 },
    ];
    const v = clusterView(stored);
    assert.equal(v.disks.get('00003')?.owners.get(1)?.node, 'n1');
    assert.deepEqual([...v.nodes.keys()].sort(), ['n1', 'n2']);
    assert.equal(v.intents.get('00003/1')?.intent.to, 'n2');
  });
});
