/** Starts the real single-node product (embedded stores, real tgtd) in this process, for tests. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createLogger } from '../../src/app/logging.js';
import { type Product, type StartOptions, startProduct } from '../../src/app/product.js';
import { type AuthSettings, type Settings, defaultSettings } from '../../src/app/settings.js';

/** Is every program on PATH? */
export function haveTools(tools: string[]): boolean {
  return tools.every((t) => {
    try {
      execFileSync('sh', ['-c', 'command -v "$1"', 'sh', t], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The reason to skip a test whose tools are missing, or undefined to run it. Outside CI the skip is
 * loud; in CI (CI=true) a missing tool is a failure, never a silent skip.
 */
export function missingTools(tools: string[]): string | undefined {
  const missing = tools.filter((t) => !haveTools([t]));
  if (missing.length === 0) return undefined;
  const why = `missing ${missing.join(', ')} (install: bash scripts/setup.sh)`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${why}`);
  process.stderr.write(`\n*** SKIPPING: ${why} ***\n\n`);
  return why;
}

export interface TestProduct {
  product: Product;
  settings: Settings;
  restart(opts?: { release?: boolean }): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * Distinct loopback subnets per test file (octet 2), so files never share an IP.
 * Logins are off (every request acts as an admin) unless `over.auth` turns them on (see withAuth);
 * plain HTTP unless `over.tls` turns HTTPS on.
 */
export async function startTestProduct(
  octet: number,
  over: Partial<Settings> = {},
  opts: { log?: Logger; scheduler?: StartOptions['scheduler'] } = {},
): Promise<TestProduct> {
  const stateDir = mkdtempSync(join(tmpdir(), 'portway-test-'));
  const s: Settings = {
    ...defaultSettings(),
    stateDir,
    listenPort: 0,
    node: 'node1',
    tgtControlPortBase: 20000 + octet * 100,
    cluster: {
      iqnBase: 'iqn.2016-05.io.portway.test',
      pool: 'rbd',
      subnet1: { cidr: `127.${octet}.1.0/24`, autoIpFrom: `127.${octet}.1.10`, autoIpTo: `127.${octet}.1.250`, eth: 'lo' },
      subnet2: { cidr: `127.${octet}.2.0/24`, autoIpFrom: `127.${octet}.2.10`, autoIpTo: `127.${octet}.2.250`, eth: 'lo' },
    },
    agent: { enabled: true, leaseTtlSeconds: 6 },
    auth: { ...defaultSettings().auth, enabled: false },
    // Plain HTTP, asked for explicitly (HTTPS is the default: test/integration/tls.test.ts, test/e2e/https.test.ts).
    tls: { enabled: false },
    ...over,
  };
  const log = opts.log ?? createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'warn' });
  const start: StartOptions = { printTls: false, ...(opts.scheduler ? { scheduler: opts.scheduler } : {}) };
  const tp: TestProduct = {
    product: await startProduct(s, log, start),
    settings: s,
    async restart(opts = {}) {
      await tp.product.stop(opts);
      tp.product = await startProduct(s, log, start);
    },
    async cleanup() {
      await tp.product.stop({ release: true });
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return tp;
}

/** A request to the product without credentials (logins off); the reply's JSON (or text). */
export function api(p: Product, method: string, path: string, body?: unknown): Promise<ApiResult> {
  return call(p, method, path, body, {});
}

/** Re-exported for files that still import it from here (tgt-driver, tgt-control); new code imports ./wait.js. */
export { waitFor } from './wait.js';

export const addBody = (name: string, over: Record<string, unknown> = {}) => ({
  name,
  sizeGb: 1,
  activePaths: 2,
  subnet: 1,
  ipMode: 'auto',
  acl: { mode: 'all' },
  auth: { mode: 'none' },
  ...over,
});

/** Settings that turn logins on for startTestProduct, with a known first-admin password. */
export function withAuth(over: Partial<AuthSettings> = {}): { auth: AuthSettings } {
  return { auth: { ...defaultSettings().auth, enabled: true, adminPassword: 'Correct-Horse-42', ...over } };
}

export interface ApiResult {
  status: number;
  json: any;
  headers: Headers;
}

async function call(p: Product, method: string, path: string, body: unknown, headers: Record<string, string>): Promise<ApiResult> {
  const res = await fetch(`${p.url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers };
}

export interface LoggedIn {
  /** `portway_session=<id>` */
  cookie: string;
  csrf: string;
  me: any;
  /** Like api(), with the session cookie, and the CSRF header on non-GET requests (csrf: null leaves it out). */
  api(method: string, path: string, body?: unknown, opts?: { csrf?: string | null }): Promise<ApiResult>;
}

/** Logs in (POST /api/v1/auth/login) and returns a cookie- and CSRF-aware api function. */
export async function login(p: Product, username: string, password: string): Promise<LoggedIn> {
  const r = await call(p, 'POST', '/api/v1/auth/login', { username, password }, {});
  if (r.status !== 200) throw new Error(`login as ${username} failed: ${r.status} ${JSON.stringify(r.json)}`);
  const set = r.headers.getSetCookie().find((c) => c.startsWith('portway_session='));
  if (!set) throw new Error('login set no portway_session cookie');
  const cookie = set.split(';')[0] as string;
  const csrf = r.json.csrfToken as string;
  return {
    cookie,
    csrf,
    me: r.json,
    api: (method, path, body, opts = {}) => {
      const headers: Record<string, string> = { cookie };
      const token = opts.csrf === undefined ? csrf : opts.csrf;
      if (method !== 'GET' && method !== 'HEAD' && token !== null) headers['x-csrf-token'] = token;
      return call(p, method, path, body, headers);
    },
  };
}

/** api() with an API token (Authorization: Bearer), no cookie, no CSRF header. */
export function bearerApi(p: Product, token: string, method: string, path: string, body?: unknown): Promise<ApiResult> {
  return call(p, method, path, body, { authorization: `Bearer ${token}` });
}
