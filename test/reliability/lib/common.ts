/** Small shared pieces of the fault tests. */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { FileImageStore } from '../../../src/adapters/images/file-store.js';
import { waitFor } from '../../helpers/wait.js';
import { type ChildProduct, request } from './child-product.js';
import { type CheckOptions, assertConsistent, readEmbeddedStoreDir, snapshot } from './consistency.js';
import { killTgtds } from './procs.js';

export { sleep } from '../../helpers/wait.js';

/** Lines for docs/RELIABILITY.md: every fault test prints its measured times with this prefix. */
export function measured(what: string, ms: number): void {
  process.stderr.write(`# MEASURED ${what}: ${ms} ms\n`);
}

/** Polls until every disk is started (and there are `count` of them, when given); returns the list. */
export async function allStarted(url: string, timeoutMs = 30_000, count?: number): Promise<any[]> {
  let last: unknown;
  return waitFor(
    async () => {
      const r = await request(url, 'GET', '/api/v1/disks', undefined, 5_000);
      last = r.json ?? r.error;
      const disks = r.json?.disks as { status: string }[] | undefined;
      const done = r.status === 200 && disks && (count === undefined || disks.length === count) && disks.every((d) => d.status === 'started');
      return done ? disks : undefined;
    },
    { what: 'every disk started', timeoutMs, detail: () => JSON.stringify(last).slice(0, 2000) },
  );
}

/** Consistency of a single-node product that runs in a child process (its files read directly). */
export async function checkChild(cp: ChildProduct, ipPrefix: string, o: Partial<CheckOptions> = {}, what = 'product'): Promise<void> {
  const images = new FileImageStore(join(cp.stateDir, 'images'));
  const s = await snapshot(readEmbeddedStoreDir(join(cp.stateDir, 'coord')), await images.list(), ipPrefix);
  assertConsistent(s, { settled: true, backingOf: (name) => join(cp.stateDir, 'images', `${name}.img`), ...o }, what);
}

/** Stops a child product cleanly (its paths released), and removes whatever a crash left behind. */
export async function cleanupChild(cp: ChildProduct | undefined, ipPrefix: string): Promise<void> {
  if (!cp) return;
  try {
    if (!cp.running()) await cp.start().catch(() => 0);
    await cp.kill('SIGTERM');
  } finally {
    const left = await killTgtds(ipPrefix);
    if (left > 0) process.stderr.write(`# cleanup: killed ${left} tgtd(s) of ${ipPrefix} left behind\n`);
    if (process.env.PORTWAY_TEST_KEEP === '1') process.stderr.write(`# kept ${cp.stateDir}\n`);
    else rmSync(cp.stateDir, { recursive: true, force: true });
  }
}
