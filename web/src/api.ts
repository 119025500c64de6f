/**
 * Typed client for the Portway HTTP API (src/api/routes/*.ts, OpenAPI at /api/docs; the request and
 * reply types are src/api/wire.ts).
 * Every call resolves to an ApiResult: either the reply body, or the server's error body
 * `{ code, message, details }` (synthesised for network failures and non-JSON replies).
 * Nothing here throws for HTTP or network failures.
 *
 * Logins: the session cookie is HttpOnly and sent by the browser; every non-GET request carries
 * the CSRF token from login / GET /auth/me in `x-csrf-token`. A 401 on any call but login and
 * /auth/me tells the listeners (the session) that the login is gone; a 403 `forbidden` tells them
 * the permissions may have changed.
 */
import type {
  AddDiskRequest,
  AttachRequest,
  AuditEntry,
  AuditPage,
  ClusterConfigView,
  ClusterSettingsChanged,
  ClusterSettingsPatch,
  ClusterUsage,
  CloneRequest,
  ConnectedHost,
  DiskView,
  EditDiskRequest,
  ErrorBody,
  FreeImage,
  IpPreview,
  Me,
  MovedPath,
  NodeView,
  PathMove,
  PathRow,
  PathView,
  RebalanceResult,
  RoleCreate,
  RoleUpdate,
  RoleView,
  SnapshotList,
  SnapshotScheduleSet,
  SnapshotScheduleState,
  SnapshotScheduleView,
  SnapshotView,
  SubnetView,
  TokenCreated,
  TokenView,
  UserCreate,
  UserUpdate,
  UserView,
} from '../../src/api/wire';
import { type AuditOutcome, PERMISSIONS, type Permission } from '../../src/domain/auth';
import type { DiskStatus, PathState, Placement, SubnetChoice } from '../../src/domain/disk';

// The wire types are the server's (src/api/wire.ts, derived from the route schemas): one definition.
export type {
  AddDiskRequest,
  AttachRequest,
  AuditEntry,
  AuditOutcome,
  ClusterConfigView,
  ClusterUsage,
  ConnectedHost,
  DiskStatus,
  DiskView,
  EditDiskRequest,
  FreeImage,
  Me,
  MovedPath,
  NodeView,
  PathMove,
  PathRow,
  PathState,
  PathView,
  Permission,
  Placement,
  RebalanceResult,
  RoleView,
  SnapshotList,
  SnapshotScheduleState,
  SnapshotScheduleView,
  SnapshotView,
  SubnetChoice,
  SubnetView,
  TokenCreated,
  TokenView,
  UserView,
};
export { PERMISSIONS };

/** The server's error body (src/api/wire.ts ErrorBody), or one made here for a network failure. */
export interface ApiErrorBody extends ErrorBody {
  details: ErrorBody['details'] & { field?: string };
  /** HTTP status; 0 when the server could not be reached. */
  status: number;
}

export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: ApiErrorBody };

export const API_BASE = '/api/v1';
export const EVENTS_URL = `${API_BASE}/events`;
export const CSRF_HEADER = 'x-csrf-token';

// ---- session plumbing ----------------------------------------------------------------------------

let csrfToken: string | undefined;

/** The CSRF token sent on every non-GET request (from login or GET /auth/me). */
export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

export type AuthEventKind = 'unauthenticated' | 'forbidden' | 'csrf_failed';
type AuthListener = (event: { kind: AuthEventKind; error: ApiErrorBody }) => void;
const authListeners = new Set<AuthListener>();

/** Hears 401s (the login is gone), 403 `forbidden`s (permissions may have changed) and `csrf_failed` (a stale token). */
export function onAuthEvent(listener: AuthListener): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

// ---- requests ------------------------------------------------------------------------------------

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Turns whatever an error reply holds into `{code,message,details}`; never exposes raw bodies. */
function toErrorBody(status: number, statusText: string, body: unknown): ApiErrorBody {
  if (isRecord(body) && typeof body.code === 'string') {
    const details = isRecord(body.details) ? body.details : {};
    const message = typeof body.message === 'string' && body.message.trim() !== '' ? body.message : `The server refused the request (${body.code}).`;
    return { code: body.code, message, details, status };
  }
  const reason = statusText ? `${status} ${statusText}` : String(status);
  return {
    code: `http_${status}`,
    message:
      status === 401 || status === 403
        ? 'You are not allowed to do this. Sign in with a user that has the permission.'
        : status === 404
          ? `The server does not offer this (${reason}).`
          : `The server replied with an unexpected error (${reason}).`,
    details: {},
    status,
  };
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface RequestOptions {
  /** false: a 401 is an answer, not a lost login (login, /auth/me). */
  authEvents?: boolean;
}

async function request<T>(method: Method, path: string, body?: unknown, opts: RequestOptions = {}): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== undefined) headers[CSRF_HEADER] = csrfToken;
  let res: Response;
  try {
    res = await fetch(`${API_BASE}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    return {
      ok: false,
      error: {
        code: 'network_error',
        message: 'Cannot reach the Portway server. Check the connection and try again.',
        details: {},
        status: 0,
      },
    };
  }
  if (res.status === 204) return { ok: true, value: undefined as T };
  let parsed: unknown;
  try {
    parsed = await res.json();
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const error = toErrorBody(res.status, res.statusText, parsed);
    if (opts.authEvents !== false) {
      const kind: AuthEventKind | undefined =
        res.status === 401 ? 'unauthenticated' : res.status === 403 && (error.code === 'forbidden' || error.code === 'csrf_failed') ? error.code : undefined;
      if (kind) for (const l of [...authListeners]) l({ kind, error });
    }
    return { ok: false, error };
  }
  if (parsed === undefined) {
    return {
      ok: false,
      error: { code: 'bad_reply', message: 'The server sent a reply that could not be read.', details: {}, status: res.status },
    };
  }
  return { ok: true, value: parsed as T };
}

function pick<T, K extends keyof T>(r: ApiResult<T>, key: K): ApiResult<T[K]> {
  return r.ok ? { ok: true, value: r.value[key] } : r;
}

const enc = encodeURIComponent;

// ---- auth ----------------------------------------------------------------------------------------

export function login(username: string, password: string): Promise<ApiResult<Me>> {
  return request<Me>('POST', '/auth/login', { username, password }, { authEvents: false });
}

export function getMe(): Promise<ApiResult<Me>> {
  return request<Me>('GET', '/auth/me', undefined, { authEvents: false });
}

export function logout(): Promise<ApiResult<void>> {
  return request<void>('POST', '/auth/logout', undefined, { authEvents: false });
}

export function changeOwnPassword(currentPassword: string, newPassword: string): Promise<ApiResult<void>> {
  return request<void>('POST', '/auth/password', { currentPassword, newPassword });
}

// ---- config --------------------------------------------------------------------------------------

export function getConfig(): Promise<ApiResult<ClusterConfigView>> {
  return request<ClusterConfigView>('GET', '/config');
}

/** Not offered by the server yet: resolves to an error (404) until it is. */
/** Changes the cluster settings (ManageConfig); version: refused if they moved on since. */
export function updateClusterSettings(patch: ClusterSettingsPatch): Promise<ApiResult<ClusterSettingsChanged>> {
  return request('PUT', '/settings/cluster', patch);
}

export function getClusterUsage(): Promise<ApiResult<ClusterUsage>> {
  return request<ClusterUsage>('GET', '/cluster/usage');
}

// ---- disks ---------------------------------------------------------------------------------------

export async function listDisks(): Promise<ApiResult<DiskView[]>> {
  const r = await request<{ disks: DiskView[] }>('GET', '/disks');
  return r.ok ? { ok: true, value: r.value.disks ?? [] } : r;
}

export async function getDiskPaths(id: string): Promise<ApiResult<PathView[]>> {
  const r = await request<{ paths: PathView[] }>('GET', `/disks/${enc(id)}/paths`);
  return r.ok ? { ok: true, value: r.value.paths ?? [] } : r;
}

export async function addDisk(req: AddDiskRequest): Promise<ApiResult<DiskView>> {
  return pick(await request<{ disk: DiskView }>('POST', '/disks', req), 'disk');
}

export async function editDisk(id: string, req: EditDiskRequest): Promise<ApiResult<DiskView>> {
  return pick(await request<{ disk: DiskView }>('PATCH', `/disks/${enc(id)}`, req), 'disk');
}

/** One disk, with the hosts connected to it now (the list has no hosts). */
export async function getDisk(id: string): Promise<ApiResult<DiskView>> {
  return pick(await request<{ disk: DiskView }>('GET', `/disks/${enc(id)}`), 'disk');
}

/** force: stop even with hosts connected (refused with hosts_connected otherwise). */
export async function stopDisk(id: string, force = false): Promise<ApiResult<DiskView>> {
  return pick(await request<{ disk: DiskView }>('POST', `/disks/${enc(id)}/stop`, force ? { force: true } : undefined), 'disk');
}

export async function startDisk(id: string): Promise<ApiResult<DiskView>> {
  return pick(await request<{ disk: DiskView }>('POST', `/disks/${enc(id)}/start`), 'disk');
}

export async function detachDisk(id: string, force = false): Promise<ApiResult<string>> {
  return pick(await request<{ image: string }>('POST', `/disks/${enc(id)}/detach`, force ? { force: true } : undefined), 'image');
}

export async function deleteDisk(id: string, force = false): Promise<ApiResult<string>> {
  return pick(await request<{ id: string }>('DELETE', `/disks/${enc(id)}${force ? '?force=true' : ''}`), 'id');
}

export async function listImages(): Promise<ApiResult<FreeImage[]>> {
  return pick(await request<{ images: FreeImage[] }>('GET', '/images'), 'images');
}

export async function attachImage(req: AttachRequest): Promise<ApiResult<DiskView>> {
  return pick(await request<{ disk: DiskView }>('POST', '/images/attach', req), 'disk');
}

// ---- snapshots -----------------------------------------------------------------------------------

export async function listSnapshots(id: string): Promise<ApiResult<SnapshotList>> {
  return request<SnapshotList>('GET', `/disks/${enc(id)}/snapshots`);
}

export async function createSnapshot(id: string, name: string): Promise<ApiResult<SnapshotView>> {
  return pick(await request<{ snapshot: SnapshotView }>('POST', `/disks/${enc(id)}/snapshots`, { name }), 'snapshot');
}

export async function deleteSnapshot(id: string, name: string): Promise<ApiResult<string>> {
  return pick(await request<{ name: string }>('DELETE', `/disks/${enc(id)}/snapshots/${enc(name)}`), 'name');
}

export async function rollbackSnapshot(id: string, name: string): Promise<ApiResult<string>> {
  return pick(await request<{ name: string }>('POST', `/disks/${enc(id)}/snapshots/${enc(name)}/rollback`), 'name');
}

export async function cloneSnapshot(id: string, name: string, req: CloneRequest): Promise<ApiResult<DiskView>> {
  return pick(await request<{ disk: DiskView }>('POST', `/disks/${enc(id)}/snapshots/${enc(name)}/clone`, req), 'disk');
}

export async function getSnapshotSchedule(id: string): Promise<ApiResult<SnapshotScheduleState>> {
  return request<SnapshotScheduleState>('GET', `/disks/${enc(id)}/snapshot-schedule`);
}

export async function setSnapshotSchedule(id: string, req: SnapshotScheduleSet): Promise<ApiResult<SnapshotScheduleView>> {
  return pick(await request<{ schedule: SnapshotScheduleView }>('PUT', `/disks/${enc(id)}/snapshot-schedule`, req), 'schedule');
}

export async function deleteSnapshotSchedule(id: string): Promise<ApiResult<SnapshotScheduleView>> {
  return pick(await request<{ schedule: SnapshotScheduleView }>('DELETE', `/disks/${enc(id)}/snapshot-schedule`), 'schedule');
}

export async function flattenDisk(id: string): Promise<ApiResult<boolean>> {
  return pick(await request<{ flattening: boolean }>('POST', `/disks/${enc(id)}/flatten`), 'flattening');
}

// ---- paths and nodes -----------------------------------------------------------------------------

export async function listNodes(): Promise<ApiResult<NodeView[]>> {
  return pick(await request<{ nodes: NodeView[] }>('GET', '/nodes'), 'nodes');
}

/** Drains without waiting for the node to be empty (the nodes page shows it emptying). */
export async function drainNode(name: string): Promise<ApiResult<NodeView>> {
  return pick(await request<{ node: NodeView }>('POST', `/nodes/${enc(name)}/drain?wait=false`), 'node');
}

export async function undrainNode(name: string): Promise<ApiResult<NodeView>> {
  return pick(await request<{ node: NodeView }>('POST', `/nodes/${enc(name)}/undrain`), 'node');
}

/** Moves path n of a disk to a node; resolves once that node serves it. */
export async function movePath(id: string, index: number, node: string): Promise<ApiResult<MovedPath>> {
  return pick(await request<{ move: MovedPath }>('POST', `/disks/${enc(id)}/paths/${index}/move`, { node }), 'move');
}

/** The IPs automatic allocation would give a new disk now. */
export async function previewIps(activePaths: number, subnet: number): Promise<ApiResult<IpPreview['ips']>> {
  const q = new URLSearchParams({ activePaths: String(activePaths), subnet: String(subnet) });
  return pick(await request<IpPreview>('GET', `/disks/ip-preview?${q}`), 'ips');
}

/** Every path of every disk: IP, disk, path number, node, state. */
export async function listPaths(): Promise<ApiResult<PathRow[]>> {
  return pick(await request<{ paths: PathRow[] }>('GET', '/paths'), 'paths');
}

export async function planRebalance(): Promise<ApiResult<PathMove[]>> {
  return pick(await request<{ moves: PathMove[] }>('GET', '/paths/plan'), 'moves');
}

export function rebalance(): Promise<ApiResult<RebalanceResult>> {
  return request<RebalanceResult>('POST', '/paths/rebalance');
}

// ---- users, roles, audit -------------------------------------------------------------------------

export async function listUsers(): Promise<ApiResult<UserView[]>> {
  return pick(await request<{ users: UserView[] }>('GET', '/users'), 'users');
}

export async function createUser(req: UserCreate): Promise<ApiResult<UserView>> {
  return pick(await request<{ user: UserView }>('POST', '/users', req), 'user');
}

export async function updateUser(name: string, req: UserUpdate): Promise<ApiResult<UserView>> {
  return pick(await request<{ user: UserView }>('PATCH', `/users/${enc(name)}`, req), 'user');
}

export function deleteUser(name: string): Promise<ApiResult<void>> {
  return request<void>('DELETE', `/users/${enc(name)}`);
}

export async function listRoles(): Promise<ApiResult<RoleView[]>> {
  return pick(await request<{ roles: RoleView[] }>('GET', '/roles'), 'roles');
}

export async function createRole(req: RoleCreate & { permissions: Permission[] }): Promise<ApiResult<RoleView>> {
  return pick(await request<{ role: RoleView }>('POST', '/roles', req), 'role');
}

export function deleteRole(name: string): Promise<ApiResult<void>> {
  return request<void>('DELETE', `/roles/${enc(name)}`);
}

/** A custom role's whole new permission list (built-in roles: 409 role_builtin). */
export async function updateRole(name: string, req: RoleUpdate & { permissions: Permission[] }): Promise<ApiResult<RoleView>> {
  return pick(await request<{ role: RoleView }>('PUT', `/roles/${enc(name)}`, req), 'role');
}

// ---- API tokens ----------------------------------------------------------------------------------

/** Your tokens; `all`: everyone's (ManageUsers). Never a secret. */
export async function listTokens(all = false): Promise<ApiResult<TokenView[]>> {
  return pick(await request<{ tokens: TokenView[] }>('GET', all ? '/auth/tokens?all=true' : '/auth/tokens'), 'tokens');
}

/** A new token of yours: the reply holds its secret, this once only. */
export function createToken(name: string): Promise<ApiResult<TokenCreated>> {
  return request('POST', '/auth/tokens', { name });
}

export function revokeToken(id: string): Promise<ApiResult<void>> {
  return request<void>('DELETE', `/auth/tokens/${enc(id)}`);
}

/** A page of the audit log; `search` keeps the entries containing it (a disk's name or id, a user...). */
export function listAudit(limit: number, before?: string, search?: string): Promise<ApiResult<AuditPage>> {
  const q = new URLSearchParams({ limit: String(limit) });
  if (before) q.set('before', before);
  if (search) q.set('q', search);
  return request('GET', `/audit?${q}`);
}

/** The URL of the audit log as a download (the browser sends the session cookie with a plain GET). */
export function auditExportUrl(format: 'csv' | 'json', search?: string): string {
  const q = new URLSearchParams({ format });
  if (search) q.set('q', search);
  return `/api/v1/audit/export?${q}`;
}

// ---- events --------------------------------------------------------------------------------------

/** Parses the data of an SSE `disks` event; undefined when it is not `{disks: [...]}`. */
export function parseDisksEvent(data: string): DiskView[] | undefined {
  try {
    const v: unknown = JSON.parse(data);
    if (isRecord(v) && Array.isArray(v.disks)) return v.disks as DiskView[];
  } catch {
    // fall through
  }
  return undefined;
}

// ---- cluster events and health -----------------------------------------------------------------

export type { ClusterEventView, HealthView } from '../../src/api/wire';

export function getAlerts(
  limit = 100,
): Promise<ApiResult<{ events: import('../../src/api/wire').ClusterEventView[]; health: import('../../src/api/wire').HealthView }>> {
  return request('GET', `/alerts?limit=${limit}`);
}

export async function getWebhook(): Promise<ApiResult<string | null>> {
  return pick(await request<{ url: string | null }>('GET', '/alerts/webhook'), 'url');
}

export async function setWebhook(url: string | null): Promise<ApiResult<string | null>> {
  return pick(await request<{ url: string | null }>('PUT', '/alerts/webhook', { url }), 'url');
}

// ---- I/O rates -----------------------------------------------------------------------------------

export type { IoReply } from '../../src/api/wire';

/** One disk's rates per node serving it (the last hour, or only points after sinceMs). */
export function getDiskIo(id: string, sinceMs = 0): Promise<ApiResult<import('../../src/api/wire').IoReply>> {
  return request('GET', `/disks/${enc(id)}/io${sinceMs > 0 ? `?since=${Math.floor(sinceMs)}` : ''}`);
}

/** Each node's rates, its disks summed. */
export function getNodesIo(sinceMs = 0): Promise<ApiResult<import('../../src/api/wire').IoReply>> {
  return request('GET', `/io/nodes${sinceMs > 0 ? `?since=${Math.floor(sinceMs)}` : ''}`);
}
