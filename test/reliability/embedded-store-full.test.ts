/**
 * Fault: the filesystem under the embedded coordination store is full (a 1 MiB tmpfs, filled).
 * Guarantee: a write that cannot be logged is refused and changes nothing (memory = log); what was
 * acknowledged survives a restart, even after a short (torn) write; lease renewals go on (their log
 * record only matters across a restart), and a lease expiry that cannot be logged never crashes the
 * process.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { EmbeddedStore } from '../../src/adapters/coord/embedded-store.js';
import { createAllIfAbsent } from '../../src/adapters/coord/types.js';
import { sleep } from './lib/common.js';

const isRoot = process.getuid?.() === 0;

function fill(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const size of [65536, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 0x55);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
}

describe('fault: the embedded store on a full filesystem', {
  skip: isRoot ? undefined : 'needs root to mount a tmpfs',
  timeout: 60_000,
}, () => {
  let mnt: string;
  let dir: string;
  let store: EmbeddedStore | undefined;
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);

  before(() => {
    mnt = mkdtempSync(join(tmpdir(), 'portway-walfull-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mnt]);
    process.on('uncaughtException', onUncaught);
  });
  after(() => {
    process.off('uncaughtException', onUncaught);
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });
  beforeEach(() => {
    dir = join(mnt, `s${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir);
    uncaught.length = 0;
  });
  afterEach(async () => {
    await store?.close().catch(() => {});
    store = undefined;
    rmSync(join(mnt, 'fill'), { force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('a transaction that cannot be logged changes nothing, in memory or after a restart', async () => {
    store = new EmbeddedStore({ dir });
    await store.put('/portway/a', 'one');
    fill(join(mnt, 'fill'));
    // large enough to need a new page of the log
    const big = 'x'.repeat(16 * 1024);
    await assert.rejects(
      createAllIfAbsent(store, [
        { key: '/portway/b', value: big },
        { key: '/portway/c', value: big },
      ]),
    );
    assert.equal(await store.get('/portway/b'), undefined, 'the refused key is not visible');
    assert.deepEqual(
      (await store.list('/portway/')).map((kv) => kv.key),
      ['/portway/a'],
    );
    unlinkSync(join(mnt, 'fill'));
    await store.put('/portway/d', 'four');
    await store.close();
    store = new EmbeddedStore({ dir });
    assert.deepEqual(
      (await store.list('/portway/')).map((kv) => [kv.key, kv.value]),
      [
        ['/portway/a', 'one'],
        ['/portway/d', 'four'],
      ],
    );
  });

  it('every acknowledged write survives a restart, also around a short write on a full disk', async () => {
    store = new EmbeddedStore({ dir });
    await store.put('/portway/a', 'one');
    fill(join(mnt, 'fill'));
    const acked: string[] = ['/portway/a'];
    // Values of growing size: some fit the log's last page, one is cut short by the full disk.
    for (let i = 0; i < 12; i++) {
      const key = `/portway/k${i}`;
      try {
        await store.put(key, 'y'.repeat(64 * 2 ** i));
        acked.push(key);
      } catch {}
    }
    unlinkSync(join(mnt, 'fill'));
    await store.put('/portway/after', 'after the disk was full');
    acked.push('/portway/after');
    const before = (await store.list('/portway/')).map((kv) => `${kv.key}=${kv.value.length}`);
    await store.close();
    store = new EmbeddedStore({ dir });
    const got = (await store.list('/portway/')).map((kv) => `${kv.key}=${kv.value.length}`);
    assert.deepEqual(got, before, 'what the store showed before the restart is what it has after it');
    for (const k of acked) assert.ok(await store.get(k), `acknowledged ${k} survives the restart`);
  });

  it('lease renewals go on while the disk is full; keys under the lease stay', async () => {
    store = new EmbeddedStore({ dir, tickMs: 50 });
    const lease = await store.grantLease(2);
    await store.put('/portway/owned', 'x', { lease: lease.id });
    fill(join(mnt, 'fill'));
    // Fill the log's last page too, so every further record needs a new page.
    for (let i = 0; i < 64; i++) await store.put('/portway/pad', 'p'.repeat(100)).catch(() => {});
    for (let i = 0; i < 8; i++) {
      await lease.keepAliveOnce();
      await sleep(500);
    }
    assert.equal((await store.get('/portway/owned'))?.value, 'x', 'the lease was kept alive for 4 s (ttl 2 s)');
    assert.deepEqual(uncaught, []);
  });

  it('a lease that expires while the disk is full does not crash the process; it is dropped once space is back', async () => {
    store = new EmbeddedStore({ dir, tickMs: 50 });
    const lease = await store.grantLease(1);
    await store.put('/portway/owned', 'x', { lease: lease.id });
    fill(join(mnt, 'fill'));
    for (let i = 0; i < 64; i++) await store.put('/portway/pad', 'p'.repeat(100)).catch(() => {});
    await sleep(1500);
    assert.deepEqual(uncaught.map(String), [], 'no uncaught exception from the expiry timer');
    unlinkSync(join(mnt, 'fill'));
    await sleep(300);
    assert.equal(await store.get('/portway/owned'), undefined, 'the expired lease deleted its key');
    await store.close();
    store = new EmbeddedStore({ dir });
    assert.equal(await store.get('/portway/owned'), undefined, 'also after a restart');
  });
});
