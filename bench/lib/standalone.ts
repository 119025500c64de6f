/** Runs one section on its own (node --import tsx bench/<name>.ts): its services, its figures, no RESULTS.md. */
import type { BenchContext } from './context.js';
import { installSignalHandlers, log, runCleanups } from './env.js';
import { type Section, sectionText } from './report.js';
import { startServices } from './services.js';

export async function standalone(run: (ctx: BenchContext) => Promise<Section>, want: { ceph: boolean; etcd: boolean }): Promise<void> {
  installSignalHandlers();
  const services = await startServices(want);
  const t0 = performance.now();
  try {
    const sec = await run(services.ctx);
    sec.seconds = (performance.now() - t0) / 1000;
    process.stdout.write(`${sectionText(sec)}\n`);
  } catch (e) {
    log(`failed: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 1;
  } finally {
    await services.stop();
    await runCleanups();
  }
}
