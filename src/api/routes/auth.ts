/** Login, logout, who am I, own password, API tokens. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { NAME_RE } from '../../domain/auth.js';
import type { AuthService, Principal } from '../../services/auth-service.js';
import { SESSION_COOKIE, audit, can, refuseWithoutCsrf } from '../auth-plugin.js';
import type { LoginGuard } from '../login-limit.js';
import { sendFail, sendFailure } from '../reply.js';
import { answer, described, noContent, operations } from '../route.js';
import { LoginRequest, Me, PasswordChange, TokenCreated, TokenIdParams, TokenRequest, TokenView, TokensQuery } from '../schemas.js';
import type { Me as MeView, LoginRequest as Login, TokenCreated as Created } from '../wire.js';

function me(p: Principal, idleMs: number): MeView {
  return {
    user: { name: p.user, role: p.role, permissions: p.permissions },
    via: p.via,
    ...(p.csrf ? { csrfToken: p.csrf } : {}),
    sessionIdleSeconds: Math.round(idleMs / 1000),
  };
}

const op = operations(['logins and tokens']);

export function authRoutes(app: FastifyInstance, auth: AuthService, guard: LoginGuard): void {
  const login = op('public', 'Log in: sets the session cookie, returns the CSRF token', {
    description:
      'Failed logins are limited per username and per client address: past the limit the username or address is refused with 429 `too_many_login_failures` (Retry-After: seconds) until the counting window ends.',
    body: LoginRequest,
    reply: [200, described(Me, 'The caller')],
    errors: [400, 401, 429, 503],
  });
  app.post<{ Body: Login }>('/api/v1/auth/login', login, async (req, reply) => {
    const body = req.body;
    const valid = NAME_RE.test(body.username);
    const who = valid ? body.username : '(not a valid username)';
    const locked = guard.refusal(req, valid ? body.username : undefined);
    if (locked) {
      req.auditDone = true; // the lock-out itself was audited when it began
      reply.header('retry-after', String(locked.retryAfterSeconds));
      const what = locked.by === 'user' ? 'this username' : 'your address';
      return sendFail(reply, 'too_many_login_failures', `Too many failed logins for ${what}; try again in ${locked.retryAfterSeconds} s.`, undefined, {
        lockedBy: locked.by,
        retryAfterSeconds: locked.retryAfterSeconds,
      });
    }
    const r = await auth.login(body.username, body.password);
    if (!r.ok) {
      if (r.code === 'invalid_credentials') {
        await audit(req, 'auth.login', `user:${who}`, 'failed', { reason: 'wrong username or password' });
        for (const l of await guard.failed(req, valid ? body.username : undefined))
          await audit(req, 'auth.lockout', l.by === 'user' ? `user:${l.target}` : `address:${l.target}`, 'denied', {
            reason: `too many failed logins for this ${l.by === 'user' ? 'username' : 'address'}`,
            seconds: l.retryAfterSeconds,
          });
      }
      return sendFailure(reply, r);
    }
    // A new login replaces the session this browser had (no fixation, no leftovers).
    const old = req.cookies[SESSION_COOKIE];
    if (old) {
      const prev = await auth.authenticateSession(old).catch(() => undefined);
      if (prev && prev !== 'expired' && prev.sessionKey) await auth.logout(prev.sessionKey).catch(() => {});
    }
    reply.setCookie(SESSION_COOKIE, r.sessionId, app.portwayAuth.cookieOptions(req));
    req.principal = r.principal;
    await audit(req, 'auth.login', `user:${r.principal.user}`, 'ok');
    return me(r.principal, auth.sessionIdleMs);
  });

  // Public so a stale cookie can always be cleared; a live session must still prove its CSRF token.
  const logout = op('public', 'Log out (deletes the session)', {
    description: 'A live session must send its CSRF token (x-csrf-token); a stale cookie is cleared.',
    reply: [204, noContent('Logged out')],
    errors: [403, 503],
  });
  app.post('/api/v1/auth/logout', logout, async (req, reply) => {
    const sid = req.cookies[SESSION_COOKIE];
    if (sid) {
      let p: Principal | 'expired' | undefined;
      try {
        p = await auth.authenticateSession(sid);
      } catch {
        return sendFail(reply, 'coordination_error', 'Logins cannot be checked right now (coordination store unavailable); try again.');
      }
      if (p && p !== 'expired') {
        const refused = refuseWithoutCsrf(req, reply, p);
        if (refused) return refused;
        req.principal = p;
        if (p.sessionKey) await auth.logout(p.sessionKey);
        await audit(req, 'auth.logout', `user:${p.user}`, 'ok');
      }
    }
    reply.clearCookie(SESSION_COOKIE, app.portwayAuth.cookieOptions(req));
    req.auditDone = true;
    return reply.code(204).send();
  });

  app.get(
    '/api/v1/auth/me',
    op('ViewOnly', 'The logged-in user, role, permissions and CSRF token', { reply: [200, described(Me, 'The caller')] }),
    async (req) => me(req.principal as Principal, auth.sessionIdleMs),
  );

  const password = op('ViewOnly', 'Change your own password (your other sessions are logged out)', {
    body: PasswordChange,
    reply: [204, noContent('Changed')],
    errors: [400, 404, 409, 503],
  });
  app.post<{ Body: { currentPassword: string; newPassword: string } }>('/api/v1/auth/password', password, async (req, reply) => {
    const p = req.principal as Principal;
    const r = await auth.changeOwnPassword(p.user, req.body.currentPassword, req.body.newPassword, p.sessionKey);
    await audit(req, 'user.password', `user:${p.user}`, r.ok ? 'ok' : 'failed', r.ok ? {} : { code: r.code });
    return answer(reply, r, () => undefined, 204);
  });

  const newToken = op('ViewOnly', 'Create an API token; the token is returned this once only', {
    body: TokenRequest,
    reply: [201, described(TokenCreated, 'The token')],
    errors: [400, 404, 409, 503],
  });
  app.post<{ Body: { name: string } }>('/api/v1/auth/tokens', newToken, async (req, reply) => {
    const p = req.principal as Principal;
    const r = await auth.createToken(p.user, req.body);
    const details = r.ok ? { name: r.info.name, owner: p.user } : { code: r.code };
    await audit(req, 'token.create', r.ok ? `token:${r.info.id}` : `user:${p.user}`, r.ok ? 'ok' : 'failed', details);
    const note = 'This is the only time the token is shown; store it now.';
    return answer(reply, r, (ok): Created => ({ token: ok.token, ...ok.info, note }), 201);
  });

  const tokens = op('ViewOnly', "Your API tokens (?all=true: everyone's, needs ManageUsers); never the secret", {
    querystring: TokensQuery,
    reply: [200, Type.Object({ tokens: Type.Array(TokenView) }, { description: 'Tokens' })],
    errors: [503],
  });
  app.get<{ Querystring: { all?: string } }>('/api/v1/auth/tokens', tokens, async (req, reply) => {
    const all = req.query.all === 'true' || req.query.all === '1';
    if (all && !can(req, 'ManageUsers'))
      return sendFail(reply, 'forbidden', "You need the ManageUsers permission to list every user's tokens.", undefined, { permission: 'ManageUsers' });
    return answer(reply, await auth.listTokens(all ? undefined : (req.principal as Principal).user), (r) => ({ tokens: r.tokens }));
  });

  const revoke = op('ViewOnly', "Revoke a token (your own; anyone's with ManageUsers)", {
    params: TokenIdParams,
    reply: [204, noContent('Revoked')],
    errors: [404, 503],
  });
  app.delete<{ Params: { id: string } }>('/api/v1/auth/tokens/:id', revoke, async (req, reply) => {
    const owner = can(req, 'ManageUsers') ? undefined : (req.principal as Principal).user;
    const r = await auth.revokeToken(req.params.id, owner);
    await audit(req, 'token.revoke', `token:${req.params.id}`, r.ok ? 'ok' : 'failed', r.ok ? { name: r.token.name, owner: r.token.user } : { code: r.code });
    return answer(reply, r, () => undefined, 204);
  });
}
