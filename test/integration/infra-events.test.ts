/**
 * Events about what Portway runs on, on real Ceph and a real 3-member etcd: the product (Ceph RBD
 * images, etcd coordination) raises `ceph_unhealthy` when Ceph's own health report is not OK (the
 * `noout` flag set) and `ceph_ok` when it is again; `etcd_member_down` when one etcd member is stopped
 * (by PID, scripts/etcd-member.sh) and `etcd_member_up` when it is back. Each shows in GET
 * /api/v1/alerts (event and health) and is POSTed to a webhook served by the test on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { run } from '../../src/adapters/exec.js';
import type { ClusterEvent } from '../../src/domain/health.js';
import { cephProblem, parseCephHealth } from '../../src/domain/infra-health.js';
import { ISCSI_TOOLS } from '../helpers/iscsi.js';
import { type TestProduct, api, missingTools, startTestProduct } from '../helpers/product.js';
import { CEPH_TOOLS, type CephCluster, type EtcdCluster, startEtcd, stopSharedCeph, whenCephReady } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const skip = missingTools([...ISCSI_TOOLS, ...CEPH_TOOLS, 'etcd']);
const PROBE_WAIT_MS = 45_000; // the probe runs every 10 s; `ceph health` may take a few

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('infrastructure events: Ceph health and etcd members', { skip, timeout: 600_000 }, () => {
  let ceph: CephCluster;
  let etcd: EtcdCluster;
  let tp: TestProduct;
  let hook: Server;
  const received: ClusterEvent[] = [];
  const cephCli = (args: string[]) => run('ceph', ['-c', ceph.conf, '--id', ceph.id, '--keyring', ceph.keyring, ...args], { timeoutMs: 60_000 });
  const alerts = async () =>
    (await api(tp.product, 'GET', '/api/v1/alerts')).json as { events: ClusterEvent[]; health: { problems: { kind: string; subject: string }[] } };
  /** The event both in the API's list and at the webhook. */
  const seen = (what: string, pred: (e: ClusterEvent) => boolean) =>
    waitFor(async () => ((await alerts()).events.some(pred) && received.some(pred) ? true : undefined), { what, timeoutMs: PROBE_WAIT_MS });

  before(async () => {
    [ceph, etcd] = await Promise.all([whenCephReady(), startEtcd({ members: 3 })]);
    hook = createServer((req, res) => {
      void body(req).then((text) => {
        if (req.method === 'POST' && req.headers['content-type'] === 'application/json') received.push((JSON.parse(text) as { event: ClusterEvent }).event);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    tp = await startTestProduct(71, {
      images: { kind: 'rbd', conf: ceph.conf, keyring: ceph.keyring, id: ceph.id, pool: ceph.pool },
      coord: { kind: 'etcd', endpoints: etcd.endpoints },
    });
    const addr = hook.address();
    const set = await api(tp.product, 'PUT', '/api/v1/alerts/webhook', { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/portway` });
    assert.equal(set.status, 200, JSON.stringify(set.json));
  });
  after(async () => {
    await cephCli(['osd', 'unset', 'noout']).catch(() => {});
    await tp?.cleanup();
    await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
    await etcd?.stop();
    await stopSharedCeph();
  });

  it("raises ceph_unhealthy from Ceph's own health report and clears it", async () => {
    const base = parseCephHealth((await cephCli(['health', '--format', 'json'])).stdout);
    assert.ok(base, 'ceph health answers');
    const baseProblem = cephProblem(base);
    process.stderr.write(`# ceph health before: ${base.status} ${base.checks.map((c) => c.code).join(',')}\n`);
    await cephCli(['osd', 'set', 'noout']);
    await seen('ceph_unhealthy naming OSDMAP_FLAGS', (e) => e.kind === 'ceph_unhealthy' && e.subject === 'ceph:cluster' && e.message.includes('OSDMAP_FLAGS'));
    const raised = received.find((e) => e.kind === 'ceph_unhealthy' && e.message.includes('OSDMAP_FLAGS'));
    assert.ok(raised);
    assert.match(raised.message, /^Ceph health is HEALTH_(WARN|ERR): /);
    assert.ok((await alerts()).health.problems.some((p) => p.kind === 'ceph_unhealthy' && p.subject === 'ceph:cluster'));

    await cephCli(['osd', 'unset', 'noout']);
    if (baseProblem === undefined) {
      await seen('ceph_ok', (e) => e.kind === 'ceph_ok' && e.clears === 'ceph_unhealthy' && e.subject === 'ceph:cluster');
      assert.ok(!(await alerts()).health.problems.some((p) => p.subject === 'ceph:cluster'));
    } else {
      // Ceph was not OK before (another check): the problem goes back to what it was.
      await seen('ceph_unhealthy as before', (e) => e.kind === 'ceph_unhealthy' && e.message === baseProblem.message);
    }
  });

  it('raises etcd_member_down for a stopped member and etcd_member_up when it is back', async () => {
    // A member that does not lead (the store carries on through the other two without an election).
    let idx: number | undefined;
    for (const [i, ep] of etcd.endpoints.entries()) {
      const c = new Etcd3({ hosts: [ep], dialTimeout: 2000 });
      try {
        const st = await c.maintenance.status({ deadline: Date.now() + 2000 });
        if (st.leader !== st.header.member_id) idx = i;
      } finally {
        c.close();
      }
    }
    assert.ok(idx !== undefined, 'a follower');
    const endpoint = etcd.endpoints[idx] as string;
    assert.ok(!(await alerts()).health.problems.some((p) => p.kind === 'etcd_member_down'), 'every member answers at first');
    await etcd.stopMember(idx);
    try {
      await seen(`etcd_member_down for ${endpoint}`, (e) => e.kind === 'etcd_member_down' && e.subject === `etcd:${endpoint}`);
      const down = (await alerts()).health.problems.filter((p) => p.kind === 'etcd_member_down').map((p) => p.subject);
      assert.deepEqual(down, [`etcd:${endpoint}`], 'only the stopped member');
    } finally {
      await etcd.startMember(idx);
    }
    await waitFor(async () => ((await etcd.healthy(idx)) ? true : undefined), { what: 'the member back', timeoutMs: 30_000 });
    await seen(`etcd_member_up for ${endpoint}`, (e) => e.kind === 'etcd_member_up' && e.clears === 'etcd_member_down' && e.subject === `etcd:${endpoint}`);
    assert.ok(!(await alerts()).health.problems.some((p) => p.kind === 'etcd_member_down'));
  });
});
