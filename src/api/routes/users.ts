/** Users and roles: ManageUsers for all of it. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AuthService, Principal } from '../../services/auth-service.js';
import { audit } from '../auth-plugin.js';
import { answer, listReply, noContent, operations } from '../route.js';
import { NameParams, Permission, RoleCreate, RoleUpdate, RoleView, UserCreate, UserUpdate, UserView } from '../schemas.js';
import type { RoleCreate as NewRole, RoleUpdate as RoleChange, UserCreate as NewUser, UserUpdate as UserChange } from '../wire.js';

const op = operations(['users and audit']);
const UserReply = (description: string) => Type.Object({ user: UserView }, { description });
type ByName = { Params: { name: string } };

export function userRoutes(app: FastifyInstance, auth: AuthService): void {
  const list = op('ManageUsers', 'Every user (never a password hash)', { reply: [200, listReply('users', UserView, 'Users')], errors: [503] });
  app.get('/api/v1/users', list, async (_req, reply) => answer(reply, await auth.listUsers(), (r) => ({ users: r.users })));

  const one = op('ManageUsers', 'One user, with the permissions of their role', {
    params: NameParams,
    reply: [200, Type.Object({ user: UserView, permissions: Type.Array(Permission) }, { description: 'The user' })],
    errors: [404, 503],
  });
  app.get<ByName>('/api/v1/users/:name', one, async (req, reply) =>
    answer(reply, await auth.getUser(req.params.name), (r) => ({ user: r.user, permissions: r.permissions })),
  );

  const create = op('ManageUsers', 'Add a user', { body: UserCreate, reply: [201, UserReply('Added')], errors: [400, 409, 503] });
  app.post<{ Body: NewUser }>('/api/v1/users', create, async (req, reply) => {
    const r = await auth.createUser(req.body);
    await audit(req, 'user.create', `user:${req.body.name.slice(0, 40)}`, r.ok ? 'ok' : 'failed', r.ok ? { role: r.user.role } : { code: r.code });
    return answer(reply, r, (ok) => ({ user: ok.user }), 201);
  });

  const update = op('ManageUsers', "Change a user's role and/or password (a new password logs their sessions out)", {
    params: NameParams,
    body: UserUpdate,
    reply: [200, UserReply('Changed')],
    errors: [400, 404, 409, 503],
  });
  app.patch<ByName & { Body: UserChange }>('/api/v1/users/:name', update, async (req, reply) => {
    const body = req.body;
    const p = req.principal as Principal;
    const r = await auth.updateUser(req.params.name, body, p.user === req.params.name ? p.sessionKey : undefined);
    const changed = {
      changed: [...(body.role !== undefined ? ['role'] : []), ...(body.password !== undefined ? ['password'] : [])],
      ...(body.role !== undefined ? { role: body.role.slice(0, 40) } : {}),
    };
    await audit(req, 'user.update', `user:${req.params.name}`, r.ok ? 'ok' : 'failed', r.ok ? changed : { ...changed, code: r.code });
    return answer(reply, r, (ok) => ({ user: ok.user }));
  });

  const roles = op('ManageUsers', 'Every role with its permissions', { reply: [200, listReply('roles', RoleView, 'Roles')], errors: [503] });
  app.get('/api/v1/roles', roles, async (_req, reply) => answer(reply, await auth.listRoles(), (r) => ({ roles: r.roles })));

  const addRole = op('ManageUsers', 'Add a role', {
    body: RoleCreate,
    reply: [201, Type.Object({ role: RoleView }, { description: 'Added' })],
    errors: [400, 409, 503],
  });
  app.post<{ Body: NewRole }>('/api/v1/roles', addRole, async (req, reply) => {
    const r = await auth.createRole(req.body);
    await audit(
      req,
      'role.create',
      `role:${req.body.name.slice(0, 40)}`,
      r.ok ? 'ok' : 'failed',
      r.ok ? { permissions: r.role.permissions } : { code: r.code },
    );
    return answer(reply, r, (ok) => ({ role: ok.role }), 201);
  });

  const editRole = op('ManageUsers', "Change a custom role's permissions (built-in roles are fixed)", {
    description:
      'The body is the whole new list. Refused with 409 `role_builtin` for a built-in role and 409 `last_admin` when taking ManageUsers away would leave no user who can manage users. Users holding the role get the new permissions at once.',
    params: NameParams,
    body: RoleUpdate,
    reply: [200, Type.Object({ role: RoleView }, { description: 'Changed' })],
    errors: [400, 404, 409, 503],
  });
  app.put<ByName & { Body: RoleChange }>('/api/v1/roles/:name', editRole, async (req, reply) => {
    const r = await auth.updateRole(req.params.name, req.body);
    await audit(
      req,
      'role.update',
      `role:${req.params.name.slice(0, 40)}`,
      r.ok ? 'ok' : 'failed',
      r.ok ? { before: r.before, permissions: r.role.permissions } : { code: r.code },
    );
    return answer(reply, r, (ok) => ({ role: ok.role }));
  });

  // Deleting a user or a role: the same request, audited the same way.
  const removals = [
    [
      'users',
      'user',
      'Delete a user (not yourself: 409 self_delete; not the last one who can manage users: 409 last_admin)',
      (name: string, caller: string) => auth.deleteUser(name, caller),
    ],
    ['roles', 'role', 'Delete a custom role no user holds', (name: string) => auth.deleteRole(name)],
  ] as const;
  for (const [path, what, summary, run] of removals) {
    const remove = op('ManageUsers', summary, { params: NameParams, reply: [204, noContent('Deleted')], errors: [404, 409, 503] });
    app.delete<ByName>(`/api/v1/${path}/:name`, remove, async (req, reply) => {
      const r = await run(req.params.name, (req.principal as Principal).user);
      await audit(req, `${what}.delete`, `${what}:${req.params.name}`, r.ok ? 'ok' : 'failed', r.ok ? {} : { code: r.code });
      return answer(reply, r, () => undefined, 204);
    });
  }
}
