/**
 * Snapshot routes in process (app.inject over the embedded stores and the file image store, on this
 * machine's filesystem): their codes, permission, audit entries, and the copies they make. The data
 * through iSCSI is checked in test/integration/snapshots.test.ts.
 */
import assert from 'node:assert/strict';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN_PW, type ApiApp, type Caller, startApiApp } from '../helpers/api-app.js';

const body = (name: string) => ({ name, sizeGb: 1, activePaths: 1, subnet: 1, ipMode: 'auto', acl: { mode: 'all' }, auth: { mode: 'none' } });

describe('snapshot routes (app.inject, file images)', () => {
  let a: ApiApp;
  let admin: Caller;
  let viewer: Caller;
  let operator: Caller;
  let id: string;
  let img: string;

  before(async () => {
    a = await startApiApp();
    admin = await a.login('admin', ADMIN_PW);
    viewer = await a.userWithRole('vic', 'viewer');
    operator = await a.userWithRole('ops', 'operator');
    const r = await admin('POST', '/api/v1/disks', body('snapdisk'));
    assert.equal(r.status, 201, r.body);
    id = r.json.disk.id;
    img = join(a.images.dir, `image-${id}.img`);
  });
  after(async () => {
    await a?.close();
  });

  const writeAt = async (offset: number, text: string) => {
    const fh = await open(img, 'r+');
    try {
      await fh.write(Buffer.from(text), 0, text.length, offset);
    } finally {
      await fh.close();
    }
  };
  const readAt = async (offset: number, len: number) => {
    const fh = await open(img, 'r');
    try {
      const b = Buffer.alloc(len);
      await fh.read(b, 0, len, offset);
      return b.toString();
    } finally {
      await fh.close();
    }
  };

  it('lists none at first, with the mode this filesystem gives', async () => {
    const r = await viewer('GET', `/api/v1/disks/${id}/snapshots`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.snapshots, []);
    assert.ok(r.json.mode === 'instant' || r.json.mode === 'copy');
  });

  it('refuses a bad name, a missing one, an unknown disk, and a viewer', async () => {
    let r = await admin('POST', `/api/v1/disks/${id}/snapshots`, { name: 'bad name!' });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'invalid_snapshot_name');
    assert.equal(r.json.details.field, 'name');
    r = await admin('POST', `/api/v1/disks/${id}/snapshots`, { name: '' });
    assert.equal(r.json.code, 'data_missing');
    r = await admin('POST', '/api/v1/disks/00099/snapshots', { name: 'x' });
    assert.equal(r.status, 404);
    assert.equal(r.json.code, 'disk_not_found');
    r = await viewer('POST', `/api/v1/disks/${id}/snapshots`, { name: 'x' });
    assert.equal(r.status, 403);
    assert.equal(r.json.details.permission, 'ManageSnapshots');
  });

  it('a copy snapshot needs the disk stopped; an instant one does not', async () => {
    const mode = (await admin('GET', `/api/v1/disks/${id}/snapshots`)).json.mode;
    const r = await admin('POST', `/api/v1/disks/${id}/snapshots`, { name: 'early' });
    if (mode === 'copy') {
      assert.equal(r.status, 409, r.body);
      assert.equal(r.json.code, 'snapshot_needs_stop');
      assert.match(r.json.message, /Stop it first/);
    } else {
      assert.equal(r.status, 201, r.body);
      assert.equal((await admin('DELETE', `/api/v1/disks/${id}/snapshots/early`)).status, 200);
    }
  });

  it('takes, lists, rolls back (stopped only) and deletes; each audited', async () => {
    assert.equal((await admin('POST', `/api/v1/disks/${id}/stop`)).status, 200);
    await writeAt(4096, 'first pattern');
    let r = await operator('POST', `/api/v1/disks/${id}/snapshots`, { name: 'before-upgrade' });
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.snapshot.name, 'before-upgrade');
    assert.equal(r.json.snapshot.sizeBytes, 1024 ** 3);
    assert.deepEqual(r.json.snapshot.clones, []);
    assert.ok(Date.now() - Date.parse(r.json.snapshot.createdAt) < 60_000);
    r = await admin('POST', `/api/v1/disks/${id}/snapshots`, { name: 'before-upgrade' });
    assert.equal(r.status, 409);
    assert.equal(r.json.code, 'snapshot_exists');

    await writeAt(4096, 'SECOND PATTERN');
    assert.equal(await readAt(4096, 14), 'SECOND PATTERN');
    // started again: rollback refused, nothing changed
    assert.equal((await admin('POST', `/api/v1/disks/${id}/start`)).status, 200);
    r = await admin('POST', `/api/v1/disks/${id}/snapshots/before-upgrade/rollback`);
    assert.equal(r.status, 409);
    assert.equal(r.json.code, 'disk_not_stopped');
    assert.equal(await readAt(4096, 14), 'SECOND PATTERN');
    assert.equal((await admin('POST', `/api/v1/disks/${id}/stop`)).status, 200);
    r = await admin('POST', `/api/v1/disks/${id}/snapshots/nope/rollback`);
    assert.equal(r.status, 404);
    assert.equal(r.json.code, 'snapshot_not_found');
    r = await admin('POST', `/api/v1/disks/${id}/snapshots/before-upgrade/rollback`);
    assert.equal(r.status, 200, r.body);
    assert.equal(await readAt(4096, 14), 'first pattern\0');

    r = await viewer('GET', `/api/v1/disks/${id}/snapshots`);
    assert.deepEqual(
      r.json.snapshots.map((s: { name: string }) => s.name),
      ['before-upgrade'],
    );
    r = await admin('DELETE', `/api/v1/disks/${id}/snapshots/before-upgrade`);
    assert.equal(r.status, 200, r.body);
    r = await admin('DELETE', `/api/v1/disks/${id}/snapshots/before-upgrade`);
    assert.equal(r.status, 404);
    assert.equal(r.json.code, 'snapshot_not_found');

    const audit = (await admin('GET', '/api/v1/audit?limit=50')).json;
    const entries = (audit.entries ?? audit.items ?? audit) as { action: string; target: string; outcome: string; details: Record<string, unknown> }[];
    const mine = entries.filter((e) => e.action.startsWith('snapshot.'));
    assert.ok(mine.some((e) => e.action === 'snapshot.create' && e.outcome === 'ok' && e.target === `disk:${id}` && e.details.snapshot === 'before-upgrade'));
    assert.ok(mine.some((e) => e.action === 'snapshot.create' && e.outcome === 'failed' && e.details.code === 'snapshot_exists'));
    assert.ok(mine.some((e) => e.action === 'snapshot.rollback' && e.outcome === 'ok'));
    assert.ok(mine.some((e) => e.action === 'snapshot.rollback' && e.outcome === 'failed' && e.details.code === 'disk_not_stopped'));
    assert.ok(mine.some((e) => e.action === 'snapshot.delete' && e.outcome === 'ok'));
  });

  it('clones a snapshot into a new disk (own id, IQN, IP; the data of the snapshot), flatten, codes', async () => {
    await writeAt(8192, 'clone me');
    assert.equal((await admin('POST', `/api/v1/disks/${id}/snapshots`, { name: 'golden' })).status, 201);
    await writeAt(8192, 'CHANGED!');
    const req = { name: 'from-golden', activePaths: 1, subnet: 1, ipMode: 'auto', acl: { mode: 'all' }, auth: { mode: 'none' }, sizeGb: 99 };
    let r = await viewer('POST', `/api/v1/disks/${id}/snapshots/golden/clone`, req);
    assert.equal(r.status, 403);
    assert.equal(r.json.details.permission, 'AddDisk');
    r = await admin('POST', `/api/v1/disks/${id}/snapshots/golden/clone`, { ...req, flatten: 'yes' });
    assert.equal(r.status, 400);
    assert.equal(r.json.details.field, 'flatten');
    r = await admin('POST', `/api/v1/disks/${id}/snapshots/nosuch/clone`, req);
    assert.equal(r.status, 404);
    assert.equal(r.json.code, 'snapshot_not_found');
    r = await admin('POST', `/api/v1/disks/${id}/snapshots/golden/clone`, { ...req, name: 'snapdisk' });
    assert.equal(r.status, 409);
    assert.equal(r.json.code, 'disk_name_exists');
    r = await admin('POST', `/api/v1/disks/${id}/snapshots/golden/clone`, req);
    assert.equal(r.status, 201, r.body);
    const clone = r.json.disk;
    assert.notEqual(clone.id, id);
    assert.equal(clone.sizeGb, 1, "the snapshot's size, not the request's");
    assert.match(clone.iqn, new RegExp(`:${clone.id}$`));
    const fh = await open(join(a.images.dir, `image-${clone.id}.img`), 'r');
    try {
      const b = Buffer.alloc(8);
      await fh.read(b, 0, 8, 8192);
      assert.equal(b.toString(), 'clone me');
    } finally {
      await fh.close();
    }
    assert.equal(await readAt(8192, 8), 'CHANGED!', 'the source keeps its data');
    // a file clone is a copy: nothing to flatten, no parent, the snapshot can go
    r = await admin('POST', `/api/v1/disks/${clone.id}/flatten`);
    assert.equal(r.status, 202);
    assert.equal(r.json.flattening, false);
    assert.equal((await admin('GET', `/api/v1/disks/${clone.id}/snapshots`)).json.parent, undefined);
    assert.equal((await admin('DELETE', `/api/v1/disks/${id}/snapshots/golden`)).status, 200);
    const audit = JSON.stringify((await admin('GET', '/api/v1/audit?limit=50')).json);
    assert.match(audit, /snapshot\.clone/);
    assert.match(audit, /snapshot\.flatten/);
  });

  it('a deleted disk takes its snapshots with it', async () => {
    assert.equal((await admin('POST', `/api/v1/disks/${id}/snapshots`, { name: 'last' })).status, 201);
    assert.equal((await admin('DELETE', `/api/v1/disks/${id}`)).status, 200);
    await assert.rejects(readFile(join(a.images.dir, `image-${id}.snaps`, 'last.img')), /ENOENT/);
  });
});
