/**
 * The add form's checks before sending are the server's domain rules (addDiskProblems: every fault at
 * once, the same messages parseAddDisk gives one at a time), the taken IP names the disk holding it, and
 * the automatic IPs preview matches what an add then gets (app.inject over the embedded stores).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addDiskProblems, parseAddDisk } from '../../src/domain/add-disk.js';
import { checkConfig } from '../../src/domain/config.js';
import { ADMIN_PW, API_CONFIG, type ApiApp, type Caller, startApiApp } from '../helpers/api-app.js';

const cfg = checkConfig(API_CONFIG);
if (!cfg.ok) throw new Error(cfg.message);
const subnets = { s1: cfg.subnet1, s2: cfg.subnet2 };

describe('add-disk rules shared by the form and the server', () => {
  it('reports every fault at once, each the message the server gives for it alone', () => {
    const req = {
      name: '-x',
      sizeGb: 0,
      activePaths: 2,
      subnet: 3,
      ipMode: 'manual',
      path1: '127.90.2.5',
      path2: 'nope',
      auth: { mode: 'chap', user: 'u1', password: 'short' },
    };
    const all = addDiskProblems(req, subnets);
    assert.deepEqual(
      all.map((f) => [f.field, f.code]),
      [
        ['name', 'invalid_name'],
        ['sizeGb', 'invalid_size'],
        ['path1', 'wrong_subnet'],
        ['path2', 'invalid_ip'],
        ['chap.password', 'invalid_chap'],
      ],
    );
    // The server's first fault is the form's first, word for word.
    const first = parseAddDisk(req);
    assert.ok('ok' in first);
    assert.equal(first.message, all[0]?.message);
    assert.match(all[2]?.message ?? '', /Path 1 IP 127\.90\.2\.5 is not a host address of 127\.90\.1\.0\/24/);
    // The same IP twice.
    const twice = addDiskProblems({ name: 'a', sizeGb: 1, activePaths: 2, subnet: 1, ipMode: 'manual', path1: '127.90.1.5', path2: '127.90.1.5' }, subnets);
    assert.deepEqual(
      twice.map((f) => [f.field, f.code]),
      [['path2', 'ip_used_already']],
    );
    assert.deepEqual(addDiskProblems({ name: 'ok', sizeGb: 1, activePaths: 2, subnet: 3 }, subnets), []);
  });

  describe('over the API', () => {
    let a: ApiApp;
    let admin: Caller;
    before(async () => {
      a = await startApiApp();
      admin = await a.login('admin', ADMIN_PW);
    });
    after(async () => {
      await a?.close();
    });

    it('previews the automatic IPs an add then gets, and names the disk holding a taken IP', async () => {
      const p = await admin('GET', '/api/v1/disks/ip-preview?activePaths=2&subnet=3');
      assert.equal(p.status, 200, p.body);
      const add = await admin('POST', '/api/v1/disks', { name: 'first', sizeGb: 1, activePaths: 2, subnet: 3 });
      assert.equal(add.status, 201);
      const got = (await admin('GET', `/api/v1/disks/${add.json.disk.id}/paths`)).json.paths.map((x: { ip: string }) => x.ip);
      assert.deepEqual(
        p.json.ips.map((x: { ip: string }) => x.ip),
        got,
      );
      assert.deepEqual(
        p.json.ips.map((x: { subnet: number }) => x.subnet),
        [1, 2],
      );
      const next = await admin('GET', '/api/v1/disks/ip-preview?activePaths=1&subnet=1');
      assert.notEqual(next.json.ips[0].ip, got[0], 'a used IP is not previewed again');
      const bad = await admin('GET', '/api/v1/disks/ip-preview?activePaths=9&subnet=1');
      assert.equal(bad.status, 400);
      assert.equal(bad.json.code, 'invalid_path_count');

      const taken = await admin('POST', '/api/v1/disks', { name: 'second', sizeGb: 1, activePaths: 1, subnet: 1, ipMode: 'manual', path1: got[0] });
      assert.equal(taken.status, 409);
      assert.equal(taken.json.code, 'ip_used_already');
      assert.match(taken.json.message, new RegExp(`path 1 of disk ${add.json.disk.id} "first"`));
      assert.equal(taken.json.details.field, 'path1');
    });
  });
});
