/**
 * Fault: the tgt driver's run dir (where it records each tgtd's PID, control port and spec) is on a
 * full filesystem when a path is to be served.
 * Guarantee: serve() fails with an error, and leaves no tgtd behind that nothing tracks (an untracked
 * tgtd is invisible to reconcile, unserve and fencing, and a retry would start a second one on the
 * same portal). A portal that cannot be recorded leaves the disk's tgtd serving the others, and the
 * retry with space back serves them all with that same tgtd.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { type TargetSpec, TgtDriver } from '../../src/adapters/tgt/tgt.js';
import { ISCSI_TOOLS, capacity, lunUrl } from '../helpers/iscsi.js';
import { missingTools } from '../helpers/product.js';
import { killTgtds, tgtdProcs } from './lib/procs.js';

const OCTET = 67;
const PREFIX = `127.${OCTET}.`;
const IP = `${PREFIX}1.10`;
const IP2 = `${PREFIX}2.10`;
const DISK = '00009';
const IQN = 'iqn.2016-05.io.portway.test:00009';
const isRoot = process.getuid?.() === 0;
const skip = missingTools(ISCSI_TOOLS) ?? (isRoot ? undefined : 'needs root to mount a tmpfs');

/** Fills the tmpfs at mnt up to its last byte. */
function fillUp(mnt: string): void {
  const fd = openSync(join(mnt, 'fill'), 'w');
  try {
    for (;;) writeSync(fd, Buffer.alloc(512));
  } catch {
  } finally {
    closeSync(fd);
  }
}

describe('fault: the tgt run dir is on a full filesystem', { skip, timeout: 60_000 }, () => {
  let dir: string;
  let mnt: string;
  let driver: TgtDriver;
  let spec: TargetSpec;
  const fill = () => fillUp(mnt);

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
      iqn: IQN,
      backing: { bstype: 'rdwr', path: img, bsopts: '' },
      acl: '',
      chapUser: '',
      chapPassword: '',
      serial: '00009',
    };
    mkdirSync(join(mnt, 'tgt'));
    fill();
  });
  after(async () => {
    await killTgtds(PREFIX);
    execFileSync('umount', [mnt]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('serve fails and no tgtd is left running, however often the agent retries', async () => {
    for (let attempt = 1; attempt <= 3; attempt++) {
      await assert.rejects(driver.serve(DISK, spec, [IP]), `attempt ${attempt} fails: the state cannot be recorded`);
      const left = tgtdProcs(PREFIX);
      assert.deepEqual(left, [], `attempt ${attempt}: no untracked tgtd on ${IP} (found pids ${left.map((p) => p.pid).join(' ')})`);
    }
  });

  it('space back: serve works, with exactly one tgtd', async () => {
    rmSync(join(mnt, 'fill'));
    await killTgtds(PREFIX); // whatever the failed attempts leaked, so this step tests only recovery
    await driver.serve(DISK, spec, [IP]);
    assert.equal(tgtdProcs(PREFIX).length, 1);
    await driver.unserve(DISK);
    assert.equal(tgtdProcs(PREFIX).length, 0);
  });

  it('a portal added while it is full: serve fails, the tgtd serves on; space back, the retry serves both portals with it', async () => {
    await driver.serve(DISK, spec, [IP]);
    const before = tgtdProcs(PREFIX).map((p) => p.pid);
    assert.equal(before.length, 1);
    fill();
    try {
      await assert.rejects(driver.serve(DISK, spec, [IP, IP2]), 'the portal change cannot be recorded');
      assert.deepEqual(
        tgtdProcs(PREFIX).map((p) => p.pid),
        before,
        'the same tgtd, no other',
      );
      assert.equal(await capacity(lunUrl(IP, IQN)), 64 * 1024 * 1024, 'the first portal serves on');
    } finally {
      rmSync(join(mnt, 'fill'));
    }
    // The tgtd may hold the new portal already (added, then the record failed): the retry takes it as done.
    await driver.serve(DISK, spec, [IP, IP2]);
    assert.deepEqual(
      tgtdProcs(PREFIX).map((p) => p.pid),
      before,
    );
    assert.equal(await capacity(lunUrl(IP2, IQN)), 64 * 1024 * 1024);
    await driver.unserve(DISK);
    assert.equal(tgtdProcs(PREFIX).length, 0);
  });
});
