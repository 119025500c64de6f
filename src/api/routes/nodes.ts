import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { PathService } from '../../services/path-service.js';
import { errors } from '../docs.js';
import { sendFailure } from '../reply.js';
import { DrainQuery, NameParams, NodeView } from '../schemas.js';

const tags = ['paths and nodes'];
const NodeReply = (description: string) => Type.Object({ node: NodeView }, { description });

/** The cluster's nodes (up, drained, paths held); drain and undrain. */
export function nodeRoutes(app: FastifyInstance, paths: PathService): void {
  app.get(
    '/api/v1/nodes',
    {
      config: { permission: 'ViewOnly' },
      schema: {
        tags,
        summary: 'Nodes: name, up, drained, paths held',
        response: { 200: Type.Object({ nodes: Type.Array(NodeView) }, { description: 'Nodes' }), ...errors(503) },
      },
    },
    async (_req, reply) => {
      const r = await paths.nodes();
      return r.ok ? { nodes: r.nodes } : sendFailure(reply, r);
    },
  );

  app.post<{ Params: { name: string }; Querystring: { wait?: string } }>(
    '/api/v1/nodes/:name/drain',
    {
      config: { permission: 'AssignPaths' },
      schema: {
        tags,
        summary: 'Drain a node: its paths move away and it takes none',
        params: NameParams,
        querystring: DrainQuery,
        response: { 200: NodeReply('Drained (with ?wait=false: draining)'), ...errors(404, 503, 504) },
      },
    },
    async (req, reply) => {
      const r = await paths.drain(req.params.name, { wait: req.query.wait !== 'false' });
      return r.ok ? { node: r.node } : sendFailure(reply, r);
    },
  );

  app.post<{ Params: { name: string } }>(
    '/api/v1/nodes/:name/undrain',
    {
      config: { permission: 'AssignPaths' },
      schema: {
        tags,
        summary: 'Undrain a node (its paths come back by a rebalance)',
        params: NameParams,
        response: { 200: NodeReply('Undrained'), ...errors(404, 503) },
      },
    },
    async (req, reply) => {
      const r = await paths.undrain(req.params.name);
      return r.ok ? { node: r.node } : sendFailure(reply, r);
    },
  );
}
