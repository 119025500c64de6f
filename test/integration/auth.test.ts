/**
 * Access control on the real product over real HTTP: logins and sessions (cookie, CSRF, idle expiry),
 * API tokens, users and roles, permissions on the disk routes, the audit log, and no secret in any list,
 * response or log line. Test products use loopback octets 70-71.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { withRedaction } from '../../src/app/logging.js';
import { type LoggedIn, type TestProduct, addBody, api, bearerApi, login, missingTools, startTestProduct, withAuth } from '../helpers/product.js';

const skip = missingTools(['tgtd', 'tgtadm']);
const ADMIN_PW = 'Correct-Horse-42';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A logger whose lines (JSON) the test can read; debug level so request logs are in. */
function capturingLogger() {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  return { lines, log };
}

describe('access control on the real product', { skip }, () => {
  let tp: TestProduct;
  let admin: LoggedIn;
  const logs = capturingLogger();
  /** Every secret the test makes: none may show up where it should not. */
  const secrets: string[] = [ADMIN_PW];
  const remember = (s: LoggedIn) => {
    secrets.push(s.cookie.split('=')[1] as string);
    return s;
  };

  before(async () => {
    tp = await startTestProduct(70, withAuth(), { log: logs.log });
    admin = remember(await login(tp.product, 'admin', ADMIN_PW));
  });
  after(async () => {
    await tp?.cleanup();
  });

  it('health and docs are public; every other API route, and the event stream, needs a login', async () => {
    assert.equal((await api(tp.product, 'GET', '/api/v1/health')).status, 200);
    const docs = await api(tp.product, 'GET', '/api/docs');
    assert.equal(docs.status, 200);
    assert.ok(docs.json.paths['/api/v1/auth/login'].post);
    assert.equal(docs.json.paths['/api/v1/users'].post['x-permission'], 'ManageUsers');
    for (const [method, path] of [
      ['GET', '/api/v1/disks'],
      ['GET', '/api/v1/config'],
      ['GET', '/api/v1/events'],
      ['GET', '/api/v1/auth/me'],
      ['GET', '/api/v1/users'],
      ['GET', '/api/v1/audit'],
      ['GET', '/api/v1/no-such-route'],
      ['POST', '/api/v1/disks'],
      ['POST', '/api/v1/users'],
      ['DELETE', '/api/v1/users/admin'],
    ] as const) {
      const r = await api(tp.product, method, path, method === 'GET' ? undefined : {});
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.equal(r.json.code, 'unauthenticated', `${method} ${path}`);
      assert.equal(typeof r.json.message, 'string');
    }
    const garbage = await api(tp.product, 'GET', '/api/v1/disks', undefined);
    assert.equal(garbage.json.details.reason, 'no_credentials');
  });

  it('login: one answer for a wrong password and an unknown user; a strict HttpOnly cookie; /me without any hash', async () => {
    await assert.rejects(login(tp.product, 'admin', 'not-the-password'), /login as admin failed: 401/);
    const wrongRes = await fetch(`${tp.product.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'not-the-password' }),
    });
    const wrong = { status: wrongRes.status, json: await wrongRes.json(), headers: wrongRes.headers };
    const unknown = await api(tp.product, 'POST', '/api/v1/auth/login', { username: 'nobody', password: 'not-the-password' });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.json, unknown.json);
    assert.deepEqual(wrong.json, { code: 'invalid_credentials', message: 'Wrong username or password.', details: {} });
    assert.equal(wrong.headers.getSetCookie().length, 0);
    const bad = await api(tp.product, 'POST', '/api/v1/auth/login', 'username=admin');
    assert.equal(bad.status, 400);

    const res = await fetch(`${tp.product.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PW }),
    });
    assert.equal(res.status, 200);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('portway_session=')) as string;
    assert.ok(cookie);
    const attrs = cookie.split(';').map((a) => a.trim().toLowerCase());
    assert.ok(attrs.includes('httponly'), cookie);
    assert.ok(attrs.includes('samesite=strict'), cookie);
    assert.ok(attrs.includes('path=/'), cookie);
    assert.ok(!attrs.includes('secure'), 'plain http: not Secure unless auth.secureCookie');
    secrets.push(cookie.split(';')[0]?.split('=')[1] as string);

    const me = await admin.api('GET', '/api/v1/auth/me');
    assert.equal(me.status, 200);
    assert.deepEqual(me.json.user, {
      name: 'admin',
      role: 'admin',
      permissions: ['AddDisk', 'EditDisk', 'DeleteDisk', 'StartStopDisk', 'AssignPaths', 'ManageSnapshots', 'ManageUsers', 'ManageConfig', 'ViewOnly'],
    });
    assert.equal(me.json.csrfToken, admin.csrf);
    assert.doesNotMatch(JSON.stringify(me.json), /hash|salt|password/i);
  });

  it('logout deletes the session: the cookie no longer works', async () => {
    const s = remember(await login(tp.product, 'admin', ADMIN_PW));
    assert.equal((await s.api('GET', '/api/v1/disks')).status, 200);
    assert.equal((await s.api('POST', '/api/v1/auth/logout', undefined, { csrf: null })).status, 403, 'logout needs the CSRF token too');
    const out = await s.api('POST', '/api/v1/auth/logout');
    assert.equal(out.status, 204);
    assert.ok(
      out.headers.getSetCookie().some((c) => /^portway_session=;/.test(c)),
      'the cookie is cleared',
    );
    const after = await s.api('GET', '/api/v1/disks');
    assert.equal(after.status, 401);
    assert.equal(after.json.code, 'unauthenticated');
  });

  it('CSRF: a cookie request that changes state needs the x-csrf-token header; a wrong one changes nothing', async () => {
    const body = { name: 'csrfuser', password: 'Csrf-Pass-123', role: 'viewer' };
    for (const csrf of [null, '', 'wrong', `${admin.csrf}x`]) {
      const r = await admin.api('POST', '/api/v1/users', body, { csrf });
      assert.equal(r.status, 403, String(csrf));
      assert.equal(r.json.code, 'csrf_failed');
    }
    assert.equal(
      (await admin.api('GET', '/api/v1/users')).json.users.some((u: { name: string }) => u.name === 'csrfuser'),
      false,
      'nothing was created',
    );
    const ok = await admin.api('POST', '/api/v1/users', body);
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
    secrets.push(body.password);
    // Another session's token is no good either.
    const other = remember(await login(tp.product, 'admin', ADMIN_PW));
    assert.equal((await admin.api('DELETE', '/api/v1/users/csrfuser', undefined, { csrf: other.csrf })).json.code, 'csrf_failed');
    assert.equal((await admin.api('DELETE', '/api/v1/users/csrfuser')).status, 204);
  });

  it('users and roles: validated, with stable codes; ManageUsers only; never the last admin', async () => {
    const cases: [unknown, number, string, string?][] = [
      [{ name: 'Vera', password: 'Viewer-Pw-123', role: 'viewer' }, 400, 'invalid_username', 'name'],
      [{ name: 'v', password: 'Viewer-Pw-123', role: 'viewer' }, 400, 'invalid_username', 'name'],
      [{ name: 'vera', password: 'short', role: 'viewer' }, 400, 'invalid_password', 'password'],
      [{ name: 'vera', password: 'Viewer-Pw-123', role: 'wizard' }, 400, 'invalid_role', 'role'],
      [{ name: 'vera', password: 'Viewer-Pw-123', role: 'viewer', admin: true }, 400, 'invalid_request', 'admin'],
      [[1, 2], 400, 'invalid_request'],
      [{ name: 'admin', password: 'Other-Pass-123', role: 'viewer' }, 409, 'user_exists', 'name'],
    ];
    for (const [body, status, code, field] of cases) {
      const r = await admin.api('POST', '/api/v1/users', body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(r.json.code, code, JSON.stringify(body));
      if (field) assert.equal(r.json.details.field, field);
      assert.doesNotMatch(r.json.message, /Error:|undefined|\bat \w+ \(/);
    }
    for (const [name, pw, role] of [
      ['vera', 'Viewer-Pw-123', 'viewer'],
      ['otto', 'Operator-Pw-1', 'operator'],
    ] as const) {
      const r = await admin.api('POST', '/api/v1/users', { name, password: pw, role });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      assert.deepEqual(Object.keys(r.json.user).sort(), ['createdAt', 'name', 'role', 'updatedAt']);
      secrets.push(pw);
    }
    const roles = await admin.api('POST', '/api/v1/roles', { name: 'disk-adder', permissions: ['AddDisk'] });
    assert.equal(roles.status, 201, JSON.stringify(roles.json));
    assert.equal((await admin.api('POST', '/api/v1/roles', { name: 'bad', permissions: ['Root'] })).json.code, 'invalid_permissions');
    const list = await admin.api('GET', '/api/v1/roles');
    assert.deepEqual(
      list.json.roles.find((r: { name: string }) => r.name === 'disk-adder'),
      { name: 'disk-adder', permissions: ['AddDisk', 'ViewOnly'], builtin: false },
    );
    // A custom role's permissions change with PUT; built-in roles do not; the body is checked.
    const put = await admin.api('PUT', '/api/v1/roles/disk-adder', { permissions: ['AddDisk', 'EditDisk'] });
    assert.equal(put.status, 200, JSON.stringify(put.json));
    assert.deepEqual(put.json.role, { name: 'disk-adder', permissions: ['AddDisk', 'EditDisk', 'ViewOnly'], builtin: false });
    for (const [name, body, status, code] of [
      ['admin', { permissions: ['ViewOnly'] }, 409, 'role_builtin'],
      ['nosuch', { permissions: ['AddDisk'] }, 404, 'role_not_found'],
      ['disk-adder', { permissions: ['Root'] }, 400, 'invalid_permissions'],
      ['disk-adder', { permissions: ['AddDisk'], name: 'x' }, 400, 'invalid_request'],
    ] as const) {
      const r = await admin.api('PUT', `/api/v1/roles/${name}`, body);
      assert.equal(r.status, status, `${name} ${JSON.stringify(body)}`);
      assert.equal(r.json.code, code);
    }
    assert.ok((await admin.api('PUT', '/api/v1/roles/disk-adder', { permissions: ['AddDisk'] })).status === 200);

    const otto = remember(await login(tp.product, 'otto', 'Operator-Pw-1'));
    for (const [method, path] of [
      ['GET', '/api/v1/users'],
      ['POST', '/api/v1/users'],
      ['PATCH', '/api/v1/users/vera'],
      ['GET', '/api/v1/roles'],
    ] as const) {
      const r = await otto.api(method, path, method === 'GET' ? undefined : { role: 'admin' });
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.deepEqual(r.json.details, { permission: 'ManageUsers' });
      assert.equal(r.json.code, 'forbidden');
    }

    // Nobody deletes themselves (the last admin is the admin asking, here).
    const self = await admin.api('DELETE', '/api/v1/users/admin');
    assert.equal(self.status, 409);
    assert.equal(self.json.code, 'self_delete');
    assert.equal((await admin.api('PATCH', '/api/v1/users/admin', { role: 'viewer' })).json.code, 'last_admin');
    assert.equal((await admin.api('PATCH', '/api/v1/users/nobody', { role: 'viewer' })).status, 404);
    assert.equal((await admin.api('PATCH', '/api/v1/users/vera', {})).json.code, 'invalid_request');
    assert.equal((await admin.api('PATCH', '/api/v1/users/vera', { password: 'short' })).json.code, 'invalid_password');
  });

  it('a viewer lists disks and follows the event stream, but cannot add one: 403 and nothing is created', async () => {
    const add = await admin.api('POST', '/api/v1/disks', addBody('authdisk1'));
    assert.equal(add.status, 201, JSON.stringify(add.json));
    const vera = remember(await login(tp.product, 'vera', 'Viewer-Pw-123'));
    const list = await vera.api('GET', '/api/v1/disks');
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.json.disks.map((d: { name: string }) => d.name),
      ['authdisk1'],
    );
    assert.equal((await vera.api('GET', `/api/v1/disks/${add.json.disk.id}/paths`)).status, 200);

    // EventSource sends the cookie: the stream opens for a viewer.
    const ctl = new AbortController();
    const sse = await fetch(`${tp.product.url}/api/v1/events`, { headers: { cookie: vera.cookie }, signal: ctl.signal });
    assert.equal(sse.status, 200);
    assert.match(sse.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = sse.body?.getReader();
    const first = new TextDecoder().decode((await reader?.read())?.value);
    assert.match(first, /event: disks/);
    ctl.abort();

    const images = () => readdirSync(join(tp.settings.stateDir, 'images')).sort();
    const imagesBefore = images();
    const r = await vera.api('POST', '/api/v1/disks', addBody('sneaky'));
    assert.equal(r.status, 403);
    assert.equal(r.json.code, 'forbidden');
    assert.deepEqual(r.json.details, { permission: 'AddDisk' });
    assert.deepEqual(
      (await admin.api('GET', '/api/v1/disks')).json.disks.map((d: { name: string }) => d.name),
      ['authdisk1'],
    );
    assert.deepEqual(images(), imagesBefore);
    assert.equal((await vera.api('DELETE', `/api/v1/disks/${add.json.disk.id}`)).json.details.permission, 'DeleteDisk');
    assert.equal((await vera.api('POST', `/api/v1/disks/${add.json.disk.id}/stop`)).json.details.permission, 'StartStopDisk');

    // A custom role with AddDisk only may add (the route checks the permission, not the role name).
    await admin.api('POST', '/api/v1/users', { name: 'adder', password: 'Adds-Only-12', role: 'disk-adder' });
    secrets.push('Adds-Only-12');
    const adder = remember(await login(tp.product, 'adder', 'Adds-Only-12'));
    assert.deepEqual(adder.me.user.permissions, ['AddDisk', 'ViewOnly']);
    const byAdder = await adder.api('POST', '/api/v1/disks', addBody('authdisk2', { activePaths: 1 }));
    assert.equal(byAdder.status, 201, JSON.stringify(byAdder.json));
    assert.equal((await adder.api('PATCH', `/api/v1/disks/${byAdder.json.disk.id}`, { name: 'renamed' })).json.details.permission, 'EditDisk');
  });

  it('API tokens: shown once, work without CSRF, listed without the secret, dead after revoke', async () => {
    const otto = remember(await login(tp.product, 'otto', 'Operator-Pw-1'));
    const made = await otto.api('POST', '/api/v1/auth/tokens', { name: 'nightly backup' });
    assert.equal(made.status, 201, JSON.stringify(made.json));
    const token = made.json.token as string;
    secrets.push(token, token.split('_').slice(2).join('_'));
    assert.match(token, /^pwt_[0-9a-f]{16}_/);
    assert.equal((await otto.api('POST', '/api/v1/auth/tokens', { name: '' })).json.code, 'invalid_token_name');

    const list = await otto.api('GET', '/api/v1/auth/tokens');
    assert.deepEqual(
      list.json.tokens.map((t: { name: string; user: string }) => [t.name, t.user]),
      [['nightly backup', 'otto']],
    );
    assert.equal(JSON.stringify(list.json).includes(token.slice(22)), false);
    assert.equal((await otto.api('GET', '/api/v1/auth/tokens?all=true')).status, 403);
    assert.equal((await admin.api('GET', '/api/v1/auth/tokens?all=true')).json.tokens.length, 1);

    const me = await bearerApi(tp.product, token, 'GET', '/api/v1/auth/me');
    assert.equal(me.status, 200);
    assert.equal(me.json.user.name, 'otto');
    assert.equal(me.json.via, 'token');
    assert.equal(me.json.csrfToken, undefined);
    assert.equal((await bearerApi(tp.product, token, 'GET', '/api/v1/disks')).status, 200);
    // A state change with the token and no CSRF header: allowed (the permission still applies).
    const second = await bearerApi(tp.product, token, 'POST', '/api/v1/auth/tokens', { name: 'second' });
    assert.equal(second.status, 201);
    assert.equal(
      (await bearerApi(tp.product, token, 'POST', '/api/v1/users', { name: 'x1', password: 'Xx-Pass-1234', role: 'admin' })).json.details.permission,
      'ManageUsers',
    );
    assert.equal((await bearerApi(tp.product, second.json.token, 'DELETE', `/api/v1/auth/tokens/${second.json.id}`)).status, 204);

    const vera = remember(await login(tp.product, 'vera', 'Viewer-Pw-123'));
    assert.equal((await vera.api('DELETE', `/api/v1/auth/tokens/${made.json.id}`)).status, 404, "not vera's token");
    assert.equal((await otto.api('DELETE', `/api/v1/auth/tokens/${made.json.id}`)).status, 204);
    const dead = await bearerApi(tp.product, token, 'GET', '/api/v1/disks');
    assert.equal(dead.status, 401);
    assert.equal(dead.json.details.reason, 'invalid_token');
    assert.equal((await bearerApi(tp.product, 'garbage', 'GET', '/api/v1/disks')).status, 401);
    assert.equal((await api(tp.product, 'GET', '/api/v1/disks')).status, 401);
  });

  it('a new password or a role change takes effect at once; own password change keeps this session only', async () => {
    const vera1 = await login(tp.product, 'vera', 'Viewer-Pw-123');
    const vera2 = remember(await login(tp.product, 'vera', 'Viewer-Pw-123'));
    remember(vera1);
    const own = await vera1.api('POST', '/api/v1/auth/password', { currentPassword: 'Viewer-Pw-123', newPassword: 'Viewer-Pw-456' });
    assert.equal(own.status, 204, JSON.stringify(own.json));
    secrets.push('Viewer-Pw-456');
    assert.equal((await vera1.api('GET', '/api/v1/disks')).status, 200);
    assert.equal((await vera2.api('GET', '/api/v1/disks')).status, 401);
    assert.equal((await vera1.api('POST', '/api/v1/auth/password', { currentPassword: 'wrong-one-123', newPassword: 'Viewer-Pw-789' })).status, 403);

    const p = await admin.api('PATCH', '/api/v1/users/vera', { role: 'operator', password: 'Viewer-Pw-999' });
    assert.equal(p.status, 200, JSON.stringify(p.json));
    secrets.push('Viewer-Pw-999');
    assert.equal((await vera1.api('GET', '/api/v1/disks')).status, 401, 'an admin-set password logs the user out');
    const vera3 = remember(await login(tp.product, 'vera', 'Viewer-Pw-999'));
    assert.ok(vera3.me.user.permissions.includes('AddDisk'));
    await admin.api('PATCH', '/api/v1/users/vera', { role: 'viewer' });
    assert.deepEqual((await vera3.api('GET', '/api/v1/auth/me')).json.user.permissions, ['ViewOnly'], 'the new role applies to the live session');

    assert.equal((await admin.api('DELETE', '/api/v1/users/vera')).status, 204);
    assert.equal((await vera3.api('GET', '/api/v1/disks')).status, 401);
    assert.equal((await admin.api('DELETE', '/api/v1/users/vera')).status, 404);
  });

  it('the audit log: logins, user changes, disk adds and denials, newest first, paged; admins and operators only', async () => {
    const all = await admin.api('GET', '/api/v1/audit?limit=200');
    assert.equal(all.status, 200);
    const entries = all.json.entries as {
      id: string;
      time: string;
      actor: string;
      via: string;
      action: string;
      target: string;
      outcome: string;
      details: any;
    }[];
    const has = (what: string, f: (e: (typeof entries)[number]) => boolean) =>
      assert.ok(entries.some(f), `${what}:\n${JSON.stringify(entries.slice(0, 60), null, 1)}`);
    has('failed login', (e) => e.action === 'auth.login' && e.outcome === 'failed' && e.target === 'user:admin' && e.actor === 'anonymous');
    has('failed login, unknown user', (e) => e.action === 'auth.login' && e.outcome === 'failed' && e.target === 'user:nobody');
    has('login', (e) => e.action === 'auth.login' && e.outcome === 'ok' && e.actor === 'otto' && e.via === 'session');
    has('logout', (e) => e.action === 'auth.logout' && e.actor === 'admin');
    has(
      'user created',
      (e) => e.action === 'user.create' && e.target === 'user:vera' && e.actor === 'admin' && e.outcome === 'ok' && e.details.role === 'viewer',
    );
    has('user create refused', (e) => e.action === 'user.create' && e.outcome === 'failed' && e.details.code === 'invalid_password');
    has(
      'role set',
      (e) => e.action === 'user.update' && e.target === 'user:vera' && e.details.role === 'operator' && e.details.changed.join() === 'role,password',
    );
    has('own password', (e) => e.action === 'user.password' && e.actor === 'vera' && e.outcome === 'ok');
    has('user deleted', (e) => e.action === 'user.delete' && e.target === 'user:vera' && e.outcome === 'ok');
    has('self delete refused', (e) => e.action === 'user.delete' && e.target === 'user:admin' && e.outcome === 'failed' && e.details.code === 'self_delete');
    has(
      'role changed',
      (e) =>
        e.action === 'role.update' &&
        e.target === 'role:disk-adder' &&
        e.outcome === 'ok' &&
        e.details.before.join() === 'AddDisk,ViewOnly' &&
        e.details.permissions.join() === 'AddDisk,EditDisk,ViewOnly',
    );
    has('built-in role change refused', (e) => e.action === 'role.update' && e.target === 'role:admin' && e.details.code === 'role_builtin');
    has('role created', (e) => e.action === 'role.create' && e.target === 'role:disk-adder');
    has(
      'disk added (by meaning)',
      (e) => e.action === 'disk.create' && e.actor === 'admin' && e.outcome === 'ok' && /^disk:\d{5}$/.test(e.target) && typeof e.details.diskName === 'string',
    );
    has('disk add denied', (e) => e.action === 'disk.create' && e.actor === 'vera' && e.outcome === 'denied' && e.details.status === 403);
    has('csrf denied', (e) => e.action === 'POST /api/v1/users' && e.outcome === 'denied' && e.actor === 'admin');
    has('token made by token', (e) => e.action === 'token.create' && e.via === 'token' && e.actor === 'otto');
    has('token revoked', (e) => e.action === 'token.revoke' && e.actor === 'otto' && e.outcome === 'ok');
    assert.equal(
      entries.some((e) => e.action.startsWith('GET ')),
      false,
      'reads are not audited',
    );
    for (let i = 1; i < entries.length; i++) assert.ok((entries[i - 1] as { id: string }).id > (entries[i] as { id: string }).id, 'newest first');

    const p1 = await admin.api('GET', '/api/v1/audit?limit=3');
    assert.equal(p1.json.entries.length, 3);
    const p2 = await admin.api('GET', `/api/v1/audit?limit=3&before=${p1.json.next}`);
    assert.deepEqual(
      p2.json.entries.map((e: { id: string }) => e.id),
      entries.slice(3, 6).map((e) => e.id),
    );
    assert.equal((await admin.api('GET', '/api/v1/audit?limit=0')).json.details.field, 'limit');
    assert.equal((await admin.api('GET', '/api/v1/audit?before=zzz')).json.details.field, 'before');

    const otto = await login(tp.product, 'otto', 'Operator-Pw-1');
    remember(otto);
    assert.equal((await otto.api('GET', '/api/v1/audit')).status, 200, 'operators read the audit log');
    await admin.api('POST', '/api/v1/users', { name: 'walt', password: 'Viewer-Two-22', role: 'viewer' });
    secrets.push('Viewer-Two-22');
    const walt = remember(await login(tp.product, 'walt', 'Viewer-Two-22'));
    const denied = await walt.api('GET', '/api/v1/audit');
    assert.equal(denied.status, 403);
    assert.ok(Array.isArray(denied.json.details.permission) && denied.json.details.permission.includes('ManageUsers'));
  });

  it('no secret in any list, response body, store value or log line', async () => {
    const bodies = [
      await admin.api('GET', '/api/v1/users'),
      await admin.api('GET', '/api/v1/roles'),
      await admin.api('GET', '/api/v1/auth/tokens?all=true'),
      await admin.api('GET', '/api/v1/audit?limit=200'),
      await admin.api('GET', '/api/v1/disks'),
    ].map((r) => JSON.stringify(r.json));
    const store = JSON.stringify(await tp.product.store.list('/portway/'));
    assert.ok(logs.lines.length > 20, 'the log capture works');
    assert.ok(
      logs.lines.some((l) => l.includes('/api/v1/auth/login')),
      'request logs are captured',
    );
    const log = logs.lines.join('\n');
    assert.ok(secrets.length > 15);
    for (const s of secrets) {
      assert.ok(s.length >= 10, s);
      for (const b of bodies) assert.equal(b.includes(s), false, `secret ${s.slice(0, 4)}… in a list response`);
      assert.equal(store.includes(s), false, `secret ${s.slice(0, 4)}… in the coordination store`);
      assert.equal(log.includes(s), false, `secret ${s.slice(0, 4)}… in the log`);
    }
    assert.doesNotMatch(bodies[0] as string, /hash|salt/);
  });

  it("the product's log redaction hides password, token, cookie and authorization fields", () => {
    const cap = capturingLogger();
    const log = withRedaction(cap.log);
    log.info({ password: 'pw-top-level', body: { password: 'pw-nested', chapPassword: 'chap-1' }, token: 'tok-1' }, 'x');
    log.info({ req: { headers: { cookie: 'portway_session=abc', authorization: 'Bearer pwt_1', 'x-csrf-token': 'csrf-1' } } }, 'y');
    log.child({ mod: 'api' }).warn({ user: { name: 'u', password: 'pw-child' } }, 'z');
    const text = cap.lines.join('\n');
    for (const s of ['pw-top-level', 'pw-nested', 'chap-1', 'tok-1', 'portway_session=abc', 'Bearer pwt_1', 'csrf-1', 'pw-child'])
      assert.equal(text.includes(s), false, s);
    assert.equal(cap.lines.length, 3);
  });
});

describe('first start, idle expiry', { skip }, () => {
  let tp: TestProduct;
  const stdout: string[] = [];
  const logs = capturingLogger();
  let generated = '';

  /** Runs fn while copying what the product writes to stdout. */
  const watchingStdout = async <T>(fn: () => Promise<T>): Promise<T> => {
    const write = process.stdout.write;
    process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
      stdout.push(String(chunk));
      return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    }) as typeof process.stdout.write;
    try {
      return await fn();
    } finally {
      process.stdout.write = write;
    }
  };

  before(async () => {
    delete process.env.PORTWAY_ADMIN_PASSWORD;
    tp = await watchingStdout(() =>
      startTestProduct(
        71,
        { ...withAuth({ sessionIdleSeconds: 2, adminPassword: undefined, secureCookie: true }), agent: { enabled: true, leaseTtlSeconds: 6 } },
        { log: logs.log },
      ),
    );
  });
  after(async () => {
    await tp?.cleanup();
  });

  it('with no password set, the first admin gets a generated one, printed once on one marked stdout line and never logged; secureCookie', async () => {
    const marked = stdout.filter((l) => l.includes('PORTWAY_INITIAL_ADMIN'));
    assert.equal(marked.length, 1, stdout.join(''));
    generated = JSON.parse(marked[0] as string).password;
    assert.ok(generated.length >= 16);
    assert.ok((await login(tp.product, 'admin', generated)).me.user.name === 'admin');
    const res = await fetch(`${tp.product.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: generated }),
    });
    assert.match(res.headers.getSetCookie()[0] ?? '', /; Secure/, 'auth.secureCookie marks the cookie Secure even over http');
    await watchingStdout(() => tp.restart({ release: true }));
    assert.equal(stdout.filter((l) => l.includes('PORTWAY_INITIAL_ADMIN')).length, 1, 'not printed again after a restart');
    assert.equal(logs.lines.join('\n').includes(generated), false);
    assert.equal(JSON.stringify(await tp.product.store.list('/portway/')).includes(generated), false);
  });

  it('a session survives while used and expires after the idle timeout (2 s here)', async () => {
    const s = await login(tp.product, 'admin', generated);
    assert.equal(s.me.sessionIdleSeconds, 2);
    for (let i = 0; i < 4; i++) {
      await sleep(700); // 2.8 s in all, never 2 s idle
      assert.equal((await s.api('GET', '/api/v1/disks')).status, 200, `request ${i}`);
    }
    await sleep(2300);
    const r = await s.api('GET', '/api/v1/auth/me');
    assert.equal(r.status, 401);
    assert.equal(r.json.code, 'unauthenticated');
    assert.equal(r.json.details.reason, 'session_expired');
    assert.ok(
      r.headers.getSetCookie().some((c) => /^portway_session=;/.test(c)),
      'the stale cookie is cleared',
    );
    assert.equal((await s.api('GET', '/api/v1/auth/me')).json.details.reason, 'invalid_session', 'and it is gone from the store');
    const again = await login(tp.product, 'admin', generated);
    assert.equal((await again.api('GET', '/api/v1/disks')).status, 200);
  });
});
