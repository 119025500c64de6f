/**
 * Every failure the API answers, with a stable code, a human message and, when the user's input is at
 * fault, the field: one type (Failure), one status table (HTTP_STATUS), one sender (src/api/reply.ts).
 * docs/PRODUCT.md lists when each add-disk outcome happens.
 */

/** The HTTP status of each code: the user's input (400), not found (404), a conflict with existing state (409), ours (5xx). */
export const HTTP_STATUS = {
  // the add-disk form's fields (docs/PRODUCT.md, "Outcomes of an add")
  data_missing: 400,
  invalid_name: 400,
  invalid_size: 400,
  invalid_path_count: 400,
  invalid_subnet: 400,
  invalid_ip_mode: 400,
  invalid_placement: 400,
  invalid_ip: 400,
  wrong_subnet: 400,
  wrong_data: 400,
  invalid_iqn: 400,
  chap_missing: 400,
  invalid_chap: 400,
  /** a QoS limit out of range or unknown */
  invalid_qos: 400,
  /** QoS limits on a backend that cannot enforce them (file images) */
  qos_unsupported: 400,
  ip_used_already: 409,
  ip_out_of_range: 409,
  // disks
  disk_name_exists: 409,
  disk_exists: 409,
  no_disk_id: 409,
  disk_not_found: 404,
  disk_not_stopped: 409,
  /** Stop, detach or delete of a disk with initiators logged in, without force (details.hosts lists them). */
  hosts_connected: 409,
  disk_busy: 409,
  image_not_found: 404,
  meta_unreadable: 503,
  disk_list_unreadable: 503,
  storage_error: 503,
  // snapshots and clones
  invalid_snapshot_name: 400,
  snapshot_not_found: 404,
  snapshot_exists: 409,
  /** a snapshot (or a disk with such a snapshot) that disks are cloned from: flatten them first */
  snapshot_has_clones: 409,
  /** a full-copy snapshot (file images without reflink) of a disk that is not stopped */
  snapshot_needs_stop: 409,
  /** a manual snapshot name starting with `auto-` (reserved for snapshot schedules) */
  snapshot_name_reserved: 400,
  /** a snapshot schedule's interval, keep or enabled out of range (details.field names it) */
  invalid_snapshot_schedule: 400,
  /** the disk has no snapshot schedule */
  snapshot_schedule_not_found: 404,
  // paths and nodes
  path_not_found: 404,
  node_not_found: 404,
  node_drained: 409,
  disk_not_started: 409,
  move_in_progress: 409,
  /** a move of paths to the node that already serves them: nothing to do */
  path_on_node_already: 409,
  move_timeout: 504,
  drain_timeout: 504,
  // users, roles, logins, tokens
  invalid_username: 400,
  invalid_password: 400,
  invalid_role: 400,
  invalid_permissions: 400,
  invalid_token_name: 400,
  invalid_credentials: 401,
  /** Changing one's own password: the current password is wrong (403, not 401: the login itself stands). */
  wrong_password: 403,
  user_exists: 409,
  user_not_found: 404,
  role_exists: 409,
  role_not_found: 404,
  role_builtin: 409,
  role_in_use: 409,
  last_admin: 409,
  /** Deleting your own account (another user who can manage users must do it). */
  self_delete: 409,
  token_not_found: 404,
  /** Login: too many failed logins for the username or the client address (Retry-After: seconds). */
  too_many_login_failures: 429,
  /** The record changed under a read-modify-write more often than it was retried. */
  conflict: 409,
  // cluster settings (one copy in the coordination store) and node membership
  /** a field of the cluster settings is not valid (details.field names it) */
  invalid_settings: 400,
  /** a subnet change would leave a disk's path IP outside its subnet (details.paths lists them) */
  settings_strand_ip: 409,
  /** the pool changes while disks exist in the old one */
  settings_pool_in_use: 409,
  /** the settings changed since the version the change was based on (details.version: the current one) */
  settings_version_conflict: 409,
  /** the coordination store holds no cluster settings: `portway cluster init` on the first node */
  cluster_not_initialised: 409,
  // the request itself, and access control
  invalid_request: 400,
  not_found: 404,
  payload_too_large: 413,
  unsupported_media_type: 415,
  headers_too_large: 431,
  unauthenticated: 401,
  forbidden: 403,
  csrf_failed: 403,
  // the server
  coordination_error: 503,
  server_closing: 503,
  error: 500,
} as const satisfies Record<string, number>;

export type FailureCode = keyof typeof HTTP_STATUS;

/** The request field at fault, as the add-disk form names it. */
export type Field =
  | 'name'
  | 'sizeGb'
  | 'activePaths'
  | 'subnet'
  | 'ipMode'
  | 'placement'
  | 'path1'
  | 'path2'
  | 'acl.iqn'
  | 'chap.user'
  | 'chap.password'
  | 'chap.targetUser'
  | 'chap.targetPassword'
  | 'qos'
  | `qos.${string}`;

/**
 * A failure: on the wire `{code, message, details}`, with `details.field` the request field at fault
 * (`field`) and any other `details` beside it (the permission missing, the users holding a role...).
 */
export interface Failure<C extends FailureCode = FailureCode> {
  ok: false;
  code: C;
  message: string;
  /** The request field at fault (add-disk form names: Field; other forms: their body's field names). */
  field?: string;
  details?: Record<string, unknown>;
}

export function fail<C extends FailureCode>(code: C, message: string, field?: string, details?: Record<string, unknown>): Failure<C> {
  return {
    ok: false,
    code,
    message,
    ...(field === undefined ? {} : { field }),
    ...(details === undefined ? {} : { details }),
  };
}

export function isFailureCode(v: unknown): v is FailureCode {
  return typeof v === 'string' && Object.hasOwn(HTTP_STATUS, v);
}

/** HTTP status of a failure code. */
export function httpStatusOf(code: FailureCode): number {
  return HTTP_STATUS[code];
}

/** The failure as the API sends it: `{code, message, details}` (details.field: the field at fault). */
export function failureBody(f: Pick<Failure, 'code' | 'message' | 'field' | 'details'>): {
  code: FailureCode;
  message: string;
  details: Record<string, unknown>;
} {
  return { code: f.code, message: f.message, details: { ...(f.details ?? {}), ...(f.field === undefined ? {} : { field: f.field }) } };
}
