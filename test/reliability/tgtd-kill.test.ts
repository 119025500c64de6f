/**
 * Fault: the tgtd of a served disk is killed (SIGKILL by the PID in <stateDir>/run/tgt/<disk id>.json).
 * One tgtd serves a disk on every path IP its node holds (each a portal), so the kill takes down every
 * path of the disk on that node at once.
 * Guarantee: the agent notices the tgtd is gone (it checks its tgtds' PIDs every 0.5 s) and starts a
 * new tgtd with the same target on every portal; the data written before is intact; a portal is never
 * served by two tgtds, and the disk never by two tgtds at once. The agent's periodic resync is off here
 * (1 h): only that check can bring the portals back.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ISCSI_TOOLS, discover, lunUrl, verifyPattern, writePattern } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';
import { measured } from './lib/common.js';
import { assertConsistent, showPortals, snapshot } from './lib/consistency.js';
import { alive, tgtdProcs, waitDead } from './lib/procs.js';

const skip = missingTools(ISCSI_TOOLS);
const OCTET = 63;
const PREFIX = `127.${OCTET}.`;
/** How long a restore may take at most before the test fails (the agent's check is every 0.5 s). */
const RESTORE_BOUND_MS = 15_000;
const MiB = 1024 * 1024;

describe('fault: tgtd killed under a served path', { skip, timeout: 120_000 }, () => {
  let tp: TestProduct;
  let iqn: string;
  let id: string;
  let ips: string[];
  /** The disk's tgtd record (one per disk: <run>/tgt/<disk id>.json). */
  const record = () =>
    JSON.parse(readFileSync(join(tp.settings.stateDir, 'run', 'tgt', `${id}.json`), 'utf8')) as { pid: number; portals: string[]; disk: string };
  const check = async (what: string) =>
    assertConsistent(
      await snapshot(tp.product.store, tp.product.images, PREFIX),
      { settled: true, backingOf: (n) => join(tp.settings.stateDir, 'images', `${n}.img`) },
      what,
    );

  /**
   * Waits until one live tgtd other than oldPid holds every path IP as a portal and each answers
   * discovery with the disk's target; returns ms since t0 and the new pid. Never two tgtds meanwhile
   * (one disk on one box: one tgtd).
   */
  const restored = async (oldPid: number, t0: number): Promise<{ ms: number; pid: number }> => {
    const pid = await waitFor(
      async () => {
        const procs = tgtdProcs(PREFIX);
        assert.ok(procs.length <= 1, `never two tgtds for the disk: ${JSON.stringify(procs)}`);
        const p = procs[0];
        if (!p || p.pid === oldPid) return undefined;
        const portals = (await showPortals(p.controlPort)) ?? [];
        if (!ips.every((ip) => portals.includes(ip))) return undefined;
        for (const ip of ips)
          if (
            !(await discover(ip).then(
              (t) => t.includes(iqn),
              () => false,
            ))
          )
            return undefined;
        return p.pid;
      },
      { what: `${ips.join(' and ')} restored after the disk's tgtd was killed`, timeoutMs: RESTORE_BOUND_MS - (Date.now() - t0) },
    );
    return { ms: Date.now() - t0, pid };
  };
  const dataIntact = async () => {
    for (const ip of ips) {
      assert.equal(await verifyPattern(lunUrl(ip, iqn), 0xa1, 0, 4 * MiB), true, `data written through ${ips[0]}, read through ${ip}`);
      assert.equal(await verifyPattern(lunUrl(ip, iqn), 0xb2, 8 * MiB, 4 * MiB), true, `data written through ${ips[1]}, read through ${ip}`);
    }
  };

  before(async () => {
    tp = await startTestProduct(OCTET, { agent: { enabled: true, leaseTtlSeconds: 6, resyncSeconds: 3600 } });
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('victim', { activePaths: 2, subnet: 3 }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    iqn = r.json.disk.iqn;
    id = r.json.disk.id;
    await waitFor(async () => (await api(tp.product, 'GET', `/api/v1/disks/${r.json.disk.id}`)).json.disk.status === 'started', {
      what: 'the disk started',
    });
    ips = (await api(tp.product, 'GET', `/api/v1/disks/${r.json.disk.id}/paths`)).json.paths.map((p: { ip: string }) => p.ip);
    await writePattern(lunUrl(ips[0] as string, iqn), 0xa1, 0, 4 * MiB);
    await writePattern(lunUrl(ips[1] as string, iqn), 0xb2, 8 * MiB, 4 * MiB);
    await check('before the fault');
    const rec = record();
    assert.equal(rec.disk, id);
    assert.deepEqual([...rec.portals].sort(), [...ips].sort(), 'one tgtd holds both path IPs as portals');
    assert.equal(tgtdProcs(PREFIX).length, 1, 'one tgtd for the disk');
  });
  after(async () => {
    await tp?.cleanup();
  });

  it("the disk's tgtd killed: both paths down, restored at once (not at a resync), data intact", async () => {
    const { pid } = record();
    assert.ok(alive(pid));
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    await waitDead(pid);
    for (const ip of ips) await assert.rejects(discover(ip), `portal ${ip} is down right after the kill`);
    const { ms, pid: newPid } = await restored(pid, t0);
    measured('disk tgtd SIGKILL -> both portals serve the target again', ms);
    assert.equal(record().pid, newPid, 'the record names the new tgtd');
    await dataIntact();
    await check('after the tgtd was restored');
  });

  it('the restored tgtd killed again: the agent tracks the new pid and restores it again, data intact', async () => {
    const { pid } = record();
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    await waitDead(pid);
    const { ms } = await restored(pid, t0);
    measured('restored tgtd SIGKILLed again -> both portals serve again', ms);
    await dataIntact();
    await check('after the second restore');
  });

  it('a write right after the restore lands in the image (the new tgtd has the same backing file)', async () => {
    const ip = ips[1] as string;
    await writePattern(lunUrl(ip, iqn), 0xc3, 16 * MiB, MiB);
    assert.equal(await verifyPattern(lunUrl(ips[0] as string, iqn), 0xc3, 16 * MiB, MiB), true);
    const fd = openSync(join(tp.settings.stateDir, 'images', 'image-00001.img'), 'r');
    const buf = Buffer.alloc(MiB);
    readSync(fd, buf, 0, MiB, 16 * MiB);
    closeSync(fd);
    assert.ok(buf.every((b) => b === 0xc3));
  });
});
