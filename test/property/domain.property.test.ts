/**
 * Property-based tests (fast-check) of the domain rules (src/domain): every parser is total (any input
 * gives a result or a Failure, never an exception), whatever it accepts is safe to hand to a command
 * line (no shell metacharacters, no path separators, bounded length), and the allocation and placement
 * rules hold for random cluster states. Runs are bounded (numRuns) so the file takes a few seconds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type AddDiskRequest, parseAddDisk, planAddDisk } from '../../src/domain/add-disk.js';
import { allocateAuto } from '../../src/domain/allocate.js';
import { checkConfig, type ResolvedSubnet } from '../../src/domain/config.js';
import { type SubnetChoice, formatDiskId, nextDiskId, parseDiskId, parseDiskMeta } from '../../src/domain/disk.js';
import { formatIp, isHostOf, parseCidr, parseIp, prefixOfMask } from '../../src/domain/ip.js';
import { assembleDisks, parseKey } from '../../src/domain/keys.js';
import { type FailureCode, httpStatusOf } from '../../src/domain/outcomes.js';
import { placePaths } from '../../src/domain/placement.js';
import { MAX_PATHS, MAX_SIZE_GB, checkChap, checkName, isValidIqn, parsePathCount, parseSizeGb, parseSubnetChoice } from '../../src/domain/validate.js';

const RUNS = Number(process.env.FC_RUNS ?? 300);
const opts = { numRuns: RUNS };

/** Characters a shell, tgtadm's option parser or a path would treat specially. */
const UNSAFE = /[\s;&|$`'"\\<>(){}[\]*?!#~^%=,/\p{Cc}]/u;

/** Strings meant to break things: shell syntax, path traversal, control chars, unicode, 10 KB. */
const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.constantFrom(
    'a;rm -rf /',
    '$(reboot)',
    '`id`',
    'a && b',
    'x|y',
    '../../etc/passwd',
    '..',
    '.',
    '/',
    'a/b',
    '-rf',
    '--op delete',
    'name\n',
    '\u0000',
    '\u202e',
    'é',
    'e\u0301',
    '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
    '日本語ディスク',
    ' leading',
    'trailing ',
    '%2e%2e%2f',
    '__proto__',
    'constructor',
    'iqn.2016-05.io.portway:x;id',
  ),
  fc.integer({ min: 1, max: 10_240 }).map((n) => 'a'.repeat(n)),
);

const cfg = (() => {
  const r = checkConfig({
    iqnBase: 'iqn.2016-05.io.portway.test',
    pool: 'rbd',
    subnet1: { cidr: '10.1.0.0/24', autoIpFrom: '10.1.0.10', autoIpTo: '10.1.0.40', eth: 'eth1' },
    subnet2: { cidr: '10.2.0.0/24', autoIpFrom: '10.2.0.10', autoIpTo: '10.2.0.40', eth: 'eth2' },
  });
  if (!r.ok) throw new Error(r.message);
  return r;
})();
const s1: ResolvedSubnet = cfg.subnet1;
const s2: ResolvedSubnet = cfg.subnet2;

const FAILURE_CODES = new Set<FailureCode>([
  'data_missing',
  'invalid_name',
  'invalid_size',
  'invalid_path_count',
  'invalid_subnet',
  'invalid_ip_mode',
  'invalid_ip',
  'wrong_subnet',
  'wrong_data',
  'ip_used_already',
  'ip_out_of_range',
  'invalid_iqn',
  'chap_missing',
  'invalid_chap',
  'disk_name_exists',
  'disk_exists',
  'disk_not_found',
  'disk_list_unreadable',
  'no_disk_id',
  'storage_error',
  'coordination_error',
  'error',
] as FailureCode[]);

function isFailure(v: unknown): v is { ok: false; code: string; message: string; field?: string } {
  return typeof v === 'object' && v !== null && (v as { ok?: unknown }).ok === false;
}

/** A message for people: non-empty, no "undefined"/"[object Object]", no stack, bounded. */
function assertReadable(message: string): void {
  assert.equal(typeof message, 'string');
  assert.ok(message.length > 0 && message.length < 400, `message length ${message.length}`);
  assert.doesNotMatch(message, /undefined|\[object Object\]|NaN|\n\s+at /);
}

/** A form body: mostly well-formed fields, any of which may be replaced by garbage. */
const fieldValue = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 2, arbitrary: nasty },
  {
    weight: 1,
    arbitrary: fc.constantFrom(undefined, null, Number.NaN, Number.POSITIVE_INFINITY, -0, 1e308, 2 ** 53 + 1, -1, 0, 1.5, '1e3', '0x10', ' 1', '08'),
  },
);
/** A valid add-disk body (as far as the form's own rules go). */
const validBody = fc.record({
  name: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,20}[A-Za-z0-9]$/),
  sizeGb: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 8 }).map(String)),
  activePaths: fc.integer({ min: 1, max: 8 }),
  subnet: fc.constantFrom(1, 2, 3, '1', '3'),
  ipMode: fc.constantFrom('auto', undefined),
  acl: fc.oneof(fc.constant({ mode: 'all' }), fc.constant({ mode: 'iqn', iqn: 'iqn.2016-05.com.example:host' })),
  auth: fc.oneof(fc.constant({ mode: 'none' }), fc.constant({ mode: 'chap', user: 'user1', password: 'secretsecret12' })),
});
const FIELDS = ['name', 'sizeGb', 'activePaths', 'subnet', 'ipMode', 'path1', 'path2', 'acl', 'auth'] as const;
/** A form body: valid, valid with one or two fields replaced by garbage, or garbage throughout. */
const body = fc.oneof(
  { weight: 2, arbitrary: validBody },
  {
    weight: 4,
    arbitrary: fc
      .tuple(validBody, fc.array(fc.tuple(fc.constantFrom(...FIELDS), fieldValue), { minLength: 1, maxLength: 2 }))
      .map(([b, muts]) => Object.assign({ ...b }, Object.fromEntries(muts))),
  },
  {
    weight: 1,
    arbitrary: fc.record(Object.fromEntries(FIELDS.map((f) => [f, fieldValue])) as Record<(typeof FIELDS)[number], fc.Arbitrary<unknown>>, {
      requiredKeys: [],
    }),
  },
);

describe('domain properties (fast-check)', () => {
  it('parseIp/formatIp round-trip every address; parseIp accepts only the canonical dotted quad', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => parseIp(formatIp(n)) === n),
      opts,
    );
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV4Extended(), nasty), (s) => {
        const n = parseIp(s);
        if (n !== undefined) assert.equal(formatIp(n), s, `${JSON.stringify(s)} parses only in canonical form`);
      }),
      opts,
    );
  });

  it('prefixOfMask and parseCidr are total and agree with each other', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 32 }), fc.integer({ min: 0, max: 0xffffffff }), (p, ip) => {
        const mask = (0xffffffff << (32 - p)) >>> 0;
        assert.equal(prefixOfMask(formatIp(mask)), p);
        const net = (ip & mask) >>> 0;
        assert.deepEqual(parseCidr(`${formatIp(net)}/${p}`), { network: net, prefix: p });
      }),
      opts,
    );
    fc.assert(
      fc.property(nasty, (s) => {
        prefixOfMask(s);
        parseCidr(s);
      }),
      opts,
    );
  });

  it('a name that checkName accepts is 1-64 characters, trimmed, and carries no shell, path or control character', () => {
    fc.assert(
      fc.property(fc.oneof(nasty, fc.stringMatching(/^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,70}$/u)), (name) => {
        const f = checkName(name);
        if (f) {
          assert.ok(f.code === 'data_missing' || f.code === 'invalid_name');
          assertReadable(f.message);
          return;
        }
        assert.ok([...name].length >= 1 && [...name].length <= 64, `length of ${JSON.stringify(name)}`);
        assert.equal(name, name.trim());
        assert.doesNotMatch(name.replace(/ /g, ''), /[;&|$`'"\\<>(){}[\]*?!#~^%=,/\p{Cc}]/u);
        assert.ok(name !== '.' && name !== '..' && !name.startsWith('-') && !name.startsWith('.'));
      }),
      opts,
    );
  });

  it('an IQN that isValidIqn accepts is lower-case RFC 3720 form and safe for tgtadm', () => {
    const iqnish = fc.oneof(
      nasty,
      fc
        .tuple(fc.integer({ min: 1990, max: 2100 }), fc.integer({ min: 0, max: 13 }), fc.domain(), fc.option(fc.string({ maxLength: 30 })))
        .map(([y, m, d, tail]) => `iqn.${y}-${String(m).padStart(2, '0')}.${d.split('.').reverse().join('.')}${tail === null ? '' : `:${tail}`}`),
      fc.stringMatching(/^eui\.[0-9A-Fa-f]{14,18}$/),
    );
    fc.assert(
      fc.property(iqnish, (s) => {
        if (!isValidIqn(s)) return;
        assert.ok(s.length <= 223);
        assert.doesNotMatch(s, UNSAFE, `accepted IQN ${JSON.stringify(s)} has no unsafe character`);
        assert.match(s, /^(iqn\.\d{4}-(0[1-9]|1[0-2])\.|eui\.[0-9A-F]{16}$)/);
        if (s.startsWith('iqn.')) assert.equal(s, s.toLowerCase());
      }),
      opts,
    );
  });

  it('CHAP: accepted user names and secrets carry nothing a command line would split or expand', () => {
    fc.assert(
      fc.property(nasty, nasty, (user, password) => {
        const f = checkChap(user, password);
        if (f) {
          assert.ok(['chap_missing', 'invalid_chap'].includes(f.code));
          assertReadable(f.message);
          if (password.length >= 12) assert.equal(f.message.includes(password), false, 'the secret is never echoed');
          return;
        }
        assert.doesNotMatch(user, UNSAFE);
        assert.ok(password.length >= 12 && password.length <= 16);
        assert.doesNotMatch(password, /[\s'"\p{Cc}]/u);
      }),
      opts,
    );
  });

  it('sizes, path counts and subnet choices: accepted values are in range whatever the JSON type', () => {
    fc.assert(
      fc.property(fieldValue, (v) => {
        const size = parseSizeGb(v);
        if (typeof size === 'number') assert.ok(Number.isSafeInteger(size) && size >= 1 && size <= MAX_SIZE_GB && Number.isSafeInteger(size * 1024 ** 3));
        else assertReadable(size.message);
        const n = parsePathCount(v);
        if (typeof n === 'number') assert.ok(Number.isInteger(n) && n >= 1 && n <= MAX_PATHS);
        const s = parseSubnetChoice(v);
        if (typeof s === 'number') assert.ok(s === 1 || s === 2 || s === 3);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('parseAddDisk is total on any JSON body: a Failure with a known code and readable message, or a safe input', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof({ weight: 4, arbitrary: body }, { weight: 1, arbitrary: fc.object({ maxDepth: 3 }) }), (b) => {
        const r = parseAddDisk(b as unknown as AddDiskRequest);
        if (isFailure(r)) {
          assert.ok(FAILURE_CODES.has(r.code as FailureCode), `known code ${r.code}`);
          assertReadable(r.message);
          const status = httpStatusOf(r.code as FailureCode);
          assert.ok(status >= 400 && status < 500, `input errors are 4xx (${r.code} -> ${status})`);
          return;
        }
        accepted++;
        assert.equal(checkName(r.name), undefined);
        assert.ok(Number.isInteger(r.sizeGb) && r.sizeGb >= 1 && r.sizeGb <= MAX_SIZE_GB);
        assert.ok(r.activePaths >= 1 && r.activePaths <= MAX_PATHS);
        assert.ok([1, 2, 3].includes(r.subnet));
        assert.ok(r.acl === '' || isValidIqn(r.acl));
        assert.ok((r.chapUser === '') === (r.chapPassword === ''));
        if (r.chapUser) assert.equal(checkChap(r.chapUser, r.chapPassword), undefined);
        if (r.manualIps) {
          assert.ok(r.activePaths <= 2 && r.manualIps.length === r.activePaths);
          for (const ip of r.manualIps) assert.equal(ip, ip.trim());
        }
      }),
      { numRuns: RUNS * 3 },
    );
    assert.ok(accepted > RUNS / 20, `the generator reaches valid bodies too (${accepted} of ${RUNS * 3})`);
  });

  it('prototype-pollution keys in a body pollute nothing', () => {
    fc.assert(
      fc.property(fc.constantFrom('__proto__', 'constructor', 'prototype'), fc.jsonValue({ maxDepth: 2 }), (key, v) => {
        const raw = JSON.parse(
          `{"name":"p1","sizeGb":1,"activePaths":1,"subnet":1,${JSON.stringify(key)}:${JSON.stringify({ polluted: v, mode: 'chap', isAdmin: true })},"acl":{"__proto__":{"mode":"iqn"}},"auth":{"constructor":{"prototype":{"mode":"chap"}}}}`,
        );
        const r = parseAddDisk(raw);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
        assert.equal(({} as Record<string, unknown>).mode, undefined);
        if (!isFailure(r)) assert.deepEqual([r.acl, r.chapUser], ['', '']);
      }),
      { numRuns: 50 },
    );
  });

  it('planAddDisk: automatic IPs are free, inside the auto range, consecutive, and alternate subnets for "both"', () => {
    const used = fc.uniqueArray(
      fc.integer({ min: 0, max: 30 }).chain((i) => fc.constantFrom(s1.from + i, s2.from + i)),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(used, fc.integer({ min: 1, max: 8 }), fc.constantFrom<SubnetChoice>(1, 2, 3), (u, count, choice) => {
        const usedIps = new Set(u);
        const got = allocateAuto(choice, count, s1, s2, usedIps);
        if (!got) return;
        assert.equal(got.length, count);
        const ips = got.map((a) => a.ip);
        assert.equal(new Set(ips).size, count, 'distinct');
        for (const a of got) {
          assert.ok(!usedIps.has(a.ip), `${formatIp(a.ip)} was free`);
          assert.ok(a.ip >= a.subnet.from && a.ip <= a.subnet.to, 'inside the auto range');
          assert.ok(isHostOf(a.ip, a.subnet.subnet));
        }
        if (choice !== 3) {
          for (let i = 1; i < count; i++) assert.equal(ips[i], (ips[i - 1] as number) + 1, 'consecutive');
          // first fit: no earlier run of `count` free IPs exists
          const s = choice === 1 ? s1 : s2;
          for (let start = s.from; start < (ips[0] as number); start++) {
            let free = true;
            for (let k = 0; k < count && free; k++) free = !usedIps.has(start + k);
            assert.equal(free, false, `an earlier run at ${formatIp(start)} was not taken`);
          }
        } else {
          for (const [i, a] of got.entries()) assert.equal(a.subnet, i % 2 === 0 ? s1 : s2, 'alternates subnet 1, 2, 1, ...');
        }
      }),
      opts,
    );
  });

  it('planAddDisk with manual IPs: a plan only for free host addresses of the chosen subnet; the id is new', () => {
    let plans = 0;
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 99998 }).map(formatDiskId), { maxLength: 8 }),
        fc.constantFrom<SubnetChoice>(1, 2, 3),
        fc.integer({ min: 1, max: 2 }),
        fc.array(
          fc.oneof(
            fc.integer({ min: 0, max: 255 }).map((n) => `10.1.0.${n}`),
            fc.integer({ min: 0, max: 255 }).map((n) => `10.2.0.${n}`),
            fc.ipV4(),
            nasty,
          ),
          { minLength: 2, maxLength: 2 },
        ),
        fc.uniqueArray(
          fc.integer({ min: 0, max: 255 }).map((n) => ((10 << 24) | (1 << 16) | n) >>> 0),
          { maxLength: 20 },
        ),
        ([...ids], choice, activePaths, [p1, p2], used) => {
          const input = parseAddDisk({ name: 'm1', sizeGb: 1, activePaths, subnet: choice, ipMode: 'manual', path1: p1, path2: p2 });
          if (isFailure(input)) return;
          const plan = planAddDisk(
            input,
            {
              subnet1: s1,
              subnet2: s2,
              iqnBase: 'iqn.2016-05.io.portway.test',
              pool: 'rbd',
              usedIps: new Set(used),
              diskIds: ids,
              diskNames: new Set(),
            },
            new Date(0),
          );
          if (isFailure(plan)) {
            assertReadable(plan.message);
            return;
          }
          plans++;
          assert.ok(!ids.includes(plan.id) && ids.every((i) => (parseDiskId(i) ?? 0) < (parseDiskId(plan.id) ?? 0)), 'a new, higher id');
          assert.equal(plan.iqn, `iqn.2016-05.io.portway.test:${plan.id}`);
          assert.equal(plan.paths.length, activePaths);
          for (const p of plan.paths) {
            const n = parseIp(p.ip) as number;
            assert.ok(!used.includes(n), `${p.ip} was free`);
            assert.ok(isHostOf(n, s1.subnet) || isHostOf(n, s2.subnet), `${p.ip} is a host of an iSCSI subnet`);
            if (choice === 1) assert.ok(isHostOf(n, s1.subnet));
            if (choice === 2) assert.ok(isHostOf(n, s2.subnet));
          }
          assert.equal(new Set(plan.paths.map((p) => p.ip)).size, activePaths);
        },
      ),
      opts,
    );
    assert.ok(plans > 0, 'some manual plans were made');
  });

  it('nextDiskId is above every existing id; ids parse back', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 99999 }).map(formatDiskId), nasty), { maxLength: 20 }), (ids) => {
        const next = nextDiskId(ids);
        if (next === undefined) {
          assert.ok(ids.includes('99999'));
          return;
        }
        assert.match(next, /^\d{5}$/);
        for (const id of ids) {
          const n = parseDiskId(id);
          if (n !== undefined) assert.ok(n < (parseDiskId(next) as number));
        }
      }),
      opts,
    );
  });

  it('whatever the store holds, reading it never throws (assembleDisks, parseKey, parseDiskMeta)', () => {
    const key = fc.oneof(
      fc.constantFrom('/portway/disks/00001', '/portway/disks/00001/1', '/portway/owners/00001/1', '/portway/nodes/n1', '/portway/disks/00001/x'),
      fc.string().map((s) => `/portway/${s}`),
      nasty,
    );
    const value = fc.oneof(
      fc.json({ maxDepth: 3 }),
      nasty,
      fc
        .jsonValue({ maxDepth: 2 })
        .map((v) => JSON.stringify({ id: '00001', name: 'x', iqn: 'i', pathCount: 1, desired: 'started', ip: v, node: v, state: 'served' })),
    );
    fc.assert(
      fc.property(fc.array(fc.record({ key, value }), { maxLength: 30 }), (kvs) => {
        for (const kv of kvs) parseKey(kv.key);
        const disks = assembleDisks(kvs);
        for (const [id, d] of disks) {
          assert.equal(d.record.id, id);
          for (const p of d.paths.values()) assert.equal(typeof p.ip, 'string');
        }
        for (const kv of kvs) parseDiskMeta(kv.value);
      }),
      opts,
    );
  });

  it('placePaths assigns every unowned path exactly once, to a listed node, independent of node order', () => {
    const ref = fc.record({ id: fc.integer({ min: 1, max: 6 }).map(formatDiskId), index: fc.integer({ min: 1, max: 8 }) });
    fc.assert(
      fc.property(
        fc.uniqueArray(ref, { selector: (p) => `${p.id}/${p.index}`, maxLength: 30 }),
        fc.uniqueArray(fc.constantFrom<string>('n1', 'n2', 'n3', 'n4'), { minLength: 1 }),
        (paths, nodes) => {
          const plan = placePaths(paths, nodes, new Map());
          const all = [...plan.entries()].flatMap(([n, ps]) => ps.map((p) => ({ n, k: `${p.id}/${p.index}` })));
          assert.equal(all.length, paths.length);
          assert.equal(new Set(all.map((a) => a.k)).size, paths.length);
          for (const a of all) assert.ok(nodes.includes(a.n));
          const again = placePaths([...paths].reverse(), [...nodes].reverse(), new Map());
          for (const n of nodes)
            assert.deepEqual(
              again
                .get(n)
                ?.map((p) => `${p.id}/${p.index}`)
                .sort(),
              plan
                .get(n)
                ?.map((p) => `${p.id}/${p.index}`)
                .sort(),
            );
          // a disk's paths spread: no node holds two paths of a disk while another node holds none of it
          const perDisk = new Map<string, Map<string, number>>();
          for (const [n, ps] of plan) for (const p of ps) perDisk.set(p.id, new Map(perDisk.get(p.id) ?? []).set(n, (perDisk.get(p.id)?.get(n) ?? 0) + 1));
          for (const [id, m] of perDisk) {
            const counts = nodes.map((n) => m.get(n) ?? 0);
            assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `disk ${id} spread over nodes: ${counts}`);
          }
        },
      ),
      opts,
    );
  });
});
