/** What every section gets: the shared Ceph and etcd (when they run) and the quick flag. */
import { EtcdStore } from '../../src/adapters/coord/etcd-store.js';
import type { CephCluster, EtcdCluster } from '../../test/helpers/services.js';

export interface BenchContext {
  quick: boolean;
  etcd?: EtcdCluster;
  ceph?: CephCluster;
  /** Why Ceph / etcd are not there, for the sections that skip. */
  cephMissing?: string;
  etcdMissing?: string;
  /**
   * When the whole run should be over (ms since the epoch): sections that can stop early (the memory
   * section's wait for 1,000 paths) keep within it, so `npm run bench` stays within its time budget.
   */
  budgetEnd?: number;
}

/** Deletes every Portway key from the shared etcd, so sections never see each other's disks. */
export async function clearEtcd(endpoints: string[]): Promise<void> {
  const s = new EtcdStore({ hosts: endpoints });
  try {
    await s.deletePrefix('/portway/');
  } finally {
    await s.close();
  }
}
