import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  broadcastOf,
  cidrText,
  formatIp,
  inSubnet,
  isHostOf,
  isIp,
  maskOfPrefix,
  maskText,
  parseCidr,
  parseIp,
  prefixOfMask,
  subnetsOverlap,
} from '../../src/domain/ip.js';

const ip = (s: string): number => {
  const n = parseIp(s);
  assert.notEqual(n, undefined, `${s} should parse`);
  return n as number;
};
const cidr = (s: string) => {
  const c = parseCidr(s);
  assert.ok(c, `${s} should parse`);
  return c;
};

describe('parseIp / formatIp', () => {
  it('parses dotted quads to unsigned 32-bit numbers', () => {
    assert.equal(parseIp('0.0.0.0'), 0);
    assert.equal(parseIp('0.0.0.1'), 1);
    assert.equal(parseIp('1.2.3.4'), 0x01020304);
    assert.equal(parseIp('10.0.1.255'), 0x0a0001ff);
    assert.equal(parseIp('127.0.0.1'), 0x7f000001);
    assert.equal(parseIp('192.168.1.1'), 0xc0a80101);
    assert.equal(parseIp('255.255.255.255'), 0xffffffff);
    assert.equal(parseIp('200.100.50.25'), 200 * 2 ** 24 + 100 * 2 ** 16 + 50 * 256 + 25);
  });

  it('never yields a negative number for high addresses', () => {
    for (const s of ['128.0.0.0', '200.1.2.3', '255.255.255.254', '255.255.255.255']) {
      const n = ip(s);
      assert.ok(n >= 0 && n <= 0xffffffff, s);
    }
  });

  it('round-trips parse -> format -> parse', () => {
    const samples = [
      '0.0.0.0',
      '1.2.3.4',
      '9.99.199.249',
      '10.0.0.1',
      '100.64.0.0',
      '127.10.1.250',
      '128.0.0.1',
      '172.16.254.3',
      '192.168.100.200',
      '223.255.255.0',
      '255.255.255.255',
    ];
    for (const s of samples) {
      assert.equal(formatIp(ip(s)), s);
      assert.equal(parseIp(formatIp(ip(s))), ip(s));
    }
  });

  it('round-trips format -> parse for numbers spread over the whole space', () => {
    for (let n = 0; n <= 0xffffffff; n += 0x01010101 * 7 + 13) {
      assert.equal(parseIp(formatIp(n)), n);
    }
    assert.equal(formatIp(0xffffffff), '255.255.255.255');
    assert.equal(formatIp(0x80000000), '128.0.0.0');
  });

  it('rejects invalid syntax', () => {
    const bad = [
      '',
      ' ',
      '1',
      '1.2',
      '1.2.3',
      '1.2.3.4.5',
      '1.2.3.',
      '.1.2.3',
      '1..2.3',
      '1.2.3.4.',
      '256.0.0.1',
      '1.2.3.256',
      '999.1.1.1',
      '-1.2.3.4',
      '+1.2.3.4',
      '01.2.3.4',
      '1.02.3.4',
      '1.2.3.04',
      '00.0.0.0',
      '1.2.3.00',
      '010.0.0.1',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '1. 2.3.4',
      '1.2.3.4\n',
      '\t1.2.3.4',
      '0x1.2.3.4',
      '0x01020304',
      '16909060',
      '1e1.2.3.4',
      'a.b.c.d',
      '1.2.3.a',
      '1,2,3,4',
      '1.2.3.4/24',
      '1.2.3.4:80',
      '١.٢.٣.٤',
      '１.２.３.４',
      '::1',
      '1.2.3.4'.repeat(3),
      `${'1.'.repeat(5000)}1`,
      '1'.repeat(100000),
    ];
    for (const s of bad) {
      assert.equal(parseIp(s), undefined, JSON.stringify(s.slice(0, 40)));
      assert.equal(isIp(s), false, JSON.stringify(s.slice(0, 40)));
    }
  });

  it('rejects non-strings without throwing', () => {
    for (const v of [undefined, null, 1, 0x01020304, {}, [], ['1', '2', '3', '4'], true]) {
      assert.equal(parseIp(v as unknown as string), undefined);
    }
  });

  it('isIp agrees with parseIp', () => {
    assert.equal(isIp('10.0.0.1'), true);
    assert.equal(isIp('10.0.0.01'), false);
  });
});

describe('masks', () => {
  it('maskOfPrefix gives the unsigned mask of every prefix', () => {
    assert.equal(maskOfPrefix(0), 0);
    assert.equal(maskOfPrefix(1), 0x80000000);
    assert.equal(maskOfPrefix(8), 0xff000000);
    assert.equal(maskOfPrefix(16), 0xffff0000);
    assert.equal(maskOfPrefix(24), 0xffffff00);
    assert.equal(maskOfPrefix(30), 0xfffffffc);
    assert.equal(maskOfPrefix(31), 0xfffffffe);
    assert.equal(maskOfPrefix(32), 0xffffffff);
    for (let p = 0; p <= 32; p++) assert.ok(maskOfPrefix(p) >= 0, `prefix ${p}`);
  });

  it('maskText formats dotted masks', () => {
    assert.equal(maskText(0), '0.0.0.0');
    assert.equal(maskText(8), '255.0.0.0');
    assert.equal(maskText(16), '255.255.0.0');
    assert.equal(maskText(20), '255.255.240.0');
    assert.equal(maskText(24), '255.255.255.0');
    assert.equal(maskText(31), '255.255.255.254');
    assert.equal(maskText(32), '255.255.255.255');
  });

  it('prefixOfMask inverts maskText for every prefix', () => {
    for (let p = 0; p <= 32; p++) assert.equal(prefixOfMask(maskText(p)), p);
  });

  it('prefixOfMask rejects non-contiguous and invalid masks', () => {
    for (const m of ['255.0.255.0', '0.255.255.255', '255.255.255.1', '255.255.254.255', '', 'x', '255.255.255', '256.0.0.0']) {
      assert.equal(prefixOfMask(m), undefined, m);
    }
  });
});

describe('parseCidr / cidrText', () => {
  it('parses network/prefix and round-trips', () => {
    for (const s of [
      '10.0.0.0/8',
      '10.0.1.0/24',
      '172.16.0.0/12',
      '192.168.0.0/16',
      '127.10.1.0/24',
      '1.2.3.4/32',
      '1.2.3.4/31',
      '128.0.0.0/1',
      '10.0.1.64/26',
    ]) {
      const c = cidr(s);
      assert.equal(cidrText(c), s);
    }
    assert.deepEqual(parseCidr('10.0.1.0/24'), {
      network: 0x0a000100,
      prefix: 24,
    });
  });

  it('rejects an address with host bits set', () => {
    for (const s of ['10.0.1.1/24', '11.0.0.0/7', '192.168.1.0/16', '1.2.3.5/31', '10.0.1.65/26', '128.0.0.1/1']) {
      assert.equal(parseCidr(s), undefined, s);
    }
  });

  it('rejects bad prefixes and bad syntax', () => {
    const bad = [
      '10.0.0.0',
      '10.0.0.0/',
      '10.0.0.0/0',
      '0.0.0.0/0',
      '10.0.0.0/33',
      '10.0.0.0/99',
      '10.0.0.0/100',
      '10.0.0.0/-1',
      '10.0.0.0/ 8',
      ' 10.0.0.0/8',
      '10.0.0.0/8 ',
      '10.0.0.0/8/8',
      '10.0.0/8',
      '010.0.0.0/8',
      '256.0.0.0/8',
      '10.0.0.0/a',
      '/24',
      '',
      'abc',
    ];
    for (const s of bad) assert.equal(parseCidr(s), undefined, s);
  });
});

describe('inSubnet / isHostOf / broadcastOf', () => {
  it('inSubnet includes the network and broadcast, excludes outside addresses', () => {
    const s = cidr('10.0.1.0/24');
    assert.equal(inSubnet(ip('10.0.1.0'), s), true);
    assert.equal(inSubnet(ip('10.0.1.1'), s), true);
    assert.equal(inSubnet(ip('10.0.1.255'), s), true);
    assert.equal(inSubnet(ip('10.0.0.255'), s), false);
    assert.equal(inSubnet(ip('10.0.2.0'), s), false);
    assert.equal(inSubnet(ip('11.0.1.1'), s), false);
  });

  it('works for high (sign-bit) addresses', () => {
    const s = cidr('192.168.0.0/16');
    assert.equal(inSubnet(ip('192.168.255.255'), s), true);
    assert.equal(inSubnet(ip('192.169.0.0'), s), false);
    const t = cidr('255.255.255.0/24');
    assert.equal(isHostOf(ip('255.255.255.1'), t), true);
    assert.equal(isHostOf(ip('255.255.255.255'), t), false);
    assert.equal(broadcastOf(t), 0xffffffff);
  });

  it('broadcastOf', () => {
    assert.equal(formatIp(broadcastOf(cidr('10.0.1.0/24'))), '10.0.1.255');
    assert.equal(formatIp(broadcastOf(cidr('10.0.0.0/8'))), '10.255.255.255');
    assert.equal(formatIp(broadcastOf(cidr('10.0.1.64/26'))), '10.0.1.127');
    assert.equal(formatIp(broadcastOf(cidr('1.2.3.4/31'))), '1.2.3.5');
    assert.equal(formatIp(broadcastOf(cidr('1.2.3.4/32'))), '1.2.3.4');
  });

  it('isHostOf excludes network and broadcast addresses', () => {
    const s = cidr('10.0.1.0/24');
    assert.equal(isHostOf(ip('10.0.1.0'), s), false);
    assert.equal(isHostOf(ip('10.0.1.255'), s), false);
    assert.equal(isHostOf(ip('10.0.1.1'), s), true);
    assert.equal(isHostOf(ip('10.0.1.254'), s), true);
    assert.equal(isHostOf(ip('10.0.2.1'), s), false);
  });

  it('/30 has exactly two hosts', () => {
    const s = cidr('10.0.0.4/30');
    const hosts = [4, 5, 6, 7, 8, 3].filter((h) => isHostOf(ip(`10.0.0.${h}`), s));
    assert.deepEqual(hosts, [5, 6]);
  });

  it('/31 has both addresses as hosts (RFC 3021)', () => {
    const s = cidr('10.0.0.4/31');
    assert.equal(isHostOf(ip('10.0.0.4'), s), true);
    assert.equal(isHostOf(ip('10.0.0.5'), s), true);
    assert.equal(isHostOf(ip('10.0.0.6'), s), false);
    assert.equal(isHostOf(ip('10.0.0.3'), s), false);
  });

  it('/32 has its single address as host', () => {
    const s = cidr('10.0.0.7/32');
    assert.equal(isHostOf(ip('10.0.0.7'), s), true);
    assert.equal(isHostOf(ip('10.0.0.6'), s), false);
    assert.equal(isHostOf(ip('10.0.0.8'), s), false);
  });
});

describe('subnetsOverlap', () => {
  const o = (a: string, b: string) => subnetsOverlap(cidr(a), cidr(b));
  it('equal subnets overlap', () => assert.equal(o('10.0.1.0/24', '10.0.1.0/24'), true));
  it('nested subnets overlap in both orders', () => {
    assert.equal(o('10.0.0.0/16', '10.0.1.0/24'), true);
    assert.equal(o('10.0.1.0/24', '10.0.0.0/16'), true);
    assert.equal(o('10.0.0.0/8', '10.200.3.4/32'), true);
  });
  it('adjacent and disjoint subnets do not overlap', () => {
    assert.equal(o('10.0.1.0/24', '10.0.2.0/24'), false);
    assert.equal(o('10.0.0.0/25', '10.0.0.128/25'), false);
    assert.equal(o('127.10.1.0/24', '127.10.2.0/24'), false);
    assert.equal(o('10.0.0.0/8', '11.0.0.0/8'), false);
    assert.equal(o('192.168.0.0/16', '10.0.0.0/16'), false);
  });
  it('high subnets', () => {
    assert.equal(o('128.0.0.0/1', '200.0.0.0/8'), true);
    assert.equal(o('128.0.0.0/2', '192.0.0.0/2'), false);
  });
});
