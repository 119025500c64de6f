/** The HTTP API (Fastify) and the web UI's static files. */
import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { ClusterConfig, ResolvedSubnet } from '../domain/config.js';
import type { AddDiskRequest } from '../domain/add-disk.js';
import { cidrText } from '../domain/ip.js';
import { type Failure, httpStatusOf } from '../domain/outcomes.js';
import type { DiskService } from '../services/disk-service.js';
import { openApiDocument } from './openapi.js';

export interface ApiOptions {
  disks: DiskService;
  config: ClusterConfig;
  subnet1: ResolvedSubnet;
  subnet2: ResolvedSubnet;
  log: Logger;
  /** Built web UI (dist/web); not served when absent. */
  webDir?: string;
}

function sendFailure(reply: FastifyReply, f: Failure) {
  return reply.code(httpStatusOf(f.code)).send({ code: f.code, message: f.message, details: f.field ? { field: f.field } : {} });
}

function subnetView(s: ResolvedSubnet, c: ClusterConfig['subnet1']) {
  return { cidr: cidrText(s.subnet), network: cidrText(s.subnet).split('/')[0], prefix: s.subnet.prefix, mask: s.mask, autoIpFrom: c.autoIpFrom, autoIpTo: c.autoIpTo, eth: s.eth };
}

export async function buildApi(o: ApiOptions) {
  const app = Fastify({ loggerInstance: o.log, bodyLimit: 64 * 1024, forceCloseConnections: true });

  app.setErrorHandler((err: { statusCode?: number; validation?: unknown; message: string; code?: string }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status < 500) {
      const code = err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'unsupported_media_type' : 'invalid_request';
      const message = err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/.test(err.message)
        ? 'The request body is not valid JSON.'
        : err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'The request body is too large.' : 'The request is malformed.';
      return reply.code(status).send({ code, message, details: {} });
    }
    req.log.error({ err: err.message }, 'request failed');
    return reply.code(500).send({ code: 'error', message: 'Internal error; the server log has the details.', details: {} });
  });
  app.setNotFoundHandler((req, reply) => {
    if (req.url.startsWith('/api/') || !o.webDir) return reply.code(404).send({ code: 'not_found', message: `No route ${req.method} ${req.url.split('?')[0]}`, details: {} });
    return reply.sendFile('index.html');
  });

  app.get('/api/docs', async () => openApiDocument);
  app.get('/api/v1/health', async () => ({ ok: true }));
  app.get('/api/v1/config', async () => ({
    iqnBase: o.config.iqnBase,
    pool: o.config.pool,
    subnet1: subnetView(o.subnet1, o.config.subnet1),
    subnet2: subnetView(o.subnet2, o.config.subnet2),
  }));

  app.get('/api/v1/disks', async (_req, reply) => {
    const r = await o.disks.list();
    return r.ok ? { disks: r.disks } : sendFailure(reply, r);
  });

  app.post('/api/v1/disks', async (req, reply) => {
    const body = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      return reply.code(400).send({ code: 'invalid_request', message: 'The request body must be a JSON object.', details: {} });
    const r = await o.disks.add(body as AddDiskRequest);
    if (!r.ok) return sendFailure(reply, r);
    return reply.code(201).send({ disk: r.disk });
  });

  app.get<{ Params: { id: string } }>('/api/v1/disks/:id', async (req, reply) => {
    const r = await o.disks.get(req.params.id);
    return r.ok ? { disk: r.disk } : sendFailure(reply, r);
  });

  app.get<{ Params: { id: string } }>('/api/v1/disks/:id/paths', async (req, reply) => {
    const r = await o.disks.paths(req.params.id);
    return r.ok ? { paths: r.paths } : sendFailure(reply, r);
  });

  app.get('/api/v1/events', async (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    let closed = false;
    const send = async () => {
      const r = await o.disks.list();
      if (closed) return;
      if (r.ok) res.write(`event: disks\ndata: ${JSON.stringify({ disks: r.disks })}\n\n`);
      else res.write(`event: error\ndata: ${JSON.stringify({ code: r.code, message: r.message })}\n\n`);
    };
    const unwatch = await o.disks.watch(() => void send());
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    req.raw.on('close', () => {
      closed = true;
      clearInterval(ping);
      void unwatch();
    });
    await send();
  });

  if (o.webDir && existsSync(o.webDir)) await app.register(fastifyStatic, { root: o.webDir, prefix: '/' });
  return app;
}
