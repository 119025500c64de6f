/** The embedded coordination store: the shared conformance suite, and persistence across restarts. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EmbeddedStore } from '../../src/adapters/coord/embedded-store.js';
import { createAllIfAbsent } from '../../src/adapters/coord/types.js';
import { coordStoreSuite } from '../conformance/coord-store.suite.js';

coordStoreSuite('embedded (in memory)', async () => {
  const store = new EmbeddedStore({ tickMs: 50 });
  return { store, cleanup: () => store.close() };
});

coordStoreSuite('embedded (persisted)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-coord-'));
  const store = new EmbeddedStore({ dir, tickMs: 50 });
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('embedded store persistence', () => {
  it('a restart keeps every key, revision and live lease; expired leases delete their keys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-coord-'));
    try {
      let now = 1_000_000;
      const a = new EmbeddedStore({ dir, now: () => now });
      await a.put('/k/1', 'one');
      assert.equal(
        await createAllIfAbsent(a, [
          { key: '/k/2', value: 'two' },
          { key: '/k/3', value: 'three' },
        ]),
        true,
      );
      const short = await a.grantLease(5);
      const long = await a.grantLease(60);
      await a.put('/l/short', 's', { lease: short.id });
      await a.put('/l/long', 'l', { lease: long.id });
      await a.delete('/k/1');
      const rev = (await a.get('/k/3'))?.modRevision;
      await a.close();

      now += 10_000; // past the short lease, within the long one
      const b = new EmbeddedStore({ dir, now: () => now });
      assert.equal(await b.get('/k/1'), undefined);
      assert.equal((await b.get('/k/2'))?.value, 'two');
      assert.equal((await b.get('/k/3'))?.modRevision, rev);
      assert.equal(await b.get('/l/short'), undefined, 'expired lease deleted its key');
      assert.equal((await b.get('/l/long'))?.value, 'l');
      await b.put('/k/4', 'four');
      assert.ok(((await b.get('/k/4'))?.modRevision ?? 0) > (rev ?? 0), 'revisions keep increasing after a restart');
      const again = await b.grantLease(5);
      assert.notEqual(again.id, short.id, 'lease ids are not reused');
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a torn last write in the log is ignored, everything before it is kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-coord-'));
    try {
      const a = new EmbeddedStore({ dir });
      await a.put('/a', '1');
      await a.put('/b', '2');
      await a.close();
      const c = new EmbeddedStore({ dir });
      await c.put('/c', '3');
      await c.close();
      appendFileSync(join(dir, 'wal.log'), '{"r":99,"op":"put","k":"/d","v');
      const d = new EmbeddedStore({ dir });
      assert.deepEqual(
        (await d.list('/')).map((kv) => kv.key),
        ['/a', '/b', '/c'],
      );
      await d.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded store lock', () => {
  it('refuses a second opener of the same directory until the first closes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-coord-'));
    try {
      const a = new EmbeddedStore({ dir });
      assert.throws(() => new EmbeddedStore({ dir }), /in use by process/);
      await a.close();
      const b = new EmbeddedStore({ dir });
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
