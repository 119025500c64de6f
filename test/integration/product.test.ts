/**
 * The single-node product end to end: the HTTP API, the embedded stores and real tgtd, reached by real
 * iSCSI initiators (libiscsi's tools, qemu-io).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';
import { ISCSI_TOOLS, capacity, discover, inquiry, lunUrl, verifyPattern, writePattern } from '../helpers/iscsi.js';

const skip = missingTools(ISCSI_TOOLS);
const GiB = 1024 ** 3;

describe('single-node product over real iSCSI', { skip }, () => {
  let tp: TestProduct;
  before(async () => {
    tp = await startTestProduct(31);
  });
  after(async () => {
    await tp?.cleanup();
  });

  const started = (id: string) =>
    waitFor(
      async () => {
        const r = await api(tp.product, 'GET', `/api/v1/disks/${id}`);
        return r.json.disk?.status === 'started' ? r.json.disk : undefined;
      },
      { what: `disk ${id} started` },
    );

  it('adds web1 (10 GB, 2 automatic paths): starting, then started; each path answers with its IQN and 10 GiB', async () => {
    const t0 = Date.now();
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('web1', { sizeGb: 10 }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.disk.status, 'starting');
    assert.equal(r.json.disk.id, '00001');
    assert.equal(r.json.disk.iqn, 'iqn.2016-05.io.portway.test:00001');
    await started('00001');
    process.stderr.write(`# web1 started ${Date.now() - t0} ms after the add request\n`);
    const paths = (await api(tp.product, 'GET', '/api/v1/disks/00001/paths')).json.paths;
    assert.deepEqual(
      paths.map((p: { ip: string; state: string; node: string }) => [p.ip, p.state, p.node]),
      [
        ['127.31.1.10', 'served', 'node1'],
        ['127.31.1.11', 'served', 'node1'],
      ],
    );
    for (const p of paths) {
      assert.deepEqual(await discover(p.ip), ['iqn.2016-05.io.portway.test:00001']);
      assert.equal(await capacity(lunUrl(p.ip, 'iqn.2016-05.io.portway.test:00001')), 10 * GiB);
      const inq = await inquiry(lunUrl(p.ip, 'iqn.2016-05.io.portway.test:00001'));
      assert.match(inq, /Vendor:PORTWAY/);
    }
  });

  it('data written through path 1 reads back identical through path 2', async () => {
    const iqn = 'iqn.2016-05.io.portway.test:00001';
    const p1 = lunUrl('127.31.1.10', iqn);
    const p2 = lunUrl('127.31.1.11', iqn);
    await writePattern(p1, 0x5a, 0, 4 * 1024 * 1024);
    await writePattern(p1, 0xc3, 9 * GiB, 1024 * 1024);
    assert.equal(await verifyPattern(p2, 0x5a, 0, 4 * 1024 * 1024), true);
    assert.equal(await verifyPattern(p2, 0xc3, 9 * GiB, 1024 * 1024), true);
    // The check itself can fail: a different pattern does not verify.
    assert.equal(await verifyPattern(p2, 0x5b, 0, 4096), false);
  });

  it('manual IPs on both subnets, ACL of one initiator, CHAP', async () => {
    const initiator = 'iqn.2016-05.io.portway.test:allowed';
    const chap = { user: 'admin1', password: 'secretsecret12' };
    const r = await api(
      tp.product,
      'POST',
      '/api/v1/disks',
      addBody('db1', {
        subnet: 3,
        ipMode: 'manual',
        path1: '127.31.1.100',
        path2: '127.31.2.100',
        acl: { mode: 'iqn', iqn: initiator },
        auth: { mode: 'chap', ...chap },
      }),
    );
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.disk.chapUser, 'admin1');
    assert.equal(JSON.stringify(r.json).includes(chap.password), false, 'the CHAP password is never returned');
    const id = r.json.disk.id as string;
    await started(id);
    const iqn = r.json.disk.iqn as string;
    for (const ip of ['127.31.1.100', '127.31.2.100']) {
      assert.equal(await capacity(lunUrl(ip, iqn, chap), initiator), GiB);
      await assert.rejects(capacity(lunUrl(ip, iqn, chap), 'iqn.2016-05.io.portway.test:other'), 'another initiator is refused');
      await assert.rejects(capacity(lunUrl(ip, iqn), initiator), 'no CHAP is refused');
      await assert.rejects(capacity(lunUrl(ip, iqn, { user: 'admin1', password: 'wrongwrong1234' }), initiator), 'a wrong CHAP secret is refused');
    }
    const list = await api(tp.product, 'GET', '/api/v1/disks');
    assert.equal(JSON.stringify(list.json).includes(chap.password), false);
  });

  it('refuses bad input with distinct codes and creates nothing', async () => {
    const before = (await api(tp.product, 'GET', '/api/v1/disks')).json.disks.length;
    const images = () => readdirSync(join(tp.settings.stateDir, 'images')).sort();
    const imagesBefore = images();
    const cases: [string, unknown, string, string?][] = [
      ['empty name', addBody(''), 'data_missing', 'name'],
      ['size 0', addBody('x1', { sizeGb: 0 }), 'invalid_size', 'sizeGb'],
      ['size abc', addBody('x2', { sizeGb: 'abc' }), 'invalid_size', 'sizeGb'],
      ['9 paths', addBody('x3', { activePaths: 9 }), 'invalid_path_count', 'activePaths'],
      ['manual IP outside the subnet', addBody('x4', { ipMode: 'manual', activePaths: 1, path1: '127.99.1.5' }), 'wrong_subnet', 'path1'],
      ['manual IP already used', addBody('x5', { ipMode: 'manual', activePaths: 1, path1: '127.31.1.10' }), 'ip_used_already', 'path1'],
      ['manual IP not an IP', addBody('x6', { ipMode: 'manual', activePaths: 1, path1: '127.31.1.999' }), 'invalid_ip', 'path1'],
      ['CHAP without password', addBody('x7', { auth: { mode: 'chap', user: 'u1', password: '' } }), 'chap_missing', 'chap.password'],
      ['duplicate name', addBody('web1'), 'disk_name_exists', 'name'],
      ['shell metacharacters in the name', addBody('a;rm -rf /'), 'invalid_name', 'name'],
      ['bad initiator IQN', addBody('x8', { acl: { mode: 'iqn', iqn: 'not an iqn' } }), 'invalid_iqn', 'acl.iqn'],
      ['body not an object', [1, 2], 'invalid_request'],
      ['body not JSON', '{"name": ', 'invalid_request'],
    ];
    const messages = new Set<string>();
    for (const [what, body, code, field] of cases) {
      const r = await api(tp.product, 'POST', '/api/v1/disks', body);
      assert.ok(r.status >= 400 && r.status < 500, `${what}: status ${r.status}`);
      assert.equal(r.json.code, code, what);
      if (field) assert.equal(r.json.details.field, field, what);
      assert.equal(typeof r.json.message, 'string');
      assert.doesNotMatch(r.json.message, /Error:|\bat \w+ \(|undefined/, what);
      messages.add(r.json.message);
    }
    assert.equal(messages.size >= cases.length - 2, true, 'messages are distinct');
    assert.equal((await api(tp.product, 'GET', '/api/v1/disks')).json.disks.length, before);
    assert.deepEqual(images(), imagesBefore);
  });

  it('serves 8 automatic paths on subnet 2, skipping the manual IP already used there', async () => {
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('big', { subnet: 2, activePaths: 8 }));
    assert.equal(r.status, 201);
    await started(r.json.disk.id);
    const ips = (await api(tp.product, 'GET', `/api/v1/disks/${r.json.disk.id}/paths`)).json.paths.map((p: { ip: string }) => p.ip);
    assert.deepEqual(
      ips,
      [10, 11, 12, 13, 14, 15, 16, 17].map((n) => `127.31.2.${n}`),
    );
  });

  it('restart keeps every disk and re-serves its paths; a crash-restart adopts tgtd without a flap', async () => {
    const disksBefore = (await api(tp.product, 'GET', '/api/v1/disks')).json.disks;
    const pidsOf = async () => {
      const { readFile } = await import('node:fs/promises');
      const dir = join(tp.settings.stateDir, 'run', 'tgt');
      const out: Record<string, number> = {};
      for (const f of readdirSync(dir)) if (f.endsWith('.json')) out[f] = JSON.parse(await readFile(join(dir, f), 'utf8')).pid;
      return out;
    };
    const pids = await pidsOf();
    await tp.restart({ release: false });
    const disksAfter = await waitFor(
      async () => {
        const d = (await api(tp.product, 'GET', '/api/v1/disks')).json.disks;
        return d.every((x: { status: string }) => x.status === 'started') ? d : undefined;
      },
      { what: 'all started again' },
    );
    assert.deepEqual(
      disksAfter.map((d: { id: string; name: string }) => [d.id, d.name]),
      disksBefore.map((d: { id: string; name: string }) => [d.id, d.name]),
    );
    assert.deepEqual(await pidsOf(), pids, 'the same tgtd processes still serve every path');
    assert.equal(await verifyPattern(lunUrl('127.31.1.11', 'iqn.2016-05.io.portway.test:00001'), 0x5a, 0, 1024 * 1024), true);

    // A clean stop gives every path back; the next start serves them again.
    await tp.restart({ release: true });
    await waitFor(
      async () => {
        const d = (await api(tp.product, 'GET', '/api/v1/disks')).json.disks;
        return d.length === disksBefore.length && d.every((x: { status: string }) => x.status === 'started') ? true : undefined;
      },
      { what: 'all started after a clean restart' },
    );
    assert.equal(await verifyPattern(lunUrl('127.31.1.10', 'iqn.2016-05.io.portway.test:00001'), 0x5a, 0, 1024 * 1024), true);
  });

  it('serves the OpenAPI document and answers unknown routes with a JSON error', async () => {
    const doc = await api(tp.product, 'GET', '/api/docs');
    assert.equal(doc.json.openapi, '3.1.0');
    assert.ok(doc.json.paths['/api/v1/disks'].post);
    const r = await api(tp.product, 'GET', '/api/v1/nope');
    assert.equal(r.status, 404);
    assert.equal(r.json.code, 'not_found');
    const d = await api(tp.product, 'GET', '/api/v1/disks/../../etc');
    assert.equal(d.status, 404);
  });
});
