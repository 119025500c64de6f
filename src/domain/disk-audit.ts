/**
 * What the audit log says about a disk or path action, by meaning: the disk's id and name, the fields
 * that matter for the action, and for an edit what changed (from, to). Never a secret: CHAP passwords
 * are never read here, only whether one was set or changed.
 */
import { type Qos, hasQos, normalQos, qosChanges } from './qos.js';

/** The fields of a disk the audit log names (a DiskView has them all). */
export interface AuditedDisk {
  id: string;
  name: string;
  sizeGb: number;
  pathCount: number;
  subnet: number;
  placement: string;
  acl: string;
  chapUser: string;
  /** QoS limits; absent or {}: none. */
  qos?: Qos;
}

export const DISK_ACTIONS = [
  'disk.create',
  'disk.edit',
  'disk.stop',
  'disk.start',
  'disk.detach',
  'disk.attach',
  'disk.delete',
  'path.move',
  'paths.rebalance',
  'node.drain',
  'node.undrain',
] as const;
export type DiskAction = (typeof DISK_ACTIONS)[number];

/** The audit target of a disk: `disk:<id>`. */
export const diskTarget = (id: string): string => `disk:${String(id).slice(0, 20)}`;

/** The disk's identity for an entry: searchable by id and by name. */
export function diskNames(d: Pick<AuditedDisk, 'id' | 'name'>): { diskId: string; diskName: string } {
  return { diskId: d.id, diskName: d.name };
}

/** What describes a disk in an entry (create, attach): identity and layout, no secret. */
export function diskFields(d: AuditedDisk): Record<string, unknown> {
  return {
    ...diskNames(d),
    sizeGb: d.sizeGb,
    paths: d.pathCount,
    subnet: d.subnet,
    placement: d.placement,
    acl: d.acl === '' ? 'all initiators' : d.acl,
    chap: d.chapUser === '' ? 'none' : `user ${d.chapUser}`,
    ...(hasQos(d.qos) ? { qos: normalQos(d.qos) } : {}),
  };
}

const EDITABLE: readonly (keyof AuditedDisk)[] = ['name', 'sizeGb', 'placement', 'acl', 'chapUser'];

/**
 * What an edit changed, field by field ({from, to}; QoS limit by limit under `qos`, null = unlimited); `chapAuth: 'password changed'` when the request set a
 * CHAP password (its value is never recorded).
 */
export function diskChanges(before: AuditedDisk, after: AuditedDisk, request: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of EDITABLE) if (before[k] !== after[k]) out[k] = { from: before[k], to: after[k] };
  const qos = qosChanges(before.qos, after.qos);
  if (Object.keys(qos).length > 0) out.qos = qos;
  const auth = request !== null && typeof request === 'object' ? (request as { auth?: unknown }).auth : undefined;
  if (auth !== null && typeof auth === 'object') {
    const a = auth as { mode?: unknown; password?: unknown };
    if (a.mode === 'chap' && typeof a.password === 'string' && a.password !== '') out.chapAuth = 'password changed';
  }
  return out;
}

/** The fields of an add or attach request worth recording when it fails (no secret). */
export function requestedFields(req: unknown): Record<string, unknown> {
  if (req === null || typeof req !== 'object') return {};
  const r = req as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ['name', 'sizeGb', 'activePaths', 'subnet', 'ipMode', 'path1', 'path2', 'placement', 'qos', 'image', 'keepPaths'])
    if (r[k] !== undefined && r[k] !== null) out[k === 'name' ? 'diskName' : k] = typeof r[k] === 'string' ? (r[k] as string).slice(0, 80) : r[k];
  return out;
}

/** The action of a disk or path route, for requests refused before their handler ran (denied). */
export const ROUTE_ACTIONS: Readonly<Record<string, DiskAction>> = {
  'POST /api/v1/disks': 'disk.create',
  'PATCH /api/v1/disks/:id': 'disk.edit',
  'POST /api/v1/disks/:id/stop': 'disk.stop',
  'POST /api/v1/disks/:id/start': 'disk.start',
  'POST /api/v1/disks/:id/detach': 'disk.detach',
  'DELETE /api/v1/disks/:id': 'disk.delete',
  'POST /api/v1/images/attach': 'disk.attach',
  'POST /api/v1/disks/:id/paths/:n/move': 'path.move',
  'POST /api/v1/paths/rebalance': 'paths.rebalance',
  'POST /api/v1/nodes/:name/drain': 'node.drain',
  'POST /api/v1/nodes/:name/undrain': 'node.undrain',
};

/** Action, target and details of a refused request on a disk or path route; undefined for other routes. */
export function refusedEntry(
  method: string,
  route: string,
  params: unknown,
): { action: DiskAction; target: string; details: Record<string, unknown> } | undefined {
  const action = ROUTE_ACTIONS[`${method} ${route}`];
  if (!action) return undefined;
  const p = (params !== null && typeof params === 'object' ? params : {}) as Record<string, unknown>;
  const id = typeof p.id === 'string' ? p.id.slice(0, 20) : undefined;
  const node = typeof p.name === 'string' ? p.name.slice(0, 64) : undefined;
  const target = id !== undefined ? diskTarget(id) : node !== undefined ? `node:${node}` : action === 'paths.rebalance' ? 'cluster' : 'disk:new';
  return {
    action,
    target,
    details: {
      ...(id !== undefined ? { diskId: id } : {}),
      ...(node !== undefined ? { node } : {}),
      ...(typeof p.n === 'string' ? { path: p.n.slice(0, 10) } : {}),
    },
  };
}
