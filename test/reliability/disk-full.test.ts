/**
 * Fault: the filesystem of the single-box state dir (sparse images, their metadata, the embedded
 * store's log) is full. The state dir is a small tmpfs mounted for the test (root only), filled with
 * a file (the image itself is sparse and needs no space; its metadata and the store's log do).
 * Guarantee: an add fails with `storage_error` and a readable message and leaves nothing behind; the
 * disks already there keep being served; once space is freed, adds work again and the store is
 * consistent (also after a restart: what was acknowledged is on disk, what was refused is not).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ISCSI_TOOLS, discover, lunUrl, verifyPattern, writePattern } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';
import { measured, sleep } from './lib/common.js';
import { assertConsistent, showPortals, snapshot } from './lib/consistency.js';
import { killTgtds, tgtdProcs } from './lib/procs.js';

const OCTET = 65;
const PREFIX = `127.${OCTET}.`;
const isRoot = process.getuid?.() === 0;
const skip = missingTools(ISCSI_TOOLS) ?? (isRoot ? undefined : 'needs root to mount a tmpfs');

/** Writes zeros to `path` until the filesystem is full; returns the bytes written. */
function fill(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let n = 0;
  try {
    for (;;) n += writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  // the last partial chunk: fill the remaining bytes one block at a time
  const fd2 = openSync(path, 'a');
  try {
    for (;;) n += writeSync(fd2, Buffer.alloc(512));
  } catch {
  } finally {
    closeSync(fd2);
  }
  return n;
}

describe('fault: the state dir filesystem is full', { skip, timeout: 180_000 }, () => {
  let mnt: string;
  let tp: TestProduct;
  const fillFile = () => join(mnt, 'fill.bin');
  const check = async (what: string) =>
    assertConsistent(
      await snapshot(tp.product.store, tp.product.images, PREFIX),
      { settled: true, backingOf: (n) => join(mnt, 'state', 'images', `${n}.img`) },
      what,
    );
  const started = (id: string) =>
    waitFor(async () => (await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk?.status === 'started', { what: `disk ${id} started` });

  before(async () => {
    mnt = mkdtempSync(join(tmpdir(), 'portway-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', mnt]);
    mkdirSync(join(mnt, 'state'));
    tp = await startTestProduct(OCTET, { stateDir: join(mnt, 'state') });
  });
  after(async () => {
    try {
      await tp?.product.stop({ release: true });
    } finally {
      const left = await killTgtds(PREFIX); // daemons leaked by a failing run keep the mount busy
      if (left > 0) process.stderr.write(`# cleanup: killed ${left} tgtd(s) left behind\n`);
      execFileSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  it('with space: a disk is added and served', async () => {
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('before-full', { sizeGb: 2, activePaths: 2 }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    await started(r.json.disk.id);
    await writePattern(lunUrl(`${PREFIX}1.10`, r.json.disk.iqn), 0x11, 0, 1024 * 1024);
    await check('before the fault');
  });

  it('full: an add fails with storage_error and a readable message, leaving nothing', async () => {
    const written = fill(fillFile());
    const st = statfsSync(mnt);
    process.stderr.write(`# filled ${written} bytes; ${st.bavail * st.bsize} bytes left\n`);
    const imagesBefore = (await tp.product.images.list()).map((i) => i.name);
    const t0 = Date.now();
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('on-full', { activePaths: 1 }));
    measured('add on a full state dir -> error reply', Date.now() - t0);
    process.stderr.write(`# reply on a full disk: ${r.status} ${JSON.stringify(r.json)}\n`);
    assert.equal(r.json.code, 'storage_error', JSON.stringify(r.json));
    assert.equal(r.status, 503);
    assert.match(r.json.message, /space/i, 'the message says what is wrong');
    assert.doesNotMatch(r.json.message, /ENOSPC|Error:|\bat \//, 'no raw error text');
    assert.deepEqual(
      (await tp.product.images.list()).map((i) => i.name),
      imagesBefore,
      'no image left behind',
    );
    const names = ((await api(tp.product, 'GET', '/api/v1/disks')).json.disks as { name: string }[]).map((d) => d.name);
    assert.deepEqual(names, ['before-full']);
  });

  it('full, the store log too: adds keep failing cleanly; the disk already there keeps being served', async () => {
    // The first refusals still fit their store-log records into the log's last, partly used page; go
    // on until the log itself cannot grow (each add writes a lock lease and its release to the log).
    const seen = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const r = await api(tp.product, 'POST', '/api/v1/disks', addBody(`on-full-${i}`, { activePaths: 1 }));
      assert.ok(r.status >= 400 && r.status !== 500, `no 201 and no 500 on a full disk: ${r.status} ${JSON.stringify(r.json)}`);
      assert.equal(typeof r.json.code, 'string');
      const k = `${r.status} ${r.json.code}: ${r.json.message}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    process.stderr.write(`# replies on a full disk: ${JSON.stringify([...seen])}\n`);
    // Lease renewals write to the store's log too: a full disk must not make the agent fence itself.
    await sleep(tp.settings.agent.leaseTtlSeconds * 1000 + 1000);
    // One tgtd per disk: it holds both path IPs as portals.
    const procs = tgtdProcs(PREFIX);
    assert.equal(procs.length, 1, "the disk's tgtd still runs");
    assert.deepEqual((await showPortals(procs[0]?.controlPort as number))?.sort(), [`${PREFIX}1.10`, `${PREFIX}1.11`], 'on both portals');
    assert.deepEqual(await discover(`${PREFIX}1.10`), ['iqn.2016-05.io.portway.test:00001']);
    assert.equal(await verifyPattern(lunUrl(`${PREFIX}1.11`, 'iqn.2016-05.io.portway.test:00001'), 0x11, 0, 1024 * 1024), true);
    const list = (await api(tp.product, 'GET', '/api/v1/disks')).json.disks as { name: string; status: string }[];
    assert.deepEqual(
      list.map((d) => [d.name, d.status]),
      [['before-full', 'started']],
      'the list shows only the disk made before, started',
    );
  });

  it('space freed: adds work again, the store is consistent, also after a restart', async () => {
    unlinkSync(fillFile());
    const t0 = Date.now();
    let last: unknown;
    const r = await waitFor(
      async () => {
        const a = await api(tp.product, 'POST', '/api/v1/disks', addBody('after-full', { activePaths: 1 }));
        last = a.json;
        return a.status === 201 ? a : undefined;
      },
      { what: 'an add to succeed', timeoutMs: 5000, intervalMs: 100, detail: () => JSON.stringify(last) },
    );
    measured('space freed -> next add succeeds', Date.now() - t0);
    await started(r.json.disk.id);
    await check('after space was freed');
    await tp.restart({ release: false });
    await started(r.json.disk.id);
    const names = ((await api(tp.product, 'GET', '/api/v1/disks')).json.disks as { name: string }[]).map((d) => d.name).sort();
    assert.deepEqual(names, ['after-full', 'before-full']);
    await check('after a restart');
  });
});
