/**
 * Memory: resident size (VmRSS, /proc/<pid>/status) of `portway serve` with 1,000 single-path disks on
 * the embedded store, as the API server alone (agent off) and as API + agent serving every path; and
 * of the tgtds (one per portal, separate processes): RSS, PSS and private memory.
 * Also the agent's CPU use at rest with every path served (its process, plus any program it runs).
 * The product runs as its own process (src/ compiled with esbuild, lib/build.ts), started and stopped
 * by PID; its tgtds are stopped by PID from the driver's run dir.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePortRange } from '../test/helpers/services.js';
import { buildCli } from './lib/build.js';
import { logTail, spawnServe } from './lib/serve.js';
import type { BenchContext } from './lib/context.js';
import { QUICK, load, log, onCleanup, size } from './lib/env.js';
import { cpuSeconds, memDetail, rssBytes } from './lib/proc.js';
import { addBody, http, killUnrecordedTgtds, stopPortals, wideCluster } from './lib/product.js';
import { type Section, newSection } from './lib/report.js';
import { mib, ms, now, pct, summarize } from './lib/stats.js';
import { mapSettled } from '../src/util/async.js';

const CONTROL_PORT_BASE = 30_500; // tgtd control ports are 0..32767; 1,000 from here are rarely used by tests

interface Proc {
  child: ChildProcess;
  pid: number;
  url: string;
}

/** BENCH_MEMORY_NODE_ARGS: extra node flags for the product (e.g. --perf-basic-prof, to profile it). */
const extraNodeArgs = (): string[] => (process.env.BENCH_MEMORY_NODE_ARGS ?? '').split(' ').filter(Boolean);

async function startServe(nodeArgs: string[], config: string, logFile: string, readyMs: number, track: (c: ChildProcess) => void): Promise<Proc> {
  const { child, ready } = spawnServe(nodeArgs, config, logFile, { extraNodeArgs: extraNodeArgs() });
  track(child);
  let timer: NodeJS.Timeout | undefined;
  const url = await Promise.race([
    ready,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`portway serve was not ready within ${readyMs / 1000} s; its log ends: ${logTail(logFile)}`));
      }, readyMs);
    }),
  ]).finally(() => clearTimeout(timer));
  if (child.pid === undefined) throw new Error('no pid');
  return { child, pid: child.pid, url };
}

/**
 * PIDs of the tgtds a driver run dir records (<disk>.json, one tgtd per disk: with one path per disk
 * here, one per path) whose target is configured and that are alive.
 */
function configuredPortals(runDir: string): number[] {
  const pids: number[] = [];
  let files: string[] = [];
  try {
    files = readdirSync(runDir);
  } catch {
    return pids;
  }
  for (const f of files) {
    if (!f.endsWith('.json')) continue;
    try {
      const st = JSON.parse(readFileSync(join(runDir, f), 'utf8')) as { pid: number; specHash: string };
      if (st.specHash && rssBytes(st.pid) !== undefined) pids.push(st.pid);
    } catch {}
  }
  return pids;
}

async function kill(p: Proc, signal: NodeJS.Signals, waitMs: number): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill(signal);
  await Promise.race([exited, new Promise((r) => setTimeout(r, waitMs))]);
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill('SIGKILL');
    await exited;
  }
}

/** CPU share of a process (and the children it waited for) over `seconds`. */
async function cpuShare(pid: number, seconds: number): Promise<{ self: number; children: number }> {
  const a = cpuSeconds(pid);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const b = cpuSeconds(pid);
  if (!a || !b) return { self: Number.NaN, children: Number.NaN };
  return { self: (b.self - a.self) / seconds, children: (b.children - a.children) / seconds };
}

export async function run(ctx: BenchContext): Promise<Section> {
  const sec = newSection('memory', 'Memory: API server, agent and tgtds with 1,000 disks');
  const disks = Number(process.env.BENCH_MEMORY_DISKS) || size(1000, 100);
  // BENCH_MEMORY_PATHS=2: two-path disks (subnet both, placement shared: one tgtd per disk, both
  // paths its portals), e.g. 500 of them for 1,000 paths. Default 1: single-path disks.
  const pathsPerDisk = Number(process.env.BENCH_MEMORY_PATHS) === 2 ? 2 : 1;
  const pathsTotal = disks * pathsPerDisk;
  const cli = buildCli();
  const stateDir = mkdtempSync(join(tmpdir(), 'portway-bench-mem-'));
  const webDir = join(stateDir, 'web');
  mkdirSync(webDir);
  writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>portway</title>\n');
  const port = await freePortRange(1);
  const settings = (agent: boolean) => ({
    stateDir,
    listenHost: '127.0.0.1',
    listenPort: port,
    node: 'bench1',
    cluster: wideCluster(56, 57),
    images: { kind: 'file' },
    coord: { kind: 'embedded' },
    agent: { enabled: agent, leaseTtlSeconds: 10 },
    tgtControlPortBase: CONTROL_PORT_BASE,
    webDir,
    auth: { enabled: false },
    // The bench talks plain HTTP to its own product on 127.0.0.1 (HTTPS is the product's default).
    tls: { enabled: false },
  });
  const cfg = (agent: boolean) => {
    const f = join(stateDir, agent ? 'with-agent.json' : 'api-only.json');
    writeFileSync(f, JSON.stringify(settings(agent)));
    return f;
  };
  let current: Proc | undefined;
  let child: ChildProcess | undefined;
  const track = (c: ChildProcess) => {
    child = c;
  };
  const logFile = join(tmpdir(), `portway-bench-mem-${process.pid}.log`);
  const cleanup = onCleanup(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    const n = await stopPortals(join(stateDir, 'run', 'tgt'), join(stateDir, 'log'), CONTROL_PORT_BASE);
    const strays = await killUnrecordedTgtds([56, 57]);
    if (n || strays) log(`memory: stopped ${n} tgtds${strays ? ` (+${strays} not yet recorded)` : ''}`);
    try {
      rmSync(stateDir, { recursive: true, force: true });
    } catch (e) {
      log(`memory: could not delete ${stateDir}: ${(e as Error).message}`);
    }
  });
  const rows: (string | number)[][] = [];
  try {
    // ---- 1. API server alone ---------------------------------------------------------------------
    current = await startServe(cli.nodeArgs, cfg(false), logFile, 60_000, track);
    const idleApi = rssBytes(current.pid) ?? Number.NaN;
    const p1 = current;
    const tAdd = now();
    let seq = 0;
    await mapSettled(Array.from({ length: disks }), 4, async () => {
      const r = await http(
        p1.url,
        'POST',
        '/api/v1/disks',
        addBody(`mem-${++seq}`, pathsPerDisk === 2 ? { activePaths: 2, subnet: 3, placement: 'shared' } : { activePaths: 1, subnet: 1 }),
      );
      if (r.status !== 201) throw new Error(`add: ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
    });
    const addS = (now() - tAdd) / 1000;
    const list = await http(p1.url, 'GET', '/api/v1/disks');
    if (list.json?.disks?.length !== disks) throw new Error(`${list.json?.disks?.length} disks listed, ${disks} added (an add failed?)`);
    const lt: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = now();
      await http(p1.url, 'GET', '/api/v1/disks');
      lt.push(now() - t0);
    }
    const apiRss = rssBytes(current.pid) ?? Number.NaN;
    log(`memory: API alone: ${mib(idleApi)} idle, ${mib(apiRss)} with ${disks} disks (adds took ${addS.toFixed(0)} s)`);
    await kill(current, 'SIGTERM', 20_000);
    current = undefined;

    // ---- 2. API + agent serving every path --------------------------------------------------------
    // Progress is read from the tgt driver's run dir until the API answers (PORTWAY_READY), then from
    // the API. Capped by a deadline: on a busy
    // machine the memory is measured with the paths served by then.
    const runDir = join(stateDir, 'run', 'tgt');
    const tStart = now();
    // at most 7 min (quick: 3), and within the run's budget, keeping 100 s for what comes after
    const deadline = Math.max(Date.now() + 60_000, Math.min(Date.now() + size(7 * 60_000, 3 * 60_000), (ctx.budgetEnd ?? Number.POSITIVE_INFINITY) - 100_000));
    const spawned = spawnServe(cli.nodeArgs, cfg(true), logFile, { extraNodeArgs: extraNodeArgs() });
    track(spawned.child);
    let readyS = Number.NaN;
    let url: string | undefined;
    void spawned.ready.then((u) => {
      url = u;
      readyS = (now() - tStart) / 1000;
    });
    let served = 0;
    let lastLog = 0;
    for (;;) {
      if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) throw new Error(`portway serve exited: ${logTail(logFile)}`);
      if (url) {
        const l = await http(url, 'GET', '/api/v1/disks');
        served = (l.json?.disks ?? []).filter((d: { status: string }) => d.status === 'started').length;
      } else served = configuredPortals(runDir).length;
      if (served >= disks || Date.now() > deadline) break;
      if (now() - lastLog > 30_000) {
        lastLog = now();
        log(`memory: ${served}/${disks} disks (${served * pathsPerDisk} paths) served after ${((now() - tStart) / 1000).toFixed(0)} s (${load()})`);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
    const serveAllS = (now() - tStart) / 1000;
    // CPU the product (API + agent, one process) used from its start until then: less dependent on
    // what else runs on the machine than the wall time.
    const serveCpuS = spawned.child.pid === undefined ? Number.NaN : (cpuSeconds(spawned.child.pid)?.self ?? Number.NaN);
    const partial = served < disks;
    if (spawned.child.pid === undefined) throw new Error('no pid');
    current = { child: spawned.child, pid: spawned.child.pid, url: url ?? '' };
    log(
      `memory: agent served ${served}/${disks} disks (${served * pathsPerDisk}/${pathsTotal} paths) in ${serveAllS.toFixed(0)} s, ${serveCpuS.toFixed(1)} s CPU (${load()})`,
    );
    // let the agent settle (a reconcile or two), then measure
    if (!partial) await new Promise((r) => setTimeout(r, 6000));
    const cpu = await cpuShare(current.pid, size(15, 6));
    const hold = Number(process.env.BENCH_MEMORY_HOLD_S ?? 0);
    if (hold > 0) {
      log(`memory: holding portway serve (pid ${current.pid}) for ${hold} s (BENCH_MEMORY_HOLD_S)`);
      await new Promise((r) => setTimeout(r, hold * 1000));
    }
    const agentRss = rssBytes(current.pid) ?? Number.NaN;
    const agentDetail = memDetail(current.pid);
    const tg = configuredPortals(runDir)
      .map((p) => memDetail(p))
      .filter((d) => d !== undefined);
    const rss = summarize(tg.map((d) => d.rss));
    const pss = summarize(tg.map((d) => d.pss));
    const priv = summarize(tg.map((d) => d.privateBytes));
    const threads = tg.reduce((a, d) => a + d.threads, 0);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    log(`memory: API + agent ${mib(agentRss)}; ${tg.length} tgtds, RSS p50 ${mib(rss.p50)}`);

    rows.push(
      ['portway serve, API only, no disks', mib(idleApi), '', ''],
      [`portway serve, API only, ${disks.toLocaleString('en-US')} disks (after 20 lists)`, mib(apiRss), '', ''],
      [
        `portway serve, API + agent, ${(served * pathsPerDisk).toLocaleString('en-US')} paths served`,
        mib(agentRss),
        agentDetail ? mib(agentDetail.pss) : '',
        agentDetail ? mib(agentDetail.privateBytes) : '',
      ],
      ["  the agent's share (difference)", mib(agentRss - apiRss), '', ''],
      [`tgtd, one per disk: median (of ${tg.length})`, mib(rss.p50), mib(pss.p50), mib(priv.p50)],
      ['tgtd: largest', mib(rss.max), mib(pss.max), mib(priv.max)],
      [`all ${tg.length} tgtds together`, mib(sum(tg.map((d) => d.rss))), mib(sum(tg.map((d) => d.pss))), mib(sum(tg.map((d) => d.privateBytes)))],
    );
    sec.tables.push({
      title: `Resident memory, ${disks.toLocaleString('en-US')} ${pathsPerDisk === 2 ? 'two-path (shared)' : 'single-path'} disks, embedded store, file images`,
      head: ['process', 'RSS (VmRSS)', 'PSS', 'private'],
      rows,
    });
    sec.tables.push({
      title: 'Time and CPU',
      head: ['what', 'value'],
      rows: [
        [
          `${disks.toLocaleString('en-US')} adds through the API (4 clients; adds are serialized)`,
          `${addS.toFixed(0)} s (${ms((addS * 1000) / disks)} per add)`,
        ],
        [`list of ${disks.toLocaleString('en-US')} disks (API alone), p50`, ms(summarize(lt).p50)],
        [
          `agent start to ${partial ? `the deadline: ${served * pathsPerDisk} of` : 'all'} ${pathsTotal.toLocaleString('en-US')} paths served${pathsPerDisk === 2 ? ` (${disks.toLocaleString('en-US')} disks)` : ''}`,
          `${serveAllS.toFixed(0)} s (${ms((serveAllS * 1000) / Math.max(1, served * pathsPerDisk))} per path)`,
        ],
        [
          'CPU of portway serve (API + agent) from its start until then',
          `${serveCpuS.toFixed(1)} s (${ms((serveCpuS * 1000) / Math.max(1, served * pathsPerDisk))} per path)`,
        ],
        ['the API answered (PORTWAY_READY) after', Number.isFinite(readyS) ? `${readyS.toFixed(0)} s` : 'not yet'],
        ['threads in all tgtds', threads.toLocaleString('en-US')],
        [
          partial ? 'CPU of portway serve (API + agent) while still serving paths' : 'CPU of portway serve (API + agent) at rest, all paths served',
          pct(cpu.self),
        ],
        ['CPU of the programs it ran meanwhile (ip, iscsi tools; tgtd is driven over its socket)', pct(cpu.children)],
      ],
    });
    sec.headline.push(
      `API server ${mib(apiRss)}, API + agent ${mib(agentRss)} with ${disks.toLocaleString('en-US')} disks (${(served * pathsPerDisk).toLocaleString('en-US')} paths served); tgtd ${mib(rss.p50)} RSS / ${mib(priv.p50)} private per portal (${mib(sum(tg.map((d) => d.pss)))} PSS for all ${tg.length})`,
      partial
        ? `agent: only ${served * pathsPerDisk} of ${pathsTotal} paths served within the deadline (${serveAllS.toFixed(0)} s); figures above are at ${served * pathsPerDisk} paths`
        : `agent at rest with ${pathsTotal.toLocaleString('en-US')} paths: ${pct(cpu.self)} CPU itself + ${pct(cpu.children)} in programs it ran; ${serveAllS.toFixed(0)} s from start to all served`,
    );
    sec.notes.push(
      `The product runs as its own process: ${cli.how}. Logins off (auth.enabled false), logs at warn.`,
      "RSS counts shared pages (libc, tgtd's code) in every process; PSS divides them among the processes that share them, so PSS sums correctly; private is what a process alone holds.",
      "The API server and the agent are one process on a single box (the embedded store lives in it); the agent's share is the difference between the two runs.",
      'CPU at rest is measured right after the last path is served, after the agent settled. The tgt driver talks to each tgtd over its control socket (src/adapters/tgt/tgt-control.ts) and re-checks each target every 60 s (VERIFY_EVERY_MS in src/adapters/tgt/tgt.ts); until 2026-11-25 every control operation was a tgtadm process forked from the agent (1,000 paths took 293 s to serve, and re-checks every 60 s cost ~0.9 CPU at rest).',
      `${QUICK ? `BENCH_QUICK: ${disks} disks.` : ''}`.trim(),
      pathsPerDisk === 2
        ? `BENCH_MEMORY_PATHS=2: ${disks} two-path disks (subnet both, placement shared), one tgtd per disk with both path IPs as portals.`
        : '',
    );
    sec.notes = sec.notes.filter((n) => n !== '');
    if (process.env.BENCH_MEMORY_KEEP_LOG === '1') log(`memory: the product log is ${logFile}`);
    else rmSync(logFile, { force: true });
  } finally {
    await cleanup();
  }
  return sec;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { standalone } = await import('./lib/standalone.js');
  await standalone(run, { etcd: false, ceph: false });
}
