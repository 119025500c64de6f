/**
 * Typed client for the Portway HTTP API (docs/API-CONTRACT.md).
 * Every call resolves to an ApiResult: either the reply body, or the server's error body
 * `{ code, message, details }` (synthesised for network failures and non-JSON replies).
 * Nothing here throws for HTTP or network failures.
 */
import type { DiskStatus, SubnetChoice } from '../../src/domain/disk';

export type { DiskStatus, SubnetChoice };

export interface SubnetView {
  network: string;
  prefix: number;
  mask: string;
  autoIpFrom: string;
  autoIpTo: string;
  eth: string;
}

export interface ClusterConfigView {
  iqnBase: string;
  pool: string;
  subnet1: SubnetView;
  subnet2: SubnetView;
}

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
}

export type PathState = 'unassigned' | 'configuring' | 'served';

export interface PathView {
  index: number;
  ip: string;
  subnetMask: string;
  eth: string;
  node: string | null;
  state: PathState;
}

export interface AddDiskRequest {
  name: string;
  sizeGb: number;
  activePaths: number;
  subnet: SubnetChoice;
  ipMode: 'auto' | 'manual';
  path1?: string;
  path2?: string;
  acl: { mode: 'all' } | { mode: 'iqn'; iqn: string };
  auth: { mode: 'none' } | { mode: 'chap'; user: string; password: string };
}

export interface ApiErrorBody {
  code: string;
  message: string;
  details: Record<string, unknown> & { field?: string };
  /** HTTP status; 0 when the server could not be reached. */
  status: number;
}

export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: ApiErrorBody };

export const API_BASE = '/api/v1';
export const EVENTS_URL = `${API_BASE}/events`;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Turns whatever an error reply holds into `{code,message,details}`; never exposes raw bodies. */
function toErrorBody(status: number, statusText: string, body: unknown): ApiErrorBody {
  if (isRecord(body) && typeof body.code === 'string') {
    const details = isRecord(body.details) ? body.details : {};
    const message =
      typeof body.message === 'string' && body.message.trim() !== ''
        ? body.message
        : `The server refused the request (${body.code}).`;
    return { code: body.code, message, details, status };
  }
  const reason = statusText ? `${status} ${statusText}` : String(status);
  return {
    code: `http_${status}`,
    message:
      status === 401 || status === 403
        ? 'You are not allowed to do this. Sign in with a user that has the permission.'
        : `The server replied with an unexpected error (${reason}).`,
    details: {},
    status,
  };
}

async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiResult<T>> {
  let res: Response;
  try {
    res = await fetch(`${API_BASE}${path}`, {
      method,
      headers:
        body === undefined
          ? { Accept: 'application/json' }
          : { Accept: 'application/json', 'Content-Type': 'application/json' },
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
  let parsed: unknown;
  try {
    parsed = await res.json();
  } catch {
    parsed = undefined;
  }
  if (!res.ok) return { ok: false, error: toErrorBody(res.status, res.statusText, parsed) };
  if (parsed === undefined) {
    return {
      ok: false,
      error: {
        code: 'bad_reply',
        message: 'The server sent a reply that could not be read.',
        details: {},
        status: res.status,
      },
    };
  }
  return { ok: true, value: parsed as T };
}

export async function getConfig(): Promise<ApiResult<ClusterConfigView>> {
  return request<ClusterConfigView>('GET', '/config');
}

export async function listDisks(): Promise<ApiResult<DiskView[]>> {
  const r = await request<{ disks: DiskView[] }>('GET', '/disks');
  return r.ok ? { ok: true, value: r.value.disks ?? [] } : r;
}

export async function getDiskPaths(id: string): Promise<ApiResult<PathView[]>> {
  const r = await request<{ paths: PathView[] }>('GET', `/disks/${encodeURIComponent(id)}/paths`);
  return r.ok ? { ok: true, value: r.value.paths ?? [] } : r;
}

export async function addDisk(req: AddDiskRequest): Promise<ApiResult<DiskView>> {
  const r = await request<{ disk: DiskView }>('POST', '/disks', req);
  return r.ok ? { ok: true, value: r.value.disk } : r;
}

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
