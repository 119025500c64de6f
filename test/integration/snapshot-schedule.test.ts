/**
 * Snapshot schedules with real components (docs/OPERATIONS.md "Snapshot schedules"):
 * - two schedulers (two "API servers": each its own etcd client, disk service and audit log) on one
 *   etcd and one image directory: only the leader takes snapshots; with a test clock (skewed by the
 *   interval) snapshots appear and the oldest are pruned to keep; the leader stopped (lease revoked) ->
 *   the other takes over; the leader's etcd client gone without a word (a crash) -> the other takes
 *   over once its lease expires; a missing image -> snapshot_failed, stored as an event.
 * - the real product on a single box (file images, tgtd): the schedule set through the CLI, a started
 *   disk's run refused (a full copy needs the disk stopped) -> snapshot_failed in /api/v1/alerts and at
 *   the webhook; stopped -> snapshots taken and pruned; the disk deleted -> its schedule too.
 * - the product on Ceph RBD + etcd: instant snapshots of a started disk; retention skips the automatic
 *   snapshot a copy-on-write clone depends on and deletes the next oldest instead.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import { unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { EtcdStore } from '../../src/adapters/coord/etcd-store.js';
import { ExecError, run } from '../../src/adapters/exec.js';
import { FileImageStore } from '../../src/adapters/images/file-store.js';
import type { AuditOutcome } from '../../src/domain/auth.js';
import { checkConfig } from '../../src/domain/config.js';
import type { ClusterEvent } from '../../src/domain/health.js';
import { SNAPSHOT_SCHEDULER_LEADER, snapshotScheduleKey } from '../../src/domain/keys.js';
import { readRecord } from '../../src/domain/records.js';
import { type Actor, AuthService } from '../../src/services/auth-service.js';
import { DiskService } from '../../src/services/disk-service.js';
import { EVENTS, EventService } from '../../src/services/event-service.js';
import { SnapshotScheduler } from '../../src/services/snapshot-scheduler.js';
import { API_CONFIG } from '../helpers/api-app.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { CEPH_TOOLS, type EtcdCluster, ETCD_TOOLS, startEtcd, stopSharedCeph, whenCephReady } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'portway.ts');
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const MIN = 60_000;

interface ApiServer {
  node: string;
  store: EtcdStore;
  disks: DiskService;
  auth: AuthService;
  events: EventService;
  scheduler: SnapshotScheduler;
  /** The scheduler's audit calls (actions), to see who acted. */
  acted: string[];
}

describe('snapshot schedules: two schedulers on one etcd', { skip: missingTools(ETCD_TOOLS), timeout: 180_000 }, () => {
  let etcd: EtcdCluster;
  let dir: string;
  let images: FileImageStore;
  let skew = 0;
  const now = () => Date.now() + skew;
  const servers: ApiServer[] = [];
  let id: string;

  const config = checkConfig(API_CONFIG);
  if (!config.ok) throw new Error(config.message);
  const checked = config;

  async function server(node: string): Promise<ApiServer> {
    const store = new EtcdStore({ hosts: etcd.endpoints, callTimeoutMs: 3000 });
    const disks = new DiskService({
      store,
      images,
      subnet1: checked.subnet1,
      subnet2: checked.subnet2,
      iqnBase: API_CONFIG.iqnBase,
      pool: API_CONFIG.pool,
      server: node,
      log,
    });
    const auth = new AuthService({ store, log, sessionIdleMs: 3600_000 });
    const events = new EventService({ store, log });
    await events.start();
    const acted: string[] = [];
    const scheduler = new SnapshotScheduler({
      store,
      snapshots: disks.snapshots,
      node,
      log,
      audit: (actor: Actor, action: string, target: string, outcome: AuditOutcome, details?: Record<string, unknown>) => {
        acted.push(`${action}:${outcome}`);
        return auth.appendAudit(actor, action, target, outcome, details);
      },
      events,
      tickMs: 200,
      leaseTtlSeconds: 3,
      now,
    });
    const s = { node, store, disks, auth, events, scheduler, acted };
    servers.push(s);
    return s;
  }

  const autos = async (d: DiskService, disk: string) => {
    const r = await d.snapshots.list(disk);
    assert.ok(r.ok, JSON.stringify(r));
    return r.snapshots.map((s) => s.name).filter((n) => n.startsWith('auto-'));
  };
  /** The automatic snapshots whose copy is finished. */
  const autosDone = async (d: DiskService, disk: string) => {
    const r = await d.snapshots.list(disk);
    assert.ok(r.ok, JSON.stringify(r));
    return r.snapshots.filter((s) => s.name.startsWith('auto-') && s.progressPct === undefined).map((s) => s.name);
  };
  const leaderNode = async (store: EtcdStore) => {
    const kv = await store.get(SNAPSHOT_SCHEDULER_LEADER);
    return kv ? (readRecord('leader', kv.value)?.node as string | undefined) : undefined;
  };
  /**
   * One more interval passes: the leader takes the next snapshot. The scheduler audits a snapshot after
   * it is made, so the snapshot can be listed a moment before the audit call: when `by` is given, this
   * also waits for `by` to have audited a taken snapshot.
   */
  const nextRun = async (d: DiskService, disk: string, by?: ApiServer) => {
    // Every automatic snapshot listed now, even one still being copied: the next run's is a name not among them.
    const before = new Set(await autos(d, disk));
    skew += 5 * MIN;
    await waitFor(async () => ((await autosDone(d, disk)).some((n) => !before.has(n)) ? true : undefined), {
      what: 'the next automatic snapshot',
      timeoutMs: 20_000,
    });
    if (by)
      await waitFor(async () => by.acted.includes('snapshot.create:ok') || undefined, {
        what: `${by.node} to audit the snapshot it took`,
        timeoutMs: 10_000,
        detail: () => JSON.stringify(by.acted),
      });
  };

  before(async () => {
    etcd = await startEtcd({ members: 1 });
    dir = mkdtempSync(join(tmpdir(), 'pw-sched-'));
    images = await new FileImageStore(join(dir, 'images')).init();
  });
  after(async () => {
    for (const s of servers) {
      await s.scheduler.stop();
      await s.events.close().catch(() => {});
      await s.disks.close().catch(() => {});
      await s.store.close().catch(() => {});
    }
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('only the leader takes snapshots; the oldest are pruned to keep; manual ones stay', async () => {
    const a = await server('api-a');
    const b = await server('api-b');
    const added = await a.disks.add({ name: 'sched-etcd', sizeGb: 1, activePaths: 1, subnet: 1, ipMode: 'auto', acl: { mode: 'all' }, auth: { mode: 'none' } });
    assert.ok(added.ok, JSON.stringify(added));
    id = added.disk.id;
    // no agent here: stopped at once; a full copy (ext4, no reflink) needs it stopped anyway
    assert.ok((await a.disks.stop(id)).ok);
    assert.ok((await a.disks.snapshots.create(id, { name: 'keep-me' })).ok);
    const set = await b.disks.schedules.set(id, { intervalMinutes: 5, keep: 3 }, 'admin');
    assert.ok(set.ok, JSON.stringify(set));

    a.scheduler.start();
    b.scheduler.start();
    const leader = await waitFor(async () => leaderNode(a.store), { what: 'a leader', timeoutMs: 10_000 });
    const [lead, other] = leader === 'api-a' ? [a, b] : [b, a];
    await waitFor(async () => ((await autos(a.disks, id)).length === 1 ? true : undefined), { what: 'the first automatic snapshot', timeoutMs: 20_000 });
    for (let i = 0; i < 4; i++) await nextRun(a.disks, id);
    await waitFor(async () => ((await autos(a.disks, id)).length === 3 ? true : undefined), { what: 'pruned to 3', timeoutMs: 20_000 });
    const names = (await autos(a.disks, id)).sort();
    assert.equal(names.length, 3);
    const all = await a.disks.snapshots.list(id);
    assert.ok(all.ok && all.snapshots.some((s) => s.name === 'keep-me'), 'a manual snapshot is never pruned');

    assert.equal(await leaderNode(other.store), lead.node);
    assert.equal(other.scheduler.isLeader, false);
    assert.deepEqual(other.acted, [], 'the other server took and deleted nothing');
    assert.equal(lead.acted.filter((x) => x === 'snapshot.create:ok').length, 5, JSON.stringify(lead.acted));
    assert.equal(lead.acted.filter((x) => x === 'snapshot.delete:ok').length, 2, JSON.stringify(lead.acted));
    // both servers show the same state: the last run, who runs it
    const st = await other.disks.schedules.get(id);
    assert.ok(st.ok);
    assert.equal(st.runBy, lead.node);
    assert.equal(st.lastRun?.ok, true);
    assert.equal(st.lastRun?.snapshot, names.at(-1));
    // the audit log (one in etcd) holds the scheduler's entries by meaning
    const audit = await a.auth.listAudit(100);
    assert.ok(audit.ok);
    const mine = audit.entries.filter((e) => e.actor === 'scheduler');
    assert.ok(mine.some((e) => e.action === 'snapshot.create' && e.target === `disk:${id}` && e.details.snapshot === names.at(-1)));
    assert.ok(mine.some((e) => e.action === 'snapshot.delete' && String(e.details.reason).includes('keep 3')));
  });

  it('the leader stopped: the other takes over at once; a crashed one: after its lease', async () => {
    const first = await leaderNode(servers[0]?.store as EtcdStore);
    const lead = servers.find((s) => s.node === first) as ApiServer;
    const other = servers.find((s) => s.node !== first) as ApiServer;
    await lead.scheduler.stop();
    await waitFor(async () => ((await leaderNode(other.store)) === other.node ? true : undefined), { what: 'the other leads', timeoutMs: 5000 });
    other.acted.length = 0;
    await nextRun(other.disks, id, other);
    assert.ok(other.acted.includes('snapshot.create:ok'), 'the new leader takes the snapshots');

    // a third server joins; the leader's etcd client is closed without a word (its process died)
    const c = await server('api-c');
    c.scheduler.start();
    await other.store.close();
    await waitFor(async () => ((await leaderNode(c.store)) === 'api-c' ? true : undefined), { what: 'api-c leads after the lease', timeoutMs: 15_000 });
    c.acted.length = 0;
    await nextRun(c.disks, id, c);
    assert.ok(c.acted.includes('snapshot.create:ok'));
    await other.scheduler.stop();
  });

  it('a failure (the image is missing) is audited and raised as snapshot_failed', async () => {
    const c = servers.find((s) => s.node === 'api-c') as ApiServer;
    await unlink(join(dir, 'images', `image-${id}.img`));
    c.acted.length = 0;
    skew += 5 * MIN;
    const ev = await waitFor(
      async () =>
        (await c.store.list(EVENTS)).map((kv) => JSON.parse(kv.value) as ClusterEvent).find((e) => e.kind === 'snapshot_failed' && e.subject === `disk:${id}`),
      { what: 'snapshot_failed stored', timeoutMs: 20_000 },
    );
    assert.match(ev.message, /image_not_found/);
    assert.equal(ev.severity, 'warning');
    assert.ok(c.acted.includes('snapshot.create:failed'));
    const st = await c.disks.schedules.get(id);
    assert.ok(st.ok);
    assert.equal(st.lastRun?.ok, false);
    assert.equal(st.lastRun?.code, 'image_not_found');
    // tried again one interval later, not at every tick
    const failures = c.acted.filter((x) => x === 'snapshot.create:failed').length;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(c.acted.filter((x) => x === 'snapshot.create:failed').length, failures);
  });
});

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('snapshot schedules in the product (single box, file images, CLI)', { skip: missingTools(['tgtd', 'tgtadm']), timeout: 240_000 }, () => {
  let tp: TestProduct;
  let home: string;
  let hook: Server;
  const received: ClusterEvent[] = [];
  let skew = 0;

  const cli = async (args: string[]) => {
    try {
      const r = await run(process.execPath, ['--import', 'tsx', CLI, ...args], {
        env: { ...process.env, PORTWAY_URL: tp.product.url, PORTWAY_CLI_CONFIG: join(home, 'cli.json') },
        timeoutMs: 120_000,
      });
      return { code: 0 as number | null, out: r.stdout, err: r.stderr };
    } catch (e) {
      if (e instanceof ExecError) return { code: e.exitCode, out: e.stdout, err: e.stderr };
      throw e;
    }
  };
  const status = (id: string, want: string) =>
    waitFor(async () => ((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk.status === want ? true : undefined), {
      what: `disk ${id} ${want}`,
      timeoutMs: 60_000,
    });
  const autos = async (id: string) =>
    ((await api(tp.product, 'GET', `/api/v1/disks/${id}/snapshots`)).json.snapshots as { name: string }[])
      .map((s) => s.name)
      .filter((n) => n.startsWith('auto-'));

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'pw-sched-cli-'));
    hook = createServer((req, res) => {
      void body(req).then((text) => {
        if (req.method === 'POST') received.push((JSON.parse(text) as { event: ClusterEvent }).event);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    tp = await startTestProduct(105, {}, { scheduler: { tickMs: 300, leaseTtlSeconds: 3, now: () => Date.now() + skew } });
    const addr = hook.address();
    const set = await api(tp.product, 'PUT', '/api/v1/alerts/webhook', { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hook` });
    assert.equal(set.status, 200, JSON.stringify(set.json));
  });
  after(async () => {
    await tp?.cleanup();
    await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('set by the CLI; a started disk fails (event); stopped: taken and pruned; shown; deleted with the disk', async () => {
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('sched-product', { activePaths: 1 }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const id = r.json.disk.id as string;
    await status(id, 'started');

    let c = await cli(['snapshot', 'schedule', id]);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /has no snapshot schedule/);
    c = await cli(['snapshot', 'schedule', id, '--every', '2m']);
    assert.equal(c.code, 1);
    assert.match(c.err, /invalid_snapshot_schedule/);
    c = await cli(['snapshot', 'create', id, 'auto-mine']);
    assert.equal(c.code, 1);
    assert.match(c.err, /snapshot_name_reserved/);
    c = await cli(['snapshot', 'schedule', id, '--every', '1h', '--keep', '2']);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /hourly, keep 2/);

    const mode = (await api(tp.product, 'GET', `/api/v1/disks/${id}/snapshots`)).json.mode;
    if (mode === 'copy') {
      // a full copy of a started disk is refused: the run fails, an event says so (API and webhook)
      const pred = (e: ClusterEvent) => e.kind === 'snapshot_failed' && e.subject === `disk:${id}`;
      await waitFor(
        async () => (((await api(tp.product, 'GET', '/api/v1/alerts')).json.events as ClusterEvent[]).some(pred) && received.some(pred) ? true : undefined),
        { what: 'snapshot_failed in the alerts and at the webhook', timeoutMs: 30_000 },
      );
      c = await cli(['snapshot', 'schedule', id]);
      assert.match(c.out, /last run: .* FAILED: .*snapshot_needs_stop/);
      assert.deepEqual(await autos(id), []);
      assert.equal((await cli(['disk', 'stop', id])).code, 0);
      await status(id, 'stopped');
      skew += 60 * MIN;
    }
    await waitFor(async () => ((await autos(id)).length === 1 ? true : undefined), { what: 'the first automatic snapshot', timeoutMs: 30_000 });
    for (let i = 0; i < 2; i++) {
      const before = (await autos(id)).at(-1);
      skew += 60 * MIN;
      await waitFor(async () => ((await autos(id)).at(-1) !== before ? true : undefined), { what: 'the next automatic snapshot', timeoutMs: 30_000 });
    }
    await waitFor(async () => ((await autos(id)).length === 2 ? true : undefined), { what: 'pruned to keep 2', timeoutMs: 30_000 });
    c = await cli(['snapshot', 'schedule', id]);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /hourly, keep 2/);
    assert.match(c.out, /run by node1/);
    assert.match(c.out, /last run: \S+ took auto-\d{8}-\d{6}/);
    const audit = JSON.stringify((await api(tp.product, 'GET', '/api/v1/audit?limit=100')).json);
    assert.match(audit, /"actor":"scheduler"/);

    c = await cli(['snapshot', 'schedule', id, '--pause']);
    assert.match(c.out, /\(paused\)/);
    c = await cli(['snapshot', 'schedule', id, '--off']);
    assert.equal(c.code, 0, c.err);
    assert.equal((await api(tp.product, 'GET', `/api/v1/disks/${id}/snapshot-schedule`)).json.schedule, null);
    assert.equal((await autos(id)).length, 2, 'its snapshots stay');

    // a schedule goes with its disk
    assert.equal((await api(tp.product, 'PUT', `/api/v1/disks/${id}/snapshot-schedule`, { intervalMinutes: 60 })).status, 200);
    assert.equal((await api(tp.product, 'DELETE', `/api/v1/disks/${id}`)).status, 200);
    assert.equal(await tp.product.store.get(snapshotScheduleKey(id)), undefined);
  });
});

describe('snapshot schedules on Ceph RBD + etcd (instant snapshots of a started disk)', {
  skip: missingTools([...CEPH_TOOLS, 'etcd', 'tgtd']),
  timeout: 600_000,
}, () => {
  let tp: TestProduct;
  let etcd: EtcdCluster;
  let skew = 0;
  const autos = async (id: string) =>
    ((await api(tp.product, 'GET', `/api/v1/disks/${id}/snapshots`)).json.snapshots as { name: string; clones: string[] }[]).filter((s) =>
      s.name.startsWith('auto-'),
    );

  before(async () => {
    const [ceph, e] = await Promise.all([whenCephReady(), startEtcd({ members: 1 })]);
    etcd = e;
    tp = await startTestProduct(
      106,
      {
        images: { kind: 'rbd', conf: ceph.conf, keyring: ceph.keyring, id: ceph.id, pool: ceph.pool },
        coord: { kind: 'etcd', endpoints: etcd.endpoints },
      },
      { scheduler: { tickMs: 300, leaseTtlSeconds: 3, now: () => Date.now() + skew } },
    );
  });
  after(async () => {
    await tp?.cleanup();
    await etcd?.stop();
    await stopSharedCeph();
  });

  it('takes snapshots of the started disk; retention skips the one a clone depends on and goes on', async () => {
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('sched-rbd', { activePaths: 1 }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const id = r.json.disk.id as string;
    await waitFor(async () => ((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk.status === 'started' ? true : undefined), {
      what: 'started',
      timeoutMs: 120_000,
    });
    assert.equal((await api(tp.product, 'PUT', `/api/v1/disks/${id}/snapshot-schedule`, { intervalMinutes: 5, keep: 2 })).status, 200);
    await waitFor(async () => ((await autos(id)).length === 1 ? true : undefined), { what: 'the first automatic snapshot', timeoutMs: 60_000 });
    const first = (await autos(id))[0]?.name as string;
    // a copy-on-write clone of the oldest: retention may not delete it
    const { sizeGb: _size, ...cloneBody } = addBody('from-auto', { activePaths: 1 });
    const cl = await api(tp.product, 'POST', `/api/v1/disks/${id}/snapshots/${first}/clone`, cloneBody);
    assert.equal(cl.status, 201, JSON.stringify(cl.json));
    for (let i = 0; i < 3; i++) {
      const before = (await autos(id)).at(-1)?.name;
      skew += 5 * MIN;
      await waitFor(async () => ((await autos(id)).at(-1)?.name !== before ? true : undefined), { what: 'the next automatic snapshot', timeoutMs: 60_000 });
    }
    // 4 taken, keep 2: the cloned one stays (over the count), the other old one is gone, the newest 2 stay
    const names = await waitFor(
      async () => {
        const a = await autos(id);
        return a.length === 3 ? a : undefined;
      },
      { what: 'retention done', timeoutMs: 30_000 },
    );
    assert.equal(names[0]?.name, first);
    assert.deepEqual(names[0]?.clones, [cl.json.disk.id]);
    const st = (await api(tp.product, 'GET', `/api/v1/disks/${id}/snapshot-schedule`)).json;
    assert.equal(st.lastRun.ok, true, JSON.stringify(st.lastRun));
    assert.equal(st.runBy, 'node1');
  });
});
