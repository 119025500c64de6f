/**
 * Fills the coordination store with valid disks directly (no images): the keys and values the add-disk
 * flow registers (registrationKvs: record, paths, IP and name index), plus, when asked, each path's
 * owner key in state "served" as a running agent leaves it. Used for the 1,000 /
 * 10,000-disk lists and the nearly-full allocation, where creating that many images would measure the
 * image store instead. Keys go in batched transactions (etcd allows 128 operations per transaction).
 */
import type { CoordStore, TxnOp } from '../../src/adapters/coord/types.js';
import type { ResolvedSubnet } from '../../src/domain/config.js';
import { type DiskMeta, diskIqn, formatDiskId } from '../../src/domain/disk.js';
import { formatIp } from '../../src/domain/ip.js';
import { ownerKey, registrationKvs } from '../../src/domain/keys.js';
import { mapSettled } from '../../src/util/async.js';

export interface PopulateOptions {
  subnet: ResolvedSubnet;
  iqnBase: string;
  pool: string;
  /** Paths per disk (consecutive IPs of the subnet's auto range, like automatic allocation). */
  paths: number;
  /** Also write owner keys {node, state: served}. */
  owners?: string;
  /** Operations per transaction: 128 for etcd, more for the embedded store. */
  batch: number;
  /** Transactions in flight. */
  parallel?: number;
}

/** The metadata of synthetic disk n (1-based): name bench-n, paths from the subnet's auto range. */
export function syntheticMeta(n: number, o: Pick<PopulateOptions, 'subnet' | 'iqnBase' | 'pool' | 'paths'>): DiskMeta {
  const id = formatDiskId(n);
  const first = o.subnet.from + (n - 1) * o.paths;
  if (first + o.paths - 1 > o.subnet.to) throw new Error(`disk ${n}: the subnet's auto range is too small for ${o.paths} paths each`);
  return {
    id,
    name: `bench-${n}`,
    sizeGb: 1,
    createdAt: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString(),
    acl: '',
    chapUser: '',
    chapPassword: '',
    iqn: diskIqn(o.iqnBase, id),
    pool: o.pool,
    subnet: 1,
    paths: Array.from({ length: o.paths }, (_, k) => ({ ip: formatIp(first + k), subnetMask: o.subnet.mask, eth: o.subnet.eth })),
  };
}

/** Writes disks from..to (inclusive, 1-based ids). */
export async function populate(store: CoordStore, from: number, to: number, o: PopulateOptions): Promise<void> {
  const ops: TxnOp[] = [];
  for (let n = from; n <= to; n++) {
    const meta = syntheticMeta(n, o);
    for (const kv of registrationKvs(meta, 'started')) ops.push({ type: 'put', key: kv.key, value: kv.value });
    if (o.owners)
      for (let i = 1; i <= meta.paths.length; i++)
        ops.push({ type: 'put', key: ownerKey(meta.id, i), value: JSON.stringify({ node: o.owners, state: 'served' }) });
  }
  const batches: TxnOp[][] = [];
  for (let i = 0; i < ops.length; i += o.batch) batches.push(ops.slice(i, i + o.batch));
  const results = await mapSettled(batches, o.parallel ?? 1, (b) => store.txn([], b));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed && failed.status === 'rejected') throw failed.reason;
}
