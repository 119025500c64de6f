/**
 * Conformance suite of the ImageStore interface (src/adapters/images/types.ts): every implementation
 * (sparse files, Ceph RBD) must pass it. Every test uses image names with its own random prefix, so
 * `make` may hand out stores on one shared backend that holds other images too.
 *
 *   imageStoreSuite('rbd', async () => ({ store, cleanup }));
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type ImageStore, ImageStoreError } from '../../src/adapters/images/types.js';

export interface ImageSuiteExtra {
  /** Skip the whole suite with this reason (see test/helpers/services.ts requireService). */
  skip?: string;
  /** For an rbd store: the pool it uses, to check backing() exactly. */
  pool?: string;
}

type Made = { store: ImageStore; cleanup: () => Promise<void> };

const MiB = 1024 * 1024;

function isImageError(code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof ImageStoreError, `expected ImageStoreError(${code}), got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  };
}

export function imageStoreSuite(name: string, make: () => Promise<Made>, extra: ImageSuiteExtra = {}): void {
  describe(`ImageStore conformance: ${name}`, { skip: extra.skip }, () => {
    let made: Made | undefined;
    let s: ImageStore;
    let p: string; // name prefix of this test
    const mine = async () => (await s.list()).filter((r) => r.name.startsWith(p));

    beforeEach(async () => {
      made = await make();
      s = made.store;
      p = `pwt-${randomBytes(4).toString('hex')}-`;
    });
    afterEach(async () => {
      // remove what the test left behind
      try {
        for (const r of await mine()) await s.remove(r.name).catch(() => undefined);
      } catch {
        // the store may be unusable after a failed test
      }
      await made?.cleanup();
      made = undefined;
    });

    it('create makes an image that exists, with its size and metadata', async () => {
      const meta = JSON.stringify({ id: '00001', name: 'disk one', paths: [{ ip: '10.0.1.5' }] });
      assert.equal(await s.exists(`${p}a`), false);
      await s.create(`${p}a`, 8 * MiB, meta);
      assert.equal(await s.exists(`${p}a`), true);
      assert.equal(await s.getMeta(`${p}a`), meta);
      assert.deepEqual(await mine(), [{ name: `${p}a`, sizeBytes: 8 * MiB, meta }]);
    });

    it('an image created without metadata has meta null', async () => {
      await s.create(`${p}n`, 4 * MiB, null);
      assert.equal(await s.getMeta(`${p}n`), null);
      const [rec] = await mine();
      assert.ok(rec);
      assert.equal(rec.meta, null);
      assert.equal(rec.metaError, undefined);
    });

    it('list returns every image with size and metadata, sorted by name', async () => {
      await s.create(`${p}c`, 3 * MiB, 'meta-c');
      await s.create(`${p}a`, 1 * MiB, 'meta-a');
      await s.create(`${p}b`, 2 * MiB, null);
      assert.deepEqual(await mine(), [
        { name: `${p}a`, sizeBytes: 1 * MiB, meta: 'meta-a' },
        { name: `${p}b`, sizeBytes: 2 * MiB, meta: null },
        { name: `${p}c`, sizeBytes: 3 * MiB, meta: 'meta-c' },
      ]);
      const all = await s.list();
      const names = all.map((r) => r.name);
      assert.deepEqual(
        names,
        [...names].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)),
      );
    });

    it('setMeta replaces the metadata; odd values round-trip exactly', async () => {
      await s.create(`${p}m`, 1 * MiB, 'first');
      const values = [
        'second',
        '-leading-dash',
        '--',
        'multi\nline\r\n\t"quoted" \\back\\slash',
        'ünïcødé ✓ 😀',
        JSON.stringify({ big: 'x'.repeat(16 * 1024) }),
        ' ',
      ];
      for (const v of values) {
        await s.setMeta(`${p}m`, v);
        assert.equal(await s.getMeta(`${p}m`), v);
      }
      assert.equal((await mine())[0]?.meta, values[values.length - 1]);
    });

    it('resize grows; the same size is a no-op; shrinking is refused and changes nothing', async () => {
      await s.create(`${p}r`, 4 * MiB, 'm');
      await s.resize(`${p}r`, 16 * MiB);
      assert.equal((await mine())[0]?.sizeBytes, 16 * MiB);
      await s.resize(`${p}r`, 16 * MiB);
      await assert.rejects(s.resize(`${p}r`, 8 * MiB), isImageError('shrink'));
      assert.equal((await mine())[0]?.sizeBytes, 16 * MiB);
      assert.equal(await s.getMeta(`${p}r`), 'm', 'resize keeps the metadata');
    });

    it('remove deletes the image and its metadata', async () => {
      await s.create(`${p}d`, 1 * MiB, 'gone soon');
      await s.remove(`${p}d`);
      assert.equal(await s.exists(`${p}d`), false);
      assert.deepEqual(await mine(), []);
      await assert.rejects(s.getMeta(`${p}d`), isImageError('not_found'));
      // a new image of the same name starts without the old metadata
      await s.create(`${p}d`, 1 * MiB, null);
      assert.equal(await s.getMeta(`${p}d`), null);
    });

    it('creating an existing image fails with exists and leaves it as it was', async () => {
      await s.create(`${p}e`, 2 * MiB, 'original');
      await assert.rejects(s.create(`${p}e`, 4 * MiB, 'other'), isImageError('exists'));
      assert.deepEqual(await mine(), [{ name: `${p}e`, sizeBytes: 2 * MiB, meta: 'original' }]);
    });

    it('of two racing creates of one name exactly one wins', async () => {
      const results = await Promise.allSettled([s.create(`${p}race`, 1 * MiB, 'one'), s.create(`${p}race`, 1 * MiB, 'two')]);
      const ok = results.filter((r) => r.status === 'fulfilled');
      assert.equal(ok.length, 1);
      const bad = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      isImageError('exists')(bad.reason);
    });

    it('operations on a missing image fail with not_found', async () => {
      const n = `${p}missing`;
      await assert.rejects(s.remove(n), isImageError('not_found'));
      await assert.rejects(s.getMeta(n), isImageError('not_found'));
      await assert.rejects(s.setMeta(n, 'x'), isImageError('not_found'));
      await assert.rejects(s.resize(n, 2 * MiB), isImageError('not_found'));
      assert.equal(await s.exists(n), false);
    });

    it('names outside [A-Za-z0-9][A-Za-z0-9._-]{0,63} are refused before reaching the backend', async () => {
      const bad = ['', '../etc', 'a/b', '-rf', '.hidden', 'a b', 'a;b', 'x'.repeat(65), 'a\nb', 'ü'];
      for (const n of bad) {
        await assert.rejects(s.create(n, MiB, null), ImageStoreError, `create ${JSON.stringify(n)}`);
        await assert.rejects(s.exists(n), ImageStoreError, `exists ${JSON.stringify(n)}`);
        await assert.rejects(s.setMeta(n, 'x'), ImageStoreError, `setMeta ${JSON.stringify(n)}`);
        assert.throws(() => s.backing(n), ImageStoreError, `backing ${JSON.stringify(n)}`);
      }
      // the longest valid name works
      const long = `${p}${'y'.repeat(64 - p.length)}`;
      await s.create(long, MiB, null);
      assert.equal(await s.exists(long), true);
    });

    it('backing tells tgtd how to reach the image', async () => {
      const b = s.backing(`${p}img`);
      if (s.kind === 'file') {
        assert.equal(b.bstype, 'rdwr');
        assert.ok(b.path.startsWith('/') && b.path.includes(`${p}img`), b.path);
        assert.equal(b.bsopts, '');
      } else {
        assert.equal(b.bstype, 'rbd');
        if (extra.pool) assert.equal(b.path, `${extra.pool}/${p}img`);
        else assert.match(b.path, new RegExp(`^[A-Za-z0-9._-]+/${p}img$`));
        assert.match(b.bsopts, /^conf=[^;]+;id=[^;]+$/);
      }
    });

    it('usage reports bytes used and total', async () => {
      const u = await s.usage();
      assert.ok(Number.isFinite(u.usedBytes) && Number.isFinite(u.totalBytes));
      assert.ok(u.totalBytes > 0);
      assert.ok(u.usedBytes >= 0 && u.usedBytes <= u.totalBytes, JSON.stringify(u));
    });
  });
}
