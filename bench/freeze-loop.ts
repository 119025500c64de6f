/**
 * Freeze loop (issue 17, "no stale write ever lands"): test/integration/ha-freeze.test.ts many times
 * over. Not in CI, and not in `npm run bench` (bench/run-all.ts has no list of optional long benches):
 *
 *   node --import tsx bench/freeze-loop.ts                 (root; scripts/setup.sh built dist/bin/pw-verify)
 *   FREEZE_REPS=20        freezes with storage fencing on (default 20)
 *   FREEZE_OFF_REPS=5     then freezes with it off (agents restarted with agent.storageFencing false; default 5, 0: none)
 *   FREEZE_TTL=4          lease TTL in seconds
 *   FREEZE_BLOCKS=256 FREEZE_QD=64      pw-verify's region and queue depth, fencing on (default: the shape that makes stale
 *                                       writes likely without fencing, as with it off; the test uses 4096/16)
 *   FREEZE_OFF_BLOCKS=256 FREEZE_OFF_QD=64   the same with fencing off
 *
 * The Ceph netns cluster (test/harness/cluster.ts: etcd and a one-node Ceph in the infra namespace, 3
 * nodes each with a real agent, fence guard and tgtds), one shared 2-path disk. Each repetition
 * (freezeFailoverRep in the harness) freezes the node serving the disk (every process of it at once,
 * a freezer cgroup) while pw-verify writes through both path URLs from the client namespace; the disk
 * is served elsewhere and the verifier goes on there; the frozen node is thawed (its tgtd executes
 * what it still held, unless the storage refuses it) and fences itself; the verifier reads back.
 * Per repetition it prints: failover ms (freeze -> the verifier acknowledged writes through the new
 * owner again, from its once-a-second progress lines: up to 1 s late; also the exact reconnect), the
 * storage fence ms (the new owner's 'storage fenced' log line), acked writes, writes in doubt (held by
 * the frozen node), lost and stale, and path IPs seen on two nodes outside the freeze (the thawed node
 * is allowed none once it was found clean). Ends with a table and one `FREEZE_BENCH {json}` line.
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type FreezeRep, Freezer, SimCluster, freezeFailoverRep } from '../test/harness/cluster.js';
import { PW_VERIFY } from '../test/helpers/write-verifier.js';
import { type Table, tableText } from './lib/report.js';
import { median } from './lib/stats.js';

const env = (k: string, d: number) => {
  const v = Number(process.env[k] ?? d);
  return Number.isFinite(v) && v >= 0 ? v : d;
};
const REPS = env('FREEZE_REPS', 20);
const OFF_REPS = env('FREEZE_OFF_REPS', 5);
const TTL = env('FREEZE_TTL', 4);
const ON = { blocks: env('FREEZE_BLOCKS', 256), queueDepth: env('FREEZE_QD', 64) };
const OFF = { blocks: env('FREEZE_OFF_BLOCKS', 256), queueDepth: env('FREEZE_OFF_QD', 64) };

const t0 = performance.now();
const say = (s: string) => process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${s}\n`);

interface Row {
  fencing: 'on' | 'off';
  rep: number;
  r?: FreezeRep;
  error?: string;
  /** IP overlaps the watcher saw during this rep outside the frozen node's window */
  overlapsOutside: number;
}

async function loop(c: SimCluster, disk: { id: string; iqn: string }, fencing: 'on' | 'off', reps: number, rows: Row[]): Promise<void> {
  const shape = fencing === 'on' ? ON : OFF;
  for (let rep = 1; rep <= reps; rep++) {
    const from = performance.now();
    const row: Row = { fencing, rep, overlapsOutside: 0 };
    try {
      row.r = await freezeFailoverRep(c, { disk, dir: c.dir, ...shape, cmdTimeoutS: 2, giveUpS: 120, writeAfterFailoverMs: 3000, settleMs: 5000 });
    } catch (e) {
      row.error = (e as Error).message.split('\n')[0]?.slice(0, 300);
    }
    const to = performance.now();
    const w = row.r?.window;
    row.overlapsOutside = c.watcher
      .overlaps()
      .filter((o) => o.t >= from && o.t <= to && !(w && row.r && (o.a === row.r.frozen || o.b === row.r.frozen) && o.t >= w.from && o.t <= w.to)).length;
    rows.push(row);
    const r = row.r;
    say(
      r
        ? `fencing ${fencing} rep ${rep}: ${r.frozen} -> ${r.to}; failover ${r.writingMs} ms (reconnect ${r.reconnectMs} ms, served ${r.servedMs} ms); ` +
            `fence ${r.fence ? `${r.fence.ms} ms, ${r.fence.clients.length} client(s)` : 'none'}${r.fenceFailures ? ` (${r.fenceFailures} failed tries)` : ''}; ` +
            `acked ${r.acked}, in doubt ${r.writer.in_doubt_writes}, lost ${r.lost}, stale ${r.stale}; thawed node clean ${r.cleanMs} ms; ` +
            `IP overlaps outside the freeze ${row.overlapsOutside}; load ${(loadavg()[0] ?? 0).toFixed(1)}`
        : `fencing ${fencing} rep ${rep}: FAILED: ${row.error}`,
    );
    if (r && r.stale + r.lost > 0) say(`  problems: ${JSON.stringify([...r.writer.problems, ...r.afterThaw.problems, ...r.during.problems].slice(0, 4))}`);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('root needed (network namespaces, tgtd, cgroups)');
  if (!existsSync(PW_VERIFY)) throw new Error(`${PW_VERIFY} missing: run scripts/setup.sh`);
  if (!Freezer.hierarchy()) throw new Error('no freezer cgroup (cgroup v1 freezer or v2) on this host');
  say(`freeze loop: ${REPS} reps with storage fencing, ${OFF_REPS} without; TTL ${TTL} s; freezer ${Freezer.hierarchy()?.kind}`);
  const c = await SimCluster.start({ nodes: 3, leaseTtlSeconds: TTL, images: 'rbd' });
  const rows: Row[] = [];
  try {
    say(`cluster up (Ceph started in ${c.ceph?.startMs} ms)`);
    const added = await c.disks.add({ name: 'freezeloop', sizeGb: 1, activePaths: 2, subnet: 3, ipMode: 'auto', acl: { mode: 'all' }, auth: { mode: 'none' } });
    if (!added.ok) throw new Error(JSON.stringify(added));
    const disk = { id: added.disk.id, iqn: added.disk.iqn };
    await c.waitServed(disk.id, 60_000);
    await loop(c, disk, 'on', REPS, rows);
    if (OFF_REPS > 0) {
      c.setAgentSettings({ storageFencing: false });
      for (const n of c.nodes) await n.restartAgent();
      say('agents restarted with storageFencing false');
      await loop(c, disk, 'off', OFF_REPS, rows);
    }
  } finally {
    await c.destroy();
  }

  const ok = rows.filter((x) => x.r);
  const table: Table = {
    title: 'Freeze loop: per repetition',
    head: ['fencing', 'rep', 'frozen -> to', 'failover ms', 'reconnect ms', 'fence ms', 'acked', 'in doubt', 'lost', 'stale', 'IP overlaps'],
    rows: rows.map((x) =>
      x.r
        ? [
            x.fencing,
            x.rep,
            `${x.r.frozen} -> ${x.r.to}`,
            x.r.writingMs,
            x.r.reconnectMs,
            x.r.fence ? x.r.fence.ms : '-',
            x.r.acked,
            x.r.writer.in_doubt_writes,
            x.r.lost,
            x.r.stale,
            x.overlapsOutside,
          ]
        : [x.fencing, x.rep, `failed: ${x.error ?? ''}`.slice(0, 60), '', '', '', '', '', '', '', x.overlapsOutside],
    ),
  };
  process.stdout.write(`\n${tableText(table)}\n\n`);
  const sum = (f: 'on' | 'off') => {
    const rs = ok.filter((x) => x.fencing === f).map((x) => x.r as FreezeRep);
    return {
      reps: rows.filter((x) => x.fencing === f).length,
      failedReps: rows.filter((x) => x.fencing === f && !x.r).length,
      failoverMsMedian: rs.length ? median(rs.map((r) => r.writingMs)) : null,
      failoverMsMax: rs.length ? Math.max(...rs.map((r) => r.writingMs)) : null,
      fenceMsMedian: rs.some((r) => r.fence) ? median(rs.filter((r) => r.fence).map((r) => r.fence?.ms as number)) : null,
      acked: rs.reduce((a, r) => a + r.acked, 0),
      inDoubt: rs.reduce((a, r) => a + r.writer.in_doubt_writes, 0),
      lost: rs.reduce((a, r) => a + r.lost, 0),
      stale: rs.reduce((a, r) => a + r.stale, 0),
      repsWithStale: rs.filter((r) => r.stale > 0).length,
      ipOverlapsOutsideFreeze: rows.filter((x) => x.fencing === f).reduce((a, x) => a + x.overlapsOutside, 0),
    };
  };
  const on = sum('on');
  const off = OFF_REPS > 0 ? sum('off') : null;
  say(
    `fencing on: ${on.reps} reps (${on.failedReps} failed), failover median ${on.failoverMsMedian} ms (max ${on.failoverMsMax}), fence median ${on.fenceMsMedian} ms, ` +
      `${on.acked} acked, ${on.inDoubt} in doubt, ${on.lost} lost, ${on.stale} stale`,
  );
  if (off)
    say(
      `fencing off: ${off.reps} reps, stale writes in ${off.repsWithStale} of them (${off.stale} stale, ${off.lost} lost of ${off.acked} acked, ${off.inDoubt} in doubt)`,
    );
  process.stdout.write(
    `FREEZE_BENCH ${JSON.stringify({ ttl: TTL, on, off, rows: rows.map((x) => ({ ...x, r: x.r && { ...x.r, writer: undefined, afterThaw: undefined, during: undefined } })) })}\n`,
  );
  if (on.lost + on.stale > 0 || on.failedReps > 0) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`freeze loop failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
