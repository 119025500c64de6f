/** Layout of the coordination store's keys, and the records under them. Pure. */
import { type DiskMeta, type PathSpec, type Placement, type SubnetChoice, placementOf } from './disk.js';
import { type Qos, hasQos, normalQos } from './qos.js';
import { readRecord, recordJson } from './records.js';

export const ROOT = '/portway';
export const DISKS = `${ROOT}/disks/`;
export const OWNERS = `${ROOT}/owners/`;
export const NODES = `${ROOT}/nodes/`;
/** Admin path moves: `<root>/moves/<id>/<n>` names the node that is to take path n (no lease). */
export const MOVES = `${ROOT}/moves/`;
/** Drained nodes: `<root>/drained/<name>` (no lease: survives the node's restart). */
export const DRAINED = `${ROOT}/drained/`;
/** Uniqueness index: one key per path IP and per disk name, created in the disk's registration txn. */
export const IPS = `${ROOT}/ips/`;
export const NAMES = `${ROOT}/names/`;
/** `<root>/pending/<id>`: an add in progress on a server (image being made, keys not yet registered). */
export const PENDING = `${ROOT}/pending/`;
/** `<root>/hosts/<id>/<node>`: the initiators logged in to a disk's target on a node (domain/hosts.ts). */
export const HOSTS = `${ROOT}/hosts/`;

/** `<root>/settings/cluster`: the cluster settings, one copy for the cluster (domain/cluster-settings.ts). */
export const CLUSTER_SETTINGS = `${ROOT}/settings/cluster`;
/** `<root>/members/<name>`: a node that joined the cluster (`portway node join`; no lease: removed by `node leave`). */
export const MEMBERS = `${ROOT}/members/`;
export function memberKey(name: string): string {
  return `${MEMBERS}${name}`;
}

/** `<root>/snapshot-schedules/<id>`: the disk's snapshot schedule (domain/snapshot-schedule.ts; no lease, deleted with the disk). */
export const SNAPSHOT_SCHEDULES = `${ROOT}/snapshot-schedules/`;
/** `<root>/snapshot-runs/<id>`: the scheduler's last run for the disk (deleted with the disk). */
export const SNAPSHOT_RUNS = `${ROOT}/snapshot-runs/`;
export function snapshotScheduleKey(id: string): string {
  return `${SNAPSHOT_SCHEDULES}${id}`;
}
export function snapshotRunKey(id: string): string {
  return `${SNAPSHOT_RUNS}${id}`;
}
/** The disk id of a key under SNAPSHOT_SCHEDULES or SNAPSHOT_RUNS; undefined for any other key. */
export function scheduleDiskId(key: string): string | undefined {
  return /^\/portway\/snapshot-(?:schedules|runs)\/(\d{5})$/.exec(key)?.[1];
}
/** `<root>/leaders/<role>`: the API server acting for the whole cluster in that role, under its lease. */
export const LEADERS = `${ROOT}/leaders/`;
export const SNAPSHOT_SCHEDULER_LEADER = `${LEADERS}snapshot-scheduler`;

/** Who leads (the value of a key under LEADERS). */
export interface LeaderRecord {
  v?: number;
  node: string;
  /** Tells two runs of one node apart. */
  token: string;
  since: string;
}

export function pendingKey(id: string): string {
  return `${PENDING}${id}`;
}

export function ipKey(ip: string): string {
  return `${IPS}${ip}`;
}
export function nameKey(name: string): string {
  return `${NAMES}${encodeURIComponent(name)}`;
}

/** Every key registering a disk: its record, its paths, and its IP and name index entries. */
export function registrationKvs(meta: DiskMeta, desired: DiskRecord['desired']): { key: string; value: string }[] {
  return [
    { key: diskKey(meta.id), value: recordJson('disk', diskRecordOf(meta, desired)) },
    ...meta.paths.map((p, i) => ({ key: pathKey(meta.id, i + 1), value: recordJson('path', p) })),
    ...meta.paths.map((p) => ({ key: ipKey(p.ip), value: meta.id })),
    { key: nameKey(meta.name), value: meta.id },
  ];
}

/** `<root>/disks/<id>`: the disk's registration. */
export function diskKey(id: string): string {
  return `${DISKS}${id}`;
}
/** `<root>/disks/<id>/<n>`: path n (1-based) of the disk. */
export function pathKey(id: string, n: number): string {
  return `${DISKS}${id}/${n}`;
}
/** `<root>/owners/<id>/<n>`: the node serving path n, under that node's lease. */
export function ownerKey(id: string, n: number): string {
  return `${OWNERS}${id}/${n}`;
}
export function nodeKey(name: string): string {
  return `${NODES}${name}`;
}
export function moveKey(id: string, n: number): string {
  return `${MOVES}${id}/${n}`;
}
export function drainedKey(name: string): string {
  return `${DRAINED}${name}`;
}
/**
 * `<root>/disks/<id>/served`: the disk has been fully served once since it was (last) started. Under
 * the disk's own prefix, so whatever reads or deletes a disk's keys reads or deletes it too.
 */
export function servedKey(id: string): string {
  return `${DISKS}${id}/served`;
}

/** The disk's registration: what lists show (never a secret) and whether it should be served. */
export interface DiskRecord {
  /** Schema version: set only on a record read at a newer version than this code's (src/domain/records.ts). */
  v?: number;
  id: string;
  name: string;
  iqn: string;
  sizeGb: number;
  createdAt: string;
  acl: string;
  chapUser: string;
  /** Mutual CHAP's target user; absent: none. */
  targetChapUser?: string;
  subnet: SubnetChoice;
  pathCount: number;
  desired: 'started' | 'stopped';
  /** Left out by versions before placement existed: read it with placementOf(). */
  placement?: Placement;
  /** QoS limits; absent: none. */
  qos?: Qos;
}

export function diskRecordOf(meta: DiskMeta, desired: DiskRecord['desired']): DiskRecord {
  return {
    id: meta.id,
    name: meta.name,
    iqn: meta.iqn,
    sizeGb: meta.sizeGb,
    createdAt: meta.createdAt,
    acl: meta.acl,
    chapUser: meta.chapUser,
    ...(meta.targetChapUser ? { targetChapUser: meta.targetChapUser } : {}),
    subnet: meta.subnet,
    pathCount: meta.paths.length,
    desired,
    placement: placementOf(meta),
    ...(hasQos(meta.qos) ? { qos: normalQos(meta.qos) } : {}),
  };
}

export type OwnerState = 'configuring' | 'served';

export interface OwnerRecord {
  /** Schema version: set only on a record read at a newer version than this code's (src/domain/records.ts). */
  v?: number;
  node: string;
  state: OwnerState;
  /**
   * Set by a node taking a shared disk over from another (a failover): the image's other RBD clients
   * must be blocklisted (storage fencing) before the path is served. Dropped once it is served.
   */
  fence?: true;
  /** Why the path is not served yet, when the owner knows (e.g. storage fencing failed). */
  problem?: string;
}

export interface NodeRecord {
  /** Schema version: set only on a record read at a newer version than this code's (src/domain/records.ts). */
  v?: number;
  name: string;
  startedAt: string;
  /** Drained nodes take no new paths (the drain key under DRAINED is the admin's way to set it). */
  drained?: boolean;
  /**
   * The IP this node's RBD clients reach Ceph from (what `rbd status` shows for its tgtds' watchers),
   * in Ceph mode: storage fencing never blocklists a live node's clients.
   */
  storageIp?: string;
  /** The version of the cluster settings the node's agent works with (domain/cluster-settings.ts). */
  settingsVersion?: number;
}

/** An admin's request to move one path to node `to` (release by the owner, then take by `to`). */
export interface MoveIntent {
  /** Schema version: set only on a record read at a newer version than this code's (src/domain/records.ts). */
  v?: number;
  to: string;
  /** The owner when the move was asked for (informational). */
  from: string | null;
  requestedAt: string;
}

export function asMoveIntent(v: unknown): MoveIntent | undefined {
  return isObj(v) && typeof v.to === 'string' && v.to !== ''
    ? { to: v.to, from: typeof v.from === 'string' ? v.from : null, requestedAt: typeof v.requestedAt === 'string' ? v.requestedAt : '' }
    : undefined;
}

/** What a key under DISKS or OWNERS is. */
export type ParsedKey =
  | { kind: 'disk'; id: string }
  | { kind: 'path'; id: string; index: number }
  | { kind: 'owner'; id: string; index: number }
  | { kind: 'node'; name: string }
  | { kind: 'move'; id: string; index: number }
  | { kind: 'drained'; name: string }
  | { kind: 'served'; id: string }
  | { kind: 'other' };

export function parseKey(key: string): ParsedKey {
  let m = /^\/portway\/disks\/(\d{5})(?:\/(\d+))?$/.exec(key);
  if (m) return m[2] ? { kind: 'path', id: m[1] as string, index: Number(m[2]) } : { kind: 'disk', id: m[1] as string };
  m = /^\/portway\/owners\/(\d{5})\/(\d+)$/.exec(key);
  if (m) return { kind: 'owner', id: m[1] as string, index: Number(m[2]) };
  m = /^\/portway\/nodes\/(.+)$/.exec(key);
  if (m) return { kind: 'node', name: m[1] as string };
  m = /^\/portway\/moves\/(\d{5})\/(\d+)$/.exec(key);
  if (m) return { kind: 'move', id: m[1] as string, index: Number(m[2]) };
  m = /^\/portway\/drained\/(.+)$/.exec(key);
  if (m) return { kind: 'drained', name: m[1] as string };
  m = /^\/portway\/disks\/(\d{5})\/served$/.exec(key);
  if (m) return { kind: 'served', id: m[1] as string };
  return { kind: 'other' };
}

/** Everything the store says about one disk, assembled from its keys. */
export interface DiskState {
  record: DiskRecord;
  paths: Map<number, PathSpec>;
  owners: Map<number, OwnerRecord>;
  /** Set when every path has been served once since the disk was started (servedKey). */
  servedOnce?: true;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function asDiskRecord(v: unknown): DiskRecord | undefined {
  return isObj(v) &&
    typeof v.id === 'string' &&
    typeof v.name === 'string' &&
    typeof v.iqn === 'string' &&
    Number.isInteger(v.pathCount) &&
    (v.desired === 'started' || v.desired === 'stopped')
    ? (v as unknown as DiskRecord)
    : undefined;
}
function asPathSpec(v: unknown): PathSpec | undefined {
  return isObj(v) && typeof v.ip === 'string' && typeof v.subnetMask === 'string' && typeof v.eth === 'string' ? (v as unknown as PathSpec) : undefined;
}
function asOwnerRecord(v: unknown): OwnerRecord | undefined {
  return isObj(v) && typeof v.node === 'string' && (v.state === 'configuring' || v.state === 'served') ? (v as unknown as OwnerRecord) : undefined;
}

/** Groups raw key-values (of DISKS and OWNERS) into disk states; unreadable values are skipped. */
export function assembleDisks(kvs: Iterable<{ key: string; value: string }>): Map<string, DiskState> {
  const disks = new Map<string, DiskState>();
  const pending: { id: string; index: number; owner?: OwnerRecord; path?: PathSpec }[] = [];
  const served = new Set<string>();
  for (const { key, value } of kvs) {
    const k = parseKey(key);
    try {
      if (k.kind === 'disk') {
        const record = asDiskRecord(readRecord('disk', value));
        if (record) disks.set(k.id, { record, paths: new Map(), owners: new Map() });
      } else if (k.kind === 'path') {
        const path = asPathSpec(readRecord('path', value));
        if (path) pending.push({ id: k.id, index: k.index, path });
      } else if (k.kind === 'owner') {
        const owner = asOwnerRecord(readRecord('owner', value));
        if (owner) pending.push({ id: k.id, index: k.index, owner });
      } else if (k.kind === 'served') {
        served.add(k.id);
      }
    } catch {
      // A value that is not ours: ignore it rather than fail the whole list.
    }
  }
  for (const p of pending) {
    const d = disks.get(p.id);
    if (!d) continue;
    if (p.path) d.paths.set(p.index, p.path);
    if (p.owner) d.owners.set(p.index, p.owner);
  }
  for (const id of served) {
    const d = disks.get(id);
    if (d) d.servedOnce = true;
  }
  return disks;
}
