/**
 * The disk lifecycle over the API, with real tgtd and real initiators: edit (rename, grow, ACL, CHAP),
 * stop/start, delete, detach/attach, and concurrent adds from two API servers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { checkConfig } from '../../src/domain/config.js';
import { DiskService } from '../../src/services/disk-service.js';
import { ISCSI_TOOLS, capacity, discover, lunUrl, verifyPattern, writePattern } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';

const skip = missingTools(ISCSI_TOOLS);
const GiB = 1024 ** 3;
const IQN = (id: string) => `iqn.2016-05.io.portway.test:${id}`;

describe('disk lifecycle', { skip }, () => {
  let tp: TestProduct;
  before(async () => {
    // The agent's periodic resync is off (1 h): every change below must reach tgtd through the store watch.
    tp = await startTestProduct(34, { agent: { enabled: true, leaseTtlSeconds: 6, resyncSeconds: 3600 } });
  });
  after(async () => {
    await tp?.cleanup();
  });

  const status = async (id: string) => (await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk?.status;
  const until = (id: string, want: string) =>
    waitFor(async () => ((await status(id)) === want ? true : undefined), { what: `disk ${id} ${want}`, timeoutMs: 15_000 });
  const storeKeys = async () => (await tp.product.store.list('/portway/')).map((kv) => kv.key).filter((k) => !k.startsWith('/portway/nodes/'));

  it('edits: rename, grow (initiators see the new size), ACL, CHAP; shrink is refused', async () => {
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('e1', { activePaths: 1 }));
    assert.equal(r.status, 201);
    const id = r.json.disk.id as string;
    await until(id, 'started');
    const ip = (await api(tp.product, 'GET', `/api/v1/disks/${id}/paths`)).json.paths[0].ip as string;
    await writePattern(lunUrl(ip, IQN(id)), 0x11, 0, 65536);

    let e = await api(tp.product, 'PATCH', `/api/v1/disks/${id}`, { name: 'e1-renamed', sizeGb: 3 });
    assert.equal(e.status, 200, JSON.stringify(e.json));
    assert.equal(e.json.disk.name, 'e1-renamed');
    assert.equal(e.json.disk.sizeGb, 3);
    await waitFor(async () => ((await capacity(lunUrl(ip, IQN(id))).catch(() => 0)) === 3 * GiB ? true : undefined), { what: 'grown LUN', timeoutMs: 15_000 });
    assert.equal(await verifyPattern(lunUrl(ip, IQN(id)), 0x11, 0, 65536), true, 'data survives the grow');

    e = await api(tp.product, 'PATCH', `/api/v1/disks/${id}`, { sizeGb: 2 });
    assert.equal(e.status, 400);
    assert.equal(e.json.code, 'invalid_size');

    const host = 'iqn.2016-05.io.portway.test:host-a';
    const chap = { user: 'vmware1', password: 'chapsecret123' };
    e = await api(tp.product, 'PATCH', `/api/v1/disks/${id}`, { acl: { mode: 'iqn', iqn: host }, auth: { mode: 'chap', ...chap } });
    assert.equal(e.status, 200, JSON.stringify(e.json));
    assert.equal(JSON.stringify(e.json).includes(chap.password), false);
    // Applied (by the agent, on the edit's watch event) when logins without CHAP are refused and the allowed initiator with CHAP gets in.
    await waitFor(
      async () => {
        const open = await capacity(lunUrl(ip, IQN(id))).then(
          () => true,
          () => false,
        );
        const noChap = await capacity(lunUrl(ip, IQN(id)), host).then(
          () => true,
          () => false,
        );
        const allowed = (await capacity(lunUrl(ip, IQN(id), chap), host).catch(() => 0)) === 3 * GiB;
        return !open && !noChap && allowed ? true : undefined;
      },
      { what: 'ACL and CHAP applied', timeoutMs: 15_000 },
    );
    await assert.rejects(capacity(lunUrl(ip, IQN(id)), host), 'the allowed initiator without CHAP is refused');
    await assert.rejects(capacity(lunUrl(ip, IQN(id), chap), 'iqn.2016-05.io.portway.test:host-b'));

    // CHAP user kept, password left out: the password is kept too.
    e = await api(tp.product, 'PATCH', `/api/v1/disks/${id}`, { auth: { mode: 'chap', user: 'vmware1' } });
    assert.equal(e.status, 200, JSON.stringify(e.json));
    const other = await api(tp.product, 'POST', '/api/v1/disks', addBody('e2', { activePaths: 1 }));
    e = await api(tp.product, 'PATCH', `/api/v1/disks/${id}`, { name: 'e2' });
    assert.equal(e.status, 409);
    assert.equal(e.json.code, 'disk_name_exists');
    await until(other.json.disk.id, 'started');
  });

  it('delete of a started disk is refused; stop then delete leaves no image and no key', async () => {
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('d1'));
    const id = r.json.disk.id as string;
    await until(id, 'started');
    const ips = (await api(tp.product, 'GET', `/api/v1/disks/${id}/paths`)).json.paths.map((p: { ip: string }) => p.ip);
    let d = await api(tp.product, 'DELETE', `/api/v1/disks/${id}`);
    assert.equal(d.status, 409);
    assert.equal(d.json.code, 'disk_not_stopped');
    assert.match(d.json.message, /stop it/);

    const s = await api(tp.product, 'POST', `/api/v1/disks/${id}/stop`);
    assert.equal(s.status, 200);
    await until(id, 'stopped');
    for (const ip of ips) await assert.rejects(discover(ip), 'no target is served on a stopped disk');
    // Stop is idempotent; start serves it again.
    assert.equal((await api(tp.product, 'POST', `/api/v1/disks/${id}/stop`)).status, 200);
    assert.equal((await api(tp.product, 'POST', `/api/v1/disks/${id}/start`)).status, 200);
    await until(id, 'started');
    assert.deepEqual(await discover(ips[0]), [IQN(id)]);
    await api(tp.product, 'POST', `/api/v1/disks/${id}/stop`);
    await until(id, 'stopped');

    d = await api(tp.product, 'DELETE', `/api/v1/disks/${id}`);
    assert.equal(d.status, 200, JSON.stringify(d.json));
    assert.equal(await tp.product.images.exists(`image-${id}`), false);
    const keys = await storeKeys();
    assert.equal(
      keys.some((k) => k.includes(`/${id}`) || ips.some((ip: string) => k.endsWith(`/${ip}`)) || k.endsWith('/d1')),
      false,
      keys.join(' '),
    );
    assert.equal((await api(tp.product, 'DELETE', `/api/v1/disks/${id}`)).json.code, 'disk_not_found');
  });

  it('detach keeps the image; attach with kept paths brings the same disk back with its data', async () => {
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('a1', { activePaths: 1 }));
    const id = r.json.disk.id as string;
    await until(id, 'started');
    const ip = (await api(tp.product, 'GET', `/api/v1/disks/${id}/paths`)).json.paths[0].ip as string;
    await writePattern(lunUrl(ip, IQN(id)), 0x42, GiB / 2, 65536);
    assert.equal((await api(tp.product, 'POST', `/api/v1/disks/${id}/detach`)).json.code, 'disk_not_stopped');
    await api(tp.product, 'POST', `/api/v1/disks/${id}/stop`);
    await until(id, 'stopped');
    const det = await api(tp.product, 'POST', `/api/v1/disks/${id}/detach`);
    assert.equal(det.status, 200, JSON.stringify(det.json));
    assert.equal((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).status, 404);
    const free = (await api(tp.product, 'GET', '/api/v1/images')).json.images;
    assert.deepEqual(
      free.find((i: { image: string }) => i.image === `image-${id}`),
      { image: `image-${id}`, sizeBytes: GiB, name: 'a1', detached: true },
    );

    const at = await api(tp.product, 'POST', '/api/v1/images/attach', { image: `image-${id}`, keepPaths: true });
    assert.equal(at.status, 201, JSON.stringify(at.json));
    assert.equal(at.json.disk.id, id);
    assert.equal(at.json.disk.name, 'a1');
    await until(id, 'started');
    assert.equal((await api(tp.product, 'GET', `/api/v1/disks/${id}/paths`)).json.paths[0].ip, ip);
    assert.equal(await verifyPattern(lunUrl(ip, IQN(id)), 0x42, GiB / 2, 65536), true);
  });

  it('attaches an image made outside Portway as a new disk with new paths', async () => {
    await tp.product.images.create('vm-import-7', 2 * GiB, null);
    const at = await api(tp.product, 'POST', '/api/v1/images/attach', { ...addBody('imported'), image: 'vm-import-7' });
    assert.equal(at.status, 201, JSON.stringify(at.json));
    const id = at.json.disk.id as string;
    assert.equal(at.json.disk.sizeGb, 2);
    assert.equal(await tp.product.images.exists('vm-import-7'), false);
    assert.equal(await tp.product.images.exists(`image-${id}`), true);
    await until(id, 'started');
    const missing = await api(tp.product, 'POST', '/api/v1/images/attach', { ...addBody('x'), image: 'nope' });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.code, 'image_not_found');
  });
});

describe('concurrent adds from two API servers on one store', () => {
  it('50 concurrent adds: 50 disks, 50 distinct ids, no shared IP', async () => {
    const tp = await startTestProduct(35, { agent: { enabled: false, leaseTtlSeconds: 6 } });
    try {
      const checked = checkConfig(tp.settings.cluster);
      assert.ok(checked.ok);
      const second = new DiskService({
        store: tp.product.store,
        images: tp.product.images,
        subnet1: checked.subnet1,
        subnet2: checked.subnet2,
        iqnBase: tp.settings.cluster.iqnBase,
        pool: 'rbd',
        log: pino({ level: 'silent' }),
      });
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? tp.product.disks.add(addBody(`c${i}`)) : second.add(addBody(`c${i}`)))),
      );
      assert.deepEqual(
        results.filter((r) => !r.ok),
        [],
      );
      const list = (await api(tp.product, 'GET', '/api/v1/disks')).json.disks;
      assert.equal(list.length, 50);
      assert.equal(new Set(list.map((d: { id: string }) => d.id)).size, 50);
      const ips: string[] = [];
      for (const d of list) for (const p of (await api(tp.product, 'GET', `/api/v1/disks/${d.id}/paths`)).json.paths) ips.push(p.ip);
      assert.equal(ips.length, 100);
      assert.equal(new Set(ips).size, 100, 'no IP is shared');
      assert.equal((await tp.product.images.list()).length, 50, 'no orphan image');
    } finally {
      await tp.cleanup();
    }
  });
});
