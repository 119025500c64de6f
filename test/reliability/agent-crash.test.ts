/**
 * Fault: the product (API + agent) is killed by PID (SIGKILL) right after an add, while its agent is
 * configuring the new disk's paths, then started again on the same state dir.
 * Guarantee: the disk ends started, each path served by exactly one tgtd, the data of older disks is
 * intact, and the store stays consistent (no orphan image, no lost disk, no stale owner).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ISCSI_TOOLS, discover, lunUrl, verifyPattern, writePattern } from '../helpers/iscsi.js';
import { addBody, missingTools } from '../helpers/product.js';
import { type ChildProduct, childProduct, request } from './lib/child-product.js';
import { allStarted, checkChild, cleanupChild, measured, sleep } from './lib/common.js';
import { tgtdProcs } from './lib/procs.js';

const skip = missingTools(ISCSI_TOOLS);
const OCTET = 62;
const PREFIX = `127.${OCTET}.`;

describe('fault: product killed mid-configure, then restarted', { skip, timeout: 300_000 }, () => {
  let cp: ChildProduct;
  before(async () => {
    cp = childProduct(OCTET);
    measured('product start (child process, tsx)', await cp.start());
  });
  after(async () => {
    await cleanupChild(cp, PREFIX);
  });

  it('a first disk is served and holds a pattern', async () => {
    const r = await request(cp.url, 'POST', '/api/v1/disks', addBody('base', { activePaths: 2 }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    await allStarted(cp.url);
    await writePattern(lunUrl(`${PREFIX}1.10`, r.json.disk.iqn), 0x3c, 0, 1024 * 1024);
    await checkChild(cp, PREFIX);
  });

  for (const delay of [0, 5, 20, 50, 100, 250]) {
    it(`SIGKILL ${delay} ms after a 201: the restart serves every path once`, async () => {
      const r = await request(cp.url, 'POST', '/api/v1/disks', addBody(`crash-${delay}`, { activePaths: 2, subnet: 3 }));
      assert.equal(r.status, 201, JSON.stringify(r.json));
      const id = r.json.disk.id as string;
      await sleep(delay);
      await cp.kill('SIGKILL');
      const left = tgtdProcs(PREFIX).length;
      const t0 = Date.now();
      await cp.start();
      const disks = await allStarted(cp.url, 30_000);
      const ms = Date.now() - t0;
      measured(`kill ${delay} ms after add -> every disk started after restart (${left} tgtds survived the kill)`, ms);
      assert.ok(
        disks.some((d) => d.id === id),
        `disk ${id} is listed`,
      );
      await checkChild(cp, PREFIX, {}, `after the crash ${delay} ms after adding ${id}`);
      const paths = (await request(cp.url, 'GET', `/api/v1/disks/${id}/paths`)).json.paths as { ip: string }[];
      assert.equal(paths.length, 2);
      for (const p of paths) assert.deepEqual(await discover(p.ip), [r.json.disk.iqn], `${p.ip} serves ${id}`);
      assert.equal(await verifyPattern(lunUrl(`${PREFIX}1.10`, 'iqn.2016-05.io.portway.test:00001'), 0x3c, 0, 1024 * 1024), true, 'data of disk 00001 intact');
    });
  }

  it('SIGKILL during a burst of adds (some keys written, some not): restart leaves a consistent store', async () => {
    const before = (await request(cp.url, 'GET', '/api/v1/disks')).json.disks.length as number;
    const replies = Array.from({ length: 6 }, (_, i) => request(cp.url, 'POST', '/api/v1/disks', addBody(`mid-${i}`, { activePaths: 1 })));
    await sleep(30);
    await cp.kill('SIGKILL');
    const res = await Promise.all(replies);
    await cp.start();
    const disks = await allStarted(cp.url, 30_000);
    for (const [i, r] of res.entries()) {
      const listed = disks.some((d) => d.name === `mid-${i}`);
      if (r.status === 201) assert.ok(listed, `mid-${i} got 201 and exists`);
      else if (r.status !== 0) assert.equal(listed, false, `mid-${i} got ${r.status} and left nothing`);
    }
    process.stderr.write(
      `# burst under SIGKILL: ${res.filter((r) => r.status === 201).length} x 201, ${res.filter((r) => r.status === 0).length} x no reply; ${disks.length - before} disks added\n`,
    );
    await checkChild(cp, PREFIX, {}, 'after a SIGKILL during a burst of adds');
  });

  it('a clean stop (SIGTERM) after the crash-restarts releases every path, the adopted ones too, within 10 s', async () => {
    const n = tgtdProcs(PREFIX).length;
    const t0 = Date.now();
    await cp.kill('SIGTERM');
    const ms = Date.now() - t0;
    measured(`clean stop releasing ${n} paths (most adopted from crashed runs)`, ms);
    assert.deepEqual(tgtdProcs(PREFIX), [], 'no tgtd left after a clean stop');
    assert.ok(ms < 10_000, `stopped in ${ms} ms`);
  });
});
