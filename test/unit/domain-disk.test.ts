import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type DiskMeta,
  diskIdOfImage,
  diskIqn,
  formatDiskId,
  GIB,
  imageName,
  MAX_DISK_ID,
  nextDiskId,
  parseDiskId,
  publicMeta,
  sizeBytes,
} from '../../src/domain/disk.js';
import { type FailureCode, fail, httpStatusOf } from '../../src/domain/outcomes.js';
import { MAX_SIZE_GB } from '../../src/domain/validate.js';

describe('disk ids', () => {
  it('formatDiskId zero-pads to 5 digits', () => {
    assert.equal(formatDiskId(1), '00001');
    assert.equal(formatDiskId(42), '00042');
    assert.equal(formatDiskId(12345), '12345');
    assert.equal(formatDiskId(MAX_DISK_ID), '99999');
  });

  it('parseDiskId accepts exactly 5 digits', () => {
    assert.equal(parseDiskId('00001'), 1);
    assert.equal(parseDiskId('99999'), 99999);
    assert.equal(parseDiskId('00000'), 0);
    for (const bad of ['1', '0001', '000001', 'abcde', '0000a', ' 00001', '00001 ', '', '-0001', '1e+03']) {
      assert.equal(parseDiskId(bad), undefined, bad);
    }
  });

  it('nextDiskId: 00001 on empty', () => {
    assert.equal(nextDiskId([]), '00001');
    assert.equal(nextDiskId(new Set<string>()), '00001');
  });

  it('nextDiskId: max + 1, gaps not reused, order irrelevant', () => {
    assert.equal(nextDiskId(['00001']), '00002');
    assert.equal(nextDiskId(['00001', '00002', '00003']), '00004');
    assert.equal(nextDiskId(['00007', '00002']), '00008');
    assert.equal(nextDiskId(['00002']), '00003');
    assert.equal(nextDiskId(['00005', '00001']), '00006');
    assert.equal(nextDiskId(['00009']), '00010');
    assert.equal(nextDiskId(['09999']), '10000');
  });

  it('nextDiskId ignores ids that are not 5 digits', () => {
    assert.equal(nextDiskId(['junk', '123456', '7', '00003', '', 'image-00009']), '00004');
    assert.equal(nextDiskId(['junk']), '00001');
  });

  it('nextDiskId accepts any iterable (generator)', () => {
    function* ids() {
      yield '00010';
      yield '00004';
    }
    assert.equal(nextDiskId(ids()), '00011');
  });

  it('nextDiskId: undefined when 99999 is taken', () => {
    assert.equal(nextDiskId(['99998']), '99999');
    assert.equal(nextDiskId(['99999']), undefined);
    assert.equal(nextDiskId(['00001', '99999']), undefined);
  });

  it('image names', () => {
    assert.equal(imageName('00001'), 'image-00001');
    assert.equal(diskIdOfImage('image-00001'), '00001');
    assert.equal(diskIdOfImage(imageName('54321')), '54321');
    for (const bad of ['image-1', 'image-000001', 'img-00001', 'image-00001.bak', 'ximage-00001', '', 'image-abcde']) {
      assert.equal(diskIdOfImage(bad), undefined, bad);
    }
  });

  it('diskIqn = iqnBase:id', () => {
    assert.equal(diskIqn('iqn.2016-05.com.example', '00001'), 'iqn.2016-05.com.example:00001');
  });

  it('sizeBytes = GB * 1024^3, exact up to the maximum size', () => {
    assert.equal(GIB, 1073741824);
    assert.equal(sizeBytes(1), 1073741824);
    assert.equal(sizeBytes(10), 10737418240);
    assert.equal(sizeBytes(MAX_SIZE_GB), 2 ** 50);
    assert.ok(Number.isSafeInteger(sizeBytes(MAX_SIZE_GB)));
  });
});

describe('publicMeta', () => {
  const meta: DiskMeta = {
    id: '00001',
    name: 'd1',
    sizeGb: 10,
    createdAt: '2024-01-01T00:00:00.000Z',
    acl: '',
    chapUser: 'alice',
    chapPassword: 'S3cretPassw0rd',
    iqn: 'iqn.2016-05.com.example:00001',
    pool: 'rbd',
    subnet: 1,
    paths: [{ ip: '10.0.1.10', subnetMask: '255.255.255.0', eth: 'eth1' }],
  };

  it('drops the CHAP password and says whether CHAP is on', () => {
    const p = publicMeta(meta);
    assert.equal('chapPassword' in p, false);
    assert.equal(p.chap, true);
    assert.equal(p.chapUser, 'alice');
    assert.ok(!JSON.stringify(p).includes('S3cretPassw0rd'));
    assert.deepEqual(p.paths, meta.paths);
  });

  it('chap false without CHAP; input untouched', () => {
    const p = publicMeta({ ...meta, chapUser: '', chapPassword: '' });
    assert.equal(p.chap, false);
    assert.equal(meta.chapPassword, 'S3cretPassw0rd');
  });
});

describe('outcomes', () => {
  it('fail() builds a failure, with field only when given', () => {
    assert.deepEqual(fail('error', 'Something went wrong.'), {
      ok: false,
      code: 'error',
      message: 'Something went wrong.',
    });
    assert.equal('field' in fail('error', 'x'), false);
    assert.deepEqual(fail('invalid_name', 'Bad.', 'name'), {
      ok: false,
      code: 'invalid_name',
      message: 'Bad.',
      field: 'name',
    });
  });

  it('httpStatusOf maps every code', () => {
    const expected: Record<FailureCode, number> = {
      data_missing: 400,
      invalid_name: 400,
      invalid_size: 400,
      invalid_path_count: 400,
      invalid_subnet: 400,
      invalid_ip_mode: 400,
      invalid_placement: 400,
      invalid_ip: 400,
      wrong_subnet: 400,
      wrong_data: 400,
      invalid_iqn: 400,
      chap_missing: 400,
      invalid_qos: 400,
      qos_unsupported: 400,
      invalid_chap: 400,
      ip_used_already: 409,
      ip_out_of_range: 409,
      disk_name_exists: 409,
      disk_exists: 409,
      no_disk_id: 409,
      disk_not_found: 404,
      disk_not_stopped: 409,
      hosts_connected: 409,
      disk_busy: 409,
      image_not_found: 404,
      meta_unreadable: 503,
      disk_list_unreadable: 503,
      storage_error: 503,
      invalid_snapshot_name: 400,
      snapshot_not_found: 404,
      snapshot_exists: 409,
      snapshot_has_clones: 409,
      snapshot_needs_stop: 409,
      snapshot_name_reserved: 400,
      invalid_snapshot_schedule: 400,
      snapshot_schedule_not_found: 404,
      path_not_found: 404,
      node_not_found: 404,
      node_drained: 409,
      disk_not_started: 409,
      move_in_progress: 409,
      path_on_node_already: 409,
      move_timeout: 504,
      drain_timeout: 504,
      invalid_username: 400,
      invalid_password: 400,
      invalid_role: 400,
      invalid_permissions: 400,
      invalid_token_name: 400,
      invalid_credentials: 401,
      wrong_password: 403,
      user_exists: 409,
      user_not_found: 404,
      role_exists: 409,
      role_not_found: 404,
      role_builtin: 409,
      role_in_use: 409,
      last_admin: 409,
      self_delete: 409,
      token_not_found: 404,
      too_many_login_failures: 429,
      conflict: 409,
      invalid_request: 400,
      not_found: 404,
      payload_too_large: 413,
      unsupported_media_type: 415,
      headers_too_large: 431,
      unauthenticated: 401,
      forbidden: 403,
      csrf_failed: 403,
      invalid_settings: 400,
      settings_strand_ip: 409,
      settings_pool_in_use: 409,
      settings_version_conflict: 409,
      cluster_not_initialised: 409,
      coordination_error: 503,
      server_closing: 503,
      error: 500,
    };
    for (const [code, status] of Object.entries(expected)) {
      assert.equal(httpStatusOf(code as FailureCode), status, code);
    }
  });
});
