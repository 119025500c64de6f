/**
 * Access control for the HTTP API: who is calling (session cookie or API token), CSRF for cookie
 * requests, and each route's permission.
 *
 * Routes declare what they need in their config, once (the API document shows it from there):
 *   app.post('/api/v1/disks', { config: { permission: 'AddDisk' } }, handler)
 *   app.get('/api/v1/audit', { config: { permission: ['ManageUsers', 'AddDisk'] } }, handler)  // any of
 *   app.post('/api/v1/auth/login', { config: { public: true } }, handler)
 * Every /api route declares one or the other (test/unit/api-routes.test.ts checks). GET/HEAD routes
 * without a permission need ViewOnly (any logged-in user); any other method without one is refused
 * (403), so nothing is open by accident. Every route under /api/, and every
 * non-GET route anywhere, needs a logged-in user unless it is public.
 *
 * State changes are audited: call audit(req, ...) in a handler for a precise entry; otherwise every
 * non-GET /api/ request by a logged-in caller gets a generic entry (method, route, status) at response.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { refusedEntry } from '../domain/disk-audit.js';
import { type AuditOutcome, PERMISSIONS, type Permission, type PermissionRequirement, satisfies } from '../domain/auth.js';
import type { Actor, AuthService, Principal } from '../services/auth-service.js';
import { errText } from '../util/errors.js';
import { sendFail } from './reply.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the caller must hold (one permission, or any one of a list). */
    permission?: PermissionRequirement;
    /** No login needed (login, health, docs). */
    public?: boolean;
  }
  interface FastifyRequest {
    /** The logged-in caller, set before any handler of a non-public route runs. */
    principal: Principal | null;
    auditDone: boolean;
  }
  interface FastifyInstance {
    portwayAuth: AuthContext;
  }
}

export const SESSION_COOKIE = 'portway_session';
export const CSRF_HEADER = 'x-csrf-token';

export interface AuthPluginOptions {
  service: AuthService;
  /** false: every request acts as an anonymous admin (tests, migration); logins still work. */
  enabled: boolean;
  /** Always mark the cookie Secure (behind a TLS-terminating proxy); it is anyway when served over https. */
  secureCookie: boolean;
}

export interface AuthContext extends AuthPluginOptions {
  cookieOptions(req: FastifyRequest): { path: string; httpOnly: true; sameSite: 'strict'; secure: boolean };
}

const SAFE = new Set(['GET', 'HEAD']);

const DISABLED: Principal = { user: 'anonymous', role: 'admin', permissions: [...PERMISSIONS], via: 'auth_disabled' };

function routePath(req: FastifyRequest): string {
  return req.is404 ? (req.url.split('?')[0] ?? req.url) : (req.routeOptions.url ?? req.url);
}

/** Under /api/ by its route or by its URL (the web UI's wildcard route also matches unknown /api/ URLs). */
function isApi(req: FastifyRequest): boolean {
  return routePath(req).startsWith('/api/') || req.url.toLowerCase().startsWith('/api');
}

/** Who made the request, for the audit log. */
export function actorOf(req: FastifyRequest): Actor {
  const p = req.principal;
  return p ? { user: p.user, via: p.via, ip: req.ip } : { user: 'anonymous', via: 'anonymous', ip: req.ip };
}

/** Same-length, constant-time string comparison (of hashes, so lengths never leak). */
export function sameToken(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

/**
 * The CSRF check of a request carried by a session cookie: it must send the session's token in the
 * x-csrf-token header (proof that it comes from our own page). Sends the 403 and returns it when not;
 * undefined when the token matches.
 */
export function refuseWithoutCsrf(req: FastifyRequest, reply: FastifyReply, p: Principal) {
  const sent = req.headers[CSRF_HEADER];
  if (typeof sent === 'string' && p.csrf && sameToken(sent, p.csrf)) return undefined;
  return sendFail(reply, 'csrf_failed', `Missing or wrong CSRF token: send the ${CSRF_HEADER} header with the csrfToken from login or GET /api/v1/auth/me.`);
}

/**
 * Appends an audit entry for this request (who, what, when, target, outcome) and marks the request
 * audited so no generic entry is added. Never throws; details are scrubbed of secret-looking fields.
 */
export async function audit(req: FastifyRequest, action: string, target: string, outcome: AuditOutcome, details: Record<string, unknown> = {}): Promise<void> {
  req.auditDone = true;
  const ctx = req.server.portwayAuth;
  if (!ctx) return;
  await ctx.service.appendAudit(actorOf(req), action, target, outcome, details);
}

/** Whether the caller holds the requirement (for checks inside handlers, e.g. "own or ManageUsers"). */
export function can(req: FastifyRequest, need: PermissionRequirement): boolean {
  return req.principal !== null && satisfies(req.principal.permissions, need);
}

function unauthenticated(reply: FastifyReply, message: string, reason: string) {
  return sendFail(reply, 'unauthenticated', message, undefined, { reason });
}

export function forbidden(reply: FastifyReply, need: PermissionRequirement | null, message?: string) {
  const text =
    message ??
    (need === null
      ? 'This action is not open to anyone: its route declares no permission.'
      : `You need the ${typeof need === 'string' ? need : need.join(' or ')} permission for this.`);
  return sendFail(reply, 'forbidden', text, undefined, { permission: need });
}

async function authPluginImpl(app: FastifyInstance, opts: AuthPluginOptions): Promise<void> {
  await app.register(fastifyCookie);
  const ctx: AuthContext = {
    ...opts,
    cookieOptions: (req) => ({ path: '/', httpOnly: true, sameSite: 'strict', secure: opts.secureCookie || req.protocol === 'https' }),
  };
  app.decorate('portwayAuth', ctx);
  app.decorateRequest('principal', null);
  app.decorateRequest('auditDone', false);

  app.addHook('onRequest', async (req, reply) => {
    const cfg: { permission?: PermissionRequirement; public?: boolean } = req.is404 ? {} : (req.routeOptions.config ?? {});
    if (cfg.public === true) return;
    if (!opts.enabled) {
      req.principal = DISABLED;
      return;
    }
    const safe = SAFE.has(req.method);
    const path = routePath(req);
    if (!isApi(req) && safe) return; // the web UI's files: the login page must load

    // 1. Who is it? A bearer token, else the session cookie.
    let principal: Principal | undefined;
    try {
      const authz = req.headers.authorization;
      if (authz !== undefined) {
        const m = /^Bearer +(\S+) *$/i.exec(authz);
        principal = m ? await opts.service.authenticateToken(m[1] as string) : undefined;
        if (!principal) return unauthenticated(reply, 'The API token is not valid (wrong, revoked, or its user was deleted).', 'invalid_token');
      } else {
        const sid = req.cookies[SESSION_COOKIE];
        if (!sid) return unauthenticated(reply, 'Log in first (POST /api/v1/auth/login), or send an API token (Authorization: Bearer).', 'no_credentials');
        const r = await opts.service.authenticateSession(sid);
        if (r === undefined || r === 'expired') {
          reply.clearCookie(SESSION_COOKIE, ctx.cookieOptions(req));
          return r === 'expired'
            ? unauthenticated(reply, 'Your session has expired; log in again.', 'session_expired')
            : unauthenticated(reply, 'Your session is not valid (logged out or expired); log in again.', 'invalid_session');
        }
        principal = r;
      }
    } catch (e) {
      req.log.error({ err: errText(e) }, 'cannot check credentials');
      return sendFail(reply, 'coordination_error', 'Logins cannot be checked right now (coordination store unavailable); try again.');
    }
    req.principal = principal;
    if (req.is404) return; // authenticated: the not-found handler answers

    // 2. CSRF: a state change carried by a cookie must prove it comes from our own page.
    if (principal.via === 'session' && !safe) {
      const refused = refuseWithoutCsrf(req, reply, principal);
      if (refused) return refused;
    }

    // 3. The route's permission.
    const need: PermissionRequirement | undefined = cfg.permission ?? (safe ? 'ViewOnly' : undefined);
    if (need === undefined) {
      req.log.error({ method: req.method, route: path }, 'route declares no permission: refused');
      return forbidden(reply, null);
    }
    if (!satisfies(principal.permissions, need)) return forbidden(reply, need);
  });

  // Every state change leaves an entry, even from routes that do not call audit() themselves.
  app.addHook('onResponse', async (req, reply) => {
    if (req.auditDone || SAFE.has(req.method) || req.is404 || !req.principal) return;
    const path = routePath(req);
    if (!isApi(req)) return;
    const status = reply.statusCode;
    const outcome: AuditOutcome = status < 400 ? 'ok' : status === 403 || status === 401 ? 'denied' : 'failed';
    const params = req.params && typeof req.params === 'object' && Object.keys(req.params).length > 0 ? { params: req.params } : {};
    const known = refusedEntry(req.method, path, req.params);
    if (known) return opts.service.appendAudit(actorOf(req), known.action, known.target, outcome, { ...known.details, status });
    await opts.service.appendAudit(actorOf(req), `${req.method} ${path}`, req.url.split('?')[0] ?? req.url, outcome, { status, ...params });
  });
}

/** Registered with skip-override (as fastify-plugin does): its hooks and decorations apply app-wide. */
export const authPlugin = Object.assign(authPluginImpl, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'portway-auth',
});

export type { Permission, PermissionRequirement, Principal };
