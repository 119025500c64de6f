/** Starts the real single-node product (embedded stores, real tgtd) in this process, for tests. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { type Product, startProduct } from '../../src/app/product.js';
import { type Settings, defaultSettings } from '../../src/app/settings.js';

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

/** Distinct loopback subnets per test file (octet 2), so files never share an IP. */
export async function startTestProduct(octet: number, over: Partial<Settings> = {}): Promise<TestProduct> {
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
    ...over,
  };
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'warn' });
  const tp: TestProduct = {
    product: await startProduct(s, log),
    settings: s,
    async restart(opts = {}) {
      await tp.product.stop(opts);
      tp.product = await startProduct(s, log);
    },
    async cleanup() {
      await tp.product.stop({ release: true });
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return tp;
}

export async function api(p: Product, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${p.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

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
