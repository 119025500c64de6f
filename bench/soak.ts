/**
 * The full-length 3-node soak (issue #8): the same code as test/reliability/soak.test.ts
 * (test/reliability/lib/soak.ts), 10 minutes with a node restarted every minute by default.
 *
 *   node --import tsx bench/soak.ts                       (root; HA tools as for test/integration/ha-*)
 *   SOAK_SECONDS=600 SOAK_RESTART_EVERY_S=60 SOAK_MAX_OPS=20000 SOAK_MAX_DISKS=10 SOAK_WORKERS=2 SOAK_SEED=1 SOAK_TTL=10
 *
 * Prints ops/s, op latencies p50/p99 and outcomes per op kind, each restart (node, kind, how long the
 * restart took, convergence: every disk started before it `started` again), the convergence after the
 * last op, and the end-state check (served once, answering, store = images = ops, no IP twice). One
 * JSON line `SOAK_BENCH {...}` at the end. Exits 1 when the end state is wrong.
 */
import { SimCluster } from '../test/harness/cluster.js';
import { waitClusterConsistent } from '../test/reliability/lib/cluster-check.js';
import { modelViolations, percentile, runSoak, soakParamsFromEnv, soakTable } from '../test/reliability/lib/soak.js';

const params = soakParamsFromEnv({ seconds: 600, restartEverySeconds: 60, maxOps: 20_000 });
const TTL = Number(process.env.SOAK_TTL ?? 10);

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench/soak.ts needs root (network namespaces, tgtd)\n');
    return 2;
  }
  process.stdout.write(`# soak bench: ${JSON.stringify({ ...params, ttl: TTL })}\n`);
  const c = await SimCluster.start({ nodes: 3, leaseTtlSeconds: TTL });
  const problems: string[] = [];
  try {
    const r = await runSoak(c, { ...params, log: (l) => process.stdout.write(`${l}\n`) });
    process.stdout.write(`\n${soakTable(r)}\n\n`);
    for (const n of c.nodes) if (!n.agentPid) await n.startAgent();
    let convergedMs: number | undefined;
    let checkedMs: number | undefined;
    try {
      ({ convergedMs, checkedMs } = await waitClusterConsistent(c, 180_000));
    } catch (e) {
      problems.push((e as Error).message);
    }
    const list = await c.disks.list();
    if (list.ok) problems.push(...modelViolations(r, list.disks));
    else problems.push(`disk list: ${list.code}`);
    const unclear = r.ops.filter((o) => o.outcome === 'unclear');
    for (const o of unclear) problems.push(`${o.kind}: unclear outcome ${o.message}`);
    await c.watcher.stop();
    const overlaps = c.watcher.overlaps();
    if (overlaps.length) problems.push(`path IPs on two nodes at once: ${JSON.stringify(overlaps.slice(0, 5))}`);
    const lat = (k: string) => r.ops.filter((o) => o.kind === k).map((o) => o.ms);
    const summary = {
      seconds: Math.round(r.elapsedMs / 1000),
      ops: r.ops.length,
      opsPerSecond: Number((r.ops.length / (r.elapsedMs / 1000)).toFixed(2)),
      latencyMs: Object.fromEntries(
        ['add', 'stop', 'start', 'delete', 'edit'].map((k) => [k, { p50: Math.round(percentile(lat(k), 0.5)), p99: Math.round(percentile(lat(k), 0.99)) }]),
      ),
      outcomes: r.ops.reduce<Record<string, number>>((m, o) => {
        m[`${o.kind}:${o.outcome}`] = (m[`${o.kind}:${o.outcome}`] ?? 0) + 1;
        return m;
      }, {}),
      restarts: r.restarts,
      convergedAfterLastOpMs: convergedMs,
      checkedAfterLastOpMs: checkedMs,
      watcherRounds: c.watcher.rounds,
      ipOverlaps: overlaps.length,
      disksAtEnd: list.ok ? list.disks.length : undefined,
      problems: problems.length,
    };
    process.stdout.write(
      `converged after the last op: ${convergedMs ?? 'NO'} ms (checked: ${checkedMs ?? '-'} ms); IP watcher: ${c.watcher.rounds} rounds, ${overlaps.length} overlaps\n`,
    );
    process.stdout.write(problems.length ? `PROBLEMS:\n  - ${problems.join('\n  - ')}\n` : 'end state: consistent\n');
    process.stdout.write(`SOAK_BENCH ${JSON.stringify(summary)}\n`);
  } finally {
    await c.destroy();
  }
  return problems.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
