/** Ceph and etcd for the run, started through test/helpers/services.ts (the repo's scripts) and stopped by PID. */
import { CEPH_TOOLS, cephAvailable, etcdAvailable, startEtcd, stopSharedCeph, whenCephReady } from '../../test/helpers/services.js';
import type { BenchContext } from './context.js';
import { QUICK, log, onCleanup } from './env.js';

export async function startServices(want: { ceph: boolean; etcd: boolean }): Promise<{ ctx: BenchContext; stop: () => Promise<void> }> {
  const ctx: BenchContext = { quick: QUICK };
  const stops: (() => Promise<void>)[] = [];
  const jobs: Promise<void>[] = [];
  if (want.etcd) {
    if (!etcdAvailable()) ctx.etcdMissing = 'etcd is not installed (apt-get install etcd-server)';
    else
      jobs.push(
        startEtcd({ members: 1 }).then(
          (e) => {
            ctx.etcd = e;
            stops.push(onCleanup(() => e.stop()));
            log(`etcd up in ${e.startMs} ms at ${e.endpoints.join(',')}`);
          },
          (err: Error) => {
            ctx.etcdMissing = `etcd did not start: ${err.message.slice(0, 200)}`;
          },
        ),
      );
  }
  if (want.ceph) {
    if (!cephAvailable()) ctx.cephMissing = `Ceph is not installed (${CEPH_TOOLS.join(', ')}; bash scripts/setup.sh)`;
    else
      jobs.push(
        whenCephReady().then(
          (c) => {
            ctx.ceph = c;
            stops.push(onCleanup(() => stopSharedCeph()));
            log(`Ceph up in ${c.startMs} ms (${c.dir})`);
          },
          (err: Error) => {
            ctx.cephMissing = `Ceph did not start: ${err.message.slice(0, 300)}`;
          },
        ),
      );
  }
  await Promise.all(jobs);
  return {
    ctx,
    stop: async () => {
      for (const s of stops.reverse()) await s();
      if (ctx.ceph) log('Ceph stopped');
      if (ctx.etcd) log('etcd stopped');
    },
  };
}
