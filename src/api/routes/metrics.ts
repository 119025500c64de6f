/** GET /metrics: Prometheus text format (services/metrics.ts says what each figure is and where it comes from). */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../services/metrics.js';
import { operations } from '../route.js';

const op = operations(['config']);

export function metricsRoutes(app: FastifyInstance, metrics: Metrics): void {
  // Every request's latency, by route pattern (not the URL: ids would make a series each).
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe({ method: req.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  const doc = op('ViewOnly', 'Prometheus metrics (text exposition format)', {
    description:
      'Scrape with an API token (Authorization: Bearer) of a user holding ViewOnly. docs/OPERATIONS.md lists the metrics, a scrape config and alert rules.',
    reply: [200, { description: 'text/plain; version=0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } }],
    errors: [503],
  });
  app.get('/metrics', doc, async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
