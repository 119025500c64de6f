/** The tgt driver against real tgtd: one daemon per portal, idempotent serve, restore, clean stop. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { TgtDriver, type TargetSpec } from '../../src/adapters/target/tgt.js';
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
