/**
 * CPU per served disk at a cold start: `portway serve` (API + agent, embedded store, loopback paths,
 * file images) started with N disks registered, until every disk is `started`. Printed: the wall time,
 * and the CPU seconds of the serving process (user + system, from /proc/<pid>/stat; less dependent on
 * what else runs on the machine than the wall time) and of the programs it ran and waited for, per disk.
 *
 *   node --import tsx bench/serve-cpu.ts
 *   PW_SERVE_DISKS=200 (default)  PW_SERVE_PATHS=2 (two-path shared disks, default; 1: single-path)
 *   PW_SERVE_PROFILE_DIR=/tmp/prof   a V8 CPU profile of the serving process (node --cpu-prof), written
 *                                    at its exit; summarise it with bench/lib/cpuprofile.ts, cut at the
 *                                    "all started" time printed here (--until-ms)
 *   PW_SERVE_KEEP_LOG=1              keep the product's log (printed path)
 *   PW_SERVE_LOG_LEVEL=warn          the product's log level
 *
 * Not in run-all.ts: a focused measure for changes to the serve path (bench/memory.ts measures the
 * cold start of 1,000 paths alongside memory). Run it under the shared lock (it starts N tgtds).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePortRange } from '../test/helpers/services.js';
import { mapSettled } from '../src/util/async.js';
import { buildCli } from './lib/build.js';
import { spawnServe } from './lib/serve.js';
import { installSignalHandlers, load, log, onCleanup, runCleanups } from './lib/env.js';
import { cpuSeconds } from './lib/proc.js';
import { addBody, http, killUnrecordedTgtds, stopPortals, wideCluster } from './lib/product.js';

const CONTROL_PORT_BASE = 28_500;
const OCTETS = [52, 53] as const;

const disks = Number(process.env.PW_SERVE_DISKS) || 200;
const pathsPerDisk = process.env.PW_SERVE_PATHS === '1' ? 1 : 2;
const profileDir = process.env.PW_SERVE_PROFILE_DIR;

async function stopChild(child: ChildProcess, signal: NodeJS.Signals, waitMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  await Promise.race([exited, new Promise((r) => setTimeout(r, waitMs))]);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
}

async function main(): Promise<void> {
  installSignalHandlers();
  const cli = buildCli();
  const stateDir = mkdtempSync(join(tmpdir(), 'portway-bench-serve-'));
  const webDir = join(stateDir, 'web');
  mkdirSync(webDir);
  writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>portway</title>\n');
  const port = await freePortRange(1);
  const cfg = (agent: boolean) => {
    const f = join(stateDir, agent ? 'with-agent.json' : 'api-only.json');
    writeFileSync(
      f,
      JSON.stringify({
        stateDir,
        listenHost: '127.0.0.1',
        listenPort: port,
        node: 'bench1',
        cluster: wideCluster(OCTETS[0], OCTETS[1]),
        images: { kind: 'file' },
        coord: { kind: 'embedded' },
        agent: { enabled: agent, leaseTtlSeconds: 10 },
        tgtControlPortBase: CONTROL_PORT_BASE,
        webDir,
        auth: { enabled: false },
        tls: { enabled: false },
      }),
    );
    return f;
  };
  const logFile = join(tmpdir(), `portway-bench-serve-${process.pid}.log`);
  let child: ChildProcess | undefined;
  const cleanup = onCleanup(async () => {
    if (child) await stopChild(child, 'SIGKILL', 5000);
    const n = await stopPortals(join(stateDir, 'run', 'tgt'), join(stateDir, 'log'), CONTROL_PORT_BASE);
    const strays = await killUnrecordedTgtds([...OCTETS]);
    if (n || strays) log(`serve-cpu: stopped ${n} tgtds${strays ? ` (+${strays} unrecorded)` : ''}`);
    rmSync(stateDir, { recursive: true, force: true });
  });
  try {
    // ---- the disks, added through the API (no agent) ----
    const api = spawnServe(cli.nodeArgs, cfg(false), logFile, { logLevel: process.env.PW_SERVE_LOG_LEVEL ?? 'warn' });
    child = api.child;
    const url = await api.ready;
    let seq = 0;
    await mapSettled(Array.from({ length: disks }), 4, async () => {
      const r = await http(
        url,
        'POST',
        '/api/v1/disks',
        addBody(`sc-${++seq}`, pathsPerDisk === 2 ? { activePaths: 2, subnet: 3, placement: 'shared' } : { activePaths: 1, subnet: 1 }),
      );
      if (r.status !== 201) throw new Error(`add: ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
    });
    await stopChild(api.child, 'SIGTERM', 20_000);
    log(`serve-cpu: ${disks} disks added; starting the agent (${load()})`);

    // ---- cold start with the agent ----
    const loadStart = loadavg()[0] ?? Number.NaN;
    const extra = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-interval=500'] : [];
    const t0 = performance.now();
    const s = spawnServe(cli.nodeArgs, cfg(true), logFile, { extraNodeArgs: extra, logLevel: process.env.PW_SERVE_LOG_LEVEL ?? 'warn' });
    child = s.child;
    const pid = s.child.pid as number;
    let served = 0;
    let sUrl: string | undefined;
    void s.ready.then((u) => {
      sUrl = u;
    });
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      if (s.child.exitCode !== null || s.child.signalCode !== null) throw new Error(`portway serve exited; log: ${logFile}`);
      if (sUrl) {
        const l = await http(sUrl, 'GET', '/api/v1/disks');
        served = (l.json?.disks ?? []).filter((d: { status: string }) => d.status === 'started').length;
        if (served >= disks) break;
      }
      if (Date.now() > deadline) throw new Error(`only ${served}/${disks} started after 10 min`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const wallS = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(pid);
    const loadEnd = loadavg()[0] ?? Number.NaN;
    const selfS = cpu?.self ?? Number.NaN;
    const kidsS = cpu?.children ?? Number.NaN;
    const lines = [
      `serve-cpu: ${disks} disks x ${pathsPerDisk} paths (${disks * pathsPerDisk} paths), embedded store, loopback paths`,
      `  agent start -> all started: ${wallS.toFixed(1)} s wall (1-min load ${loadStart.toFixed(1)} at start, ${loadEnd.toFixed(1)} at the end)`,
      `  CPU of portway serve until then: ${selfS.toFixed(2)} s (${((selfS * 1000) / disks).toFixed(1)} ms per disk, ${((selfS * 1000) / (disks * pathsPerDisk)).toFixed(1)} ms per path)`,
      `  CPU of the programs it ran and waited for: ${kidsS.toFixed(2)} s (${((kidsS * 1000) / disks).toFixed(1)} ms per disk)`,
      `  all started at ${(wallS * 1000).toFixed(0)} ms after the spawn (cut a profile there: --until-ms)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (profileDir) {
      // The profile is written at exit: a graceful stop (paths released), then the cleanup.
      await stopChild(s.child, 'SIGTERM', 180_000);
      const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
      log(`serve-cpu: profile(s) in ${profileDir}: ${files.join(', ')}`);
    }
    if (process.env.PW_SERVE_KEEP_LOG === '1') log(`serve-cpu: the product log is ${logFile}`);
    else rmSync(logFile, { force: true });
  } catch (e) {
    log(
      `serve-cpu failed: ${(e as Error).stack}; log tail: ${(() => {
        try {
          return readFileSync(logFile, 'utf8').slice(-1500);
        } catch {
          return '';
        }
      })()}`,
    );
    process.exitCode = 1;
  } finally {
    await cleanup();
    await runCleanups();
  }
}

await main();
// tsx's esbuild service keeps the loop alive: exit once done.
process.exit(process.exitCode ?? 0);
