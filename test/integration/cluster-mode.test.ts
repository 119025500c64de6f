/**
 * Cluster mode: Ceph RBD images + etcd coordination, real tgtd serving the image through tgt's rbd
 * backing store. Ceph and etcd are started by the repo's scripts and stopped by PID.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { ImageStore } from '../../src/adapters/images/types.js';
import { EtcdStore } from '../../src/adapters/coord/etcd-store.js';
import { RbdImageStore } from '../../src/adapters/images/rbd-store.js';
import { run } from '../../src/adapters/exec.js';
import { checkConfig } from '../../src/domain/config.js';
import { DiskService } from '../../src/services/disk-service.js';
import { ISCSI_TOOLS, capacity, lunUrl, writePattern } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';
import { CEPH_TOOLS, type CephCluster, type EtcdCluster, startEtcd, stopSharedCeph, whenCephReady } from '../helpers/services.js';

const skip = missingTools([...ISCSI_TOOLS, ...CEPH_TOOLS, 'etcd']);
const GiB = 1024 ** 3;

describe('cluster mode: Ceph RBD + etcd + tgt rbd backing store', { skip, timeout: 600_000 }, () => {
  let ceph: CephCluster;
  let etcd: EtcdCluster;
  let tp: TestProduct;
  const rbd = (args: string[]) => run('rbd', ['-c', ceph.conf, '--id', ceph.id, '--keyring', ceph.keyring, ...args], { timeoutMs: 60_000 });
  const rbdImages = async () => JSON.parse((await rbd(['ls', '-p', ceph.pool, '--format', 'json'])).stdout) as string[];

  before(async () => {
    [ceph, etcd] = await Promise.all([whenCephReady(), startEtcd({ members: 1 })]);
    process.stderr.write(`# ceph up in ${ceph.startMs} ms, etcd in ${etcd.startMs} ms\n`);
    tp = await startTestProduct(33, {
      images: { kind: 'rbd', conf: ceph.conf, keyring: ceph.keyring, id: ceph.id, pool: ceph.pool },
      coord: { kind: 'etcd', endpoints: etcd.endpoints },
    });
  });
  after(async () => {
    await tp?.cleanup();
    await etcd?.stop();
    await stopSharedCeph();
  });

  it('adds a disk: image-<id> with its metadata in Ceph, keys in etcd, served by tgtd from RBD', async () => {
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('c1', { sizeGb: 1 }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const id = r.json.disk.id as string;
    assert.ok((await rbdImages()).includes(`image-${id}`));
    const meta = JSON.parse((await rbd(['image-meta', 'get', `${ceph.pool}/image-${id}`, 'portway.meta'])).stdout);
    assert.equal(meta.name, 'c1');
    assert.equal(meta.paths.length, 2);
    // The add registers the disk and its paths; the agent's `served` marker may already be there too.
    const keys = (await tp.product.store.list('/portway/disks/')).map((kv) => kv.key).filter((k) => k !== `/portway/disks/${id}/served`);
    assert.deepEqual(keys, [`/portway/disks/${id}`, `/portway/disks/${id}/1`, `/portway/disks/${id}/2`]);
    await waitFor(async () => ((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk.status === 'started' ? true : undefined), {
      what: 'started',
      timeoutMs: 20_000,
    });
    const iqn = r.json.disk.iqn as string;
    for (const p of meta.paths) assert.equal(await capacity(lunUrl(p.ip, iqn)), GiB);

    // Bytes written over iSCSI are in the RBD image.
    await writePattern(lunUrl(meta.paths[0].ip, iqn), 0x7e, 3 * 1024 * 1024, 65536);
    const out = join(tmpdir(), `pw-export-${process.pid}.raw`);
    try {
      await rbd(['export', `${ceph.pool}/image-${id}`, out]);
      // Read only the bytes checked: reading the whole 1 GiB export blocked this process's event loop
      // for 8.7 s on a slow CI machine, and the in-process agent fenced itself.
      assert.equal(statSync(out).size, GiB);
      const buf = Buffer.alloc(65536 + 1);
      const fd = openSync(out, 'r');
      try {
        assert.equal(readSync(fd, buf, 0, buf.length, 3 * 1024 * 1024 - 1), buf.length);
      } finally {
        closeSync(fd);
      }
      assert.ok(
        buf.subarray(1).every((b) => b === 0x7e),
        'the pattern written through iSCSI is in the image',
      );
      assert.equal(buf[0], 0);
    } finally {
      rmSync(out, { force: true });
    }
  });

  it('rebuilds the disk list from Ceph alone after etcd is wiped', async () => {
    await api(tp.product, 'POST', '/api/v1/disks', addBody('c2', { subnet: 3, activePaths: 3 }));
    const before = (await api(tp.product, 'GET', '/api/v1/disks')).json.disks;
    const pathsBefore = await Promise.all(
      before.map(async (d: { id: string }) => (await api(tp.product, 'GET', `/api/v1/disks/${d.id}/paths`)).json.paths.map((p: { ip: string }) => p.ip)),
    );
    // A wipe made behind the API's back reaches its list through the store watch, not at once.
    await tp.product.store.deletePrefix('/portway/');
    await waitFor(async () => (await api(tp.product, 'GET', '/api/v1/disks')).json.disks.length === 0, {
      what: 'the wipe in the disk list',
      timeoutMs: 10_000,
    });
    const r = await tp.product.disks.rebuildFromImages();
    assert.ok(r.ok);
    assert.deepEqual(r.registered.sort(), before.map((d: { id: string }) => d.id).sort());
    const after = (await api(tp.product, 'GET', '/api/v1/disks')).json.disks;
    assert.deepEqual(
      after.map((d: { id: string; name: string; sizeGb: number; iqn: string }) => [d.id, d.name, d.sizeGb, d.iqn]),
      before.map((d: { id: string; name: string; sizeGb: number; iqn: string }) => [d.id, d.name, d.sizeGb, d.iqn]),
    );
    const pathsAfter = await Promise.all(
      after.map(async (d: { id: string }) => (await api(tp.product, 'GET', `/api/v1/disks/${d.id}/paths`)).json.paths.map((p: { ip: string }) => p.ip)),
    );
    assert.deepEqual(pathsAfter, pathsBefore);
    await waitFor(
      async () => ((await api(tp.product, 'GET', '/api/v1/disks')).json.disks.every((d: { status: string }) => d.status === 'started') ? true : undefined),
      { what: 'all started again', timeoutMs: 30_000 },
    );
  });

  it('etcd unreachable between "image created" and "keys registered": no orphan image, no half disk', async () => {
    const real = new RbdImageStore({ conf: ceph.conf, keyring: ceph.keyring, id: ceph.id, pool: ceph.pool });
    const store = new EtcdStore({ hosts: etcd.endpoints, callTimeoutMs: 3000 });
    let killedAfter: string | undefined;
    // The real image store, with etcd killed (by PID) right after the image is made.
    const images: ImageStore = Object.assign(Object.create(real) as ImageStore, {
      create: async (name: string, size: number, meta: string | null) => {
        await real.create(name, size, meta);
        killedAfter = name;
        await etcd.killMember(0);
      },
    });
    const checked = checkConfig(tp.settings.cluster);
    assert.ok(checked.ok);
    const svc = new DiskService({
      store,
      images,
      subnet1: checked.subnet1,
      subnet2: checked.subnet2,
      iqnBase: tp.settings.cluster.iqnBase,
      pool: ceph.pool,
      log: pino({ level: 'silent' }),
    });
    const imagesBefore = await rbdImages();
    try {
      const r = await svc.add(addBody('c3'));
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.code, 'coordination_error');
      assert.ok(killedAfter, 'etcd was killed after the image was created');
      assert.deepEqual(await rbdImages(), imagesBefore, 'the image was removed again');
    } finally {
      await etcd.startMember(0);
      await waitFor(() => etcd.healthy(0), { what: 'etcd healthy', timeoutMs: 30_000 });
      await store.close();
    }
    const keys = (await tp.product.store.list('/portway/disks/')).map((kv) => kv.key);
    assert.equal(
      keys.some((k) => k.includes(killedAfter?.replace('image-', '') ?? 'none')),
      false,
      'no key of the failed disk',
    );
  });
});
