/**
 * The cost of sampling: CPU of `portway serve` (API + agent, one process on a single box) at rest with
 * every path served, with the target sampler on (the default: every 3 s each tgtd is asked who is
 * connected and what I/O it did: connected hosts, I/O rates, the per-disk I/O metrics) and off
 * (`agent.sampling: false`), and the CPU of all the tgtds meanwhile (they answer the sampler's requests).
 *
 * One product (its own process, src/ compiled with esbuild, lib/build.ts), N single-path disks on the
 * embedded store and file images: sampling on first, serving every path; then the product is SIGKILLed,
 * its tgtds keep running, and it is started again with sampling off, then once more with sampling on,
 * each adopting the same tgtds (nothing is served anew). The comparison is between the last two runs:
 * both just after an adopting start, measured after the same settling time.
 *
 *   node --import tsx bench/agent-cpu.ts          BENCH_AGENT_CPU_DISKS=1000 (default; BENCH_QUICK: 50)
 *   BENCH_AGENT_CPU_SECONDS=30                     the measuring window of each run
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mapSettled } from '../src/util/async.js';
import { freePortRange } from '../test/helpers/services.js';
import { buildCli } from './lib/build.js';
import { logTail, spawnServe } from './lib/serve.js';
import type { BenchContext } from './lib/context.js';
import { QUICK, load, log, onCleanup, size } from './lib/env.js';
import { cpuSeconds } from './lib/proc.js';
import { addBody, http, killUnrecordedTgtds, stopPortals, wideCluster } from './lib/product.js';
import { type Section, newSection } from './lib/report.js';

const CONTROL_PORT_BASE = 31_600; // 1,000 tgtd control ports from here (memory.ts: 30,500 up; tests: 20,000 + octet * 100)
const OCTETS = [50, 51] as const;

/** A CPU share in % of one core, one decimal (sampling's cost is a few tenths). */
const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a');

/** Starts `portway serve`; `ready` resolves with its URL once it prints PORTWAY_READY, within readyMs. */
function startServe(nodeArgs: string[], config: string, logFile: string, readyMs: number): { child: ChildProcess; ready: Promise<string> } {
  const { child, ready: printed } = spawnServe(nodeArgs, config, logFile);
  let timer: NodeJS.Timeout | undefined;
  const ready = Promise.race([
    printed,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not ready within ${readyMs / 1000} s: ${logTail(logFile)}`)), readyMs);
    }),
  ]).finally(() => clearTimeout(timer));
  ready.catch(() => undefined);
  return { child, ready };
}

/** PIDs of the live tgtds the driver's run dir records. */
function tgtdPids(runDir: string): number[] {
  let files: string[] = [];
  try {
    files = readdirSync(runDir);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const f of files) {
    if (!f.endsWith('.json')) continue;
    try {
      const pid = (JSON.parse(readFileSync(join(runDir, f), 'utf8')) as { pid: number }).pid;
      if (cpuSeconds(pid)) pids.push(pid);
    } catch {}
  }
  return pids;
}

async function startedCount(url: string): Promise<number> {
  const l = await http(url, 'GET', '/api/v1/disks');
  return (l.json?.disks ?? []).filter((d: { status: string }) => d.status === 'started').length;
}

/** CPU shares over `seconds`: the product itself, the programs it ran, and all the tgtds together. */
async function measure(pid: number, tgtds: number[], seconds: number): Promise<{ self: number; children: number; tgtds: number }> {
  const sumT = () => tgtds.reduce((a, p) => a + (cpuSeconds(p)?.self ?? 0), 0);
  const a = cpuSeconds(pid);
  const ta = sumT();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const b = cpuSeconds(pid);
  const tb = sumT();
  if (!a || !b) throw new Error('the product is gone');
  return { self: (b.self - a.self) / seconds, children: (b.children - a.children) / seconds, tgtds: (tb - ta) / seconds };
}

export async function run(ctx: BenchContext): Promise<Section> {
  const sec = newSection('agent-cpu', "The agent's CPU at rest, with and without target sampling");
  const disks = Number(process.env.BENCH_AGENT_CPU_DISKS) || size(1000, 50);
  const window = Number(process.env.BENCH_AGENT_CPU_SECONDS) || size(30, 10);
  const cli = buildCli();
  const stateDir = mkdtempSync(join(tmpdir(), 'portway-bench-cpu-'));
  const webDir = join(stateDir, 'web');
  mkdirSync(webDir);
  writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>portway</title>\n');
  const port = await freePortRange(1);
  const config = (sampling: boolean) => {
    const f = join(stateDir, `sampling-${sampling}.json`);
    writeFileSync(
      f,
      JSON.stringify({
        stateDir,
        listenHost: '127.0.0.1',
        listenPort: port,
        node: 'bench1',
        cluster: wideCluster(...OCTETS),
        images: { kind: 'file' },
        coord: { kind: 'embedded' },
        agent: { enabled: true, leaseTtlSeconds: 10, sampling },
        tgtControlPortBase: CONTROL_PORT_BASE,
        webDir,
        auth: { enabled: false },
        tls: { enabled: false },
      }),
    );
    return f;
  };
  const runDir = join(stateDir, 'run', 'tgt');
  const logFile = join(tmpdir(), `portway-bench-cpu-${process.pid}.log`);
  let child: ChildProcess | undefined;
  const killChild = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  const cleanup = onCleanup(async () => {
    await killChild();
    const n = await stopPortals(runDir, join(stateDir, 'log'), CONTROL_PORT_BASE);
    const strays = await killUnrecordedTgtds([...OCTETS]);
    if (n || strays) log(`agent-cpu: stopped ${n} tgtds${strays ? ` (+${strays} not yet recorded)` : ''}`);
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(logFile, { force: true });
  });
  // Every path served, or the deadline (within the run's budget): at most 10 min per run.
  const waitServed = async (url: string, what: string): Promise<number> => {
    const deadline = Math.min(Date.now() + size(10 * 60_000, 3 * 60_000), (ctx.budgetEnd ?? Number.POSITIVE_INFINITY) - 60_000);
    let last = 0;
    for (;;) {
      const n = await startedCount(url);
      if (n >= disks || Date.now() > deadline) return n;
      if (Date.now() - last > 30_000) {
        last = Date.now();
        log(`agent-cpu: ${what}: ${n}/${disks} served (${load()})`);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  const results: { sampling: boolean; adopted: boolean; served: number; cpu: { self: number; children: number; tgtds: number }; load: string }[] = [];
  try {
    for (const [i, sampling] of [true, false, true].entries()) {
      const s = startServe(cli.nodeArgs, config(sampling), logFile, 180_000);
      child = s.child;
      const url = await s.ready;
      if (i === 0) {
        let seq = 0;
        await mapSettled(Array.from({ length: disks }), 4, async () => {
          const r = await http(url, 'POST', '/api/v1/disks', addBody(`cpu-${++seq}`, { activePaths: 1, subnet: 1 }));
          if (r.status !== 201) throw new Error(`add: ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
        });
      }
      const served = await waitServed(url, `sampling ${sampling ? 'on' : 'off'}${i > 0 ? ' (adopting)' : ''}`);
      await new Promise((r) => setTimeout(r, 20_000)); // settle: a few reconciles, the first samples
      const pid = s.child.pid;
      if (pid === undefined) throw new Error('no pid');
      const cpu = await measure(pid, tgtdPids(runDir), window);
      log(
        `agent-cpu: sampling ${sampling ? 'on' : 'off'}, ${served} paths: ${pct(cpu.self)} product, ${pct(cpu.children)} programs, ${pct(cpu.tgtds)} tgtds (${load()})`,
      );
      results.push({ sampling, adopted: i > 0, served, cpu, load: load() });
      // The tgtds stay (killed, not stopped): the next start adopts them.
      await killChild();
    }
  } finally {
    await cleanup();
  }
  const [first, off, on] = results as [(typeof results)[number], (typeof results)[number], (typeof results)[number]];
  sec.tables.push({
    title: `CPU at rest, ${disks.toLocaleString('en-US')} single-path disks, embedded store, file images, ${window} s each (100% = one core)`,
    head: ['run', 'paths served', 'portway serve (API + agent)', 'programs it ran', 'all tgtds', 'load after'],
    rows: results.map((r) => [
      `sampling ${r.sampling ? 'on (every 3 s)' : 'off (agent.sampling: false)'}${r.adopted ? ', restarted (tgtds adopted)' : ', first start'}`,
      r.served,
      pct(r.cpu.self),
      pct(r.cpu.children),
      pct(r.cpu.tgtds),
      r.load,
    ]),
  });
  sec.headline.push(
    `${Math.min(on.served, off.served).toLocaleString('en-US')} paths at rest, after a restart each: portway serve ${pct(on.cpu.self)} with sampling, ${pct(off.cpu.self)} without; all tgtds ${pct(on.cpu.tgtds)} vs ${pct(off.cpu.tgtds)} (first start, sampling on: ${pct(first.cpu.self)} and ${pct(first.cpu.tgtds)})`,
  );
  sec.notes.push(
    'Sampling: every 3 s one `stat` request per tgtd on its control socket (and the session list when the sessions changed); nothing is written to the store while nothing is connected or moving.',
    "The product is one process on a single box (API, agent, embedded store): its CPU at rest includes the agent's periodic checks (resync every 5 s, target re-checks every 60 s), with sampling or not.",
    `${QUICK ? `BENCH_QUICK: ${disks} disks.` : ''}${disks !== 1000 ? ` Run at ${disks} disks (BENCH_AGENT_CPU_DISKS).` : ''}`.trim(),
  );
  sec.notes = sec.notes.filter((n) => n !== '');
  if (on.served < disks || off.served < disks) sec.notes.push(`Not every path was served by the deadline: ${on.served} and ${off.served} of ${disks}.`);
  return sec;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { standalone } = await import('./lib/standalone.js');
  await standalone(run, { etcd: false, ceph: false });
}
