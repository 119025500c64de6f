/**
 * Disk list latency at 100 / 1,000 / 10,000 disks, embedded store and etcd, through the HTTP API
 * (GET /api/v1/disks), with its per-disk cost and where the time goes.
 *
 * Disks are written into the coordination store directly (lib/populate.ts: the keys the add-disk flow
 * writes, with every path's owner key "served"), not created as images: the list reads the store only,
 * which this bench checks by counting image-store calls during the lists (must be 0).
 * The agent is off (no tgtd for 10,000 disks); the list does not involve it.
 *
 * The list is answered from DiskListCache (src/services/disk-list-cache.ts), fed by a store watch: the
 * table shows it with nothing changed between lists, right after one disk changed (the cache
 * re-assembles that disk, re-sorts and re-serializes), and with the cache off (the store read and
 * assembled on every list, as before the cache).
 */
import { pathToFileURL } from 'node:url';
import { Etcd3 } from 'etcd3';
import type { CoordStore, TxnOp } from '../src/adapters/coord/types.js';
import type { ImageStore } from '../src/adapters/images/types.js';
import type { Settings } from '../src/app/settings.js';
import { checkConfig } from '../src/domain/config.js';
import { DISKS, OWNERS, ROOT, assembleDisks } from '../src/domain/keys.js';
import { diskView } from '../src/services/disk-service.js';
import { type BenchContext, clearEtcd } from './lib/context.js';
import { QUICK, log, size } from './lib/env.js';
import { populate } from './lib/populate.js';
import { cpuSeconds } from './lib/proc.js';
import { http, rawGet, startBenchProduct, wideCluster } from './lib/product.js';
import { hotSpots } from './lib/profile.js';
import { type Section, newSection } from './lib/report.js';
import { median, ms, now, ratio, sample, summarize, us } from './lib/stats.js';

const TARGET_MS: Record<string, number> = { embedded: 100, etcd: 300 };

/** The audit log's prefix and size (AuthService keeps the newest auditMaxEntries, 10,000 by default). */
const AUDIT = '/portway/audit/';
const AUDIT_ENTRIES = size(10_000, 2000);

/** Audit entries as AuthService.appendAudit writes them: key <ms:15>-<seq:4>-<rand:8 hex>, a JSON entry. */
async function writeAudit(store: CoordStore, count: number, batch: number): Promise<void> {
  const t = Date.UTC(2026, 0, 1);
  const ops: TxnOp[] = [];
  for (let i = 0; i < count; i++) {
    const id = `${String(t + i * 1000).padStart(15, '0')}-${String(i % 10_000).padStart(4, '0')}-${((i * 2654435761) >>> 0).toString(16).padStart(8, '0')}`;
    const entry = {
      time: new Date(t + i * 1000).toISOString(),
      actor: 'admin',
      via: 'session',
      action: 'disk.add',
      target: `disk ${String(i % 99_999).padStart(5, '0')}`,
      outcome: 'ok',
      ip: '127.0.0.1',
      details: { name: `bench-${i}`, sizeGb: 1, activePaths: 2 },
    };
    ops.push({ type: 'put', key: `${AUDIT}${id}`, value: JSON.stringify(entry) });
  }
  for (let i = 0; i < ops.length; i += batch) await store.txn([], ops.slice(i, i + batch));
}

/** How many keys the store holds under /portway/ (undefined when it cannot say). */
async function keysOf(store: CoordStore): Promise<number | undefined> {
  try {
    return (await store.list(`${ROOT}/`)).length;
  } catch {
    return undefined;
  }
}

/**
 * Why the list's range reads (disks/, owners/) fail on etcd: the same reads with the etcd3 client
 * directly (no retry, default gRPC options), and how long they take without gRPC's 4 MiB default limit
 * on a received message.
 */
async function etcdRangeError(endpoints: string[]): Promise<string> {
  const out: string[] = [];
  for (const prefix of [DISKS, OWNERS]) {
    const plain = new Etcd3({ hosts: endpoints });
    try {
      await plain.getAll().prefix(prefix).strings();
      out.push(`${prefix}: the direct read succeeds`);
    } catch (e) {
      out.push(`${prefix}: ${(e as Error).message.slice(0, 160)}`);
    } finally {
      plain.close();
    }
  }
  const unlimited = new Etcd3({ hosts: endpoints, grpcOptions: { 'grpc.max_receive_message_length': -1 } });
  try {
    const t0 = now();
    const [a, b] = await Promise.all([unlimited.getAll().prefix(DISKS).strings(), unlimited.getAll().prefix(OWNERS).strings()]);
    out.push(
      `with grpc.max_receive_message_length -1 both reads (${(Object.keys(a).length + Object.keys(b).length).toLocaleString('en-US')} keys) succeed in ${ms(now() - t0)}`,
    );
  } catch (e) {
    out.push(`unlimited: ${(e as Error).message.slice(0, 160)}`);
  } finally {
    unlimited.close();
  }
  return out.join('; ');
}

/** Counts calls to the image store the product uses (wrapping the instance's methods). */
function countImageCalls(images: ImageStore): { calls: () => number } {
  let n = 0;
  const target = images as unknown as Record<string, unknown>;
  for (const m of ['create', 'resize', 'remove', 'exists', 'list', 'getMeta', 'setMeta', 'usage']) {
    const orig = target[m];
    if (typeof orig !== 'function') continue;
    target[m] = (...args: unknown[]) => {
      n++;
      return (orig as (...a: unknown[]) => unknown).apply(images, args);
    };
  }
  return { calls: () => n };
}

async function timeIt<T>(fn: () => Promise<T> | T, reps: number): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = now();
    await fn();
    t.push(now() - t0);
  }
  return median(t);
}

interface Row {
  backend: string;
  disks: number;
  keys: number;
  p50: number;
  p99: number;
  n: number;
  bytes: number;
  storeList: number;
  assemble: number;
  view: number;
  json: number;
  /** CPU ms per list of this process (the API server; the raw HTTP client's share is small). */
  cpu: number;
  /** CPU ms per list of the etcd server. */
  etcdCpu: number;
}

export async function run(ctx: BenchContext): Promise<Section> {
  const sec = newSection('list', 'Disk list latency (GET /api/v1/disks)');
  const sizes = size([100, 1000, 10_000], [100, 1000, 3000]);
  const backends: ('embedded' | 'etcd')[] = ['embedded'];
  if (ctx.etcd) backends.push('etcd');
  else sec.notes.push(`etcd: skipped (${ctx.etcdMissing ?? 'not running'})`);
  const rows: Row[] = [];
  const auditRows: { backend: string; disks: number; keys: number; p50: number; p99: number; n: number; without: number }[] = [];
  const hot: { backend: string; disks: number; spots: Awaited<ReturnType<typeof hotSpots>> }[] = [];
  let imageCalls = 0;
  const failures: { backend: string; disks: number; keys: number; error: string; why: string }[] = [];
  const variants: { backend: string; disks: number; what: string; p50: number; p99: number; n: number }[] = [];

  for (const backend of backends) {
    const over: Partial<Settings> = { agent: { enabled: false, leaseTtlSeconds: 10 }, cluster: wideCluster(52, 53) };
    if (backend === 'etcd' && ctx.etcd) {
      await clearEtcd(ctx.etcd.endpoints);
      over.coord = { kind: 'etcd', endpoints: ctx.etcd.endpoints };
      if (ctx.ceph) over.images = { kind: 'rbd', conf: ctx.ceph.conf, keyring: ctx.ceph.keyring, id: ctx.ceph.id, pool: ctx.ceph.pool };
    }
    const bp = await startBenchProduct(52, over);
    const etcdPid = backend === 'etcd' ? await ctx.etcd?.pid(0) : undefined;
    try {
      const p = bp.tp.product;
      const counter = countImageCalls(p.images);
      const checked = checkConfig(bp.tp.settings.cluster);
      if (!checked.ok) throw new Error(checked.message);
      const store: CoordStore = p.store;
      let have = 0;
      let failedAt: number | undefined;
      for (const n of sizes) {
        const t0 = now();
        await populate(store, have + 1, n, {
          subnet: checked.subnet1,
          iqnBase: bp.tp.settings.cluster.iqnBase,
          pool: bp.tp.settings.cluster.pool,
          paths: 2,
          owners: 'node1',
          batch: backend === 'etcd' ? 128 : 5000,
          parallel: backend === 'etcd' ? 8 : 1,
        });
        have = n;
        log(`list/${backend}: ${n} disks written in ${ms(now() - t0)}`);
        // The cache learns other writers' keys from the watch: wait until the list has them all.
        const tw = now();
        let first = await http(bp.url, 'GET', '/api/v1/disks');
        while (first.status === 200 && (first.json.disks as unknown[]).length !== n && now() - tw < 60_000) {
          await new Promise((r) => setTimeout(r, 100));
          first = await http(bp.url, 'GET', '/api/v1/disks');
        }
        log(`list/${backend}: ${n} disks in the list ${ms(now() - tw)} after the writes`);
        if (first.status !== 200) {
          const why = backend === 'etcd' && ctx.etcd ? await etcdRangeError(ctx.etcd.endpoints) : '';
          failures.push({
            backend,
            disks: n,
            keys: (await keysOf(store)) ?? Number.NaN,
            error: `${first.status} ${first.json?.code ?? ''}`,
            why,
          });
          log(`list/${backend}: ${n} disks: ${first.status} ${JSON.stringify(first.json).slice(0, 200)} ${why}`);
          failedAt = n;
          break;
        }
        const disks = first.json.disks as { status: string }[];
        if (disks.length !== n) throw new Error(`the list has ${disks.length} disks, ${n} were written`);
        if (disks.some((d) => d.status !== 'started')) throw new Error('a written disk is not "started"');
        const before = counter.calls();
        await sample(() => rawGet(bp.url, '/api/v1/disks'), { warmup: 0, minIter: 3, minMs: 0, maxIter: 3 });
        const cpu0 = process.cpuUsage();
        const etcd0 = etcdPid ? (cpuSeconds(etcdPid)?.self ?? Number.NaN) : Number.NaN;
        const samples = await sample(() => rawGet(bp.url, '/api/v1/disks'), {
          warmup: 0,
          minIter: n >= 10_000 ? size(20, 5) : size(50, 10),
          minMs: size(2000, 300),
          maxIter: 300,
        });
        const cpuD = process.cpuUsage(cpu0);
        const cpuPerList = (cpuD.user + cpuD.system) / 1000 / samples.length;
        const etcdPerList = (((etcdPid ? (cpuSeconds(etcdPid)?.self ?? Number.NaN) : Number.NaN) - etcd0) * 1000) / samples.length;
        imageCalls += counter.calls() - before;
        // Where the time goes: the same steps DiskService.list() and the route take, one by one.
        const reps = n >= 10_000 ? size(7, 3) : 15;
        // DiskService.readDisks: the disks/ and owners/ prefixes, read at once.
        const readBoth = async () => (await Promise.all([store.list(DISKS), store.list(OWNERS)])).flat();
        let kvs = await readBoth();
        const storeList = await timeIt(async () => {
          kvs = await readBoth();
        }, reps);
        let assembled = assembleDisks(kvs);
        const assemble = await timeIt(() => {
          assembled = assembleDisks(kvs);
        }, reps);
        let views = [...assembled.values()].map(diskView);
        const view = await timeIt(() => {
          views = [...assembled.values()].map(diskView).sort((a, b) => (a.id < b.id ? -1 : 1));
        }, reps);
        const json = await timeIt(() => JSON.stringify({ disks: views }), reps);
        const s = summarize(samples);
        rows.push({
          backend,
          disks: n,
          keys: kvs.length,
          p50: s.p50,
          p99: s.p99,
          n: s.n,
          bytes: first.bytes,
          storeList,
          assemble,
          view,
          json,
          cpu: cpuPerList,
          etcdCpu: etcdPerList,
        });
        log(`list/${backend}: ${n} disks p50 ${ms(s.p50)} p99 ${ms(s.p99)} (${s.n} requests)`);
      }
      // The same list with the audit log full (/portway/audit/): it must cost nothing, the list reads disks/ and owners/.
      if (failedAt === undefined) {
        const n = have;
        const t0 = now();
        await writeAudit(store, AUDIT_ENTRIES, backend === 'etcd' ? 128 : 5000);
        log(`list/${backend}: ${AUDIT_ENTRIES} audit entries written in ${ms(now() - t0)}`);
        const samples = await sample(() => rawGet(bp.url, '/api/v1/disks'), {
          warmup: 2,
          minIter: size(15, 5),
          minMs: size(2000, 300),
          maxIter: 300,
        });
        const kvs = (await Promise.all([store.list(DISKS), store.list(OWNERS)])).flat();
        const s = summarize(samples);
        auditRows.push({
          backend,
          disks: n,
          keys: kvs.length,
          p50: s.p50,
          p99: s.p99,
          n: s.n,
          without: rows.find((r) => r.backend === backend && r.disks === n)?.p50 ?? Number.NaN,
        });
        await store.deletePrefix(AUDIT);
        log(`list/${backend}: ${n} disks + ${AUDIT_ENTRIES} audit entries p50 ${ms(s.p50)}`);
      }
      // A CPU profile of a few lists at the largest size (the API server runs in this process).
      if (failedAt === undefined) {
        const spots = await hotSpots(async () => {
          for (let i = 0; i < size(5, 2); i++) await rawGet(bp.url, '/api/v1/disks');
        }, 8);
        hot.push({ backend, disks: have, spots });
        log(`list/${backend}: profiled ${have} disks`);
      }
      // The list right after one disk changed (an owner key flips, as an agent does), and with the
      // cache off (store read + assemble on every list).
      if (failedAt === undefined) {
        const n = have;
        const owner = `${OWNERS}${String(1).padStart(5, '0')}/1`;
        let flip = 0;
        const changed = await sample(
          async () => {
            flip++;
            await store.put(owner, JSON.stringify({ node: 'node1', state: flip % 2 ? 'configuring' : 'served' }));
            const want = flip % 2 ? 'starting' : 'started';
            for (;;) {
              const r = await http(bp.url, 'GET', '/api/v1/disks');
              if ((r.json.disks as { status: string }[])[0]?.status === want) return;
            }
          },
          { warmup: 2, minIter: size(15, 5), minMs: size(1500, 300), maxIter: 200 },
        );
        const c = summarize(changed);
        variants.push({ backend, disks: n, what: 'one disk changed before each list (put + list until it shows)', p50: c.p50, p99: c.p99, n: c.n });
        const svc = p.disks as unknown as { cache: unknown };
        const cache = svc.cache;
        svc.cache = undefined;
        try {
          const off = summarize(await sample(() => rawGet(bp.url, '/api/v1/disks'), { warmup: 2, minIter: size(15, 5), minMs: size(1500, 300), maxIter: 300 }));
          variants.push({ backend, disks: n, what: 'cache off: the store read and assembled on every list', p50: off.p50, p99: off.p99, n: off.n });
        } finally {
          svc.cache = cache;
        }
        log(`list/${backend}: ${n} disks, after a change p50 ${ms(c.p50)}`);
      }
    } finally {
      await bp.stop();
      if (backend === 'etcd' && ctx.etcd) await clearEtcd(ctx.etcd.endpoints);
    }
  }

  sec.tables.push({
    title: 'Latency through the HTTP API (sequential requests, one client)',
    head: [
      'store',
      'disks',
      'keys read',
      'p50',
      'p99',
      'requests',
      'per disk (p50/N)',
      'per-disk vs 100',
      'server CPU per list',
      'etcd CPU per list',
      'response',
      'target',
    ],
    rows: rows.map((r) => {
      const base = rows.find((b) => b.backend === r.backend && b.disks === sizes[0]);
      const perDisk = r.p50 / r.disks;
      const target = TARGET_MS[r.backend] as number;
      const isTargetSize = r.disks === 10_000;
      return [
        r.backend === 'etcd' ? (ctx.ceph ? 'etcd (+Ceph images)' : 'etcd') : 'embedded',
        r.disks.toLocaleString('en-US'),
        r.keys.toLocaleString('en-US'),
        ms(r.p50),
        ms(r.p99),
        r.n,
        us(perDisk),
        base ? ratio(perDisk / (base.p50 / base.disks)) : '',
        ms(r.cpu),
        Number.isFinite(r.etcdCpu) ? ms(r.etcdCpu) : '',
        `${(r.bytes / 1024).toFixed(0)} KiB`,
        isTargetSize ? `${r.p50 < target ? 'met' : 'MISSED'} (< ${target} ms)` : '',
      ];
    }),
  });
  sec.tables.push({
    title: 'What a list costs without the cache (its first load; the cache-off case): the steps, medians in process',
    head: ['store', 'disks', 'store.list', 'assembleDisks', 'diskView+sort', 'JSON.stringify', 'sum', 'HTTP p50 (with the cache)'],
    rows: rows.map((r) => [
      r.backend,
      r.disks.toLocaleString('en-US'),
      ms(r.storeList),
      ms(r.assemble),
      ms(r.view),
      ms(r.json),
      ms(r.storeList + r.assemble + r.view + r.json),
      ms(r.p50),
    ]),
  });
  if (failures.length) {
    sec.status = 'failed';
    sec.tables.push({
      title: 'Lists that failed',
      head: ['store', 'disks', 'keys under /portway/', 'API answer', 'cause (the same range reads with the etcd3 client directly)'],
      rows: failures.map((f) => [
        f.backend,
        f.disks.toLocaleString('en-US'),
        Number.isFinite(f.keys) ? f.keys.toLocaleString('en-US') : 'unreadable',
        f.error,
        f.why,
      ]),
    });
    for (const f of failures) sec.headline.push(`list ${f.backend} at ${f.disks.toLocaleString('en-US')} disks FAILED: ${f.error} (${f.why})`);
  }
  sec.tables.push({
    title: `The same list with a full audit log (${AUDIT_ENTRIES.toLocaleString('en-US')} entries under ${AUDIT}): the list reads disks/ and owners/ only, so it should not cost anything`,
    head: ['store', 'disks', 'keys read', 'p50', 'p99', 'requests', 'p50 without audit', 'cost of the audit log'],
    rows: auditRows.map((r) => [
      r.backend,
      r.disks.toLocaleString('en-US'),
      r.keys.toLocaleString('en-US'),
      ms(r.p50),
      ms(r.p99),
      r.n,
      ms(r.without),
      ratio(r.p50 / r.without),
    ]),
  });
  if (variants.length)
    sec.tables.push({
      title: 'The same list when the cache has work to do, and without it',
      head: ['store', 'disks', 'case', 'p50', 'p99', 'requests', 'p50 unchanged (main table)'],
      rows: variants.map((v) => [
        v.backend,
        v.disks.toLocaleString('en-US'),
        v.what,
        ms(v.p50),
        ms(v.p99),
        v.n,
        ms(rows.find((r) => r.backend === v.backend && r.disks === v.disks)?.p50 ?? Number.NaN),
      ]),
    });
  for (const h of hot) {
    sec.tables.push({
      title: `CPU profile, ${h.backend}, lists of ${h.disks.toLocaleString('en-US')} disks: top functions by self time`,
      head: ['function', 'where', 'self', 'share'],
      rows: h.spots.map((s) => [s.fn, s.where, ms(s.selfMs), `${(s.share * 100).toFixed(1)}%`]),
    });
  }
  for (const b of backends) {
    const big = rows.find((r) => r.backend === b && r.disks === sizes[sizes.length - 1]);
    const small = rows.find((r) => r.backend === b && r.disks === sizes[0]);
    if (big && small)
      sec.headline.push(
        `list ${b}: ${ms(big.p50)} at ${big.disks.toLocaleString('en-US')} disks (${us(big.p50 / big.disks)}/disk; ${us(small.p50 / small.disks)}/disk at ${small.disks})` +
          (big.disks === 10_000 ? `, target < ${TARGET_MS[b]} ms ${big.p50 < (TARGET_MS[b] as number) ? 'met' : 'MISSED'}` : ''),
      );
  }
  sec.headline.push(`image-store calls during ${rows.reduce((a, r) => a + r.n, 0)} lists: ${imageCalls}`);
  if (imageCalls !== 0) sec.status = 'failed';
  sec.notes.push(
    'Disks are written into the coordination store directly (bench/lib/populate.ts): the keys the add-disk flow registers (registrationKvs: record, 2 paths, IP and name index), plus one owner key {node, served} per path, so every disk lists as "started": 8 keys per disk, of which the list reads 5 (disks/ and owners/).',
    'The list is served from the coordination store only: the image store is wrapped and its calls counted during every list (0 expected).',
    "The list comes from the disk list cache (src/services/disk-list-cache.ts): loaded once, then kept current by a watch on disks/ and owners/; the JSON body is made once per change. Writes by the API server itself are in the next list (the service waits for their watch event); other writers' changes arrive within milliseconds.",
    'The agent is off: the list does not involve it, and 10,000 disks would need 20,000 tgtds.',
    `Requests are sequential from one client on the same machine${QUICK ? ' (BENCH_QUICK: 3,000 disks at most)' : ''}.`,
  );
  return sec;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { standalone } = await import('./lib/standalone.js');
  await standalone(run, { etcd: true, ceph: false });
}
