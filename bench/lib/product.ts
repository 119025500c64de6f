/**
 * The real product for benches: startTestProduct (test/helpers) with a silent log, and a quick stop
 * that kills the agent's tgtds in parallel (the product's own stop gives paths back one by one).
 */
import { rmSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import pino from 'pino';
import { TgtDriver } from '../../src/adapters/tgt/tgt.js';
import type { Settings } from '../../src/app/settings.js';
import { mapSettled } from '../../src/util/async.js';
import { type TestProduct, startTestProduct } from '../../test/helpers/product.js';
import { onCleanup } from './env.js';

export interface BenchProduct {
  tp: TestProduct;
  url: string;
  /** Stops the product, its tgtds (in parallel, by PID) and deletes its state dir. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Stops every tgtd recorded in a driver run dir (one per disk, and legacy per-IP ones): SIGKILL by PID
 * (only those the driver's state files name and that are still that tgtd: TgtDriver.units checks pid
 * and cmdline), then the driver's unserve removes their sockets and state files. A bench's targets
 * hold nothing worth a clean stop, and a thousand graceful stops take minutes. Returns the number of
 * tgtds (units) recorded.
 */
export async function stopPortals(runDir: string, logDir: string, controlPortBase: number): Promise<number> {
  const d = new TgtDriver({ runDir, logDir, controlPortBase, log: pino({ level: 'silent' }) });
  const units = await d.units();
  for (const u of units) {
    if (!u.alive) continue;
    try {
      process.kill(u.pid, 'SIGKILL');
    } catch {}
  }
  for (let i = 0; i < 200 && units.some((u) => u.alive && isAlive(u.pid)); i++) await new Promise((r) => setTimeout(r, 25));
  await mapSettled(units, 32, (u) => d.unserve(u.key));
  return units.length;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startBenchProduct(octet: number, over: Partial<Settings> = {}): Promise<BenchProduct> {
  const tp = await startTestProduct(octet, over, { log: pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' }) });
  const s = tp.settings;
  const stop = onCleanup(async () => {
    await tp.product.stop({ release: false }).catch(() => undefined);
    await stopPortals(join(s.stateDir, 'run', 'tgt'), join(s.stateDir, 'log'), s.tgtControlPortBase);
    rmSync(s.stateDir, { recursive: true, force: true });
  });
  return { tp, url: tp.product.url, stop };
}

/** JSON over HTTP against a product URL (logins off, as startTestProduct sets them). */
export async function http(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any; bytes: number }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, bytes: Buffer.byteLength(text) };
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

/** Two non-overlapping /16 subnets 127.<a>.0.0/16 and 127.<b>.0.0/16, for thousands of disks. */
export function wideCluster(a: number, b: number): Settings['cluster'] {
  return {
    iqnBase: 'iqn.2016-05.io.portway.bench',
    pool: 'rbd',
    subnet1: { cidr: `127.${a}.0.0/16`, autoIpFrom: `127.${a}.0.1`, autoIpTo: `127.${a}.255.254`, eth: 'lo' },
    subnet2: { cidr: `127.${b}.0.0/16`, autoIpFrom: `127.${b}.0.1`, autoIpTo: `127.${b}.255.254`, eth: 'lo' },
  };
}

/**
 * GET with node:http, the body kept as bytes (no decoding, no parsing): the client's own work stays
 * out of the server's latency and out of the CPU profile (the API server runs in this process).
 */
export function rawGet(url: string, path: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    get(`${url}${path}`, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/**
 * SIGKILLs tgtds whose portal is in one of this bench's loopback octets (127.<octet>.x.x) but that no
 * state file records: one spawned just as its product was killed, before it was written down.
 * Only tgtd processes (cmdline checked) with such a portal are touched.
 */
export async function killUnrecordedTgtds(octets: number[]): Promise<number> {
  const re = new RegExp(`^portal=127\\.(${octets.join('|')})\\.\\d+\\.\\d+:\\d+$`);
  let n = 0;
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const args = (await readFile(`/proc/${d}/cmdline`, 'utf8')).split('\0');
      if (!args[0]?.endsWith('tgtd') || !args.some((a) => re.test(a))) continue;
      process.kill(Number(d), 'SIGKILL');
      n++;
    } catch {}
  }
  return n;
}
