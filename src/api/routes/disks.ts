import type { FastifyInstance } from 'fastify';
import type { AddDiskRequest } from '../../domain/add-disk.js';
import type { EditDiskRequest } from '../../domain/edit-disk.js';
import type { DiskService, DiskView } from '../../services/disk-service.js';
import { sendError, sendFailure } from '../reply.js';

function objectBody(body: unknown): Record<string, unknown> | undefined {
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
}

/**
 * The JSON of a disk list, serialized once per list: the service returns the same array until a disk
 * changes, so repeated lists (and every event stream) send the string made the first time.
 */
const listBodies = new WeakMap<readonly DiskView[], string>();
function listJson(list: readonly DiskView[]): string {
  let body = listBodies.get(list);
  if (body === undefined) {
    body = JSON.stringify({ disks: list });
    listBodies.set(list, body);
  }
  return body;
}

export function diskRoutes(app: FastifyInstance, disks: DiskService): void {
  app.get('/api/v1/disks', async (_req, reply) => {
    const r = await disks.list();
    return r.ok ? reply.type('application/json; charset=utf-8').send(listJson(r.disks)) : sendFailure(reply, r);
  });

  app.post('/api/v1/disks', { config: { permission: 'AddDisk' } }, async (req, reply) => {
    const body = objectBody(req.body);
    if (!body) return sendError(reply, 400, 'invalid_request', 'The request body must be a JSON object.');
    const r = await disks.add(body as unknown as AddDiskRequest);
    if (!r.ok) return sendFailure(reply, r);
    return reply.code(201).send({ disk: r.disk });
  });

  app.patch<{ Params: { id: string } }>('/api/v1/disks/:id', { config: { permission: 'EditDisk' } }, async (req, reply) => {
    const body = objectBody(req.body);
    if (!body) return sendError(reply, 400, 'invalid_request', 'The request body must be a JSON object.');
    const r = await disks.edit(req.params.id, body as EditDiskRequest);
    return r.ok ? { disk: r.disk } : sendFailure(reply, r);
  });

  app.post<{ Params: { id: string } }>('/api/v1/disks/:id/stop', { config: { permission: 'StartStopDisk' } }, async (req, reply) => {
    const r = await disks.stop(req.params.id);
    return r.ok ? { disk: r.disk } : sendFailure(reply, r);
  });

  app.post<{ Params: { id: string } }>('/api/v1/disks/:id/start', { config: { permission: 'StartStopDisk' } }, async (req, reply) => {
    const r = await disks.start(req.params.id);
    return r.ok ? { disk: r.disk } : sendFailure(reply, r);
  });

  app.post<{ Params: { id: string } }>('/api/v1/disks/:id/detach', { config: { permission: 'DeleteDisk' } }, async (req, reply) => {
    const r = await disks.detach(req.params.id);
    return r.ok ? { image: r.image } : sendFailure(reply, r);
  });

  app.delete<{ Params: { id: string } }>('/api/v1/disks/:id', { config: { permission: 'DeleteDisk' } }, async (req, reply) => {
    const r = await disks.delete(req.params.id);
    return r.ok ? { id: r.id } : sendFailure(reply, r);
  });

  app.get('/api/v1/cluster/usage', async (_req, reply) => {
    const r = await disks.capacity();
    return r.ok ? { usedBytes: r.usedBytes, totalBytes: r.totalBytes } : sendFailure(reply, r);
  });

  app.get('/api/v1/images', async (_req, reply) => {
    const r = await disks.freeImages();
    return r.ok ? { images: r.images } : sendFailure(reply, r);
  });

  app.post('/api/v1/images/attach', { config: { permission: 'AddDisk' } }, async (req, reply) => {
    const body = objectBody(req.body);
    if (!body) return sendError(reply, 400, 'invalid_request', 'The request body must be a JSON object.');
    const r = await disks.attach(body as unknown as AddDiskRequest & { image?: unknown; keepPaths?: unknown });
    if (!r.ok) return sendFailure(reply, r);
    return reply.code(201).send({ disk: r.disk });
  });

  app.get<{ Params: { id: string } }>('/api/v1/disks/:id', async (req, reply) => {
    const r = await disks.get(req.params.id);
    return r.ok ? { disk: r.disk } : sendFailure(reply, r);
  });

  app.get<{ Params: { id: string } }>('/api/v1/disks/:id/paths', async (req, reply) => {
    const r = await disks.paths(req.params.id);
    return r.ok ? { paths: r.paths } : sendFailure(reply, r);
  });

  // Event streams never end by themselves: a stopping server ends them so close() can finish.
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });

  app.get('/api/v1/events', async (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    const end = () => res.end();
    streams.add(end);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    let closed = false;
    const send = async () => {
      const r = await disks.list();
      if (closed) return;
      if (r.ok) res.write(`event: disks\ndata: ${listJson(r.disks)}\n\n`);
      else res.write(`event: error\ndata: ${JSON.stringify({ code: r.code, message: r.message })}\n\n`);
    };
    const unwatch = await disks.watch(() => void send());
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    req.raw.on('close', () => {
      closed = true;
      streams.delete(end);
      clearInterval(ping);
      void unwatch();
    });
    await send();
  });
}
