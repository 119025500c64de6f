/** What the API shows of a disk: its record and the state of its paths (the types: src/api/wire.ts). */
import type { DiskView, PathView } from '../api/wire.js';
import { type PathState, placementOf } from '../domain/disk.js';
import type { DiskState } from '../domain/keys.js';
import { normalQos } from '../domain/qos.js';
import { diskStatus, servedCount } from '../domain/status.js';

export type { DiskView, PathView, PathState };

export function diskView(d: DiskState): DiskView {
  const r = d.record;
  return {
    id: r.id,
    name: r.name,
    sizeGb: r.sizeGb,
    iqn: r.iqn,
    createdAt: r.createdAt,
    pathCount: d.paths.size,
    pathsServed: servedCount(d),
    status: diskStatus(d),
    acl: r.acl,
    chapUser: r.chapUser,
    targetChapUser: r.targetChapUser ?? '',
    subnet: r.subnet,
    placement: placementOf(r),
    qos: normalQos(r.qos),
    ...problemOf(d),
  };
}

function problemOf(d: DiskState): { problem?: string } {
  for (const o of d.owners.values()) if (typeof o.problem === 'string' && o.state !== 'served') return { problem: o.problem };
  return {};
}
