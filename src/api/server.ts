/**
 * The HTTP API (Fastify): routes with their schemas (the contract: schemas.ts), the OpenAPI document
 * generated from them (docs.ts), the one error shape, and the web UI's static files.
 */
import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyBaseLogger, type RouteOptions } from 'fastify';
import type { Logger } from 'pino';
import type { ClusterConfig, ResolvedSubnet } from '../domain/config.js';
import type { DiskService } from '../services/disk-service.js';
import type { PathService } from '../services/path-service.js';
import { type AuthPluginOptions, authPlugin } from './auth-plugin.js';
import { DEFAULT_LOGIN_LIMIT, type LoginLimitOptions, loginGuard } from './login-limit.js';
import { fail, failureBody, httpStatusOf } from '../domain/outcomes.js';
import { docsRoutePublic, registerDocs, registerDocsUi } from './docs.js';
import { sendFail, sendFailure } from './reply.js';
import { described, operations } from './route.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { type ConfigSource, configRoutes } from './routes/config.js';
import type { ClusterSettingsService } from '../services/cluster-settings-service.js';
import { Type } from '@sinclair/typebox';
import { diskRoutes } from './routes/disks.js';
import { snapshotRoutes } from './routes/snapshots.js';
import { snapshotScheduleRoutes } from './routes/snapshot-schedule.js';
import { metricsRoutes } from './routes/metrics.js';
import { alertRoutes } from './routes/alerts.js';
import { ioRoutes } from './routes/io.js';
import type { IoHistory } from '../services/io-history.js';
import type { EventService } from '../services/event-service.js';
import { nodeRoutes } from './routes/nodes.js';
import type { Metrics } from '../services/metrics.js';
import { pathRoutes } from './routes/paths.js';
import { userRoutes } from './routes/users.js';
import { schemaFailure, validatorCompiler } from './validation.js';

export interface ApiOptions {
  disks: DiskService;
  /** Path moves, rebalance, nodes, drain (src/services/path-service.ts). */
  paths?: PathService;
  config: ClusterConfig;
  subnet1: ResolvedSubnet;
  subnet2: ResolvedSubnet;
  /** What the server works with now, when it changes with the cluster settings (else config/subnet1/subnet2). */
  current?: () => ConfigSource;
  /** The cluster settings in the store: GET/PUT /api/v1/settings/cluster. */
  clusterSettings?: ClusterSettingsService;
  log: Logger;
  /** Built web UI (dist/web); not served when absent. */
  webDir?: string;
  /** Logins, permissions, audit (src/api/auth-plugin.ts). */
  auth: AuthPluginOptions;
  /** Serve over HTTPS with this certificate and key (PEM); plain HTTP when absent. */
  https?: { cert: string; key: string };
  /** Failed-login limits (src/api/login-limit.ts); DEFAULT_LOGIN_LIMIT when absent. */
  loginLimit?: LoginLimitOptions;
  /** Prometheus metrics: GET /metrics and the request latency histogram (services/metrics.ts). */
  metrics?: Metrics;
  /** Cluster events and health (services/event-service.ts): /api/v1/alerts. */
  events?: EventService;
  /** I/O rates of the last hour (services/io-history.ts). */
  io?: IoHistory;
  /** Told every route as it is registered (tests list them: test/unit/api-routes.test.ts). */
  onRoute?: (route: RouteOptions) => void;
}

function clientErrorMessage(err: { code?: string; message: string }): string {
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 'The request body is too large.';
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return 'The request body must be JSON (content-type: application/json).';
  if (err.code?.startsWith('FST_ERR_CTP_') || /JSON/.test(err.message)) return 'The request body is not valid JSON.';
  return 'The request is malformed.';
}

/** Retry-After (seconds) of the 503 `server_closing` reply: about a restart of the product. */
const RETRY_AFTER_CLOSING_S = 5;

const Health = Type.Object({ ok: Type.Literal(true) });

export async function buildApi(o: ApiOptions) {
  const app = Fastify({
    ...(o.https ? { https: { cert: o.https.cert, key: o.https.key } } : {}),
    loggerInstance: o.log as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
    // A stop lets requests in flight finish; idle keep-alive connections are closed at once.
    forceCloseConnections: 'idle',
    // Requests that arrive while the server closes (pipelined, or on a connection that was busy) get
    // the API's own 503 from the onRequest hook below, not Fastify's {error, statusCode} body.
    return503OnClosing: false,
    // Errors Fastify raises before routing (a bad %-escape in the URL...) get the API's error shape too.
    frameworkErrors: (err, _req, reply) => sendFail(reply, 'invalid_request', clientErrorMessage(err)),
    // Requests Node's HTTP parser rejects (a 10 KB URL, a broken request line) get a JSON error too.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const f =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? fail('headers_too_large', 'The request headers or URL are too large.')
          : fail('invalid_request', 'The request is malformed.');
      const status = httpStatusOf(f.code);
      const body = JSON.stringify(failureBody(f));
      socket.end(
        `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    },
  });
  // While closing, responses to requests still in flight close their connection: keep-alive
  // connections would otherwise hold close() until their timeout.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // A request that arrives while the server closes is refused before anything runs (first hook, before
  // the auth plugin's), in the API's error shape with a stable code: the client may retry it safely.
  app.addHook('onRequest', async (_req, reply) => {
    if (!closing) return;
    reply.header('retry-after', String(RETRY_AFTER_CLOSING_S));
    return sendFailure(reply, fail('server_closing', 'The server is stopping; nothing was done. Retry in a few seconds.'));
  });
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.setValidatorCompiler(validatorCompiler);
  app.addHook('onRoute', (route) => {
    docsRoutePublic(route);
    o.onRoute?.(route);
  });
  await app.register(authPlugin, o.auth); // first: its hooks must cover every route and the not-found handler
  await registerDocs(app); // before the routes: it collects them as they are added

  app.setErrorHandler((err: { statusCode?: number; message: string; code?: string; validation?: unknown; validationContext?: string }, req, reply) => {
    if (Array.isArray(err.validation)) return sendFailure(reply, schemaFailure(err.validation, err.validationContext));
    const status = err.statusCode ?? 500;
    if (status < 500) {
      const code =
        status === 413 ? 'payload_too_large' : status === 415 || err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'unsupported_media_type' : 'invalid_request';
      return sendFail(reply, code, clientErrorMessage(err));
    }
    req.log.error({ err: err.message }, 'request failed');
    return sendFail(reply, 'error', 'Internal error; the server log has the details.');
  });
  app.setNotFoundHandler((req, reply) => {
    if (req.url.startsWith('/api/') || !o.webDir) return sendFail(reply, 'not_found', `No route ${req.method} ${(req.url.split('?')[0] ?? '').slice(0, 100)}`);
    return reply.sendFile('index.html');
  });

  app.get('/api/v1/health', operations(['config'])('public', 'Is the server up', { reply: [200, described(Health, 'Up')] }), async () => ({
    ok: true as const,
  }));
  if (o.metrics) metricsRoutes(app, o.metrics);
  if (o.events) alertRoutes(app, o.events);
  if (o.io) ioRoutes(app, o.io);
  authRoutes(app, o.auth.service, await loginGuard(app, o.loginLimit ?? DEFAULT_LOGIN_LIMIT));
  userRoutes(app, o.auth.service);
  auditRoutes(app, o.auth.service);
  configRoutes(app, o.current ?? (() => ({ config: o.config, subnet1: o.subnet1, subnet2: o.subnet2 })), o.disks, o.clusterSettings);
  diskRoutes(app, o.disks);
  snapshotRoutes(app, o.disks.snapshots);
  snapshotScheduleRoutes(app, o.disks.schedules);
  if (o.paths) {
    pathRoutes(app, o.paths, o.disks);
    nodeRoutes(app, o.paths, o.disks);
  }
  await registerDocsUi(app);

  if (o.webDir && existsSync(o.webDir)) await app.register(fastifyStatic, { root: o.webDir, prefix: '/' });
  return app;
}
