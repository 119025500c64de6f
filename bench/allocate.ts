/**
 * Automatic IP allocation as the auto range fills up (a /16: 65,534 IPs, up to 60,000 used).
 *
 * 1. allocateAuto alone (pure), at several fill levels, for one subnet and for "both" (lockstep), with
 *    IPs below 128.0.0.0 (small integers in V8) and above (heap numbers: 172.16/16), next to the
 *    allocator as it was before this bench (a set look-up per IP of the range; kept here as reference).
 *    Used IPs are the first ones of the range, as automatic allocation leaves them: the walk to the
 *    first free run is the longest.
 * 2. A whole add through the HTTP API at the same fill levels (embedded store, file images, agent off):
 *    what the user waits for, of which the allocation is a part.
 * Growth is printed as the ratio to the smallest level and as the exponent k of time ~ used^k
 * (1 = linear, 2 = quadratic).
 */
import { pathToFileURL } from 'node:url';
import { type Allocated, allocateAuto } from '../src/domain/allocate.js';
import { type ResolvedSubnet, checkConfig } from '../src/domain/config.js';
import type { SubnetChoice } from '../src/domain/disk.js';
import type { BenchContext } from './lib/context.js';
import { log, size } from './lib/env.js';
import { populate } from './lib/populate.js';
import { addBody, http, startBenchProduct, wideCluster } from './lib/product.js';
import { type Section, newSection } from './lib/report.js';
import { growthExponent, median, ms, now, perCall, ratio } from './lib/stats.js';
import { ROOT, assembleDisks } from '../src/domain/keys.js';

/** The allocator before this bench (one `used.has` per position of the range), for comparison. */
function legacyAllocate(choice: SubnetChoice, count: number, s1: ResolvedSubnet, s2: ResolvedSubnet, used: ReadonlySet<number>): Allocated[] | undefined {
  if (choice !== 3) {
    const s = choice === 1 ? s1 : s2;
    let runStart = s.from;
    for (let ip = s.from; ip <= s.to; ip++) {
      if (used.has(ip)) {
        runStart = ip + 1;
        continue;
      }
      if (ip - runStart + 1 === count) return Array.from({ length: count }, (_, k) => ({ ip: runStart + k, subnet: s }));
    }
    return undefined;
  }
  const positions = Math.ceil(count / 2);
  const length = Math.min(s1.to - s1.from, s2.to - s2.from) + 1;
  let runStart = 0;
  for (let i = 0; i < length; i++) {
    if (used.has(s1.from + i) || used.has(s2.from + i)) {
      runStart = i + 1;
      continue;
    }
    if (i - runStart + 1 === positions)
      return Array.from({ length: count }, (_, k) => {
        const pos = runStart + Math.floor(k / 2);
        return k % 2 === 0 ? { ip: s1.from + pos, subnet: s1 } : { ip: s2.from + pos, subnet: s2 };
      });
  }
  return undefined;
}

function subnets(a: string, b: string): { s1: ResolvedSubnet; s2: ResolvedSubnet } {
  const c = checkConfig({
    iqnBase: 'iqn.2016-05.io.portway.bench',
    pool: 'rbd',
    subnet1: { cidr: `${a}.0.0/16`, autoIpFrom: `${a}.0.1`, autoIpTo: `${a}.255.254`, eth: 'eth1' },
    subnet2: { cidr: `${b}.0.0/16`, autoIpFrom: `${b}.0.1`, autoIpTo: `${b}.255.254`, eth: 'eth2' },
  });
  if (!c.ok) throw new Error(c.message);
  return { s1: c.subnet1, s2: c.subnet2 };
}

const show = (r: Allocated[] | undefined) => JSON.stringify(r?.map((x) => x.ip));

export async function run(_ctx: BenchContext): Promise<Section> {
  const sec = newSection('allocate', 'Automatic IP allocation in a nearly full /16 auto range');
  const fills = size([1000, 10_000, 30_000, 60_000], [1000, 10_000, 60_000]);
  const budget = size(200, 60);

  // ---- 1. the allocator alone -------------------------------------------------------------------
  const ranges = [
    { label: '127.54/16 + 127.55/16', ...subnets('127.54', '127.55') },
    { label: '172.16/16 + 172.17/16', ...subnets('172.16', '172.17') },
  ];
  const pure: { range: string; mode: string; fill: number; now: number; legacy: number }[] = [];
  for (const r of ranges) {
    for (const fill of fills) {
      const used = new Set<number>();
      for (let i = 0; i < fill; i++) {
        used.add(r.s1.from + i);
        used.add(r.s2.from + i);
      }
      for (const [mode, choice] of [
        ['subnet 1, 2 paths', 1],
        ['both (lockstep), 2 paths', 3],
      ] as const) {
        const got = show(allocateAuto(choice, 2, r.s1, r.s2, used));
        const want = show(legacyAllocate(choice, 2, r.s1, r.s2, used));
        if (got !== want) throw new Error(`allocateAuto and the reference disagree at ${fill} used (${r.label}, ${mode}): ${got} vs ${want}`);
        const tNow = perCall(() => allocateAuto(choice, 2, r.s1, r.s2, used), budget);
        const tOld = perCall(() => legacyAllocate(choice, 2, r.s1, r.s2, used), budget);
        pure.push({ range: r.label, mode, fill, now: tNow, legacy: tOld });
      }
    }
    log(`allocate: pure allocator measured for ${r.label}`);
  }
  const f0 = fills[0] as number;
  const fN = fills[fills.length - 1] as number;
  sec.tables.push({
    title: 'allocateAuto alone: time per allocation (used IPs = the first ones of each range)',
    head: ['range', 'mode', 'used IPs', 'now', 'growth vs 1,000', 'before (reference)', 'growth vs 1,000', 'speed-up'],
    rows: pure.map((p) => {
      const b = pure.find((x) => x.range === p.range && x.mode === p.mode && x.fill === f0) as (typeof pure)[number];
      return [
        p.range,
        p.mode,
        p.fill.toLocaleString('en-US'),
        ms(p.now),
        ratio(p.now / b.now, 1),
        ms(p.legacy),
        ratio(p.legacy / b.legacy, 1),
        ratio(p.legacy / p.now, 1),
      ];
    }),
  });
  for (const r of ranges)
    for (const mode of ['subnet 1, 2 paths', 'both (lockstep), 2 paths']) {
      const a = pure.find((x) => x.range === r.label && x.mode === mode && x.fill === f0);
      const z = pure.find((x) => x.range === r.label && x.mode === mode && x.fill === fN);
      if (!a || !z) continue;
      sec.notes.push(
        `${r.label}, ${mode}: ${f0.toLocaleString('en-US')} → ${fN.toLocaleString('en-US')} used IPs (×${fN / f0}): now ×${(z.now / a.now).toFixed(1)} (exponent ${growthExponent(f0, a.now, fN, z.now).toFixed(2)}), before ×${(z.legacy / a.legacy).toFixed(1)} (exponent ${growthExponent(f0, a.legacy, fN, z.legacy).toFixed(2)}).`,
      );
    }
  const worst = pure.filter((p) => p.fill === fN).sort((a, b) => b.now - a.now)[0];
  const worstOld = pure.filter((p) => p.fill === fN).sort((a, b) => b.legacy - a.legacy)[0];
  if (worst && worstOld)
    sec.headline.push(`allocateAuto at ${fN.toLocaleString('en-US')} used IPs: ${ms(worst.now)} worst case now (before: ${ms(worstOld.legacy)})`);

  // ---- 2. a whole add through the API -------------------------------------------------------------
  const diskLevels = fills.map((f) => f / 2); // 2 paths per disk
  const bp = await startBenchProduct(54, { agent: { enabled: false, leaseTtlSeconds: 10 }, cluster: wideCluster(54, 55) });
  const api: { disks: number; used: number; add: number; read: number }[] = [];
  try {
    const checked = checkConfig(bp.tp.settings.cluster);
    if (!checked.ok) throw new Error(checked.message);
    let have = 0;
    let seq = 0;
    for (const level of diskLevels) {
      await populate(bp.tp.product.store, have + 1, level, {
        subnet: checked.subnet1,
        iqnBase: bp.tp.settings.cluster.iqnBase,
        pool: 'rbd',
        paths: 2,
        batch: 5000,
      });
      have = level;
      const warm = await http(bp.url, 'POST', '/api/v1/disks', addBody(`alloc-${++seq}`, { activePaths: 2, subnet: 1 }));
      if (warm.status !== 201) throw new Error(`add at ${level} disks: ${warm.status} ${JSON.stringify(warm.json).slice(0, 300)}`);
      have++;
      const times: number[] = [];
      for (let i = 0; i < size(5, 3); i++) {
        const t0 = now();
        const r = await http(bp.url, 'POST', '/api/v1/disks', addBody(`alloc-${++seq}`, { activePaths: 2, subnet: 1 }));
        times.push(now() - t0);
        if (r.status !== 201) throw new Error(`add at ${level} disks: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
        have++;
      }
      // the part of an add that reads the store: what DiskService.add does before planning
      const reads: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = now();
        assembleDisks(await bp.tp.product.store.list(`${ROOT}/`));
        reads.push(now() - t0);
      }
      api.push({ disks: have, used: have * 2, add: median(times), read: median(reads) });
      log(`allocate: add through the API at ${level} disks: ${ms(median(times))}`);
    }
  } finally {
    await bp.stop();
  }
  const a0 = api[0];
  sec.tables.push({
    title: `A whole add through the HTTP API (POST /api/v1/disks, 2 paths, subnet 1), embedded store, file images: median of ${size(5, 3)} after one warm-up add`,
    head: ['disks', 'used IPs', 'add latency', 'growth', 'of which: read the store (list + assembleDisks)'],
    rows: api.map((r) => [r.disks.toLocaleString('en-US'), r.used.toLocaleString('en-US'), ms(r.add), a0 ? ratio(r.add / a0.add, 1) : '', ms(r.read)]),
  });
  const aN = api[api.length - 1];
  if (a0 && aN) {
    const k = growthExponent(a0.used, a0.add, aN.used, aN.add);
    sec.headline.push(
      `add through the API: ${ms(a0.add)} at ${a0.used.toLocaleString('en-US')} used IPs → ${ms(aN.add)} at ${aN.used.toLocaleString('en-US')} (growth exponent ${k.toFixed(2)}; 2 would be quadratic)`,
    );
  }
  sec.notes.push(
    'Allocation (pure) now costs at most one pass over the used set plus one over the range (a bitmap once the walk passes 1,024 positions); before, it was one hash look-up per position up to the first free run, which is slow for IPs ≥ 128.0.0.0 (V8 heap numbers).',
    'A whole add grows linearly with the disks: each add reads the whole store prefix (DiskService.readDisks) to learn used IPs, names and ids; that read, not the allocation, is most of it (see the list section).',
    'Disks for the fill levels are written into the store directly (bench/lib/populate.ts), 2 paths each, IPs from the start of the auto range.',
  );
  return sec;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { standalone } = await import('./lib/standalone.js');
  await standalone(run, { etcd: false, ceph: false });
}
