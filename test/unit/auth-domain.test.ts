/** Access control, pure parts: roles and permissions, input rules, token and audit id formats, paging, scrubbing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  AUDIT_ID_RE,
  AUDIT_READ,
  BUILTIN_ROLES,
  PERMISSIONS,
  auditId,
  auditPage,
  builtinRole,
  checkPassword,
  checkPermissions,
  checkRoleName,
  checkTokenName,
  checkUsername,
  effectivePermissions,
  formatToken,
  parseToken,
  satisfies,
  scrubDetails,
  sessionExpired,
  sessionNeedsTouch,
} from '../../src/domain/auth.js';

describe('roles and permissions', () => {
  it('has the eight permissions of the issue', () => {
    assert.deepEqual(
      [...PERMISSIONS],
      ['AddDisk', 'EditDisk', 'DeleteDisk', 'StartStopDisk', 'AssignPaths', 'ManageSnapshots', 'ManageUsers', 'ManageConfig', 'ViewOnly'],
    );
  });

  it('admin holds all, operator all but ManageUsers/ManageConfig, viewer only ViewOnly', () => {
    assert.deepEqual(builtinRole('admin')?.permissions, [...PERMISSIONS]);
    assert.deepEqual(builtinRole('operator')?.permissions, [
      'AddDisk',
      'EditDisk',
      'DeleteDisk',
      'StartStopDisk',
      'AssignPaths',
      'ManageSnapshots',
      'ViewOnly',
    ]);
    assert.deepEqual(builtinRole('viewer')?.permissions, ['ViewOnly']);
    assert.equal(builtinRole('root'), undefined);
    assert.ok(BUILTIN_ROLES.every((r) => r.builtin));
  });

  it('every role can view; the rest is exactly what the role lists', () => {
    assert.deepEqual(effectivePermissions({ permissions: ['AddDisk'] }), ['AddDisk', 'ViewOnly']);
    assert.deepEqual(effectivePermissions({ permissions: ['ViewOnly', 'ManageUsers', 'ViewOnly'] }), ['ManageUsers', 'ViewOnly']);
  });

  it('a requirement is one permission or any of several', () => {
    assert.equal(satisfies(['ViewOnly'], 'ViewOnly'), true);
    assert.equal(satisfies(['ViewOnly'], 'AddDisk'), false);
    assert.equal(satisfies(['AddDisk', 'ViewOnly'], ['ManageUsers', 'AddDisk']), true);
    assert.equal(satisfies([], ['ManageUsers', 'AddDisk']), false);
  });

  it('admins and operators read the audit log, viewers do not', () => {
    const can = (role: string) => satisfies(effectivePermissions(builtinRole(role) ?? { permissions: [] }), AUDIT_READ);
    assert.equal(can('admin'), true);
    assert.equal(can('operator'), true);
    assert.equal(can('viewer'), false);
  });
});

describe('input rules', () => {
  it('usernames: 2-32 of a-z 0-9 . _ -, starting with a letter', () => {
    for (const ok of ['ab', 'alice', 'bob.smith', 'ops_1', 'x-y', `a${'b'.repeat(31)}`]) assert.equal(checkUsername(ok).ok, true, ok);
    for (const bad of ['', 'a', 'Alice', '1abc', '_x', 'a b', 'a/b', 'ä', `a${'b'.repeat(32)}`, 42, null, undefined, ['ab']]) {
      const r = checkUsername(bad);
      assert.equal(r.ok, false, String(bad));
      if (!r.ok) {
        assert.equal(r.code, 'invalid_username');
        assert.equal(r.field, 'name');
      }
    }
  });

  it('passwords: 10 to 256 characters, not the username, not one repeated character', () => {
    assert.equal(checkPassword('correct-horse').ok, true);
    const fails: [unknown, RegExp, string?][] = [
      ['', /required/],
      [undefined, /required/],
      [1234567890, /required/],
      ['short-pw1', /at least 10/],
      ['x'.repeat(257), /at most 256/],
      ['aaaaaaaaaaaa', /4 different/],
      ['alice-secret-99', /username/, 'alice'],
    ];
    for (const [pw, msg, user] of fails) {
      const r = checkPassword(pw, user);
      assert.equal(r.ok, false, String(pw));
      if (!r.ok) {
        assert.equal(r.code, 'invalid_password');
        assert.match(r.message, msg);
      }
    }
    // 10 characters counted as characters, not UTF-16 units or bytes
    assert.equal(checkPassword('éééééklmno').ok, true);
    assert.equal(checkPassword('😀😀😀😀😀abcd').ok, false);
  });

  it('role names and permission lists', () => {
    assert.equal(checkRoleName('disk-adder').ok, true);
    assert.equal(checkRoleName('Disk Adder').ok, false);
    const p = checkPermissions(['ViewOnly', 'AddDisk', 'AddDisk']);
    assert.deepEqual(p.ok && p.value, ['AddDisk', 'ViewOnly']);
    for (const bad of [[], 'AddDisk', ['AddDisk', 'Root'], [1], null]) {
      const r = checkPermissions(bad);
      assert.equal(r.ok, false, JSON.stringify(bad));
      if (!r.ok) assert.equal(r.code, 'invalid_permissions');
    }
    const r = checkPermissions(['Root']);
    assert.ok(!r.ok && r.message.includes('"Root"') && r.message.includes('AddDisk'));
  });

  it('token names', () => {
    assert.deepEqual(checkTokenName(' backup script '), { ok: true, value: 'backup script' });
    for (const bad of ['', '   ', 'x'.repeat(65), 'tab\there', 'ü', 3]) assert.equal(checkTokenName(bad).ok, false, String(bad));
  });
});

describe('tokens', () => {
  it('round-trips id and secret; anything else is not a token', () => {
    const secret = `${'A'.repeat(40)}_-z`;
    const t = formatToken('0123456789abcdef', secret);
    assert.equal(t, `pwt_0123456789abcdef_${secret}`);
    assert.deepEqual(parseToken(t), { id: '0123456789abcdef', secret });
    for (const bad of [
      '',
      'pwt_',
      `pwt_0123456789ABCDEF_${secret}`,
      `pwt_0123456789abcdef_${secret}x`,
      `xyz_0123456789abcdef_${secret}`,
      `pwt_0123456789abcdef_${secret.slice(1)}!`,
    ])
      assert.equal(parseToken(bad), undefined, bad);
  });
});

describe('audit ids and pages', () => {
  it('ids sort by time, then sequence', () => {
    const a = auditId(1_700_000_000_000, 9, 'ffffffff');
    const b = auditId(1_700_000_000_000, 10, '00000000');
    const c = auditId(1_700_000_000_001, 0, '00000000');
    assert.match(a, AUDIT_ID_RE);
    assert.equal(a, '001700000000000-0009-ffffffff');
    assert.ok(a < b && b < c);
  });

  it('paging newest first visits every id once, in order', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 1e6 }), { maxLength: 60 }), fc.integer({ min: 1, max: 7 }), (times, limit) => {
        const ids = times.map((t, i) => auditId(t, i, '0000000a')).sort();
        const seen: string[] = [];
        let before: string | undefined;
        for (let guard = 0; guard < 100; guard++) {
          const page = auditPage(ids, limit, before);
          assert.ok(page.ids.length <= limit);
          seen.push(...page.ids);
          if (page.next === null) break;
          before = page.next;
        }
        assert.deepEqual(seen, [...ids].reverse());
      }),
    );
  });

  it('an empty log has one empty page', () => {
    assert.deepEqual(auditPage([], 10), { ids: [], next: null });
  });
});

describe('scrubbing audit details', () => {
  it('replaces every secret-looking field, nested too', () => {
    const out = scrubDetails({
      name: 'db1',
      password: 'p1',
      auth: { mode: 'chap', user: 'u', chapPassword: 'p2', Password: 'p3' },
      list: [{ token: 't1' }, { csrfToken: 'c1' }],
      headers: { Authorization: 'Bearer x', cookie: 'portway_session=y' },
    });
    const text = JSON.stringify(out);
    for (const secret of ['p1', 'p2', 'p3', 't1', 'c1', 'Bearer x', 'portway_session=y']) assert.equal(text.includes(secret), false, secret);
    assert.equal((out as { name: string }).name, 'db1');
    assert.equal((out as { auth: { user: string } }).auth.user, 'u');
  });
});

describe('session expiry', () => {
  it('ends a session at its maximum lifetime even when it is active', () => {
    const s = { createdAt: 0, lastSeenAt: 9_000 };
    assert.equal(sessionExpired(s, 9_500, 2000, 10_000), false);
    assert.equal(sessionExpired(s, 10_000, 2000, 10_000), true, 'active, but as old as the lifetime');
    assert.equal(sessionExpired(s, 10_000, 2000), false, 'no lifetime given: idle time only');
  });

  it('expires after the idle time; touches are throttled to a tenth of it, at most once a minute', () => {
    const s = { lastSeenAt: 1000, createdAt: 1000 };
    assert.equal(sessionExpired(s, 1000 + 1999, 2000), false);
    assert.equal(sessionExpired(s, 1000 + 2000, 2000), true);
    assert.equal(sessionNeedsTouch(s, 1000 + 199, 2000), false);
    assert.equal(sessionNeedsTouch(s, 1000 + 200, 2000), true);
    const h8 = 8 * 3600_000;
    assert.equal(sessionNeedsTouch(s, 1000 + 59_999, h8), false);
    assert.equal(sessionNeedsTouch(s, 1000 + 60_000, h8), true);
  });
});
