/** The sparse-file image store against the shared image-store conformance suite. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileImageStore } from '../../src/adapters/images/file-store.js';
import { imageStoreSuite } from '../conformance/image-store.suite.js';

imageStoreSuite('file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-images-'));
  const store = await new FileImageStore(dir).init();
  return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('file image store specifics', () => {
  it('images are sparse and rename moves the metadata with the image', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-images-'));
    try {
      const store = await new FileImageStore(dir).init();
      await store.create('image-00001', 10 * 1024 ** 3, '{"a":1}');
      assert.ok(statSync(join(dir, 'image-00001.img')).blocks * 512 < 1024 * 1024, 'a 10 GiB image takes no space');
      await store.rename('image-00001', 'image-00002');
      assert.equal(await store.exists('image-00001'), false);
      assert.equal(await store.getMeta('image-00002'), '{"a":1}');
      await assert.rejects(store.rename('image-00009', 'image-00003'), (e: { code?: string }) => e.code === 'not_found');
      await store.create('image-00003', 1024, null);
      await assert.rejects(store.rename('image-00002', 'image-00003'), (e: { code?: string }) => e.code === 'exists');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a snapshot whose copy finishes while the list is read is listed (never missing for a moment)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-images-'));
    try {
      const store = await new FileImageStore(dir).init();
      await store.create('image-00001', 64 * 1024 ** 2, null);
      const missed: string[] = [];
      const seen = new Set<string>();
      let done = false;
      // Lists back to back while snapshots are taken: a name once listed must be listed every time after.
      const lister = (async () => {
        while (!done) {
          const names = new Set((await store.snapshotList('image-00001')).map((x) => x.name));
          for (const n of seen) if (!names.has(n)) missed.push(n);
          for (const n of names) seen.add(n);
        }
      })();
      for (let i = 0; i < 40; i++) await store.snapshotCreate('image-00001', `s${i}`, { allowCopy: true });
      done = true;
      await lister;
      assert.deepEqual(missed, []);
      assert.equal((await store.snapshotList('image-00001')).length, 40);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
