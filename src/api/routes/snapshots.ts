/** Snapshots of a disk: list, take, delete, roll back (docs/PRODUCT.md "Snapshots and clones"). */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Failure } from '../../domain/outcomes.js';
import type { SnapshotService } from '../../services/snapshot-service.js';
import { audit } from '../auth-plugin.js';
import { answer } from '../route.js';
import { operations } from '../route.js';
import { CloneRequest, DiskIdParams, DiskRef, SnapshotCreate, SnapshotList, SnapshotParams, SnapshotRef } from '../schemas.js';
import type { AddDiskRequest } from '../../domain/add-disk.js';

const op = operations(['snapshots']);
type ById = { Params: { id: string } };
type BySnap = { Params: { id: string; snap: string } };

/** One audit entry per change: `snapshot.<what>` on `disk:<id>`, with the snapshot's name and the code of a failure. */
async function audited<T>(
  req: FastifyRequest,
  what: string,
  id: string,
  snap: unknown,
  r: ({ ok: true } & T) | Failure,
): Promise<({ ok: true } & T) | Failure> {
  const name = typeof snap === 'string' ? snap.slice(0, 64) : undefined;
  await audit(req, `snapshot.${what}`, `disk:${id}`, r.ok ? 'ok' : 'failed', { ...(name ? { snapshot: name } : {}), ...(r.ok ? {} : { code: r.code }) });
  return r;
}

export function snapshotRoutes(app: FastifyInstance, snaps: SnapshotService): void {
  app.get<ById>(
    '/api/v1/disks/:id/snapshots',
    op('ViewOnly', "A disk's snapshots", { params: DiskIdParams, reply: [200, SnapshotList], errors: [404, 503] }),
    async (req, reply) =>
      answer(reply, await snaps.list(req.params.id), (r) => ({ snapshots: r.snapshots, mode: r.mode, ...(r.parent ? { parent: r.parent } : {}) })),
  );

  const create = op('ManageSnapshots', 'Take a snapshot', {
    description:
      'Instant (copy-on-write) on Ceph RBD and on filesystems with reflink, at any time. On file images without reflink the snapshot is a full sparse copy of the image, taken only while the disk is stopped (snapshot_needs_stop otherwise); the list shows its progress meanwhile.',
    params: DiskIdParams,
    body: SnapshotCreate,
    reply: [201, Type.Object({ snapshot: SnapshotRef }, { description: 'Taken' })],
    errors: [400, 404, 409, 503],
  });
  app.post<ById>('/api/v1/disks/:id/snapshots', create, async (req, reply) => {
    const body = req.body as { name?: unknown };
    const r = await audited(req, 'create', req.params.id, body.name, await snaps.create(req.params.id, body));
    return answer(reply, r, (ok) => ({ snapshot: ok.snapshot }), 201);
  });

  const del = op('ManageSnapshots', 'Delete a snapshot', {
    description: 'Refused with snapshot_has_clones while disks cloned from it still depend on it (flatten them first).',
    params: SnapshotParams,
    reply: [200, Type.Object({ name: Type.String() }, { description: 'Deleted' })],
    errors: [404, 409, 503],
  });
  app.delete<BySnap>('/api/v1/disks/:id/snapshots/:snap', del, async (req, reply) => {
    const r = await audited(req, 'delete', req.params.id, req.params.snap, await snaps.delete(req.params.id, req.params.snap));
    return answer(reply, r, (ok) => ({ name: ok.name }));
  });

  const rollback = op('ManageSnapshots', 'Roll a stopped disk back to a snapshot', {
    description:
      'The disk must be stopped (disk_not_stopped otherwise). Its data becomes what it was at the snapshot; a disk grown since keeps its size. Everything written after the snapshot is lost.',
    params: SnapshotParams,
    reply: [200, Type.Object({ name: Type.String() }, { description: 'Rolled back' })],
    errors: [404, 409, 503],
  });
  app.post<BySnap>('/api/v1/disks/:id/snapshots/:snap/rollback', rollback, async (req, reply) => {
    const r = await audited(req, 'rollback', req.params.id, req.params.snap, await snaps.rollback(req.params.id, req.params.snap));
    return answer(reply, r, (ok) => ({ name: ok.name }));
  });

  const clone = op('AddDisk', 'A new disk from a snapshot (clone)', {
    description:
      "The add-disk flow (its own id, IQN and IPs) with the snapshot's data and size. Ceph: a copy-on-write RBD clone (the snapshot is protected; it cannot be deleted while the clone depends on it: flatten: true, or POST /disks/{id}/flatten later). File images: a full copy.",
    params: SnapshotParams,
    body: CloneRequest,
    reply: [201, Type.Object({ disk: DiskRef }, { description: 'Added' })],
    errors: [400, 404, 409, 503],
  });
  app.post<BySnap>('/api/v1/disks/:id/snapshots/:snap/clone', clone, async (req, reply) => {
    const body = req.body as AddDiskRequest & { flatten?: unknown };
    const r = await snaps.clone(req.params.id, req.params.snap, body);
    await audit(req, 'snapshot.clone', `disk:${req.params.id}`, r.ok ? 'ok' : 'failed', {
      snapshot: req.params.snap.slice(0, 64),
      ...(r.ok ? { disk: r.disk.id, flatten: body.flatten === true } : { code: r.code }),
    });
    return answer(reply, r, (ok) => ({ disk: ok.disk }), 201);
  });

  const flatten = op('ManageSnapshots', 'Flatten a clone: copy its data out of its parent snapshot (in the background)', {
    description:
      'Returns at once; the disk keeps serving. GET /disks/{id}/snapshots shows `parent` until it is done. flattening false: the disk depends on no snapshot.',
    params: DiskIdParams,
    reply: [202, Type.Object({ flattening: Type.Boolean() }, { description: 'Started (or nothing to do)' })],
    errors: [404, 503],
  });
  app.post<ById>('/api/v1/disks/:id/flatten', flatten, async (req, reply) => {
    const r = await audited(req, 'flatten', req.params.id, undefined, await snaps.flatten(req.params.id));
    return answer(reply, r, (ok) => ({ flattening: ok.flattening }), 202);
  });
}
