import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ClusterConfig, checkConfig, DEFAULT_CONFIG } from '../../src/domain/config.js';
import { parseIp } from '../../src/domain/ip.js';

const clone = (): ClusterConfig => structuredClone(DEFAULT_CONFIG);

function failMessage(c: ClusterConfig): string {
  const r = checkConfig(c);
  assert.equal(r.ok, false, `expected failure for ${JSON.stringify(c)}`);
  if (r.ok) throw new Error('unreachable');
  assert.equal(typeof r.message, 'string');
  assert.ok(r.message.length > 10);
  assert.ok(!/undefined|NaN|\[object/.test(r.message), r.message);
  return r.message;
}

describe('DEFAULT_CONFIG', () => {
  it('passes checkConfig and resolves both subnets', () => {
    const r = checkConfig(DEFAULT_CONFIG);
    assert.equal(r.ok, true);
    if (!r.ok) return;
    assert.deepEqual(r.subnet1.subnet, {
      network: parseIp('127.10.1.0'),
      prefix: 24,
    });
    assert.equal(r.subnet1.from, parseIp('127.10.1.10'));
    assert.equal(r.subnet1.to, parseIp('127.10.1.250'));
    assert.equal(r.subnet1.mask, '255.255.255.0');
    assert.equal(r.subnet1.eth, 'lo');
    assert.deepEqual(r.subnet2.subnet, {
      network: parseIp('127.10.2.0'),
      prefix: 24,
    });
    assert.equal(r.subnet2.from, parseIp('127.10.2.10'));
    assert.equal(r.subnet2.to, parseIp('127.10.2.250'));
    assert.equal(r.subnet2.mask, '255.255.255.0');
  });

  it('checkConfig does not mutate its input', () => {
    const before = JSON.stringify(DEFAULT_CONFIG);
    checkConfig(DEFAULT_CONFIG);
    assert.equal(JSON.stringify(DEFAULT_CONFIG), before);
  });
});

describe('checkConfig accepts', () => {
  it('a typical two-subnet cluster with distinct interfaces and masks', () => {
    const c: ClusterConfig = {
      iqnBase: 'iqn.2016-05.com.example',
      pool: 'rbd-ssd_1',
      subnet1: {
        cidr: '10.0.1.0/24',
        autoIpFrom: '10.0.1.100',
        autoIpTo: '10.0.1.200',
        eth: 'eth1',
      },
      subnet2: {
        cidr: '10.1.0.0/16',
        autoIpFrom: '10.1.0.1',
        autoIpTo: '10.1.255.254',
        eth: 'bond0.100',
      },
    };
    const r = checkConfig(c);
    assert.equal(r.ok, true);
    if (!r.ok) return;
    assert.equal(r.subnet1.eth, 'eth1');
    assert.equal(r.subnet2.eth, 'bond0.100');
    assert.equal(r.subnet2.mask, '255.255.0.0');
  });

  it('a range of a single address (from == to)', () => {
    const c = clone();
    c.subnet1.autoIpTo = c.subnet1.autoIpFrom;
    assert.equal(checkConfig(c).ok, true);
  });

  it('range edges at the first and last host', () => {
    const c = clone();
    c.subnet1.autoIpFrom = '127.10.1.1';
    c.subnet1.autoIpTo = '127.10.1.254';
    assert.equal(checkConfig(c).ok, true);
  });

  it('interface names of up to 15 characters, with . _ : -', () => {
    for (const eth of ['lo', 'eth0', 'ens3f0', 'bond0.100', 'eth0:1', 'br-storage', 'enp0s31f6_x', 'a23456789012345']) {
      const c = clone();
      c.subnet1.eth = eth;
      assert.equal(checkConfig(c).ok, true, eth);
    }
  });
});

describe('checkConfig rejects with a message', () => {
  it('iqnBase that is not an iqn., has a colon, or is malformed', () => {
    const msgs = new Set<string>();
    for (const iqnBase of [
      '',
      'iqn',
      'portway',
      'IQN.2016-05.io.portway',
      'iqn.2016-13.io.portway',
      'iqn.2016-5.io.portway',
      'iqn.2016-05.io.portway:disk',
      'iqn.2016-05.io portway',
      'iqn.2016-05.',
      'eui.0123456789ABCDEF',
    ]) {
      const c = clone();
      c.iqnBase = iqnBase;
      const m = failMessage(c);
      assert.match(m, /IQN/);
      msgs.add(m);
    }
    assert.ok(msgs.size > 1, 'the message names the bad value');
  });

  it('bad pool name', () => {
    for (const pool of ['', ' rbd', 'rbd pool', 'rbd/x', '-rbd', 'a'.repeat(65)]) {
      const c = clone();
      c.pool = pool;
      assert.match(failMessage(c), /pool/);
    }
  });

  it('a cidr that is not a network', () => {
    for (const cidr of ['127.10.1.1/24', '127.10.1.0', '127.10.1.0/33', 'x', '']) {
      const c = clone();
      c.subnet1.cidr = cidr;
      assert.match(failMessage(c), /subnet 1.*CIDR/);
    }
    const c = clone();
    c.subnet2.cidr = '127.10.2.7/24';
    assert.match(failMessage(c), /subnet 2/);
  });

  it('range bounds that are not IPs', () => {
    for (const [from, to] of [
      ['x', '127.10.1.20'],
      ['127.10.1.10', ''],
      ['127.10.1.010', '127.10.1.20'],
    ] as const) {
      const c = clone();
      c.subnet1.autoIpFrom = from;
      c.subnet1.autoIpTo = to;
      assert.match(failMessage(c), /subnet 1.*valid IPv4/);
    }
  });

  it('range outside the subnet (incl. network and broadcast addresses)', () => {
    for (const [from, to] of [
      ['127.10.2.10', '127.10.2.20'],
      ['127.10.1.10', '127.10.2.20'],
      ['127.10.0.250', '127.10.1.20'],
      ['127.10.1.0', '127.10.1.20'],
      ['127.10.1.10', '127.10.1.255'],
    ] as const) {
      const c = clone();
      c.subnet1.autoIpFrom = from;
      c.subnet1.autoIpTo = to;
      const m = failMessage(c);
      assert.match(m, /subnet 1.*must lie inside 127\.10\.1\.0\/24/);
    }
    const c = clone();
    c.subnet2.autoIpFrom = '127.10.1.10';
    assert.match(failMessage(c), /subnet 2.*inside 127\.10\.2\.0\/24/);
  });

  it('from > to', () => {
    const c = clone();
    c.subnet1.autoIpFrom = '127.10.1.20';
    c.subnet1.autoIpTo = '127.10.1.19';
    assert.match(failMessage(c), /subnet 1.*starts after it ends/);
  });

  it('bad interface names', () => {
    for (const eth of ['', ' eth1', 'eth 1', 'eth1;reboot', '$(id)', 'eth/1', '-eth', 'a234567890123456', 'ëth1']) {
      const c = clone();
      c.subnet2.eth = eth;
      assert.match(failMessage(c), /subnet 2.*interface/, eth);
    }
  });

  it('overlapping subnets (equal, nested either way)', () => {
    const pairs: [string, string, string, string, string, string][] = [
      ['10.0.1.0/24', '10.0.1.10', '10.0.1.20', '10.0.1.0/24', '10.0.1.30', '10.0.1.40'],
      ['10.0.0.0/16', '10.0.0.10', '10.0.0.20', '10.0.1.0/24', '10.0.1.10', '10.0.1.20'],
      ['10.0.1.0/24', '10.0.1.10', '10.0.1.20', '10.0.0.0/16', '10.0.0.10', '10.0.0.20'],
    ];
    for (const [c1, f1, t1, c2, f2, t2] of pairs) {
      const c: ClusterConfig = {
        iqnBase: 'iqn.2016-05.com.example',
        pool: 'rbd',
        subnet1: { cidr: c1, autoIpFrom: f1, autoIpTo: t1, eth: 'eth1' },
        subnet2: { cidr: c2, autoIpFrom: f2, autoIpTo: t2, eth: 'eth2' },
      };
      assert.match(failMessage(c), /overlap/);
    }
  });

  it('each kind of problem has its own message', () => {
    const mk = (f: (c: ClusterConfig) => void) => {
      const c = clone();
      f(c);
      return failMessage(c);
    };
    const msgs = [
      mk((c) => (c.iqnBase = 'bad')),
      mk((c) => (c.pool = '')),
      mk((c) => (c.subnet1.cidr = 'x')),
      mk((c) => (c.subnet1.autoIpFrom = 'x')),
      mk((c) => (c.subnet1.autoIpFrom = '127.10.9.1')),
      mk((c) => (c.subnet1.autoIpFrom = '127.10.1.251')),
      mk((c) => (c.subnet1.eth = '')),
      mk((c) => (c.subnet2 = { ...c.subnet1 })),
    ];
    assert.equal(new Set(msgs).size, msgs.length, msgs.join('\n'));
  });
});
