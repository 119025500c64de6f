/**
 * Login sessions (cookie) and API tokens (bearer): how a request proves who it is. Session ids and
 * token secrets are 256-bit random and stored only as SHA-256 hashes.
 */
import { randomBytes } from 'node:crypto';
import type { TokenView } from '../../api/wire.js';
import {
  SESSIONS,
  type SessionRecord,
  TOKENS,
  TOKEN_ID_RE,
  type Via,
  checkTokenName,
  formatToken,
  parseToken,
  sessionExpired,
  sessionKey,
  sessionNeedsTouch,
  tokenKey,
  userKey,
} from '../../domain/auth.js';
import { errText } from '../../util/errors.js';
import { fail } from '../../domain/outcomes.js';
import { recordJson } from '../../domain/records.js';
import { type AuthContext, type Result, parse } from './common.js';
import { randomId, sameSecret, sha256 } from './password.js';
import type { AccessRevoker, Identity } from './users-roles.js';

/** The logged-in identity of a request. */
export interface Principal extends Identity {
  via: Via;
  /** Cookie sessions: the session's store key and its CSRF token. */
  sessionKey?: string;
  csrf?: string;
  /** API tokens: the token's id. */
  tokenId?: string;
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

export type { TokenView };

/** Who the sessions and tokens belong to (UsersRoles). */
export interface Identities {
  identityOf(user: string): Promise<Identity | undefined>;
  checkCredentials(username: string, password: string): Promise<Identity | undefined>;
}

const SESSION_ID_RE = /^[A-Za-z0-9_-]{43}$/;

const tokenView = (t: TokenRecord): TokenView => ({ id: t.id, name: t.name, user: t.user, createdAt: t.createdAt, lastUsedAt: t.lastUsedAt ?? null });

export class SessionsTokens implements AccessRevoker {
  constructor(
    private readonly ctx: AuthContext,
    private readonly users: Identities,
    /** Idle timeout of login sessions. */
    readonly sessionIdleMs: number,
    /** Longest lifetime of a login session, however active (undefined: no limit). */
    readonly sessionMaxMs?: number,
  ) {}

  // ---- login sessions --------------------------------------------------------------------------

  /**
   * Checks a username and password. The answer for an unknown user and for a wrong password is the
   * same, and takes the same time (a dummy hash is verified for unknown users).
   */
  async login(username: unknown, password: unknown): Promise<Result<{ sessionId: string; principal: Principal }>> {
    const wrong = fail('invalid_credentials', 'Wrong username or password.');
    if (typeof username !== 'string' || typeof password !== 'string' || password.length > 1024) return wrong;
    return this.ctx.guard('login', async () => {
      const p = await this.users.checkCredentials(username, password);
      if (!p) return wrong;
      const sessionId = randomId(32);
      const now = this.ctx.now();
      const s: SessionRecord = { user: p.user, csrf: randomId(32), createdAt: now, lastSeenAt: now };
      const key = sessionKey(sha256(sessionId));
      await this.ctx.store.put(key, recordJson('session', s));
      void this.sweepSessions().catch((e) => this.ctx.log.warn({ err: errText(e) }, 'session sweep failed'));
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
    const kv = await this.ctx.store.get(key);
    const s = parse<SessionRecord>(kv, 'session');
    if (!kv || !s) return undefined;
    const now = this.ctx.now();
    if (sessionExpired(s, now, this.sessionIdleMs, this.sessionMaxMs)) {
      await this.ctx.store.delete(key);
      return 'expired';
    }
    const p = await this.users.identityOf(s.user);
    if (!p) {
      await this.ctx.store.delete(key);
      return undefined;
    }
    if (sessionNeedsTouch(s, now, this.sessionIdleMs)) {
      // Only if unchanged: a concurrent logout (delete) must not be undone by this write.
      await this.ctx.store.txn([{ key, modRevision: kv.modRevision }], [{ type: 'put', key, value: recordJson('session', { ...s, lastSeenAt: now }) }]);
    }
    return { ...p, via: 'session', sessionKey: key, csrf: s.csrf };
  }

  async logout(key: string): Promise<void> {
    if (key.startsWith(SESSIONS)) await this.ctx.store.delete(key);
  }

  async dropSessions(user: string, keep?: string): Promise<void> {
    for (const kv of await this.ctx.store.list(SESSIONS)) {
      if (kv.key === keep) continue;
      if (parse<SessionRecord>(kv, 'session')?.user === user) await this.ctx.store.delete(kv.key);
    }
  }

  /** Deletes expired sessions. */
  async sweepSessions(): Promise<number> {
    const now = this.ctx.now();
    const expired = (await this.ctx.store.list(SESSIONS)).filter((kv) => {
      const s = parse<SessionRecord>(kv, 'session');
      return !s || sessionExpired(s, now, this.sessionIdleMs, this.sessionMaxMs);
    });
    for (let i = 0; i < expired.length; i += 64)
      await this.ctx.store.txn(
        [],
        expired.slice(i, i + 64).map((kv) => ({ type: 'delete' as const, key: kv.key })),
      );
    return expired.length;
  }

  // ---- API tokens ------------------------------------------------------------------------------

  private async readTokens(): Promise<TokenRecord[]> {
    const out: TokenRecord[] = [];
    for (const kv of await this.ctx.store.list(TOKENS)) {
      const t = parse<TokenRecord>(kv, 'token');
      if (t && typeof t.id === 'string') out.push(t);
    }
    return out;
  }

  async dropTokens(user: string): Promise<void> {
    for (const t of await this.readTokens()) if (t.user === user) await this.ctx.store.delete(tokenKey(t.id));
  }

  /** Creates an API token for `user`; the token itself is returned here only, the store keeps its hash. */
  async createToken(user: string, body: { name?: unknown }): Promise<Result<{ token: string; info: TokenView }>> {
    const name = checkTokenName(body.name);
    if (!name.ok) return name;
    return this.ctx.guard('createToken', async () => {
      const id = randomBytes(8).toString('hex');
      const secret = randomId(32);
      const rec: TokenRecord = { id, name: name.value, user, hash: sha256(secret), createdAt: this.ctx.iso() };
      // The user must still exist when the token is made.
      const ukv = await this.ctx.store.get(userKey(user));
      if (!ukv) return fail('user_not_found', `No user named "${user}".`);
      const done = await this.ctx.store.txn(
        [
          { key: tokenKey(id), modRevision: 0 },
          { key: ukv.key, modRevision: ukv.modRevision },
        ],
        [{ type: 'put', key: tokenKey(id), value: recordJson('token', rec) }],
      );
      if (!done) return fail('conflict', 'The user changed while the token was being made; try again.');
      return { ok: true, token: formatToken(id, secret), info: tokenView(rec) };
    });
  }

  async listTokens(user?: string): Promise<Result<{ tokens: TokenView[] }>> {
    return this.ctx.guard('listTokens', async () => ({
      ok: true,
      tokens: (await this.readTokens()).filter((t) => user === undefined || t.user === user).map(tokenView),
    }));
  }

  /** Revokes a token of `owner` (any owner when owner is undefined). */
  async revokeToken(id: string, owner?: string): Promise<Result<{ token: TokenView }>> {
    const missing = fail('token_not_found', `No API token with id "${id}".`);
    if (!TOKEN_ID_RE.test(id)) return missing;
    return this.ctx.guard('revokeToken', async () => {
      const kv = await this.ctx.store.get(tokenKey(id));
      const t = parse<TokenRecord>(kv, 'token');
      if (!kv || !t || (owner !== undefined && t.user !== owner)) return missing;
      await this.ctx.store.delete(kv.key);
      return { ok: true, token: tokenView(t) };
    });
  }

  /** The principal of a bearer token, or undefined. Throws when the store is unreachable. */
  async authenticateToken(token: string): Promise<Principal | undefined> {
    const parsed = parseToken(token);
    if (!parsed) return undefined;
    const kv = await this.ctx.store.get(tokenKey(parsed.id));
    const t = parse<TokenRecord>(kv, 'token');
    if (!kv || !t || typeof t.hash !== 'string' || !sameSecret(t.hash, sha256(parsed.secret))) return undefined;
    const p = await this.users.identityOf(t.user);
    if (!p) return undefined;
    const now = this.ctx.now();
    if (!t.lastUsedAt || now - Date.parse(t.lastUsedAt) > 5 * 60_000) {
      await this.ctx.store.txn(
        [{ key: kv.key, modRevision: kv.modRevision }],
        [{ type: 'put', key: kv.key, value: recordJson('token', { ...t, lastUsedAt: new Date(now).toISOString() }) }],
      );
    }
    return { ...p, via: 'token', tokenId: t.id };
  }
}
