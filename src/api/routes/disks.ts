import type { FastifyInstance } from 'fastify';
import type { DiskService, DiskView } from '../../services/disk-service.js';
import { errors } from '../docs.js';
import { sendFailure } from '../reply.js';
import { AddDiskRequest, AttachRequest, ClusterUsage, DiskIdParams, DiskRef, EditDiskRequest, FreeImage, PathRef } from '../schemas.js';
import { Type } from '@sinclair/typebox';

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

const tags = ['disks'];
const DiskReply = (description: string) => Type.Object({ disk: DiskRef }, { description });

export function diskRoutes(app: FastifyInstance, disks: DiskService): void {
  app.get(
    '/api/v1/disks',
    {
      config: { permission: 'ViewOnly' },
      schema: {
        tags,
        summary: 'Every disk',
        response: { 200: Type.Object({ disks: Type.Array(DiskRef) }, { description: 'Disks, by id' }), ...errors(503) },
      },
    },
    async (_req, reply) => {
      const r = await disks.list();
      // Sent as the cached string: the reply schema documents it (a string is not serialized again).
      return r.ok ? reply.type('application/json; charset=utf-8').send(listJson(r.disks)) : sendFailure(reply, r);
    },
  );

  app.post<{ Body: unknown }>(
    '/api/v1/disks',
    {
      config: { permission: 'AddDisk' },
      schema: {
        tags,
        summary: 'Add a disk (returns at once; the paths are served shortly after)',
        description: 'docs/PRODUCT.md lists every outcome with its code. The disk is `starting` until every path is served.',
        body: AddDiskRequest,
        response: { 201: DiskReply('Added'), ...errors(400, 409, 503) },
      },
    },
    async (req, reply) => {
      const r = await disks.add(req.body as Parameters<DiskService['add']>[0]);
      if (!r.ok) return sendFailure(reply, r);
      return reply.code(201).send({ disk: r.disk });
    },
  );

  app.patch<{ Params: { id: string } }>(
    '/api/v1/disks/:id',
    {
      config: { permission: 'EditDisk' },
      schema: {
        tags,
        summary: 'Edit: rename, grow (never shrink), ACL, CHAP, placement',
        description: 'A placement change moves the paths to match (a started disk stays served). auth {mode:"chap", user} without password keeps the password.',
        params: DiskIdParams,
        body: EditDiskRequest,
        response: { 200: DiskReply('The disk, edited'), ...errors(400, 404, 409, 503) },
      },
    },
    async (req, reply) => {
      const r = await disks.edit(req.params.id, req.body as Parameters<DiskService['edit']>[1]);
      return r.ok ? { disk: r.disk } : sendFailure(reply, r);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/v1/disks/:id/stop',
    {
      config: { permission: 'StartStopDisk' },
      schema: {
        tags,
        summary: 'Stop: paths released, targets removed (status stopping, then stopped). Idempotent.',
        params: DiskIdParams,
        response: { 200: DiskReply('The disk'), ...errors(404, 409, 503) },
      },
    },
    async (req, reply) => {
      const r = await disks.stop(req.params.id);
      return r.ok ? { disk: r.disk } : sendFailure(reply, r);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/v1/disks/:id/start',
    {
      config: { permission: 'StartStopDisk' },
      schema: {
        tags,
        summary: 'Start: paths served again. Idempotent.',
        params: DiskIdParams,
        response: { 200: DiskReply('The disk'), ...errors(404, 409, 503) },
      },
    },
    async (req, reply) => {
      const r = await disks.start(req.params.id);
      return r.ok ? { disk: r.disk } : sendFailure(reply, r);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/v1/disks/:id/detach',
    {
      config: { permission: 'DeleteDisk' },
      schema: {
        tags,
        summary: 'Detach a stopped disk: the image is kept (marked detached), the disk leaves the SAN.',
        params: DiskIdParams,
        response: { 200: Type.Object({ image: Type.String() }, { description: 'The image kept' }), ...errors(404, 409, 503) },
      },
    },
    async (req, reply) => {
      const r = await disks.detach(req.params.id);
      return r.ok ? { image: r.image } : sendFailure(reply, r);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/disks/:id',
    {
      config: { permission: 'DeleteDisk' },
      schema: {
        tags,
        summary: 'Delete a stopped disk: its image and every key are removed',
        params: DiskIdParams,
        response: { 200: Type.Object({ id: Type.String() }, { description: 'Deleted' }), ...errors(404, 409, 503) },
      },
    },
    async (req, reply) => {
      const r = await disks.delete(req.params.id);
      return r.ok ? { id: r.id } : sendFailure(reply, r);
    },
  );

  app.get(
    '/api/v1/cluster/usage',
    {
      config: { permission: 'ViewOnly' },
      schema: {
        tags: ['config'],
        summary: 'Bytes used and total of the storage backend',
        response: { 200: { ...ClusterUsage, description: 'Usage' }, ...errors(503) },
      },
    },
    async (_req, reply) => {
      const r = await disks.capacity();
      return r.ok ? { usedBytes: r.usedBytes, totalBytes: r.totalBytes } : sendFailure(reply, r);
    },
  );

  app.get(
    '/api/v1/images',
    {
      config: { permission: 'ViewOnly' },
      schema: {
        tags,
        summary: 'Images that are not disks (detached or made outside Portway)',
        response: { 200: Type.Object({ images: Type.Array(FreeImage) }, { description: 'Images' }), ...errors(503) },
      },
    },
    async (_req, reply) => {
      const r = await disks.freeImages();
      return r.ok ? { images: r.images } : sendFailure(reply, r);
    },
  );

  app.post<{ Body: unknown }>(
    '/api/v1/images/attach',
    {
      config: { permission: 'AddDisk' },
      schema: {
        tags,
        summary: 'Attach an image as a disk',
        description: "{image, keepPaths: true} keeps a detached disk's id, name and IPs; otherwise the add-disk fields apply.",
        body: AttachRequest,
        response: { 201: DiskReply('Attached'), ...errors(400, 404, 409, 503) },
      },
    },
    async (req, reply) => {
      const r = await disks.attach(req.body as Parameters<DiskService['attach']>[0]);
      if (!r.ok) return sendFailure(reply, r);
      return reply.code(201).send({ disk: r.disk });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/disks/:id',
    {
      config: { permission: 'ViewOnly' },
      schema: { tags, summary: 'One disk', params: DiskIdParams, response: { 200: DiskReply('The disk'), ...errors(404, 503) } },
    },
    async (req, reply) => {
      const r = await disks.get(req.params.id);
      return r.ok ? { disk: r.disk } : sendFailure(reply, r);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/disks/:id/paths',
    {
      config: { permission: 'ViewOnly' },
      schema: {
        tags,
        summary: "A disk's paths: IP and serving node",
        params: DiskIdParams,
        response: { 200: Type.Object({ paths: Type.Array(PathRef) }, { description: 'Paths, by number' }), ...errors(404, 503) },
      },
    },
    async (req, reply) => {
      const r = await disks.paths(req.params.id);
      return r.ok ? { paths: r.paths } : sendFailure(reply, r);
    },
  );

  // Event streams never end by themselves: a stopping server ends them so close() can finish.
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });

  app.get(
    '/api/v1/events',
    {
      config: { permission: 'ViewOnly' },
      schema: {
        tags,
        summary: 'Server-sent events: `disks` with the whole list on every change',
        description: 'event: disks, data: {"disks": [Disk...]} at once and on every change; event: error, data: {code, message} when the list cannot be read.',
        response: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } } },
      },
    },
    async (req, reply) => {
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
    },
  );
}
