/**
 * Users, roles, login sessions, API tokens and the audit log, all kept in the coordination store
 * (under /portway/auth/ and /portway/audit/), so every node of a cluster sees the same logins.
 *
 * This facade composes the modules of auth/ (password hashing, users and roles, sessions and tokens,
 * the audit log) behind one object, so callers need one handle.
 *
 * Secrets: passwords are stored as scrypt hashes (per-user salt and parameters); session ids and
 * API token secrets are stored only as SHA-256 hashes (they are 256-bit random, so a fast hash is
 * enough). Nothing returned by a list, and nothing logged, holds a secret.
 */
import type { Logger } from 'pino';
import type { CoordStore } from '../adapters/coord/types.js';
import type { AuditOutcome } from '../domain/auth.js';
import { type Actor, AuditLog } from './auth/audit-log.js';
import { AuthContext } from './auth/common.js';
import { DEFAULT_SCRYPT, type ScryptParams } from './auth/password.js';
import { SessionsTokens } from './auth/sessions-tokens.js';
import { UsersRoles } from './auth/users-roles.js';

export type { Actor } from './auth/audit-log.js';
export type { Result } from './auth/common.js';
export { DEFAULT_SCRYPT, generatePassword, hashPassword, type PasswordHash, type ScryptParams, verifyPassword } from './auth/password.js';
export type { Principal, TokenView } from './auth/sessions-tokens.js';
export type { RoleView, UserRecord, UserView } from './auth/users-roles.js';

export interface AuthServiceOptions {
  store: CoordStore;
  log: Logger;
  /** Idle timeout of login sessions. */
  sessionIdleMs: number;
  /** Longest lifetime of a login session, however active (absent: no limit). */
  sessionMaxMs?: number;
  /** Oldest audit entries beyond this many are pruned. */
  auditMaxEntries?: number;
  /** Hash parameters for new passwords (tests may lower them; never below N=2^10). */
  scrypt?: ScryptParams;
  now?: () => number;
}

export class AuthService {
  readonly users: UsersRoles;
  readonly access: SessionsTokens;
  readonly audit: AuditLog;

  constructor(o: AuthServiceOptions) {
    const ctx = new AuthContext(o.store, o.log, o.now);
    this.audit = new AuditLog(ctx, o.auditMaxEntries);
    // Users and sessions refer to each other (a login needs the user; deleting a user ends their
    // logins): the revoker is bound lazily.
    this.users = new UsersRoles(ctx, o.scrypt ?? DEFAULT_SCRYPT, this.audit, {
      dropSessions: (user, keep) => this.access.dropSessions(user, keep),
      dropTokens: (user) => this.access.dropTokens(user),
    });
    this.access = new SessionsTokens(ctx, this.users, o.sessionIdleMs, o.sessionMaxMs);
  }

  get sessionIdleMs(): number {
    return this.access.sessionIdleMs;
  }

  // roles and users
  listRoles = () => this.users.listRoles();
  createRole: UsersRoles['createRole'] = (body) => this.users.createRole(body);
  updateRole: UsersRoles['updateRole'] = (name, body) => this.users.updateRole(name, body);
  deleteRole: UsersRoles['deleteRole'] = (name) => this.users.deleteRole(name);
  listUsers = () => this.users.listUsers();
  getUser: UsersRoles['getUser'] = (name) => this.users.getUser(name);
  createUser: UsersRoles['createUser'] = (body) => this.users.createUser(body);
  updateUser: UsersRoles['updateUser'] = (name, body, keepSession) => this.users.updateUser(name, body, keepSession);
  deleteUser: UsersRoles['deleteUser'] = (name, caller) => this.users.deleteUser(name, caller);
  changeOwnPassword: UsersRoles['changeOwnPassword'] = (name, current, next, keepSession) => this.users.changeOwnPassword(name, current, next, keepSession);
  bootstrap: UsersRoles['bootstrap'] = (opts) => this.users.bootstrap(opts);

  // sessions and tokens
  login: SessionsTokens['login'] = (username, password) => this.access.login(username, password);
  authenticateSession: SessionsTokens['authenticateSession'] = (sessionId) => this.access.authenticateSession(sessionId);
  logout: SessionsTokens['logout'] = (key) => this.access.logout(key);
  sweepSessions = () => this.access.sweepSessions();
  createToken: SessionsTokens['createToken'] = (user, body) => this.access.createToken(user, body);
  listTokens: SessionsTokens['listTokens'] = (user) => this.access.listTokens(user);
  revokeToken: SessionsTokens['revokeToken'] = (id, owner) => this.access.revokeToken(id, owner);
  authenticateToken: SessionsTokens['authenticateToken'] = (token) => this.access.authenticateToken(token);

  // audit log
  appendAudit = (actor: Actor, action: string, target: string, outcome: AuditOutcome, details?: Record<string, unknown>) =>
    this.audit.append(actor, action, target, outcome, details);
  pruneAudit = () => this.audit.prune();
  listAudit: AuditLog['list'] = (limit, before, q) => this.audit.list(limit, before, q);
  exportAudit: AuditLog['all'] = (q) => this.audit.all(q);
}
