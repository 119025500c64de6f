/**
 * Real services for tests: etcd and Ceph, started by the repo's scripts (scripts/etcd-*.sh,
 * scripts/ceph-*.sh) in temp dirs on free loopback ports, and stopped by PID.
 *
 * requireService(): a test that needs a missing service is skipped LOUDLY outside CI and FAILS in CI
 * (CI=true), so a green CI run never hides a test that did not run.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/adapters/exec.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPTS = join(REPO, 'scripts');

// ---- availability -----------------------------------------------------------------------------

/** Is `cmd` an executable on PATH (or an absolute path to one)? */
export function commandExists(cmd: string): boolean {
  const dirs = cmd.includes('/') ? [''] : (process.env.PATH ?? '').split(delimiter);
  for (const d of dirs) {
    try {
      accessSync(d ? join(d, cmd) : cmd, constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

export const ETCD_TOOLS = ['etcd'];
export const CEPH_TOOLS = ['ceph-mon', 'ceph-osd', 'ceph-mgr', 'ceph', 'rbd', 'rados', 'ceph-authtool', 'monmaptool', 'uuidgen'];

export const etcdAvailable = (): boolean => ETCD_TOOLS.every(commandExists);
export const cephAvailable = (): boolean => CEPH_TOOLS.every(commandExists);

/**
 * Gate for a test (or a suite) that needs service `name`.
 * - available: returns {} (spread it into describe/it options, or ignore it).
 * - missing, CI=true: throws, so the test (or, at module level, the whole file) FAILS.
 * - missing otherwise: prints a banner and returns { skip: reason }; with `t` it also calls t.skip().
 * Usage: `describe('x', requireService('etcd', etcdAvailable(), 'apt-get install etcd-server'), ...)`
 */
export function requireService(name: string, available: boolean, why: string, t?: TestContext): { skip?: string } {
  if (available) return {};
  const reason = `${name} is not available: ${why}`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  const line = '!'.repeat(Math.min(100, reason.length + 16));
  console.warn(`\n${line}\n!!! SKIPPING: ${reason} !!!\n${line}\n`);
  t?.skip(reason);
  return { skip: reason };
}

// ---- ports --------------------------------------------------------------------------------------

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => res(true)));
  });
}

/**
 * A base port B such that B .. B+count-1 are all free on 127.0.0.1. Bases are drawn at random in
 * 20000..59999 (clear of Ceph's 6800-7300 and the usual 2379/3260), so two test runs on one machine
 * practically never race for the same range, and each candidate is probed before use.
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (40000 - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free loopback ports found`);
}

// ---- cleanup safety net ------------------------------------------------------------------------

/** Synchronous stop commands for services still running when the process exits (crash, Ctrl-C). */
const pendingStops = new Map<string, () => void>();
let exitHookInstalled = false;
function onExitStop(key: string, stop: () => void): void {
  pendingStops.set(key, stop);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of pendingStops.values()) {
      try {
        s();
      } catch {
        // best effort
      }
    }
  });
}

async function script(name: string, env: Record<string, string>, timeoutMs: number, args: string[] = []): Promise<string> {
  const { stdout } = await run('bash', [join(SCRIPTS, name), ...args], {
    env: { ...process.env, ...env },
    timeoutMs,
  });
  return stdout;
}

// ---- etcd ---------------------------------------------------------------------------------------

export interface EtcdCluster {
  dir: string;
  members: number;
  basePort: number;
  /** Client URLs, member i at index i. */
  endpoints: string[];
  /** tls: the CA and a client certificate and key (etcd-start.sh ETCD_TLS=1). */
  tls?: { ca: string; cert: string; key: string };
  /** ms the start script took until every member was healthy. */
  startMs: number;
  /** PID of member i, or undefined when it does not run. */
  pid(i: number): Promise<number | undefined>;
  killMember(i: number): Promise<void>;
  stopMember(i: number): Promise<void>;
  startMember(i: number): Promise<void>;
  healthy(i: number): Promise<boolean>;
  /** Stops every member and deletes the data dir. */
  stop(): Promise<void>;
}

/** Retries start() when the ports it probed were taken before the service could bind them. */
async function withPortRetry<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (attempt >= 3 || !/already in use/.test(String((e as Error).message))) throw e;
    }
  }
}

/** tls: clients speak TLS with a client certificate; rootPassword: etcd authentication on, user root. */
export interface EtcdStartOptions {
  members?: 1 | 3;
  tls?: boolean;
  rootPassword?: string;
}

export function startEtcd(opts: EtcdStartOptions = {}): Promise<EtcdCluster> {
  return withPortRetry(() => startEtcdOnce(opts));
}

async function startEtcdOnce(opts: EtcdStartOptions): Promise<EtcdCluster> {
  const members = opts.members ?? 1;
  const dir = mkdtempSync(join(tmpdir(), 'portway-etcd-'));
  const basePort = await freePortRange(members * 2);
  const env = {
    ETCD_DIR: dir,
    ETCD_MEMBERS: String(members),
    ETCD_BASE_PORT: String(basePort),
    ...(opts.tls ? { ETCD_TLS: '1' } : {}),
    ...(opts.rootPassword ? { ETCD_ROOT_PASSWORD: opts.rootPassword } : {}),
  };
  const stopSync = () => execFileSync('bash', [join(SCRIPTS, 'etcd-stop.sh')], { env: { ...process.env, ...env }, stdio: 'ignore' });
  onExitStop(dir, () => {
    stopSync();
    rmSync(dir, { recursive: true, force: true });
  });
  const t0 = Date.now();
  let out: string;
  try {
    out = await script('etcd-start.sh', env, 60_000);
  } catch (e) {
    await script('etcd-stop.sh', env, 60_000).catch(() => undefined);
    pendingStops.delete(dir);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const startMs = Date.now() - t0;
  const m = /^ETCD_ENDPOINTS=(.*)$/m.exec(out);
  if (!m?.[1]) throw new Error(`etcd-start.sh printed no endpoints: ${out}`);
  const endpoints = m[1].split(',');
  const tlsFile = (k: string) => new RegExp(`^ETCD_${k}=(.*)$`, 'm').exec(out)?.[1];
  const ca = tlsFile('CA');
  const tls = ca ? { ca, cert: tlsFile('CERT') as string, key: tlsFile('KEY') as string } : undefined;
  const member = (cmd: string, i: number) => script('etcd-member.sh', env, 30_000, [cmd, String(i)]);
  let stopped = false;
  return {
    dir,
    members,
    basePort,
    endpoints,
    ...(tls ? { tls } : {}),
    startMs,
    async pid(i) {
      try {
        return Number((await member('pid', i)).trim()) || undefined;
      } catch {
        return undefined;
      }
    },
    killMember: async (i) => void (await member('kill', i)),
    stopMember: async (i) => void (await member('stop', i)),
    startMember: async (i) => void (await member('start', i)),
    async healthy(i) {
      try {
        await member('health', i);
        return true;
      } catch {
        return false;
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await script('etcd-stop.sh', env, 60_000);
      pendingStops.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- Ceph ---------------------------------------------------------------------------------------

export interface CephCluster {
  dir: string;
  conf: string;
  keyring: string;
  id: string;
  pool: string;
  monPort: number;
  /** ms the start script took until HEALTH_OK-ish (mon quorum, OSD up, PGs active+clean). */
  startMs: number;
  stop(): Promise<void>;
}

export function startCeph(): Promise<CephCluster> {
  return withPortRetry(startCephOnce);
}

async function startCephOnce(): Promise<CephCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'portway-ceph-'));
  const monPort = await freePortRange(2);
  const env = { CEPH_DIR: dir, CEPH_MON_PORT: String(monPort), CEPH_STORE_BYTES: String(4 * 1024 ** 3) };
  const stopSync = () => execFileSync('bash', [join(SCRIPTS, 'ceph-stop.sh')], { env: { ...process.env, ...env }, stdio: 'ignore' });
  onExitStop(dir, () => {
    stopSync();
    rmSync(dir, { recursive: true, force: true });
  });
  const t0 = Date.now();
  try {
    await script('ceph-start.sh', env, 180_000);
  } catch (e) {
    await script('ceph-stop.sh', env, 120_000).catch(() => undefined);
    pendingStops.delete(dir);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const startMs = Date.now() - t0;
  let stopped = false;
  return {
    dir,
    conf: join(dir, 'ceph.conf'),
    keyring: join(dir, 'keyring'),
    id: 'admin',
    pool: 'rbd',
    monPort,
    startMs,
    async stop() {
      if (stopped) return;
      stopped = true;
      await script('ceph-stop.sh', env, 120_000);
      pendingStops.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let cephOnce: Promise<CephCluster> | undefined;

/**
 * The Ceph cluster shared by every Ceph test of this process (= this test file under node --test):
 * started on the first call, the same promise afterwards. Stop it with stopSharedCeph() in an
 * after() hook (an exit hook stops it too should the file crash).
 */
export function whenCephReady(): Promise<CephCluster> {
  cephOnce ??= startCeph();
  return cephOnce;
}

export async function stopSharedCeph(): Promise<void> {
  const p = cephOnce;
  cephOnce = undefined;
  if (!p) return;
  const c = await p.catch(() => undefined);
  await c?.stop();
}

// ---- small test utilities -------------------------------------------------------------------------

export { sleep } from './wait.js';
