/**
 * Access control, pure: permissions, roles, input rules (usernames, passwords, role and token names),
 * the auth keys of the coordination store, token and audit key formats, session expiry. No I/O, no crypto.
 */
import { type Failure, fail } from './outcomes.js';

export const PERMISSIONS = [
  'AddDisk',
  'EditDisk',
  'DeleteDisk',
  'StartStopDisk',
  'AssignPaths',
  'ManageSnapshots',
  'ManageUsers',
  'ManageConfig',
  'ViewOnly',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

export function isPermission(v: unknown): v is Permission {
  return typeof v === 'string' && (PERMISSIONS as readonly string[]).includes(v);
}

export interface Role {
  name: string;
  permissions: Permission[];
  builtin: boolean;
}

export const BUILTIN_ROLES: readonly Role[] = [
  { name: 'admin', permissions: [...PERMISSIONS], builtin: true },
  { name: 'operator', permissions: PERMISSIONS.filter((p) => p !== 'ManageUsers' && p !== 'ManageConfig'), builtin: true },
  { name: 'viewer', permissions: ['ViewOnly'], builtin: true },
];

export function builtinRole(name: string): Role | undefined {
  return BUILTIN_ROLES.find((r) => r.name === name);
}

/**
 * What a role grants. Every role can view (ViewOnly is what any logged-in user holds), so it is always
 * included; the rest is exactly the role's list, in PERMISSIONS order.
 */
export function effectivePermissions(role: Pick<Role, 'permissions'>): Permission[] {
  const held = new Set<Permission>([...role.permissions, 'ViewOnly']);
  return PERMISSIONS.filter((p) => held.has(p));
}

/** A route's requirement: one permission, or any one of several. */
export type PermissionRequirement = Permission | readonly Permission[];

export function satisfies(held: readonly Permission[], need: PermissionRequirement): boolean {
  const any = typeof need === 'string' ? [need] : need;
  return any.some((p) => held.includes(p));
}

/** Who may read the audit log: anyone who can change something (admins, operators), not viewers. */
export const AUDIT_READ: readonly Permission[] = PERMISSIONS.filter((p) => p !== 'ViewOnly');

// ---- input rules -------------------------------------------------------------------------------

export type AuthFailureCode = 'invalid_username' | 'invalid_password' | 'invalid_role' | 'invalid_permissions' | 'invalid_token_name' | 'invalid_request';

/** A fault in a user, role or token form: always names its field. */
export type AuthFailure = Failure<AuthFailureCode> & { field: string };

export type Check<T> = { ok: true; value: T } | AuthFailure;

const bad = (code: AuthFailureCode, field: string, message: string): AuthFailure => ({ ok: false, code, message, field });

export const NAME_RE = /^[a-z][a-z0-9._-]{1,31}$/;
export const PASSWORD_MIN = 10;
/** Long enough for any passphrase; bounded so hashing cost stays bounded. */
export const PASSWORD_MAX = 256;

export function checkUsername(v: unknown, field = 'name'): Check<string> {
  if (typeof v !== 'string' || v === '') return bad('invalid_username', field, 'A username is required.');
  if (!NAME_RE.test(v)) return bad('invalid_username', field, 'A username is 2-32 characters: lower-case letters, digits, . _ -, starting with a letter.');
  return { ok: true, value: v };
}

export function checkPassword(v: unknown, username?: string, field = 'password'): Check<string> {
  if (typeof v !== 'string' || v === '') return bad('invalid_password', field, 'A password is required.');
  const len = [...v].length;
  if (len < PASSWORD_MIN) return bad('invalid_password', field, `The password must be at least ${PASSWORD_MIN} characters long.`);
  if (len > PASSWORD_MAX) return bad('invalid_password', field, `The password must be at most ${PASSWORD_MAX} characters long.`);
  if (username !== undefined && username.length >= 4 && v.toLowerCase().includes(username.toLowerCase()))
    return bad('invalid_password', field, 'The password must not contain the username.');
  if (new Set(v).size < 4) return bad('invalid_password', field, 'The password must use at least 4 different characters.');
  return { ok: true, value: v };
}

export function checkRoleName(v: unknown, field = 'role'): Check<string> {
  if (typeof v !== 'string' || v === '') return bad('invalid_role', field, 'A role name is required.');
  if (!NAME_RE.test(v)) return bad('invalid_role', field, 'A role name is 2-32 characters: lower-case letters, digits, . _ -, starting with a letter.');
  return { ok: true, value: v };
}

export function checkPermissions(v: unknown, field = 'permissions'): Check<Permission[]> {
  if (!Array.isArray(v) || v.length === 0) return bad('invalid_permissions', field, 'permissions must be a non-empty list.');
  const unknown = v.filter((p) => !isPermission(p));
  if (unknown.length > 0)
    return bad('invalid_permissions', field, `Unknown permission(s) ${unknown.map((p) => JSON.stringify(p)).join(', ')}; known: ${PERMISSIONS.join(', ')}.`);
  return { ok: true, value: PERMISSIONS.filter((p) => v.includes(p)) };
}

export function checkTokenName(v: unknown, field = 'name'): Check<string> {
  if (typeof v !== 'string' || v.trim() === '') return bad('invalid_token_name', field, 'A token name is required.');
  if (v.length > 64 || !/^[\x20-\x7e]+$/.test(v)) return bad('invalid_token_name', field, 'A token name is 1-64 printable ASCII characters.');
  return { ok: true, value: v.trim() };
}

// ---- store keys --------------------------------------------------------------------------------

export const AUTH = '/portway/auth/';
export const USERS = `${AUTH}users/`;
export const ROLES = `${AUTH}roles/`;
export const SESSIONS = `${AUTH}sessions/`;
export const TOKENS = `${AUTH}tokens/`;
/** Present once the first admin was made: its generated password is never shown again. */
export const SETUP_KEY = `${AUTH}setup`;
export const AUDIT = '/portway/audit/';

export const userKey = (name: string): string => `${USERS}${name}`;
export const roleKey = (name: string): string => `${ROLES}${name}`;
/** Sessions are stored by the hash of their id: reading the store does not give a usable cookie. */
export const sessionKey = (idHash: string): string => `${SESSIONS}${idHash}`;
export const tokenKey = (id: string): string => `${TOKENS}${id}`;

// ---- tokens ------------------------------------------------------------------------------------

export const TOKEN_PREFIX = 'pwt_';
const TOKEN_RE = /^pwt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export function formatToken(id: string, secret: string): string {
  return `${TOKEN_PREFIX}${id}_${secret}`;
}

/** The lookup id and the secret of an API token, or undefined when it is not one of ours. */
export function parseToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(token);
  return m ? { id: m[1] as string, secret: m[2] as string } : undefined;
}

export const TOKEN_ID_RE = /^[0-9a-f]{16}$/;

// ---- audit -------------------------------------------------------------------------------------

/** `<15-digit ms since epoch>-<4-digit sequence>-<8 hex>`: sorts by time, unique across nodes. */
export const AUDIT_ID_RE = /^\d{15}-\d{4}-[0-9a-f]{8}$/;

export function auditId(ms: number, seq: number, rand: string): string {
  return `${String(Math.max(0, Math.floor(ms))).padStart(15, '0')}-${String(seq % 10000).padStart(4, '0')}-${rand}`;
}

export const AUDIT_OUTCOMES = ['ok', 'failed', 'denied'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** How the actor was authenticated. */
export const VIAS = ['session', 'token', 'cli', 'system', 'anonymous', 'auth_disabled'] as const;
export type Via = (typeof VIAS)[number];

export interface AuditEntry {
  time: string;
  actor: string;
  via: Via;
  action: string;
  target: string;
  outcome: AuditOutcome;
  ip?: string;
  details: Record<string, unknown>;
}

const SECRET_FIELD = /pass|secret|token|cookie|authori[sz]ation|csrf|hash|salt|credential/i;

/** A copy of details without anything that could be a secret (by field name), nested too. */
export function scrubDetails(v: unknown, depth = 0): unknown {
  if (depth > 4) return '[…]';
  if (Array.isArray(v)) return v.slice(0, 50).map((x) => scrubDetails(x, depth + 1));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = SECRET_FIELD.test(k) ? '[secret]' : scrubDetails(x, depth + 1);
    return out;
  }
  if (typeof v === 'string' && v.length > 256) return `${v.slice(0, 256)}…`;
  return v;
}

/** Page through audit ids newest first: ids strictly older than `before`, at most `limit`. */
export function auditPage(idsAscending: readonly string[], limit: number, before?: string): { ids: string[]; next: string | null } {
  let end = idsAscending.length;
  if (before !== undefined) {
    // first index whose id >= before
    let lo = 0;
    let hi = idsAscending.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((idsAscending[mid] as string) < before) lo = mid + 1;
      else hi = mid;
    }
    end = lo;
  }
  const start = Math.max(0, end - limit);
  const ids = idsAscending.slice(start, end).reverse();
  return { ids, next: start > 0 && ids.length > 0 ? (ids[ids.length - 1] as string) : null };
}

/** An audit search: at most 100 printable characters (trimmed); '' matches everything. */
export function checkAuditQuery(q: unknown): string | Failure {
  if (q === undefined || q === null) return '';
  if (typeof q !== 'string' || q.length > 100 || [...q].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
    return fail('invalid_request', 'q (the audit search) must be at most 100 printable characters.', 'q');
  return q.trim().toLowerCase();
}

/** Whether an entry contains the (lower-case) query in any field, its details included. */
export function auditMatches(e: AuditEntry & { id?: string }, q: string): boolean {
  if (q === '') return true;
  const text = `${e.actor}\n${e.via}\n${e.action}\n${e.target}\n${e.outcome}\n${e.ip ?? ''}\n${JSON.stringify(e.details ?? {})}`;
  return text.toLowerCase().includes(q);
}

/** One CSV cell: quoted, quotes doubled; a leading = + - @ is neutralized (spreadsheet formulas). */
function csvCell(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return `"${safe.replace(/"/g, '""')}"`;
}

export const AUDIT_CSV_COLUMNS = ['id', 'time', 'actor', 'via', 'ip', 'action', 'target', 'outcome', 'details'] as const;

/** The audit entries as CSV (RFC 4180, CRLF): one row each, details as JSON. */
export function auditCsv(entries: readonly (AuditEntry & { id: string })[]): string {
  const rows = [AUDIT_CSV_COLUMNS.join(',')];
  for (const e of entries)
    rows.push([e.id, e.time, e.actor, e.via, e.ip ?? '', e.action, e.target, e.outcome, JSON.stringify(e.details ?? {})].map(csvCell).join(','));
  return `${rows.join('\r\n')}\r\n`;
}

// ---- sessions ----------------------------------------------------------------------------------

export interface SessionRecord {
  user: string;
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
}

/** Idle for idleMs, or (maxMs given) older than maxMs since the login, whatever its activity. */
export function sessionExpired(s: Pick<SessionRecord, 'lastSeenAt' | 'createdAt'>, now: number, idleMs: number, maxMs?: number): boolean {
  return now - s.lastSeenAt >= idleMs || (maxMs !== undefined && now - s.createdAt >= maxMs);
}

/**
 * Whether to write a new lastSeenAt: writes are throttled (every store write wakes watchers) to a tenth
 * of the idle timeout, at most once a minute.
 */
export function sessionNeedsTouch(s: Pick<SessionRecord, 'lastSeenAt'>, now: number, idleMs: number): boolean {
  return now - s.lastSeenAt >= Math.min(idleMs / 10, 60_000);
}
