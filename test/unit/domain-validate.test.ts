import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AddDiskInput, type AddDiskRequest, parseAddDisk } from '../../src/domain/add-disk.js';
import { checkConfig } from '../../src/domain/config.js';
import { parseIp } from '../../src/domain/ip.js';
import type { Failure, FailureCode, Field } from '../../src/domain/outcomes.js';
import {
  checkChap,
  checkManualIps,
  checkName,
  isValidIqn,
  MAX_PATHS,
  MAX_SIZE_GB,
  parsePathCount,
  parseSizeGb,
  parseSubnetChoice,
  subnetsOf,
} from '../../src/domain/validate.js';

const BASE: AddDiskRequest = {
  name: 'disk1',
  sizeGb: 10,
  activePaths: 2,
  subnet: 1,
};
const GOOD_PW = 'Abcdef123456'; // 12 chars

function isFailure(v: unknown): v is Failure {
  return typeof v === 'object' && v !== null && (v as Failure).ok === false;
}

function assertHumanMessage(f: Failure): void {
  assert.equal(typeof f.message, 'string');
  assert.ok(f.message.length >= 10, `too short: ${f.message}`);
  assert.match(f.message, /^(["A-Z]|iSCSI )/, `starts like a sentence: ${f.message}`);
  assert.ok(!/undefined|null|NaN|\[object|Error|\n\s+at /.test(f.message), `leaks internals: ${f.message}`);
}

function expectFail(v: unknown, code: FailureCode, field?: Field): Failure {
  assert.ok(isFailure(v), `expected ${code}, got ${JSON.stringify(v)}`);
  assert.equal(v.code, code, `${v.code} (${v.message})`);
  if (field === undefined) assert.equal(v.field, undefined);
  else assert.equal(v.field, field);
  assertHumanMessage(v);
  return v;
}

function ok(req: AddDiskRequest): AddDiskInput {
  const r = parseAddDisk(req);
  assert.ok(!isFailure(r), `unexpected failure ${JSON.stringify(r)}`);
  return r;
}

const parse = (over: Partial<AddDiskRequest>) => parseAddDisk({ ...BASE, ...over });

describe('checkName / parseAddDisk name', () => {
  it('missing names -> data_missing on name', () => {
    for (const name of ['', ' ', '   ', '\t', undefined, null, 42, {}, []]) {
      expectFail(checkName(name), 'data_missing', 'name');
      expectFail(parse({ name }), 'data_missing', 'name');
    }
  });

  it('shell metacharacters, path traversal, control characters -> invalid_name', () => {
    const bad = [
      'a;rm -rf /',
      '$(reboot)',
      '`id`',
      'a|b',
      'a&b',
      'a>b',
      'a<b',
      'a*b',
      'a?b',
      'a!b',
      'a$b',
      "a'b",
      'a"b',
      'a\\b',
      'a/b',
      '../etc/passwd',
      '..',
      '.',
      '.hidden',
      '-rf',
      '_x',
      ' ',
      'a\nb',
      'a\tb',
      'a\u0000b',
      'a\rb',
      'a:b',
      'a,b',
      'a=b',
      'a+b',
      'a(b)',
      'a{b}',
      'a[b]',
      'a#b',
      'a%b',
      'a@b',
      'a~b',
      '💾',
      'disk💾',
    ];
    for (const name of bad) {
      if (name.trim() === '') continue;
      expectFail(checkName(name), 'invalid_name', 'name');
      expectFail(parse({ name }), 'invalid_name', 'name');
    }
  });

  it('leading or trailing whitespace -> invalid_name', () => {
    for (const name of [' disk', 'disk ', '  disk  ', '\tdisk', 'disk\n', '\u00a0disk']) {
      expectFail(checkName(name), 'invalid_name', 'name');
    }
  });

  it('length: 1 and 64 accepted, 65 rejected', () => {
    assert.equal(checkName('a'), undefined);
    assert.equal(checkName('a'.repeat(64)), undefined);
    expectFail(checkName('a'.repeat(65)), 'invalid_name', 'name');
    expectFail(checkName('a'.repeat(10000)), 'invalid_name', 'name');
    assert.equal(checkName('磁'.repeat(64)), undefined);
    expectFail(checkName('磁'.repeat(65)), 'invalid_name', 'name');
  });

  it('letters, digits, inner spaces, dots, dashes, underscores accepted', () => {
    for (const name of ['disk1', '1disk', 'my disk', 'my.disk-1_a', 'a..b', 'A', '0', 'Disk 01 - backup_v2.0']) {
      assert.equal(checkName(name), undefined, name);
      assert.equal(ok({ ...BASE, name }).name, name);
    }
  });

  it('unicode letters allowed', () => {
    for (const name of ['Dísk', 'диск', '磁盘', 'ディスク', 'δίσκος', 'قرص', 'דיסק', 'Ölçü_1', '디스크', 'Straße']) {
      assert.equal(checkName(name), undefined, name);
    }
  });

  it('unicode letters with combining marks allowed (Hindi, Thai, decomposed é)', () => {
    // BUG: NAME allows \p{L}\p{N} but not \p{M}: these names are rejected as invalid_name.
    for (const name of ['डिस्क', 'ดิสก์', 'cafe\u0301', 'தமிழ்']) {
      assert.equal(checkName(name), undefined, `${name} should be a valid name`);
    }
  });
});

describe('parseSizeGb', () => {
  it('whole numbers and digit strings', () => {
    assert.equal(parseSizeGb(1), 1);
    assert.equal(parseSizeGb(10), 10);
    assert.equal(parseSizeGb('10'), 10);
    assert.equal(parseSizeGb('1'), 1);
    assert.equal(parseSizeGb('010'), 10);
    assert.equal(parseSizeGb(1e3), 1000);
    assert.equal(parseSizeGb(MAX_SIZE_GB), MAX_SIZE_GB);
    assert.equal(parseSizeGb(String(MAX_SIZE_GB)), MAX_SIZE_GB);
    assert.equal(ok({ ...BASE, sizeGb: '10' }).sizeGb, 10);
  });

  it('missing -> data_missing on sizeGb', () => {
    for (const v of [undefined, null, '']) {
      expectFail(parseSizeGb(v), 'data_missing', 'sizeGb');
      expectFail(parse({ sizeGb: v }), 'data_missing', 'sizeGb');
    }
  });

  it('not a whole positive number -> invalid_size', () => {
    for (const v of [
      0,
      -1,
      -0,
      1.5,
      0.1,
      '0',
      '-1',
      '1.5',
      'abc',
      ' 10',
      '10 ',
      '1e3',
      '0x10',
      '１０',
      NaN,
      Infinity,
      -Infinity,
      true,
      false,
      [],
      [10],
      {},
      '123456789',
    ]) {
      expectFail(parseSizeGb(v), 'invalid_size', 'sizeGb');
      expectFail(parse({ sizeGb: v }), 'invalid_size', 'sizeGb');
    }
  });

  it('too big -> invalid_size with its own message', () => {
    const small = expectFail(parseSizeGb(0), 'invalid_size', 'sizeGb');
    for (const v of [MAX_SIZE_GB + 1, '99999999', 2 ** 53, Number.MAX_SAFE_INTEGER]) {
      const f = expectFail(parseSizeGb(v), 'invalid_size', 'sizeGb');
      assert.notEqual(f.message, small.message);
      assert.match(f.message, new RegExp(String(MAX_SIZE_GB)));
    }
  });
});

describe('parsePathCount', () => {
  it('1..8 as numbers or single-digit strings', () => {
    for (let n = 1; n <= MAX_PATHS; n++) {
      assert.equal(parsePathCount(n), n);
      assert.equal(parsePathCount(String(n)), n);
    }
    assert.equal(MAX_PATHS, 8);
  });

  it('anything else -> invalid_path_count on activePaths', () => {
    for (const v of [0, 9, 10, -1, 1.5, '0', '9', '10', '01', 'abc', '', ' 1', null, undefined, NaN, true, [2], {}]) {
      expectFail(parsePathCount(v), 'invalid_path_count', 'activePaths');
      expectFail(parse({ activePaths: v }), 'invalid_path_count', 'activePaths');
    }
  });
});

describe('parseSubnetChoice', () => {
  it('1, 2, 3 as numbers or strings', () => {
    for (const v of [1, 2, 3] as const) {
      assert.equal(parseSubnetChoice(v), v);
      assert.equal(parseSubnetChoice(String(v)), v);
    }
  });

  it('anything else -> invalid_subnet on subnet', () => {
    for (const v of [0, 4, -1, 1.5, '0', '4', 'both', '', null, undefined, true, [1]]) {
      expectFail(parseSubnetChoice(v), 'invalid_subnet', 'subnet');
      expectFail(parse({ subnet: v }), 'invalid_subnet', 'subnet');
    }
  });
});

describe('IP mode', () => {
  it('defaults to automatic (no manualIps)', () => {
    const r = ok(BASE);
    assert.equal('manualIps' in r, false);
    assert.equal('manualIps' in ok({ ...BASE, ipMode: 'auto' }), false);
  });

  it('unknown mode -> invalid_ip_mode on ipMode', () => {
    for (const ipMode of ['automatic-ish', 'MANUAL', '', 1, true, null]) {
      if (ipMode === null) continue; // null is treated like absent (?? 'auto')
      expectFail(parse({ ipMode }), 'invalid_ip_mode', 'ipMode');
    }
  });

  it('manual with 1 path takes path1 (path2 ignored)', () => {
    const r = ok({
      ...BASE,
      activePaths: 1,
      ipMode: 'manual',
      path1: '10.0.1.5',
      path2: 'garbage',
    });
    assert.deepEqual(r.manualIps, ['10.0.1.5']);
  });

  it('manual with 2 paths takes path1 and path2, trimmed', () => {
    const r = ok({
      ...BASE,
      activePaths: 2,
      ipMode: 'manual',
      path1: ' 10.0.1.5 ',
      path2: '10.0.2.5\t',
    });
    assert.deepEqual(r.manualIps, ['10.0.1.5', '10.0.2.5']);
  });

  it('manual with a missing path IP -> data_missing on that path', () => {
    expectFail(parse({ activePaths: 1, ipMode: 'manual' }), 'data_missing', 'path1');
    expectFail(parse({ activePaths: 1, ipMode: 'manual', path1: '' }), 'data_missing', 'path1');
    expectFail(parse({ activePaths: 1, ipMode: 'manual', path1: '   ' }), 'data_missing', 'path1');
    expectFail(parse({ activePaths: 1, ipMode: 'manual', path1: 17 }), 'data_missing', 'path1');
    expectFail(parse({ activePaths: 2, ipMode: 'manual', path1: '10.0.1.5' }), 'data_missing', 'path2');
    expectFail(parse({ activePaths: 2, ipMode: 'manual', path2: '10.0.1.5' }), 'data_missing', 'path1');
    const p1 = expectFail(parse({ activePaths: 2, ipMode: 'manual', path1: '' }), 'data_missing', 'path1');
    const p2 = expectFail(parse({ activePaths: 2, ipMode: 'manual', path1: '10.0.1.5' }), 'data_missing', 'path2');
    assert.notEqual(p1.message, p2.message);
  });

  it('activePaths >= 3 forces automatic even when ipMode is manual (manual IPs ignored)', () => {
    for (let n = 3; n <= 8; n++) {
      const r = ok({
        ...BASE,
        activePaths: n,
        ipMode: 'manual',
        path1: '10.0.1.5',
        path2: '10.0.1.6',
      });
      assert.equal('manualIps' in r, false, `activePaths ${n}`);
      assert.equal(r.activePaths, n);
      const r2 = ok({ ...BASE, activePaths: n, ipMode: 'manual' });
      assert.equal('manualIps' in r2, false);
    }
  });
});

describe('isValidIqn', () => {
  it('accepts real initiator names (iqn and eui forms)', () => {
    for (const iqn of [
      'iqn.1991-05.com.microsoft:host1.example.com',
      'iqn.1998-01.com.vmware:esx01-4f5b6c7d',
      'iqn.1993-08.org.debian:01:abcdef123456',
      'iqn.1994-05.com.redhat:5e7bd6a1c3f',
      'iqn.2016-05.io.portway',
      'iqn.2016-05.io.portway:00001',
      'iqn.2001-04.com.example:storage.disk2.sys1.xyz',
      'iqn.2016-12.a',
      'eui.02004567A425678D',
      'eui.0123456789ABCDEF',
    ]) {
      assert.equal(isValidIqn(iqn), true, iqn);
    }
  });

  it('rejects malformed names', () => {
    for (const iqn of [
      '',
      'iqn',
      'iqn.',
      'iqn.2016-05',
      'iqn.2016-05.',
      'iqn.16-05.com.x',
      'iqn.2016-5.com.x',
      'iqn.2016-00.com.x',
      'iqn.2016-13.com.x',
      'IQN.2016-05.com.x',
      'iqn.2016-05.Com.x',
      'iqn.2016-05.com.x:',
      'iqn.2016-05.com.x:a b',
      'iqn.2016-05.com.x:a/b',
      'iqn.2016-05.com.x:a;b',
      'iqn.2016-05.-com.x',
      'iqn.2016-05.com-.x',
      'iqn.2016-05.com..x',
      ' iqn.2016-05.com.x',
      'iqn.2016-05.com.x ',
      'eui.0123',
      'eui.0123456789ABCDEG',
      'eui.0123456789ABCDEF0',
      'EUI.0123456789ABCDEF',
      'naa.60014058f3a3d4a5b5b4a5c4d4e5f6a7',
      'iqn.2016-05.com.x\n',
    ]) {
      assert.equal(isValidIqn(iqn), false, JSON.stringify(iqn));
    }
  });

  it('length limit 223', () => {
    const at223 = `iqn.2016-05.${'a'.repeat(209)}:x`;
    assert.equal(at223.length, 223);
    assert.equal(isValidIqn(at223), true);
    assert.equal(isValidIqn(`iqn.2016-05.${'a'.repeat(210)}:x`), false);
    assert.equal(isValidIqn(`iqn.2016-05.com.x:${'a'.repeat(201)}`), false);
    assert.equal(isValidIqn('x'.repeat(100000)), false);
  });

  it('non-strings are not IQNs', () => {
    for (const v of [undefined, null, 1, {}, []]) assert.equal(isValidIqn(v as unknown as string), false);
  });
});

describe('ACL', () => {
  it('absent or all -> empty acl', () => {
    assert.equal(ok(BASE).acl, '');
    assert.equal(ok({ ...BASE, acl: { mode: 'all' } }).acl, '');
  });

  it('one initiator: the IQN (trimmed) is kept', () => {
    assert.equal(
      ok({
        ...BASE,
        acl: { mode: 'iqn', iqn: 'iqn.1993-08.org.debian:01:abc' },
      }).acl,
      'iqn.1993-08.org.debian:01:abc',
    );
    assert.equal(ok({ ...BASE, acl: { mode: 'iqn', iqn: ' eui.02004567A425678D ' } }).acl, 'eui.02004567A425678D');
  });

  it('one initiator without an IQN -> data_missing on acl.iqn', () => {
    for (const acl of [{ mode: 'iqn' }, { mode: 'iqn', iqn: '' }, { mode: 'iqn', iqn: '  ' }, { mode: 'iqn', iqn: 5 }]) {
      expectFail(parse({ acl }), 'data_missing', 'acl.iqn');
    }
  });

  it('one initiator with a bad IQN -> invalid_iqn on acl.iqn', () => {
    for (const iqn of ['iqn.2016-13.com.x:a', 'hello', 'IQN.2016-05.com.x', 'iqn.2016-05.com.x:a b', 'x'.repeat(5000)]) {
      const f = expectFail(parse({ acl: { mode: 'iqn', iqn } }), 'invalid_iqn', 'acl.iqn');
      assert.ok(f.message.length < 300, 'long input is cut in the message');
    }
  });

  it('unknown ACL mode -> invalid_iqn on acl.iqn', () => {
    expectFail(parse({ acl: { mode: 'some' } }), 'invalid_iqn', 'acl.iqn');
    expectFail(parse({ acl: {} }), 'invalid_iqn', 'acl.iqn');
  });

  it('a malformed (non-object) ACL is rejected, not widened to all initiators', () => {
    // BUG: obj(req.acl) ?? { mode: 'all' } turns any non-object ACL into "all initiators" (fail-open).
    for (const acl of ['iqn.1993-08.org.debian:01:abc', 'iqn', 1, true, ['iqn.1993-08.org.debian:01:abc']]) {
      const r = parse({ acl });
      assert.ok(isFailure(r), `acl ${JSON.stringify(acl)} must not be accepted as all initiators`);
      assert.equal(r.field, 'acl.iqn');
    }
  });
});

describe('CHAP', () => {
  const chap = (user: unknown, password: unknown) => parse({ auth: { mode: 'chap', user, password } });

  it('absent or none -> no CHAP', () => {
    const r = ok(BASE);
    assert.equal(r.chapUser, '');
    assert.equal(r.chapPassword, '');
    const r2 = ok({
      ...BASE,
      auth: { mode: 'none', user: 'x', password: 'y' },
    });
    assert.equal(r2.chapUser, '');
    assert.equal(r2.chapPassword, '');
  });

  it('valid user and password are kept', () => {
    const r = ok({
      ...BASE,
      auth: { mode: 'chap', user: 'alice@site-1.a_b:c', password: GOOD_PW },
    });
    assert.equal(r.chapUser, 'alice@site-1.a_b:c');
    assert.equal(r.chapPassword, GOOD_PW);
    assert.equal(
      ok({
        ...BASE,
        auth: { mode: 'chap', user: 'u', password: '!#$%&()*+,-./:' },
      }).chapPassword,
      '!#$%&()*+,-./:',
    );
    assert.equal(
      ok({
        ...BASE,
        auth: { mode: 'chap', user: 'u'.repeat(64), password: 'x'.repeat(16) },
      }).chapUser,
      'u'.repeat(64),
    );
  });

  it('missing user -> chap_missing on chap.user', () => {
    for (const user of [undefined, '', null, 3]) {
      expectFail(chap(user, GOOD_PW), 'chap_missing', 'chap.user');
      expectFail(checkChap(user, GOOD_PW), 'chap_missing', 'chap.user');
    }
    expectFail(parse({ auth: { mode: 'chap' } }), 'chap_missing', 'chap.user');
  });

  it('missing password -> chap_missing on chap.password', () => {
    for (const password of [undefined, '', null, 123456789012]) {
      expectFail(chap('alice', password), 'chap_missing', 'chap.password');
      expectFail(checkChap('alice', password), 'chap_missing', 'chap.password');
    }
  });

  it('the two chap_missing messages differ', () => {
    const u = expectFail(checkChap('', GOOD_PW), 'chap_missing', 'chap.user');
    const p = expectFail(checkChap('alice', ''), 'chap_missing', 'chap.password');
    assert.notEqual(u.message, p.message);
  });

  it('bad user -> invalid_chap on chap.user', () => {
    for (const user of ['bad user', 'a;b', 'a"b', "a'b", 'a/b', 'ü', 'u'.repeat(65), ' alice']) {
      expectFail(chap(user, GOOD_PW), 'invalid_chap', 'chap.user');
    }
  });

  it('bad password -> invalid_chap on chap.password, without echoing the password', () => {
    for (const password of [
      'short',
      'a'.repeat(11),
      'a'.repeat(17),
      'has space 12345',
      'quote"123456789',
      "quote'123456789",
      'ünicode12345678',
      'tab\t1234567890',
      'nl\n12345678901',
    ]) {
      const f = expectFail(chap('alice', password), 'invalid_chap', 'chap.password');
      assert.ok(!f.message.includes(password), 'the secret is not in the message');
    }
  });

  it('password length bounds 12 and 16 are accepted', () => {
    assert.equal(checkChap('alice', 'a'.repeat(12)), undefined);
    assert.equal(checkChap('alice', 'a'.repeat(16)), undefined);
  });

  it('unknown auth mode -> invalid_chap', () => {
    expectFail(parse({ auth: { mode: 'kerberos' } }), 'invalid_chap', 'chap.user');
    expectFail(parse({ auth: {} }), 'invalid_chap', 'chap.user');
  });

  it('a malformed (non-object) auth is rejected, not downgraded to no authentication', () => {
    // BUG: obj(req.auth) ?? { mode: 'none' } turns any non-object auth into "none" (fail-open).
    for (const auth of ['chap', 1, true, [{ mode: 'chap', user: 'alice', password: GOOD_PW }]]) {
      const r = parse({ auth });
      assert.ok(isFailure(r), `auth ${JSON.stringify(auth)} must not be accepted as no CHAP`);
      assert.equal(r.code, 'invalid_chap');
    }
  });
});

describe('parseAddDisk result and order of checks', () => {
  it('a full valid request', () => {
    const r = ok({
      name: 'db disk',
      sizeGb: '100',
      activePaths: '2',
      subnet: '3',
      ipMode: 'manual',
      path1: '10.0.1.5',
      path2: '10.0.2.5',
      acl: { mode: 'iqn', iqn: 'iqn.1993-08.org.debian:01:abc' },
      auth: { mode: 'chap', user: 'alice', password: GOOD_PW },
    });
    assert.deepEqual(r, {
      name: 'db disk',
      sizeGb: 100,
      activePaths: 2,
      subnet: 3,
      manualIps: ['10.0.1.5', '10.0.2.5'],
      acl: 'iqn.1993-08.org.debian:01:abc',
      chapUser: 'alice',
      chapPassword: GOOD_PW,
      placement: 'shared',
    });
  });

  it('a minimal valid request', () => {
    assert.deepEqual(ok(BASE), {
      name: 'disk1',
      sizeGb: 10,
      activePaths: 2,
      subnet: 1,
      acl: '',
      chapUser: '',
      chapPassword: '',
      placement: 'shared',
    });
  });

  it('placement: shared by default, spread when asked, anything else refused on its field', () => {
    assert.equal(ok({ ...BASE, placement: 'spread' }).placement, 'spread');
    assert.equal(ok({ ...BASE, placement: 'shared' }).placement, 'shared');
    const r = parseAddDisk({ ...BASE, placement: 'everywhere' });
    assert.ok('ok' in r && r.code === 'invalid_placement' && r.field === 'placement');
  });

  it('first failing field wins: name, size, paths, subnet, mode, manual IPs, acl, chap', () => {
    const all: AddDiskRequest = {
      name: '',
      sizeGb: 0,
      activePaths: 0,
      subnet: 0,
      ipMode: 'x',
      acl: { mode: 'iqn' },
      auth: { mode: 'chap' },
    };
    expectFail(parseAddDisk(all), 'data_missing', 'name');
    expectFail(parseAddDisk({ ...all, name: 'd' }), 'invalid_size', 'sizeGb');
    expectFail(parseAddDisk({ ...all, name: 'd', sizeGb: 1 }), 'invalid_path_count', 'activePaths');
    expectFail(parseAddDisk({ ...all, name: 'd', sizeGb: 1, activePaths: 1 }), 'invalid_subnet', 'subnet');
    expectFail(parseAddDisk({ ...all, name: 'd', sizeGb: 1, activePaths: 1, subnet: 1 }), 'invalid_ip_mode', 'ipMode');
    expectFail(
      parseAddDisk({
        ...all,
        name: 'd',
        sizeGb: 1,
        activePaths: 1,
        subnet: 1,
        ipMode: 'manual',
      }),
      'data_missing',
      'path1',
    );
    expectFail(
      parseAddDisk({
        ...all,
        name: 'd',
        sizeGb: 1,
        activePaths: 1,
        subnet: 1,
        ipMode: 'auto',
      }),
      'data_missing',
      'acl.iqn',
    );
    expectFail(
      parseAddDisk({
        ...all,
        name: 'd',
        sizeGb: 1,
        activePaths: 1,
        subnet: 1,
        ipMode: 'auto',
        acl: undefined,
      }),
      'chap_missing',
      'chap.user',
    );
  });

  it('each outcome has its own human message', () => {
    const failures: Failure[] = [
      parse({ name: '' }),
      parse({ name: '../x' }),
      parse({ sizeGb: '' }),
      parse({ sizeGb: 0 }),
      parse({ sizeGb: MAX_SIZE_GB + 1 }),
      parse({ activePaths: 9 }),
      parse({ subnet: 4 }),
      parse({ ipMode: 'x' }),
      parse({ activePaths: 1, ipMode: 'manual' }),
      parse({ activePaths: 2, ipMode: 'manual', path1: '10.0.1.1' }),
      parse({ acl: { mode: 'iqn' } }),
      parse({ acl: { mode: 'iqn', iqn: 'bad' } }),
      parse({ acl: { mode: 'x' } }),
      parse({ auth: { mode: 'chap' } }),
      parse({ auth: { mode: 'chap', user: 'a' } }),
      parse({ auth: { mode: 'chap', user: 'a b', password: GOOD_PW } }),
      parse({ auth: { mode: 'chap', user: 'a', password: 'short' } }),
      parse({ auth: { mode: 'x' } }),
    ].map((r) => {
      assert.ok(isFailure(r), JSON.stringify(r));
      assertHumanMessage(r);
      return r;
    });
    const messages = failures.map((f) => f.message);
    assert.equal(new Set(messages).size, messages.length, messages.join('\n'));
  });
});

describe('checkManualIps', () => {
  const cfg = checkConfig({
    iqnBase: 'iqn.2016-05.com.example',
    pool: 'rbd',
    subnet1: {
      cidr: '10.0.1.0/24',
      autoIpFrom: '10.0.1.100',
      autoIpTo: '10.0.1.200',
      eth: 'eth1',
    },
    subnet2: {
      cidr: '10.0.2.0/24',
      autoIpFrom: '10.0.2.100',
      autoIpTo: '10.0.2.200',
      eth: 'eth2',
    },
  });
  assert.ok(cfg.ok);
  const { subnet1: s1, subnet2: s2 } = cfg;
  const none = new Set<number>();

  it('subnetsOf', () => {
    assert.deepEqual(subnetsOf(1, s1, s2), [s1]);
    assert.deepEqual(subnetsOf(2, s1, s2), [s2]);
    assert.deepEqual(subnetsOf(3, s1, s2), [s1, s2]);
  });

  it('more than 2 paths -> wrong_data', () => {
    expectFail(checkManualIps(['10.0.1.1', '10.0.1.2', '10.0.1.3'], 3, 1, s1, s2, none), 'wrong_data', 'activePaths');
  });

  it('count must equal activePaths -> wrong_data', () => {
    expectFail(checkManualIps(['10.0.1.1'], 2, 1, s1, s2, none), 'wrong_data', 'path2');
    expectFail(checkManualIps([], 1, 1, s1, s2, none), 'wrong_data', 'path1');
  });

  it('too many IPs for the paths names a real field', () => {
    // BUG (minor): with activePaths 2 and 3 IPs the field is "path3", which is not a Field.
    const f = checkManualIps(['10.0.1.1', '10.0.1.2', '10.0.1.3'], 2, 1, s1, s2, none);
    assert.ok(isFailure(f));
    assert.equal(f.code, 'wrong_data');
    assert.ok(['path1', 'path2', 'activePaths'].includes(f.field as string), `field ${f.field}`);
  });

  it('valid IPs are returned with their subnet', () => {
    assert.deepEqual(checkManualIps(['10.0.1.5'], 1, 1, s1, s2, none), [{ ip: parseIp('10.0.1.5'), subnet: s1 }]);
    assert.deepEqual(checkManualIps(['10.0.2.5'], 1, 2, s1, s2, none), [{ ip: parseIp('10.0.2.5'), subnet: s2 }]);
    assert.deepEqual(checkManualIps(['10.0.2.5'], 1, 3, s1, s2, none), [{ ip: parseIp('10.0.2.5'), subnet: s2 }]);
    assert.deepEqual(checkManualIps(['10.0.1.5', '10.0.2.5'], 2, 3, s1, s2, none), [
      { ip: parseIp('10.0.1.5'), subnet: s1 },
      { ip: parseIp('10.0.2.5'), subnet: s2 },
    ]);
  });

  it('missing / invalid syntax / wrong subnet / used', () => {
    expectFail(checkManualIps([''], 1, 1, s1, s2, none), 'data_missing', 'path1');
    expectFail(checkManualIps([5], 1, 1, s1, s2, none), 'data_missing', 'path1');
    expectFail(checkManualIps(['10.0.1.05'], 1, 1, s1, s2, none), 'invalid_ip', 'path1');
    expectFail(checkManualIps(['10.0.1.5', 'x'.repeat(500)], 2, 1, s1, s2, none), 'invalid_ip', 'path2');
    expectFail(checkManualIps(['10.0.2.5'], 1, 1, s1, s2, none), 'wrong_subnet', 'path1');
    expectFail(checkManualIps(['10.0.1.0'], 1, 1, s1, s2, none), 'wrong_subnet', 'path1');
    expectFail(checkManualIps(['10.0.1.255'], 1, 1, s1, s2, none), 'wrong_subnet', 'path1');
    expectFail(checkManualIps(['10.0.3.5'], 1, 3, s1, s2, none), 'wrong_subnet', 'path1');
    expectFail(checkManualIps(['10.0.2.5', '10.0.1.5'], 2, 3, s1, s2, none), 'wrong_subnet', 'path1');
    expectFail(checkManualIps(['10.0.1.5', '10.0.1.6'], 2, 3, s1, s2, none), 'wrong_subnet', 'path2');
    expectFail(checkManualIps(['10.0.1.5'], 1, 1, s1, s2, new Set([parseIp('10.0.1.5') as number])), 'ip_used_already', 'path1');
    expectFail(checkManualIps(['10.0.1.5', '10.0.1.5'], 2, 1, s1, s2, none), 'ip_used_already', 'path2');
  });
});
