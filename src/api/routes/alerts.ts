/** Cluster events and health (services/event-service.ts): the list, the summary, the webhook setting. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { EventService } from '../../services/event-service.js';
import { audit } from '../auth-plugin.js';
import { answer, operations } from '../route.js';
import { AlertsQuery, ClusterEventView, HealthView, WebhookView } from '../schemas.js';

const op = operations(['events']);

export function alertRoutes(app: FastifyInstance, events: EventService): void {
  const list = op('ViewOnly', 'Cluster events (newest first) and the health summary', {
    description:
      'Events: node_down/node_up, disk_degraded/disk_recovered, path_failed/path_recovered, fence, ceph_unhealthy/ceph_ok, etcd_member_down/etcd_member_up, snapshot_failed (a scheduled snapshot or its retention failed). health: the problems now. The newest 1,000 events are kept.',
    querystring: AlertsQuery,
    reply: [200, Type.Object({ events: Type.Array(ClusterEventView), health: HealthView }, { description: 'Events and health' })],
  });
  app.get<{ Querystring: { limit?: number } }>('/api/v1/alerts', list, async (req) => ({
    events: events.list(req.query.limit ?? 100),
    health: events.health(),
  }));

  const get = op('ManageConfig', 'The webhook every event is POSTed to', { reply: [200, { ...WebhookView, description: 'The webhook' }] });
  app.get('/api/v1/alerts/webhook', get, async () => ({ url: events.getWebhook() }));

  const set = op('ManageConfig', 'Set (or clear, with null) the webhook every event is POSTed to', {
    description: 'Each event is sent once as POST {event} (application/json), 5 s timeout, not retried.',
    body: WebhookView,
    reply: [200, { ...WebhookView, description: 'Set' }],
    errors: [400, 503],
  });
  app.put<{ Body: { url: string | null } }>('/api/v1/alerts/webhook', set, async (req, reply) => {
    const r = await events.setWebhook(req.body.url);
    await audit(req, 'settings.webhook', 'settings:webhook', r.ok ? 'ok' : 'failed', r.ok ? { url: r.url } : { code: r.code });
    return answer(reply, r, (x) => ({ url: x.url }));
  });
}
