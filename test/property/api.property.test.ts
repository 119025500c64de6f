/**
 * Property-based tests (fast-check) against the real single-node product over HTTP (embedded stores,
 * real tgtd): random add-disk bodies (unicode, 10 KB and shell-metacharacter names, path traversal,
 * random sizes, IPs and IQNs), JSON of the wrong shape (arrays, nulls, nested garbage, huge numbers,
 * __proto__ / constructor.prototype keys), raw bodies that are not JSON, and random disk ids in URLs.
 *
 * Every reply is a 201 or a 4xx with a `code` and a `message` (never a 500, never a stack trace); a 201
 * comes only for a valid body (an independent oracle of the add-disk rules (docs/PRODUCT.md), with a model of the names and
 * IPs already taken) and every valid, non-conflicting body gets a 201. Afterwards the machine holds
 * only what the 201s asked for: tgtd targets with Portway IQNs on the disks' IPs, ACLs and CHAP users
 * from accepted bodies, image files named image-<id>; and the store is consistent.
 * Bounded: numRuns and a time limit per property keep the file well under a minute.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { run } from '../../src/adapters/exec.js';
import { parseShowTargets } from '../../src/adapters/tgt/tgt-show.js';
import { isValidIqn } from '../../src/domain/validate.js';
import { ISCSI_TOOLS } from '../helpers/iscsi.js';
import { type TestProduct, missingTools, startTestProduct } from '../helpers/product.js';
import { WaitTimeout, waitFor } from '../helpers/wait.js';
import { assertConsistent, snapshot } from '../reliability/lib/consistency.js';
import { tgtdProcs } from '../reliability/lib/procs.js';

const skip = missingTools(ISCSI_TOOLS);
const OCTET = 61;
const PREFIX = `127.${OCTET}.`;
const BASE = 'iqn.2016-05.io.portway.test';
/** Largest image (GB) the file store can make on ext4 (< 16 TiB): bigger valid sizes are a separate test. */
const FS_MAX_GB = 16 * 1024 - 1;
const SCALE = Number(process.env.FC_SCALE ?? 1);
/** Accepted adds (each makes real tgtds): enough to cover conflicts, few enough to serve quickly. */
const MAX_DISKS = Math.round(12 * SCALE);
/** Collection routes a URL with dot segments can resolve to (each answers 200 to a GET). */
const LIST_ROUTES = new Set(['/api/v1/disks', '/api/v1/paths']);

// ---- the oracle: the add-disk rules of docs/PRODUCT.md, written independently of src/domain ----------

const NAME = /^[\p{L}\p{N}][\p{L}\p{M}\p{N} ._-]{0,63}$/u;
const CHAP_USER = /^[A-Za-z0-9._:@-]{1,64}$/;
const CHAP_SECRET = /^[!#-&(-~]{12,16}$/;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function ipNum(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map((p) => (p.length > 1 && p.startsWith('0') ? Number.NaN : Number(p)));
  if (parts.some((p) => !(p >= 0 && p <= 255))) return undefined;
  return parts.reduce((a, p) => a * 256 + p, 0);
}
/** A host address of 127.<octet>.<third>.0/24 (not .0, not .255). */
function hostOf(ip: number, third: number): boolean {
  return ip >>> 8 === ((127 << 16) | (OCTET << 8) | third) && (ip & 255) !== 0 && (ip & 255) !== 255;
}

type Verdict = { kind: 'invalid' } | { kind: 'valid'; name: string; manual?: number[]; acl: string; chapUser: string } | { kind: 'beyond-fs' };

function oracle(b: unknown): Verdict {
  const bad = { kind: 'invalid' } as const;
  if (!isObj(b)) return bad;
  const name = b.name;
  if (typeof name !== 'string' || name.trim() === '' || name !== name.trim() || !NAME.test(name)) return bad;
  const sz = b.sizeGb;
  const size = typeof sz === 'number' ? sz : typeof sz === 'string' && /^\d{1,8}$/.test(sz) ? Number(sz) : Number.NaN;
  if (!Number.isInteger(size) || size < 1 || size > 1024 * 1024) return bad;
  const ap = typeof b.activePaths === 'string' && /^\d$/.test(b.activePaths) ? Number(b.activePaths) : b.activePaths;
  if (typeof ap !== 'number' || !Number.isInteger(ap) || ap < 1 || ap > 8) return bad;
  const sn = typeof b.subnet === 'string' && /^\d$/.test(b.subnet) ? Number(b.subnet) : b.subnet;
  if (sn !== 1 && sn !== 2 && sn !== 3) return bad;
  const mode = b.ipMode ?? 'auto';
  if (mode !== 'auto' && mode !== 'manual') return bad;
  let manual: number[] | undefined;
  if (mode === 'manual' && ap < 3) {
    manual = [];
    for (const [i, raw] of [b.path1, b.path2].slice(0, ap).entries()) {
      if (typeof raw !== 'string' || raw.trim() === '') return bad;
      const n = ipNum(raw.trim());
      if (n === undefined) return bad;
      const ok = sn === 1 ? hostOf(n, 1) : sn === 2 ? hostOf(n, 2) : ap === 2 ? hostOf(n, i + 1) : hostOf(n, 1) || hostOf(n, 2);
      if (!ok || manual.includes(n)) return bad;
      manual.push(n);
    }
  }
  let acl = '';
  if (b.acl != null) {
    const a = isObj(b.acl) ? b.acl : {};
    if (a.mode === 'iqn') {
      if (typeof a.iqn !== 'string' || !isValidIqn(a.iqn.trim())) return bad;
      acl = a.iqn.trim();
    } else if (a.mode !== 'all') return bad;
  }
  let chapUser = '';
  if (b.auth != null) {
    const a = isObj(b.auth) ? b.auth : {};
    if (a.mode === 'chap') {
      if (typeof a.user !== 'string' || typeof a.password !== 'string' || !CHAP_USER.test(a.user) || !CHAP_SECRET.test(a.password)) return bad;
      chapUser = a.user;
    } else if (a.mode !== 'none') return bad;
  }
  if (size > FS_MAX_GB) return { kind: 'beyond-fs' };
  return { kind: 'valid', name, acl, chapUser, ...(manual ? { manual } : {}) };
}

/** JSON text that Fastify's parser refuses on purpose (prototype poisoning). */
function poisoned(text: string): boolean {
  try {
    let bad = false;
    JSON.parse(text, function (this: unknown, k, v) {
      if (k === '__proto__') bad = true;
      if (k === 'constructor' && isObj(v) && Object.hasOwn(v, 'prototype')) bad = true;
      return v;
    });
    return bad;
  } catch {
    return false;
  }
}

// ---- generators ----------------------------------------------------------------------------------------

const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    'a;rm -rf /',
    '$(reboot)',
    '`id`',
    '../../etc/passwd',
    '..',
    '/',
    '-rf',
    'x\ny',
    '\u0000',
    '\u202eabc',
    'e\u0301',
    '日本語',
    ' pad',
    'pad ',
    '%2e%2e%2f',
    '__proto__',
  ),
  fc.integer({ min: 65, max: 10_240 }).map((n) => 'a'.repeat(n)),
);
const garbage = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: nasty },
  {
    weight: 1,
    arbitrary: fc.constantFrom(null, -0, 1e308, -1e308, 2 ** 53 + 1, 2 ** 31, 16385, 1048577, -1, 0, 1.5, '1e3', '0x10', ' 1', '08', [], {}, [1, 2], {
      mode: 'all',
      extra: { deep: [null] },
    }),
  },
);
const hostIp = (third: number) => fc.integer({ min: 1, max: 254 }).map((n) => `127.${OCTET}.${third}.${n}`);
const anyIp = fc.oneof(
  hostIp(1),
  hostIp(2),
  fc.ipV4(),
  fc.constantFrom(`127.${OCTET}.1.0`, `127.${OCTET}.1.255`, `127.${OCTET}.1.010`, ` 127.${OCTET}.1.77 `, '127.0.0.1', '0.0.0.0'),
);
const validName = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,30}[A-Za-z0-9]$/),
  fc.constantFrom('ディスク1', 'Ünïcødé disk', 'e\u0301t\u00e9', 'диск-7', 'a.b_c-d', '9'),
);
const iqn = fc.oneof(
  fc.constantFrom('iqn.2016-05.io.portway.test:host-a', 'iqn.1998-01.com.vmware:esx1-1234abcd', 'iqn.1991-05.com.microsoft:win-01', 'eui.0123456789ABCDEF'),
  fc.stringMatching(/^iqn\.20[0-2]\d-(0[1-9]|1[0-2])\.[a-z]{2,8}\.[a-z0-9]{1,8}:[a-z0-9._-]{1,20}$/),
  nasty,
);
const validBody = fc.record(
  {
    name: validName,
    sizeGb: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 16 }).map(String), fc.constant(FS_MAX_GB)),
    activePaths: fc.oneof(
      { weight: 8, arbitrary: fc.constant(1) },
      { weight: 3, arbitrary: fc.constant(2) },
      { weight: 1, arbitrary: fc.integer({ min: 3, max: 4 }) },
    ),
    subnet: fc.constantFrom(1, 2, 3, '2'),
    ipMode: fc.constantFrom('auto', 'manual', undefined),
    path1: hostIp(1),
    path2: hostIp(2),
    acl: fc.oneof(fc.constant({ mode: 'all' }), fc.record({ mode: fc.constant('iqn'), iqn })),
    auth: fc.oneof(
      fc.constant({ mode: 'none' }),
      fc.record({
        mode: fc.constant('chap'),
        user: fc.stringMatching(/^[A-Za-z0-9._:@-]{1,20}$/),
        password: fc.stringMatching(/^[!#-&(-~]{12,16}$/),
      }),
    ),
  },
  { requiredKeys: ['name', 'sizeGb', 'activePaths', 'subnet'] },
);
const FIELDS = ['name', 'sizeGb', 'activePaths', 'subnet', 'ipMode', 'path1', 'path2', 'acl', 'auth'] as const;
const fieldGarbage = fc.oneof(
  garbage,
  anyIp,
  iqn.map((i) => ({ mode: 'iqn', iqn: i })),
  nasty.map((u) => ({ mode: 'chap', user: u, password: 'secretsecret12' })),
);
const jsonBody = fc.oneof(
  { weight: 3, arbitrary: validBody },
  {
    weight: 5,
    arbitrary: fc
      .tuple(validBody, fc.array(fc.tuple(fc.constantFrom(...FIELDS), fieldGarbage), { minLength: 1, maxLength: 3 }))
      .map(([b, muts]) => Object.assign({ ...b }, Object.fromEntries(muts))),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  {
    weight: 1,
    arbitrary: fc.anything({ maxDepth: 3, withNullPrototype: true, withObjectString: true }).map((v) => JSON.parse(JSON.stringify(v ?? null))),
  },
);
/** Raw request bodies: not JSON, too big, too deep, poisoned, odd content types. */
const rawRequest = fc.oneof(
  fc.record({ text: fc.string({ unit: 'binary', maxLength: 200 }), type: fc.constant('application/json') }),
  fc.record({
    text: fc.constantFrom('', 'null', '[]', '"x"', '1', 'true', '{', '{"name":', '{"name":"a"}}', '\ufeff{}', '{"a":1,"a":2}'),
    type: fc.constant('application/json'),
  }),
  fc.record({
    text: fc.integer({ min: 1_000, max: 30_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
    type: fc.constant('application/json'),
  }),
  fc.record({
    text: fc.integer({ min: 65 * 1024, max: 200 * 1024 }).map((n) => JSON.stringify({ name: 'x'.repeat(n) })),
    type: fc.constant('application/json'),
  }),
  fc.record({
    text: fc.constantFrom(
      '{"name":"pp1","sizeGb":1,"activePaths":1,"subnet":1,"__proto__":{"isAdmin":true}}',
      '{"name":"pp2","sizeGb":1,"activePaths":1,"subnet":1,"acl":{"__proto__":{"mode":"iqn","iqn":"x"}}}',
      '{"name":"pp3","sizeGb":1,"activePaths":1,"subnet":1,"constructor":{"prototype":{"polluted":1}}}',
      '{"name":"pp4","sizeGb":1,"activePaths":1,"subnet":1,"auth":{"constructor":{"prototype":{"mode":"chap"}}}}',
    ),
    type: fc.constant('application/json'),
  }),
  fc.record({
    text: fc.constantFrom('name=x&sizeGb=1', '<disk/>', 'a'),
    type: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'application/json; charset=latin1', 'multipart/form-data'),
  }),
);
const idSegment = fc.oneof(
  fc.stringMatching(/^\d{1,6}$/),
  // (longer segments than the router's 100-character parameter limit: see the examples below)
  nasty.map((n) => {
    let out = '';
    for (const ch of n) {
      const e = /[\uD800-\uDFFF]/.test(ch) && ch.length === 1 ? '' : encodeURIComponent(ch); // a lone surrogate has no UTF-8
      if (out.length + e.length > 90) break;
      out += e;
    }
    return out;
  }),
  fc.constantFrom(
    '..',
    '..%2f..%2fetc%2fpasswd',
    '%2e%2e',
    '00001%00',
    '00001/../../x',
    '99999',
    '-1',
    '1e3',
    '__proto__',
    'constructor',
    '00001?x=1',
    '00001#f',
  ),
);

// ---- the test --------------------------------------------------------------------------------------------

const STACK = /\n\s+at |node:internal|\/work\/|\.ts:\d+|\bError:|ENOENT|EACCES|TypeError|SyntaxError|RangeError/;

describe('API properties against the real product (fast-check)', { skip, timeout: 120_000 }, () => {
  let tp: TestProduct;
  const names = new Set<string>();
  const ips = new Set<number>();
  const acceptedAcls = new Set<string>(['ALL']);
  const acceptedUsers = new Set<string>();
  const tally = new Map<string, number>();
  const count = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);

  async function send(method: string, path: string, text?: string, type?: string): Promise<{ status: number; text: string; json: any }> {
    const res = await fetch(`${tp.product.url}${path}`, { method, headers: type ? { 'content-type': type } : {}, body: text });
    const t = await res.text();
    let json: any;
    try {
      json = JSON.parse(t);
    } catch {}
    return { status: res.status, text: t, json };
  }

  /** What every reply must be: 201, or a 4xx with a code and a message; no 500, no stack. */
  function wellFormed(r: { status: number; text: string; json: any }, what: string): void {
    assert.ok(r.status === 200 || r.status === 201 || (r.status >= 400 && r.status < 500), `${what}: status ${r.status} ${r.text.slice(0, 300)}`);
    assert.doesNotMatch(r.text, STACK, `${what}: no stack trace or internal detail in ${r.text.slice(0, 300)}`);
    if (r.status >= 400) {
      assert.equal(typeof r.json?.code, 'string', `${what}: error has a code: ${r.text.slice(0, 200)}`);
      assert.match(r.json.code, /^[a-z_]+$/);
      assert.equal(typeof r.json?.message, 'string');
      assert.ok(r.json.message.length > 0 && r.json.message.length < 400);
    }
  }

  before(async () => {
    tp = await startTestProduct(OCTET);
  });
  after(async () => {
    process.stderr.write(`# API property tally: ${JSON.stringify([...tally].sort())}\n`);
    await tp?.cleanup();
  });

  it('POST /api/v1/disks with random JSON bodies: 201 exactly for valid, free input; else a 4xx with a code', async () => {
    await fc.assert(
      fc.asyncProperty(jsonBody, async (body) => {
        const text = JSON.stringify(body) ?? 'null';
        const v = poisoned(text) ? ({ kind: 'invalid' } as const) : oracle(JSON.parse(text));
        fc.pre(v.kind !== 'beyond-fs');
        if (v.kind === 'valid') fc.pre(names.has(v.name) || v.manual?.some((ip) => ips.has(ip)) === true || names.size < MAX_DISKS);
        const r = await send('POST', '/api/v1/disks', text, 'application/json');
        wellFormed(r, `POST ${text.slice(0, 300)}`);
        count(`${r.status} ${r.json?.code ?? ''}`);
        if (v.kind === 'invalid') {
          assert.notEqual(r.status, 201, `invalid body accepted: ${text.slice(0, 300)}`);
          return;
        }
        const conflict = names.has(v.name) ? 'disk_name_exists' : v.manual?.some((ip) => ips.has(ip)) ? 'ip_used_already' : undefined;

        if (conflict) {
          assert.equal(r.status, 409, `${conflict} expected for ${text.slice(0, 300)}: ${r.text}`);
          assert.equal(r.json.code, conflict);
          return;
        }
        assert.equal(r.status, 201, `valid body refused: ${text.slice(0, 300)} -> ${r.text}`);
        assert.equal(r.json.disk.name, v.name);
        assert.match(r.json.disk.iqn, new RegExp(`^${BASE.replace(/\./g, '\\.')}:\\d{5}$`));
        names.add(v.name);
        if (v.acl) acceptedAcls.add(v.acl);
        if (v.chapUser) acceptedUsers.add(v.chapUser);
        const paths = await send('GET', `/api/v1/disks/${r.json.disk.id}/paths`);
        for (const p of paths.json.paths as { ip: string }[]) {
          const n = ipNum(p.ip) as number;
          assert.ok(!ips.has(n), `${p.ip} was free`);
          assert.ok(hostOf(n, 1) || hostOf(n, 2), `${p.ip} is in an iSCSI subnet`);
          ips.add(n);
        }
        if (v.manual)
          assert.deepEqual(
            (paths.json.paths as { ip: string }[]).map((p) => ipNum(p.ip)),
            v.manual,
            'the manual IPs were used',
          );
      }),
      { numRuns: Math.round(300 * SCALE), interruptAfterTimeLimit: 12_000 * SCALE, markInterruptAsFailure: false },
    );
  });

  it('raw bodies that are not a plain JSON object: a 4xx with a code, nothing created', async () => {
    const before = names.size;
    await fc.assert(
      fc.asyncProperty(rawRequest, async ({ text, type }) => {
        const r = await send('POST', '/api/v1/disks', text, type);
        wellFormed(r, `POST (${type}) ${text.slice(0, 120)}`);
        count(`raw ${r.status} ${r.json?.code ?? ''}`);
        if (poisoned(text)) assert.equal(r.status, 400, `prototype-poisoned JSON refused: ${text}`);
        if (r.status === 201) {
          const v = oracle(JSON.parse(text));
          assert.equal(v.kind, 'valid', `only a valid body is added: ${text.slice(0, 200)}`);
          names.add((v as { name: string }).name);
        }
      }),
      { numRuns: Math.round(60 * SCALE), interruptAfterTimeLimit: 8_000 * SCALE, markInterruptAsFailure: false },
    );
    assert.ok(names.size - before <= 1);
    assert.equal(({} as Record<string, unknown>).isAdmin, undefined, 'no prototype pollution in the test process either');
  });

  it('GET with random disk ids and traversal in the URL: 200 for a real disk, else a 4xx with a code', async () => {
    await fc.assert(
      fc.asyncProperty(idSegment, fc.constantFrom('', '/paths'), async (seg, tail) => {
        const r = await send('GET', `/api/v1/disks/${seg}${tail}`);
        wellFormed(r, `GET /api/v1/disks/${seg}${tail}`);
        count(`get ${r.status} ${r.json?.code ?? ''}`);
        if (r.status !== 200) return;
        // The client resolves dot segments before sending ('..' + '/paths' is GET /api/v1/paths, a real
        // list): a 200 is right for a real disk id, or for a collection route the URL resolved to.
        const resolved = new URL(`/api/v1/disks/${seg}${tail}`, 'http://x').pathname;
        if (LIST_ROUTES.has(resolved.replace(/\/$/, ''))) return;
        assert.match(decodeURIComponent(seg.split(/[?#]/)[0] as string), /^\d{5}$/, `only a real disk id or a list gets a 200: ${seg} (${resolved})`);
      }),
      { numRuns: Math.round(80 * SCALE), interruptAfterTimeLimit: 5_000 * SCALE, markInterruptAsFailure: false },
    );
  });

  it('afterwards: only the accepted disks reached tgtd and the disk (IQNs, IPs, ACLs, CHAP users, files)', async () => {
    assert.ok(names.size > 0, 'some adds were accepted');
    const t0 = Date.now();
    let disks: { id: string; iqn: string; status: string }[] = [];
    const read = async () => {
      disks = (await send('GET', '/api/v1/disks')).json.disks;
      return disks.every((d) => d.status === 'started');
    };
    // At the bound, the assertion below names the disks that did not start.
    await waitFor(read, { what: 'every accepted disk started', timeoutMs: 40_000, intervalMs: 200 }).catch((e) => {
      if (!(e instanceof WaitTimeout)) throw e;
    });
    assert.deepEqual(
      disks.filter((d) => d.status !== 'started'),
      [],
      'every accepted disk is served',
    );
    process.stderr.write(`# ${disks.length} accepted disks, ${ips.size} paths: all started ${Date.now() - t0} ms after the last request\n`);
    assert.deepEqual(new Set(((await send('GET', '/api/v1/disks')).json.disks as { name: string }[]).map((d) => d.name)), names);
    const iqns = new Set(disks.map((d) => d.iqn));
    const procs = tgtdProcs(PREFIX);
    assert.equal(procs.length, disks.length, "one tgtd per accepted disk (on one box; the disk's paths are portals of its one target)");
    for (const p of procs) {
      assert.ok(ips.has(ipNum(p.ip) as number), `tgtd on ${p.ip}, an accepted path IP`);
      const { stdout } = await run('tgtadm', ['-C', String(p.controlPort), '--lld', 'iscsi', '--op', 'show', '--mode', 'target']);
      const targets = parseShowTargets(stdout);
      assert.equal(targets.length, 1, `one target in the tgtd of ${p.ip}`);
      const t = targets[0] as (typeof targets)[number];
      assert.ok(iqns.has(t.iqn), `target ${t.iqn} on ${p.ip} is an accepted disk's`);
      for (const a of t.acl) assert.ok(acceptedAcls.has(a), `ACL ${JSON.stringify(a)} on ${p.ip} came from an accepted body`);
      for (const u of t.accounts) assert.ok(acceptedUsers.has(u), `CHAP user ${JSON.stringify(u)} on ${p.ip} came from an accepted body`);
    }
    const files = readdirSync(join(tp.settings.stateDir, 'images'));
    for (const f of files) assert.match(f, /^image-\d{5}\.(img|meta\.json)$/, `only image files in the image dir: ${f}`);
    assert.equal(files.filter((f) => f.endsWith('.img')).length, names.size);
    assertConsistent(
      await snapshot(tp.product.store, tp.product.images, PREFIX),
      { settled: true, backingOf: (n) => join(tp.settings.stateDir, 'images', `${n}.img`) },
      'after the property runs',
    );
  });
});

describe('API: cases the properties found (examples)', { skip, timeout: 60_000 }, () => {
  let tp: TestProduct;
  before(async () => {
    tp = await startTestProduct(OCTET, { agent: { enabled: false, leaseTtlSeconds: 6 } });
  });
  after(async () => {
    await tp?.cleanup();
  });

  it(`sizeGb ${FS_MAX_GB + 1}..1048576 (valid by the API) is refused with a 4xx invalid_size, not a 503`, async () => {
    const res = await fetch(`${tp.product.url}/api/v1/disks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'huge', sizeGb: 1024 * 1024, activePaths: 1, subnet: 1 }),
    });
    const j = (await res.json()) as { code: string; message: string };
    process.stderr.write(`# 1 PiB add on a file store: ${res.status} ${JSON.stringify(j)}\n`);
    assert.ok(res.status === 201 || (res.status >= 400 && res.status < 500), `status ${res.status} ${JSON.stringify(j)}`);
  });

  it('a URL with a malformed %-escape, or too long, gets the API error shape {code, message, details}', async () => {
    for (const [path, status] of [
      ['/api/v1/disks/%ff', 400],
      ['/api/v1/disks/%', 400],
      ['/api/v1/disks/%E0%A4%A/paths', 400],
      [`/api/v1/disks/${'a'.repeat(20_000)}`, 431],
    ] as const) {
      const res = await fetch(`${tp.product.url}${path}`);
      const j = (await res.json()) as Record<string, unknown>;
      const what = `${path.slice(0, 40)}: ${JSON.stringify(j).slice(0, 200)}`;
      assert.equal(res.status, status, what);
      assert.deepEqual(Object.keys(j).sort(), ['code', 'details', 'message'], what);
      assert.match(String(j.code), /^[a-z_]+$/, `${what}: a stable lower-case code`);
    }
  });

  it('an error message never echoes more than a little of the request (a 10 KB path)', async () => {
    const res = await fetch(`${tp.product.url}/api/v1/disks/${'a'.repeat(10_240)}`);
    const j = (await res.json()) as { code: string; message: string };
    assert.equal(res.status, 404);
    assert.ok(j.message.length < 400, `message of ${j.message.length} characters`);
  });
});
