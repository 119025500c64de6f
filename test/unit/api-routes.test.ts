/**
 * The HTTP API in this process (app.inject) over the embedded stores: no agent, no tgtd, milliseconds
 * per request. Beside the end-to-end tests (test/integration), these check every route's contract:
 *
 * - the route list (Fastify's onRoute): every /api route has a schema with its replies, declares a
 *   permission or is public on purpose, and is in the generated OpenAPI document with that permission;
 * - access: every non-public route refuses a caller without credentials (401), a cookie request
 *   without its CSRF token (403), and a caller without the route's permission (403, naming it);
 * - validation: a schema rejection answers {code, message, details.field} with a stable code, and the
 *   domain's own codes per field still come first where the shape is right;
 * - replies keep every field the web UI reads (the serializer drops what a schema does not list);
 * - stored records: an old record (no schema version) is read, and written back with one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RouteOptions } from 'fastify';
import { PERMISSIONS, type PermissionRequirement } from '../../src/domain/auth.js';
import { diskKey, nodeKey, ownerKey } from '../../src/domain/keys.js';
import { hostsKey } from '../../src/domain/hosts.js';
import { recordJson } from '../../src/domain/records.js';
import { ADMIN_PW, type ApiApp, type Caller, startApiApp } from '../helpers/api-app.js';

const PUBLIC = new Set(['POST /api/v1/auth/login', 'POST /api/v1/auth/logout', 'GET /api/v1/health']);
const DOCS = '/api/docs';

const methods = (r: RouteOptions): string[] => (Array.isArray(r.method) ? r.method : [r.method]).map(String);
const isDocs = (url: string) => url === DOCS || url.startsWith(`${DOCS}/`);
/** The API routes as registered (HEAD twins of GET routes left out: Fastify adds them itself). */
function apiRoutes(a: ApiApp): { method: string; url: string; route: RouteOptions }[] {
  return a.routes
    .flatMap((route) => methods(route).map((method) => ({ method, url: route.url, route })))
    .filter((r) => r.url.startsWith('/api') && r.method !== 'HEAD');
}
/** A concrete URL for a route: its parameters filled with values that name nothing. */
const concrete = (url: string) =>
  url
    .replace(':id/paths/:n', '00042/paths/1')
    .replace(':id', url.includes('tokens') ? '0123456789abcdef' : '00042')
    .replace(':name', 'nobody')
    .replace(':snap', 'nosnap');
const openapiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

describe('API routes in process (app.inject, embedded stores)', () => {
  let a: ApiApp;
  let admin: Caller;
  let viewer: Caller;

  before(async () => {
    a = await startApiApp();
    admin = await a.login('admin', ADMIN_PW);
    viewer = await a.userWithRole('vic', 'viewer');
  });
  after(async () => {
    await a?.close();
  });

  describe('the route list', () => {
    it('every /api route has a schema with its replies, a permission or a public marker, and an entry in the generated document', async () => {
      const doc = (await a.anonymous('GET', `${DOCS}/json`)).json;
      const routes = apiRoutes(a);
      assert.ok(routes.length >= 30, `${routes.length} routes`);
      const problems: string[] = [];
      const documented = new Set<string>();
      for (const { method, url, route } of routes) {
        const what = `${method} ${url}`;
        const config = (route.config ?? {}) as { permission?: PermissionRequirement; public?: boolean };
        const schema = route.schema as { hide?: boolean; response?: Record<string, unknown>; summary?: string } | undefined;
        if (isDocs(url)) {
          // The viewer's own routes (@fastify/swagger-ui): public, and not operations of the API.
          if (config.public !== true) problems.push(`${what}: a docs route that is not public`);
          continue;
        }
        if (!schema?.response || Object.keys(schema.response).length === 0) problems.push(`${what}: no reply schema`);
        if (!schema?.summary) problems.push(`${what}: no summary`);
        if (config.public === true) {
          if (!PUBLIC.has(what)) problems.push(`${what}: public, but not one of the routes meant to be (${[...PUBLIC].join(', ')})`);
          if (config.permission !== undefined) problems.push(`${what}: both public and a permission`);
        } else if (config.permission === undefined) problems.push(`${what}: no permission declared (config.permission) and not public`);
        else if (![config.permission].flat().every((p) => (PERMISSIONS as readonly string[]).includes(p))) problems.push(`${what}: unknown permission`);
        const op = doc.paths?.[openapiPath(url)]?.[method.toLowerCase()];
        if (!op) {
          problems.push(`${what}: not in the OpenAPI document`);
          continue;
        }
        documented.add(`${method.toLowerCase()} ${openapiPath(url)}`);
        if (config.public) assert.deepEqual(op.security, [], `${what}: public in the document`);
        else {
          assert.deepEqual(op['x-permission'], config.permission, `${what}: x-permission is the route's`);
          assert.match(op.description, /Needs the .* permission\./, `${what}: the permission in the description`);
          for (const s of ['401', '503']) assert.ok(op.responses[s], `${what}: documents ${s}`);
          if (config.permission !== 'ViewOnly' || method !== 'GET') assert.ok(op.responses['403'], `${what}: documents 403`);
        }
      }
      assert.deepEqual(problems, []);
      // ...and the document has nothing but those routes.
      const inDoc = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
      assert.deepEqual(
        inDoc.filter((x) => !documented.has(x)),
        [],
      );
    });

    it('the document is served at /api/docs (JSON for scripts, the viewer for a browser) and /api/docs/json, without a login', async () => {
      const json = await a.anonymous('GET', DOCS);
      assert.equal(json.status, 200);
      assert.equal(json.json.openapi, '3.1.0');
      assert.equal(json.json.paths['/api/v1/users'].post['x-permission'], 'ManageUsers');
      assert.deepEqual(json.json.paths['/api/v1/audit'].get['x-permission'], [
        'AddDisk',
        'EditDisk',
        'DeleteDisk',
        'StartStopDisk',
        'AssignPaths',
        'ManageSnapshots',
        'ManageUsers',
        'ManageConfig',
      ]);
      assert.deepEqual((await a.anonymous('GET', `${DOCS}/json`)).json, json.json);
      const html = await a.anonymous('GET', DOCS, undefined, { accept: 'text/html,application/xhtml+xml' });
      assert.equal(html.status, 200);
      assert.match(String(html.headers['content-type']), /text\/html/);
      assert.match(html.body, /swagger-ui/i);
      // Shared schemas are components; the placement description and the move note are carried over.
      assert.ok(json.json.components.schemas.Disk && json.json.components.schemas.Path && json.json.components.schemas.Error);
      assert.match(json.json.components.schemas.Disk.properties.placement.description, /Disks made before placement existed are spread/);
      assert.match(json.json.components.schemas.Path.properties.problem.description, /storage fencing/);
      assert.match(json.json.paths['/api/v1/disks/{id}/paths/{n}/move'].post.description, /every path of a shared disk moves with it/);
      assert.ok(json.json.paths['/api/v1/disks'].post.responses['503'].headers['Retry-After']);
    });
  });

  describe('access', () => {
    it('every non-public route: 401 without credentials (the event stream too)', async () => {
      for (const { method, url, route } of apiRoutes(a)) {
        if ((route.config as { public?: boolean } | undefined)?.public) continue;
        const r = await a.anonymous(method as 'GET', concrete(url), method === 'GET' || method === 'DELETE' ? undefined : {});
        assert.equal(r.status, 401, `${method} ${url}: ${r.body}`);
        assert.equal(r.json.code, 'unauthenticated', `${method} ${url}`);
        assert.equal(r.json.details.reason, 'no_credentials');
      }
    });

    it('every non-GET route: 403 csrf_failed for a session request without its CSRF token', async () => {
      for (const { method, url, route } of apiRoutes(a)) {
        if (method === 'GET' || (route.config as { public?: boolean } | undefined)?.public) continue;
        const r = await admin(method as 'POST', concrete(url), method === 'DELETE' ? undefined : {}, { 'x-csrf-token': 'not-the-token' });
        assert.equal(r.status, 403, `${method} ${url}: ${r.body}`);
        assert.equal(r.json.code, 'csrf_failed', `${method} ${url}`);
      }
    });

    it("every route needing more than ViewOnly: 403 forbidden for a viewer, naming the route's permission; nothing is done", async () => {
      let checked = 0;
      for (const { method, url, route } of apiRoutes(a)) {
        const need = (route.config as { permission?: PermissionRequirement } | undefined)?.permission;
        if (need === undefined || need === 'ViewOnly') continue;
        const r = await viewer(method as 'POST', concrete(url), method === 'GET' || method === 'DELETE' ? undefined : {});
        assert.equal(r.status, 403, `${method} ${url}: ${r.body}`);
        assert.equal(r.json.code, 'forbidden');
        assert.deepEqual(r.json.details, { permission: need });
        checked++;
      }
      assert.ok(checked >= 20, `${checked} routes`);
      assert.equal((await viewer('GET', '/api/v1/auth/tokens?all=true')).json.details.permission, 'ManageUsers', "everyone's tokens: ManageUsers");
    });

    it('a viewer reaches every ViewOnly route (no 401/403)', async () => {
      for (const { method, url, route } of apiRoutes(a)) {
        if ((route.config as { permission?: unknown } | undefined)?.permission !== 'ViewOnly' || url === '/api/v1/events') continue;
        const body = method === 'POST' ? (url.endsWith('/password') ? { currentPassword: 'x', newPassword: 'y' } : { name: 'viewer token' }) : undefined;
        const r = await viewer(method as 'GET', concrete(url), body);
        assert.ok(r.status !== 401 && !(r.status === 403 && r.json.code === 'forbidden'), `${method} ${url}: ${r.status} ${r.body}`);
      }
    });
  });

  describe('validation: the failure shape and a stable code naming the field', () => {
    const cases: [string, string, string, unknown, number, string, string?][] = [
      // [what, method, url, body, status, code, field]
      ['disk: body not an object', 'POST', '/api/v1/disks', [1, 2], 400, 'invalid_request'],
      ['disk: body not JSON', 'POST', '/api/v1/disks', '{"name": ', 400, 'invalid_request'],
      ['disk: unknown field', 'POST', '/api/v1/disks', { name: 'a', sizeGb: 1, activePaths: 1, subnet: 1, admin: true }, 400, 'invalid_request', 'admin'],
      ['disk: name missing', 'POST', '/api/v1/disks', { sizeGb: 1, activePaths: 1, subnet: 1 }, 400, 'data_missing', 'name'],
      ['disk: size of the wrong type', 'POST', '/api/v1/disks', { name: 'a', sizeGb: true, activePaths: 1, subnet: 1 }, 400, 'invalid_request', 'sizeGb'],
      ['disk: size not a number (the domain)', 'POST', '/api/v1/disks', { name: 'a', sizeGb: 'abc', activePaths: 1, subnet: 1 }, 400, 'invalid_size', 'sizeGb'],
      ['disk: 9 paths (the domain)', 'POST', '/api/v1/disks', { name: 'a', sizeGb: 1, activePaths: 9, subnet: 1 }, 400, 'invalid_path_count', 'activePaths'],
      [
        'disk: acl.mode of the wrong type',
        'POST',
        '/api/v1/disks',
        { name: 'a', sizeGb: 1, activePaths: 1, subnet: 1, acl: { mode: 5 } },
        400,
        'invalid_request',
        'acl.mode',
      ],
      [
        'disk: bad IQN (the domain)',
        'POST',
        '/api/v1/disks',
        { name: 'a', sizeGb: 1, activePaths: 1, subnet: 1, acl: { mode: 'iqn', iqn: 'x' } },
        400,
        'invalid_iqn',
        'acl.iqn',
      ],
      [
        'disk: placement (the domain)',
        'POST',
        '/api/v1/disks',
        { name: 'a', sizeGb: 1, activePaths: 1, subnet: 1, placement: 'both' },
        400,
        'invalid_placement',
        'placement',
      ],
      ['edit: unknown field', 'PATCH', '/api/v1/disks/00042', { iqn: 'x' }, 400, 'invalid_request', 'iqn'],
      ['edit: no such disk', 'PATCH', '/api/v1/disks/00042', { name: 'b' }, 404, 'disk_not_found'],
      ['get: a malformed id is no disk', 'GET', '/api/v1/disks/abc', undefined, 404, 'disk_not_found'],
      ['attach: image missing', 'POST', '/api/v1/images/attach', { keepPaths: true }, 400, 'data_missing', 'image'],
      ['attach: keepPaths of the wrong type', 'POST', '/api/v1/images/attach', { image: 'x', keepPaths: 'yes' }, 400, 'invalid_request', 'keepPaths'],
      ['move: node missing', 'POST', '/api/v1/disks/00042/paths/1/move', {}, 400, 'data_missing', 'node'],
      ['move: node of the wrong type', 'POST', '/api/v1/disks/00042/paths/1/move', { node: 5 }, 400, 'invalid_request', 'node'],
      ['move: no such disk', 'POST', '/api/v1/disks/00042/paths/1/move', { node: 'n1' }, 404, 'disk_not_found'],
      ['drain: no such node', 'POST', '/api/v1/nodes/nobody/drain', undefined, 404, 'node_not_found'],
      ['login: password missing', 'POST', '/api/v1/auth/login', { username: 'admin' }, 400, 'data_missing', 'password'],
      ['login: unknown field', 'POST', '/api/v1/auth/login', { username: 'admin', password: 'x', remember: true }, 400, 'invalid_request', 'remember'],
      ['login: wrong password', 'POST', '/api/v1/auth/login', { username: 'admin', password: 'wrong-password' }, 401, 'invalid_credentials'],
      ['password: new one missing', 'POST', '/api/v1/auth/password', { currentPassword: ADMIN_PW }, 400, 'data_missing', 'newPassword'],
      [
        'password: current one wrong',
        'POST',
        '/api/v1/auth/password',
        { currentPassword: 'wrong-one-123', newPassword: 'Other-Pass-123' },
        403,
        'wrong_password',
        'currentPassword',
      ],
      ['token: name missing', 'POST', '/api/v1/auth/tokens', {}, 400, 'data_missing', 'name'],
      ['token: empty name (the domain)', 'POST', '/api/v1/auth/tokens', { name: '' }, 400, 'invalid_token_name', 'name'],
      ['revoke: no such token', 'DELETE', '/api/v1/auth/tokens/0123456789abcdef', undefined, 404, 'token_not_found'],
      [
        'user: unknown field',
        'POST',
        '/api/v1/users',
        { name: 'vera', password: 'Viewer-Pw-123', role: 'viewer', admin: true },
        400,
        'invalid_request',
        'admin',
      ],
      ['user: bad name (the domain)', 'POST', '/api/v1/users', { name: 'Vera', password: 'Viewer-Pw-123', role: 'viewer' }, 400, 'invalid_username', 'name'],
      ['user: role missing', 'POST', '/api/v1/users', { name: 'vera', password: 'Viewer-Pw-123' }, 400, 'data_missing', 'role'],
      ['user: nothing to change', 'PATCH', '/api/v1/users/vic', {}, 400, 'invalid_request'],
      ['user: role of the wrong type', 'PATCH', '/api/v1/users/vic', { role: ['admin'] }, 400, 'invalid_request', 'role'],
      ['user: no such user', 'DELETE', '/api/v1/users/nobody', undefined, 404, 'user_not_found'],
      ['role: permissions not a list', 'POST', '/api/v1/roles', { name: 'r1', permissions: 'AddDisk' }, 400, 'invalid_request', 'permissions'],
      ['role: unknown permission (the domain)', 'POST', '/api/v1/roles', { name: 'r1', permissions: ['Root'] }, 400, 'invalid_permissions', 'permissions'],
      ['role: built-in', 'DELETE', '/api/v1/roles/viewer', undefined, 409, 'role_builtin'],
      ['audit: limit 0', 'GET', '/api/v1/audit?limit=0', undefined, 400, 'invalid_request', 'limit'],
      ['audit: limit not a number', 'GET', '/api/v1/audit?limit=abc', undefined, 400, 'invalid_request', 'limit'],
      ['audit: limit too big', 'GET', '/api/v1/audit?limit=201', undefined, 400, 'invalid_request', 'limit'],
      ['audit: before not an entry id', 'GET', '/api/v1/audit?before=zzz', undefined, 400, 'invalid_request', 'before'],
      ['unknown route', 'GET', '/api/v1/nope', undefined, 404, 'not_found'],
    ];
    for (const [what, method, url, body, status, code, field] of cases)
      it(`${what}: ${status} ${code}${field ? ` (${field})` : ''}`, async () => {
        const r = await admin(method as 'POST', url, body);
        assert.equal(r.status, status, `${r.body}`);
        assert.deepEqual(Object.keys(r.json).sort(), ['code', 'details', 'message']);
        assert.equal(r.json.code, code, r.body);
        assert.equal(r.json.details.field, field, r.body);
        assert.equal(typeof r.json.message, 'string');
        assert.doesNotMatch(r.json.message, /Error:|undefined|\bat \w+ \(/);
      });
  });

  describe('replies keep every field the clients read', () => {
    it('disk and path views: placement, problem, node (written by an agent: here straight into the store)', async () => {
      const add = await admin('POST', '/api/v1/disks', { name: 'shown', sizeGb: 1, activePaths: 2, subnet: 3, acl: { mode: 'all' }, auth: { mode: 'none' } });
      assert.equal(add.status, 201, add.body);
      const id = add.json.disk.id as string;
      assert.deepEqual(Object.keys(add.json.disk).sort(), [
        'acl',
        'chapUser',
        'createdAt',
        'id',
        'iqn',
        'name',
        'pathCount',
        'pathsServed',
        'placement',
        'qos',
        'sizeGb',
        'status',
        'subnet',
        'targetChapUser',
      ]);
      await a.store.put(nodeKey('n1'), recordJson('node', { name: 'n1', startedAt: new Date().toISOString() }));
      await a.store.put(ownerKey(id, 1), recordJson('owner', { node: 'n1', state: 'configuring', problem: 'storage fencing failed: Ceph unreachable' }));
      await a.store.put(ownerKey(id, 2), recordJson('owner', { node: 'n1', state: 'served' }));
      const disk = (await admin('GET', `/api/v1/disks/${id}`)).json.disk;
      assert.equal(disk.placement, 'shared');
      assert.equal(disk.problem, 'storage fencing failed: Ceph unreachable');
      assert.equal(disk.pathsServed, 1);
      const listed = (await admin('GET', '/api/v1/disks')).json.disks.find((d: { id: string }) => d.id === id);
      assert.equal(listed.problem, disk.problem);
      const paths = (await admin('GET', `/api/v1/disks/${id}/paths`)).json.paths;
      assert.deepEqual(
        paths.map((p: Record<string, unknown>) => [p.index, p.node, p.state, p.problem ?? null]),
        [
          [1, 'n1', 'configuring', 'storage fencing failed: Ceph unreachable'],
          [2, 'n1', 'served', null],
        ],
      );
      assert.deepEqual(Object.keys(paths[0]).sort(), ['eth', 'hosts', 'index', 'ip', 'node', 'problem', 'state', 'subnetMask']);
      const nodes = (await admin('GET', '/api/v1/nodes')).json.nodes;
      assert.deepEqual(nodes, [{ name: 'n1', up: true, drained: false, paths: [`${id}/1`, `${id}/2`], pathCount: 2 }]);

      // Connected hosts (recorded by the node's agent from its tgtd: here straight into the store).
      const host = { iqn: 'iqn.1994-05.com.example:h1', address: '10.9.0.5', portal: paths[1].ip, connections: 1, since: new Date().toISOString() };
      await a.store.put(hostsKey(id, 'n1'), recordJson('hosts', { sessions: [host], at: host.since }));
      await a.store.put(hostsKey(id, 'dead-node'), recordJson('hosts', { sessions: [{ ...host, iqn: 'iqn.1994-05.com.example:gone' }], at: host.since }));
      const withHosts = (await admin('GET', `/api/v1/disks/${id}`)).json.disk;
      assert.deepEqual(withHosts.hosts, [{ ...host, node: 'n1', path: 2 }], 'only live nodes count');
      const pathHosts = (await admin('GET', `/api/v1/disks/${id}/paths`)).json.paths.map((p: { hosts: { iqn: string }[] }) => p.hosts.map((h) => h.iqn));
      assert.deepEqual(pathHosts, [[], ['iqn.1994-05.com.example:h1']]);
      const refused = await admin('POST', `/api/v1/disks/${id}/stop`);
      assert.equal(refused.status, 409, refused.body);
      assert.equal(refused.json.code, 'hosts_connected');
      assert.deepEqual(refused.json.details.hosts, withHosts.hosts);
      assert.equal((await admin('GET', `/api/v1/disks/${id}`)).json.disk.status !== 'stopping', true, 'nothing changed');
      assert.equal((await admin('POST', `/api/v1/disks/${id}/stop?force=true`)).status, 200);
      assert.equal((await admin('POST', `/api/v1/disks/${id}/start`)).status, 200);
      assert.equal((await admin('POST', `/api/v1/disks/${id}/stop`, { force: true })).status, 200);
      await a.store.delete(hostsKey(id, 'dead-node'));
    });

    it('users, roles, tokens, audit entries, me, config', async () => {
      const me = (await admin('GET', '/api/v1/auth/me')).json;
      assert.deepEqual(Object.keys(me).sort(), ['csrfToken', 'sessionIdleSeconds', 'user', 'via']);
      assert.deepEqual(Object.keys((await admin('GET', '/api/v1/users')).json.users[0]).sort(), ['createdAt', 'name', 'role', 'updatedAt']);
      assert.deepEqual(Object.keys((await admin('GET', '/api/v1/roles')).json.roles[0]).sort(), ['builtin', 'name', 'permissions']);
      const token = await admin('POST', '/api/v1/auth/tokens', { name: 'scripts' });
      assert.equal(token.status, 201);
      assert.deepEqual(Object.keys(token.json).sort(), ['createdAt', 'id', 'lastUsedAt', 'name', 'note', 'token', 'user']);
      assert.deepEqual(Object.keys((await admin('GET', '/api/v1/auth/tokens')).json.tokens[0]).sort(), ['createdAt', 'id', 'lastUsedAt', 'name', 'user']);
      const entry = (await admin('GET', '/api/v1/audit?limit=1')).json.entries[0];
      assert.deepEqual(Object.keys(entry).sort(), ['action', 'actor', 'details', 'id', 'ip', 'outcome', 'target', 'time', 'via']);
      assert.deepEqual(Object.keys((await admin('GET', '/api/v1/config')).json.subnet1).sort(), [
        'autoIpFrom',
        'autoIpTo',
        'cidr',
        'eth',
        'mask',
        'network',
        'prefix',
      ]);
    });
  });

  describe('stored records: read old (no schema version), write new', () => {
    it('a disk registered before versions (record and metadata without v, without placement) reads as spread and is written back versioned, still without placement', async () => {
      const add = await admin('POST', '/api/v1/disks', { name: 'old-disk', sizeGb: 1, activePaths: 1, subnet: 1 });
      const id = add.json.disk.id as string;
      // Make both as a release before versions and placement wrote them.
      const rec = JSON.parse((await a.store.get(diskKey(id)))?.value as string);
      assert.equal(rec.v, 1, 'written with its version');
      const { v: _v, placement: _p, ...old } = rec;
      await a.store.put(diskKey(id), JSON.stringify(old));
      const meta = JSON.parse((await a.images.getMeta(`image-${id}`)) as string);
      assert.equal(meta.v, 1);
      const { v: _mv, placement: _mp, ...oldMeta } = meta;
      await a.images.setMeta(`image-${id}`, JSON.stringify(oldMeta));

      assert.equal((await admin('GET', `/api/v1/disks/${id}`)).json.disk.placement, 'spread', 'no placement: spread');
      const edited = await admin('PATCH', `/api/v1/disks/${id}`, { name: 'old-disk-renamed' });
      assert.equal(edited.status, 200, edited.body);
      assert.equal(edited.json.disk.placement, 'spread');
      const stored = JSON.parse((await a.store.get(diskKey(id)))?.value as string);
      assert.equal(stored.v, 1, 'the record is written back with its version');
      assert.equal(stored.name, 'old-disk-renamed');
      const storedMeta = JSON.parse((await a.images.getMeta(`image-${id}`)) as string);
      assert.equal(storedMeta.v, 1, 'the metadata too');
      assert.equal('placement' in storedMeta, false, 'a disk made before placement keeps no placement (its target id stays 1)');
    });

    it('a user stored before versions logs in; a change writes the record back versioned', async () => {
      await admin('POST', '/api/v1/users', { name: 'olga', password: 'Secret-Words-77', role: 'viewer' });
      const key = '/portway/auth/users/olga';
      const rec = JSON.parse((await a.store.get(key))?.value as string);
      assert.equal(rec.v, 1);
      const { v: _v, ...old } = rec;
      await a.store.put(key, JSON.stringify(old));
      const olga = await a.login('olga', 'Secret-Words-77');
      assert.equal((await olga('GET', '/api/v1/auth/me')).json.user.name, 'olga');
      assert.equal((await admin('PATCH', '/api/v1/users/olga', { role: 'operator' })).status, 200);
      const back = JSON.parse((await a.store.get(key))?.value as string);
      assert.equal(back.v, 1);
      assert.equal(back.role, 'operator');
    });
  });
});
