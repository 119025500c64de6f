/** The audit log: admins and operators (any permission beyond ViewOnly) may read it; viewers may not. */
import type { FastifyInstance } from 'fastify';
import { AUDIT_READ } from '../../domain/auth.js';
import type { AuthService } from '../../services/auth-service.js';
import { errors } from '../docs.js';
import { sendFailure } from '../reply.js';
import { AuditPage, AuditQuery } from '../schemas.js';

export function auditRoutes(app: FastifyInstance, auth: AuthService): void {
  app.get<{ Querystring: { limit?: number; before?: string } }>(
    '/api/v1/audit',
    {
      config: { permission: AUDIT_READ },
      schema: {
        tags: ['users and audit'],
        summary: 'The audit log, newest first (admins and operators: any permission beyond ViewOnly)',
        querystring: AuditQuery,
        response: { 200: { ...AuditPage, description: 'A page of entries' }, ...errors(400, 503) },
      },
    },
    async (req, reply) => {
      const r = await auth.listAudit(req.query.limit ?? 50, req.query.before);
      return r.ok ? { entries: r.entries, next: r.next } : sendFailure(reply, r);
    },
  );
}
