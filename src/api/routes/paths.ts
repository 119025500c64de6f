import type { FastifyInstance, FastifyReply } from 'fastify';
import type { PathFailure, PathService } from '../../services/path-service.js';
import { sendError } from '../reply.js';

export function sendPathFailure(reply: FastifyReply, f: PathFailure) {
  return sendError(reply, f.status, f.code, f.message, f.details);
}

/** Admin path moves: one path to a named node, and a rebalance of every path. */
export function pathRoutes(app: FastifyInstance, paths: PathService): void {
  app.post<{ Params: { id: string; n: string } }>('/api/v1/disks/:id/paths/:n/move', { config: { permission: 'AssignPaths' } }, async (req, reply) => {
    const body = req.body as { node?: unknown } | null | undefined;
    if (body === null || typeof body !== 'object' || Array.isArray(body) || typeof body.node !== 'string')
      return sendError(reply, 400, 'invalid_request', 'The body must be {"node": "<node name>"}.', { field: 'node' });
    const n = /^\d{1,3}$/.test(req.params.n) ? Number(req.params.n) : Number.NaN;
    const r = await paths.move(req.params.id, n, body.node);
    return r.ok ? { move: r.move, moves: r.moves } : sendPathFailure(reply, r);
  });

  app.get('/api/v1/paths/plan', async (_req, reply) => {
    const r = await paths.plan();
    return r.ok ? { moves: r.moves } : sendPathFailure(reply, r);
  });

  app.post('/api/v1/paths/rebalance', { config: { permission: 'AssignPaths' } }, async (_req, reply) => {
    const r = await paths.rebalance();
    return r.ok ? { moves: r.moves, failed: r.failed } : sendPathFailure(reply, r);
  });
}
