/** Users and roles: ManageUsers for all of it. */
import type { FastifyInstance } from 'fastify';
import type { AuthService, Principal } from '../../services/auth-service.js';
import { audit } from '../auth-plugin.js';
import { objectBody, sendServiceFailure } from './auth.js';

const MANAGE = { config: { permission: 'ManageUsers' as const } };

export function userRoutes(app: FastifyInstance, auth: AuthService): void {
  app.get('/api/v1/users', MANAGE, async (_req, reply) => {
    const r = await auth.listUsers();
    return r.ok ? { users: r.users } : sendServiceFailure(reply, r);
  });

  app.get<{ Params: { name: string } }>('/api/v1/users/:name', MANAGE, async (req, reply) => {
    const r = await auth.getUser(req.params.name);
    return r.ok ? { user: r.user, permissions: r.permissions } : sendServiceFailure(reply, r);
  });

  app.post('/api/v1/users', MANAGE, async (req, reply) => {
    const body = objectBody(req, reply, ['name', 'password', 'role']);
    if (!body) return reply;
    const r = await auth.createUser(body);
    const target = `user:${typeof body.name === 'string' ? body.name.slice(0, 40) : '?'}`;
    await audit(req, 'user.create', target, r.ok ? 'ok' : 'failed', r.ok ? { role: r.user.role } : { code: r.code });
    return r.ok ? reply.code(201).send({ user: r.user }) : sendServiceFailure(reply, r);
  });

  app.patch<{ Params: { name: string } }>('/api/v1/users/:name', MANAGE, async (req, reply) => {
    const body = objectBody(req, reply, ['role', 'password']);
    if (!body) return reply;
    const p = req.principal as Principal;
    const r = await auth.updateUser(req.params.name, body, p.user === req.params.name ? p.sessionKey : undefined);
    const changed = {
      changed: [...(body.role !== undefined ? ['role'] : []), ...(body.password !== undefined ? ['password'] : [])],
      ...(typeof body.role === 'string' ? { role: body.role.slice(0, 40) } : {}),
    };
    await audit(req, 'user.update', `user:${req.params.name}`, r.ok ? 'ok' : 'failed', r.ok ? changed : { ...changed, code: r.code });
    return r.ok ? { user: r.user } : sendServiceFailure(reply, r);
  });

  app.delete<{ Params: { name: string } }>('/api/v1/users/:name', MANAGE, async (req, reply) => {
    const r = await auth.deleteUser(req.params.name);
    await audit(req, 'user.delete', `user:${req.params.name}`, r.ok ? 'ok' : 'failed', r.ok ? {} : { code: r.code });
    return r.ok ? reply.code(204).send() : sendServiceFailure(reply, r);
  });

  app.get('/api/v1/roles', MANAGE, async (_req, reply) => {
    const r = await auth.listRoles();
    return r.ok ? { roles: r.roles } : sendServiceFailure(reply, r);
  });

  app.post('/api/v1/roles', MANAGE, async (req, reply) => {
    const body = objectBody(req, reply, ['name', 'permissions']);
    if (!body) return reply;
    const r = await auth.createRole(body);
    const target = `role:${typeof body.name === 'string' ? body.name.slice(0, 40) : '?'}`;
    await audit(req, 'role.create', target, r.ok ? 'ok' : 'failed', r.ok ? { permissions: r.role.permissions } : { code: r.code });
    return r.ok ? reply.code(201).send({ role: r.role }) : sendServiceFailure(reply, r);
  });

  app.delete<{ Params: { name: string } }>('/api/v1/roles/:name', MANAGE, async (req, reply) => {
    const r = await auth.deleteRole(req.params.name);
    await audit(req, 'role.delete', `role:${req.params.name}`, r.ok ? 'ok' : 'failed', r.ok ? {} : { code: r.code });
    return r.ok ? reply.code(204).send() : sendServiceFailure(reply, r);
  });
}
