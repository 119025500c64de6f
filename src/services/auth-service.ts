/**
 * Users, roles, login sessions, API tokens and the audit log, all kept in the coordination store
 * (under /portway/auth/ and /portway/audit/), so every node of a cluster sees the same logins.
 *
 * Secrets: passwords are stored as scrypt hashes (per-user salt and parameters); session ids and
 * API token secrets are stored only as SHA-256 hashes (they are 256-bit random, so a fast hash is
 * enough). Nothing returned by a list, and nothing logged, holds a secret.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { Compare, CoordStore, KeyValue, TxnOp } from '../adapters/coord/types.js';
import {
  AUDIT,
  AUDIT_ID_RE,
  type AuditEntry,
  type AuditOutcome,
  NAME_RE,
  type Permission,
  ROLES,
  type Role,
  SESSIONS,
  SETUP_KEY,
  type SessionRecord,
  TOKENS,
  TOKEN_ID_RE,
  USERS,
  type Via,
  auditId,
  auditPage,
  builtinRole,
  BUILTIN_ROLES,
  checkPassword,
  checkPermissions,
  checkRoleName,
  checkTokenName,
  checkUsername,
  effectivePermissions,
  formatToken,
  parseToken,
  roleKey,
  scrubDetails,
  sessionExpired,
  sessionKey,
  sessionNeedsTouch,
  tokenKey,
  userKey,
} from '../domain/auth.js';
import { errText } from '../util/errors.js';

// ---- password hashing --------------------------------------------------------------------------

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  keyLen: number;
}

/** 32 MiB and ~50-100 ms per hash; stored with every hash so it can be raised later. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1, keyLen: 64 };

export interface PasswordHash extends ScryptParams {
  alg: 'scrypt';
  salt: string;
  hash: string;
}

function scrypt(password: string, salt: Buffer, prm: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password.normalize('NFC'), salt, prm.keyLen, { N: prm.N, r: prm.r, p: prm.p, maxmem: 256 * prm.N * prm.r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string, prm: ScryptParams = DEFAULT_SCRYPT): Promise<PasswordHash> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, prm);
  return { alg: 'scrypt', ...prm, salt: salt.toString('base64'), hash: key.toString('base64') };
}

/** Parameters read from the store are bounded: a tampered record must not make a login hash forever. */
function sane(h: PasswordHash): boolean {
  const pow2 = (n: number) => Number.isInteger(n) && n > 1 && (n & (n - 1)) === 0;
  return (
    h.alg === 'scrypt' && pow2(h.N) && h.N >= 2 ** 10 && h.N <= 2 ** 20 && Number.isInteger(h.r) && h.r >= 1 && h.r <= 32 &&
    Number.isInteger(h.p) && h.p >= 1 && h.p <= 16 && Number.isInteger(h.keyLen) && h.keyLen >= 16 && h.keyLen <= 128 &&
    typeof h.salt === 'string' && typeof h.hash === 'string'
  );
}

export async function verifyPassword(password: string, h: PasswordHash): Promise<boolean> {
  if (!sane(h)) return false;
  const want = Buffer.from(h.hash, 'base64');
  const got = await scrypt(password, Buffer.from(h.salt, 'base64'), h);
  return want.length === got.length && timingSafeEqual(want, got);
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const randomId = (bytes: number): string => randomBytes(bytes).toString('base64url');

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(sha256(a));
  const y = Buffer.from(sha256(b));
  return timingSafeEqual(x, y);
}

/** A strong random password: 20 characters without look-alikes (~115 bits). */
export function generatePassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const bytes = randomBytes(64);
  let out = '';
  for (const b of bytes) {
    if (b >= 256 - (256 % alphabet.length)) continue; // no modulo bias
    out += alphabet[b % alphabet.length];
    if (out.length === 20) break;
  }
  return out.length === 20 ? out : generatePassword();
}

// ---- records -----------------------------------------------------------------------------------

export interface UserRecord {
  name: string;
  role: string;
  password: PasswordHash;
  createdAt: string;
  updatedAt: string;
}

interface RoleRecord {
  name: string;
  permissions: Permission[];
  createdAt: string;
}

interface TokenRecord {
  id: string;
  name: string;
  user: string;
  /** SHA-256 (hex) of the token's secret. */
  hash: string;
  createdAt: string;
  lastUsedAt?: string;
}

/** What the API shows of a user: never the hash. */
export interface UserView {
  name: string;
  role: string;
  createdAt: string;
  updatedAt: string;
}

export interface RoleView {
  name: string;
  permissions: Permission[];
  builtin: boolean;
}

export interface TokenView {
  id: string;
  name: string;
  user: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** The logged-in identity of a request. */
export interface Principal {
  user: string;
  role: string;
  permissions: Permission[];
  via: Via;
  /** Cookie sessions: the session's store key and its CSRF token. */
  sessionKey?: string;
  csrf?: string;
  /** API tokens: the token's id. */
  tokenId?: string;
}

/** Who did something, for the audit log. */
export interface Actor {
  user: string;
  via: Via;
  ip?: string;
}

export interface ServiceFailure {
  ok: false;
  status: number;
  code: string;
  message: string;
  details: Record<string, unknown>;
}

export type Result<T> = ({ ok: true } & T) | ServiceFailure;

const failure = (status: number, code: string, message: string, details: Record<string, unknown> = {}): ServiceFailure => ({
  ok: false,
  status,
  code,
  message,
  details,
});

const invalid = (f: { code: string; message: string; field: string }): ServiceFailure => failure(400, f.code, f.message, { field: f.field });

const UNAVAILABLE = (): ServiceFailure =>
  failure(503, 'coordination_error', 'The user store cannot be reached right now (coordination store unavailable); try again.');

function parse<T>(kv: KeyValue | undefined): T | undefined {
  if (!kv) return undefined;
  try {
    return JSON.parse(kv.value) as T;
  } catch {
    return undefined;
  }
}

const userView = (u: UserRecord): UserView => ({ name: u.name, role: u.role, createdAt: u.createdAt, updatedAt: u.updatedAt });
const tokenView = (t: TokenRecord): TokenView => ({ id: t.id, name: t.name, user: t.user, createdAt: t.createdAt, lastUsedAt: t.lastUsedAt ?? null });

// ---- the service -------------------------------------------------------------------------------

export interface AuthServiceOptions {
  store: CoordStore;
  log: Logger;
  /** Idle timeout of login sessions. */
  sessionIdleMs: number;
  /** Oldest audit entries beyond this many are pruned. */
  auditMaxEntries?: number;
  /** Hash parameters for new passwords (tests may lower them; never below N=2^10). */
  scrypt?: ScryptParams;
  now?: () => number;
}

const SESSION_ID_RE = /^[A-Za-z0-9_-]{43}$/;
const MAX_TXN_ATTEMPTS = 8;

export class AuthService {
  private readonly now: () => number;
  private readonly prm: ScryptParams;
  private dummy: Promise<PasswordHash> | undefined;
  private auditSeq = 0;
  private appendsSincePrune = 0;

  constructor(private readonly o: AuthServiceOptions) {
    this.now = o.now ?? Date.now;
    this.prm = o.scrypt ?? DEFAULT_SCRYPT;
  }

  get sessionIdleMs(): number {
    return this.o.sessionIdleMs;
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  /** Runs fn; a store failure becomes coordination_error instead of an exception. */
  private async guard<T>(what: string, fn: () => Promise<Result<T>>): Promise<Result<T>> {
    try {
      return await fn();
    } catch (e) {
      this.o.log.error({ err: errText(e), op: what }, 'auth store operation failed');
      return UNAVAILABLE();
    }
  }

  // ---- roles -----------------------------------------------------------------------------------

  private async readRoles(): Promise<Map<string, { role: Role; kv?: KeyValue }>> {
    const out = new Map<string, { role: Role; kv?: KeyValue }>();
    for (const r of BUILTIN_ROLES) out.set(r.name, { role: r });
    for (const kv of await this.o.store.list(ROLES)) {
      const rec = parse<RoleRecord>(kv);
      if (!rec || builtinRole(rec.name)) continue;
      const perms = checkPermissions(rec.permissions);
      if (!perms.ok) continue;
      out.set(rec.name, { role: { name: rec.name, permissions: perms.value, builtin: false }, kv });
    }
    return out;
  }

  private async roleOf(name: string): Promise<{ role: Role; kv?: KeyValue } | undefined> {
    const b = builtinRole(name);
    if (b) return { role: b };
    const kv = await this.o.store.get(roleKey(name));
    const rec = parse<RoleRecord>(kv);
    if (!rec || !kv) return undefined;
    const perms = checkPermissions(rec.permissions);
    return perms.ok ? { role: { name, permissions: perms.value, builtin: false }, kv } : undefined;
  }

  async listRoles(): Promise<Result<{ roles: RoleView[] }>> {
    return this.guard('listRoles', async () => {
      const roles = [...(await this.readRoles()).values()].map(({ role }) => ({ name: role.name, permissions: role.permissions, builtin: role.builtin }));
      return { ok: true, roles };
    });
  }

  async createRole(body: { name?: unknown; permissions?: unknown }): Promise<Result<{ role: RoleView }>> {
    const name = checkRoleName(body.name, 'name');
    if (!name.ok) return invalid(name);
    const perms = checkPermissions(body.permissions);
    if (!perms.ok) return invalid(perms);
    if (builtinRole(name.value)) return failure(409, 'role_exists', `"${name.value}" is a built-in role.`, { field: 'name' });
    return this.guard('createRole', async () => {
      // Every role can view: stored and shown with ViewOnly, as /me shows it.
      const rec: RoleRecord = { name: name.value, permissions: effectivePermissions({ permissions: perms.value }), createdAt: this.iso() };
      const done = await this.o.store.txn([{ key: roleKey(name.value), modRevision: 0 }], [{ type: 'put', key: roleKey(name.value), value: JSON.stringify(rec) }]);
      if (!done) return failure(409, 'role_exists', `A role named "${name.value}" already exists.`, { field: 'name' });
      return { ok: true, role: { name: rec.name, permissions: rec.permissions, builtin: false } };
    });
  }

  async deleteRole(name: string): Promise<Result<object>> {
    if (builtinRole(name)) return failure(409, 'role_builtin', `"${name}" is a built-in role and cannot be deleted.`);
    if (!NAME_RE.test(name)) return failure(404, 'role_not_found', `No role named "${name}".`);
    return this.guard('deleteRole', async () => {
      const kv = await this.o.store.get(roleKey(name));
      if (!kv) return failure(404, 'role_not_found', `No role named "${name}".`);
      const users = (await this.readUsers()).filter((u) => u.rec.role === name).map((u) => u.rec.name);
      if (users.length > 0) return failure(409, 'role_in_use', `The role "${name}" is held by ${users.length} user(s); give them another role first.`, { users });
      // Assigning a role rewrites its key (see roleTouch), so a user given this role meanwhile fails this compare.
      const done = await this.o.store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ type: 'delete', key: kv.key }]);
      if (!done) return failure(409, 'conflict', 'The role changed while it was being deleted; try again.');
      return { ok: true };
    });
  }

  /** A user txn that assigns a custom role rewrites the role key (same value), so deleteRole sees it. */
  private roleTouch(r: { kv?: KeyValue }): { compares: Compare[]; ops: TxnOp[] } {
    if (!r.kv) return { compares: [], ops: [] };
    return { compares: [{ key: r.kv.key, modRevision: r.kv.modRevision }], ops: [{ type: 'put', key: r.kv.key, value: r.kv.value }] };
  }

  // ---- users -----------------------------------------------------------------------------------

  private async readUsers(): Promise<{ rec: UserRecord; kv: KeyValue }[]> {
    const out: { rec: UserRecord; kv: KeyValue }[] = [];
    for (const kv of await this.o.store.list(USERS)) {
      const rec = parse<UserRecord>(kv);
      if (rec && typeof rec.name === 'string' && typeof rec.role === 'string') out.push({ rec, kv });
    }
    return out;
  }

  async listUsers(): Promise<Result<{ users: UserView[] }>> {
    return this.guard('listUsers', async () => ({ ok: true, users: (await this.readUsers()).map((u) => userView(u.rec)) }));
  }

  async getUser(name: string): Promise<Result<{ user: UserView; permissions: Permission[] }>> {
    return this.guard('getUser', async () => {
      const rec = NAME_RE.test(name) ? parse<UserRecord>(await this.o.store.get(userKey(name))) : undefined;
      if (!rec) return failure(404, 'user_not_found', `No user named "${name}".`);
      const r = await this.roleOf(rec.role);
      return { ok: true, user: userView(rec), permissions: r ? effectivePermissions(r.role) : [] };
    });
  }

  async createUser(body: { name?: unknown; password?: unknown; role?: unknown }): Promise<Result<{ user: UserView }>> {
    const name = checkUsername(body.name, 'name');
    if (!name.ok) return invalid(name);
    const role = checkRoleName(body.role ?? 'viewer', 'role');
    if (!role.ok) return invalid(role);
    const pw = checkPassword(body.password, name.value, 'password');
    if (!pw.ok) return invalid(pw);
    const password = await hashPassword(pw.value, this.prm);
    return this.guard('createUser', async () => {
      for (let attempt = 0; attempt < MAX_TXN_ATTEMPTS; attempt++) {
        const r = await this.roleOf(role.value);
        if (!r) return failure(400, 'invalid_role', `No role named "${role.value}".`, { field: 'role' });
        const t = this.iso();
        const rec: UserRecord = { name: name.value, role: role.value, password, createdAt: t, updatedAt: t };
        const touch = this.roleTouch(r);
        const done = await this.o.store.txn(
          [{ key: userKey(name.value), modRevision: 0 }, ...touch.compares],
          [{ type: 'put', key: userKey(name.value), value: JSON.stringify(rec) }, ...touch.ops],
        );
        if (done) return { ok: true, user: userView(rec) };
        if (await this.o.store.get(userKey(name.value))) return failure(409, 'user_exists', `A user named "${name.value}" already exists.`, { field: 'name' });
      }
      return failure(409, 'conflict', 'The user store kept changing; try again.');
    });
  }

  /**
   * Users that can manage users (hold ManageUsers), except `except`. The returned compares make a txn
   * fail if any of them changed meanwhile, so two concurrent changes cannot remove the last two admins.
   */
  private async otherManagers(except: string): Promise<{ names: string[]; compares: Compare[] }> {
    const roles = await this.readRoles();
    const names: string[] = [];
    const compares: Compare[] = [];
    for (const u of await this.readUsers()) {
      if (u.rec.name === except) continue;
      const r = roles.get(u.rec.role);
      if (r && effectivePermissions(r.role).includes('ManageUsers')) {
        names.push(u.rec.name);
        compares.push({ key: u.kv.key, modRevision: u.kv.modRevision });
      }
    }
    return { names, compares };
  }

  /** Changes a user's role and/or password. keepSession: the caller's own session survives a password change. */
  async updateUser(name: string, body: { role?: unknown; password?: unknown }, keepSession?: string): Promise<Result<{ user: UserView }>> {
    if (body.role === undefined && body.password === undefined)
      return failure(400, 'invalid_request', 'Nothing to change: give role and/or password.', {});
    const role = body.role === undefined ? undefined : checkRoleName(body.role, 'role');
    if (role && !role.ok) return invalid(role);
    const pw = body.password === undefined ? undefined : checkPassword(body.password, name, 'password');
    if (pw && !pw.ok) return invalid(pw);
    const password = pw ? await hashPassword(pw.value, this.prm) : undefined;
    return this.guard('updateUser', async () => {
      for (let attempt = 0; attempt < MAX_TXN_ATTEMPTS; attempt++) {
        const kv = NAME_RE.test(name) ? await this.o.store.get(userKey(name)) : undefined;
        const cur = parse<UserRecord>(kv);
        if (!kv || !cur) return failure(404, 'user_not_found', `No user named "${name}".`);
        const compares: Compare[] = [{ key: kv.key, modRevision: kv.modRevision }];
        const ops: TxnOp[] = [];
        const next: UserRecord = { ...cur, updatedAt: this.iso() };
        if (role?.ok && role.value !== cur.role) {
          const r = await this.roleOf(role.value);
          if (!r) return failure(400, 'invalid_role', `No role named "${role.value}".`, { field: 'role' });
          const wasManager = await this.holds(cur.role, 'ManageUsers');
          if (wasManager && !effectivePermissions(r.role).includes('ManageUsers')) {
            const others = await this.otherManagers(name);
            if (others.names.length === 0)
              return failure(409, 'last_admin', `"${name}" is the last user who can manage users; give another user that right first.`, { field: 'role' });
            compares.push(...others.compares);
          }
          const touch = this.roleTouch(r);
          compares.push(...touch.compares);
          ops.push(...touch.ops);
          next.role = role.value;
        }
        if (password) next.password = password;
        ops.unshift({ type: 'put', key: kv.key, value: JSON.stringify(next) });
        if (await this.o.store.txn(compares, ops)) {
          if (password) await this.dropSessions(name, keepSession);
          return { ok: true, user: userView(next) };
        }
      }
      return failure(409, 'conflict', 'The user store kept changing; try again.');
    });
  }

  private async holds(roleName: string, p: Permission): Promise<boolean> {
    const r = await this.roleOf(roleName);
    return r !== undefined && effectivePermissions(r.role).includes(p);
  }

  async deleteUser(name: string): Promise<Result<object>> {
    return this.guard('deleteUser', async () => {
      for (let attempt = 0; attempt < MAX_TXN_ATTEMPTS; attempt++) {
        const kv = NAME_RE.test(name) ? await this.o.store.get(userKey(name)) : undefined;
        const cur = parse<UserRecord>(kv);
        if (!kv || !cur) return failure(404, 'user_not_found', `No user named "${name}".`);
        const compares: Compare[] = [{ key: kv.key, modRevision: kv.modRevision }];
        if (await this.holds(cur.role, 'ManageUsers')) {
          const others = await this.otherManagers(name);
          if (others.names.length === 0) return failure(409, 'last_admin', `"${name}" is the last user who can manage users and cannot be deleted.`);
          compares.push(...others.compares);
        }
        if (await this.o.store.txn(compares, [{ type: 'delete', key: kv.key }])) {
          await this.dropSessions(name);
          for (const t of await this.readTokens()) if (t.user === name) await this.o.store.delete(tokenKey(t.id));
          return { ok: true };
        }
      }
      return failure(409, 'conflict', 'The user store kept changing; try again.');
    });
  }

  /** A user changes their own password, proving the current one. */
  async changeOwnPassword(name: string, current: unknown, next: unknown, keepSession?: string): Promise<Result<object>> {
    if (typeof current !== 'string' || current === '') return failure(400, 'invalid_password', 'The current password is required.', { field: 'currentPassword' });
    const pw = checkPassword(next, name, 'newPassword');
    if (!pw.ok) return invalid(pw);
    return this.guard('changeOwnPassword', async () => {
      const rec = parse<UserRecord>(await this.o.store.get(userKey(name)));
      if (!rec || !(await verifyPassword(current, rec.password)))
        return failure(403, 'invalid_credentials', 'The current password is wrong.', { field: 'currentPassword' });
      const r = await this.updateUser(name, { password: pw.value }, keepSession);
      return r.ok ? { ok: true } : r;
    });
  }

  // ---- first admin -----------------------------------------------------------------------------

  /**
   * At start: when no user exists, make `admin`. Its password is `adminPassword` when given, else a
   * generated one handed to print() exactly once: the setup flag is created in the same transaction
   * as the user, so it is never generated (nor printed) again, on this node or any other.
   */
  async bootstrap(opts: { adminPassword?: string; print: (line: string) => void }): Promise<{ created: boolean; generated: boolean }> {
    if (opts.adminPassword !== undefined) {
      const c = checkPassword(opts.adminPassword, 'admin', 'PORTWAY_ADMIN_PASSWORD');
      if (!c.ok) throw new Error(`the initial admin password (PORTWAY_ADMIN_PASSWORD / auth.adminPassword): ${c.message}`);
    }
    const users = await this.o.store.list(USERS);
    if (users.length > 0) return { created: false, generated: false };
    const flag = await this.o.store.get(SETUP_KEY);
    if (flag && opts.adminPassword === undefined) {
      this.o.log.warn('no user exists and the first admin was made before: add one with `portway user add <name> --role admin --password-stdin`');
      return { created: false, generated: false };
    }
    const generated = opts.adminPassword === undefined;
    const password = opts.adminPassword ?? generatePassword();
    const t = this.iso();
    const rec: UserRecord = { name: 'admin', role: 'admin', password: await hashPassword(password, this.prm), createdAt: t, updatedAt: t };
    const compares: Compare[] = [{ key: userKey('admin'), modRevision: 0 }];
    if (!flag) compares.push({ key: SETUP_KEY, modRevision: 0 });
    const done = await this.o.store.txn(compares, [
      { type: 'put', key: userKey('admin'), value: JSON.stringify(rec) },
      { type: 'put', key: SETUP_KEY, value: JSON.stringify({ firstAdmin: 'admin', at: t, generated }) },
    ]);
    if (!done) return { created: false, generated: false }; // another node made it
    await this.appendAudit({ user: 'system', via: 'system' }, 'user.create', 'user:admin', 'ok', { role: 'admin', first: true, generated });
    if (generated) {
      opts.print(
        JSON.stringify({
          msg: 'PORTWAY_INITIAL_ADMIN',
          user: 'admin',
          password,
          note: 'shown once, never again: log in and change it (or set PORTWAY_ADMIN_PASSWORD before the first start)',
        }),
      );
    }
    this.o.log.info({ user: 'admin', generated }, 'first admin created');
    return { created: true, generated };
  }

  // ---- login sessions --------------------------------------------------------------------------

  private dummyHash(): Promise<PasswordHash> {
    this.dummy ??= hashPassword(randomId(18), this.prm);
    return this.dummy;
  }

  private async principalOf(user: string): Promise<Omit<Principal, 'via'> | undefined> {
    const rec = NAME_RE.test(user) ? parse<UserRecord>(await this.o.store.get(userKey(user))) : undefined;
    if (!rec) return undefined;
    const r = await this.roleOf(rec.role);
    return { user: rec.name, role: rec.role, permissions: r ? effectivePermissions(r.role) : [] };
  }

  /**
   * Checks a username and password. The answer for an unknown user and for a wrong password is the
   * same, and takes the same time (a dummy hash is verified for unknown users).
   */
  async login(username: unknown, password: unknown): Promise<Result<{ sessionId: string; principal: Principal }>> {
    const wrong = failure(401, 'invalid_credentials', 'Wrong username or password.');
    if (typeof username !== 'string' || typeof password !== 'string' || password.length > 1024) return wrong;
    return this.guard('login', async () => {
      const kv = NAME_RE.test(username) ? await this.o.store.get(userKey(username)) : undefined;
      const rec = parse<UserRecord>(kv);
      const ok = await verifyPassword(password, rec?.password ?? (await this.dummyHash()));
      if (!rec || !kv || !ok) return wrong;
      if (rec.password.N < this.prm.N || rec.password.r < this.prm.r || rec.password.keyLen < this.prm.keyLen) {
        // Stronger parameters than when the hash was made: rehash now that the password is known.
        const next = { ...rec, password: await hashPassword(password, this.prm) };
        await this.o.store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ type: 'put', key: kv.key, value: JSON.stringify(next) }]);
      }
      const p = await this.principalOf(rec.name);
      if (!p) return wrong;
      const sessionId = randomId(32);
      const now = this.now();
      const s: SessionRecord = { user: rec.name, csrf: randomId(32), createdAt: now, lastSeenAt: now };
      const key = sessionKey(sha256(sessionId));
      await this.o.store.put(key, JSON.stringify(s));
      void this.sweepSessions().catch((e) => this.o.log.warn({ err: errText(e) }, 'session sweep failed'));
      return { ok: true, sessionId, principal: { ...p, via: 'session', sessionKey: key, csrf: s.csrf } };
    });
  }

  /**
   * The principal of a session cookie; 'expired' when it timed out (the session is deleted); undefined
   * when it is unknown. Throws when the store is unreachable.
   */
  async authenticateSession(sessionId: string): Promise<Principal | 'expired' | undefined> {
    if (!SESSION_ID_RE.test(sessionId)) return undefined;
    const key = sessionKey(sha256(sessionId));
    const kv = await this.o.store.get(key);
    const s = parse<SessionRecord>(kv);
    if (!kv || !s) return undefined;
    const now = this.now();
    if (sessionExpired(s, now, this.o.sessionIdleMs)) {
      await this.o.store.delete(key);
      return 'expired';
    }
    const p = await this.principalOf(s.user);
    if (!p) {
      await this.o.store.delete(key);
      return undefined;
    }
    if (sessionNeedsTouch(s, now, this.o.sessionIdleMs)) {
      // Only if unchanged: a concurrent logout (delete) must not be undone by this write.
      await this.o.store.txn([{ key, modRevision: kv.modRevision }], [{ type: 'put', key, value: JSON.stringify({ ...s, lastSeenAt: now }) }]);
    }
    return { ...p, via: 'session', sessionKey: key, csrf: s.csrf };
  }

  async logout(key: string): Promise<void> {
    if (key.startsWith(SESSIONS)) await this.o.store.delete(key);
  }

  /** Deletes every session of a user (but `keep`). */
  private async dropSessions(user: string, keep?: string): Promise<void> {
    for (const kv of await this.o.store.list(SESSIONS)) {
      if (kv.key === keep) continue;
      if (parse<SessionRecord>(kv)?.user === user) await this.o.store.delete(kv.key);
    }
  }

  /** Deletes expired sessions. */
  async sweepSessions(): Promise<number> {
    const now = this.now();
    const expired = (await this.o.store.list(SESSIONS)).filter((kv) => {
      const s = parse<SessionRecord>(kv);
      return !s || sessionExpired(s, now, this.o.sessionIdleMs);
    });
    for (let i = 0; i < expired.length; i += 64)
      await this.o.store.txn([], expired.slice(i, i + 64).map((kv) => ({ type: 'delete' as const, key: kv.key })));
    return expired.length;
  }

  // ---- API tokens ------------------------------------------------------------------------------

  private async readTokens(): Promise<TokenRecord[]> {
    const out: TokenRecord[] = [];
    for (const kv of await this.o.store.list(TOKENS)) {
      const t = parse<TokenRecord>(kv);
      if (t && typeof t.id === 'string') out.push(t);
    }
    return out;
  }

  /** Creates an API token for `user`; the token itself is returned here only, the store keeps its hash. */
  async createToken(user: string, body: { name?: unknown }): Promise<Result<{ token: string; info: TokenView }>> {
    const name = checkTokenName(body.name);
    if (!name.ok) return invalid(name);
    return this.guard('createToken', async () => {
      const id = randomBytes(8).toString('hex');
      const secret = randomId(32);
      const rec: TokenRecord = { id, name: name.value, user, hash: sha256(secret), createdAt: this.iso() };
      // The user must still exist when the token is made.
      const ukv = await this.o.store.get(userKey(user));
      if (!ukv) return failure(404, 'user_not_found', `No user named "${user}".`);
      const done = await this.o.store.txn(
        [{ key: tokenKey(id), modRevision: 0 }, { key: ukv.key, modRevision: ukv.modRevision }],
        [{ type: 'put', key: tokenKey(id), value: JSON.stringify(rec) }],
      );
      if (!done) return failure(409, 'conflict', 'The user changed while the token was being made; try again.');
      return { ok: true, token: formatToken(id, secret), info: tokenView(rec) };
    });
  }

  async listTokens(user?: string): Promise<Result<{ tokens: TokenView[] }>> {
    return this.guard('listTokens', async () => ({
      ok: true,
      tokens: (await this.readTokens()).filter((t) => user === undefined || t.user === user).map(tokenView),
    }));
  }

  /** Revokes a token of `owner` (any owner when owner is undefined). */
  async revokeToken(id: string, owner?: string): Promise<Result<{ token: TokenView }>> {
    const missing = failure(404, 'token_not_found', `No API token with id "${id}".`);
    if (!TOKEN_ID_RE.test(id)) return missing;
    return this.guard('revokeToken', async () => {
      const kv = await this.o.store.get(tokenKey(id));
      const t = parse<TokenRecord>(kv);
      if (!kv || !t || (owner !== undefined && t.user !== owner)) return missing;
      await this.o.store.delete(kv.key);
      return { ok: true, token: tokenView(t) };
    });
  }

  /** The principal of a bearer token, or undefined. Throws when the store is unreachable. */
  async authenticateToken(token: string): Promise<Principal | undefined> {
    const parsed = parseToken(token);
    if (!parsed) return undefined;
    const kv = await this.o.store.get(tokenKey(parsed.id));
    const t = parse<TokenRecord>(kv);
    if (!kv || !t || typeof t.hash !== 'string' || !sameSecret(t.hash, sha256(parsed.secret))) return undefined;
    const p = await this.principalOf(t.user);
    if (!p) return undefined;
    const now = this.now();
    if (!t.lastUsedAt || now - Date.parse(t.lastUsedAt) > 5 * 60_000) {
      await this.o.store.txn([{ key: kv.key, modRevision: kv.modRevision }], [
        { type: 'put', key: kv.key, value: JSON.stringify({ ...t, lastUsedAt: new Date(now).toISOString() }) },
      ]);
    }
    return { ...p, via: 'token', tokenId: t.id };
  }

  // ---- audit -----------------------------------------------------------------------------------

  /** Appends an audit entry; never throws (a failure is logged). Details are scrubbed of secrets. */
  async appendAudit(actor: Actor, action: string, target: string, outcome: AuditOutcome, details: Record<string, unknown> = {}): Promise<void> {
    const now = this.now();
    const entry: AuditEntry = {
      time: new Date(now).toISOString(),
      actor: actor.user,
      via: actor.via,
      action,
      target,
      outcome,
      ...(actor.ip ? { ip: actor.ip } : {}),
      details: scrubDetails(details) as Record<string, unknown>,
    };
    const id = auditId(now, this.auditSeq++, randomBytes(4).toString('hex'));
    try {
      await this.o.store.put(`${AUDIT}${id}`, JSON.stringify(entry));
      if (++this.appendsSincePrune >= 100) {
        this.appendsSincePrune = 0;
        await this.pruneAudit();
      }
    } catch (e) {
      this.o.log.error({ err: errText(e), action, target, outcome }, 'audit entry could not be written');
    }
  }

  /** Deletes the oldest audit entries beyond auditMaxEntries. */
  async pruneAudit(): Promise<number> {
    const max = this.o.auditMaxEntries ?? 10_000;
    const kvs = await this.o.store.list(AUDIT);
    const drop = kvs.slice(0, Math.max(0, kvs.length - max));
    for (let i = 0; i < drop.length; i += 64) await this.o.store.txn([], drop.slice(i, i + 64).map((kv) => ({ type: 'delete' as const, key: kv.key })));
    return drop.length;
  }

  /** Audit entries newest first; `before` is the id of the last entry of the previous page. */
  async listAudit(limit: number, before?: string): Promise<Result<{ entries: (AuditEntry & { id: string })[]; next: string | null }>> {
    if (before !== undefined && !AUDIT_ID_RE.test(before)) return failure(400, 'invalid_request', 'before must be the id of an audit entry.', { field: 'before' });
    return this.guard('listAudit', async () => {
      const byId = new Map<string, string>();
      for (const kv of await this.o.store.list(AUDIT)) {
        const id = kv.key.slice(AUDIT.length);
        if (AUDIT_ID_RE.test(id)) byId.set(id, kv.value);
      }
      const page = auditPage([...byId.keys()], limit, before);
      const entries: (AuditEntry & { id: string })[] = [];
      for (const id of page.ids) {
        try {
          entries.push({ id, ...(JSON.parse(byId.get(id) as string) as AuditEntry) });
        } catch {
          // not ours
        }
      }
      return { ok: true, entries, next: page.next };
    });
  }
}
