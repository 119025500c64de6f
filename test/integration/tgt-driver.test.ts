/**
 * The tgt driver against real tgtd: one daemon per disk holding every portal of that disk, portals
 * added and removed at run time (sessions on the others kept), one target per tgtd, idempotent serve,
 * restore, legacy per-IP records taken over, a live tgtd's control socket never removed, clean stop.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { firstControlPort, holdsPortLock, lockHolder, type TargetSpec, TgtDriver } from '../../src/adapters/tgt/tgt.js';
import { request } from '../../src/adapters/tgt/tgt-control.js';
import { ISCSI_TOOLS, capacity, discover, lunUrl } from '../helpers/iscsi.js';
import { missingTools, waitFor } from '../helpers/product.js';
import { alive } from '../helpers/procs.js';
import { PW_SCSI, ScsiSession } from '../helpers/scsi-session.js';

const skip = missingTools(ISCSI_TOOLS);
const noPwScsi = existsSync(PW_SCSI) ? undefined : `${PW_SCSI} is missing: run scripts/setup.sh`;
const SOCKETS = '/var/run/tgtd';
const IQN_BASE = 'iqn.2016-05.io.portway.test';
const MiB = 1024 * 1024;
const quiet = () => pino({ level: 'silent' });

const DISK = '00007';
const IQN = `${IQN_BASE}:${DISK}`;
const IP = '127.32.1.10';
const IP_B = '127.32.1.20';
const DISK2 = '00008';
const IQN2 = `${IQN_BASE}:${DISK2}`;
const IP2 = '127.32.1.30';
const IP2_B = '127.32.1.31';

function specOf(disk: string, img: string): TargetSpec {
  return {
    iqn: `${IQN_BASE}:${disk}`,
    backing: { bstype: 'rdwr', path: img, bsopts: '' },
    acl: '',
    chapUser: '',
    chapPassword: '',
    serial: disk,
  };
}

function image(dir: string, name: string, bytes: number): string {
  const img = join(dir, name);
  writeFileSync(img, '');
  truncateSync(img, bytes);
  return img;
}

/** The connection is refused (nothing listens on ip:3260). */
function refused(ip: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: ip, port: 3260 });
    s.setTimeout(2000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** Targets a portal advertises, each once (SendTargets lists a target once per portal of its tgtd). */
const targetsAt = async (ip: string) => [...new Set(await discover(ip))];

/** A tgtd started by hand (as an older Portway or another instance would have): -f, control port cp, one portal. */
async function handTgtd(ip: string, cp: number): Promise<number> {
  assert.equal(existsSync(join(SOCKETS, `socket.${cp}`)), false, `control port ${cp} is free for this test`);
  const c = spawn('tgtd', ['-f', '-C', String(cp), '--iscsi', `portal=${ip}:3260`], { detached: true, stdio: 'ignore' });
  c.unref();
  const pid = c.pid as number;
  await waitFor(
    `hand-started tgtd ${pid} to answer on ${cp}`,
    () =>
      request(cp, { mode: 'system', op: 'show' }).then(
        () => true,
        () => undefined,
      ),
    15_000,
    25,
  );
  return pid;
}

/** Stops a hand-started tgtd by its PID and removes its socket. */
async function stopHandTgtd(pid: number, cp: number): Promise<void> {
  if (alive(pid)) {
    await request(cp, { mode: 'system', op: 'delete' }).catch(() => {});
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    await waitFor(`tgtd ${pid} to exit`, async () => !alive(pid));
  }
  for (const f of [`socket.${cp}`, `socket.${cp}.lock`]) rmSync(join(SOCKETS, f), { force: true });
}

/** The I_T nexus ids of tid 1 in a tgtd (its sessions). */
async function nexuses(cp: number): Promise<string[]> {
  const { text } = await request(cp, { lld: 'iscsi', mode: 'target', op: 'show' });
  return [...text.matchAll(/^\s*I_T nexus: (\d+)$/gm)].map((m) => m[1] as string);
}

describe('TgtDriver on real tgtd', { skip }, () => {
  let dir: string;
  let driver: TgtDriver;
  let spec: TargetSpec;
  let spec2: TargetSpec;
  const state = (disk = DISK) =>
    JSON.parse(readFileSync(join(dir, 'run', `${disk}.json`), 'utf8')) as {
      pid: number;
      controlPort: number;
      portals: string[];
      ip: string;
    };
  const pid = (disk = DISK) => state(disk).pid;
  const unit = async (key: string) => (await driver.units()).find((u) => u.key === key);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-tgt-'));
    driver = new TgtDriver({ runDir: join(dir, 'run'), logDir: join(dir, 'log'), controlPortBase: 23200, log: quiet() });
    spec = specOf(DISK, image(dir, 'disk.img', 64 * MiB));
    spec2 = specOf(DISK2, image(dir, 'disk2.img', 32 * MiB));
  });
  after(async () => {
    await driver.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a target on exactly its portal, recorded under the disk id', async () => {
    await driver.serve(DISK, spec, [IP]);
    assert.deepEqual(await discover(IP), [IQN]);
    assert.equal(await capacity(lunUrl(IP, IQN)), 64 * MiB);
    await assert.rejects(discover('127.32.1.11'), 'nothing listens on another IP');
    const s = state();
    assert.deepEqual([s.ip, s.portals], [IP, [IP]]);
    assert.ok(existsSync(join(dir, 'log', 'tgtd.log')), "tgtds' output goes to the driver's tgtd.log");
    const u = await unit(DISK);
    assert.deepEqual(u, { key: DISK, disk: DISK, ip: IP, portals: [IP], pid: s.pid, controlPort: s.controlPort, alive: true });
  });

  it("its control port's lock is seen through the tgtd's own open files (fdinfo), as /proc/locks has it", () => {
    const s = state();
    assert.equal(holdsPortLock(SOCKETS, s.controlPort, s.pid), true);
    assert.equal(lockHolder(SOCKETS, s.controlPort), s.pid);
    assert.equal(holdsPortLock(SOCKETS, s.controlPort, process.pid), undefined, 'another process does not hold it');
    assert.equal(holdsPortLock(SOCKETS, s.controlPort === 32767 ? 32766 : s.controlPort + 1, s.pid), undefined, "another port's lock is not its");
  });

  it('serving the same spec again leaves the daemon and target alone', async () => {
    const before = pid();
    await driver.serve(DISK, spec, [IP]);
    assert.equal(pid(), before);
  });

  it('a changed ACL is applied: the old initiator is refused', async () => {
    const allowed = `${IQN_BASE}:host-a`;
    await driver.serve(DISK, { ...spec, acl: allowed }, [IP]);
    assert.equal(await capacity(lunUrl(IP, IQN), allowed), 64 * MiB);
    await assert.rejects(capacity(lunUrl(IP, IQN), `${IQN_BASE}:host-b`));
    await driver.serve(DISK, spec, [IP]);
  });

  it('a killed tgtd is restarted by the next serve', async () => {
    const old = pid();
    process.kill(old, 'SIGKILL');
    await waitFor('tgtd to die', async () => !alive(old));
    assert.equal((await unit(DISK))?.alive, false);
    await driver.serve(DISK, spec, [IP]);
    assert.notEqual(pid(), old);
    assert.equal((await unit(DISK))?.alive, true);
    assert.equal(await capacity(lunUrl(IP, IQN)), 64 * MiB);
  });

  it('rejects input that is not a disk id, an IP or an IQN before running anything', async () => {
    await assert.rejects(driver.serve(DISK, spec, ['127.0.0.1; rm -rf /']), /invalid portal IP/);
    await assert.rejects(driver.serve(DISK, spec, [IP, '127.32.1.300']), /invalid portal IP/);
    await assert.rejects(driver.serve(DISK, { ...spec, iqn: 'bad iqn' }, [IP]), /invalid target IQN/);
    await assert.rejects(driver.serve('7', spec, [IP]), /invalid disk id/);
    await assert.rejects(driver.serve('../00007', spec, [IP]), /invalid disk id/);
    await assert.rejects(driver.serve(DISK, spec, []), /no portal/);
    assert.deepEqual(state().portals, [IP], 'nothing changed');
  });

  it('a portal added at run time: the session on the first keeps working, the new portal answers, same tgtd', {
    skip: noPwScsi,
  }, async () => {
    const before = state();
    const host = `${IQN_BASE}:host-session`;
    const s = await ScsiSession.open(lunUrl(IP, IQN), { initiator: host });
    try {
      // A new session's first command sees the power-on unit attention; then commands are GOOD.
      assert.equal((await s.send('tur')).sense?.key, 'UNIT_ATTENTION');
      assert.equal((await s.send('read 0 8')).status, 'GOOD');
      const nexus = await nexuses(before.controlPort);
      assert.equal(nexus.length, 1, 'one session');
      await driver.serve(DISK, spec, [IP_B, IP]);
      // The session logged in before the change is the same I_T nexus and still does I/O, with no
      // unit attention (nothing was reset).
      for (let lba = 0; lba < 64; lba += 8) assert.equal((await s.send(`read ${lba} 8`)).status, 'GOOD', `read at ${lba} after the portal was added`);
      assert.deepEqual(await nexuses(before.controlPort), nexus, 'the session was not dropped or re-established');
      assert.equal(await capacity(lunUrl(IP_B, IQN)), 64 * MiB, 'the new portal serves the LUN');
      assert.equal((await s.send('readcap')).status, 'GOOD');
    } finally {
      await s.close();
    }
    const after = state();
    assert.equal(after.pid, before.pid, 'no new tgtd');
    assert.deepEqual(after.portals, [IP_B, IP].sort());
    assert.equal(after.ip, IP, 'the start portal is still the one on its command line');
  });

  it('a disk served on two portals: both discover exactly its one target, one tgtd for both', async () => {
    await driver.serve(DISK, spec, [IP, IP_B]);
    const p = pid();
    assert.deepEqual(await targetsAt(IP), [IQN]);
    assert.deepEqual(await targetsAt(IP_B), [IQN]);
    assert.equal(await capacity(lunUrl(IP, IQN)), 64 * MiB);
    assert.equal(await capacity(lunUrl(IP_B, IQN)), 64 * MiB);
    const units = await driver.units();
    assert.equal(units.length, 1);
    assert.deepEqual(units[0], {
      key: DISK,
      disk: DISK,
      ip: IP,
      portals: [IP, IP_B],
      pid: p,
      controlPort: state().controlPort,
      alive: true,
    });
    // An agent restarted (a new driver on the same run dir) adopts it: same tgtd, nothing restarted.
    const again = new TgtDriver({ runDir: join(dir, 'run'), logDir: join(dir, 'log'), controlPortBase: 23200, log: quiet() });
    await again.serve(DISK, spec, [IP_B, IP]);
    assert.equal(pid(), p);
    assert.deepEqual(
      (await again.units()).map((u) => [u.key, u.pid, u.alive]),
      [[DISK, p, true]],
    );
    // A crash after `portal new` and before the record: the record lacks a portal the tgtd has. The
    // next serve adds it again (tgtd answers "invalid request") and takes that as done.
    writeFileSync(join(dir, 'run', `${DISK}.json`), JSON.stringify({ ...state(), portals: [IP] }));
    const restarted = new TgtDriver({ runDir: join(dir, 'run'), logDir: join(dir, 'log'), controlPortBase: 23200, log: quiet() });
    await restarted.serve(DISK, spec, [IP, IP_B]);
    assert.deepEqual([state().pid, state().portals], [p, [IP, IP_B]]);
    assert.deepEqual(await targetsAt(IP_B), [IQN]);
  });

  it('a portal removed at run time stops answering (connection refused); the other still serves, same tgtd', async () => {
    const p = pid();
    // The start portal (the one on tgtd's command line) goes: the tgtd stays, and is still recognised as ours.
    await driver.serve(DISK, spec, [IP_B]);
    await waitFor(`${IP}:3260 to refuse connections`, () => refused(IP), 5000, 25);
    assert.equal(await capacity(lunUrl(IP_B, IQN)), 64 * MiB);
    assert.deepEqual(await targetsAt(IP_B), [IQN]);
    assert.equal(pid(), p);
    assert.deepEqual(await unit(DISK), {
      key: DISK,
      disk: DISK,
      ip: IP,
      portals: [IP_B],
      pid: p,
      controlPort: state().controlPort,
      alive: true,
    });
    // And back.
    await driver.serve(DISK, spec, [IP, IP_B]);
    assert.equal(await capacity(lunUrl(IP, IQN)), 64 * MiB);
    assert.equal(pid(), p);
  });

  it("two disks on one driver: two tgtds, each portal shows only its own disk's target", async () => {
    await driver.serve(DISK2, spec2, [IP2, IP2_B]);
    const [p1, p2] = [pid(DISK), pid(DISK2)];
    assert.notEqual(p1, p2);
    assert.notEqual(state(DISK).controlPort, state(DISK2).controlPort);
    for (const ip of [IP, IP_B]) assert.deepEqual(await targetsAt(ip), [IQN], `${ip} shows disk ${DISK} only`);
    for (const ip of [IP2, IP2_B]) assert.deepEqual(await targetsAt(ip), [IQN2], `${ip} shows disk ${DISK2} only`);
    assert.equal(await capacity(lunUrl(IP2_B, IQN2)), 32 * MiB);
    await assert.rejects(capacity(lunUrl(IP, IQN2)), "disk 2 is not reachable through disk 1's portal");
    assert.deepEqual((await driver.units()).map((u) => u.key).sort(), [DISK, DISK2]);
  });

  it('a portal taken by another disk is freed from its tgtd first; a tgtd left without portals stops', async () => {
    const [p1, p2] = [pid(DISK), pid(DISK2)];
    await driver.serve(DISK2, spec2, [IP2, IP2_B, IP_B]);
    assert.deepEqual(await targetsAt(IP_B), [IQN2], `${IP_B} now serves disk ${DISK2}`);
    assert.deepEqual(await targetsAt(IP), [IQN], `${IP} still serves disk ${DISK}`);
    assert.deepEqual(state(DISK).portals, [IP]);
    assert.deepEqual([pid(DISK), pid(DISK2)], [p1, p2], 'both tgtds kept');
    // Its last portal taken: disk 1's tgtd has nothing left to serve and stops.
    await driver.serve(DISK2, spec2, [IP2, IP2_B, IP_B, IP]);
    assert.equal(alive(p1), false);
    assert.equal(existsSync(join(dir, 'run', `${DISK}.json`)), false);
    assert.deepEqual(await targetsAt(IP), [IQN2]);
    assert.equal(pid(DISK2), p2);
    // Both back as they were.
    await driver.serve(DISK2, spec2, [IP2, IP2_B]);
    await driver.serve(DISK, spec, [IP, IP_B]);
    assert.deepEqual(await targetsAt(IP), [IQN]);
    assert.deepEqual(await targetsAt(IP2), [IQN2]);
    await driver.unserve(DISK2);
    assert.equal(alive(p2), false);
  });

  it('kills the tgtds of its path IPs that no state file records (a crash between start and record), and only those', async () => {
    await driver.serve(DISK, spec, [IP]);
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
      assert.equal(await capacity(lunUrl(IP, IQN)), 64 * MiB);
      assert.deepEqual(await driver.killUnrecorded(new Set([IP, '127.32.1.11'])), []);
    } finally {
      for (const p of [stray, foreign]) if (alive(p)) process.kill(p, 'SIGKILL');
      for (const cp of [23290, 23291]) for (const f of [`socket.${cp}`, `socket.${cp}.lock`]) rmSync(join(SOCKETS, f), { force: true });
    }
  });

  it('unserve stops the daemon and removes its state and control socket', async () => {
    await driver.serve(DISK, spec, [IP, IP_B]);
    const { pid: p, controlPort: cp } = state();
    await driver.unserve(DISK);
    assert.equal(alive(p), false);
    assert.equal(existsSync(join(dir, 'run', `${DISK}.json`)), false);
    assert.equal(existsSync(join(SOCKETS, `socket.${cp}`)), false);
    assert.ok(await refused(IP));
    assert.ok(await refused(IP_B));
    assert.deepEqual(await driver.units(), []);
  });
});

describe('TgtDriver: a legacy per-IP record (one tgtd per path, before one per disk)', { skip }, () => {
  const LEGACY_IP = '127.32.1.40';
  const LEGACY_CP = 23292;
  const DISK3 = '00009';
  let dir: string;
  let legacyPid = 0;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-tgt-legacy-'));
  });
  after(async () => {
    if (legacyPid) await stopHandTgtd(legacyPid, LEGACY_CP);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is reported as unit ip:<ip>; serving a disk on its IP stops it and serves the disk', async () => {
    const img = image(dir, 'disk3.img', 16 * MiB);
    legacyPid = await handTgtd(LEGACY_IP, LEGACY_CP);
    const lld = 'iscsi';
    await request(LEGACY_CP, { lld, mode: 'target', op: 'new', tid: 1, params: { targetname: `${IQN_BASE}:legacy` } });
    await request(LEGACY_CP, { lld, mode: 'logicalunit', op: 'new', tid: 1, lun: 1, params: { path: img, bstype: 'rdwr' } });
    await request(LEGACY_CP, { lld, mode: 'target', op: 'bind', tid: 1, params: { 'initiator-address': 'ALL' } });
    assert.deepEqual(await discover(LEGACY_IP), [`${IQN_BASE}:legacy`]);
    // The record as the per-path driver wrote it: no disk, no portals.
    mkdirSync(join(dir, 'run'));
    writeFileSync(
      join(dir, 'run', `${LEGACY_IP}.json`),
      JSON.stringify({ ip: LEGACY_IP, pid: legacyPid, controlPort: LEGACY_CP, specHash: 'a'.repeat(32), iqn: `${IQN_BASE}:legacy` }),
    );
    const driver = new TgtDriver({ runDir: join(dir, 'run'), logDir: join(dir, 'log'), controlPortBase: 23220, log: quiet() });
    try {
      assert.deepEqual(await driver.units(), [
        { key: `ip:${LEGACY_IP}`, disk: '', ip: LEGACY_IP, portals: [LEGACY_IP], pid: legacyPid, controlPort: LEGACY_CP, alive: true },
      ]);
      await driver.serve(DISK3, specOf(DISK3, img), [LEGACY_IP]);
      assert.equal(alive(legacyPid), false, 'the legacy tgtd was stopped');
      assert.equal(existsSync(join(dir, 'run', `${LEGACY_IP}.json`)), false, 'its record is gone');
      assert.deepEqual(await discover(LEGACY_IP), [`${IQN_BASE}:${DISK3}`]);
      assert.equal(await capacity(lunUrl(LEGACY_IP, `${IQN_BASE}:${DISK3}`)), 16 * MiB);
      const units = await driver.units();
      assert.deepEqual(
        units.map((u) => [u.key, u.disk, u.portals, u.alive]),
        [[DISK3, DISK3, [LEGACY_IP], true]],
      );
      assert.notEqual(units[0]?.pid, legacyPid);
      // unserve takes a legacy unit's key too (nothing left of it here: a no-op).
      await driver.unserve(`ip:${LEGACY_IP}`);
      assert.equal((await driver.units()).length, 1);
    } finally {
      await driver.stopAll();
    }
    assert.ok(await refused(LEGACY_IP));
  });
});

describe('TgtDriver: the control socket of a live tgtd is never removed', { skip }, () => {
  const CP = 23240;
  const HAND_IP = '127.32.1.50';
  const DISK4 = '00010';
  const DISK4_IP = '127.32.1.51';
  let dir: string;
  let handPid = 0;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-tgt-socket-'));
  });
  after(async () => {
    if (handPid) await stopHandTgtd(handPid, CP);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a recorded tgtd died and another took its control port: serve leaves that socket and picks another port', async () => {
    const img = image(dir, 'disk4.img', 16 * MiB);
    // A pid that is gone (a process that ran and was reaped).
    const dead = spawnSync('true').pid;
    assert.equal(alive(dead), false);
    handPid = await handTgtd(HAND_IP, CP);
    mkdirSync(join(dir, 'run'));
    writeFileSync(
      join(dir, 'run', `${DISK4}.json`),
      JSON.stringify({
        disk: DISK4,
        ip: DISK4_IP,
        portals: [DISK4_IP],
        pid: dead,
        controlPort: CP,
        specHash: 'b'.repeat(32),
        iqn: `${IQN_BASE}:${DISK4}`,
      }),
    );
    // Its control port base is such that the port taken is the first it would pick for this disk.
    const base = CP - (firstControlPort(0, DISK4) % 4096);
    assert.equal(firstControlPort(base, DISK4), CP);
    const driver = new TgtDriver({ runDir: join(dir, 'run'), logDir: join(dir, 'log'), controlPortBase: base, log: quiet() });
    try {
      assert.deepEqual(
        (await driver.units()).map((u) => [u.key, u.controlPort, u.alive]),
        [[DISK4, CP, false]],
      );
      await driver.serve(DISK4, specOf(DISK4, img), [DISK4_IP]);
      assert.ok(existsSync(join(SOCKETS, `socket.${CP}`)), "the live tgtd's socket is still there");
      assert.match((await request(CP, { mode: 'system', op: 'show' })).text, /State: ready/i, 'and it answers');
      assert.ok(alive(handPid), 'the other tgtd runs on');
      const units = await driver.units();
      assert.equal(units.length, 1);
      assert.notEqual(units[0]?.controlPort, CP, 'the driver picked another control port');
      assert.equal(units[0]?.alive, true);
      assert.equal(await capacity(lunUrl(DISK4_IP, `${IQN_BASE}:${DISK4}`)), 16 * MiB);
      // The hand-started tgtd's portal was not touched either.
      assert.equal(await refused(HAND_IP), false);
    } finally {
      await driver.stopAll();
    }
    assert.ok(existsSync(join(SOCKETS, `socket.${CP}`)), 'stopping the driver left the other socket alone too');
    await request(CP, { mode: 'system', op: 'show' });
  });
});

describe('TgtDriver warm pool on real tgtd', { skip }, () => {
  const DISK5 = '00011';
  const DISK5_IP = '127.32.1.61';
  const DISK5_IP_B = '127.32.1.62';
  let dir: string;
  let driver: TgtDriver;
  const warmFiles = () => readdirSync(join(dir, 'run')).filter((f) => f.startsWith('warm-') && f.endsWith('.json'));
  const warmStates = () =>
    warmFiles().map((f) => JSON.parse(readFileSync(join(dir, 'run', f), 'utf8')) as { pid: number; controlPort: number; launchPort: number });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-tgt-warm-'));
    driver = new TgtDriver({ runDir: join(dir, 'run'), logDir: join(dir, 'log'), controlPortBase: 23300, log: quiet() });
  });
  after(async () => {
    await driver.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps idle tgtds ready, serves a disk with one of them, and refills', async () => {
    await driver.warm(2, 'rdwr');
    await waitFor(
      async () => {
        const ws = warmStates();
        if (ws.length !== 2) return undefined;
        for (const w of ws)
          if (
            !(await request(w.controlPort, { mode: 'system', op: 'show' }).then(
              () => true,
              () => false,
            ))
          )
            return undefined;
        return true;
      },
      { what: 'two idle tgtds answering', timeoutMs: 20_000 },
    );
    const idle = warmStates();
    assert.deepEqual(await driver.units(), [], 'idle tgtds are not units: the agent never sees them as stale targets');
    for (const w of idle) {
      assert.ok(alive(w.pid));
      assert.equal(lockHolder(SOCKETS, w.controlPort), w.pid, 'it holds its control port');
      assert.deepEqual(await targetsAt('127.0.0.1').catch(() => []), [], 'nothing on the iSCSI port of 127.0.0.1');
    }

    const img = image(dir, 'disk5.img', 16 * MiB);
    const spec = specOf(DISK5, img);
    // A tgtd no record names holds one of the disk's portals (left by a start that was given up on):
    // the idle tgtd could not add that portal ("Address already in use"), so it is killed first.
    const stray = await handTgtd(DISK5_IP_B, 23390);
    try {
      await driver.serve(DISK5, spec, [DISK5_IP, DISK5_IP_B]);
      assert.equal(alive(stray), false, 'the unrecorded tgtd on the portal was killed');
    } finally {
      await stopHandTgtd(stray, 23390);
    }
    const [u] = await driver.units();
    assert.ok(u, 'one unit');
    assert.ok(
      idle.some((w) => w.pid === u.pid),
      `the disk is served by an idle tgtd (pid ${u.pid}, idle ${idle.map((w) => w.pid).join(',')})`,
    );
    assert.equal(u.alive, true);
    assert.deepEqual(u.portals, [DISK5_IP, DISK5_IP_B]);
    for (const ip of [DISK5_IP, DISK5_IP_B]) assert.deepEqual(await targetsAt(ip), [spec.iqn]);
    assert.equal(await driver.check(DISK5, spec, [DISK5_IP, DISK5_IP_B]), undefined, 'served means answering');
    const portals = (await request(u.controlPort, { lld: 'iscsi', mode: 'portal', op: 'show' })).text;
    assert.doesNotMatch(portals, /127\.0\.0\.1/, 'the placeholder portal is gone');
    assert.ok(!warmStates().some((w) => w.pid === u.pid), 'no longer recorded as idle');

    // The pool refills to two, none of them the disk's.
    await waitFor(() => warmStates().length === 2 && !warmStates().some((w) => w.pid === u.pid), { what: 'the pool refilled', timeoutMs: 20_000 });

    // A driver of a restarted agent adopts the disk's tgtd (same pid) and the idle ones.
    const again = new TgtDriver({ runDir: join(dir, 'run'), logDir: join(dir, 'log'), controlPortBase: 23300, log: quiet() });
    assert.deepEqual(
      (await again.units()).map((x) => [x.key, x.pid, x.alive]),
      [[DISK5, u.pid, true]],
    );
    await again.serve(DISK5, spec, [DISK5_IP, DISK5_IP_B]);
    assert.equal((await again.units())[0]?.pid, u.pid, 'the same tgtd');

    // A smaller pool stops the extra idle tgtds.
    const before = warmStates();
    await again.warm(1, 'rdwr');
    assert.equal(warmStates().length, 1);
    for (const w of before) if (!warmStates().some((x) => x.pid === w.pid)) await waitFor(() => !alive(w.pid), { what: `idle tgtd ${w.pid} to exit` });

    await again.stopAll();
    assert.deepEqual(warmFiles(), [], 'stopAll stops the pool too');
    assert.equal(alive(u.pid), false);
  });
});
