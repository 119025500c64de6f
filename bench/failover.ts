/**
 * Failover bench on the simulated cluster (test/harness): 3 nodes, two 3-path disks of the two
 * placements, one of them started at a time:
 *
 *   shared  (the default) every path on ONE node in ONE tgtd; the paths fail over together (the
 *           survivor claims the whole disk in one etcd transaction)
 *   spread  paths placed one by one over the nodes (one path per node here); only the dead node's
 *           path moves
 *
 * An `iscsi-perf` reads through path 1 from the client namespace, then path 1's node fails:
 *
 *   crash   agent and tgtds SIGKILLed, cables pulled (its lease runs out; the others take its paths)
 *   cut     its management link down (it fences itself at 0.6 TTL; the lease runs out; paths move)
 *
 * For each: the time from the failure to the lease expiry (the node's key gone from etcd), to every
 * lost path served by another node (etcd) and to every lost path answering an INQUIRY from the client
 * (all lost paths polled in parallel; the last one's first answer), the I/O stall iscsi-perf saw (from
 * the longest gap between two of its progress reports: between gap - 1 s and gap), and the fence time
 * for the cut. Each (scenario, placement) runs PW_BENCH_REPS times, the placements interleaved.
 *
 *   node --import tsx bench/failover.ts        (root; PW_BENCH_TTL=3 lease TTL in seconds)
 *   PW_BENCH_REPS=5                            repetitions (BENCH_QUICK=1: 1)
 *   BENCH_DEADLINE_MS=<epoch ms>               set by run-all.ts: no repetition is started that would end after it
 * Prints tables, one JSON line (`FAILOVER_BENCH {...}`) and, for bench/run-all.ts, a
 * `BENCH_SECTION {...}` line (lib/report.ts Section).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { INITIATOR, SimCluster, waitUntil } from '../test/harness/cluster.js';
import { type Section, type Table, newSection, tableText } from './lib/report.js';
import { median, ratio } from './lib/stats.js';

const TTL = Number(process.env.PW_BENCH_TTL ?? 3);
const QUICK = process.env.BENCH_QUICK === '1';
const REPS = Math.max(1, Number(process.env.PW_BENCH_REPS ?? (QUICK ? 1 : 5)));
const DEADLINE = Number(process.env.BENCH_DEADLINE_MS ?? 0) || Number.POSITIVE_INFINITY;
const PLACEMENTS = ['shared', 'spread'] as const;
const KINDS = ['crash', 'cut'] as const;
type Placement = (typeof PLACEMENTS)[number];
type Kind = (typeof KINDS)[number];
interface Disk {
  id: string;
  iqn: string;
}

interface Report {
  t: number;
  iops: number;
}

const loadNow = (): string => (loadavg()[0] ?? 0).toFixed(2);

/** iscsi-perf in the client namespace; collects its progress reports with arrival times. */
function startPerf(c: SimCluster, url: string, seconds: number): { child: ChildProcess; reports: Report[]; done: Promise<void> } {
  const child = spawn('ip', ['netns', 'exec', c.client, 'iscsi-perf', '-i', INITIATOR, '-m', '8', '-b', '8', '-t', String(seconds), '-n', '-x', '1000', url], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid) c.trackPid(child.pid);
  const reports: Report[] = [];
  let buf = '';
  child.stdout?.on('data', (b: Buffer) => {
    const t = performance.now();
    buf += b.toString();
    const parts = buf.split(/[\r\n]/);
    buf = parts.pop() ?? '';
    for (const p of parts) {
      const m = /iops current (\d+)/.exec(p);
      if (m) reports.push({ t, iops: Number(m[1]) });
    }
  });
  child.stderr?.on('data', () => {});
  const done = new Promise<void>((res) => child.once('exit', () => res()));
  return { child, reports, done };
}

/**
 * The I/O stall: iscsi-perf reports about once a second, and only when a command completes, so the
 * longest gap between two reports after the failure bounds the stall: between gap - 1 s and gap.
 */
function stall(reports: Report[], from: number): { gapMs: number; steadyIops: number } {
  const before = reports.filter((r) => r.t < from).slice(-5);
  const steady = before.length ? before.reduce((s, r) => s + r.iops, 0) / before.length : 0;
  let gapMs = 0;
  for (let i = 1; i < reports.length; i++) {
    const a = reports[i - 1] as Report;
    const b = reports[i] as Report;
    if (b.t >= from && b.t - a.t > gapMs) gapMs = b.t - a.t;
  }
  return { gapMs: Math.round(gapMs), steadyIops: Math.round(steady) };
}

async function status(c: SimCluster, id: string): Promise<string | undefined> {
  const d = await c.disks.get(id);
  return d.ok ? d.disk.status : undefined;
}

/**
 * Only disk `on` started: the other one stopped (no tgtd, no path IP), `on` started and rebalanced
 * (a shared disk on one node, a spread one on three). Returns the nodes holding its paths.
 */
async function activate(c: SimCluster, on: Disk, off: Disk): Promise<string[]> {
  const s = await c.disks.stop(off.id);
  if (!s.ok) throw new Error(`stop ${off.id}: ${s.message}`);
  await waitUntil(`${off.id} stopped`, async () => ((await status(c, off.id)) === 'stopped' ? true : undefined), 60_000, 50);
  const r = await c.disks.start(on.id);
  if (!r.ok) throw new Error(`start ${on.id}: ${r.message}`);
  await c.waitServed(on.id, 60_000);
  const b = await c.paths.rebalance();
  if (b.ok && b.failed.length) process.stderr.write(`rebalance: ${b.failed.length} move(s) failed: ${b.failed.map((f) => f.message).join('; ')}\n`);
  const paths = await c.waitServed(on.id, 60_000);
  await c.waitAnswering(paths, on.iqn, on.id, 30_000);
  return paths.map((p) => p.node as string);
}

interface Run {
  kind: Kind;
  placement: Placement;
  rep: number;
  victim: string;
  /** Nodes holding path 1..3 before the failure. */
  nodesBefore: string[];
  /** Paths the victim held (those that had to move), and the nodes they went to. */
  moved: number;
  movedTo: string[];
  ttlMs: number;
  fenceMs: number | undefined;
  expiredMs: number;
  servedMs: number;
  answeringMs: number;
  /** Lease expiry -> the last lost path answering. */
  expiryToAnsweringMs: number;
  ioStallMaxMs: number;
  ioStallMinMs: number;
  steadyIops: number;
  ioRecovered: boolean;
  load: string;
}

async function scenario(c: SimCluster, kind: Kind, placement: Placement, rep: number, disk: Disk): Promise<Run> {
  const paths = await c.waitServed(disk.id, 30_000);
  const p1 = paths[0] as (typeof paths)[number];
  const victim = c.node(p1.node as string);
  const lost = paths.filter((p) => p.node === victim.name);
  const perf = startPerf(c, c.lunUrl(p1.ip, disk.iqn), 8 + TTL * 3);
  await waitUntil('iscsi-perf running', () => (perf.reports.length >= 3 ? true : undefined), 30_000, 50);
  const load = loadNow();
  const t0 = performance.now();
  if (kind === 'crash') await victim.powerOff();
  else await victim.cutManagement();
  let expiredMs: number | undefined;
  const expired = waitUntil(
    'victim lease expired',
    async () => {
      if (!(await c.store.get(`/portway/nodes/${victim.name}`))) expiredMs = Math.round(performance.now() - t0);
      return expiredMs;
    },
    60_000,
    20,
  );
  let fenceMs: number | undefined;
  if (kind === 'cut') {
    await waitUntil('victim fenced', async () => ((await victim.pathIps()).length === 0 && victim.tgtds().length === 0 ? true : undefined), 30_000, 20);
    fenceMs = Math.round(performance.now() - t0);
  }
  const movedTo = await waitUntil(
    'paths served by other nodes',
    async () => {
      const r = await c.disks.paths(disk.id);
      return r.ok && r.paths.every((p) => p.state === 'served' && p.node && p.node !== victim.name)
        ? [...new Set(r.paths.filter((p) => lost.some((l) => l.index === p.index)).map((p) => p.node as string))].sort()
        : undefined;
    },
    60_000,
    20,
  );
  const servedMs = Math.round(performance.now() - t0);
  await expired;
  // Every lost path polled in parallel (a shared disk has three, a spread one here one): its first answer.
  const answered = new Map<string, number>();
  await waitUntil(
    'every moved path answering',
    async () => {
      await Promise.all(
        lost
          .filter((p) => !answered.has(p.ip))
          .map(async (p) => {
            if ((await c.inquiry(p.ip, disk.iqn, 3000).catch(() => '')) === `PW${disk.id}`) answered.set(p.ip, performance.now() - t0);
          }),
      );
      return answered.size === lost.length ? true : undefined;
    },
    60_000,
    20,
  );
  const answeringMs = Math.round(Math.max(...answered.values()));
  // Let iscsi-perf go on past the recovery, then stop it.
  await waitUntil('iscsi-perf reporting again', () => (perf.reports.some((r) => r.t > t0 + answeringMs) ? true : undefined), 30_000, 50).catch(() => undefined);
  perf.child.kill('SIGINT');
  await Promise.race([perf.done, new Promise((r) => setTimeout(r, 5000))]);
  if (perf.child.exitCode === null) perf.child.kill('SIGKILL');
  const s = stall(perf.reports, t0);
  const recovered = perf.reports.some((r) => r.t > t0 + 100 && r.iops > 0);
  // Bring the cluster back to three nodes (activate() rebalances before the next run).
  if (kind === 'crash') await victim.powerOn();
  else await victim.restoreManagement();
  await waitUntil(
    `${victim.name} up`,
    async () => {
      const r = await c.paths.nodes();
      return r.ok && r.nodes.find((n) => n.name === victim.name)?.up ? true : undefined;
    },
    60_000,
    100,
  );
  const exp = expiredMs as number;
  return {
    kind,
    placement,
    rep,
    victim: victim.name,
    nodesBefore: paths.map((p) => p.node as string),
    moved: lost.length,
    movedTo,
    ttlMs: TTL * 1000,
    fenceMs,
    expiredMs: exp,
    servedMs,
    answeringMs,
    expiryToAnsweringMs: answeringMs - exp,
    ioStallMaxMs: s.gapMs,
    ioStallMinMs: Math.max(0, s.gapMs - 1000),
    steadyIops: s.steadyIops,
    ioRecovered: recovered,
    load,
  };
}

const p50 = (xs: number[]): number => Math.round(median(xs));
const max = (xs: number[]): number => Math.max(...xs);
const pm = (xs: number[]): string => (xs.length ? `${p50(xs)} / ${max(xs)}` : '-');

function tables(runs: Run[]): { summary: Table; ratios: Table; all: Table } {
  const summary: Table = {
    title: 'Failover: ms from the failure, p50 / max over the runs (path 1’s node fails; 3-path disk, 3 nodes)',
    head: [
      'scenario',
      'placement',
      'runs',
      'paths moved',
      'fenced',
      'lease expired',
      'served elsewhere',
      'last path answering',
      'expiry → last path answering',
      'io stall ≤ (ms)',
      'io back',
    ],
    rows: [],
  };
  const ratios: Table = {
    title: 'Shared / spread (p50)',
    head: ['scenario', 'expiry → last path answering', 'failure → last path answering', 'io stall ≤'],
    rows: [],
  };
  for (const kind of KINDS) {
    const by = (pl: Placement) => runs.filter((r) => r.kind === kind && r.placement === pl);
    for (const pl of PLACEMENTS) {
      const rs = by(pl);
      if (!rs.length) continue;
      const fence = rs.map((r) => r.fenceMs).filter((x): x is number => x !== undefined);
      summary.rows.push([
        kind,
        pl,
        rs.length,
        [...new Set(rs.map((r) => r.moved))].join('/'),
        fence.length ? pm(fence) : '-',
        pm(rs.map((r) => r.expiredMs)),
        pm(rs.map((r) => r.servedMs)),
        pm(rs.map((r) => r.answeringMs)),
        pm(rs.map((r) => r.expiryToAnsweringMs)),
        pm(rs.map((r) => r.ioStallMaxMs)),
        `${rs.filter((r) => r.ioRecovered).length}/${rs.length}`,
      ]);
    }
    const sh = by('shared');
    const sp = by('spread');
    if (sh.length && sp.length) {
      const q = (f: (r: Run) => number) => ratio(median(sh.map(f)) / median(sp.map(f)));
      ratios.rows.push([kind, q((r) => r.expiryToAnsweringMs), q((r) => r.answeringMs), q((r) => r.ioStallMaxMs)]);
    }
  }
  const all: Table = {
    title: 'Every run (ms from the failure)',
    head: [
      'scenario',
      'placement',
      'rep',
      'load',
      'victim',
      'paths before',
      'moved to',
      'fenced',
      'expired',
      'served',
      'answering',
      'expiry → answering',
      'io stall (ms)',
      'iops',
    ],
    rows: runs.map((r) => [
      r.kind,
      r.placement,
      r.rep,
      r.load,
      r.victim,
      r.nodesBefore.join(','),
      r.movedTo.join(','),
      r.fenceMs ?? '-',
      r.expiredMs,
      r.servedMs,
      r.answeringMs,
      r.expiryToAnsweringMs,
      `${r.ioStallMinMs}-${r.ioStallMaxMs}`,
      r.steadyIops,
    ]),
  };
  return { summary, ratios, all };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/failover.ts needs root (network namespaces)');
  const t = performance.now();
  const loadStart = loadNow();
  const c = await SimCluster.start({ nodes: 3, leaseTtlSeconds: TTL, logLevel: process.env.PW_BENCH_LOG ?? 'warn' });
  try {
    process.stderr.write(`cluster of 3 nodes up in ${Math.round(performance.now() - t)} ms (${c.id}, lease TTL ${TTL} s)\n`);
    const disks = {} as Record<Placement, Disk>;
    for (const placement of PLACEMENTS) {
      const r = await c.disks.add({
        name: `bench-${placement}`,
        sizeGb: 1,
        activePaths: 3,
        subnet: 1,
        ipMode: 'auto',
        acl: { mode: 'all' },
        auth: { mode: 'none' },
        placement,
      });
      if (!r.ok) throw new Error(`add ${placement}: ${r.message}`);
      if (r.disk.placement !== placement) throw new Error(`add ${placement}: the disk is ${r.disk.placement}`);
      disks[placement] = r.disk;
    }
    const runs: Run[] = [];
    const notes: string[] = [];
    let repMs = 0;
    let reps = 0;
    for (let rep = 1; rep <= REPS; rep++) {
      if (rep > 1 && Date.now() + repMs * 1.2 + 30_000 > DEADLINE) {
        notes.push(`Stopped after ${reps} of ${REPS} repetitions: the next would not end within the run's time limit.`);
        break;
      }
      const r0 = performance.now();
      // Interleaved, the first placement alternating: load from elsewhere hits both alike.
      const order = rep % 2 ? PLACEMENTS : ([...PLACEMENTS].reverse() as Placement[]);
      for (const placement of order) {
        const on = disks[placement];
        const off = disks[placement === 'shared' ? 'spread' : 'shared'];
        for (const kind of KINDS) {
          // Before every run (the last one left a path or the disk moved): rebalanced, one disk started.
          const nodes = await activate(c, on, off);
          const distinct = new Set(nodes).size;
          if ((placement === 'shared' && distinct !== 1) || (placement === 'spread' && distinct !== 3))
            notes.push(
              `rep ${rep}, ${placement} ${kind}: paths on ${nodes.join(',')} before the run (expected ${placement === 'shared' ? 'one node' : 'three nodes'}).`,
            );
          const x = await scenario(c, kind, placement, rep, on);
          runs.push(x);
          process.stderr.write(
            `rep ${rep} ${placement} ${kind}: expired ${x.expiredMs}, served ${x.servedMs}, answering ${x.answeringMs} (expiry → answering ${x.expiryToAnsweringMs}) ms, ${x.moved} path(s) moved (load ${x.load})\n`,
          );
        }
      }
      reps = rep;
      repMs = performance.now() - r0;
    }
    await c.watcher.stop();
    const overlaps = c.watcher.overlaps().length;
    const { summary, ratios, all } = tables(runs);
    const loadEnd = loadNow();
    process.stdout.write(
      [
        tableText(summary),
        '',
        tableText(ratios),
        '',
        tableText(all),
        '',
        `path IPs on two nodes at once: ${overlaps} (over ${c.watcher.rounds} sampling rounds); load ${loadStart} at the start, ${loadEnd} at the end (2 CPUs)`,
        ...notes,
        `FAILOVER_BENCH ${JSON.stringify({ ttlSeconds: TTL, reps, runs, overlaps })}`,
        '',
      ].join('\n'),
    );
    // For bench/run-all.ts: the section as it goes into RESULTS.md.
    const sec: Section = newSection('failover', 'Failover (bench/failover.ts)');
    const med = (pl: Placement, kind: Kind, f: (r: Run) => number) => median(runs.filter((r) => r.placement === pl && r.kind === kind).map(f));
    for (const kind of KINDS) {
      const sh = runs.filter((r) => r.kind === kind && r.placement === 'shared');
      const sp = runs.filter((r) => r.kind === kind && r.placement === 'spread');
      if (!sh.length || !sp.length) continue;
      sec.headline.push(
        `${kind}: lease expiry → last path answering p50 ${Math.round(med('shared', kind, (r) => r.expiryToAnsweringMs))} ms shared (${sh[0]?.moved} paths move) vs ${Math.round(med('spread', kind, (r) => r.expiryToAnsweringMs))} ms spread (1 path): ${ratio(med('shared', kind, (r) => r.expiryToAnsweringMs) / med('spread', kind, (r) => r.expiryToAnsweringMs))}; failure → answering ${Math.round(med('shared', kind, (r) => r.answeringMs))} vs ${Math.round(med('spread', kind, (r) => r.answeringMs))} ms (lease TTL ${TTL} s)`,
      );
    }
    if (overlaps) sec.status = 'failed';
    sec.tables.push(summary, ratios, all);
    sec.notes.push(
      `Simulated cluster (test/harness): 3 nodes in network namespaces, real agents and tgtds, etcd, file images; lease TTL ${TTL} s; ${reps} repetition(s) of each (scenario, placement), the placements interleaved. Two 3-path disks, one started at a time: shared (3 paths on one node, one tgtd) and spread (one path per node).`,
      'crash: agent and tgtds SIGKILLed and cables pulled; cut: management link down (the node fences itself at 0.6 TTL). The failing node is the one serving path 1, which iscsi-perf reads through.',
      'expired: the node key gone from etcd; served: every lost path served by another node (etcd); answering: every lost path answering INQUIRY from the client (polled every 20 ms, in parallel; the last path’s first answer). The io stall is the longest gap between iscsi-perf reports (about one a second), so the stall lies between gap - 1 s and gap.',
      `Path IPs on two nodes at once: ${overlaps} (over ${c.watcher.rounds} sampling rounds of the IP watcher).`,
      `Machine load (1 min): ${loadStart} at the start, ${loadEnd} at the end; per run in the last table.`,
      ...notes,
    );
    process.stdout.write(`BENCH_SECTION ${JSON.stringify(sec)}\n`);
  } finally {
    await c.destroy();
  }
}

main().catch((e) => {
  process.stderr.write(`bench/failover: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
