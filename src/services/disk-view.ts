/** What the API shows of a disk: its record and the state of its paths. */
import { type DiskStatus, type Placement, type SubnetChoice, placementOf } from '../domain/disk.js';
import type { DiskState } from '../domain/keys.js';
import { diskStatus, servedCount } from '../domain/status.js';

export interface DiskView {
  id: string;
  name: string;
  sizeGb: number;
  iqn: string;
  createdAt: string;
  pathCount: number;
  pathsServed: number;
  status: DiskStatus;
  /** '' = all initiators. */
  acl: string;
  /** '' = no CHAP. */
  chapUser: string;
  subnet: SubnetChoice;
  /** shared: every path on one node (reservations hold across paths); spread: paths over nodes. */
  placement: Placement;
  /** Why a path is not served, when its node says (e.g. storage fencing failed): the first such reason. */
  problem?: string;
}

export type PathState = 'unassigned' | 'configuring' | 'served';

/** What the API shows of one path of a disk. */
export interface PathView {
  index: number;
  ip: string;
  subnetMask: string;
  eth: string;
  /** The node serving it, or null. */
  node: string | null;
  state: PathState;
  /** Why it is not served yet, when its node says (e.g. storage fencing failed). */
  problem?: string;
}

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
    subnet: r.subnet,
    placement: placementOf(r),
    ...problemOf(d),
  };
}

function problemOf(d: DiskState): { problem?: string } {
  for (const o of d.owners.values()) if (typeof o.problem === 'string' && o.state !== 'served') return { problem: o.problem };
  return {};
}
