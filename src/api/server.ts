/** The HTTP API (Fastify): error shape, OpenAPI document, routes, and the web UI's static files. */
import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { Logger } from 'pino';
import type { ClusterConfig, ResolvedSubnet } from '../domain/config.js';
import type { DiskService } from '../services/disk-service.js';
import { openApiDocument } from './openapi.js';
import { sendError } from './reply.js';
import { configRoutes } from './routes/config.js';
import { diskRoutes } from './routes/disks.js';

export interface ApiOptions {
  disks: DiskService;
  config: ClusterConfig;
  subnet1: ResolvedSubnet;
  subnet2: ResolvedSubnet;
  log: Logger;
  /** Built web UI (dist/web); not served when absent. */
  webDir?: string;
}

function clientErrorMessage(err: { code?: string; message: string }): string {
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 'The request body is too large.';
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return 'The request body must be JSON (content-type: application/json).';
  if (err.code?.startsWith('FST_ERR_CTP_') || /JSON/.test(err.message)) return 'The request body is not valid JSON.';
  return 'The request is malformed.';
}

export async function buildApi(o: ApiOptions) {
  const app = Fastify({ loggerInstance: o.log as FastifyBaseLogger, bodyLimit: 64 * 1024, forceCloseConnections: true });

  app.setErrorHandler((err: { statusCode?: number; message: string; code?: string }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status < 500) {
      const code = err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'unsupported_media_type' : 'invalid_request';
      return sendError(reply, status, code, clientErrorMessage(err));
    }
    req.log.error({ err: err.message }, 'request failed');
    return sendError(reply, 500, 'error', 'Internal error; the server log has the details.');
  });
  app.setNotFoundHandler((req, reply) => {
    if (req.url.startsWith('/api/') || !o.webDir) return sendError(reply, 404, 'not_found', `No route ${req.method} ${req.url.split('?')[0]}`);
    return reply.sendFile('index.html');
  });

  app.get('/api/docs', async () => openApiDocument);
  app.get('/api/v1/health', async () => ({ ok: true }));
  configRoutes(app, o);
  diskRoutes(app, o.disks);

  if (o.webDir && existsSync(o.webDir)) await app.register(fastifyStatic, { root: o.webDir, prefix: '/' });
  return app;
}
