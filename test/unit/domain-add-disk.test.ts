import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AddDiskRequest, type ClusterView, parseAddDisk, planAddDisk } from '../../src/domain/add-disk.js';
import { type ClusterConfig, checkConfig, DEFAULT_CONFIG } from '../../src/domain/config.js';
import type { DiskMeta } from '../../src/domain/disk.js';
import { parseIp } from '../../src/domain/ip.js';
import type { Failure, FailureCode, Field } from '../../src/domain/outcomes.js';

const CONFIG: ClusterConfig = {
  iqnBase: 'iqn.2016-05.com.example',
  pool: 'rbd-ssd',
  subnet1: {
    cidr: '10.0.1.0/24',
    autoIpFrom: '10.0.1.10',
    autoIpTo: '10.0.1.20',
    eth: 'eth1',
  },
  subnet2: {
    cidr: '10.2.0.0/16',
    autoIpFrom: '10.2.0.10',
    autoIpTo: '10.2.0.20',
    eth: 'eth2',
  },
};
const NOW = new Date('2024-03-04T05:06:07.089Z');

function view(over: { usedIps?: string[]; diskIds?: string[]; diskNames?: string[]; config?: ClusterConfig } = {}): ClusterView {
  const c = checkConfig(over.config ?? CONFIG);
  assert.ok(c.ok);
  const cfg = over.config ?? CONFIG;
  return {
    subnet1: c.subnet1,
    subnet2: c.subnet2,
    iqnBase: cfg.iqnBase,
    pool: cfg.pool,
    usedIps: new Set((over.usedIps ?? []).map((s) => parseIp(s) as number)),
    diskIds: over.diskIds ?? [],
    diskNames: new Set(over.diskNames ?? []),
  };
}

const isFailure = (v: unknown): v is Failure => typeof v === 'object' && v !== null && (v as Failure).ok === false;

/** The whole pure add-disk flow: parse the form, then plan against the cluster. */
function add(req: Partial<AddDiskRequest>, cluster: ClusterView = view()): DiskMeta | Failure {
  const input = parseAddDisk({
    name: 'disk1',
    sizeGb: 10,
    activePaths: 2,
    subnet: 1,
    ...req,
  });
  if (isFailure(input)) return input;
  return planAddDisk(input, cluster, NOW);
}

function ok(req: Partial<AddDiskRequest>, cluster?: ClusterView): DiskMeta {
  const r = add(req, cluster);
  assert.ok(!isFailure(r), `unexpected ${JSON.stringify(r)}`);
  return r;
}

function expectFail(r: DiskMeta | Failure, code: FailureCode, field?: Field): Failure {
  assert.ok(isFailure(r), `expected ${code}, got ${JSON.stringify(r)}`);
  assert.equal(r.code, code, r.message);
  assert.equal(r.field, field);
  assert.ok(r.message.length > 10 && !/undefined|NaN|\[object|\n\s+at /.test(r.message), r.message);
  return r;
}

const ips = (m: DiskMeta) => m.paths.map((p) => p.ip);

describe('planAddDisk: the metadata', () => {
  it('a complete disk from an automatic request', () => {
    const m = ok({
      name: 'db',
      sizeGb: '100',
      activePaths: 2,
      subnet: 1,
      acl: { mode: 'iqn', iqn: 'iqn.1993-08.org.debian:01:abc' },
      auth: { mode: 'chap', user: 'alice', password: 'Abcdef123456' },
    });
    assert.deepEqual(m, {
      id: '00001',
      name: 'db',
      sizeGb: 100,
      createdAt: '2024-03-04T05:06:07.089Z',
      acl: 'iqn.1993-08.org.debian:01:abc',
      chapUser: 'alice',
      chapPassword: 'Abcdef123456',
      iqn: 'iqn.2016-05.com.example:00001',
      pool: 'rbd-ssd',
      subnet: 1,
      paths: [
        { ip: '10.0.1.10', subnetMask: '255.255.255.0', eth: 'eth1' },
        { ip: '10.0.1.11', subnetMask: '255.255.255.0', eth: 'eth1' },
      ],
      placement: 'shared',
    });
  });

  it('paths carry the mask and interface of their own subnet', () => {
    const m = ok({ activePaths: 3, subnet: 3 });
    assert.deepEqual(m.paths, [
      { ip: '10.0.1.10', subnetMask: '255.255.255.0', eth: 'eth1' },
      { ip: '10.2.0.10', subnetMask: '255.255.0.0', eth: 'eth2' },
      { ip: '10.0.1.11', subnetMask: '255.255.255.0', eth: 'eth1' },
    ]);
    const m2 = ok({ activePaths: 1, subnet: 2 });
    assert.deepEqual(m2.paths, [{ ip: '10.2.0.10', subnetMask: '255.255.0.0', eth: 'eth2' }]);
  });

  it('DEFAULT_CONFIG works end to end', () => {
    const m = ok({ activePaths: 2, subnet: 3 }, view({ config: DEFAULT_CONFIG }));
    assert.deepEqual(m.paths, [
      { ip: '127.10.1.10', subnetMask: '255.255.255.0', eth: 'lo' },
      { ip: '127.10.2.10', subnetMask: '255.255.255.0', eth: 'lo' },
    ]);
    assert.equal(m.iqn, 'iqn.2016-05.io.portway:00001');
    assert.equal(m.pool, 'rbd');
  });

  it('does not mutate the cluster view', () => {
    const v = view({
      usedIps: ['10.0.1.10'],
      diskIds: ['00001'],
      diskNames: ['x'],
    });
    ok({}, v);
    assert.deepEqual([...v.usedIps], [parseIp('10.0.1.10')]);
    assert.deepEqual([...v.diskNames], ['x']);
  });
});

describe('planAddDisk: disk ids and IQN', () => {
  it('00001 on an empty cluster', () => {
    assert.equal(ok({}).id, '00001');
  });

  it('next id is max + 1, zero-padded; gaps are not reused', () => {
    assert.equal(ok({}, view({ diskIds: ['00001', '00002'] })).id, '00003');
    assert.equal(ok({}, view({ diskIds: ['00001', '00005'] })).id, '00006');
    assert.equal(ok({}, view({ diskIds: ['00003'] })).id, '00004');
    assert.equal(ok({}, view({ diskIds: ['00099'] })).id, '00100');
  });

  it('iqn = iqnBase:id', () => {
    const m = ok({}, view({ diskIds: ['00041'] }));
    assert.equal(m.iqn, 'iqn.2016-05.com.example:00042');
  });

  it('99999 taken -> no_disk_id', () => {
    expectFail(add({}, view({ diskIds: ['99999'] })), 'no_disk_id', undefined);
    assert.equal(ok({}, view({ diskIds: ['99998'] })).id, '99999');
  });
});

describe('planAddDisk: names', () => {
  it('a name already used -> disk_name_exists on name', () => {
    const f = expectFail(add({ name: 'db' }, view({ diskNames: ['db', 'other'] })), 'disk_name_exists', 'name');
    assert.match(f.message, /db/);
  });

  it('the name check comes before IP allocation', () => {
    const full = Array.from({ length: 11 }, (_, i) => `10.0.1.${10 + i}`);
    expectFail(add({ name: 'db' }, view({ diskNames: ['db'], usedIps: full })), 'disk_name_exists', 'name');
  });

  it('other names are fine', () => {
    assert.equal(ok({ name: 'db2' }, view({ diskNames: ['db'] })).name, 'db2');
  });
});

describe('planAddDisk: manual IPs', () => {
  const manual = (activePaths: number, subnet: number, path1?: string, path2?: string) => ({
    activePaths,
    subnet,
    ipMode: 'manual',
    path1,
    path2,
  });

  it('one manual IP in subnet 1', () => {
    const m = ok(manual(1, 1, '10.0.1.77'));
    assert.deepEqual(m.paths, [{ ip: '10.0.1.77', subnetMask: '255.255.255.0', eth: 'eth1' }]);
  });

  it('two manual IPs in subnet 2 (outside the auto range is fine)', () => {
    const m = ok(manual(2, 2, '10.2.5.1', '10.2.0.15'));
    assert.deepEqual(ips(m), ['10.2.5.1', '10.2.0.15']);
    assert.ok(m.paths.every((p) => p.eth === 'eth2' && p.subnetMask === '255.255.0.0'));
  });

  it('manual IP with surrounding spaces is trimmed', () => {
    assert.deepEqual(ips(ok(manual(1, 1, ' 10.0.1.77 '))), ['10.0.1.77']);
  });

  it('invalid syntax -> invalid_ip on that path', () => {
    expectFail(add(manual(1, 1, '10.0.1.077')), 'invalid_ip', 'path1');
    expectFail(add(manual(1, 1, '10.0.1')), 'invalid_ip', 'path1');
    expectFail(add(manual(2, 1, '10.0.1.5', '10.0.1.256')), 'invalid_ip', 'path2');
  });

  it('IP outside the chosen subnet -> wrong_subnet', () => {
    expectFail(add(manual(1, 1, '10.2.0.5')), 'wrong_subnet', 'path1');
    expectFail(add(manual(1, 2, '10.0.1.5')), 'wrong_subnet', 'path1');
    expectFail(add(manual(1, 1, '192.168.0.1')), 'wrong_subnet', 'path1');
    expectFail(add(manual(2, 1, '10.0.1.5', '10.0.2.5')), 'wrong_subnet', 'path2');
  });

  it('network and broadcast addresses are not host addresses -> wrong_subnet', () => {
    expectFail(add(manual(1, 1, '10.0.1.0')), 'wrong_subnet', 'path1');
    expectFail(add(manual(1, 1, '10.0.1.255')), 'wrong_subnet', 'path1');
    expectFail(add(manual(1, 2, '10.2.255.255')), 'wrong_subnet', 'path1');
  });

  it('IP used by another disk -> ip_used_already', () => {
    const v = view({ usedIps: ['10.0.1.77', '10.0.1.78'] });
    expectFail(add(manual(1, 1, '10.0.1.77'), v), 'ip_used_already', 'path1');
    expectFail(add(manual(2, 1, '10.0.1.76', '10.0.1.78'), v), 'ip_used_already', 'path2');
  });

  it('two equal manual IPs -> ip_used_already on path2', () => {
    expectFail(add(manual(2, 1, '10.0.1.77', '10.0.1.77')), 'ip_used_already', 'path2');
    expectFail(add(manual(2, 1, '10.0.1.77', ' 10.0.1.77')), 'ip_used_already', 'path2');
  });

  it('subnet 3 with 2 paths: path1 must be in subnet 1 and path2 in subnet 2', () => {
    const m = ok(manual(2, 3, '10.0.1.5', '10.2.3.4'));
    assert.deepEqual(m.paths, [
      { ip: '10.0.1.5', subnetMask: '255.255.255.0', eth: 'eth1' },
      { ip: '10.2.3.4', subnetMask: '255.255.0.0', eth: 'eth2' },
    ]);
    expectFail(add(manual(2, 3, '10.2.3.4', '10.0.1.5')), 'wrong_subnet', 'path1');
    expectFail(add(manual(2, 3, '10.0.1.5', '10.0.1.6')), 'wrong_subnet', 'path2');
    expectFail(add(manual(2, 3, '10.2.3.4', '10.2.3.5')), 'wrong_subnet', 'path1');
  });

  it('subnet 3 with 1 path: either subnet, with that subnet’s mask and interface', () => {
    assert.deepEqual(ok(manual(1, 3, '10.0.1.5')).paths, [{ ip: '10.0.1.5', subnetMask: '255.255.255.0', eth: 'eth1' }]);
    assert.deepEqual(ok(manual(1, 3, '10.2.3.4')).paths, [{ ip: '10.2.3.4', subnetMask: '255.255.0.0', eth: 'eth2' }]);
    expectFail(add(manual(1, 3, '10.1.0.5')), 'wrong_subnet', 'path1');
  });

  it('activePaths >= 3 with manual mode allocates automatically (given IPs ignored)', () => {
    const m = ok(manual(3, 1, '10.0.1.77', 'not an ip'));
    assert.deepEqual(ips(m), ['10.0.1.10', '10.0.1.11', '10.0.1.12']);
  });

  it('manual IPs are not checked against the auto range usage (only against used IPs)', () => {
    const full = Array.from({ length: 11 }, (_, i) => `10.0.1.${10 + i}`);
    assert.deepEqual(ips(ok(manual(1, 1, '10.0.1.100'), view({ usedIps: full }))), ['10.0.1.100']);
  });
});

describe('planAddDisk: automatic IPs', () => {
  it('first run of N consecutive free IPs', () => {
    assert.deepEqual(ips(ok({ activePaths: 4 })), ['10.0.1.10', '10.0.1.11', '10.0.1.12', '10.0.1.13']);
  });

  it('a used IP resets the run', () => {
    const v = view({ usedIps: ['10.0.1.10', '10.0.1.13'] });
    assert.deepEqual(ips(ok({ activePaths: 2 }, v)), ['10.0.1.11', '10.0.1.12']);
    assert.deepEqual(ips(ok({ activePaths: 3 }, v)), ['10.0.1.14', '10.0.1.15', '10.0.1.16']);
  });

  it('range end reached -> ip_out_of_range on activePaths', () => {
    const v = view({ usedIps: ['10.0.1.10', '10.0.1.15'] }); // free runs: 11-14 (4), 16-20 (5)
    assert.deepEqual(ips(ok({ activePaths: 5 }, v)), ['10.0.1.16', '10.0.1.17', '10.0.1.18', '10.0.1.19', '10.0.1.20']);
    expectFail(add({ activePaths: 6 }, v), 'ip_out_of_range', 'activePaths');
    const full = view({
      usedIps: Array.from({ length: 11 }, (_, i) => `10.0.1.${10 + i}`),
    });
    expectFail(add({ activePaths: 1 }, full), 'ip_out_of_range', 'activePaths');
    // subnet 2 is unaffected
    assert.deepEqual(ips(ok({ activePaths: 1, subnet: 2 }, full)), ['10.2.0.10']);
  });

  it('"both": lockstep, alternating subnet1, subnet2, ... for 1..8 paths', () => {
    for (let n = 1; n <= 8; n++) {
      const m = ok({ activePaths: n, subnet: 3 });
      assert.equal(m.paths.length, n);
      m.paths.forEach((p, k) => {
        const pos = 10 + Math.floor(k / 2);
        assert.deepEqual(
          p,
          k % 2 === 0 ? { ip: `10.0.1.${pos}`, subnetMask: '255.255.255.0', eth: 'eth1' } : { ip: `10.2.0.${pos}`, subnetMask: '255.255.0.0', eth: 'eth2' },
        );
      });
    }
  });

  it('"both": a position is usable only when both IPs are free', () => {
    const v = view({ usedIps: ['10.2.0.10', '10.0.1.12'] });
    // positions: 0 blocked (s2), 1 free, 2 blocked (s1), 3.. free
    assert.deepEqual(ips(ok({ activePaths: 2, subnet: 3 }, v)), ['10.0.1.11', '10.2.0.11']);
    assert.deepEqual(ips(ok({ activePaths: 4, subnet: 3 }, v)), ['10.0.1.13', '10.2.0.13', '10.0.1.14', '10.2.0.14']);
  });

  it('"both": nothing found -> ip_out_of_range', () => {
    const s2full = view({
      usedIps: Array.from({ length: 11 }, (_, i) => `10.2.0.${10 + i}`),
    });
    expectFail(add({ activePaths: 1, subnet: 3 }, s2full), 'ip_out_of_range', 'activePaths');
    expectFail(add({ activePaths: 8, subnet: 3 }, view({ usedIps: ['10.0.1.13', '10.2.0.17'] })), 'ip_out_of_range', 'activePaths');
  });
});

describe('planAddDisk: outcome messages', () => {
  it('each outcome is a distinct human sentence', () => {
    const full = Array.from({ length: 11 }, (_, i) => `10.0.1.${10 + i}`);
    const fs = [
      add({ name: 'db' }, view({ diskNames: ['db'] })),
      add({ activePaths: 1, ipMode: 'manual', path1: '1.2.3' }),
      add({ activePaths: 1, ipMode: 'manual', path1: '10.2.0.5' }),
      add({ activePaths: 1, ipMode: 'manual', path1: '10.0.1.10' }, view({ usedIps: ['10.0.1.10'] })),
      add({ activePaths: 1 }, view({ usedIps: full })),
      add({}, view({ diskIds: ['99999'] })),
    ];
    const msgs = fs.map((f) => {
      assert.ok(isFailure(f));
      assert.match(f.message, /^[A-Z"]/);
      assert.ok(!/undefined|NaN|\[object|\n\s+at /.test(f.message), f.message);
      return f.message;
    });
    assert.equal(new Set(msgs).size, msgs.length);
    assert.equal(new Set(fs.map((f) => (f as Failure).code)).size, fs.length);
  });

  it('the CHAP password never appears in a failure message', () => {
    const pw = 'Abcdef123456';
    const f = add({ name: 'db', auth: { mode: 'chap', user: 'alice', password: pw } }, view({ diskNames: ['db'] }));
    assert.ok(isFailure(f));
    assert.ok(!JSON.stringify(f).includes(pw));
  });
});
