/**
 * The API contract: the JSON Schema (TypeBox) of every request and reply. The routes validate requests
 * and serialize replies with these schemas, the OpenAPI document (/api/docs) is generated from them, and
 * the wire types (wire.ts: Static<> of these) are what the server, the web client and the CLI share.
 *
 * Requests: the schemas guard the shape (JSON types, required fields, no unknown top-level fields); the
 * meaning (ranges, names, enums, IPs, IQNs...) is the domain's (src/domain), which answers each fault
 * with its own code naming the field. So a request field is typed as loosely as the domain reads it:
 * numbers may come as digit strings (as a form sends them), optional fields may be null.
 *
 * Replies: every field the clients read must be listed (the serializer drops unlisted ones).
 */
import { type SchemaOptions, type Static, type TSchema, Type } from '@sinclair/typebox';
import { AUDIT_OUTCOMES, PERMISSIONS, VIAS } from '../domain/auth.js';
import { DISK_STATUSES, PATH_STATES, PLACEMENTS, type SubnetChoice as Subnet } from '../domain/disk.js';
import { EVENT_KINDS, PROBLEM_KINDS } from '../domain/health.js';
import { QOS_BOUNDS } from '../domain/qos.js';

/** A string that is one of `values` (type: the union of them). */
function StringEnum<T extends string>(values: readonly T[], opts: SchemaOptions = {}) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...opts });
}

const Nullable = <T extends TSchema>(s: T, opts: SchemaOptions = {}) => Type.Union([s, Type.Null()], opts);

const PLACEMENT_TEXT =
  "shared (default): every path of the disk on one node, in one target: SCSI-2 reservations, persistent reservations, unit attentions and LUN resets hold across all paths (clusters of hosts sharing the disk: VMware VMFS, Hyper-V CSV, Windows failover clusters, fence_scsi); the paths fail over and move together. spread: paths over several nodes for one host's multipath throughput; reservations then hold per node, NOT per disk: never share a spread disk between hosts that coordinate with reservations. Disks made before placement existed are spread.";

// ---- failures ------------------------------------------------------------------------------------

export const ErrorBody = Type.Object(
  {
    code: Type.String({ description: 'stable, lower-case: e.g. wrong_subnet, disk_not_stopped, forbidden' }),
    message: Type.String({ description: 'what to change, in words' }),
    details: Type.Record(Type.String(), Type.Unknown(), {
      description: 'field: the request field at fault; permission: the permission missing (403 forbidden); reason: why a login is refused (401)',
    }),
  },
  { $id: 'Error', title: 'Error' },
);

// ---- disks ---------------------------------------------------------------------------------------

const QOS_TEXT = {
  iops: 'I/O operations per second, reads and writes together',
  readIops: 'read operations per second',
  writeIops: 'write operations per second',
  bps: 'bytes per second, reads and writes together',
  readBps: 'bytes read per second',
  writeBps: 'bytes written per second',
} as const;
const qosOf = <T extends TSchema>(field: (description: string) => T) =>
  Type.Object(
    {
      iops: field(QOS_TEXT.iops),
      readIops: field(QOS_TEXT.readIops),
      writeIops: field(QOS_TEXT.writeIops),
      bps: field(QOS_TEXT.bps),
      readBps: field(QOS_TEXT.readBps),
      writeBps: field(QOS_TEXT.writeBps),
    },
    { additionalProperties: false },
  );
/** The limits a disk has: only those set. */
export const QosView = Type.Object(qosOf((d) => Type.Optional(Type.Integer({ description: d }))).properties, {
  description: 'QoS limits enforced by the storage (Ceph RBD: librbd per image); a limit left out is unlimited; {} = none',
});
/** The limits of an add or edit request. */
const QosRequest = Type.Object(
  qosOf((d) => Type.Optional(Nullable(Type.Number(), { description: `${d}; 0 or null: no limit; left out: kept (edit) or none (add)` }))).properties,
  {
    additionalProperties: false,
    description: `QoS limits (IOPS ${QOS_BOUNDS.iops.min}-${QOS_BOUNDS.iops.max}, bytes/s ${QOS_BOUNDS.bps.min}-${QOS_BOUNDS.bps.max}). Ceph RBD only: file images refuse any limit with qos_unsupported. Applied to a started disk at once, without a restart.`,
  },
);

export const Placement = StringEnum(PLACEMENTS, { description: PLACEMENT_TEXT });
export const DiskStatus = StringEnum(DISK_STATUSES);
export const SubnetChoice = Type.Unsafe<Subnet>({ type: 'integer', enum: [1, 2, 3], description: '3 = both subnets, paths alternate' });

export const ConnectedHost = Type.Object(
  {
    iqn: Type.String({ description: "the initiator's IQN, as the target's tgtd shows its session" }),
    address: Type.String({ description: "the initiator's IP address (its session's first connection)" }),
    portal: Type.String({ description: "the path IP the session came in on ('' when the node could not tell)" }),
    path: Nullable(Type.Integer(), { description: 'the path number of that IP, or null' }),
    node: Type.String({ description: 'the node whose target holds the session' }),
    connections: Type.Integer({ description: 'iSCSI connections of the session' }),
    since: Type.String({ description: 'when that node first saw the session (tgtd does not say when it began): ISO time' }),
  },
  { description: "An initiator logged in to the disk's target on one path (one iSCSI session)" },
);

export const DiskView = Type.Object(
  {
    id: Type.String({ pattern: '^\\d{5}$' }),
    name: Type.String(),
    sizeGb: Type.Integer(),
    iqn: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    pathCount: Type.Integer(),
    pathsServed: Type.Integer(),
    status: DiskStatus,
    acl: Type.String({ description: "'' = all initiators, else the one initiator IQN allowed" }),
    chapUser: Type.String({ description: "'' = no CHAP; the password is never returned" }),
    targetChapUser: Type.String({ description: "mutual CHAP: the target's user name, which hosts check; '' = none" }),
    subnet: SubnetChoice,
    placement: Placement,
    qos: QosView,
    problem: Type.Optional(Type.String({ description: 'Why a path is not served, when its node says (e.g. storage fencing failed): the first such reason' })),
    hosts: Type.Optional(
      Type.Array(ConnectedHost, {
        description:
          "One disk's reply only (GET /disks/{id}): the initiators logged in to its paths now, from the serving nodes' tgtds (sampled every few seconds)",
      }),
    ),
  },
  { $id: 'Disk', title: 'Disk' },
);
/** A Disk in a reply: a reference to the one shared schema (SHARED_SCHEMAS). */
export const DiskRef = Type.Unsafe<Static<typeof DiskView>>({ $ref: 'Disk#' });

export const PathView = Type.Object(
  {
    index: Type.Integer({ description: 'path number, 1-8' }),
    ip: Type.String(),
    subnetMask: Type.String(),
    eth: Type.String({ description: "the interface of the path's subnet on the nodes" }),
    node: Nullable(Type.String(), { description: 'the node serving it, or null' }),
    state: StringEnum(PATH_STATES),
    problem: Type.Optional(Type.String({ description: 'Why the path is not served yet, when its node says (e.g. storage fencing failed: Ceph unreachable)' })),
    hosts: Type.Optional(Type.Array(ConnectedHost, { description: "A disk's paths reply only: the initiators logged in on this path now" })),
  },
  { $id: 'Path', title: 'Path' },
);
export const PathRef = Type.Unsafe<Static<typeof PathView>>({ $ref: 'Path#' });

const NumberOrDigits = (description: string) => Type.Union([Type.Number(), Type.String()], { description });
const OptionalText = (description: string) => Type.Optional(Nullable(Type.String(), { description }));
/**
 * A text field the domain reads only in one mode and ignores otherwise (a manual IP in automatic mode,
 * the IQN when every initiator may connect): any JSON is let through, the domain judges it when it reads
 * it. Its type for clients is a string.
 */
const TextReadWhen = (description: string, when: string) =>
  Type.Optional(Type.Unsafe<string>({ description: `${description}: a string, read only ${when} (ignored otherwise)` }));

const Acl = Type.Object(
  {
    mode: Type.String({ description: "'all' (every initiator) or 'iqn' (only `iqn`)" }),
    iqn: TextReadWhen('iqn.YYYY-MM.domain[:name] or eui.<16 hex>', "with mode 'iqn'"),
  },
  { description: 'who may connect; absent or null: all initiators' },
);
const chapFields = {
  mode: Type.String({ description: "'none' or 'chap'" }),
  user: TextReadWhen('1-64 of A-Z a-z 0-9 . _ : @ -', "with mode 'chap'"),
  password: TextReadWhen('12-16 printable characters, no spaces or quotes', "with mode 'chap'"),
  targetUser: TextReadWhen("mutual CHAP: the target's own user name, which hosts check (as user); absent or '': none", "with mode 'chap'"),
  targetPassword: TextReadWhen(
    "mutual CHAP: the target's password (as password, and not the initiator's); on edit, left out with the same targetUser: kept",
    "with mode 'chap'",
  ),
};
const Auth = Type.Object(chapFields, { description: 'CHAP; absent or null: none' });

const addDiskFields = {
  name: Type.String({ description: '1-64 letters, digits, spaces, . _ -, starting with a letter or digit' }),
  sizeGb: NumberOrDigits('whole GB, 1 to 1048576 (a digit string is read as a number)'),
  activePaths: NumberOrDigits('1-8'),
  subnet: NumberOrDigits('1, 2 or 3 (both subnets, paths alternate)'),
  ipMode: OptionalText("'auto' (default) or 'manual'; 3 or more paths are always auto"),
  path1: TextReadWhen('the IP of path 1', "with ipMode 'manual' and 1-2 paths"),
  path2: TextReadWhen('the IP of path 2', "with ipMode 'manual' and 2 paths"),
  acl: Type.Optional(Nullable(Acl)),
  auth: Type.Optional(Nullable(Auth)),
  placement: OptionalText(`'shared' (default) or 'spread'. ${PLACEMENT_TEXT}`),
  qos: Type.Optional(Nullable(QosRequest)),
};

export const AddDiskRequest = Type.Object(addDiskFields, { additionalProperties: false, title: 'AddDiskRequest' });

export const EditDiskRequest = Type.Object(
  {
    name: Type.Optional(addDiskFields.name),
    sizeGb: Type.Optional(NumberOrDigits('whole GB: only larger than now (disks never shrink)')),
    acl: addDiskFields.acl,
    auth: Type.Optional(
      Nullable(
        Type.Object(chapFields, {
          description: "{mode:'none'} removes CHAP; {mode:'chap', user} without password keeps the password (same user)",
        }),
      ),
    ),
    placement: addDiskFields.placement,
    qos: addDiskFields.qos,
  },
  { additionalProperties: false, description: 'Fields left out are kept.' },
);

const { sizeGb: _size, qos: _qos, ...attachAddFields } = addDiskFields;
export const AttachRequest = Type.Composite(
  [
    Type.Object({
      image: Type.String({ description: 'an image of the pool that is not a disk (GET /api/v1/images)' }),
      keepPaths: Type.Optional(Type.Boolean({ description: "true: keep a detached disk's id, name, ACL, CHAP and IPs (when still free)" })),
      sizeGb: Type.Optional(Type.Unknown({ description: 'ignored: the image keeps its size' })),
    }),
    Type.Partial(Type.Object(attachAddFields)),
  ],
  { additionalProperties: false, description: 'Without keepPaths the add-disk fields apply (the image keeps its size).' },
);

export const IpPreviewQuery = Type.Object({
  activePaths: Type.Optional(Type.String({ description: '1-8 (default 1)' })),
  subnet: Type.Optional(Type.String({ description: '1, 2 or 3 (both; default 1)' })),
});
export const IpPreview = Type.Object({
  ips: Type.Array(Type.Object({ path: Type.Integer(), ip: Type.String(), subnet: Type.Integer({ description: '1 or 2' }) })),
});

export const FreeImage = Type.Object({
  image: Type.String(),
  sizeBytes: Type.Integer(),
  name: Nullable(Type.String(), { description: 'the disk name in its Portway metadata; null when it has none' }),
  detached: Type.Boolean(),
});

// ---- snapshots and clones ------------------------------------------------------------------------

export const SnapshotView = Type.Object(
  {
    name: Type.String(),
    createdAt: Type.String({ description: 'when it was taken, ISO 8601' }),
    sizeBytes: Type.Integer({ description: "the disk's size when it was taken" }),
    usedBytes: Type.Optional(Type.Integer({ description: 'bytes the snapshot takes on its own, where the backend can tell (file copies)' })),
    clones: Type.Array(Type.String(), {
      description: 'disks (ids) or images cloned from it that still depend on it: it cannot be deleted until they are flattened',
    }),
    progressPct: Type.Optional(Type.Integer({ description: 'a copy still being made (file images without reflink): 0-100' })),
  },
  { $id: 'Snapshot', title: 'Snapshot' },
);
export const SnapshotRef = Type.Unsafe<Static<typeof SnapshotView>>({ $ref: 'Snapshot#' });
export const SnapshotList = Type.Object(
  {
    snapshots: Type.Array(SnapshotRef, { description: 'oldest first' }),
    parent: Type.Optional(
      Type.Object(
        {
          disk: Type.String({ description: 'the disk (id) whose snapshot this disk is cloned from' }),
          snapshot: Type.String(),
          flattening: Type.Boolean({ description: 'a flatten started by this API server is running' }),
        },
        { description: 'present while this disk is a clone that still depends on its parent snapshot (RBD)' },
      ),
    ),
    mode: StringEnum(['instant', 'copy'] as const, {
      description: "'instant': copy-on-write (RBD, reflink), taken at any time; 'copy': a full copy of the image, taken only while the disk is stopped",
    }),
  },
  { description: 'Snapshots' },
);
export const SnapshotCreate = Type.Object(
  { name: Type.String({ description: '1-64 letters, digits, . _ -, starting with a letter or digit' }) },
  { additionalProperties: false },
);
export const CloneRequest = Type.Composite(
  [
    Type.Object({
      flatten: Type.Optional(
        Type.Boolean({ description: "true: copy the clone's data out of the snapshot in the background (RBD flatten), so the snapshot may be deleted" }),
      ),
      sizeGb: Type.Optional(Type.Unknown({ description: "ignored: a clone has the snapshot's size (grow it with edit)" })),
      qos: addDiskFields.qos,
    }),
    Type.Partial(Type.Object(attachAddFields)),
  ],
  { additionalProperties: false, description: "The add-disk fields (name, paths, subnet, IPs, ACL, CHAP, placement, QoS limits); the size is the snapshot's." },
);
export const SnapshotParams = Type.Object({
  id: Type.String({ description: 'the disk id, five digits (00001)' }),
  snap: Type.String({ description: 'the snapshot name' }),
});

// ---- snapshot schedules --------------------------------------------------------------------------

export const SnapshotScheduleView = Type.Object({
  intervalMinutes: Type.Integer({ description: 'a snapshot every this many minutes (5 to 10080; 60: hourly)' }),
  keep: Type.Integer({ description: 'automatic snapshots kept (1 to 500); older ones are deleted, never manual ones' }),
  enabled: Type.Boolean({ description: 'false: paused (nothing taken or deleted)' }),
  createdBy: Type.String({ description: 'who set it last' }),
  updatedAt: Type.String({ description: 'ISO 8601' }),
});
export const ScheduleRunView = Type.Object({
  at: Type.String({ description: 'when it ran, ISO 8601' }),
  ok: Type.Boolean(),
  snapshot: Type.Optional(Type.String({ description: 'the automatic snapshot taken (or attempted): auto-YYYYMMDD-HHMMSS, UTC' })),
  code: Type.Optional(Type.String({ description: "a failure's code" })),
  message: Type.Optional(Type.String({ description: "a failure's message" })),
  pruned: Type.Array(Type.String(), { description: 'automatic snapshots deleted by retention in this run' }),
});
export const SnapshotScheduleState = Type.Object(
  {
    schedule: Nullable(SnapshotScheduleView, { description: 'null: the disk has no schedule' }),
    nextRunAt: Nullable(Type.String(), { description: 'when the next snapshot is due (in the past: at the next look, every 30 s); null: none or paused' }),
    lastRun: Nullable(ScheduleRunView, { description: "the scheduler's last run for the disk; null: none yet" }),
    runBy: Nullable(Type.String(), { description: 'the API server running the schedules now (the holder of the scheduler lease); null: none right now' }),
  },
  { description: "The disk's snapshot schedule" },
);
export const SnapshotScheduleSet = Type.Object(
  {
    intervalMinutes: Type.Optional(NumberOrDigits('minutes between snapshots, 5 to 10080; required for a new schedule')),
    keep: Type.Optional(NumberOrDigits('automatic snapshots to keep, 1 to 500 (a new schedule: 24 unless given)')),
    enabled: Type.Optional(Type.Unknown({ description: 'true or false (pause); a new schedule: true' })),
  },
  { additionalProperties: false, description: 'Absent fields keep their current values' },
);
export const SnapshotScheduleChanged = Type.Object({ schedule: SnapshotScheduleView }, { description: 'Set' });

export const ClusterUsage = Type.Object({ usedBytes: Type.Integer(), totalBytes: Type.Integer() });

export const SubnetView = Type.Object({
  cidr: Type.String(),
  network: Type.String(),
  prefix: Type.Integer(),
  mask: Type.String(),
  autoIpFrom: Type.String(),
  autoIpTo: Type.String(),
  eth: Type.String(),
});

export const BackendView = Type.Object({
  images: Type.Object({
    kind: Type.Union([Type.Literal('file'), Type.Literal('rbd')], { description: 'file: sparse files on this server; rbd: Ceph RBD' }),
    pool: Type.Optional(Type.String({ description: 'the Ceph pool the images live in (rbd only)' })),
  }),
  coord: Type.Object({
    kind: Type.Union([Type.Literal('embedded'), Type.Literal('etcd')], { description: 'embedded: one box; etcd: a cluster' }),
    endpoints: Type.Optional(Type.Array(Type.String(), { description: "etcd's client URLs (etcd only)" })),
  }),
});

export const ClusterConfigView = Type.Object({
  iqnBase: Type.String(),
  pool: Type.String(),
  subnet1: SubnetView,
  subnet2: SubnetView,
  qosSupported: Type.Boolean({ description: 'whether the storage backend enforces QoS limits (Ceph RBD: yes; file images: no, limits are refused)' }),
  version: Type.Optional(Type.Integer({ description: 'the version of the cluster settings in the coordination store' })),
  leaseTtlSeconds: Type.Optional(Type.Integer()),
  changedAt: Type.Optional(Type.String()),
  changedBy: Type.Optional(Type.String()),
  backend: Type.Optional(BackendView),
});

const ClusterSubnetFields = {
  cidr: Type.String({ description: 'the network, a.b.c.d/nn' }),
  autoIpFrom: Type.String({ description: 'first automatic IP' }),
  autoIpTo: Type.String({ description: 'last automatic IP' }),
};
export const ClusterSubnet = Type.Object(ClusterSubnetFields, { additionalProperties: false });
export const ClusterSettingsBody = Type.Object({
  iqnBase: Type.String(),
  pool: Type.String(),
  subnet1: ClusterSubnet,
  subnet2: ClusterSubnet,
  leaseTtlSeconds: Type.Integer({ description: "the agents' lease: a node that stops renewing loses its paths after this long" }),
});
export const ClusterSettingsView = Type.Object({
  version: Type.Integer({ description: '1 at `portway cluster init` (or the first start), +1 per change' }),
  settings: ClusterSettingsBody,
  changedAt: Type.String(),
  changedBy: Type.String(),
});
export const SettingsChangeRow = Type.Object({
  field: Type.String(),
  from: Type.Union([Type.String(), Type.Number()]),
  to: Type.Union([Type.String(), Type.Number()]),
});
export const ClusterSettingsChanged = Type.Object({ ...ClusterSettingsView.properties, changes: Type.Array(SettingsChangeRow) });
export const ClusterSettingsPatch = Type.Object(
  {
    version: Type.Optional(Type.Integer({ description: 'the version the change is based on: refused (settings_version_conflict) if the settings moved on' })),
    iqnBase: Type.Optional(Type.String()),
    pool: Type.Optional(Type.String()),
    subnet1: Type.Optional(Type.Partial(ClusterSubnet)),
    subnet2: Type.Optional(Type.Partial(ClusterSubnet)),
    leaseTtlSeconds: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false, description: "Fields left out are kept. The interface of a subnet is set in each node's own file." },
);

// ---- paths and nodes -----------------------------------------------------------------------------

export const NodeView = Type.Object({
  name: Type.String(),
  up: Type.Boolean({ description: "the node's agent holds its lease" }),
  drained: Type.Boolean(),
  paths: Type.Array(Type.String(), { description: 'the paths it holds, "<disk id>/<n>", sorted' }),
  pathCount: Type.Integer(),
  settingsVersion: Type.Optional(Type.Integer({ description: "the version of the cluster settings the node's agent works with" })),
});

export const PathRow = Type.Object({
  diskId: Type.String(),
  diskName: Type.String(),
  diskStatus: DiskStatus,
  placement: Placement,
  index: Type.Integer({ description: 'path number, 1-8' }),
  ip: Type.String(),
  node: Nullable(Type.String(), { description: 'the node serving it, or null' }),
  state: StringEnum(PATH_STATES),
});

export const PathMove = Type.Object({ id: Type.String(), index: Type.Integer(), from: Type.String(), to: Type.String() });

export const MovedPath = Type.Object({
  id: Type.String(),
  index: Type.Integer(),
  from: Nullable(Type.String()),
  to: Type.String(),
  moved: Type.Boolean({ description: 'false when the path already was on the node' }),
  ms: Type.Number(),
});

export const MoveRequest = Type.Object({ node: Type.String({ description: 'the node to take the path' }) }, { additionalProperties: false });
export const MoveReply = Type.Object({ move: MovedPath, moves: Type.Array(MovedPath, { description: 'every path moved (all of a shared disk)' }) });
export const RebalanceReply = Type.Object({
  moves: Type.Array(MovedPath),
  failed: Type.Array(Type.Composite([PathMove, Type.Object({ code: Type.String(), message: Type.String() })])),
});

// ---- users, roles, logins, tokens, audit ---------------------------------------------------------

export const Permission = StringEnum(PERMISSIONS);

export const Me = Type.Object({
  user: Type.Object({ name: Type.String(), role: Type.String(), permissions: Type.Array(Permission) }),
  via: StringEnum(VIAS),
  csrfToken: Type.Optional(Type.String({ description: 'send as x-csrf-token on every non-GET request made with the session cookie' })),
  sessionIdleSeconds: Type.Integer(),
});

export const UserView = Type.Object({ name: Type.String(), role: Type.String(), createdAt: Type.String(), updatedAt: Type.String() });
export const RoleView = Type.Object({ name: Type.String(), permissions: Type.Array(Permission), builtin: Type.Boolean() });
export const TokenView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  user: Type.String(),
  createdAt: Type.String(),
  lastUsedAt: Nullable(Type.String()),
});
export const TokenCreated = Type.Composite([
  Type.Object({ token: Type.String({ description: 'pwt_...: shown this once only' }) }),
  TokenView,
  Type.Object({ note: Type.String() }),
]);

export const AuditEntry = Type.Object({
  id: Type.String(),
  time: Type.String(),
  actor: Type.String(),
  via: StringEnum(VIAS),
  action: Type.String(),
  target: Type.String(),
  outcome: StringEnum(AUDIT_OUTCOMES),
  ip: Type.Optional(Type.String()),
  details: Type.Record(Type.String(), Type.Unknown()),
});
export const AuditPage = Type.Object({
  entries: Type.Array(AuditEntry),
  next: Nullable(Type.String(), { description: 'the `before` of the next page; null on the last' }),
});

export const LoginRequest = Type.Object({ username: Type.String(), password: Type.String() }, { additionalProperties: false });
export const PasswordChange = Type.Object({ currentPassword: Type.String(), newPassword: Type.String() }, { additionalProperties: false });
export const TokenRequest = Type.Object({ name: Type.String({ description: '1-64 printable ASCII characters' }) }, { additionalProperties: false });
export const UserCreate = Type.Object(
  {
    name: Type.String({ description: '2-32 characters: lower-case letters, digits, . _ -, starting with a letter' }),
    password: Type.String({ description: 'at least 10 characters' }),
    role: Type.String(),
  },
  { additionalProperties: false },
);
export const UserUpdate = Type.Object(
  { role: Type.Optional(Type.String()), password: Type.Optional(Type.String({ description: "a new password logs the user's sessions out" })) },
  { additionalProperties: false },
);
export const RoleCreate = Type.Object(
  { name: Type.String(), permissions: Type.Array(Type.String(), { description: `any of ${PERMISSIONS.join(', ')}` }) },
  { additionalProperties: false },
);
export const RoleUpdate = Type.Object(
  {
    permissions: Type.Array(Type.String(), {
      description: `the role's whole new list: any of ${PERMISSIONS.join(', ')} (ViewOnly is always held)`,
    }),
  },
  { additionalProperties: false },
);

// ---- parameters ----------------------------------------------------------------------------------

export const ForceQuery = Type.Object({
  force: Type.Optional(Type.Boolean({ description: 'true: go ahead even with hosts connected (they lose the disk)' })),
});
export const ForceBody = Type.Union([Type.Null(), ForceQuery], {
  description: '{force: true}: go ahead even with hosts connected; the query ?force=true does the same',
});
export const DiskIdParams = Type.Object({ id: Type.String({ description: 'the disk id, five digits (00001)' }) });
export const PathParams = Type.Object({ id: DiskIdParams.properties.id, n: Type.String({ description: 'the path number, 1-8' }) });
export const NameParams = Type.Object({ name: Type.String() });
export const TokenIdParams = Type.Object({ id: Type.String({ description: 'the token id (16 hex digits)' }) });
export const AuditQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  before: Type.Optional(Type.String({ description: 'the `next` of the previous page' })),
  q: Type.Optional(Type.String({ description: "only entries containing this (any field, details too: a disk's name or id), case-insensitive" })),
});
export const AuditExportQuery = Type.Object({
  format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('json')], { default: 'csv' })),
  q: Type.Optional(Type.String({ description: 'as for the list: only entries containing this' })),
});
export const TokensQuery = Type.Object({ all: Type.Optional(Type.String({ description: "'true' or '1': everyone's tokens (needs ManageUsers)" })) });
export const DrainQuery = Type.Object({ wait: Type.Optional(Type.String({ description: "'false': return at once instead of when the node is empty" })) });

/** Schemas replies refer to by $ref (added to the app once; components of the document). */
export const SHARED_SCHEMAS: readonly TSchema[] = [ErrorBody, DiskView, PathView, SnapshotView];

// ---- cluster events and health ----------------------------------------------------------------------

const EventKind = StringEnum(EVENT_KINDS);
const Severity = StringEnum(['critical', 'warning', 'info'] as const);
export const ClusterEventView = Type.Object(
  {
    id: Type.String({ description: 'sortable: time, then a sequence number' }),
    at: Type.String({ format: 'date-time' }),
    kind: EventKind,
    severity: Severity,
    subject: Type.String({ description: 'node:<name>, disk:<id>, path:<id>/<n>, ceph:cluster or etcd:<endpoint>' }),
    message: Type.String(),
    clears: Type.Optional(EventKind),
  },
  { description: 'A cluster event (also the body of the webhook POST: {event})' },
);
export const ProblemView = Type.Object({
  kind: StringEnum(PROBLEM_KINDS),
  severity: Severity,
  subject: Type.String(),
  message: Type.String(),
});
export const HealthView = Type.Object(
  {
    status: StringEnum(['ok', 'warning', 'critical'] as const),
    problems: Type.Array(ProblemView),
    nodesUp: Type.Integer(),
    nodesKnown: Type.Integer(),
  },
  { description: 'What is wrong now' },
);
export const AlertsQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) });
export const WebhookView = Type.Object({ url: Nullable(Type.String(), { description: 'where every event is POSTed as JSON {event}; null: none' }) });

// ---- I/O rates -------------------------------------------------------------------------------------

const IoPoint = Type.Array(Type.Number(), {
  minItems: 5,
  maxItems: 5,
  description: '[ms since the epoch, read bytes/s, write bytes/s, read IOPS, write IOPS]',
});
export const IoSeries = Type.Object({ node: Type.String(), points: Type.Array(IoPoint) });
export const IoReply = Type.Object(
  { series: Type.Array(IoSeries), sampleSeconds: Type.Number({ description: 'how often the nodes sample their targets' }) },
  { description: "Rates over the last hour, from tgtd's own counters (per node)" },
);
export const IoQuery = Type.Object({ since: Type.Optional(Type.Number({ description: 'only points after this time (ms since the epoch)' })) });
