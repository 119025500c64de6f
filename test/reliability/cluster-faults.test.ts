/**
 * Faults of the cluster backends during an add, on real services (scripts/etcd-*.sh, scripts/ceph-*.sh),
 * with the product (Ceph RBD images + etcd) in this process and real tgtd on the rbd backing store:
 *  - etcd down before an add, and etcd killed (SIGKILL by PID) while the add creates its image;
 *  - the Ceph OSD killed (SIGKILL by the PID in <ceph dir>/run/osd.0.pid) before an add, then
 *    restarted with scripts/ceph-start.sh (which restarts an existing cluster).
 * Guarantee: the add fails with a clear code within a bounded time and leaves no image and no key;
 * once the service is back, every disk is served again and the next add works; the system is
 * consistent (shared checker).
 * The disks are shared (the default), and one is spread (on this one node both are one tgtd with every
 * path IP a portal; the agent plans them differently).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/adapters/exec.js';
import { ISCSI_TOOLS } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { CEPH_TOOLS, type CephCluster, type EtcdCluster, REPO, startEtcd, stopSharedCeph, whenCephReady } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { measured } from './lib/common.js';
import { waitConsistent } from './lib/consistency.js';
import { alive, waitDead } from './lib/procs.js';

const skip = missingTools([...ISCSI_TOOLS, ...CEPH_TOOLS, 'etcd']);
const OCTET = 66;
const PREFIX = `127.${OCTET}.`;

/**
 * PIDs of running `rbd create` processes for an image not in `existing`. Only the add's own create
 * counts: the agent runs other rbd commands on the existing images (storage fencing looks at their
 * clients) at any moment, and a kill timed on one of those could land before or after the add.
 */
function rbdCreates(existing: string[]): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const args = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (!args[0]?.endsWith('rbd') || !args.includes('create') || args.includes('snap')) continue;
      const spec = args.find((a) => /(^|\/)image-\d+$/.test(a));
      if (spec && !existing.includes(spec.slice(spec.lastIndexOf('/') + 1))) out.push(Number(d));
    } catch {}
  }
  return out;
}

describe('fault: etcd and the Ceph OSD down during an add (cluster mode)', { skip, timeout: 900_000 }, () => {
  let ceph: CephCluster;
  let etcd: EtcdCluster;
  let tp: TestProduct;
  const rbd = (args: string[]) => run('rbd', ['-c', ceph.conf, '--id', ceph.id, '--keyring', ceph.keyring, ...args], { timeoutMs: 120_000 });
  const rbdImages = async () => JSON.parse((await rbd(['ls', '-p', ceph.pool, '--format', 'json'])).stdout) as string[];
  /**
   * Disk and path keys. The agent writes a disk's served marker (`disks/<id>/served`) a moment after the
   * disk first shows started, so it is left out here and checked on its own in nothingLeft.
   */
  const diskKeys = async () => (await tp.product.store.list('/portway/disks/')).map((kv) => kv.key).filter((k) => !k.endsWith('/served'));
  /**
   * Once the disks say started, waits (30 s at most) for the agent to converge, then checks strictly;
   * on every poll meanwhile, no path may be served by a node that does not own it. "started" alone
   * proves nothing after etcd comes back: the owner keys of the fenced node still say served (its
   * lease survives an etcd restart) until the agent rejoins and re-serves them.
   */
  const check = (what: string) =>
    waitConsistent(
      { keys: () => tp.product.store.list('/portway/'), images: () => tp.product.images.list(), ipPrefix: PREFIX },
      { settled: true, node: tp.settings.node, timeoutMs: 30_000 },
      what,
    );
  const allStarted = async (timeoutMs: number) => {
    let last: unknown;
    await waitFor(
      async () => {
        const r = await api(tp.product, 'GET', '/api/v1/disks').catch(() => undefined);
        last = r?.json;
        return (r?.json?.disks as { status: string }[] | undefined)?.every((d) => d.status === 'started');
      },
      { what: 'every disk started', timeoutMs, intervalMs: 100, detail: () => JSON.stringify(last).slice(0, 1000) },
    );
  };
  const etcdBack = async () => {
    const t0 = Date.now();
    await etcd.startMember(0);
    await waitFor(() => etcd.healthy(0), { what: 'etcd healthy again', timeoutMs: 30_000, intervalMs: 100 });
    return Date.now() - t0;
  };
  /** Nothing of the failed add: no new image, no new key (name or IP index included). */
  const nothingLeft = async (imagesBefore: string[], keysBefore: string[], name: string) => {
    assert.deepEqual((await rbdImages()).sort(), [...imagesBefore].sort(), 'no image left behind');
    assert.deepEqual(await diskKeys(), keysBefore, 'no disk or path key left behind');
    const all = (await tp.product.store.list('/portway/disks/')).map((kv) => kv.key);
    for (const k of all.filter((x) => x.endsWith('/served')))
      assert.ok(all.includes(k.slice(0, -'/served'.length)), `served marker ${k} of no registered disk`);
    const names = (await tp.product.store.list('/portway/names/')).map((kv) => decodeURIComponent(kv.key.slice('/portway/names/'.length)));
    assert.equal(names.includes(name), false, 'no name index key left behind');
  };

  before(async () => {
    [ceph, etcd] = await Promise.all([whenCephReady(), startEtcd({ members: 1 })]);
    process.stderr.write(`# ceph up in ${ceph.startMs} ms, etcd in ${etcd.startMs} ms\n`);
    tp = await startTestProduct(OCTET, {
      images: { kind: 'rbd', conf: ceph.conf, keyring: ceph.keyring, id: ceph.id, pool: ceph.pool },
      coord: { kind: 'etcd', endpoints: etcd.endpoints },
    });
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('steady', { activePaths: 2 }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.disk.placement, 'shared', 'the default placement');
    const s = await api(tp.product, 'POST', '/api/v1/disks', addBody('steady-spread', { activePaths: 2, placement: 'spread' }));
    assert.equal(s.status, 201, JSON.stringify(s.json));
    assert.equal(s.json.disk.placement, 'spread');
    await allStarted(60_000);
    await check('before any fault');
  });
  after(async () => {
    if (etcd && !(await etcd.healthy(0))) await etcdBack().catch(() => 0);
    await tp?.cleanup();
    await etcd?.stop();
    await stopSharedCeph();
  });

  it('etcd down: an add fails with coordination_error within seconds; nothing is made', async () => {
    const imagesBefore = await rbdImages();
    const keysBefore = await diskKeys();
    await etcd.killMember(0);
    const t0 = Date.now();
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('while-etcd-down'));
    const ms = Date.now() - t0;
    measured('add while etcd is down -> error reply', ms);
    process.stderr.write(`# reply: ${r.status} ${JSON.stringify(r.json)}\n`);
    assert.ok(['coordination_error', 'disk_list_unreadable'].includes(r.json.code), JSON.stringify(r.json));
    assert.equal(r.status, 503);
    assert.ok(ms < 35_000, `answered in ${ms} ms`);
    const back = await etcdBack();
    measured('etcd restart (scripts/etcd-member.sh start) -> healthy', back);
    const t1 = Date.now();
    await allStarted(60_000);
    await check('after etcd came back');
    measured('etcd back -> every disk started, every path served again (consistent)', Date.now() - t1);
    await nothingLeft(imagesBefore, keysBefore, 'while-etcd-down');
  });

  it('etcd killed while the add creates its image: coordination_error, the image is removed again', async () => {
    const imagesBefore = await rbdImages();
    const keysBefore = await diskKeys();
    const t0 = Date.now();
    const reply = api(tp.product, 'POST', '/api/v1/disks', addBody('etcd-dies-midway'));
    // Kill etcd as soon as the add runs `rbd create` (its lock and its read of the disks are done).
    await waitFor(() => rbdCreates(imagesBefore).length > 0, { what: 'the add to run rbd create', timeoutMs: 10_000, intervalMs: 5 });
    await etcd.killMember(0);
    const killedAt = Date.now() - t0;
    const r = await reply;
    const ms = Date.now() - t0;
    measured(`etcd SIGKILLed ${killedAt} ms into an add (during rbd create) -> error reply`, ms);
    process.stderr.write(`# reply: ${r.status} ${JSON.stringify(r.json)}\n`);
    assert.equal(r.json.code, 'coordination_error', JSON.stringify(r.json));
    assert.ok(ms < 40_000, `answered in ${ms} ms`);
    await etcdBack();
    const t1 = Date.now();
    await allStarted(60_000);
    await check('after etcd died during an add');
    measured('etcd back (after a fence) -> every path served again (consistent)', Date.now() - t1);
    await nothingLeft(imagesBefore, keysBefore, 'etcd-dies-midway');
    const again = await api(tp.product, 'POST', '/api/v1/disks', addBody('after-etcd'));
    assert.equal(again.status, 201, JSON.stringify(again.json));
    await allStarted(60_000);
  });

  it('Ceph OSD killed: an add fails with storage_error within a bounded time; no image, no key; OSD restarted, adds work', async () => {
    const imagesBefore = await rbdImages();
    const keysBefore = await diskKeys();
    const pid = Number(readFileSync(join(ceph.dir, 'run', 'osd.0.pid'), 'utf8').trim());
    assert.ok(alive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('ceph-osd'), `pid ${pid} is the OSD`);
    process.kill(pid, 'SIGKILL');
    await waitDead(pid);
    const t0 = Date.now();
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('while-osd-down'));
    const ms = Date.now() - t0;
    measured('add while the only OSD is down -> error reply', ms);
    process.stderr.write(`# reply: ${r.status} ${JSON.stringify(r.json)}\n`);
    assert.equal(r.json.code, 'storage_error', JSON.stringify(r.json));
    assert.equal(r.status, 503);
    assert.doesNotMatch(r.json.message, /Error:|rados|errno/i, 'a message for people, not a stack');
    assert.ok(ms < 45_000, `answered in ${ms} ms (bounded by the image store's 30 s deadline)`);

    const t1 = Date.now();
    await run('bash', [join(REPO, 'scripts', 'ceph-start.sh')], {
      env: { ...process.env, CEPH_DIR: ceph.dir, CEPH_MON_PORT: String(ceph.monPort) },
      timeoutMs: 180_000,
    });
    measured('OSD restart (scripts/ceph-start.sh on the existing cluster)', Date.now() - t1);
    await nothingLeft(imagesBefore, keysBefore, 'while-osd-down');
    const t2 = Date.now();
    let again = await api(tp.product, 'POST', '/api/v1/disks', addBody('after-osd'));
    await waitFor(
      async () => {
        if (again.status !== 201) again = await api(tp.product, 'POST', '/api/v1/disks', addBody('after-osd'));
        return again.status === 201;
      },
      { what: 'an add to succeed', timeoutMs: 20_000, intervalMs: 2000, detail: () => JSON.stringify(again.json) },
    );
    measured('OSD back -> next add succeeds', Date.now() - t2);
    await allStarted(60_000);
    await check('after the OSD came back');
  });
});
