/**
 * "Served" means answering, on the real product (one box, real tgtd): a disk's tgtd made unreachable
 * behind the agent's back (its control socket removed, or one of its portals taken down) leaves
 * `served` at the agent's next resync, is restarted, and comes back served and answering INQUIRY on
 * every path.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { run as runTool } from '../../src/adapters/exec.js';
import { ISCSI_TOOLS, lunUrl } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';

const skip = missingTools(ISCSI_TOOLS);
const OCTET = 44;
const run = promisify(execFile);

/** Polls fn until it returns a value; an iSCSI tool failing meanwhile (the target restarting) is a miss. */
const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number) => waitFor(fn, { what, timeoutMs, retry: () => true });

describe('served means answering: an unreachable target leaves served and is repaired', { skip, timeout: 180_000 }, () => {
  let tp: TestProduct;
  let disk: { id: string; iqn: string };
  let ips: string[];

  const states = async () => ((await api(tp.product, 'GET', `/api/v1/disks/${disk.id}/paths`)).json.paths as { state: string }[]).map((p) => p.state);
  const unit = () => {
    const dir = join(tp.settings.stateDir, 'run', 'tgt');
    const f = readdirSync(dir).find((x) => x === `${disk.id}.json`) as string;
    return JSON.parse(readFileSync(join(dir, f), 'utf8')) as { pid: number; controlPort: number; portals: string[] };
  };
  /** INQUIRY (unit serial number page) through every path answers with this disk's serial. */
  const allAnswering = async () => {
    for (const ip of ips) {
      const { stdout } = await runTool('iscsi-inq', ['-i', 'iqn.2016-05.io.portway.test:initiator', '-e', '1', '-c', '128', lunUrl(ip, disk.iqn)], {
        timeoutMs: 10_000,
      });
      if (!stdout.includes(`PW${disk.id}`)) return undefined;
    }
    return true;
  };
  /** Breaks the target, then: served -> not served (one resync) -> served and answering again. */
  const breakAndWatch = async (what: string, breakIt: () => Promise<void>) => {
    const before = unit();
    const t0 = Date.now();
    await breakIt();
    await until(`${what}: a path leaves served`, async () => ((await states()).some((s) => s !== 'served') ? true : undefined), 15_000);
    const leftMs = Date.now() - t0;
    await until(`${what}: every path served again`, async () => ((await states()).every((s) => s === 'served') ? true : undefined), 30_000);
    await until(`${what}: every path answering`, allAnswering, 15_000);
    process.stderr.write(`# ${what}: left served after ${leftMs} ms, served and answering again after ${Date.now() - t0} ms\n`);
    assert.notEqual(unit().pid, before.pid, 'a new tgtd serves the disk');
  };

  before(async () => {
    tp = await startTestProduct(OCTET);
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('answering', { sizeGb: 1, activePaths: 2, subnet: 3 }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    disk = r.json.disk;
    await until('started', async () => ((await api(tp.product, 'GET', `/api/v1/disks/${disk.id}`)).json.disk.status === 'started' ? true : undefined), 30_000);
    ips = ((await api(tp.product, 'GET', `/api/v1/disks/${disk.id}/paths`)).json.paths as { ip: string }[]).map((p) => p.ip);
    assert.ok(await allAnswering());
  });
  after(async () => {
    await tp?.cleanup();
  });

  it('a tgtd whose control socket was removed is replaced', async () => {
    await breakAndWatch('control socket removed', async () => {
      rmSync(`/var/run/tgtd/socket.${unit().controlPort}`, { force: true });
    });
  });

  it('a tgtd whose portal was taken down is replaced', async () => {
    const u = unit();
    await breakAndWatch('portal taken down', async () => {
      await run('tgtadm', ['-C', String(u.controlPort), '--lld', 'iscsi', '--op', 'delete', '--mode', 'portal', '--param', `portal=${ips[1]}:3260`]);
    });
  });
});

describe('disk identity: every disk its own device identifiers, the same on every path', { skip, timeout: 120_000 }, () => {
  let tp: TestProduct;
  after(async () => {
    await tp?.cleanup();
  });
  it('VPD page 83h differs between two disks and is the same through both paths of one', async () => {
    tp = await startTestProduct(OCTET + 1);
    const vpd83 = async (ip: string, iqn: string) =>
      (await runTool('iscsi-inq', ['-i', 'iqn.2016-05.io.portway.test:initiator', '-e', '1', '-c', '131', lunUrl(ip, iqn)], { timeoutMs: 10_000 })).stdout;
    const disks: { iqn: string; ips: string[] }[] = [];
    for (const name of ['ident-a', 'ident-b']) {
      const r = await api(tp.product, 'POST', '/api/v1/disks', addBody(name, { sizeGb: 1, activePaths: 2, subnet: 3 }));
      assert.equal(r.status, 201, JSON.stringify(r.json));
      const id = r.json.disk.id as string;
      await until('started', async () => ((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk.status === 'started' ? true : undefined), 30_000);
      const ips = ((await api(tp.product, 'GET', `/api/v1/disks/${id}/paths`)).json.paths as { ip: string }[]).map((p) => p.ip);
      disks.push({ iqn: r.json.disk.iqn, ips });
    }
    const [a, b] = disks as [{ iqn: string; ips: string[] }, { iqn: string; ips: string[] }];
    const a1 = await vpd83(a.ips[0] as string, a.iqn);
    assert.match(a1, /NAA|naa/i, a1);
    assert.equal(await vpd83(a.ips[1] as string, a.iqn), a1, 'the same identifiers through both paths');
    assert.notEqual(await vpd83(b.ips[0] as string, b.iqn), a1, 'another disk, other identifiers');
  });
});
