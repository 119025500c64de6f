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
});
