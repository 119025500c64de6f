import type { FastifyInstance } from 'fastify';
import type { PathService } from '../../services/path-service.js';
import { sendPathFailure } from './paths.js';

/** The cluster's nodes (up, drained, paths held); drain and undrain. */
export function nodeRoutes(app: FastifyInstance, paths: PathService): void {
  app.get('/api/v1/nodes', async (_req, reply) => {
    const r = await paths.nodes();
    return r.ok ? { nodes: r.nodes } : sendPathFailure(reply, r);
  });

  app.post<{ Params: { name: string }; Querystring: { wait?: string } }>('/api/v1/nodes/:name/drain', { config: { permission: 'AssignPaths' } }, async (req, reply) => {
    const r = await paths.drain(req.params.name, { wait: req.query.wait !== 'false' });
    return r.ok ? { node: r.node } : sendPathFailure(reply, r);
  });

  app.post<{ Params: { name: string } }>('/api/v1/nodes/:name/undrain', { config: { permission: 'AssignPaths' } }, async (req, reply) => {
    const r = await paths.undrain(req.params.name);
    return r.ok ? { node: r.node } : sendPathFailure(reply, r);
  });
}
