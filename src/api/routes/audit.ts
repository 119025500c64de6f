/** The audit log: admins and operators (any permission beyond ViewOnly) may read and export it; viewers may not. */
import type { FastifyInstance } from 'fastify';
import { AUDIT_READ, auditCsv } from '../../domain/auth.js';
import type { AuthService } from '../../services/auth-service.js';
import { sendFailure } from '../reply.js';
import { answer, described, operations } from '../route.js';
import { AuditExportQuery, AuditPage, AuditQuery } from '../schemas.js';

export function auditRoutes(app: FastifyInstance, auth: AuthService): void {
  const op = operations(['users and audit']);
  const list = op(AUDIT_READ, 'The audit log, newest first (admins and operators: any permission beyond ViewOnly)', {
    description:
      'Disk and path actions are recorded by meaning (disk.create, disk.edit with what changed, disk.stop, path.move...) with the disk id and name in details; q finds them by either.',
    querystring: AuditQuery,
    reply: [200, described(AuditPage, 'A page of entries')],
    errors: [400, 503],
  });
  app.get<{ Querystring: { limit?: number; before?: string; q?: string } }>('/api/v1/audit', list, async (req, reply) =>
    answer(reply, await auth.listAudit(req.query.limit ?? 50, req.query.before, req.query.q), (r) => ({ entries: r.entries, next: r.next })),
  );

  const exp = op(AUDIT_READ, 'The audit log as a file: CSV (one row an entry, details as JSON) or JSON, newest first', {
    querystring: AuditExportQuery,
    reply: [
      200,
      {
        description: 'text/csv or application/json (a download)',
        content: { 'text/csv': { schema: { type: 'string' } }, 'application/json': { schema: { type: 'string' } } },
      },
    ],
    errors: [400, 503],
  });
  app.get<{ Querystring: { format?: 'csv' | 'json'; q?: string } }>('/api/v1/audit/export', exp, async (req, reply) => {
    const r = await auth.exportAudit(req.query.q);
    if (!r.ok) return sendFailure(reply, r);
    const format = req.query.format ?? 'csv';
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
    reply.header('content-disposition', `attachment; filename="portway-audit-${stamp}.${format}"`);
    if (format === 'json') return reply.type('application/json; charset=utf-8').send(JSON.stringify({ entries: r.entries }, null, 1));
    return reply.type('text/csv; charset=utf-8').send(auditCsv(r.entries));
  });
}
