import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { diskNames, diskTarget } from '../../domain/disk-audit.js';
import type { DiskService } from '../../services/disk-service.js';
import type { PathService } from '../../services/path-service.js';
import { audit } from '../auth-plugin.js';
import { answer, described, operations } from '../route.js';
import { MoveReply, MoveRequest, PathMove, PathParams, PathRow, RebalanceReply } from '../schemas.js';

const op = operations(['paths and nodes']);

/** Admin path moves: one path to a named node, and a rebalance of every path. */
export function pathRoutes(app: FastifyInstance, paths: PathService, disks: DiskService): void {
  const move = op('AssignPaths', 'Move path n to a node', {
    description:
      "The owner releases it, then only that node takes it (never two owners). A shared disk's paths are served by one node, so every path of a shared disk moves with it. Replies {move: path n's move, moves: every path moved} once the node serves it.",
    params: PathParams,
    body: MoveRequest,
    reply: [200, described(MoveReply, 'The move is done')],
    errors: [400, 404, 409, 503, 504],
    // path_on_node_already (409): the node serves the path already; nothing is moved.
  });
  app.post<{ Params: { id: string; n: string }; Body: { node: string } }>('/api/v1/disks/:id/paths/:n/move', move, async (req, reply) => {
    const n = /^\d{1,3}$/.test(req.params.n) ? Number(req.params.n) : Number.NaN;
    const r = await paths.move(req.params.id, n, req.body.node);
    const d = await disks.get(req.params.id);
    await audit(req, 'path.move', diskTarget(req.params.id), r.ok ? 'ok' : 'failed', {
      ...(d.ok ? diskNames(d.disk) : { diskId: String(req.params.id).slice(0, 20) }),
      path: String(req.params.n).slice(0, 10),
      to: String(req.body.node).slice(0, 64),
      ...(r.ok ? { moved: r.moves.filter((m) => m.moved).map((m) => ({ path: m.index, from: m.from, to: m.to })) } : { code: r.code, error: r.message }),
    });
    return answer(reply, r, (x) => ({ move: x.move, moves: x.moves }));
  });

  const all = op('ViewOnly', 'Every path of every disk: IP, disk, path number, serving node, state', {
    reply: [200, Type.Object({ paths: Type.Array(PathRow) }, { description: 'By disk id, then path number' })],
    errors: [503],
  });
  app.get('/api/v1/paths', all, async (_req, reply) => answer(reply, await disks.allPaths(), (r) => ({ paths: r.paths })));

  const plan = op('ViewOnly', 'The moves a rebalance would make (a shared disk on one node, a spread disk over nodes, even loads)', {
    reply: [200, Type.Object({ moves: Type.Array(PathMove) }, { description: 'The plan' })],
    errors: [503],
  });
  app.get('/api/v1/paths/plan', plan, async (_req, reply) => answer(reply, await paths.plan(), (r) => ({ moves: r.moves })));

  const rebalance = op('AssignPaths', 'Carry out the rebalance plan as moves', {
    reply: [200, described(RebalanceReply, 'The moves made and those that failed')],
    errors: [503],
  });
  app.post('/api/v1/paths/rebalance', rebalance, async (req, reply) => {
    const r = await paths.rebalance();
    const names = await diskNameMap(disks);
    const label = (id: string) => `${id} ${names.get(id) ?? ''}`.trim();
    await audit(
      req,
      'paths.rebalance',
      'cluster',
      r.ok ? (r.failed.length === 0 ? 'ok' : 'failed') : 'failed',
      r.ok
        ? {
            moved: r.moves.filter((m) => m.moved).length,
            failedMoves: r.failed.length,
            disks: [...new Set([...r.moves.map((m) => m.id), ...r.failed.map((m) => m.id)])].map(label),
            moves: r.moves.filter((m) => m.moved).map((m) => `${label(m.id)} path ${m.index}: ${m.from ?? '-'} -> ${m.to}`),
            ...(r.failed.length ? { failures: r.failed.map((m) => `${label(m.id)} path ${m.index}: ${m.code}`) } : {}),
          }
        : { code: r.code, error: r.message },
    );
    return answer(reply, r, (x) => ({ moves: x.moves, failed: x.failed }));
  });
}

/** Disk id -> name, for naming the disks of a multi-disk action in its audit entry. */
export async function diskNameMap(disks: DiskService): Promise<Map<string, string>> {
  const r = await disks.list();
  return new Map(r.ok ? r.disks.map((d) => [d.id, d.name]) : []);
}
