/** The run's environment: quick mode, progress log, the machine, and cleanups that run even on Ctrl-C. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';

/** BENCH_QUICK=1: small sizes and short runs, a smoke test of the whole bench. */
export const QUICK = process.env.BENCH_QUICK === '1';

/** Picks the full-run or the quick-run value. */
export const size = <T>(full: T, quick: T): T => (QUICK ? quick : full);

const t0 = Date.now();
/** Progress on stderr: the figures themselves go to stdout and RESULTS.md. */
export function log(msg: string): void {
  process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
}

export interface Machine {
  date: string;
  nproc: number;
  cpu: string;
  ramGiB: number;
  kernel: string;
  node: string;
  tools: Record<string, string>;
}

function version(cmd: string, args: string[], re: RegExp): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    return re.exec(out)?.[1] ?? out.trim().split('\n')[0] ?? '?';
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    const text = `${err.stdout ?? ''}${err.stderr ?? ''}`;
    return re.exec(text)?.[1] ?? 'missing';
  }
}

export function machine(): Machine {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model.trim() ?? '?',
    ramGiB: totalmem() / 1024 ** 3,
    kernel: release(),
    node: process.version,
    tools: {
      tgtd: version('tgtd', ['-V'], /(\d+\.\d+\.\d+)/),
      ceph: version('ceph', ['--version'], /ceph version (\S+)/),
      etcd: version('etcd', ['--version'], /etcd Version: (\S+)/),
      fio: version('fio', ['--version'], /fio-(\S+)/),
      'qemu-img': version('qemu-img', ['--version'], /version (\S+)/),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a template
      libiscsi: version('dpkg-query', ['-W', '-f', '${Version}', 'libiscsi-bin'], /^(\S+)/),
    },
  };
}

/** 1-minute load average, and how many other processes want the CPUs (a noisy neighbour shows here). */
export function load(): string {
  const [l1] = loadavg();
  let running = '?';
  try {
    running = readFileSync('/proc/loadavg', 'utf8').split(' ')[3] ?? '?';
  } catch {}
  return `load ${l1?.toFixed(2)} (runnable/total ${running})`;
}

// ---- cleanups ------------------------------------------------------------------------------------

const cleanups = new Map<number, () => Promise<void>>();
let nextCleanup = 1;

/** Registers an async cleanup (stop a product, kill a tgtd by PID); returns a function that runs it once. */
export function onCleanup(fn: () => Promise<void>): () => Promise<void> {
  const id = nextCleanup++;
  cleanups.set(id, fn);
  return async () => {
    if (!cleanups.delete(id)) return;
    await fn();
  };
}

/** Runs every pending cleanup, newest first. */
export async function runCleanups(): Promise<void> {
  const all = [...cleanups.entries()].reverse();
  cleanups.clear();
  for (const [, fn] of all) {
    try {
      await fn();
    } catch (e) {
      log(`cleanup failed: ${(e as Error).message}`);
    }
  }
}

let signalled = false;
/** Ctrl-C / SIGTERM: run the cleanups, then exit (the services' exit hooks stop Ceph and etcd by PID). */
export function installSignalHandlers(): void {
  const handler = (sig: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    log(`${sig}: cleaning up`);
    const timer = setTimeout(() => process.exit(130), 60_000);
    timer.unref();
    void runCleanups().finally(() => process.exit(130));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
