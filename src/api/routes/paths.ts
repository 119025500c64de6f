import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { PathService } from '../../services/path-service.js';
import { errors } from '../docs.js';
import { sendFailure } from '../reply.js';
import { MoveReply, MoveRequest, PathMove, PathParams, RebalanceReply } from '../schemas.js';

const tags = ['paths and nodes'];

/** Admin path moves: one path to a named node, and a rebalance of every path. */
export function pathRoutes(app: FastifyInstance, paths: PathService): void {
  app.post<{ Params: { id: string; n: string }; Body: { node: string } }>(
    '/api/v1/disks/:id/paths/:n/move',
    {
      config: { permission: 'AssignPaths' },
      schema: {
        tags,
        summary: 'Move path n to a node',
        description:
          "The owner releases it, then only that node takes it (never two owners). A shared disk's paths are served by one node, so every path of a shared disk moves with it. Replies {move: path n's move, moves: every path moved} once the node serves it.",
        params: PathParams,
        body: MoveRequest,
        response: { 200: { ...MoveReply, description: 'The move is done' }, ...errors(400, 404, 409, 503, 504) },
      },
    },
    async (req, reply) => {
      const n = /^\d{1,3}$/.test(req.params.n) ? Number(req.params.n) : Number.NaN;
      const r = await paths.move(req.params.id, n, req.body.node);
      return r.ok ? { move: r.move, moves: r.moves } : sendFailure(reply, r);
    },
  );

  app.get(
    '/api/v1/paths/plan',
    {
      config: { permission: 'ViewOnly' },
      schema: {
        tags,
        summary: 'The moves a rebalance would make (a shared disk on one node, a spread disk over nodes, even loads)',
        response: { 200: Type.Object({ moves: Type.Array(PathMove) }, { description: 'The plan' }), ...errors(503) },
      },
    },
    async (_req, reply) => {
      const r = await paths.plan();
      return r.ok ? { moves: r.moves } : sendFailure(reply, r);
    },
  );

  app.post(
    '/api/v1/paths/rebalance',
    {
      config: { permission: 'AssignPaths' },
      schema: {
        tags,
        summary: 'Carry out the rebalance plan as moves',
        response: { 200: { ...RebalanceReply, description: 'The moves made and those that failed' }, ...errors(503) },
      },
    },
    async (_req, reply) => {
      const r = await paths.rebalance();
      return r.ok ? { moves: r.moves, failed: r.failed } : sendFailure(reply, r);
    },
  );
}
