/**
 * QoS limits: the domain's parsing and merging (pure), the audit's view of a change, the CLI's flag
 * values, and the API on file images (app.inject): limits refused with qos_unsupported, nothing added
 * or changed; the permission of an edit. Enforcement on Ceph through iSCSI: test/integration/qos.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { qosText, qosValue } from '../../src/cli/disk-command.js';
import { parseAddDisk } from '../../src/domain/add-disk.js';
import { diskChanges } from '../../src/domain/disk-audit.js';
import type { DiskMeta } from '../../src/domain/disk.js';
import { applyEdit } from '../../src/domain/edit-disk.js';
import { hasQos, parseQos, qosChanges } from '../../src/domain/qos.js';
import { ADMIN_PW, type ApiApp, type Caller, startApiApp } from '../helpers/api-app.js';

describe('QoS limits (domain)', () => {
  it('parses limits; 0 and null remove; absent keeps', () => {
    assert.deepEqual(parseQos(undefined), {});
    assert.deepEqual(parseQos({ iops: 500, writeBps: 10_485_760 }), { iops: 500, writeBps: 10_485_760 });
    assert.deepEqual(parseQos({ iops: 0, readIops: null, bps: 8192 }, { iops: 500, readIops: 100, writeIops: 7 }), { writeIops: 7, bps: 8192 });
    assert.deepEqual(parseQos(null, { iops: 5 }), { iops: 5 });
  });

  for (const [what, raw, field] of [
    ['a negative IOPS', { iops: -1 }, 'qos.iops'],
    ['a fraction', { readIops: 1.5 }, 'qos.readIops'],
    ['a string', { writeIops: '500' }, 'qos.writeIops'],
    ['a bandwidth under one block', { bps: 100 }, 'qos.bps'],
    ['too many IOPS', { iops: 10_000_001 }, 'qos.iops'],
    ['an unknown limit', { latency: 5 }, 'qos'],
    ['not an object', [500], 'qos'],
  ] as const) {
    it(`refuses ${what} with invalid_qos naming ${field}`, () => {
      const r = parseQos(raw);
      assert.ok('ok' in r);
      assert.equal(r.code, 'invalid_qos');
      assert.equal(r.field, field);
    });
  }

  const add = { name: 'q', sizeGb: 1, activePaths: 1, subnet: 1 };
  it('an add keeps only the limits set', () => {
    const r = parseAddDisk({ ...add, qos: { iops: 500, bps: null } });
    assert.ok(!('ok' in r));
    assert.deepEqual(r.qos, { iops: 500 });
    const none = parseAddDisk({ ...add, qos: { iops: 0 } });
    assert.ok(!('ok' in none));
    assert.equal(none.qos, undefined);
  });

  const meta: DiskMeta = {
    id: '00001',
    name: 'q',
    sizeGb: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    acl: '',
    chapUser: '',
    chapPassword: '',
    iqn: 'iqn.2016-05.io.portway:00001',
    pool: 'rbd',
    subnet: 1,
    paths: [],
    qos: { iops: 500, readBps: 1_048_576 },
  };
  it('an edit merges: given limits set or removed, the others kept; removing the last drops the field', () => {
    const r = applyEdit(meta, { qos: { iops: 1000, writeIops: 200 } });
    assert.ok(!('ok' in r));
    assert.deepEqual(r.qos, { iops: 1000, writeIops: 200, readBps: 1_048_576 });
    const cleared = applyEdit(meta, { qos: { iops: 0, readBps: null } });
    assert.ok(!('ok' in cleared));
    assert.equal('qos' in cleared, false);
    const kept = applyEdit(meta, { name: 'r' });
    assert.ok(!('ok' in kept));
    assert.deepEqual(kept.qos, meta.qos);
    assert.equal(hasQos(kept.qos), true);
  });

  it('the audit names what changed, limit by limit (null: unlimited)', () => {
    assert.deepEqual(qosChanges({ iops: 500 }, { iops: 2000, bps: 4096 }), { iops: { from: 500, to: 2000 }, bps: { from: null, to: 4096 } });
    const d = { id: '00001', name: 'q', sizeGb: 1, pathCount: 1, subnet: 1, placement: 'shared', acl: '', chapUser: '' };
    assert.deepEqual(diskChanges({ ...d, qos: { iops: 500 } }, { ...d, qos: {} }, {}), { qos: { iops: { from: 500, to: null } } });
    assert.deepEqual(diskChanges({ ...d, qos: { iops: 500 } }, { ...d, qos: { iops: 500 } }, {}), {});
  });

  it('CLI values: none/0 remove, bandwidth suffixes are binary, IOPS take no suffix', () => {
    assert.equal(qosValue('none', false), 0);
    assert.equal(qosValue('500', false), 500);
    assert.equal(qosValue('5k', false), '5k');
    assert.equal(qosValue('10M', true), 10 * 1024 * 1024);
    assert.equal(qosValue('1GiB', true), 1024 ** 3);
    assert.equal(qosValue('fast', true), 'fast');
    assert.equal(qosText({}), 'none');
    assert.equal(qosText({ iops: 500, readBps: 4096 }), 'iops 500, read bps 4096');
  });
});

describe('QoS limits on file images (app.inject)', () => {
  let a: ApiApp;
  let admin: Caller;
  let viewer: Caller;
  const body = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    sizeGb: 1,
    activePaths: 1,
    subnet: 1,
    ipMode: 'auto',
    acl: { mode: 'all' },
    auth: { mode: 'none' },
    ...extra,
  });

  before(async () => {
    a = await startApiApp();
    admin = await a.login('admin', ADMIN_PW);
    viewer = await a.userWithRole('vic', 'viewer');
  });
  after(async () => {
    await a?.close();
  });

  it('an add with a limit is refused with qos_unsupported; nothing is added', async () => {
    const r = await admin('POST', '/api/v1/disks', body('limited', { qos: { iops: 500 } }));
    assert.equal(r.status, 400, r.body);
    assert.equal(r.json.code, 'qos_unsupported');
    assert.equal(r.json.details.field, 'qos');
    assert.match(r.json.message, /Ceph RBD/);
    assert.equal((await admin('GET', '/api/v1/disks')).json.disks.length, 0);
    // a bad limit is invalid_qos first, whatever the backend
    const bad = await admin('POST', '/api/v1/disks', body('limited', { qos: { iops: -5 } }));
    assert.equal(bad.json.code, 'invalid_qos');
    assert.equal(bad.json.details.field, 'qos.iops');
  });

  it('an edit setting a limit is refused with qos_unsupported and changes nothing; clearing none is fine; viewers may not edit', async () => {
    const r = await admin('POST', '/api/v1/disks', body('plain'));
    assert.equal(r.status, 201, r.body);
    const id = r.json.disk.id as string;
    assert.deepEqual(r.json.disk.qos, {});
    const refused = await admin('PATCH', `/api/v1/disks/${id}`, { name: 'renamed', qos: { writeBps: 1_048_576 } });
    assert.equal(refused.status, 400, refused.body);
    assert.equal(refused.json.code, 'qos_unsupported');
    const now = (await admin('GET', `/api/v1/disks/${id}`)).json.disk;
    assert.equal(now.name, 'plain');
    assert.deepEqual(now.qos, {});
    const ok = await admin('PATCH', `/api/v1/disks/${id}`, { qos: { iops: null, bps: 0 } });
    assert.equal(ok.status, 200, ok.body);
    const denied = await viewer('PATCH', `/api/v1/disks/${id}`, { qos: { iops: 500 } });
    assert.equal(denied.status, 403);
    assert.equal(denied.json.details.permission, 'EditDisk');
    const audit = JSON.stringify((await admin('GET', '/api/v1/audit?limit=50')).json);
    assert.match(audit, /qos_unsupported/);
  });
});
