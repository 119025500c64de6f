/**
 * Add-disk latency through the HTTP API, embedded stores and Ceph + etcd:
 *   add     = POST /api/v1/disks until its 201 (validate, allocate, image + metadata, keys)
 *   started = from the POST until every path's owner key says "served" (the agent took the path,
 *             started its tgtd and configured the target), seen through a watch on the store, as
 *             the API's event stream sees it.
 * Adds are sequential (one admin), 2 paths each on subnet 1, the agent of the same product serving.
 */
import { pathToFileURL } from 'node:url';
import type { Settings } from '../src/app/settings.js';
import { OWNERS, ownerKey } from '../src/domain/keys.js';
import { type BenchContext, clearEtcd } from './lib/context.js';
import { log, size } from './lib/env.js';
import { addBody, http, startBenchProduct } from './lib/product.js';
import { type Section, newSection } from './lib/report.js';
import { ms, now, summarize } from './lib/stats.js';

const PATHS = 2;

interface Result {
  backend: string;
  add: number[];
  started: number[];
  failed: number;
}

async function measure(backend: string, octet: number, over: Partial<Settings>, count: number): Promise<Result> {
  const bp = await startBenchProduct(octet, over);
  const res: Result = { backend, add: [], started: [], failed: 0 };
  const served = new Map<string, number>();
  const waiters = new Set<() => void>();
  const store = bp.tp.product.store;
  const watch = await store.watch(OWNERS, (ev) => {
    if (ev.type !== 'put' || !ev.value?.includes('"served"')) return;
    if (!served.has(ev.key)) served.set(ev.key, now());
    for (const w of waiters) w();
  });
  try {
    for (let i = 0; i < count; i++) {
      const t0 = now();
      const r = await http(bp.url, 'POST', '/api/v1/disks', addBody(`lat-${octet}-${i}`, { activePaths: PATHS, subnet: 1 }));
      const t1 = now();
      if (r.status !== 201) throw new Error(`add ${i}: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
      const id = r.json.disk.id as string;
      const keys = Array.from({ length: PATHS }, (_, k) => ownerKey(id, k + 1));
      const all = () => keys.every((k) => served.has(k));
      if (!all()) {
        let ok = true;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            ok = false;
            waiters.delete(check);
            resolve();
          }, 60_000);
          const check = () => {
            if (!all()) return;
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          };
          waiters.add(check);
        });
        if (!ok) {
          res.failed++;
          log(`add-disk/${backend}: disk ${id} not started within 60 s`);
          continue;
        }
      }
      const tStarted = Math.max(...keys.map((k) => served.get(k) as number));
      res.add.push(t1 - t0);
      res.started.push(tStarted - t0);
    }
  } finally {
    await watch.close();
    await bp.stop();
  }
  return res;
}

export async function run(ctx: BenchContext): Promise<Section> {
  const sec = newSection('add-disk', 'Add-disk latency through the HTTP API');
  const results: Result[] = [];
  const n1 = size(30, 8);
  results.push(await measure('embedded', 50, {}, n1));
  log(`add-disk: embedded done (${n1} adds)`);
  if (ctx.ceph && ctx.etcd) {
    await clearEtcd(ctx.etcd.endpoints);
    const n2 = size(15, 5);
    try {
      results.push(
        await measure(
          'Ceph + etcd',
          51,
          {
            images: { kind: 'rbd', conf: ctx.ceph.conf, keyring: ctx.ceph.keyring, id: ctx.ceph.id, pool: ctx.ceph.pool },
            coord: { kind: 'etcd', endpoints: ctx.etcd.endpoints },
          },
          n2,
        ),
      );
    } finally {
      await clearEtcd(ctx.etcd.endpoints);
    }
    log(`add-disk: Ceph + etcd done (${n2} adds)`);
  } else {
    sec.notes.push(`Ceph + etcd: skipped (${ctx.cephMissing ?? ctx.etcdMissing ?? 'not running'})`);
  }
  sec.tables.push({
    title: `Sequential adds, ${PATHS} paths each (subnet 1, automatic IPs), 1 GB`,
    head: ['backend', 'adds', 'add p50', 'add p99', 'add max', 'add → started p50', 'add → started p99', 'max', 'not started'],
    rows: results.map((r) => {
      const a = summarize(r.add);
      const s = summarize(r.started);
      return [r.backend, a.n, ms(a.p50), ms(a.p99), ms(a.max), ms(s.p50), ms(s.p99), ms(s.max), r.failed];
    }),
  });
  for (const r of results) {
    const a = summarize(r.add);
    const s = summarize(r.started);
    sec.headline.push(`add-disk ${r.backend}: add p50 ${ms(a.p50)} / p99 ${ms(a.p99)}; add → started p50 ${ms(s.p50)} / p99 ${ms(s.p99)}`);
    if (r.failed > 0) sec.status = 'failed';
  }
  sec.notes.push(
    'p99 of a few dozen samples is close to their maximum; it shows the tail, not a precise 99th percentile.',
    '"Started" is the moment the last path\'s owner key turns "served" in the coordination store (seen through a watch), i.e. the agent has started that path\'s tgtd and configured its target.',
    'With Ceph, the add runs `rbd create` and `rbd image-meta set` (two CLI processes, each connecting to the cluster), and tgtd opens the image through librbd before the path is served.',
  );
  return sec;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { standalone } = await import('./lib/standalone.js');
  await standalone(run, { etcd: true, ceph: true });
}
