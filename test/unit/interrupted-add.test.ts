/**
 * An add interrupted by a crash between creating the image and registering the disk (the one window
 * where an image can exist that no key names): the add's intent key (/portway/pending/<id>) survives,
 * and recoverInterruptedAdds(), run at start before the API listens, removes the image and the intent.
 * Real embedded store and real file image store (temp dir); the crash is the state a SIGKILL in that
 * window leaves (intent key + image, no disk key), written by hand.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { EmbeddedStore } from '../../src/adapters/coord/embedded-store.js';
import { FileImageStore } from '../../src/adapters/images/file-store.js';
import { checkConfig } from '../../src/domain/config.js';
import { DEFAULT_CONFIG } from '../../src/domain/config.js';
import { PENDING, diskKey } from '../../src/domain/keys.js';
import { DiskService } from '../../src/services/disk-service.js';
import { waitFor } from '../helpers/wait.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function setup(server: string, store = new EmbeddedStore({ tickMs: 50 }), images?: FileImageStore) {
  const checked = checkConfig(DEFAULT_CONFIG);
  if (!checked.ok) throw new Error(checked.message);
  let imgs = images;
  if (!imgs) {
    const dir = mkdtempSync(join(tmpdir(), 'portway-interrupted-'));
    dirs.push(dir);
    imgs = await new FileImageStore(dir).init();
  }
  const svc = new DiskService({
    store,
    images: imgs,
    subnet1: checked.subnet1,
    subnet2: checked.subnet2,
    iqnBase: DEFAULT_CONFIG.iqnBase,
    pool: DEFAULT_CONFIG.pool,
    server,
    log: pino({ level: 'silent' }),
  });
  return { svc, store, images: imgs };
}

const body = (name: string) => ({ name, sizeGb: 1, activePaths: 2, subnet: 1, ipMode: 'auto' }) as never;

describe('an add interrupted between the image and the keys', () => {
  it('the intent key is written before the image, and a failed add removes both (in the background)', async () => {
    const { store, images } = await setup('node1');
    let pendingAtCreate: string[] = [];
    const failing = Object.create(images) as FileImageStore;
    failing.create = async (name, size, meta) => {
      pendingAtCreate = (await store.list(PENDING)).map((kv) => kv.value);
      await images.create(name, size, meta);
      throw new Error('the image store failed after writing');
    };
    const r = await (await setup('node1', store, failing)).svc.add(body('failed'));
    assert.equal(r.ok, false);
    assert.equal(pendingAtCreate.length, 1, 'an intent key exists while the image is being created');
    assert.match(pendingAtCreate[0] as string, /"server":"node1"/);
    // removed in the background; the intent keeps the id reserved meanwhile
    await waitFor(async () => (await store.list(PENDING)).length === 0, { what: 'a failed add to remove its intent', timeoutMs: 2000, intervalMs: 20 });
    assert.deepEqual(await images.list(), [], 'and its image');
    await store.close();
  });

  it('the id of an add whose image is still being cleaned up is not given out again', async () => {
    const { svc, store } = await setup('node1');
    await store.put(`${PENDING}00001`, JSON.stringify({ server: 'node1', image: 'image-00001' }));
    const r = await svc.add(body('next'));
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.disk.id, '00002');
    await store.close();
  });

  it('a crash between the image and the keys (intent + image, no disk): the next start removes both', async () => {
    const { store, images, svc } = await setup('node1');
    // exactly what a SIGKILL in that window leaves behind
    await store.put(`${PENDING}00007`, JSON.stringify({ server: 'node1', image: 'image-00007', at: new Date().toISOString() }));
    await images.create('image-00007', 1024 ** 3, null);
    const r = await svc.recoverInterruptedAdds();
    assert.deepEqual(r.removed, ['image-00007']);
    assert.equal(await images.exists('image-00007'), false);
    assert.deepEqual(await store.list(PENDING), []);
    assert.equal(await store.get(diskKey('00007')), undefined);
    // recovery is idempotent (a crash during the recovery itself)
    assert.deepEqual((await svc.recoverInterruptedAdds()).removed, []);
    await store.close();
  });

  it("keeps a registered disk's image, and leaves other servers' intents to them", async () => {
    const { svc, store, images } = await setup('node1');
    const ok = await svc.add(body('kept'));
    assert.ok(ok.ok);
    const id = ok.disk.id;
    // an intent left for a disk that did get registered (e.g. a crash after the keys, before the intent's delete)
    await store.put(`${PENDING}${id}`, JSON.stringify({ server: 'node1', image: `image-${id}` }));
    // another server's intent: not this one's to judge
    await store.put(`${PENDING}00042`, JSON.stringify({ server: 'node2', image: 'image-00042' }));
    await images.create('image-00042', 1024 ** 3, null);
    const r = await (await setup('node1', store, images)).svc.recoverInterruptedAdds();
    assert.deepEqual(r.removed, []);
    assert.equal(await images.exists(`image-${id}`), true);
    assert.equal(await images.exists('image-00042'), true);
    assert.deepEqual(
      (await store.list(PENDING)).map((kv) => kv.key),
      [`${PENDING}00042`],
    );
    await store.close();
  });
});
