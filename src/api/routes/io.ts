/** I/O rates of the last hour (services/io-history.ts): per disk, per node. */
import type { FastifyInstance } from 'fastify';
import { DEFAULT_SAMPLE_MS } from '../../agent/hosts-publisher.js';
import { parseDiskId } from '../../domain/disk.js';
import type { IoHistory } from '../../services/io-history.js';
import { sendFail } from '../reply.js';
import { operations } from '../route.js';
import { DiskIdParams, IoQuery, IoReply } from '../schemas.js';

const op = operations(['io']);

export function ioRoutes(app: FastifyInstance, io: IoHistory): void {
  const sampleSeconds = DEFAULT_SAMPLE_MS / 1000;
  const disk = op('ViewOnly', "A disk's I/O rates over the last hour, per node serving it", {
    description: 'From the per-session counters tgtd keeps for the disk target on each node, sampled every 3 s (docs/OPERATIONS.md says how exact).',
    params: DiskIdParams,
    querystring: IoQuery,
    reply: [200, IoReply],
    errors: [404],
  });
  app.get<{ Params: { id: string }; Querystring: { since?: number } }>('/api/v1/disks/:id/io', disk, async (req, reply) => {
    if (parseDiskId(req.params.id) === undefined) return sendFail(reply, 'disk_not_found', `There is no disk ${String(req.params.id).slice(0, 20)}.`);
    return { series: io.disk(req.params.id, req.query.since ?? 0), sampleSeconds };
  });
  const nodes = op('ViewOnly', "Each node's I/O rates over the last hour (its disks summed)", { querystring: IoQuery, reply: [200, IoReply] });
  app.get<{ Querystring: { since?: number } }>('/api/v1/io/nodes', nodes, async (req) => ({ series: io.allNodes(req.query.since ?? 0), sampleSeconds }));
}
