import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Allocated, allocateAuto } from '../../src/domain/allocate.js';
import { checkConfig, type ResolvedSubnet } from '../../src/domain/config.js';
import type { SubnetChoice } from '../../src/domain/disk.js';
import { formatIp, parseIp } from '../../src/domain/ip.js';

function subnets(c1: [string, string, string], c2: [string, string, string]): { s1: ResolvedSubnet; s2: ResolvedSubnet } {
  const r = checkConfig({
    iqnBase: 'iqn.2016-05.com.example',
    pool: 'rbd',
    subnet1: { cidr: c1[0], autoIpFrom: c1[1], autoIpTo: c1[2], eth: 'eth1' },
    subnet2: { cidr: c2[0], autoIpFrom: c2[1], autoIpTo: c2[2], eth: 'eth2' },
  });
  assert.ok(r.ok, r.ok ? '' : r.message);
  return { s1: r.subnet1, s2: r.subnet2 };
}

const { s1, s2 } = subnets(['10.0.1.0/24', '10.0.1.10', '10.0.1.20'], ['10.0.2.0/24', '10.0.2.10', '10.0.2.20']);
const ip = (s: string) => parseIp(s) as number;
const used = (...ips: string[]) => new Set(ips.map(ip));
const show = (r: Allocated[] | undefined) => r?.map((a) => `${formatIp(a.ip)}@${a.subnet.eth}`);

/** Straightforward reference of the automatic allocation (docs/PRODUCT.md, adding a disk, step 2), to compare with. */
function reference(choice: SubnetChoice, count: number, a: ResolvedSubnet, b: ResolvedSubnet, u: ReadonlySet<number>): string[] | undefined {
  if (choice !== 3) {
    const s = choice === 1 ? a : b;
    for (let start = s.from; start + count - 1 <= s.to; start++) {
      let free = true;
      for (let k = 0; k < count; k++) if (u.has(start + k)) free = false;
      if (free) return Array.from({ length: count }, (_, k) => `${formatIp(start + k)}@${s.eth}`);
    }
    return undefined;
  }
  const positions = Math.ceil(count / 2);
  const len = Math.min(a.to - a.from, b.to - b.from) + 1;
  for (let p = 0; p + positions - 1 < len; p++) {
    let free = true;
    for (let k = 0; k < positions; k++) if (u.has(a.from + p + k) || u.has(b.from + p + k)) free = false;
    if (free)
      return Array.from({ length: count }, (_, k) =>
        k % 2 === 0 ? `${formatIp(a.from + p + k / 2)}@${a.eth}` : `${formatIp(b.from + p + (k - 1) / 2)}@${b.eth}`,
      );
  }
  return undefined;
}

describe('allocateAuto: one subnet', () => {
  it('takes the first IPs of the range when nothing is used', () => {
    assert.deepEqual(show(allocateAuto(1, 1, s1, s2, used())), ['10.0.1.10@eth1']);
    assert.deepEqual(show(allocateAuto(1, 3, s1, s2, used())), ['10.0.1.10@eth1', '10.0.1.11@eth1', '10.0.1.12@eth1']);
    assert.deepEqual(show(allocateAuto(2, 2, s1, s2, used())), ['10.0.2.10@eth2', '10.0.2.11@eth2']);
  });

  it('returns the resolved subnet object of each path', () => {
    const r = allocateAuto(2, 2, s1, s2, used());
    assert.ok(r);
    for (const a of r) assert.equal(a.subnet, s2);
  });

  it('skips used IPs', () => {
    assert.deepEqual(show(allocateAuto(1, 1, s1, s2, used('10.0.1.10'))), ['10.0.1.11@eth1']);
    assert.deepEqual(show(allocateAuto(1, 1, s1, s2, used('10.0.1.10', '10.0.1.11', '10.0.1.12'))), ['10.0.1.13@eth1']);
  });

  it('a used IP resets the run of consecutive free IPs', () => {
    // 10,11 free, 12 used, 13.. free: 3 paths start at 13, 2 paths fit at 10.
    const u = used('10.0.1.12');
    assert.deepEqual(show(allocateAuto(1, 3, s1, s2, u)), ['10.0.1.13@eth1', '10.0.1.14@eth1', '10.0.1.15@eth1']);
    assert.deepEqual(show(allocateAuto(1, 2, s1, s2, u)), ['10.0.1.10@eth1', '10.0.1.11@eth1']);
    // every other IP used: no two consecutive free
    const alt = used('10.0.1.11', '10.0.1.13', '10.0.1.15', '10.0.1.17', '10.0.1.19');
    assert.equal(allocateAuto(1, 2, s1, s2, alt), undefined);
    assert.deepEqual(show(allocateAuto(1, 1, s1, s2, alt)), ['10.0.1.10@eth1']);
  });

  it('IPs used in the other subnet or outside the range do not matter', () => {
    const u = used('10.0.2.10', '10.0.2.11', '10.0.1.9', '10.0.1.21', '10.0.1.1');
    assert.deepEqual(show(allocateAuto(1, 2, s1, s2, u)), ['10.0.1.10@eth1', '10.0.1.11@eth1']);
  });

  it('a run may end exactly at the end of the range', () => {
    const u = used(...Array.from({ length: 8 }, (_, i) => `10.0.1.${10 + i}`)); // 10..17 used, 18..20 free
    assert.deepEqual(show(allocateAuto(1, 3, s1, s2, u)), ['10.0.1.18@eth1', '10.0.1.19@eth1', '10.0.1.20@eth1']);
    assert.equal(allocateAuto(1, 4, s1, s2, u), undefined);
  });

  it('range end reached -> undefined (ip_out_of_range)', () => {
    const all = used(...Array.from({ length: 11 }, (_, i) => `10.0.1.${10 + i}`));
    assert.equal(allocateAuto(1, 1, s1, s2, all), undefined);
    const { s1: tiny } = subnets(['10.0.1.0/24', '10.0.1.10', '10.0.1.12'], ['10.0.2.0/24', '10.0.2.10', '10.0.2.20']);
    assert.equal(allocateAuto(1, 4, tiny, s2, used()), undefined);
    assert.deepEqual(show(allocateAuto(1, 3, tiny, s2, used())), ['10.0.1.10@eth1', '10.0.1.11@eth1', '10.0.1.12@eth1']);
  });

  it('single-address range', () => {
    const { s1: one } = subnets(['10.0.1.0/24', '10.0.1.10', '10.0.1.10'], ['10.0.2.0/24', '10.0.2.10', '10.0.2.20']);
    assert.deepEqual(show(allocateAuto(1, 1, one, s2, used())), ['10.0.1.10@eth1']);
    assert.equal(allocateAuto(1, 2, one, s2, used()), undefined);
    assert.equal(allocateAuto(1, 1, one, s2, used('10.0.1.10')), undefined);
  });

  it('8 paths', () => {
    const r = allocateAuto(1, 8, s1, s2, used('10.0.1.12'));
    assert.deepEqual(
      show(r),
      Array.from({ length: 8 }, (_, i) => `10.0.1.${13 + i}@eth1`),
    );
  });

  it('crosses octet boundaries', () => {
    const { s1: wide } = subnets(['10.1.0.0/16', '10.1.0.254', '10.1.1.5'], ['10.0.2.0/24', '10.0.2.10', '10.0.2.20']);
    assert.deepEqual(show(allocateAuto(1, 3, wide, s2, used())), ['10.1.0.254@eth1', '10.1.0.255@eth1', '10.1.1.0@eth1']);
  });

  it('does not modify the used set', () => {
    const u = used('10.0.1.10');
    allocateAuto(1, 3, s1, s2, u);
    allocateAuto(3, 3, s1, s2, u);
    assert.deepEqual([...u], [ip('10.0.1.10')]);
  });
});

describe('allocateAuto: both subnets (lockstep)', () => {
  it('alternates subnet1, subnet2, subnet1, ... for 1..8 paths', () => {
    for (let n = 1; n <= 8; n++) {
      const r = allocateAuto(3, n, s1, s2, used());
      assert.ok(r, `count ${n}`);
      assert.equal(r.length, n);
      r.forEach((a, k) => {
        const pos = Math.floor(k / 2);
        if (k % 2 === 0) {
          assert.equal(a.subnet, s1, `count ${n} path ${k + 1}`);
          assert.equal(formatIp(a.ip), `10.0.1.${10 + pos}`);
        } else {
          assert.equal(a.subnet, s2, `count ${n} path ${k + 1}`);
          assert.equal(formatIp(a.ip), `10.0.2.${10 + pos}`);
        }
      });
    }
  });

  it('exact lists for 1, 2, 3 paths', () => {
    assert.deepEqual(show(allocateAuto(3, 1, s1, s2, used())), ['10.0.1.10@eth1']);
    assert.deepEqual(show(allocateAuto(3, 2, s1, s2, used())), ['10.0.1.10@eth1', '10.0.2.10@eth2']);
    assert.deepEqual(show(allocateAuto(3, 3, s1, s2, used())), ['10.0.1.10@eth1', '10.0.2.10@eth2', '10.0.1.11@eth1']);
  });

  it('a position is usable only when both IPs are free', () => {
    // subnet1's first IP used: position 0 is skipped even though 10.0.2.10 is free
    assert.deepEqual(show(allocateAuto(3, 2, s1, s2, used('10.0.1.10'))), ['10.0.1.11@eth1', '10.0.2.11@eth2']);
    assert.deepEqual(show(allocateAuto(3, 2, s1, s2, used('10.0.2.10'))), ['10.0.1.11@eth1', '10.0.2.11@eth2']);
    // even for 1 path (subnet1 only) the lockstep partner must be free
    assert.deepEqual(show(allocateAuto(3, 1, s1, s2, used('10.0.2.10'))), ['10.0.1.11@eth1']);
  });

  it('pairs stay related: the i-th IP of each range together', () => {
    const r = allocateAuto(3, 4, s1, s2, used('10.0.1.10', '10.0.2.11'));
    assert.deepEqual(show(r), ['10.0.1.12@eth1', '10.0.2.12@eth2', '10.0.1.13@eth1', '10.0.2.13@eth2']);
  });

  it('an unusable position resets the run', () => {
    // positions 0 free, 1 blocked (subnet2), 2.. free; 4 paths need 2 consecutive positions
    const u = used('10.0.2.11');
    assert.deepEqual(show(allocateAuto(3, 4, s1, s2, u)), ['10.0.1.12@eth1', '10.0.2.12@eth2', '10.0.1.13@eth1', '10.0.2.13@eth2']);
    // 3 paths also need 2 positions (the last one only uses subnet1, but must be free in both)
    assert.deepEqual(show(allocateAuto(3, 3, s1, s2, u)), ['10.0.1.12@eth1', '10.0.2.12@eth2', '10.0.1.13@eth1']);
    // 2 paths fit at position 0
    assert.deepEqual(show(allocateAuto(3, 2, s1, s2, u)), ['10.0.1.10@eth1', '10.0.2.10@eth2']);
  });

  it('ranges of different lengths: the walk stops at the shorter range', () => {
    const r = subnets(['10.0.1.0/24', '10.0.1.10', '10.0.1.200'], ['10.0.2.0/24', '10.0.2.50', '10.0.2.52']);
    assert.deepEqual(show(allocateAuto(3, 6, r.s1, r.s2, used())), [
      '10.0.1.10@eth1',
      '10.0.2.50@eth2',
      '10.0.1.11@eth1',
      '10.0.2.51@eth2',
      '10.0.1.12@eth1',
      '10.0.2.52@eth2',
    ]);
    assert.equal(allocateAuto(3, 7, r.s1, r.s2, used()), undefined);
    assert.equal(allocateAuto(3, 2, r.s1, r.s2, used('10.0.2.50', '10.0.2.51', '10.0.2.52')), undefined);
    // subnet1 alone still has room
    assert.equal(allocateAuto(1, 8, r.s1, r.s2, used('10.0.2.50', '10.0.2.51', '10.0.2.52'))?.length, 8);
  });

  it('nothing found -> undefined', () => {
    const allS2 = used(...Array.from({ length: 11 }, (_, i) => `10.0.2.${10 + i}`));
    assert.equal(allocateAuto(3, 1, s1, s2, allS2), undefined);
    const everyOther = used('10.0.1.11', '10.0.1.13', '10.0.1.15', '10.0.1.17', '10.0.1.19');
    assert.equal(allocateAuto(3, 3, s1, s2, everyOther), undefined);
    assert.deepEqual(show(allocateAuto(3, 2, s1, s2, everyOther)), ['10.0.1.10@eth1', '10.0.2.10@eth2']);
  });
});

describe('allocateAuto agrees with a straightforward reference', () => {
  it('random used sets, every choice and count', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const r = subnets(['10.0.1.0/24', '10.0.1.1', '10.0.1.40'], ['10.0.2.0/24', '10.0.2.5', '10.0.2.35']);
    for (let trial = 0; trial < 300; trial++) {
      const density = rand() * 0.6;
      const u = new Set<number>();
      for (let i = 0; i < 256; i++) {
        if (rand() < density) u.add(ip('10.0.1.0') + i);
        if (rand() < density) u.add(ip('10.0.2.0') + i);
      }
      for (const choice of [1, 2, 3] as const) {
        for (let n = 1; n <= 8; n++) {
          assert.deepEqual(show(allocateAuto(choice, n, r.s1, r.s2, u)), reference(choice, n, r.s1, r.s2, u), `trial ${trial} choice ${choice} n ${n}`);
        }
      }
    }
  });
});

describe('allocateAuto scales with 60,000 used IPs in a /16 range', () => {
  const big = subnets(['10.1.0.0/16', '10.1.0.1', '10.1.255.254'], ['10.2.0.0/16', '10.2.0.1', '10.2.255.254']);
  const from1 = big.s1.from;
  const from2 = big.s2.from;

  it('first 60,000 IPs used: the run starts right after them', () => {
    const u = new Set<number>();
    for (let i = 0; i < 60000; i++) u.add(from1 + i);
    assert.equal(u.size, 60000);
    const r = allocateAuto(1, 8, big.s1, big.s2, u);
    assert.ok(r);
    assert.deepEqual(
      r.map((a) => a.ip),
      Array.from({ length: 8 }, (_, k) => from1 + 60000 + k),
    );
  });

  it('60,000 used IPs scattered (single free IPs between): 2 paths land after the scatter', () => {
    const u = new Set<number>();
    let i = 0;
    while (u.size < 60000) {
      if (i % 13 !== 0) u.add(from1 + i);
      i++;
    }
    const r = allocateAuto(1, 2, big.s1, big.s2, u);
    assert.ok(r);
    assert.deepEqual(show(r), reference(1, 2, big.s1, big.s2, u));
    assert.deepEqual(show(allocateAuto(1, 1, big.s1, big.s2, u)), [`${formatIp(from1)}@eth1`]);
  });

  it('nearly full range: last free run at the very end, or none', () => {
    const u = new Set<number>();
    for (let a = big.s1.from; a <= big.s1.to - 3; a++) u.add(a);
    assert.ok(u.size > 60000);
    assert.deepEqual(
      allocateAuto(1, 3, big.s1, big.s2, u)?.map((a) => a.ip),
      [big.s1.to - 2, big.s1.to - 1, big.s1.to],
    );
    assert.equal(allocateAuto(1, 4, big.s1, big.s2, u), undefined);
  });

  it('lockstep over two /16 ranges with 60,000 used IPs', () => {
    const u = new Set<number>();
    for (let i = 0; i < 30000; i++) {
      u.add(from1 + 2 * i); // even positions blocked in subnet 1
      u.add(from2 + 2 * i + 1); // odd positions blocked in subnet 2
    }
    assert.equal(u.size, 60000);
    const r = allocateAuto(3, 4, big.s1, big.s2, u);
    assert.ok(r);
    assert.deepEqual(show(r), reference(3, 4, big.s1, big.s2, u));
    assert.equal(r[0]?.ip, from1 + 60000);
    assert.equal(r[1]?.ip, from2 + 60000);
  });
});
