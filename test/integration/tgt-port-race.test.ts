/**
 * Control ports are owned by construction, against real tgtds: two drivers with the same port range
 * and one socket directory (two simulated nodes on one box, as the netns harness runs them) start ~60
 * disks' tgtds at once while tgtds are SIGKILLed mid-start. Afterwards every recorded tgtd holds its
 * own control port's lock, no two share a port, every live tgtd still has its control socket, and each
 * portal answers with its own disk's target.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { type TargetSpec, TgtDriver, lockHolder } from '../../src/adapters/tgt/tgt.js';
import { ISCSI_TOOLS, discover } from '../helpers/iscsi.js';
import { missingTools } from '../helpers/product.js';
import { mapSettled } from '../../src/util/async.js';

const skip = missingTools(ISCSI_TOOLS);
const SOCKETS = '/var/run/tgtd';
const PER_DRIVER = 30;
const BASE = 24_600;

describe('tgt control ports under a start race (two drivers, one range, tgtds killed mid-start)', { skip, timeout: 300_000 }, () => {
  let dir: string;
  let img: string;
  const drivers: TgtDriver[] = [];
  // The same disk numbers on both drivers, each driver's own target name: a portal answering with the
  // other driver's target would show.
  const spec = (d: number, disk: string): TargetSpec => ({
    iqn: `iqn.2016-05.io.portway.test:d${d}-${disk}`,
    backing: { bstype: 'rdwr', path: img, bsopts: '' },
    acl: '',
    chapUser: '',
    chapPassword: '',
    serial: `${d}${disk}`,
  });
  const ipOf = (d: number, i: number) => `127.36.${d}.${10 + i}`;
  // The same disk numbers on both drivers (each has its own run dir): each driver starts its port scan
  // at a place per disk number, so both race for the same ports, disk by disk.
  const diskOf = (_d: number, i: number) => String(i + 1).padStart(5, '0');

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-race-'));
    img = join(dir, 'disk.img');
    writeFileSync(img, '');
    truncateSync(img, 16 * 1024 * 1024);
    for (const d of [0, 1])
      drivers.push(new TgtDriver({ runDir: join(dir, `run${d}`), logDir: join(dir, `log${d}`), controlPortBase: BASE, log: pino({ level: 'silent' }) }));
  });
  after(async () => {
    for (const d of drivers) await d.stopAll().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('no two tgtds share a port, no live tgtd loses its socket, every portal shows its own disk', async () => {
    // A killer: SIGKILLs tgtds of this test's run dirs shortly after they start, a few times.
    let killed = 0;
    let stop = false;
    const killer = (async () => {
      const seen = new Set<number>();
      while (!stop) {
        for (const d of [0, 1]) {
          let files: string[] = [];
          try {
            files = readdirSync(join(dir, `run${d}`));
          } catch {}
          for (const f of files) {
            if (!f.endsWith('.json') || killed >= 8) continue;
            try {
              const s = JSON.parse(readFileSync(join(dir, `run${d}`, f), 'utf8')) as { pid: number };
              if (seen.has(s.pid)) continue;
              seen.add(s.pid);
              if (seen.size % 7 === 0) {
                process.kill(s.pid, 'SIGKILL');
                killed++;
              }
            } catch {}
          }
        }
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    // Both drivers serve their disks at once, 8 at a time each; a serve that failed (its tgtd killed) is
    // retried, as the agent's backoff does.
    const serveAll = (d: number) =>
      mapSettled([...Array(PER_DRIVER).keys()], 8, async (i) => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await drivers[d]?.serve(diskOf(d, i), spec(d, diskOf(d, i)), [ipOf(d, i)]);
          } catch (e) {
            if (attempt > 5) throw e;
          }
        }
      });
    const results = await Promise.all([serveAll(0), serveAll(1)]);
    stop = true;
    await killer;
    // Every disk served in the end (a killed tgtd is restarted by the next serve).
    for (const d of [0, 1]) for (let i = 0; i < PER_DRIVER; i++) await drivers[d]?.serve(diskOf(d, i), spec(d, diskOf(d, i)), [ipOf(d, i)]);
    assert.ok(
      results.flat().every((r) => r.status === 'fulfilled'),
      JSON.stringify(results.flat().filter((r) => r.status === 'rejected')),
    );
    process.stderr.write(`# port race: ${PER_DRIVER * 2} disks, ${killed} tgtds killed mid-start\n`);

    const units = (await Promise.all(drivers.map((d) => d.units()))).flat();
    assert.equal(units.length, PER_DRIVER * 2);
    const ports = units.map((u) => u.controlPort);
    assert.equal(new Set(ports).size, ports.length, 'no two tgtds share a control port');
    for (const u of units) {
      assert.ok(u.alive, `${u.key} alive`);
      assert.equal(lockHolder(SOCKETS, u.controlPort), u.pid, `${u.key}: its tgtd holds port ${u.controlPort}'s lock`);
      assert.ok(existsSync(join(SOCKETS, `socket.${u.controlPort}`)), `${u.key}: its control socket exists`);
    }
    for (const [n, d] of drivers.entries()) for (const u of await d.units()) assert.equal(await d.check(u.disk, spec(n, u.disk), u.portals), undefined, u.key);
    // Each portal shows exactly its own disk's target.
    for (const d of [0, 1]) for (const i of [0, PER_DRIVER - 1]) assert.deepEqual(await discover(ipOf(d, i)), [spec(d, diskOf(d, i)).iqn]);
  });
});
