/** The tgt driver against real tgtd: one daemon per portal, idempotent serve, restore, clean stop. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { TgtDriver, type TargetSpec } from '../../src/adapters/tgt/tgt.js';
import { ISCSI_TOOLS, capacity, discover, lunUrl } from '../helpers/iscsi.js';
import { missingTools, waitFor } from '../helpers/product.js';
import { alive } from '../helpers/procs.js';

const skip = missingTools(ISCSI_TOOLS);
const IP = '127.32.1.10';
const IQN = 'iqn.2016-05.io.portway.test:00007';

describe('TgtDriver on real tgtd', { skip }, () => {
  let dir: string;
  let driver: TgtDriver;
  let spec: TargetSpec;
  const pid = () => JSON.parse(readFileSync(join(dir, 'run', `${IP}.json`), 'utf8')).pid as number;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-tgt-'));
    const img = join(dir, 'disk.img');
    writeFileSync(img, '');
    truncateSync(img, 64 * 1024 * 1024);
    driver = new TgtDriver({ runDir: join(dir, 'run'), logDir: join(dir, 'log'), controlPortBase: 23200, log: pino({ level: 'silent' }) });
    spec = { iqn: IQN, backing: { bstype: 'rdwr', path: img, bsopts: '' }, acl: '', chapUser: '', chapPassword: '', serial: '00007' };
  });
  after(async () => {
    await driver.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a target on exactly its portal', async () => {
    await driver.serve(IP, spec);
    assert.deepEqual(await discover(IP), [IQN]);
    assert.equal(await capacity(lunUrl(IP, IQN)), 64 * 1024 * 1024);
    await assert.rejects(discover('127.32.1.11'), 'nothing listens on another IP');
  });

  it('serving the same spec again leaves the daemon and target alone', async () => {
    const before = pid();
    await driver.serve(IP, spec);
    assert.equal(pid(), before);
  });

  it('a changed ACL is applied: the old initiator is refused', async () => {
    const allowed = 'iqn.2016-05.io.portway.test:host-a';
    await driver.serve(IP, { ...spec, acl: allowed });
    assert.equal(await capacity(lunUrl(IP, IQN), allowed), 64 * 1024 * 1024);
    await assert.rejects(capacity(lunUrl(IP, IQN), 'iqn.2016-05.io.portway.test:host-b'));
    await driver.serve(IP, spec);
  });

  it('a killed tgtd is restarted by the next serve', async () => {
    const old = pid();
    process.kill(old, 'SIGKILL');
    await waitFor('tgtd to die', async () => !alive(old));
    assert.equal((await driver.portals()).find((p) => p.ip === IP)?.alive, false);
    await driver.serve(IP, spec);
    assert.notEqual(pid(), old);
    assert.equal(await capacity(lunUrl(IP, IQN)), 64 * 1024 * 1024);
  });

  it('rejects input that is not an IP or an IQN before running anything', async () => {
    await assert.rejects(driver.serve('127.0.0.1; rm -rf /', spec), /invalid portal IP/);
    await assert.rejects(driver.serve(IP, { ...spec, iqn: 'bad iqn' }), /invalid target IQN/);
  });

  it('kills the tgtds of its path IPs that no state file records (a crash between start and record), and only those', async () => {
    await driver.serve(IP, spec);
    const recorded = pid();
    // As a previous run would have left them: one on a path IP of the cluster, one on another IP.
    const start = (ip: string, cp: number) => {
      const c = spawn('tgtd', ['-f', '-C', String(cp), '--iscsi', `portal=${ip}:3260`], { detached: true, stdio: 'ignore' });
      c.unref();
      return c.pid as number;
    };
    const stray = start('127.32.1.11', 23290);
    const foreign = start('127.32.1.12', 23291);
    try {
      for (const p of [stray, foreign])
        await waitFor(`tgtd ${p} started`, async () => readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0]?.endsWith('tgtd') || undefined);
      const killed = await driver.killUnrecorded(new Set([IP, '127.32.1.11']));
      assert.deepEqual(killed, [{ pid: stray, ip: '127.32.1.11' }]);
      assert.equal(alive(stray), false, 'the unrecorded tgtd on a path IP is gone');
      assert.ok(alive(recorded), 'the recorded tgtd serving the path is left alone');
      assert.ok(alive(foreign), 'a tgtd on an IP that is not a path of this cluster is left alone');
      assert.equal(await capacity(lunUrl(IP, IQN)), 64 * 1024 * 1024);
      assert.deepEqual(await driver.killUnrecorded(new Set([IP, '127.32.1.11'])), []);
    } finally {
      for (const p of [stray, foreign]) if (alive(p)) process.kill(p, 'SIGKILL');
      for (const cp of [23290, 23291]) for (const f of [`socket.${cp}`, `socket.${cp}.lock`]) rmSync(join('/var/run/tgtd', f), { force: true });
    }
  });

  it('unserve stops the daemon and removes its state and control socket', async () => {
    const p = pid();
    const cp = JSON.parse(readFileSync(join(dir, 'run', `${IP}.json`), 'utf8')).controlPort as number;
    await driver.unserve(IP);
    assert.equal(alive(p), false);
    assert.equal(existsSync(join(dir, 'run', `${IP}.json`)), false);
    assert.equal(existsSync(`/var/run/tgtd/socket.${cp}`), false);
    await assert.rejects(discover(IP));
  });
});
