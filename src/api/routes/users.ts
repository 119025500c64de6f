/** Users and roles: ManageUsers for all of it. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AuthService, Principal } from '../../services/auth-service.js';
import { audit } from '../auth-plugin.js';
import { errors } from '../docs.js';
import { sendFailure } from '../reply.js';
import { NameParams, Permission, RoleCreate, RoleView, UserCreate, UserUpdate, UserView } from '../schemas.js';
import type { RoleCreate as NewRole, UserCreate as NewUser, UserUpdate as UserChange } from '../wire.js';

const MANAGE = { permission: 'ManageUsers' as const };
const tags = ['users and audit'];
const NoContent = (description: string) => ({ type: 'null', description });
const UserReply = (description: string) => Type.Object({ user: UserView }, { description });

export function userRoutes(app: FastifyInstance, auth: AuthService): void {
  app.get(
    '/api/v1/users',
    {
      config: MANAGE,
      schema: {
        tags,
        summary: 'Every user (never a password hash)',
        response: { 200: Type.Object({ users: Type.Array(UserView) }, { description: 'Users' }), ...errors(503) },
      },
    },
    async (_req, reply) => {
      const r = await auth.listUsers();
      return r.ok ? { users: r.users } : sendFailure(reply, r);
    },
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/users/:name',
    {
      config: MANAGE,
      schema: {
        tags,
        summary: 'One user, with the permissions of their role',
        params: NameParams,
        response: { 200: Type.Object({ user: UserView, permissions: Type.Array(Permission) }, { description: 'The user' }), ...errors(404, 503) },
      },
    },
    async (req, reply) => {
      const r = await auth.getUser(req.params.name);
      return r.ok ? { user: r.user, permissions: r.permissions } : sendFailure(reply, r);
    },
  );

  app.post<{ Body: NewUser }>(
    '/api/v1/users',
    { config: MANAGE, schema: { tags, summary: 'Add a user', body: UserCreate, response: { 201: UserReply('Added'), ...errors(400, 409, 503) } } },
    async (req, reply) => {
      const body = req.body;
      const r = await auth.createUser(body);
      await audit(req, 'user.create', `user:${body.name.slice(0, 40)}`, r.ok ? 'ok' : 'failed', r.ok ? { role: r.user.role } : { code: r.code });
      return r.ok ? reply.code(201).send({ user: r.user }) : sendFailure(reply, r);
    },
  );

  app.patch<{ Params: { name: string }; Body: UserChange }>(
    '/api/v1/users/:name',
    {
      config: MANAGE,
      schema: {
        tags,
        summary: "Change a user's role and/or password (a new password logs their sessions out)",
        params: NameParams,
        body: UserUpdate,
        response: { 200: UserReply('Changed'), ...errors(400, 404, 409, 503) },
      },
    },
    async (req, reply) => {
      const body = req.body;
      const p = req.principal as Principal;
      const r = await auth.updateUser(req.params.name, body, p.user === req.params.name ? p.sessionKey : undefined);
      const changed = {
        changed: [...(body.role !== undefined ? ['role'] : []), ...(body.password !== undefined ? ['password'] : [])],
        ...(body.role !== undefined ? { role: body.role.slice(0, 40) } : {}),
      };
      await audit(req, 'user.update', `user:${req.params.name}`, r.ok ? 'ok' : 'failed', r.ok ? changed : { ...changed, code: r.code });
      return r.ok ? { user: r.user } : sendFailure(reply, r);
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/api/v1/users/:name',
    {
      config: MANAGE,
      schema: {
        tags,
        summary: 'Delete a user (not the last one who can manage users)',
        params: NameParams,
        response: { 204: NoContent('Deleted'), ...errors(404, 409, 503) },
      },
    },
    async (req, reply) => {
      const r = await auth.deleteUser(req.params.name);
      await audit(req, 'user.delete', `user:${req.params.name}`, r.ok ? 'ok' : 'failed', r.ok ? {} : { code: r.code });
      return r.ok ? reply.code(204).send() : sendFailure(reply, r);
    },
  );

  app.get(
    '/api/v1/roles',
    {
      config: MANAGE,
      schema: {
        tags,
        summary: 'Every role with its permissions',
        response: { 200: Type.Object({ roles: Type.Array(RoleView) }, { description: 'Roles' }), ...errors(503) },
      },
    },
    async (_req, reply) => {
      const r = await auth.listRoles();
      return r.ok ? { roles: r.roles } : sendFailure(reply, r);
    },
  );

  app.post<{ Body: NewRole }>(
    '/api/v1/roles',
    {
      config: MANAGE,
      schema: {
        tags,
        summary: 'Add a role',
        body: RoleCreate,
        response: { 201: Type.Object({ role: RoleView }, { description: 'Added' }), ...errors(400, 409, 503) },
      },
    },
    async (req, reply) => {
      const body = req.body;
      const r = await auth.createRole(body);
      await audit(req, 'role.create', `role:${body.name.slice(0, 40)}`, r.ok ? 'ok' : 'failed', r.ok ? { permissions: r.role.permissions } : { code: r.code });
      return r.ok ? reply.code(201).send({ role: r.role }) : sendFailure(reply, r);
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/api/v1/roles/:name',
    {
      config: MANAGE,
      schema: { tags, summary: 'Delete a custom role no user holds', params: NameParams, response: { 204: NoContent('Deleted'), ...errors(404, 409, 503) } },
    },
    async (req, reply) => {
      const r = await auth.deleteRole(req.params.name);
      await audit(req, 'role.delete', `role:${req.params.name}`, r.ok ? 'ok' : 'failed', r.ok ? {} : { code: r.code });
      return r.ok ? reply.code(204).send() : sendFailure(reply, r);
    },
  );
}
