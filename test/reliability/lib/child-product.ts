/**
 * The real product as a child process (`node --import tsx src/cli/portway.ts serve`), so a fault test
 * can kill it by PID (SIGKILL = a crash: its tgtds, lock file and leases stay behind) and start it
 * again on the same state dir. Its settings mirror test/helpers/product.ts (loopback subnets
 * 127.<octet>.1.0/24 and 127.<octet>.2.0/24, control ports 20000 + octet*100).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Settings } from '../../../src/app/settings.js';
import { REPO } from '../../helpers/services.js';
import { alive, waitDead } from './procs.js';

export interface ChildProduct {
  stateDir: string;
  settings: Partial<Settings>;
  /** URL of the running process (changes on every start unless a fixed port was given). */
  url: string;
  pid: number;
  /** Starts the product (again) on the same state dir; resolves once it printed PORTWAY_READY. */
  start(): Promise<number>;
  /** Sends sig to the process by PID and waits until it is gone. */
  kill(sig: NodeJS.Signals): Promise<void>;
  running(): boolean;
}

export function childSettings(octet: number, over: Partial<Settings> = {}): Partial<Settings> {
  return {
    node: 'node1',
    tgtControlPortBase: 20000 + octet * 100,
    cluster: {
      iqnBase: 'iqn.2016-05.io.portway.test',
      pool: 'rbd',
      subnet1: { cidr: `127.${octet}.1.0/24`, autoIpFrom: `127.${octet}.1.10`, autoIpTo: `127.${octet}.1.250`, eth: 'lo' },
      subnet2: { cidr: `127.${octet}.2.0/24`, autoIpFrom: `127.${octet}.2.10`, autoIpTo: `127.${octet}.2.250`, eth: 'lo' },
    },
    agent: { enabled: true, leaseTtlSeconds: 6 },
    // The API's login is tested elsewhere; fault tests drive the API without it (as test/helpers/product.ts).
    auth: { enabled: false } as Settings['auth'],
    tls: { enabled: false },
    ...over,
  };
}

export function childProduct(octet: number, opts: { stateDir?: string; port?: number; over?: Partial<Settings> } = {}): ChildProduct {
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'portway-rel-'));
  const settings = childSettings(octet, opts.over);
  mkdirSync(join(stateDir, 'log'), { recursive: true });
  const config = join(stateDir, 'settings.json');
  writeFileSync(config, JSON.stringify(settings, null, 2));
  let child: ChildProcess | undefined;
  let starts = 0;
  const cp: ChildProduct = {
    stateDir,
    settings,
    url: '',
    pid: 0,
    running: () => cp.pid > 0 && alive(cp.pid),
    async start() {
      starts++;
      const log = createWriteStream(join(stateDir, 'log', `product-${starts}.log`));
      const t0 = Date.now();
      child = spawn(
        process.execPath,
        ['--import', 'tsx', join(REPO, 'src/cli/portway.ts'), 'serve', '--config', config, '--state-dir', stateDir, '--listen', `127.0.0.1:${opts.port ?? 0}`],
        { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'info' } },
      );
      const c = child;
      cp.pid = c.pid ?? 0;
      c.stderr?.pipe(log);
      const url = await new Promise<string>((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => reject(new Error(`product did not print PORTWAY_READY within 30 s (log: ${join(stateDir, 'log')})`)), 30_000);
        c.stdout?.on('data', (d: Buffer) => {
          log.write(d);
          buf += d.toString('utf8');
          for (;;) {
            const nl = buf.indexOf('\n');
            if (nl < 0) break;
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (!line.includes('PORTWAY_READY')) continue;
            try {
              const j = JSON.parse(line) as { msg?: string; url?: string };
              if (j.msg === 'PORTWAY_READY' && j.url) {
                clearTimeout(timer);
                resolve(j.url);
              }
            } catch {}
          }
        });
        c.once('exit', (code, sig) => {
          clearTimeout(timer);
          reject(new Error(`product exited at start (code ${code}, signal ${sig}); log in ${join(stateDir, 'log')}`));
        });
      });
      cp.url = url;
      return Date.now() - t0;
    },
    async kill(sig) {
      if (!cp.pid || !alive(cp.pid)) return;
      process.kill(cp.pid, sig);
      await waitDead(cp.pid, 30_000);
    },
  };
  return cp;
}

/** fetch with a JSON body; a transport failure (connection refused/reset) is status 0. */
export async function request(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 30_000,
): Promise<{ status: number; json: any; error?: string }> {
  try {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, json };
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    return { status: 0, json: undefined, error: cause?.code ?? (e as Error).message };
  }
}
