import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { DiskService } from '../../services/disk-service.js';
import type { PathService } from '../../services/path-service.js';
import { audit } from '../auth-plugin.js';
import { diskNameMap } from './paths.js';
import { answer, listReply, operations } from '../route.js';
import { DrainQuery, NameParams, NodeView } from '../schemas.js';

const op = operations(['paths and nodes']);
const NodeReply = (description: string) => Type.Object({ node: NodeView }, { description });

/** The cluster's nodes (up, drained, paths held); drain and undrain. */
export function nodeRoutes(app: FastifyInstance, paths: PathService, disks: DiskService): void {
  const list = op('ViewOnly', 'Nodes: name, up, drained, paths held', { reply: [200, listReply('nodes', NodeView, 'Nodes')], errors: [503] });
  app.get('/api/v1/nodes', list, async (_req, reply) => answer(reply, await paths.nodes(), (r) => ({ nodes: r.nodes })));

  const drain = op('AssignPaths', 'Drain a node: its paths move away and it takes none', {
    params: NameParams,
    querystring: DrainQuery,
    reply: [200, NodeReply('Drained (with ?wait=false: draining)')],
    errors: [404, 503, 504],
  });
  app.post<{ Params: { name: string }; Querystring: { wait?: string } }>('/api/v1/nodes/:name/drain', drain, async (req, reply) => {
    // The paths it held, named by disk, so the entry answers "what moved off this node".
    const before = await paths.nodes();
    const held = before.ok ? before.nodes.find((n) => n.name === req.params.name)?.paths : undefined;
    const r = await paths.drain(req.params.name, { wait: req.query.wait !== 'false' });
    const names = await diskNameMap(disks);
    await audit(req, 'node.drain', `node:${req.params.name.slice(0, 64)}`, r.ok ? 'ok' : 'failed', {
      node: req.params.name.slice(0, 64),
      ...(held ? { pathsHeld: held.map((p) => `${p} ${names.get(p.split('/')[0] ?? '') ?? ''}`.trim()) } : {}),
      ...(r.ok ? { pathsLeft: r.node.pathCount } : { code: r.code, error: r.message }),
    });
    return answer(reply, r, (x) => ({ node: x.node }));
  });

  const undrain = op('AssignPaths', 'Undrain a node (its paths come back by a rebalance)', {
    params: NameParams,
    reply: [200, NodeReply('Undrained')],
    errors: [404, 503],
  });
  app.post<{ Params: { name: string } }>('/api/v1/nodes/:name/undrain', undrain, async (req, reply) => {
    const r = await paths.undrain(req.params.name);
    await audit(req, 'node.undrain', `node:${req.params.name.slice(0, 64)}`, r.ok ? 'ok' : 'failed', {
      node: req.params.name.slice(0, 64),
      ...(r.ok ? {} : { code: r.code, error: r.message }),
    });
    return answer(reply, r, (x) => ({ node: x.node }));
  });
}
