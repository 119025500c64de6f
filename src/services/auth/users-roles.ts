/**
 * Users and roles under /portway/auth/: built-in and custom roles, user records (scrypt hashes, never
 * shown), the last-user-manager rule, credential checks and the first admin.
 */
import type { Compare, KeyValue, TxnOp } from '../../adapters/coord/types.js';
import type { RoleView, UserView } from '../../api/wire.js';
import {
  BUILTIN_ROLES,
  NAME_RE,
  type Permission,
  ROLES,
  type Role,
  SETUP_KEY,
  USERS,
  builtinRole,
  checkPassword,
  checkPermissions,
  checkRoleName,
  checkUsername,
  effectivePermissions,
  roleKey,
  userKey,
} from '../../domain/auth.js';
import type { AuditLog } from './audit-log.js';
import { fail } from '../../domain/outcomes.js';
import { recordJson } from '../../domain/records.js';
import { type AuthContext, type Result, parse } from './common.js';
import { type PasswordHash, type ScryptParams, generatePassword, hashPassword, randomId, verifyPassword, weakerThan } from './password.js';

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

/** What the API shows of a user (never the hash) and of a role: src/api/wire.ts. */
export type { RoleView, UserView };

/** A user with the permissions of their role. */
export interface Identity {
  user: string;
  role: string;
  permissions: Permission[];
}

/** Ends a user's logins: called when their password changes or they are deleted. */
export interface AccessRevoker {
  /** Deletes every session of a user (but `keep`). */
  dropSessions(user: string, keep?: string): Promise<void>;
  dropTokens(user: string): Promise<void>;
}

const MAX_TXN_ATTEMPTS = 8;

const userView = (u: UserRecord): UserView => ({ name: u.name, role: u.role, createdAt: u.createdAt, updatedAt: u.updatedAt });

export class UsersRoles {
  private dummy: Promise<PasswordHash> | undefined;

  constructor(
    private readonly ctx: AuthContext,
    /** Hash parameters for new passwords. */
    private readonly prm: ScryptParams,
    private readonly audit: AuditLog,
    private readonly revoke: AccessRevoker,
  ) {}

  // ---- roles -----------------------------------------------------------------------------------

  private async readRoles(): Promise<Map<string, { role: Role; kv?: KeyValue }>> {
    const out = new Map<string, { role: Role; kv?: KeyValue }>();
    for (const r of BUILTIN_ROLES) out.set(r.name, { role: r });
    for (const kv of await this.ctx.store.list(ROLES)) {
      const rec = parse<RoleRecord>(kv, 'role');
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
    const kv = await this.ctx.store.get(roleKey(name));
    const rec = parse<RoleRecord>(kv, 'role');
    if (!rec || !kv) return undefined;
    const perms = checkPermissions(rec.permissions);
    return perms.ok ? { role: { name, permissions: perms.value, builtin: false }, kv } : undefined;
  }

  async listRoles(): Promise<Result<{ roles: RoleView[] }>> {
    return this.ctx.guard('listRoles', async () => {
      const roles = [...(await this.readRoles()).values()].map(({ role }) => ({ name: role.name, permissions: role.permissions, builtin: role.builtin }));
      return { ok: true, roles };
    });
  }

  async createRole(body: { name?: unknown; permissions?: unknown }): Promise<Result<{ role: RoleView }>> {
    const name = checkRoleName(body.name, 'name');
    if (!name.ok) return name;
    const perms = checkPermissions(body.permissions);
    if (!perms.ok) return perms;
    if (builtinRole(name.value)) return fail('role_exists', `"${name.value}" is a built-in role.`, 'name');
    return this.ctx.guard('createRole', async () => {
      // Every role can view: stored and shown with ViewOnly, as /me shows it.
      const rec: RoleRecord = { name: name.value, permissions: effectivePermissions({ permissions: perms.value }), createdAt: this.ctx.iso() };
      const done = await this.ctx.store.txn(
        [{ key: roleKey(name.value), modRevision: 0 }],
        [{ type: 'put', key: roleKey(name.value), value: recordJson('role', rec) }],
      );
      if (!done) return fail('role_exists', `A role named "${name.value}" already exists.`, 'name');
      return { ok: true, role: { name: rec.name, permissions: rec.permissions, builtin: false } };
    });
  }

  async deleteRole(name: string): Promise<Result<object>> {
    if (builtinRole(name)) return fail('role_builtin', `"${name}" is a built-in role and cannot be deleted.`);
    if (!NAME_RE.test(name)) return fail('role_not_found', `No role named "${name}".`);
    return this.ctx.guard('deleteRole', async () => {
      const kv = await this.ctx.store.get(roleKey(name));
      if (!kv) return fail('role_not_found', `No role named "${name}".`);
      const users = (await this.readUsers()).filter((u) => u.rec.role === name).map((u) => u.rec.name);
      if (users.length > 0)
        return fail('role_in_use', `The role "${name}" is held by ${users.length} user(s); give them another role first.`, undefined, { users });
      // Assigning a role rewrites its key (see roleTouch), so a user given this role meanwhile fails this compare.
      const done = await this.ctx.store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ type: 'delete', key: kv.key }]);
      if (!done) return fail('conflict', 'The role changed while it was being deleted; try again.');
      return { ok: true };
    });
  }

  /**
   * Changes a custom role's permissions (built-in roles are fixed). Refused with last_admin when the
   * change would leave no user who can manage users; the txn compares every user record and the role,
   * so a concurrent role change or user change cannot slip past that check.
   */
  async updateRole(name: string, body: { permissions?: unknown }): Promise<Result<{ role: RoleView; before: Permission[] }>> {
    if (builtinRole(name)) return fail('role_builtin', `"${name}" is a built-in role and cannot be changed.`);
    if (!NAME_RE.test(name)) return fail('role_not_found', `No role named "${name}".`);
    const perms = checkPermissions(body.permissions);
    if (!perms.ok) return perms;
    const permissions = effectivePermissions({ permissions: perms.value });
    return this.ctx.guard('updateRole', async () => {
      for (let attempt = 0; attempt < MAX_TXN_ATTEMPTS; attempt++) {
        const kv = await this.ctx.store.get(roleKey(name));
        const rec = parse<RoleRecord>(kv, 'role');
        if (!kv || !rec) return fail('role_not_found', `No role named "${name}".`);
        const before = effectivePermissions({ permissions: checkPermissions(rec.permissions).ok ? rec.permissions : [] });
        const compares: Compare[] = [{ key: kv.key, modRevision: kv.modRevision }];
        if (before.includes('ManageUsers') && !permissions.includes('ManageUsers')) {
          const roles = await this.readRoles();
          const users = await this.readUsers();
          const managers = users.filter(
            (u) => u.rec.role !== name && effectivePermissions(roles.get(u.rec.role)?.role ?? { permissions: [] }).includes('ManageUsers'),
          );
          const holders = users.filter((u) => u.rec.role === name);
          if (managers.length === 0 && holders.length > 0)
            return fail(
              'last_admin',
              `Without ManageUsers in "${name}", no user could manage users (${holders.map((u) => u.rec.name).join(', ')} hold it); give another user that right first.`,
              'permissions',
              { users: holders.map((u) => u.rec.name) },
            );
          compares.push(...users.map((u) => ({ key: u.kv.key, modRevision: u.kv.modRevision })));
        }
        const next: RoleRecord = { ...rec, permissions };
        if (await this.ctx.store.txn(compares, [{ type: 'put', key: kv.key, value: recordJson('role', next) }]))
          return { ok: true, role: { name, permissions, builtin: false }, before };
      }
      return fail('conflict', 'The role store kept changing; try again.');
    });
  }

  /** A user txn that assigns a custom role rewrites the role key (same value), so deleteRole sees it. */
  private roleTouch(r: { kv?: KeyValue }): { compares: Compare[]; ops: TxnOp[] } {
    if (!r.kv) return { compares: [], ops: [] };
    return { compares: [{ key: r.kv.key, modRevision: r.kv.modRevision }], ops: [{ type: 'put', key: r.kv.key, value: r.kv.value }] };
  }

  private async holds(roleName: string, p: Permission): Promise<boolean> {
    const r = await this.roleOf(roleName);
    return r !== undefined && effectivePermissions(r.role).includes(p);
  }

  // ---- users -----------------------------------------------------------------------------------

  private async readUsers(): Promise<{ rec: UserRecord; kv: KeyValue }[]> {
    const out: { rec: UserRecord; kv: KeyValue }[] = [];
    for (const kv of await this.ctx.store.list(USERS)) {
      const rec = parse<UserRecord>(kv, 'user');
      if (rec && typeof rec.name === 'string' && typeof rec.role === 'string') out.push({ rec, kv });
    }
    return out;
  }

  async listUsers(): Promise<Result<{ users: UserView[] }>> {
    return this.ctx.guard('listUsers', async () => ({ ok: true, users: (await this.readUsers()).map((u) => userView(u.rec)) }));
  }

  async getUser(name: string): Promise<Result<{ user: UserView; permissions: Permission[] }>> {
    return this.ctx.guard('getUser', async () => {
      const rec = NAME_RE.test(name) ? parse<UserRecord>(await this.ctx.store.get(userKey(name)), 'user') : undefined;
      if (!rec) return fail('user_not_found', `No user named "${name}".`);
      const r = await this.roleOf(rec.role);
      return { ok: true, user: userView(rec), permissions: r ? effectivePermissions(r.role) : [] };
    });
  }

  async createUser(body: { name?: unknown; password?: unknown; role?: unknown }): Promise<Result<{ user: UserView }>> {
    const name = checkUsername(body.name, 'name');
    if (!name.ok) return name;
    const role = checkRoleName(body.role ?? 'viewer', 'role');
    if (!role.ok) return role;
    const pw = checkPassword(body.password, name.value, 'password');
    if (!pw.ok) return pw;
    const password = await hashPassword(pw.value, this.prm);
    return this.ctx.guard('createUser', async () => {
      for (let attempt = 0; attempt < MAX_TXN_ATTEMPTS; attempt++) {
        const r = await this.roleOf(role.value);
        if (!r) return fail('invalid_role', `No role named "${role.value}".`, 'role');
        const t = this.ctx.iso();
        const rec: UserRecord = { name: name.value, role: role.value, password, createdAt: t, updatedAt: t };
        const touch = this.roleTouch(r);
        const done = await this.ctx.store.txn(
          [{ key: userKey(name.value), modRevision: 0 }, ...touch.compares],
          [{ type: 'put', key: userKey(name.value), value: recordJson('user', rec) }, ...touch.ops],
        );
        if (done) return { ok: true, user: userView(rec) };
        if (await this.ctx.store.get(userKey(name.value))) return fail('user_exists', `A user named "${name.value}" already exists.`, 'name');
      }
      return fail('conflict', 'The user store kept changing; try again.');
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
    if (body.role === undefined && body.password === undefined) return fail('invalid_request', 'Nothing to change: give role and/or password.');
    const role = body.role === undefined ? undefined : checkRoleName(body.role, 'role');
    if (role && !role.ok) return role;
    const pw = body.password === undefined ? undefined : checkPassword(body.password, name, 'password');
    if (pw && !pw.ok) return pw;
    const password = pw ? await hashPassword(pw.value, this.prm) : undefined;
    return this.ctx.guard('updateUser', async () => {
      for (let attempt = 0; attempt < MAX_TXN_ATTEMPTS; attempt++) {
        const kv = NAME_RE.test(name) ? await this.ctx.store.get(userKey(name)) : undefined;
        const cur = parse<UserRecord>(kv, 'user');
        if (!kv || !cur) return fail('user_not_found', `No user named "${name}".`);
        const compares: Compare[] = [{ key: kv.key, modRevision: kv.modRevision }];
        const ops: TxnOp[] = [];
        const next: UserRecord = { ...cur, updatedAt: this.ctx.iso() };
        if (role?.ok && role.value !== cur.role) {
          const r = await this.roleOf(role.value);
          if (!r) return fail('invalid_role', `No role named "${role.value}".`, 'role');
          const wasManager = await this.holds(cur.role, 'ManageUsers');
          if (wasManager && !effectivePermissions(r.role).includes('ManageUsers')) {
            const others = await this.otherManagers(name);
            if (others.names.length === 0)
              return fail('last_admin', `"${name}" is the last user who can manage users; give another user that right first.`, 'role');
            compares.push(...others.compares);
          }
          const touch = this.roleTouch(r);
          compares.push(...touch.compares);
          ops.push(...touch.ops);
          next.role = role.value;
        }
        if (password) next.password = password;
        ops.unshift({ type: 'put', key: kv.key, value: recordJson('user', next) });
        if (await this.ctx.store.txn(compares, ops)) {
          if (password) await this.revoke.dropSessions(name, keepSession);
          return { ok: true, user: userView(next) };
        }
      }
      return fail('conflict', 'The user store kept changing; try again.');
    });
  }

  /** Deletes a user; `caller` (the user asking, when a user asks) may not delete themselves. */
  async deleteUser(name: string, caller?: string): Promise<Result<object>> {
    if (caller !== undefined && caller === name)
      return fail('self_delete', `You cannot delete your own account ("${name}"); another user who can manage users must do it.`);
    return this.ctx.guard('deleteUser', async () => {
      for (let attempt = 0; attempt < MAX_TXN_ATTEMPTS; attempt++) {
        const kv = NAME_RE.test(name) ? await this.ctx.store.get(userKey(name)) : undefined;
        const cur = parse<UserRecord>(kv, 'user');
        if (!kv || !cur) return fail('user_not_found', `No user named "${name}".`);
        const compares: Compare[] = [{ key: kv.key, modRevision: kv.modRevision }];
        if (await this.holds(cur.role, 'ManageUsers')) {
          const others = await this.otherManagers(name);
          if (others.names.length === 0) return fail('last_admin', `"${name}" is the last user who can manage users and cannot be deleted.`);
          compares.push(...others.compares);
        }
        if (await this.ctx.store.txn(compares, [{ type: 'delete', key: kv.key }])) {
          await this.revoke.dropSessions(name);
          await this.revoke.dropTokens(name);
          return { ok: true };
        }
      }
      return fail('conflict', 'The user store kept changing; try again.');
    });
  }

  /** A user changes their own password, proving the current one. */
  async changeOwnPassword(name: string, current: unknown, next: unknown, keepSession?: string): Promise<Result<object>> {
    if (typeof current !== 'string' || current === '') return fail('invalid_password', 'The current password is required.', 'currentPassword');
    const pw = checkPassword(next, name, 'newPassword');
    if (!pw.ok) return pw;
    return this.ctx.guard('changeOwnPassword', async () => {
      const rec = parse<UserRecord>(await this.ctx.store.get(userKey(name)), 'user');
      if (!rec || !(await verifyPassword(current, rec.password))) return fail('wrong_password', 'The current password is wrong.', 'currentPassword');
      const r = await this.updateUser(name, { password: pw.value }, keepSession);
      return r.ok ? { ok: true } : r;
    });
  }

  // ---- identities (for sessions and tokens) ----------------------------------------------------

  /** The user and their role's permissions, or undefined when no such user exists. */
  async identityOf(user: string): Promise<Identity | undefined> {
    const rec = NAME_RE.test(user) ? parse<UserRecord>(await this.ctx.store.get(userKey(user)), 'user') : undefined;
    if (!rec) return undefined;
    const r = await this.roleOf(rec.role);
    return { user: rec.name, role: rec.role, permissions: r ? effectivePermissions(r.role) : [] };
  }

  private dummyHash(): Promise<PasswordHash> {
    this.dummy ??= hashPassword(randomId(18), this.prm);
    return this.dummy;
  }

  /**
   * The identity of a username and password, or undefined. An unknown user and a wrong password take
   * the same time (a dummy hash is verified for unknown users). A hash made with weaker parameters than
   * today's is remade now that the password is known. Throws when the store is unreachable.
   */
  async checkCredentials(username: string, password: string): Promise<Identity | undefined> {
    const kv = NAME_RE.test(username) ? await this.ctx.store.get(userKey(username)) : undefined;
    const rec = parse<UserRecord>(kv, 'user');
    const ok = await verifyPassword(password, rec?.password ?? (await this.dummyHash()));
    if (!rec || !kv || !ok) return undefined;
    if (weakerThan(rec.password, this.prm)) {
      const next = { ...rec, password: await hashPassword(password, this.prm) };
      await this.ctx.store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ type: 'put', key: kv.key, value: recordJson('user', next) }]);
    }
    return this.identityOf(rec.name);
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
    const users = await this.ctx.store.list(USERS);
    if (users.length > 0) return { created: false, generated: false };
    const flag = await this.ctx.store.get(SETUP_KEY);
    if (flag && opts.adminPassword === undefined) {
      this.ctx.log.warn('no user exists and the first admin was made before: add one with `portway user add <name> --role admin --password-stdin`');
      return { created: false, generated: false };
    }
    const generated = opts.adminPassword === undefined;
    const password = opts.adminPassword ?? generatePassword();
    const t = this.ctx.iso();
    const rec: UserRecord = { name: 'admin', role: 'admin', password: await hashPassword(password, this.prm), createdAt: t, updatedAt: t };
    const compares: Compare[] = [{ key: userKey('admin'), modRevision: 0 }];
    if (!flag) compares.push({ key: SETUP_KEY, modRevision: 0 });
    const done = await this.ctx.store.txn(compares, [
      { type: 'put', key: userKey('admin'), value: recordJson('user', rec) },
      { type: 'put', key: SETUP_KEY, value: recordJson('setup', { firstAdmin: 'admin', at: t, generated }) },
    ]);
    if (!done) return { created: false, generated: false }; // another node made it
    await this.audit.append({ user: 'system', via: 'system' }, 'user.create', 'user:admin', 'ok', { role: 'admin', first: true, generated });
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
    this.ctx.log.info({ user: 'admin', generated }, 'first admin created');
    return { created: true, generated };
  }
}
