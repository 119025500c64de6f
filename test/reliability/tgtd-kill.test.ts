/**
 * Fault: the tgtd under a served path is killed (SIGKILL by the PID in <stateDir>/run/tgt/<ip>.json).
 * Guarantee: the agent notices the tgtd is gone (it checks its tgtds' PIDs every 0.5 s) and starts a
 * new tgtd with the same target; the data written before is intact; no path is ever served twice.
 * The agent's periodic resync is off here (1 h): only that check can bring the portal back.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ISCSI_TOOLS, discover, lunUrl, verifyPattern, writePattern } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';
import { measured } from './lib/common.js';
import { assertConsistent, snapshot } from './lib/consistency.js';
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
  let ips: string[];
  const statePid = (ip: string) => JSON.parse(readFileSync(join(tp.settings.stateDir, 'run', 'tgt', `${ip}.json`), 'utf8')).pid as number;
  const check = async (what: string) =>
    assertConsistent(
      await snapshot(tp.product.store, tp.product.images, PREFIX),
      { settled: true, backingOf: (n) => join(tp.settings.stateDir, 'images', `${n}.img`) },
      what,
    );

  /** Waits until ip is served by a live tgtd other than oldPid that answers discovery; returns ms. */
  const restored = async (ip: string, oldPid: number, t0: number): Promise<number> => {
    await waitFor(
      async () => {
        const procs = tgtdProcs(PREFIX).filter((p) => p.ip === ip);
        assert.ok(procs.length <= 1, `never two tgtds on ${ip}: ${JSON.stringify(procs)}`);
        if (procs.length !== 1 || procs[0]?.pid === oldPid) return false;
        return discover(ip).then(
          (t) => t.includes(iqn),
          () => false,
        );
      },
      { what: `${ip} restored after its tgtd was killed`, timeoutMs: RESTORE_BOUND_MS - (Date.now() - t0) },
    );
    return Date.now() - t0;
  };

  before(async () => {
    tp = await startTestProduct(OCTET, { agent: { enabled: true, leaseTtlSeconds: 6, resyncSeconds: 3600 } });
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('victim', { activePaths: 2, subnet: 3 }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    iqn = r.json.disk.iqn;
    await waitFor(async () => (await api(tp.product, 'GET', `/api/v1/disks/${r.json.disk.id}`)).json.disk.status === 'started', {
      what: 'the disk started',
    });
    ips = (await api(tp.product, 'GET', `/api/v1/disks/${r.json.disk.id}/paths`)).json.paths.map((p: { ip: string }) => p.ip);
    await writePattern(lunUrl(ips[0] as string, iqn), 0xa1, 0, 4 * MiB);
    await writePattern(lunUrl(ips[1] as string, iqn), 0xb2, 8 * MiB, 4 * MiB);
    await check('before the fault');
  });
  after(async () => {
    await tp?.cleanup();
  });

  it('one tgtd killed: restored at once (not at a resync), data intact', async () => {
    const ip = ips[0] as string;
    const pid = statePid(ip);
    assert.ok(alive(pid));
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    await waitDead(pid);
    await assert.rejects(discover(ip), 'the portal is down right after the kill');
    const ms = await restored(ip, pid, t0);
    measured('tgtd SIGKILL -> portal serves the target again', ms);
    assert.equal(await verifyPattern(lunUrl(ip, iqn), 0xa1, 0, 4 * MiB), true, 'data written through the killed path');
    assert.equal(await verifyPattern(lunUrl(ip, iqn), 0xb2, 8 * MiB, 4 * MiB), true, 'data written through the other path');
    await check('after the tgtd was restored');
  });

  it('every tgtd of the disk killed at once: both paths restored, data intact', async () => {
    const pids = ips.map(statePid);
    const t0 = Date.now();
    for (const p of pids) process.kill(p, 'SIGKILL');
    const times = await Promise.all(ips.map((ip, i) => restored(ip, pids[i] as number, t0)));
    measured('both tgtds SIGKILLed -> both portals serve again', Math.max(...times));
    for (const ip of ips) {
      assert.equal(await verifyPattern(lunUrl(ip, iqn), 0xa1, 0, 4 * MiB), true);
      assert.equal(await verifyPattern(lunUrl(ip, iqn), 0xb2, 8 * MiB, 4 * MiB), true);
    }
    await check('after both tgtds were restored');
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
