/**
 * Fault: the tgt driver's run dir (where it records each tgtd's PID, control port and spec) is on a
 * full filesystem when a path is to be served.
 * Guarantee: serve() fails with an error, and leaves no tgtd behind that nothing tracks (an untracked
 * tgtd is invisible to reconcile, unserve and fencing, and a retry would start a second one on the
 * same portal).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { type TargetSpec, TgtDriver } from '../../src/adapters/tgt/tgt.js';
import { ISCSI_TOOLS } from '../helpers/iscsi.js';
import { missingTools } from '../helpers/product.js';
import { killTgtds, tgtdProcs } from './lib/procs.js';

const OCTET = 67;
const PREFIX = `127.${OCTET}.`;
const IP = `${PREFIX}1.10`;
const isRoot = process.getuid?.() === 0;
const skip = missingTools(ISCSI_TOOLS) ?? (isRoot ? undefined : 'needs root to mount a tmpfs');

describe('fault: the tgt run dir is on a full filesystem', { skip, timeout: 60_000 }, () => {
  let dir: string;
  let mnt: string;
  let driver: TgtDriver;
  let spec: TargetSpec;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portway-tgtfull-'));
    mnt = join(dir, 'run');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', mnt]);
    const img = join(dir, 'disk.img');
    writeFileSync(img, '');
    truncateSync(img, 64 * 1024 * 1024);
    driver = new TgtDriver({
      runDir: join(mnt, 'tgt'),
      logDir: join(dir, 'log'),
      controlPortBase: 20000 + OCTET * 100,
      log: pino({ level: 'silent' }),
    });
    spec = {
      iqn: 'iqn.2016-05.io.portway.test:00009',
      backing: { bstype: 'rdwr', path: img, bsopts: '' },
      acl: '',
      chapUser: '',
      chapPassword: '',
      serial: '00009',
    };
    mkdirSync(join(mnt, 'tgt'));
    const fd = openSync(join(mnt, 'fill'), 'w');
    try {
      for (;;) writeSync(fd, Buffer.alloc(512));
    } catch {
    } finally {
      closeSync(fd);
    }
  });
  after(async () => {
    await killTgtds(PREFIX);
    execFileSync('umount', [mnt]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('serve fails and no tgtd is left running, however often the agent retries', async () => {
    for (let attempt = 1; attempt <= 3; attempt++) {
      await assert.rejects(driver.serve(IP, spec), `attempt ${attempt} fails: the state cannot be recorded`);
      const left = tgtdProcs(PREFIX);
      assert.deepEqual(left, [], `attempt ${attempt}: no untracked tgtd on ${IP} (found pids ${left.map((p) => p.pid).join(' ')})`);
    }
  });

  it('space back: serve works, with exactly one tgtd', async () => {
    rmSync(join(mnt, 'fill'));
    await killTgtds(PREFIX); // whatever the failed attempts leaked, so this step tests only recovery
    await driver.serve(IP, spec);
    assert.equal(tgtdProcs(PREFIX).length, 1);
    await driver.unserve(IP);
    assert.equal(tgtdProcs(PREFIX).length, 0);
  });
});
