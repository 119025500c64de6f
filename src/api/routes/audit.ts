/** The audit log: admins and operators (any permission beyond ViewOnly) may read it; viewers may not. */
import type { FastifyInstance } from 'fastify';
import { AUDIT_READ } from '../../domain/auth.js';
import type { AuthService } from '../../services/auth-service.js';
import { sendError } from '../reply.js';
import { sendServiceFailure } from './auth.js';

export function auditRoutes(app: FastifyInstance, auth: AuthService): void {
  app.get<{ Querystring: { limit?: string; before?: string } }>('/api/v1/audit', { config: { permission: AUDIT_READ } }, async (req, reply) => {
    const { limit: rawLimit, before } = req.query;
    let limit = 50;
    if (rawLimit !== undefined) {
      if (!/^\d{1,3}$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > 200)
        return sendError(reply, 400, 'invalid_request', 'limit must be an integer from 1 to 200.', { field: 'limit' });
      limit = Number(rawLimit);
    }
    const r = await auth.listAudit(limit, before);
    return r.ok ? { entries: r.entries, next: r.next } : sendServiceFailure(reply, r);
  });
}
