/** AuthService over a real (in-memory) embedded coordination store: hashing, first admin, sessions, tokens, users, roles, audit. */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { EmbeddedStore } from '../../src/adapters/coord/embedded-store.js';
import { AUDIT, SESSIONS, SETUP_KEY, TOKENS, USERS, userKey } from '../../src/domain/auth.js';
import { httpStatusOf } from '../../src/domain/outcomes.js';
import { AuthService, type PasswordHash, type Principal, hashPassword, verifyPassword } from '../../src/services/auth-service.js';

const FAST = { N: 1024, r: 8, p: 1, keyLen: 32 };
const ADMIN_PW = 'First-Boss-pw1';

describe('password hashing (scrypt)', () => {
  it('stores salt and parameters, verifies the right password only', async () => {
    const a = await hashPassword('correct-horse', FAST);
    const b = await hashPassword('correct-horse', FAST);
    assert.equal(a.alg, 'scrypt');
    assert.deepEqual([a.N, a.r, a.p, a.keyLen], [1024, 8, 1, 32]);
    assert.notEqual(a.salt, b.salt, 'a salt per hash');
    assert.notEqual(a.hash, b.hash);
    assert.equal(await verifyPassword('correct-horse', a), true);
    assert.equal(await verifyPassword('correct-horsf', a), false);
    assert.equal(await verifyPassword('', a), false);
    assert.equal(JSON.stringify(a).includes('correct-horse'), false);
  });

  it('the default parameters are strong (N=2^15, r=8) and verify', async () => {
    const h = await hashPassword('correct-horse');
    assert.ok(h.N >= 2 ** 15 && h.r >= 8 && h.keyLen >= 32);
    assert.equal(await verifyPassword('correct-horse', h), true);
  });

  it('refuses tampered parameters instead of hashing for ever', async () => {
    const h = await hashPassword('correct-horse', FAST);
    for (const bad of [{ N: 2 ** 30 }, { N: 1000 }, { r: 0 }, { p: 100 }, { keyLen: 4 }, { alg: 'md5' }] as Partial<PasswordHash>[])
      assert.equal(await verifyPassword('correct-horse', { ...h, ...bad } as PasswordHash), false, JSON.stringify(bad));
  });
});

describe('AuthService', () => {
  let store: EmbeddedStore;
  let now: number;
  let auth: AuthService;
  const make = (idleMs = 60_000) =>
    new AuthService({ store, log: pino({ level: 'silent' }), sessionIdleMs: idleMs, scrypt: FAST, now: () => now, auditMaxEntries: 50 });
  const bootstrap = async (s = auth) => s.bootstrap({ adminPassword: ADMIN_PW, print: () => assert.fail('nothing is printed when the password is given') });
  const mkUser = async (name: string, password: string, role: string) => {
    const r = await auth.createUser({ name, password, role });
    assert.ok(r.ok, JSON.stringify(r));
  };
  const loginOk = async (u: string, p: string) => {
    const r = await auth.login(u, p);
    assert.ok(r.ok, JSON.stringify(r));
    return r;
  };

  beforeEach(() => {
    store = new EmbeddedStore();
    now = Date.parse('2030-01-01T00:00:00Z');
    auth = make();
  });
  afterEach(async () => {
    await store.close();
  });

  describe('first admin', () => {
    it('generates a password, prints it once in one marked line, and never again', async () => {
      const lines: string[] = [];
      const r = await auth.bootstrap({ print: (l) => lines.push(l) });
      assert.deepEqual(r, { created: true, generated: true });
      assert.equal(lines.length, 1);
      const shown = JSON.parse(lines[0] as string);
      assert.equal(shown.msg, 'PORTWAY_INITIAL_ADMIN');
      assert.equal(shown.user, 'admin');
      assert.match(shown.password, /^[A-Za-z0-9]{20}$/);
      assert.ok((await auth.login('admin', shown.password)).ok);
      assert.ok(await store.get(SETUP_KEY), 'the flag is persisted');

      // Again, and even with every user gone: never generated or printed again.
      assert.deepEqual(await make().bootstrap({ print: (l) => lines.push(l) }), { created: false, generated: false });
      await store.delete(userKey('admin'));
      assert.deepEqual(await make().bootstrap({ print: (l) => lines.push(l) }), { created: false, generated: false });
      assert.equal(lines.length, 1);
      // ... but a given password still recovers an empty user store.
      assert.deepEqual(await bootstrap(make()), { created: true, generated: false });
    });

    it('uses the given password, printing nothing; refuses a weak one', async () => {
      assert.deepEqual(await bootstrap(), { created: true, generated: false });
      assert.ok((await auth.login('admin', ADMIN_PW)).ok);
      await assert.rejects(make().bootstrap({ adminPassword: 'short', print: () => {} }), /at least 10/);
    });

    it('two nodes starting at once make one admin', async () => {
      const lines: string[] = [];
      const rs = await Promise.all([make().bootstrap({ print: (l) => lines.push(l) }), make().bootstrap({ print: (l) => lines.push(l) })]);
      assert.equal(rs.filter((r) => r.created).length, 1);
      assert.equal(lines.length, 1);
      assert.equal((await store.list(USERS)).length, 1);
    });
  });

  describe('login and sessions', () => {
    beforeEach(async () => {
      await bootstrap();
    });

    it('a wrong password and an unknown user get the same answer', async () => {
      const a = await auth.login('admin', 'wrong-password-1');
      const b = await auth.login('nobody', 'wrong-password-1');
      const c = await auth.login('Not A Name', 'x');
      const d = await auth.login(42, ['x']);
      for (const r of [a, b, c, d]) assert.deepEqual(r, { ok: false, code: 'invalid_credentials', message: 'Wrong username or password.' });
    });

    it('stores only the hash of the session id; the session carries user, permissions and a CSRF token', async () => {
      const r = await loginOk('admin', ADMIN_PW);
      assert.match(r.sessionId, /^[A-Za-z0-9_-]{43}$/);
      const raw = JSON.stringify(await store.list('/portway/'));
      assert.equal(raw.includes(r.sessionId), false, 'the session id is not in the store');
      assert.equal(raw.includes(ADMIN_PW), false);
      const p = (await auth.authenticateSession(r.sessionId)) as Principal;
      assert.equal(p.user, 'admin');
      assert.equal(p.role, 'admin');
      assert.equal(p.via, 'session');
      assert.ok(p.permissions.includes('ManageUsers'));
      assert.equal(p.csrf, r.principal.csrf);
      assert.equal(await auth.authenticateSession('x'.repeat(43)), undefined);
      assert.equal(await auth.authenticateSession('not a session'), undefined);
    });

    it('expires after the idle timeout (and is deleted); activity keeps it alive', async () => {
      auth = make(10_000);
      const r = await loginOk('admin', ADMIN_PW);
      for (let i = 0; i < 5; i++) {
        now += 6_000; // less than the idle time each step, 30 s in all
        assert.equal(typeof (await auth.authenticateSession(r.sessionId)), 'object', `step ${i}`);
      }
      now += 10_000;
      assert.equal(await auth.authenticateSession(r.sessionId), 'expired');
      assert.equal((await store.list(SESSIONS)).length, 0);
      assert.equal(await auth.authenticateSession(r.sessionId), undefined);
    });

    it('ends at its maximum lifetime however active it is (and is deleted)', async () => {
      auth = new AuthService({ store, log: pino({ level: 'silent' }), sessionIdleMs: 10_000, sessionMaxMs: 25_000, scrypt: FAST, now: () => now });
      const r = await loginOk('admin', ADMIN_PW);
      for (let i = 0; i < 4; i++) {
        now += 6_000; // active: well within the idle time, 24 s in all
        assert.equal(typeof (await auth.authenticateSession(r.sessionId)), 'object', `step ${i}`);
      }
      now += 1_000;
      assert.equal(await auth.authenticateSession(r.sessionId), 'expired');
      assert.equal((await store.list(SESSIONS)).length, 0);
    });

    it('touches the session at most every tenth of the idle time (store writes wake watchers)', async () => {
      auth = make(10_000);
      const r = await loginOk('admin', ADMIN_PW);
      const rev = async () => (await store.list(SESSIONS))[0]?.modRevision;
      const r0 = await rev();
      now += 500;
      await auth.authenticateSession(r.sessionId);
      assert.equal(await rev(), r0);
      now += 600;
      await auth.authenticateSession(r.sessionId);
      assert.ok(((await rev()) ?? 0) > (r0 ?? 0));
    });

    it('logout deletes the session; sweeping removes expired ones', async () => {
      auth = make(10_000);
      const a = await loginOk('admin', ADMIN_PW);
      const p = (await auth.authenticateSession(a.sessionId)) as Principal;
      await auth.logout(p.sessionKey as string);
      assert.equal(await auth.authenticateSession(a.sessionId), undefined);
      await loginOk('admin', ADMIN_PW);
      await loginOk('admin', ADMIN_PW);
      now += 20_000;
      assert.equal(await auth.sweepSessions(), 2);
      assert.equal((await store.list(SESSIONS)).length, 0);
    });

    it('rehashes a password made with weaker parameters at the next login', async () => {
      const weak = await hashPassword(ADMIN_PW, { N: 1024, r: 1, p: 1, keyLen: 16 });
      const kv = await store.get(userKey('admin'));
      await store.put(userKey('admin'), JSON.stringify({ ...JSON.parse(kv?.value as string), password: weak }));
      await loginOk('admin', ADMIN_PW);
      const after = JSON.parse((await store.get(userKey('admin')))?.value as string).password as PasswordHash;
      assert.deepEqual([after.N, after.r, after.keyLen], [FAST.N, FAST.r, FAST.keyLen]);
      assert.ok((await auth.login('admin', ADMIN_PW)).ok);
    });
  });

  describe('users and roles', () => {
    beforeEach(async () => {
      await bootstrap();
    });

    it('validates every field with stable codes', async () => {
      const cases: [Record<string, unknown>, string, string][] = [
        [{ name: 'Bob', password: 'bob-password-1', role: 'viewer' }, 'invalid_username', 'name'],
        [{ name: 'bob', password: 'short', role: 'viewer' }, 'invalid_password', 'password'],
        [{ name: 'bob', password: 'bob-password-1', role: 'Root' }, 'invalid_role', 'role'],
        [{ name: 'bob', password: 'bob-password-1', role: 'nosuchrole' }, 'invalid_role', 'role'],
      ];
      for (const [body, code, field] of cases) {
        const r = await auth.createUser(body);
        assert.ok(!r.ok, JSON.stringify(body));
        assert.equal(r.code, code);
        assert.equal(httpStatusOf(r.code), 400);
        assert.equal(r.field, field);
      }
      assert.ok((await auth.createUser({ name: 'bob', password: 'bob-password-1', role: 'viewer' })).ok);
      const dup = await auth.createUser({ name: 'bob', password: 'bob-password-2', role: 'viewer' });
      assert.ok(!dup.ok && dup.code === 'user_exists' && httpStatusOf(dup.code) === 409);
    });

    it('lists users without any hash', async () => {
      await auth.createUser({ name: 'bob', password: 'bob-password-1', role: 'operator' });
      const r = await auth.listUsers();
      assert.ok(r.ok);
      assert.deepEqual(
        r.users.map((u) => [u.name, u.role]),
        [
          ['admin', 'admin'],
          ['bob', 'operator'],
        ],
      );
      assert.doesNotMatch(JSON.stringify(r), /hash|salt|password/i);
    });

    it('never removes the last user who can manage users, even with concurrent changes', async () => {
      let r = await auth.deleteUser('admin');
      assert.ok(!r.ok && r.code === 'last_admin');
      const u = await auth.updateUser('admin', { role: 'operator' });
      assert.ok(!u.ok && u.code === 'last_admin');

      await mkUser('root2', 'Second-Boss-7', 'admin');
      const both = await Promise.all([auth.deleteUser('admin'), auth.deleteUser('root2')]);
      assert.equal(both.filter((x) => x.ok).length, 1, JSON.stringify(both));
      assert.equal(both.filter((x) => !x.ok && x.code === 'last_admin').length, 1);

      // A custom role holding ManageUsers counts.
      const left = (await auth.listUsers()) as { users: { name: string }[] };
      const last = left.users[0]?.name as string;
      await auth.createRole({ name: 'usermgr', permissions: ['ManageUsers'] });
      await mkUser('carol', 'manager-pw-77', 'usermgr');
      r = await auth.deleteUser(last);
      assert.ok(r.ok);
      r = await auth.deleteUser('carol');
      assert.ok(!r.ok && r.code === 'last_admin');
    });

    it('custom roles: made, listed, given, and deleted only when nobody holds them', async () => {
      const c = await auth.createRole({ name: 'disk-adder', permissions: ['AddDisk'] });
      assert.ok(c.ok);
      assert.ok(!(await auth.createRole({ name: 'admin', permissions: ['ViewOnly'] })).ok);
      assert.equal(((await auth.createRole({ name: 'x1', permissions: ['Root'] })) as { code: string }).code, 'invalid_permissions');
      const roles = await auth.listRoles();
      assert.ok(roles.ok);
      assert.deepEqual(
        roles.roles.map((r) => r.name),
        ['admin', 'operator', 'viewer', 'disk-adder'],
      );
      await mkUser('dave', 'adder-pw-123', 'disk-adder');
      const dave = await loginOk('dave', 'adder-pw-123');
      assert.deepEqual(dave.principal.permissions, ['AddDisk', 'ViewOnly']);
      const inUse = await auth.deleteRole('disk-adder');
      assert.ok(!inUse.ok && inUse.code === 'role_in_use');
      assert.deepEqual(inUse.details?.users, ['dave']);
      assert.equal(((await auth.deleteRole('viewer')) as { code: string }).code, 'role_builtin');
      await auth.updateUser('dave', { role: 'viewer' });
      assert.ok((await auth.deleteRole('disk-adder')).ok);
    });

    it('nobody deletes their own account, whatever their role (self_delete)', async () => {
      await mkUser('root2', 'Second-Boss-7', 'admin');
      const r = await auth.deleteUser('root2', 'root2');
      assert.ok(!r.ok && r.code === 'self_delete' && httpStatusOf(r.code) === 409, JSON.stringify(r));
      assert.ok((await auth.getUser('root2')).ok, 'still there');
      assert.ok((await auth.deleteUser('root2', 'admin')).ok);
    });

    it('custom roles are editable: the new list applies to live sessions; built-in roles are fixed; ManageUsers never leaves with its last holder', async () => {
      assert.ok((await auth.createRole({ name: 'helpdesk', permissions: ['StartStopDisk'] })).ok);
      await mkUser('gina', 'helpdesk-pw-1', 'helpdesk');
      const s = await loginOk('gina', 'helpdesk-pw-1');
      const u = await auth.updateRole('helpdesk', { permissions: ['StartStopDisk', 'AssignPaths'] });
      assert.ok(u.ok, JSON.stringify(u));
      assert.deepEqual(u.before, ['StartStopDisk', 'ViewOnly']);
      assert.deepEqual(u.role.permissions, ['StartStopDisk', 'AssignPaths', 'ViewOnly']);
      assert.deepEqual(((await auth.authenticateSession(s.sessionId)) as Principal).permissions, ['StartStopDisk', 'AssignPaths', 'ViewOnly']);
      const listed = (await auth.listRoles()) as { roles: { name: string; permissions: string[] }[] };
      assert.deepEqual(listed.roles.find((r) => r.name === 'helpdesk')?.permissions, ['StartStopDisk', 'AssignPaths', 'ViewOnly']);

      const codes = async (name: string, permissions: unknown) => ((await auth.updateRole(name, { permissions })) as { code: string }).code;
      assert.equal(await codes('admin', ['ViewOnly']), 'role_builtin');
      assert.equal(await codes('viewer', ['AddDisk']), 'role_builtin');
      assert.equal(await codes('nosuch', ['AddDisk']), 'role_not_found');
      assert.equal(await codes('helpdesk', ['Root']), 'invalid_permissions');
      assert.equal(await codes('helpdesk', []), 'invalid_permissions');

      // The only user who can manage users holds a custom role: it keeps ManageUsers.
      assert.ok((await auth.createRole({ name: 'usermgr', permissions: ['ManageUsers'] })).ok);
      await mkUser('hal', 'manager-pw-77', 'usermgr');
      assert.ok((await auth.updateRole('usermgr', { permissions: ['ViewOnly'] })).ok, 'admin still manages users');
      assert.ok((await auth.updateRole('usermgr', { permissions: ['ManageUsers'] })).ok);
      assert.ok((await auth.deleteUser('admin', 'hal')).ok);
      const last = await auth.updateRole('usermgr', { permissions: ['AddDisk'] });
      assert.ok(!last.ok && last.code === 'last_admin' && last.field === 'permissions', JSON.stringify(last));
      assert.deepEqual(last.details?.users, ['hal']);
    });

    it('a new password logs the user out everywhere but the session that changed it', async () => {
      await mkUser('erin', 'viewer-pw-123', 'viewer');
      const s1 = await loginOk('erin', 'viewer-pw-123');
      const s2 = await loginOk('erin', 'viewer-pw-123');
      const keep = ((await auth.authenticateSession(s1.sessionId)) as Principal).sessionKey;
      const r = await auth.changeOwnPassword('erin', 'wrong-password', 'viewer-new-pw-9', keep);
      assert.ok(!r.ok && r.code === 'wrong_password' && r.field === 'currentPassword');
      assert.ok((await auth.changeOwnPassword('erin', 'viewer-pw-123', 'viewer-new-pw-9', keep)).ok);
      assert.equal(typeof (await auth.authenticateSession(s1.sessionId)), 'object');
      assert.equal(await auth.authenticateSession(s2.sessionId), undefined);
      assert.ok(!(await auth.login('erin', 'viewer-pw-123')).ok);
      assert.ok((await auth.login('erin', 'viewer-new-pw-9')).ok);
    });

    it('a role change applies to live sessions at once; deleting a user ends its sessions and tokens', async () => {
      await mkUser('fred', 'operator-pw-1', 'operator');
      const s = await loginOk('fred', 'operator-pw-1');
      const t = await auth.createToken('fred', { name: 'cron' });
      assert.ok(t.ok);
      await auth.updateUser('fred', { role: 'viewer' });
      assert.deepEqual(((await auth.authenticateSession(s.sessionId)) as Principal).permissions, ['ViewOnly']);
      assert.ok((await auth.deleteUser('fred')).ok);
      assert.equal(await auth.authenticateSession(s.sessionId), undefined);
      assert.equal(await auth.authenticateToken(t.token), undefined);
      assert.equal((await store.list(TOKENS)).length, 0);
    });
  });

  describe('API tokens', () => {
    beforeEach(async () => {
      await bootstrap();
    });

    it('shown once, stored as a hash, listed without secrets, revocable', async () => {
      const t = await auth.createToken('admin', { name: 'backup' });
      assert.ok(t.ok);
      assert.match(t.token, /^pwt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      const secret = t.token.split('_').slice(2).join('_');
      assert.equal(JSON.stringify(await store.list('/portway/')).includes(secret), false);
      const list = await auth.listTokens('admin');
      assert.ok(list.ok);
      assert.deepEqual(
        list.tokens.map((x) => x.name),
        ['backup'],
      );
      assert.equal(JSON.stringify(list).includes(secret), false);
      assert.doesNotMatch(JSON.stringify(list), /hash/);

      const p = await auth.authenticateToken(t.token);
      assert.equal(p?.user, 'admin');
      assert.equal(p?.via, 'token');
      assert.equal(await auth.authenticateToken(`${t.token.slice(0, -1)}${t.token.endsWith('A') ? 'B' : 'A'}`), undefined);
      assert.equal(await auth.authenticateToken('pwt_nonsense'), undefined);

      assert.ok(!(await auth.revokeToken(t.info.id, 'someone-else')).ok, 'not your token');
      assert.ok((await auth.revokeToken(t.info.id, 'admin')).ok);
      assert.equal(await auth.authenticateToken(t.token), undefined);
      assert.equal(((await auth.revokeToken(t.info.id)) as { code: string }).code, 'token_not_found');
    });
  });

  describe('audit log', () => {
    it('newest first, paged, scrubbed, pruned to the maximum', async () => {
      for (let i = 0; i < 5; i++) {
        now += 1;
        await auth.appendAudit({ user: 'admin', via: 'session', ip: '127.0.0.1' }, 'test.action', `thing:${i}`, 'ok', { n: i, password: 'hunter2-secret' });
      }
      const p1 = await auth.listAudit(2);
      assert.ok(p1.ok);
      assert.deepEqual(
        p1.entries.map((e) => e.target),
        ['thing:4', 'thing:3'],
      );
      const p2 = await auth.listAudit(2, p1.next as string);
      assert.ok(p2.ok);
      assert.deepEqual(
        p2.entries.map((e) => e.target),
        ['thing:2', 'thing:1'],
      );
      const e = p1.entries[0];
      assert.equal(e?.actor, 'admin');
      assert.equal(e?.outcome, 'ok');
      assert.ok(!Number.isNaN(Date.parse(e?.time as string)));
      assert.equal(JSON.stringify(await store.list(AUDIT)).includes('hunter2-secret'), false);
      assert.equal(((await auth.listAudit(2, 'garbage')) as { code: string }).code, 'invalid_request');

      for (let i = 0; i < 60; i++) await auth.appendAudit({ user: 'x', via: 'cli' }, 'a', 't', 'ok');
      assert.equal(await auth.pruneAudit(), 15);
      assert.equal((await store.list(AUDIT)).length, 50);
    });
  });
});
