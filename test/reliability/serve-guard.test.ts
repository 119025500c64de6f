/**
 * `portway serve` in a cluster (etcd) serves paths under a lease like any agent node, so it runs the
 * fence guard too: the serve process SIGKILLed (a crash), its guard kills its tgtds before the lease
 * can expire and another node take the paths. On one box (embedded store) there is no other node and
 * no guard.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GUARD_PID_FILE } from '../../src/agent/guard.js';
import { ISCSI_TOOLS } from '../helpers/iscsi.js';
import { missingTools } from '../helpers/product.js';
import { type EtcdCluster, etcdAvailable, startEtcd } from '../helpers/services.js';
import { type ChildProduct, childProduct, request } from './lib/child-product.js';
import { alive } from './lib/procs.js';
import { waitFor } from '../helpers/wait.js';

const OCTET = 46;
const skip = missingTools(ISCSI_TOOLS) ?? (etcdAvailable() ? undefined : process.env.CI === 'true' ? undefined : 'etcd is not installed');

const until = <T>(what: string, fn: () => T | Promise<T>, timeoutMs: number) => waitFor(fn, { what, timeoutMs });

describe('portway serve with etcd runs the fence guard', { skip, timeout: 120_000 }, () => {
  let etcd: EtcdCluster;
  let p: ChildProduct;
  before(async () => {
    etcd = await startEtcd();
    p = childProduct(OCTET, { over: { coord: { kind: 'etcd', endpoints: etcd.endpoints } } });
    await p.start();
  });
  after(async () => {
    if (p?.running()) await p.kill('SIGTERM').catch(() => {});
    // The guard of a crashed serve exits after its fence; one still running is stopped by PID.
    const pidFile = p ? join(p.stateDir, 'run', GUARD_PID_FILE) : '';
    if (pidFile && existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
    }
    await etcd?.stop();
  });

  it('a crashed serve is fenced by its guard: its tgtds are killed within the lease', async () => {
    const r = await request(p.url, 'POST', '/api/v1/disks', {
      name: 'guarded',
      sizeGb: 1,
      activePaths: 2,
      subnet: 1,
      ipMode: 'auto',
      acl: { mode: 'all' },
      auth: { mode: 'none' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const id = (r.json as { disk: { id: string } }).disk.id;
    await until(
      'started',
      async () => ((await request(p.url, 'GET', `/api/v1/disks/${id}`)).json as { disk: { status: string } }).disk.status === 'started' || undefined,
      30_000,
    );
    const pidFile = join(p.stateDir, 'run', GUARD_PID_FILE);
    const guardPid = await until('the guard runs', () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || undefined : undefined), 15_000);
    assert.ok(alive(guardPid), 'the fence guard process runs beside serve');
    const tgtDir = join(p.stateDir, 'run', 'tgt');
    const tgtds = readdirSync(tgtDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => (JSON.parse(readFileSync(join(tgtDir, f), 'utf8')) as { pid: number }).pid);
    assert.equal(tgtds.length, 1, 'one tgtd for the shared disk');
    assert.ok(tgtds.every(alive));
    const t0 = Date.now();
    await p.kill('SIGKILL');
    await until('the guard killed the tgtds', () => (tgtds.every((pid) => !alive(pid)) ? true : undefined), 6_000 * 2);
    process.stderr.write(`# serve SIGKILLed: its guard killed the tgtds ${Date.now() - t0} ms later (lease TTL 6 s)\n`);
    assert.ok(Date.now() - t0 < 6_000, 'before the lease (6 s) could expire');
  });
});
