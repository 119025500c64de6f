/** Layout of the coordination store's keys, and the records under them. Pure. */
import type { DiskMeta, PathSpec, SubnetChoice } from './disk.js';

export const ROOT = '/portway';
export const DISKS = `${ROOT}/disks/`;
export const OWNERS = `${ROOT}/owners/`;
export const NODES = `${ROOT}/nodes/`;

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

/** The disk's registration: what lists show (never a secret) and whether it should be served. */
export interface DiskRecord {
  id: string;
  name: string;
  iqn: string;
  sizeGb: number;
  createdAt: string;
  acl: string;
  chapUser: string;
  subnet: SubnetChoice;
  pathCount: number;
  desired: 'started' | 'stopped';
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
    subnet: meta.subnet,
    pathCount: meta.paths.length,
    desired,
  };
}

export type OwnerState = 'configuring' | 'served';

export interface OwnerRecord {
  node: string;
  state: OwnerState;
}

export interface NodeRecord {
  name: string;
  startedAt: string;
  /** Drained nodes take no new paths. */
  drained?: boolean;
}

/** What a key under DISKS or OWNERS is. */
export type ParsedKey =
  | { kind: 'disk'; id: string }
  | { kind: 'path'; id: string; index: number }
  | { kind: 'owner'; id: string; index: number }
  | { kind: 'node'; name: string }
  | { kind: 'other' };

export function parseKey(key: string): ParsedKey {
  let m = /^\/portway\/disks\/(\d{5})(?:\/(\d+))?$/.exec(key);
  if (m) return m[2] ? { kind: 'path', id: m[1] as string, index: Number(m[2]) } : { kind: 'disk', id: m[1] as string };
  m = /^\/portway\/owners\/(\d{5})\/(\d+)$/.exec(key);
  if (m) return { kind: 'owner', id: m[1] as string, index: Number(m[2]) };
  m = /^\/portway\/nodes\/(.+)$/.exec(key);
  if (m) return { kind: 'node', name: m[1] as string };
  return { kind: 'other' };
}

/** Everything the store says about one disk, assembled from its keys. */
export interface DiskState {
  record: DiskRecord;
  paths: Map<number, PathSpec>;
  owners: Map<number, OwnerRecord>;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function asDiskRecord(v: unknown): DiskRecord | undefined {
  return isObj(v) && typeof v.id === 'string' && typeof v.name === 'string' && typeof v.iqn === 'string' &&
    Number.isInteger(v.pathCount) && (v.desired === 'started' || v.desired === 'stopped') ? (v as unknown as DiskRecord) : undefined;
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
  for (const { key, value } of kvs) {
    const k = parseKey(key);
    try {
      if (k.kind === 'disk') {
        const record = asDiskRecord(JSON.parse(value));
        if (record) disks.set(k.id, { record, paths: new Map(), owners: new Map() });
      } else if (k.kind === 'path') {
        const path = asPathSpec(JSON.parse(value));
        if (path) pending.push({ id: k.id, index: k.index, path });
      } else if (k.kind === 'owner') {
        const owner = asOwnerRecord(JSON.parse(value));
        if (owner) pending.push({ id: k.id, index: k.index, owner });
      }
    } catch {
      // A value that is not JSON is not ours: ignore it rather than fail the whole list.
    }
  }
  for (const p of pending) {
    const d = disks.get(p.id);
    if (!d) continue;
    if (p.path) d.paths.set(p.index, p.path);
    if (p.owner) d.owners.set(p.index, p.owner);
  }
  return disks;
}
