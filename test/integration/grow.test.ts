/**
 * Growing a started disk reaches its hosts without a restart of the disk (docs/PRODUCT.md "Growing a
 * started disk"): an edit from 1 to 2 GB; READ CAPACITY(16) through the disk's path then reports 2 GiB,
 * the disk stays started, the same tgtd serves it and a host's session (qemu-io) held across the grow is
 * kept and reads; data written before reads back. File images, and Ceph RBD with etcd.
 *
 *   flock /tmp/pw-heavy.lock env CI=true node --import tsx --test test/integration/grow.test.ts
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, after, before, describe, it } from 'node:test';
import { run } from '../../src/adapters/exec.js';
import { ISCSI_TOOLS, capacity, lunUrl, verifyPattern, writePattern } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { CEPH_TOOLS, type EtcdCluster, startEtcd, stopSharedCeph, whenCephReady } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const GIB = 1024 ** 3;
const skip = missingTools(ISCSI_TOOLS);

/** The grow flow, on a product whose agent serves its disks here. */
async function growFlow(tp: TestProduct, t: TestContext): Promise<void> {
  const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('grow1', { activePaths: 1 }));
  assert.equal(r.status, 201, JSON.stringify(r.json));
  const id = r.json.disk.id as string;
  await waitFor(async () => ((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk.status === 'started' ? true : undefined), {
    what: 'started',
    timeoutMs: 60_000,
  });
  const ip = (await api(tp.product, 'GET', `/api/v1/disks/${id}/paths`)).json.paths[0].ip as string;
  const url = lunUrl(ip, r.json.disk.iqn);
  assert.equal(await capacity(url), GIB);
  await writePattern(url, 0x5a, 4096, 65536);
  const unit = () => JSON.parse(readFileSync(join(tp.settings.stateDir, 'run', 'tgt', `${id}.json`), 'utf8')) as { pid: number; controlPort: number };
  const pid = () => unit().pid;
  const before = pid();
  // The tgtd's I_T nexus ids (one per session), as tgtadm shows them.
  const nexuses = async () => {
    const { stdout } = await run('tgtadm', ['-C', String(unit().controlPort), '--lld', 'iscsi', '--mode', 'target', '--op', 'show'], { timeoutMs: 10_000 });
    return [...stdout.matchAll(/I_T nexus: (\d+)/g)].map((m) => m[1]);
  };
  // A host holding a session across the grow: qemu-io with the LUN open, reading from stdin.
  const host = spawn('qemu-io', ['-f', 'raw', url], { stdio: ['pipe', 'pipe', 'pipe'] });
  let hostOut = '';
  host.stdout.on('data', (d: Buffer) => {
    hostOut += d.toString();
  });
  const reads = () => hostOut.match(/read 65536\/65536/g)?.length ?? 0;
  const hostRead = async (n: number) => {
    host.stdin.write('read -P 0x5a 4096 65536\n');
    await waitFor(async () => (reads() >= n ? true : undefined), { what: `host read ${n}: ${hostOut.slice(-200)}`, timeoutMs: 15_000 });
  };
  t.after(() => {
    host.kill();
  });
  await hostRead(1);
  const session = await waitFor(async () => (await nexuses())[0], { what: "the host's session", timeoutMs: 15_000 });

  const e = await api(tp.product, 'PATCH', `/api/v1/disks/${id}`, { sizeGb: 2 });
  assert.equal(e.status, 200, JSON.stringify(e.json));
  assert.equal(e.json.disk.sizeGb, 2);
  const seenAt = Date.now();
  // A login during the moment the LUN is re-opened (the target answers BUSY, refuses logins) is retried.
  let refused = 0;
  await waitFor(
    async () => {
      try {
        return (await capacity(url)) === 2 * GIB ? true : undefined;
      } catch (err) {
        refused++;
        if (refused > 20) throw err;
        return undefined;
      }
    },
    { what: 'the new capacity through iSCSI', timeoutMs: 20_000 },
  );
  process.stderr.write(`# new capacity seen through iSCSI ${Date.now() - seenAt} ms after the edit returned (${refused} logins refused meanwhile)\n`);
  assert.equal(pid(), before, 'the same tgtd serves the disk: no restart');
  assert.ok((await nexuses()).includes(session), "the host's session was kept");
  await hostRead(2);
  assert.ok((await nexuses()).includes(session), "the host's session still reads, not logged in again");
  assert.equal((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk.status, 'started');
  assert.equal(await verifyPattern(url, 0x5a, 4096, 65536), true, 'data written before the grow reads back');
  // the new space is usable
  await writePattern(url, 0x6b, GIB + 4096, 65536);
  assert.equal(await verifyPattern(url, 0x6b, GIB + 4096, 65536), true);
}

describe('grow of a started disk through iSCSI (file images)', { skip, timeout: 180_000 }, () => {
  let tp: TestProduct;
  before(async () => {
    tp = await startTestProduct(119);
  });
  after(async () => {
    await tp?.cleanup();
  });

  it('READ CAPACITY(16) reports the new size at once; same tgtd and host session, still started, data kept', (t) => growFlow(tp, t));
});

const cephSkip = missingTools([...ISCSI_TOOLS, ...CEPH_TOOLS, 'etcd']);

describe('grow of a started disk through iSCSI (Ceph RBD + etcd)', { skip: cephSkip, timeout: 400_000 }, () => {
  let tp: TestProduct;
  let etcd: EtcdCluster;
  before(async () => {
    const [ceph, e] = await Promise.all([whenCephReady(), startEtcd({ members: 1 })]);
    etcd = e;
    tp = await startTestProduct(120, {
      images: { kind: 'rbd', conf: ceph.conf, keyring: ceph.keyring, id: ceph.id, pool: ceph.pool },
      coord: { kind: 'etcd', endpoints: etcd.endpoints },
    });
  });
  after(async () => {
    await tp?.cleanup();
    await etcd?.stop();
    await stopSharedCeph();
  });

  it('the RBD image re-opened at its new size in the running tgtd: same checks', (t) => growFlow(tp, t));
});
