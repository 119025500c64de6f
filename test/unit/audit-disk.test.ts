/**
 * The audit log of disk and path actions, by meaning (app.inject over the embedded stores): every
 * action names the disk by id and name with its relevant fields, an edit says what changed, a failure
 * its code, a refusal is recorded too; no secret is ever written; the log is searchable by a disk's
 * name or id and exports as CSV and JSON; old route-shaped entries stay readable and searchable.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_PW, type ApiApp, type Caller, startApiApp } from '../helpers/api-app.js';

const CHAP_SECRET = 'Secret-Chap-99';
const CHAP_SECRET2 = 'Other-Chap-123';

describe('audit of disk and path actions', () => {
  let a: ApiApp;
  let admin: Caller;
  let id: string;

  before(async () => {
    a = await startApiApp();
    admin = await a.login('admin', ADMIN_PW);
  });
  after(async () => {
    await a?.close();
  });

  const search = async (q: string) => {
    const r = await admin('GET', `/api/v1/audit?limit=200&q=${encodeURIComponent(q)}`);
    assert.equal(r.status, 200, r.body);
    return r.json.entries as { action: string; target: string; outcome: string; actor: string; via: string; ip?: string; details: Record<string, any> }[];
  };

  it('records create, edit (what changed), stop, start, delete by meaning, with the disk id and name', async () => {
    const add = await admin('POST', '/api/v1/disks', {
      name: 'db1',
      sizeGb: 2,
      activePaths: 2,
      subnet: 3,
      auth: { mode: 'chap', user: 'initiator1', password: CHAP_SECRET },
    });
    assert.equal(add.status, 201, add.body);
    id = add.json.disk.id;
    const edit = await admin('PATCH', `/api/v1/disks/${id}`, {
      name: 'db1-main',
      sizeGb: 4,
      auth: { mode: 'chap', user: 'initiator1', password: CHAP_SECRET2 },
    });
    assert.equal(edit.status, 200, edit.body);
    assert.equal((await admin('POST', `/api/v1/disks/${id}/stop`)).status, 200);
    assert.equal((await admin('POST', `/api/v1/disks/${id}/start`)).status, 200);
    assert.equal((await admin('POST', `/api/v1/disks/${id}/stop`)).status, 200);
    const del = await admin('DELETE', `/api/v1/disks/${id}`);
    assert.equal(del.status, 200, del.body);

    const byId = await search(id);
    const actions = byId.map((e) => e.action).reverse();
    assert.deepEqual(actions, ['disk.create', 'disk.edit', 'disk.stop', 'disk.start', 'disk.stop', 'disk.delete']);
    for (const e of byId) {
      assert.equal(e.target, `disk:${id}`);
      assert.equal(e.outcome, 'ok');
      assert.equal(e.actor, 'admin');
      assert.equal(e.via, 'session');
      assert.equal(e.details.diskId, id);
      assert.ok(e.ip, 'from where');
    }
    const create = byId.find((e) => e.action === 'disk.create');
    assert.deepEqual(
      { ...create?.details },
      { diskId: id, diskName: 'db1', sizeGb: 2, paths: 2, subnet: 3, placement: 'shared', acl: 'all initiators', chap: 'user initiator1' },
    );
    const editEntry = byId.find((e) => e.action === 'disk.edit');
    assert.deepEqual(editEntry?.details.changed, { name: { from: 'db1', to: 'db1-main' }, sizeGb: { from: 2, to: 4 }, chapAuth: 'password changed' });
    assert.equal(editEntry?.details.diskName, 'db1-main');
    assert.equal(byId.find((e) => e.action === 'disk.delete')?.details.diskName, 'db1-main');

    // By name: the old name finds the create and the edit, the new one every later action.
    assert.deepEqual((await search('db1')).map((e) => e.action).reverse(), actions);
    assert.deepEqual(
      (await search('DB1-MAIN')).map((e) => e.action).reverse(),
      ['disk.edit', 'disk.stop', 'disk.start', 'disk.stop', 'disk.delete'],
      'case-insensitive',
    );
    assert.deepEqual(await search('no-such-disk-name'), []);
  });

  it('never records a secret', async () => {
    const all = await admin('GET', '/api/v1/audit?limit=200');
    assert.ok(!all.body.includes(CHAP_SECRET) && !all.body.includes(CHAP_SECRET2), 'no CHAP password in the log');
    for (const f of ['csv', 'json']) {
      const x = await admin('GET', `/api/v1/audit/export?format=${f}`);
      assert.ok(!x.body.includes(CHAP_SECRET) && !x.body.includes(CHAP_SECRET2));
    }
  });

  it('records failures with their code, and refusals (403) by meaning too', async () => {
    const stop = await admin('POST', '/api/v1/disks/00999/stop');
    assert.equal(stop.status, 404);
    const dup = await admin('POST', '/api/v1/disks', { name: 'twin', sizeGb: 1, activePaths: 1, subnet: 1 });
    assert.equal(dup.status, 201);
    const again = await admin('POST', '/api/v1/disks', { name: 'twin', sizeGb: 1, activePaths: 1, subnet: 1 });
    assert.equal(again.status, 409);
    const viewer = await a.userWithRole('vwa', 'viewer');
    const refused = await viewer('POST', `/api/v1/disks/${dup.json.disk.id}/stop`);
    assert.equal(refused.status, 403);

    const [failedStop] = await search('00999');
    assert.equal(failedStop?.action, 'disk.stop');
    assert.equal(failedStop?.outcome, 'failed');
    assert.equal(failedStop?.details.code, 'disk_not_found');
    const twin = await search('twin');
    const failedAdd = twin.find((e) => e.outcome === 'failed');
    assert.equal(failedAdd?.action, 'disk.create');
    assert.equal(failedAdd?.details.code, 'disk_name_exists');
    assert.equal(failedAdd?.details.diskName, 'twin');
    const denied = (await search(dup.json.disk.id)).find((e) => e.outcome === 'denied');
    assert.equal(denied?.action, 'disk.stop');
    assert.equal(denied?.actor, 'vwa');
    assert.equal(denied?.target, `disk:${dup.json.disk.id}`);
  });

  it('records path moves, rebalances and drains with the disks they touch', async () => {
    const move = await admin('POST', '/api/v1/disks/00999/paths/1/move', { node: 'node-b' });
    assert.equal(move.status, 404);
    const rebalance = await admin('POST', '/api/v1/paths/rebalance');
    assert.equal(rebalance.status, 200);
    const drain = await admin('POST', '/api/v1/nodes/nowhere/drain');
    assert.equal(drain.status, 404);
    const [m] = await search('path.move');
    assert.deepEqual({ ...m?.details, error: undefined }, { diskId: '00999', path: '1', to: 'node-b', code: 'disk_not_found', error: undefined });
    const [rb] = await search('paths.rebalance');
    assert.equal(rb?.outcome, 'ok');
    assert.equal(rb?.details.moved, 0);
    const [dr] = await search('node:nowhere');
    assert.equal(dr?.action, 'node.drain');
    assert.equal(dr?.details.code, 'node_not_found');
  });

  it('exports the log (or a search of it) as CSV and JSON', async () => {
    const csv = await admin('GET', `/api/v1/audit/export?format=csv&q=db1`);
    assert.equal(csv.status, 200);
    assert.match(String(csv.headers['content-type']), /^text\/csv/);
    assert.match(String(csv.headers['content-disposition']), /attachment; filename="portway-audit-.*\.csv"/);
    const lines = csv.body.trimEnd().split('\r\n');
    assert.equal(lines[0], 'id,time,actor,via,ip,action,target,outcome,details');
    assert.equal(lines.length, 7, 'a header and the six actions on db1 (disk ids are reused after a delete: the name tells them apart)');
    assert.ok(lines.slice(1).every((l) => l.includes(`"disk:${id}"`)));
    assert.ok(lines[1]?.includes('"disk.delete"'), 'newest first');
    assert.ok(lines[6]?.includes('""diskName"":""db1""'), 'details as JSON, quotes doubled');

    const json = await admin('GET', `/api/v1/audit/export?format=json&q=db1`);
    assert.equal(json.status, 200);
    assert.match(String(json.headers['content-type']), /^application\/json/);
    assert.deepEqual(
      json.json.entries.map((e: { action: string }) => e.action),
      ['disk.delete', 'disk.stop', 'disk.start', 'disk.stop', 'disk.edit', 'disk.create'],
    );
    const bad = await admin('GET', '/api/v1/audit/export?format=xml');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.details.field, 'format');
    const viewer = await a.userWithRole('vwb', 'viewer');
    assert.equal((await viewer('GET', '/api/v1/audit/export')).status, 403);
  });

  it('a spreadsheet formula in a field is neutralized in the CSV', async () => {
    const r = await admin('POST', '/api/v1/disks', { name: '=cmd', sizeGb: 1, activePaths: 1, subnet: 1 });
    assert.equal(r.status, 400); // the name rules refuse it; the entry still records the request
    const csv = await admin('GET', '/api/v1/audit/export?format=csv&q=%3Dcmd');
    assert.ok(!csv.body.split('\r\n').some((l) => l.split(',').some((cell) => cell.startsWith('"='))));
  });

  it('keeps old route-shaped entries readable and searchable', async () => {
    await a.auth.appendAudit({ user: 'admin', via: 'session', ip: '127.0.0.1' }, 'POST /api/v1/disks/:id/stop', '/api/v1/disks/00077/stop', 'ok', {
      status: 200,
      params: { id: '00077' },
    });
    const [old] = await search('00077');
    assert.equal(old?.action, 'POST /api/v1/disks/:id/stop');
    assert.equal(old?.target, '/api/v1/disks/00077/stop');
  });

  it('refuses a search that is not printable text', async () => {
    const r = await admin('GET', `/api/v1/audit?q=${encodeURIComponent('a\u0001b')}`);
    assert.equal(r.status, 400);
    assert.equal(r.json.details.field, 'q');
  });
});
