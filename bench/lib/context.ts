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
