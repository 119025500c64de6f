/**
 * Schema versions of the records Portway stores (coordination-store values and the metadata kept with
 * each image), and the one way each is written and read. Pure.
 *
 * - Written: `recordJson(kind, rec)`, the record with `v`, its kind's current version, first.
 * - Read: `readRecord(kind, json)` / `upgrade(kind, raw)`: a record without `v` is version 1 (what every
 *   release before versions wrote); a record older than the current version goes through MIGRATIONS
 *   one version at a time, in memory, where records carry no `v` (they are the current version); its
 *   next write stores the current version (read old, write new: no bulk rewrite). A record of a newer
 *   version than this code knows is read by the fields it knows and keeps its `v` (a version adds
 *   fields or gives an absent one a meaning, never removes one), so a cluster keeps working while its
 *   nodes are upgraded one by one.
 *
 * Changing a record's shape: bump its version here, add the step from the old version to MIGRATIONS,
 * and a test in test/unit/domain-records.test.ts that an old record reads as the new one.
 *
 * Version 1 of every kind is the shape of its type today (src/domain/keys.ts, disk.ts, auth.ts). Note:
 * a DiskRecord or DiskMeta without `placement` is version 1 too, not an older one: it is a disk made
 * before placement existed, read as 'spread' by placementOf() and kept on target id 1 (its hosts'
 * identity) by the agent; nothing may fill the field in for it.
 */

export const RECORD_VERSIONS = {
  /** `/portway/disks/<id>`: DiskRecord. */
  disk: 1,
  /** The metadata stored with a disk's image: DiskMeta (with `detached` once detached). */
  meta: 1,
  /** `/portway/disks/<id>/<n>`: PathSpec. */
  path: 1,
  /** `/portway/owners/<id>/<n>`: OwnerRecord. */
  owner: 1,
  /** `/portway/nodes/<name>`: NodeRecord. */
  node: 1,
  /** `/portway/moves/<id>/<n>`: MoveIntent. */
  move: 1,
  /** `/portway/drained/<name>`: {since}. */
  drained: 1,
  /** `/portway/disks/<id>/served`: the disk was fully served once since its start {since}. */
  served: 1,
  /** `/portway/clients/<id>/<node>`: the RBD clients a node opened a disk's image with (ClientsRecord; read by parseClients, which ignores v). */
  clients: 1,
  /** `/portway/hosts/<id>/<node>`: the initiators logged in to the disk's target on the node (HostsRecord; read by parseHosts, which ignores v). */
  hosts: 1,
  /** `/portway/pending/<id>`: an add in progress {server, image, at}. */
  pending: 1,
  /** `/portway/auth/users/<name>`: UserRecord (scrypt hash). */
  user: 1,
  /** `/portway/auth/roles/<name>`: a custom role. */
  role: 1,
  /** `/portway/auth/sessions/<hash>`: SessionRecord. */
  session: 1,
  /** `/portway/auth/tokens/<id>`: an API token (hash of its secret). */
  token: 1,
  /** `/portway/auth/setup`: the first admin was made. */
  setup: 1,
  /** `/portway/settings/cluster`: StoredClusterSettings (domain/cluster-settings.ts). */
  clusterSettings: 1,
  /** `/portway/members/<name>`: MemberRecord, a node that joined (domain/cluster-settings.ts). */
  member: 1,
  /** `/portway/audit/<id>`: AuditEntry. */
  audit: 1,
  /** `/portway/snapshot-schedules/<id>`: SnapshotSchedule (domain/snapshot-schedule.ts). */
  snapshotSchedule: 1,
  /** `/portway/snapshot-runs/<id>`: ScheduleRun, the scheduler's last run for the disk. */
  snapshotRun: 1,
  /** `/portway/leaders/<role>`: LeaderRecord, the API server acting for the cluster (under its lease). */
  leader: 1,
} as const;

export type RecordKind = keyof typeof RECORD_VERSIONS;

type Obj = Record<string, unknown>;
/** Turns a record of version n into one of version n + 1. */
export type Migration = (rec: Obj) => Obj;
/** Per kind, the step from each old version (key: the version it starts from). */
export type Migrations = { readonly [K in RecordKind]?: Readonly<Record<number, Migration>> };

/** Every version is 1 so far: no steps yet. */
export const MIGRATIONS: Migrations = {};

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The schema version a stored record declares: its `v`, or 1 when it has none (or a nonsense one). */
export function versionOf(rec: Obj): number {
  const v = rec.v;
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : 1;
}

/**
 * The JSON to store for a record of `kind`: `{"v": <current version>, ...rec}`. A record read at a newer
 * version (it kept its `v`, see upgrade) keeps it: its unknown fields travel along when it is rewritten.
 */
export function recordJson(kind: RecordKind, rec: object): string {
  const { v: was, ...fields } = rec as Obj;
  const current = RECORD_VERSIONS[kind];
  const v = typeof was === 'number' && Number.isInteger(was) && was > current ? was : current;
  return JSON.stringify({ v, ...fields });
}

/**
 * A stored record (parsed JSON) of `kind` migrated to the current version, or undefined when it is not
 * an object. In memory a record carries no `v` (it is the current version), except one of a newer
 * version, which keeps it. `current` and `steps` are for tests of the migration path; callers leave them out.
 */
export function upgrade(kind: RecordKind, raw: unknown, current: number = RECORD_VERSIONS[kind], steps: Migrations = MIGRATIONS): Obj | undefined {
  if (!isObj(raw)) return undefined;
  let v = versionOf(raw);
  if (v > current) return { ...raw }; // newer: read by the fields we know
  const { v: _stored, ...fields } = raw;
  let rec: Obj = fields;
  while (v < current) {
    const step = steps[kind]?.[v];
    if (!step) throw new Error(`no migration of ${kind} records from version ${v}`);
    rec = step(rec);
    v += 1;
  }
  return rec;
}

/** upgrade() of a stored JSON text; undefined when it is not JSON or not an object. */
export function readRecord(kind: RecordKind, json: string | null | undefined): Obj | undefined {
  if (json === null || json === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return undefined;
  }
  return upgrade(kind, raw);
}
