/** The audit log: admins and operators (any permission beyond ViewOnly) may read it; viewers may not. */
import type { FastifyInstance } from 'fastify';
import { AUDIT_READ } from '../../domain/auth.js';
import type { AuthService } from '../../services/auth-service.js';
import { answer, described, operations } from '../route.js';
import { AuditPage, AuditQuery } from '../schemas.js';

export function auditRoutes(app: FastifyInstance, auth: AuthService): void {
  const list = operations(['users and audit'])(AUDIT_READ, 'The audit log, newest first (admins and operators: any permission beyond ViewOnly)', {
    querystring: AuditQuery,
    reply: [200, described(AuditPage, 'A page of entries')],
    errors: [400, 503],
  });
  app.get<{ Querystring: { limit?: number; before?: string } }>('/api/v1/audit', list, async (req, reply) =>
    answer(reply, await auth.listAudit(req.query.limit ?? 50, req.query.before), (r) => ({ entries: r.entries, next: r.next })),
  );
}
