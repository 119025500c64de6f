/**
 * One started disk for agent unit tests: its record and paths in an in-memory store, an image store that
 * answers its metadata, and a network that does nothing. No tgtd, no root.
 */
import { EmbeddedStore } from '../../src/adapters/coord/embedded-store.js';
import type { ImageStore } from '../../src/adapters/images/types.js';
import type { HostNetwork } from '../../src/adapters/net/loopback.js';
import type { DiskMeta } from '../../src/domain/disk.js';
import { type DiskRecord, diskKey, pathKey } from '../../src/domain/keys.js';

export interface OneDisk {
  id: string;
  iqn: string;
  ips: readonly string[];
}

export const quietNet: HostNetwork = { async addIp() {}, async removeIp() {} };

/** Images that know the disk's metadata (its paths on `lo`); backing files that do not exist (the target is fake). */
export function fakeImages(d: OneDisk): ImageStore {
  const meta: DiskMeta = {
    id: d.id,
    name: 'd1',
    sizeGb: 1,
    createdAt: new Date().toISOString(),
    iqn: d.iqn,
    acl: '',
    chapUser: '',
    chapPassword: '',
    subnet: 1,
    paths: d.ips.map((ip) => ({ ip, subnetMask: '255.255.255.0', eth: 'lo' })),
  } as DiskMeta;
  return {
    async getMeta() {
      return JSON.stringify(meta);
    },
    backing(name: string) {
      return { bstype: 'rdwr', path: `/nonexistent/${name}.img`, bsopts: '' };
    },
  } as unknown as ImageStore;
}

/** An in-memory store holding the disk (started) and its paths, no owners. */
export async function storeWithDisk(d: OneDisk): Promise<EmbeddedStore> {
  const store = new EmbeddedStore({ tickMs: 50 });
  const rec: DiskRecord = {
    id: d.id,
    name: 'd1',
    iqn: d.iqn,
    sizeGb: 1,
    createdAt: new Date().toISOString(),
    acl: '',
    chapUser: '',
    subnet: 1,
    pathCount: d.ips.length,
    desired: 'started',
  };
  await store.put(diskKey(d.id), JSON.stringify(rec));
  for (const [i, ip] of d.ips.entries()) await store.put(pathKey(d.id, i + 1), JSON.stringify({ ip, subnetMask: '255.255.255.0', eth: 'lo' }));
  return store;
}
