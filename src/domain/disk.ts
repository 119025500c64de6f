/** Disks, paths and their identifiers. Pure: no I/O. */
import { type Qos, QOS_LIMITS } from './qos.js';
import { readRecord } from './records.js';

export type SubnetChoice = 1 | 2 | 3; // 3 = both

/**
 * Where a disk's paths are served:
 * - `shared`: every path on one node, in one target process, so SCSI reservations, persistent
 *   reservations, unit attentions and LUN resets hold across all paths (hosts of a cluster sharing
 *   the disk: VMFS, CSV, Windows failover clusters, fence_scsi). The paths move together.
 * - `spread`: paths over several nodes (one host using multipath for throughput); reservations then
 *   hold per node, not per disk.
 */
export type Placement = 'shared' | 'spread';
export const PLACEMENTS: readonly Placement[] = ['shared', 'spread'];
/** New disks are shared unless the admin says otherwise. */
export const DEFAULT_PLACEMENT: Placement = 'shared';
/**
 * Disks made before placement existed (no field) were served path by path over the nodes: they stay
 * `spread`, so an upgrade moves no path; the admin switches them to `shared` by an edit.
 */
export const LEGACY_PLACEMENT: Placement = 'spread';

export function isPlacement(v: unknown): v is Placement {
  return v === 'shared' || v === 'spread';
}

/** A disk's placement as stored (a record or metadata written before placement existed has none). */
export function placementOf(d: { placement?: unknown }): Placement {
  return isPlacement(d.placement) ? d.placement : LEGACY_PLACEMENT;
}

export interface PathSpec {
  ip: string;
  /** Dotted mask of the path's subnet, e.g. 255.255.255.0. */
  subnetMask: string;
  /** Interface of the node that carries the path's subnet. */
  eth: string;
}

/** The metadata stored with every disk's image (the storage cluster alone can rebuild the disk list). */
export interface DiskMeta {
  /** Schema version: set only on metadata read at a newer version than this code's (src/domain/records.ts). */
  v?: number;
  id: string;
  name: string;
  sizeGb: number;
  createdAt: string;
  /** '' = all initiators, otherwise the one initiator IQN allowed. */
  acl: string;
  /** '' = no CHAP. */
  chapUser: string;
  chapPassword: string;
  /**
   * Mutual CHAP: the target's own credentials, which the host checks (tgt's outgoing account). Left out:
   * none (and by versions before mutual CHAP existed). Only with chapUser.
   */
  targetChapUser?: string;
  targetChapPassword?: string;
  iqn: string;
  pool: string;
  subnet: SubnetChoice;
  paths: PathSpec[];
  /** Left out by versions before placement existed: LEGACY_PLACEMENT. */
  placement?: Placement;
  /**
   * Started or stopped as the admin last asked, kept with the image so `portway rebuild` brings the disk
   * back as it was. Absent (images written before it existed, new disks): started.
   */
  desired?: 'started' | 'stopped';
  /** QoS limits (src/domain/qos.ts); left out: none (and by versions before QoS existed). */
  qos?: Qos;
}

export const DISK_STATUSES = ['starting', 'started', 'degraded', 'stopping', 'stopped'] as const;
export type DiskStatus = (typeof DISK_STATUSES)[number];

/** A path as the API shows it: no owner yet, being configured by its owner, or served. */
export const PATH_STATES = ['unassigned', 'configuring', 'served'] as const;
export type PathState = (typeof PATH_STATES)[number];

export const MAX_DISK_ID = 99999;

export function formatDiskId(n: number): string {
  return String(n).padStart(5, '0');
}

export function parseDiskId(id: string): number | undefined {
  return /^\d{5}$/.test(id) ? Number(id) : undefined;
}

/** The id after the highest existing one (ids are never reused), or undefined when all are taken. */
export function nextDiskId(existing: Iterable<string>): string | undefined {
  let max = 0;
  for (const id of existing) {
    const n = parseDiskId(id);
    if (n !== undefined && n > max) max = n;
  }
  return max >= MAX_DISK_ID ? undefined : formatDiskId(max + 1);
}

export function imageName(id: string): string {
  return `image-${id}`;
}

export function diskIdOfImage(name: string): string | undefined {
  const m = /^image-(\d{5})$/.exec(name);
  return m?.[1];
}

export function diskIqn(iqnBase: string, id: string): string {
  return `${iqnBase}:${id}`;
}

export const GIB = 1024 ** 3;

export function sizeBytes(sizeGb: number): number {
  return sizeGb * GIB;
}

/** DiskMeta without secrets, as lists and logs show it. */
export type PublicDiskMeta = Omit<DiskMeta, 'chapPassword' | 'targetChapPassword'> & { chap: boolean };

export function publicMeta(meta: DiskMeta): PublicDiskMeta {
  const { chapPassword: _secret, targetChapPassword: _target, ...rest } = meta;
  return { ...rest, chap: meta.chapUser !== '' };
}

/** DiskMeta from the text stored with an image, or undefined when it is not a disk's metadata. */
export function parseDiskMeta(raw: string | null): DiskMeta | undefined {
  const m = readRecord('meta', raw);
  if (m === undefined) return undefined;
  const d = m as Partial<DiskMeta>;
  const ok =
    typeof d.id === 'string' &&
    parseDiskId(d.id) !== undefined &&
    typeof d.name === 'string' &&
    typeof d.iqn === 'string' &&
    typeof d.sizeGb === 'number' &&
    typeof d.acl === 'string' &&
    typeof d.chapUser === 'string' &&
    typeof d.chapPassword === 'string' &&
    (d.targetChapUser === undefined || typeof d.targetChapUser === 'string') &&
    (d.targetChapPassword === undefined || typeof d.targetChapPassword === 'string') &&
    (d.subnet === 1 || d.subnet === 2 || d.subnet === 3) &&
    (d.placement === undefined || isPlacement(d.placement)) &&
    (d.desired === undefined || d.desired === 'started' || d.desired === 'stopped') &&
    (d.qos === undefined ||
      (typeof d.qos === 'object' && d.qos !== null && QOS_LIMITS.every((k) => d.qos?.[k] === undefined || typeof d.qos[k] === 'number'))) &&
    Array.isArray(d.paths) &&
    d.paths.every((p) => p && typeof p.ip === 'string' && typeof p.subnetMask === 'string' && typeof p.eth === 'string');
  return ok ? (d as DiskMeta) : undefined;
}
