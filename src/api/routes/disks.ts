import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { diskChanges, diskFields, diskNames, diskTarget, requestedFields } from '../../domain/disk-audit.js';
import type { Failure } from '../../domain/outcomes.js';
import type { DiskService, DiskView } from '../../services/disk-service.js';
import { audit } from '../auth-plugin.js';
import { sendFailure } from '../reply.js';
import { answer, described, operations } from '../route.js';
import {
  AddDiskRequest,
  AttachRequest,
  IpPreview,
  IpPreviewQuery,
  ClusterUsage,
  DiskIdParams,
  DiskRef,
  EditDiskRequest,
  ForceBody,
  ForceQuery,
  FreeImage,
  PathRef,
} from '../schemas.js';

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

const op = operations(['disks']);
const DiskReply = (description: string) => Type.Object({ disk: DiskRef }, { description });
type ById = { Params: { id: string } };

/** An entry's outcome and the failure's code. */
const outcomeOf = (r: { ok: true } | Failure) => (r.ok ? ('ok' as const) : ('failed' as const));
const failureOf = (r: { ok: true } | Failure) => (r.ok ? {} : { code: r.code, error: r.message });

export function diskRoutes(app: FastifyInstance, disks: DiskService): void {
  /** The disk as it is now, for the audit entry of an action on it (undefined when it cannot be read). */
  const current = async (id: string): Promise<DiskView | undefined> => {
    const r = await disks.get(id);
    return r.ok ? r.disk : undefined;
  };
  const named = (id: string, d: DiskView | undefined) => (d ? diskNames(d) : { diskId: String(id).slice(0, 20) });
  const stopStart = async (req: FastifyRequest<ById>, reply: FastifyReply, what: 'stop' | 'start', force = false) => {
    const was = await current(req.params.id);
    const r = what === 'stop' ? await disks.stop(req.params.id, { force }) : await disks.start(req.params.id);
    const details = { ...named(req.params.id, was), ...(was ? { statusBefore: was.status } : {}), ...(force ? { force: true } : {}), ...failureOf(r) };
    await audit(req, `disk.${what}`, diskTarget(req.params.id), outcomeOf(r), details);
    return answer(reply, r, (x) => ({ disk: x.disk }));
  };
  app.get(
    '/api/v1/disks',
    op('ViewOnly', 'Every disk', { reply: [200, Type.Object({ disks: Type.Array(DiskRef) }, { description: 'Disks, by id' })], errors: [503] }),
    async (_req, reply) => {
      const r = await disks.list();
      // Sent as the cached string: the reply schema documents it (a string is not serialized again).
      return r.ok ? reply.type('application/json; charset=utf-8').send(listJson(r.disks)) : sendFailure(reply, r);
    },
  );

  const addDoc = 'docs/PRODUCT.md lists every outcome with its code. The disk is `starting` until every path is served.';
  const add = op('AddDisk', 'Add a disk (returns at once; the paths are served shortly after)', {
    description: addDoc,
    body: AddDiskRequest,
    reply: [201, DiskReply('Added')],
    errors: [400, 409, 503],
  });
  app.post('/api/v1/disks', add, async (req, reply) => {
    const r = await disks.add(req.body as Parameters<DiskService['add']>[0]);
    await audit(
      req,
      'disk.create',
      r.ok ? diskTarget(r.disk.id) : 'disk:new',
      outcomeOf(r),
      r.ok ? diskFields(r.disk) : { ...requestedFields(req.body), ...failureOf(r) },
    );
    return answer(reply, r, (x) => ({ disk: x.disk }), 201);
  });

  const preview = op('AddDisk', 'The IPs automatic allocation would give a new disk now (nothing is reserved)', {
    querystring: IpPreviewQuery,
    reply: [200, described(IpPreview, 'One IP per path, in path order')],
    errors: [400, 409, 503],
  });
  app.get<{ Querystring: { activePaths?: string; subnet?: string } }>('/api/v1/disks/ip-preview', preview, async (req, reply) =>
    answer(reply, await disks.previewIps(req.query.activePaths ?? '1', req.query.subnet ?? '1'), (r) => ({ ips: r.ips })),
  );

  const edit = op('EditDisk', 'Edit: rename, grow (never shrink), ACL, CHAP, placement, QoS limits (applied at once, no restart)', {
    description: 'A placement change moves the paths to match (a started disk stays served). auth {mode:"chap", user} without password keeps the password.',
    params: DiskIdParams,
    body: EditDiskRequest,
    reply: [200, DiskReply('The disk, edited')],
    errors: [400, 404, 409, 503],
  });
  app.patch<ById>('/api/v1/disks/:id', edit, async (req, reply) => {
    const was = await current(req.params.id);
    const r = await disks.edit(req.params.id, req.body as Parameters<DiskService['edit']>[1]);
    const details = r.ok
      ? { ...diskNames(r.disk), ...(was ? { changed: diskChanges(was, r.disk, req.body) } : {}) }
      : { ...named(req.params.id, was), requested: requestedFields(req.body), ...failureOf(r) };
    await audit(req, 'disk.edit', diskTarget(req.params.id), outcomeOf(r), details);
    return answer(reply, r, (x) => ({ disk: x.disk }));
  });

  const byId = (access: 'StartStopDisk' | 'DeleteDisk' | 'ViewOnly', summary: string, replySchema: object) =>
    op(access, summary, { params: DiskIdParams, reply: [200, replySchema], errors: access === 'ViewOnly' ? [404, 503] : [404, 409, 503] });
  const hostsDoc =
    ' Refused with hosts_connected (409, details.hosts: who) while initiators are logged in to the disk, unless the body says {"force": true} or the query ?force=true.';
  /** An action that cuts hosts off: the force flag from the query or the body. */
  const forced = (access: 'StartStopDisk' | 'DeleteDisk', summary: string, replySchema: object, body: boolean) =>
    op(access, summary, {
      description: summary + hostsDoc,
      params: DiskIdParams,
      querystring: ForceQuery,
      ...(body ? { body: ForceBody } : {}),
      reply: [200, replySchema],
      errors: [404, 409, 503],
    });
  type Forced = ById & { Querystring: { force?: boolean }; Body: { force?: boolean } | null | undefined };
  const force = (req: { query: { force?: boolean }; body?: { force?: boolean } | null | undefined }): boolean =>
    req.query.force === true || req.body?.force === true;
  const stopDoc = 'Stop: paths released, targets removed (status stopping, then stopped). Idempotent.';
  app.post<Forced>('/api/v1/disks/:id/stop', forced('StartStopDisk', stopDoc, DiskReply('The disk'), true), async (req, reply) =>
    stopStart(req, reply, 'stop', force(req)),
  );
  app.post<ById>('/api/v1/disks/:id/start', byId('StartStopDisk', 'Start: paths served again. Idempotent.', DiskReply('The disk')), async (req, reply) =>
    stopStart(req, reply, 'start'),
  );
  const detachDoc = 'Detach a stopped disk: the image is kept (marked detached), the disk leaves the SAN.';
  app.post<Forced>(
    '/api/v1/disks/:id/detach',
    forced('DeleteDisk', detachDoc, Type.Object({ image: Type.String() }, { description: 'The image kept' }), true),
    async (req, reply) => {
      const was = await current(req.params.id);
      const r = await disks.detach(req.params.id, { force: force(req) });
      await audit(req, 'disk.detach', diskTarget(req.params.id), outcomeOf(r), {
        ...named(req.params.id, was),
        ...(force(req) ? { force: true } : {}),
        ...(r.ok ? { image: r.image } : failureOf(r)),
      });
      return answer(reply, r, (x) => ({ image: x.image }));
    },
  );
  const deleteDoc = 'Delete a stopped disk: its image and every key are removed.';
  app.delete<Forced>(
    '/api/v1/disks/:id',
    forced('DeleteDisk', deleteDoc, Type.Object({ id: Type.String() }, { description: 'Deleted' }), false),
    async (req, reply) => {
      const was = await current(req.params.id);
      const r = await disks.delete(req.params.id, { force: force(req) });
      await audit(req, 'disk.delete', diskTarget(req.params.id), outcomeOf(r), {
        ...(was ? diskFields(was) : { diskId: req.params.id }),
        ...(force(req) ? { force: true } : {}),
        ...failureOf(r),
      });
      return answer(reply, r, (x) => ({ id: x.id }));
    },
  );
  app.get<ById>('/api/v1/disks/:id', byId('ViewOnly', 'One disk', DiskReply('The disk')), async (req, reply) =>
    answer(reply, await disks.get(req.params.id), (r) => ({ disk: r.disk })),
  );
  const pathsReply = Type.Object({ paths: Type.Array(PathRef) }, { description: 'Paths, by number' });
  app.get<ById>('/api/v1/disks/:id/paths', byId('ViewOnly', "A disk's paths: IP and serving node", pathsReply), async (req, reply) =>
    answer(reply, await disks.paths(req.params.id), (r) => ({ paths: r.paths })),
  );

  const usage = op('ViewOnly', 'Bytes used and total of the storage backend', { reply: [200, described(ClusterUsage, 'Usage')], errors: [503] });
  app.get('/api/v1/cluster/usage', { ...usage, schema: { ...usage.schema, tags: ['config'] } }, async (_req, reply) =>
    answer(reply, await disks.capacity(), (r) => ({ usedBytes: r.usedBytes, totalBytes: r.totalBytes })),
  );

  const imagesReply = Type.Object({ images: Type.Array(FreeImage) }, { description: 'Images' });
  app.get(
    '/api/v1/images',
    op('ViewOnly', 'Images that are not disks (detached or made outside Portway)', { reply: [200, imagesReply], errors: [503] }),
    async (_req, reply) => answer(reply, await disks.freeImages(), (r) => ({ images: r.images })),
  );
  const attach = op('AddDisk', 'Attach an image as a disk', {
    description: "{image, keepPaths: true} keeps a detached disk's id, name and IPs; otherwise the add-disk fields apply.",
    body: AttachRequest,
    reply: [201, DiskReply('Attached')],
    errors: [400, 404, 409, 503],
  });
  app.post('/api/v1/images/attach', attach, async (req, reply) => {
    const r = await disks.attach(req.body as Parameters<DiskService['attach']>[0]);
    const image = String((req.body as { image?: unknown }).image ?? '').slice(0, 80);
    await audit(req, 'disk.attach', r.ok ? diskTarget(r.disk.id) : `image:${image}`, outcomeOf(r), {
      ...(r.ok ? diskFields(r.disk) : requestedFields(req.body)),
      image,
      ...failureOf(r),
    });
    return answer(reply, r, (x) => ({ disk: x.disk }), 201);
  });

  // Event streams never end by themselves: a stopping server ends them so close() can finish.
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });

  const events = op('ViewOnly', 'Server-sent events: `disks` with the whole list on every change', {
    description: 'event: disks, data: {"disks": [Disk...]} at once and on every change; event: error, data: {code, message} when the list cannot be read.',
    reply: [200, { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }],
  });
  app.get('/api/v1/events', events, async (req, reply) => {
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
