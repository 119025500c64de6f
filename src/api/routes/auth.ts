/** Login, logout, who am I, own password, API tokens. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AUDIT_READ, NAME_RE } from '../../domain/auth.js';
import type { AuthService, Principal, ServiceFailure } from '../../services/auth-service.js';
import { CSRF_HEADER, SESSION_COOKIE, audit, can, refuseWithoutCsrf } from '../auth-plugin.js';
import { sendError } from '../reply.js';

export function sendServiceFailure(reply: FastifyReply, f: ServiceFailure) {
  return sendError(reply, f.status, f.code, f.message, f.details);
}

/** The request body as an object with only the allowed fields, or a 400 already sent. */
export function objectBody(req: FastifyRequest, reply: FastifyReply, allowed: readonly string[]): Record<string, unknown> | undefined {
  const b = req.body;
  if (b === null || typeof b !== 'object' || Array.isArray(b)) {
    void sendError(reply, 400, 'invalid_request', 'The request body must be a JSON object.');
    return undefined;
  }
  const extra = Object.keys(b).filter((k) => !allowed.includes(k));
  if (extra.length > 0) {
    void sendError(reply, 400, 'invalid_request', `Unknown field ${JSON.stringify(extra[0])}; allowed: ${allowed.join(', ')}.`, { field: extra[0] });
    return undefined;
  }
  return b as Record<string, unknown>;
}

function me(p: Principal, idleMs: number) {
  return {
    user: { name: p.user, role: p.role, permissions: p.permissions },
    via: p.via,
    ...(p.csrf ? { csrfToken: p.csrf } : {}),
    sessionIdleSeconds: Math.round(idleMs / 1000),
  };
}

export function authRoutes(app: FastifyInstance, auth: AuthService): void {
  app.post('/api/v1/auth/login', { config: { public: true } }, async (req, reply) => {
    const body = objectBody(req, reply, ['username', 'password']);
    if (!body) return reply;
    const r = await auth.login(body.username, body.password);
    const who = typeof body.username === 'string' && NAME_RE.test(body.username) ? body.username : '(not a valid username)';
    if (!r.ok) {
      if (r.code === 'invalid_credentials') await audit(req, 'auth.login', `user:${who}`, 'failed', { reason: 'wrong username or password' });
      return sendServiceFailure(reply, r);
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
  app.post('/api/v1/auth/logout', { config: { public: true } }, async (req, reply) => {
    const sid = req.cookies[SESSION_COOKIE];
    if (sid) {
      let p: Principal | 'expired' | undefined;
      try {
        p = await auth.authenticateSession(sid);
      } catch {
        return sendError(reply, 503, 'coordination_error', 'Logins cannot be checked right now (coordination store unavailable); try again.');
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

  app.get('/api/v1/auth/me', async (req) => me(req.principal as Principal, auth.sessionIdleMs));

  app.post('/api/v1/auth/password', { config: { permission: 'ViewOnly' } }, async (req, reply) => {
    const body = objectBody(req, reply, ['currentPassword', 'newPassword']);
    if (!body) return reply;
    const p = req.principal as Principal;
    const r = await auth.changeOwnPassword(p.user, body.currentPassword, body.newPassword, p.sessionKey);
    await audit(req, 'user.password', `user:${p.user}`, r.ok ? 'ok' : 'failed', r.ok ? {} : { code: r.code });
    return r.ok ? reply.code(204).send() : sendServiceFailure(reply, r);
  });

  app.post('/api/v1/auth/tokens', { config: { permission: 'ViewOnly' } }, async (req, reply) => {
    const body = objectBody(req, reply, ['name']);
    if (!body) return reply;
    const p = req.principal as Principal;
    const r = await auth.createToken(p.user, body);
    await audit(
      req,
      'token.create',
      r.ok ? `token:${r.info.id}` : `user:${p.user}`,
      r.ok ? 'ok' : 'failed',
      r.ok ? { name: r.info.name, owner: p.user } : { code: r.code },
    );
    if (!r.ok) return sendServiceFailure(reply, r);
    return reply.code(201).send({ token: r.token, ...r.info, note: 'This is the only time the token is shown; store it now.' });
  });

  app.get<{ Querystring: { all?: string } }>('/api/v1/auth/tokens', async (req, reply) => {
    const all = req.query.all === 'true' || req.query.all === '1';
    if (all && !can(req, 'ManageUsers'))
      return sendError(reply, 403, 'forbidden', "You need the ManageUsers permission to list every user's tokens.", { permission: 'ManageUsers' });
    const r = await auth.listTokens(all ? undefined : (req.principal as Principal).user);
    return r.ok ? { tokens: r.tokens } : sendServiceFailure(reply, r);
  });

  app.delete<{ Params: { id: string } }>('/api/v1/auth/tokens/:id', { config: { permission: 'ViewOnly' } }, async (req, reply) => {
    const owner = can(req, 'ManageUsers') ? undefined : (req.principal as Principal).user;
    const r = await auth.revokeToken(req.params.id, owner);
    await audit(req, 'token.revoke', `token:${req.params.id}`, r.ok ? 'ok' : 'failed', r.ok ? { name: r.token.name, owner: r.token.user } : { code: r.code });
    return r.ok ? reply.code(204).send() : sendServiceFailure(reply, r);
  });
}

// ---- OpenAPI -------------------------------------------------------------------------------------

const err = { $ref: '#/components/schemas/Error' };
const errorResponses = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((c) => [
      String(c),
      {
        description:
          (
            {
              400: 'Invalid input',
              401: 'Not logged in',
              403: 'Forbidden or CSRF failed',
              404: 'Not found',
              409: 'Conflict',
              503: 'Store unavailable',
            } as Record<number, string>
          )[c] ?? 'Error',
        content: { 'application/json': { schema: err } },
      },
    ]),
  );
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
const me200 = {
  description: 'The caller',
  ...json({
    type: 'object',
    properties: {
      user: { type: 'object', properties: { name: { type: 'string' }, role: { type: 'string' }, permissions: { type: 'array', items: { type: 'string' } } } },
      via: { enum: ['session', 'token', 'auth_disabled'] },
      csrfToken: { type: 'string', description: 'send as x-csrf-token on every non-GET request made with the session cookie' },
      sessionIdleSeconds: { type: 'integer' },
    },
  }),
};
const userView = {
  type: 'object',
  properties: { name: { type: 'string' }, role: { type: 'string' }, createdAt: { type: 'string' }, updatedAt: { type: 'string' } },
};
const roleView = {
  type: 'object',
  properties: { name: { type: 'string' }, permissions: { type: 'array', items: { type: 'string' } }, builtin: { type: 'boolean' } },
};

/** The OpenAPI document with the access-control paths, security schemes and the x-permission of each. */
export function withAuthDocs<T extends { paths: Record<string, unknown> }>(doc: T): T & { components: object; security: object[] } {
  const p = (perm: string | string[], op: object) => ({ 'x-permission': perm, ...op });
  return {
    ...doc,
    security: [{ session: [] }, { bearer: [] }],
    components: {
      ...((doc as { components?: object }).components ?? {}),
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: `plus the ${CSRF_HEADER} header on non-GET requests` },
        bearer: { type: 'http', scheme: 'bearer', description: 'an API token from POST /api/v1/auth/tokens' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['code', 'message', 'details'],
          properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } },
        },
      },
    },
    paths: {
      ...doc.paths,
      '/api/v1/auth/login': {
        post: {
          summary: 'Log in: sets the session cookie, returns the CSRF token',
          security: [],
          requestBody: json({ type: 'object', required: ['username', 'password'], properties: { username: { type: 'string' }, password: { type: 'string' } } }),
          responses: { '200': me200, ...errorResponses(400, 401, 503) },
        },
      },
      '/api/v1/auth/logout': {
        post: { summary: 'Log out (deletes the session)', security: [], responses: { '204': { description: 'Logged out' }, ...errorResponses(403) } },
      },
      '/api/v1/auth/me': {
        get: p('ViewOnly', { summary: 'The logged-in user, role, permissions and CSRF token', responses: { '200': me200, ...errorResponses(401) } }),
      },
      '/api/v1/auth/password': {
        post: p('ViewOnly', {
          summary: 'Change your own password (other sessions are logged out)',
          requestBody: json({
            type: 'object',
            required: ['currentPassword', 'newPassword'],
            properties: { currentPassword: { type: 'string' }, newPassword: { type: 'string' } },
          }),
          responses: { '204': { description: 'Changed' }, ...errorResponses(400, 401, 403) },
        }),
      },
      '/api/v1/auth/tokens': {
        get: p('ViewOnly', {
          summary: "Your API tokens (?all=true: everyone's, needs ManageUsers); never the secret",
          parameters: [{ name: 'all', in: 'query', schema: { type: 'boolean' } }],
          responses: { '200': { description: 'Tokens' }, ...errorResponses(401, 403) },
        }),
        post: p('ViewOnly', {
          summary: 'Create an API token; the token is returned this once only',
          requestBody: json({ type: 'object', required: ['name'], properties: { name: { type: 'string' } } }),
          responses: { '201': { description: 'The token' }, ...errorResponses(400, 401, 403) },
        }),
      },
      '/api/v1/auth/tokens/{id}': {
        delete: p('ViewOnly', {
          summary: "Revoke a token (your own; anyone's with ManageUsers)",
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '204': { description: 'Revoked' }, ...errorResponses(401, 403, 404) },
        }),
      },
      '/api/v1/users': {
        get: p('ManageUsers', {
          summary: 'Every user (never a password hash)',
          responses: {
            '200': { description: 'Users', ...json({ type: 'object', properties: { users: { type: 'array', items: userView } } }) },
            ...errorResponses(401, 403),
          },
        }),
        post: p('ManageUsers', {
          summary: 'Add a user',
          requestBody: json({
            type: 'object',
            required: ['name', 'password', 'role'],
            properties: {
              name: { type: 'string', pattern: '^[a-z][a-z0-9._-]{1,31}$' },
              password: { type: 'string', minLength: 10 },
              role: { type: 'string' },
            },
          }),
          responses: { '201': { description: 'Added', ...json({ type: 'object', properties: { user: userView } }) }, ...errorResponses(400, 401, 403, 409) },
        }),
      },
      '/api/v1/users/{name}': {
        get: p('ManageUsers', {
          summary: 'One user',
          parameters: [nameParam],
          responses: { '200': { description: 'The user' }, ...errorResponses(401, 403, 404) },
        }),
        patch: p('ManageUsers', {
          summary: "Change a user's role and/or password (a new password logs their sessions out)",
          parameters: [nameParam],
          requestBody: json({ type: 'object', properties: { role: { type: 'string' }, password: { type: 'string' } } }),
          responses: { '200': { description: 'Changed' }, ...errorResponses(400, 401, 403, 404, 409) },
        }),
        delete: p('ManageUsers', {
          summary: 'Delete a user (not the last one who can manage users)',
          parameters: [nameParam],
          responses: { '204': { description: 'Deleted' }, ...errorResponses(401, 403, 404, 409) },
        }),
      },
      '/api/v1/roles': {
        get: p('ManageUsers', {
          summary: 'Every role with its permissions',
          responses: {
            '200': { description: 'Roles', ...json({ type: 'object', properties: { roles: { type: 'array', items: roleView } } }) },
            ...errorResponses(401, 403),
          },
        }),
        post: p('ManageUsers', {
          summary: 'Add a role',
          requestBody: json({
            type: 'object',
            required: ['name', 'permissions'],
            properties: { name: { type: 'string' }, permissions: { type: 'array', items: { type: 'string' } } },
          }),
          responses: { '201': { description: 'Added' }, ...errorResponses(400, 401, 403, 409) },
        }),
      },
      '/api/v1/roles/{name}': {
        delete: p('ManageUsers', {
          summary: 'Delete a custom role no user holds',
          parameters: [nameParam],
          responses: { '204': { description: 'Deleted' }, ...errorResponses(401, 403, 404, 409) },
        }),
      },
      '/api/v1/audit': {
        get: p([...AUDIT_READ], {
          summary: 'The audit log, newest first (admins and operators: any permission beyond ViewOnly)',
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
            { name: 'before', in: 'query', schema: { type: 'string' }, description: 'the `next` of the previous page' },
          ],
          responses: { '200': { description: '{entries, next}' }, ...errorResponses(400, 401, 403) },
        }),
      },
    },
  };
}
