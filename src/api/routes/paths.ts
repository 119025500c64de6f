import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { PathService } from '../../services/path-service.js';
import { answer, described, operations } from '../route.js';
import { MoveReply, MoveRequest, PathMove, PathParams, RebalanceReply } from '../schemas.js';

const op = operations(['paths and nodes']);

/** Admin path moves: one path to a named node, and a rebalance of every path. */
export function pathRoutes(app: FastifyInstance, paths: PathService): void {
  const move = op('AssignPaths', 'Move path n to a node', {
    description:
      "The owner releases it, then only that node takes it (never two owners). A shared disk's paths are served by one node, so every path of a shared disk moves with it. Replies {move: path n's move, moves: every path moved} once the node serves it.",
    params: PathParams,
    body: MoveRequest,
    reply: [200, described(MoveReply, 'The move is done')],
    errors: [400, 404, 409, 503, 504],
  });
  app.post<{ Params: { id: string; n: string }; Body: { node: string } }>('/api/v1/disks/:id/paths/:n/move', move, async (req, reply) => {
    const n = /^\d{1,3}$/.test(req.params.n) ? Number(req.params.n) : Number.NaN;
    return answer(reply, await paths.move(req.params.id, n, req.body.node), (r) => ({ move: r.move, moves: r.moves }));
  });

  const plan = op('ViewOnly', 'The moves a rebalance would make (a shared disk on one node, a spread disk over nodes, even loads)', {
    reply: [200, Type.Object({ moves: Type.Array(PathMove) }, { description: 'The plan' })],
    errors: [503],
  });
  app.get('/api/v1/paths/plan', plan, async (_req, reply) => answer(reply, await paths.plan(), (r) => ({ moves: r.moves })));

  const rebalance = op('AssignPaths', 'Carry out the rebalance plan as moves', {
    reply: [200, described(RebalanceReply, 'The moves made and those that failed')],
    errors: [503],
  });
  app.post('/api/v1/paths/rebalance', rebalance, async (_req, reply) => answer(reply, await paths.rebalance(), (r) => ({ moves: r.moves, failed: r.failed })));
}
