/**
 * Failover bench on the simulated cluster (test/harness): 3 nodes, a 3-path disk (one path per node),
 * an `iscsi-perf` reading through path 1 from the client namespace, then two failures of path 1's node:
 *
 *   crash   agent and tgtds SIGKILLed, cables pulled (its lease runs out; the others take its paths)
 *   cut     its management link down (it fences itself at 0.6 TTL; the lease runs out; paths move)
 *
 * For each: the time from the failure to every path served by another node (etcd) and to every path
 * answering an INQUIRY from the client, and the I/O stall iscsi-perf saw (from the longest gap between
 * two of its progress reports: between gap - 1 s and gap). Fence time for the cut.
 *
 *   node --import tsx bench/failover.ts        (root; PW_BENCH_TTL=3 lease TTL in seconds)
 * Prints a table and one JSON line (`FAILOVER_BENCH {...}`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { INITIATOR, SimCluster, waitUntil } from '../test/harness/cluster.js';

const TTL = Number(process.env.PW_BENCH_TTL ?? 3);

interface Report {
  t: number;
  iops: number;
}

/** iscsi-perf in the client namespace; collects its progress reports with arrival times. */
function startPerf(c: SimCluster, url: string, seconds: number): { child: ChildProcess; reports: Report[]; done: Promise<void> } {
  const child = spawn(
    'ip',
    ['netns', 'exec', c.client, 'iscsi-perf', '-i', INITIATOR, '-m', '8', '-b', '8', '-t', String(seconds), '-n', '-x', '1000', url],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
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

async function scenario(c: SimCluster, kind: 'crash' | 'cut', disk: { id: string; iqn: string }) {
  const paths = await c.waitServed(disk.id, 30_000);
  const p1 = paths[0] as (typeof paths)[number];
  const victim = c.node(p1.node as string);
  const perf = startPerf(c, c.lunUrl(p1.ip, disk.iqn), 8 + TTL * 3);
  await waitUntil('iscsi-perf running', () => (perf.reports.length >= 3 ? true : undefined), 30_000, 50);
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
    await waitUntil(
      'victim fenced',
      async () => ((await victim.pathIps()).length === 0 && victim.tgtds().length === 0 ? true : undefined),
      30_000,
      20,
    );
    fenceMs = Math.round(performance.now() - t0);
  }
  await waitUntil(
    'paths served by other nodes',
    async () => {
      const r = await c.disks.paths(disk.id);
      return r.ok && r.paths.every((p) => p.state === 'served' && p.node && p.node !== victim.name) ? true : undefined;
    },
    60_000,
    20,
  );
  const servedMs = Math.round(performance.now() - t0);
  await expired;
  const lost = paths.filter((p) => p.node === victim.name);
  await waitUntil(
    'every moved path answering',
    async () => {
      for (const p of lost) if ((await c.inquiry(p.ip, disk.iqn, 3000).catch(() => '')) !== `PW${disk.id}`) return undefined;
      return true;
    },
    60_000,
    20,
  );
  const answeringMs = Math.round(performance.now() - t0);
  // Let iscsi-perf go on past the recovery, then stop it.
  await waitUntil(
    'iscsi-perf reporting again',
    () => (perf.reports.some((r) => r.t > t0 + answeringMs) ? true : undefined),
    30_000,
    50,
  ).catch(() => undefined);
  perf.child.kill('SIGINT');
  await Promise.race([perf.done, new Promise((r) => setTimeout(r, 5000))]);
  if (perf.child.exitCode === null) perf.child.kill('SIGKILL');
  const s = stall(perf.reports, t0);
  const recovered = perf.reports.some((r) => r.t > t0 + 100 && r.iops > 0);
  // Bring the cluster back to three nodes with one path each.
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
  await c.paths.rebalance();
  return {
    kind,
    victim: victim.name,
    ttlMs: TTL * 1000,
    fenceMs,
    expiredMs,
    servedMs,
    answeringMs,
    ioStallMaxMs: s.gapMs,
    ioStallMinMs: Math.max(0, s.gapMs - 1000),
    steadyIops: s.steadyIops,
    ioRecovered: recovered,
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/failover.ts needs root (network namespaces)');
  const t = performance.now();
  const c = await SimCluster.start({ nodes: 3, leaseTtlSeconds: TTL, logLevel: process.env.PW_BENCH_LOG ?? 'warn' });
  try {
    process.stderr.write(`cluster of 3 nodes up in ${Math.round(performance.now() - t)} ms (${c.id}, lease TTL ${TTL} s)\n`);
    const r = await c.disks.add({
      name: 'bench',
      sizeGb: 1,
      activePaths: 3,
      subnet: 1,
      ipMode: 'auto',
      acl: { mode: 'all' },
      auth: { mode: 'none' },
    });
    if (!r.ok) throw new Error(`add: ${r.message}`);
    const results = [];
    for (const kind of ['crash', 'cut'] as const) results.push(await scenario(c, kind, r.disk));
    await c.watcher.stop();
    const overlaps = c.watcher.overlaps().length;
    const rows = results.map((x) =>
      [
        x.kind.padEnd(6),
        String(x.ttlMs).padStart(6),
        String(x.fenceMs ?? '-').padStart(8),
        String(x.expiredMs).padStart(9),
        String(x.servedMs).padStart(9),
        String(x.answeringMs).padStart(11),
        `${x.ioStallMinMs}-${x.ioStallMaxMs}`.padStart(14),
        String(x.steadyIops).padStart(7),
        x.ioRecovered ? 'yes' : 'NO',
      ].join('  '),
    );
    process.stdout.write(
      [
        'failover (ms from the failure)',
        'kind       ttl    fenced  expired     served   answering  io stall (ms)    iops  io back',
        ...rows,
        `path IPs on two nodes at once: ${overlaps} (over ${c.watcher.rounds} sampling rounds)`,
        `FAILOVER_BENCH ${JSON.stringify({ ttlSeconds: TTL, results, overlaps })}`,
        '',
      ].join('\n'),
    );
  } finally {
    await c.destroy();
  }
}

main().catch((e) => {
  process.stderr.write(`bench/failover: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
