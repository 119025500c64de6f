/**
 * The OpenAPI document, generated from the route schemas (@fastify/swagger), and its viewer
 * (@fastify/swagger-ui): GET /api/docs is the viewer in a browser and the document for any other client
 * (curl, scripts: what /api/docs always served); GET /api/docs/json is always the document.
 *
 * What is not in a route's schema is added here from the route's own declarations, so it is written
 * once: its permission (config.permission: `x-permission` and a line of the description), that it is
 * public (config.public: no security), the 401 (and 403) a non-public route may answer, and the 503
 * `server_closing` any request may get while the server stops.
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, RouteOptions } from 'fastify';
import type { PermissionRequirement } from '../domain/auth.js';
import { CSRF_HEADER, SESSION_COOKIE } from './auth-plugin.js';
import { SHARED_SCHEMAS } from './schemas.js';

export const DOCS_PREFIX = '/api/docs';

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid input: `code` says what, `details.field` names the field',
  401: 'Not logged in (details.reason: no_credentials, invalid_session, session_expired, invalid_token)',
  403: 'forbidden: the permission in details.permission is missing; csrf_failed: a cookie request without the x-csrf-token header',
  404: 'Not found',
  409: 'Conflicts with the current state',
  429: "too_many_login_failures: too many failed logins for the username or the client address; retry after the Retry-After header's seconds",
  503: "A backend is unavailable (storage_error, coordination_error, ...), or the server is stopping (server_closing: nothing was done; retry after the Retry-After header's seconds)",
  504: 'Timed out: the agents did not finish in time',
};

/** Error replies of a route's schema, by status: the shared `Error` schema, `{code, message, details}`. */
export function errors(...statuses: number[]): Record<number, { $ref: string; description: string }> {
  return Object.fromEntries(statuses.map((s) => [s, { $ref: 'Error#', description: ERROR_TEXT[s] ?? 'Error' }]));
}

const RETRY_AFTER = { 'Retry-After': { type: 'integer', description: 'With server_closing: seconds to wait before retrying' } };

interface RouteSchema {
  description?: string;
  response?: Record<string, unknown>;
  [k: string]: unknown;
}

/** The route's schema as the document shows it: permission, security and the common error replies added. */
export function documented(schema: RouteSchema, config: { permission?: PermissionRequirement; public?: boolean } | undefined, method: string): RouteSchema {
  const response: Record<string, unknown> = { ...(schema.response ?? {}) };
  const lines = schema.description ? [schema.description] : [];
  const out: RouteSchema = { ...schema };
  if (config?.public) {
    out.security = [];
    lines.push('Public: no login needed.');
  } else {
    const need = config?.permission;
    if (need !== undefined) {
      out['x-permission'] = typeof need === 'string' ? need : [...need];
      lines.push(`Needs the ${typeof need === 'string' ? need : need.join(' or ')} permission.`);
    }
    response['401'] ??= errors(401)[401];
    // 403: a permission beyond ViewOnly (which every user holds), or a change (the CSRF check).
    if (need !== 'ViewOnly' || !['GET', 'HEAD'].includes(method)) response['403'] ??= errors(403)[403];
  }
  response['503'] = { ...((response['503'] as object | undefined) ?? errors(503)[503]), headers: RETRY_AFTER };
  if (lines.length > 0) out.description = lines.join('\n\n');
  out.response = response;
  return out;
}

/** Registers the document generator; call before any route is added (it collects them as they come). */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Portway API',
        version: '1',
        description:
          'Every error reply is {code, message, details} with a stable code; details.field names the request field at fault. Any request may get 503 server_closing (with Retry-After) while the server stops: nothing was done, and it is safe to retry.',
      },
      security: [{ session: [] }, { bearer: [] }],
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: `plus the ${CSRF_HEADER} header on non-GET requests` },
          bearer: { type: 'http', scheme: 'bearer', description: 'an API token from POST /api/v1/auth/tokens' },
        },
      },
    },
    // Shared schemas keep their $id as their name in components.schemas.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transform: ({ schema, url, route }) => {
      const r = route as RouteOptions;
      return { schema: documented((schema ?? {}) as RouteSchema, r.config as never, String(r.method)) as never, url };
    },
  });
}

/** The viewer at /api/docs (and the document at /api/docs/json); register after the routes. */
export async function registerDocsUi(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: { docExpansion: 'list', deepLinking: true },
    uiHooks: {
      // GET /api/docs from a client that does not ask for HTML (curl, scripts): the document itself.
      onRequest: (req, reply, done) => {
        const path = req.url.split('?')[0];
        if ((path === DOCS_PREFIX || path === `${DOCS_PREFIX}/`) && !String(req.headers.accept ?? '').includes('text/html')) {
          void reply.send(app.swagger());
          return;
        }
        done();
      },
    },
  });
}

/** Marks the viewer's own routes (under /api/docs) public: the document needs no login. */
export function docsRoutePublic(route: RouteOptions): void {
  if (route.url === DOCS_PREFIX || route.url.startsWith(`${DOCS_PREFIX}/`)) route.config = { ...(route.config ?? {}), public: true };
}
