/** The fault tests' consistency checker itself: it passes a consistent state and names each violation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KeyValue } from '../../src/adapters/coord/types.js';
import type { ImageRecord } from '../../src/adapters/images/types.js';
import { type Snapshot, check } from './lib/consistency.js';

const kv = (key: string, value: unknown): KeyValue => ({
  key,
  value: typeof value === 'string' ? value : JSON.stringify(value),
  createRevision: 1,
  modRevision: 1,
});
const rec = (id: string, name: string, pathCount: number) => ({
  id,
  name,
  iqn: `iqn.2016-05.io.portway.test:${id}`,
  sizeGb: 1,
  createdAt: '',
  acl: '',
  chapUser: '',
  subnet: 1,
  pathCount,
  desired: 'started',
});
const meta = (id: string, name: string, ips: string[]) =>
  JSON.stringify({
    id,
    name,
    sizeGb: 1,
    createdAt: '',
    acl: '',
    chapUser: '',
    chapPassword: '',
    iqn: `iqn.2016-05.io.portway.test:${id}`,
    pool: 'rbd',
    subnet: 1,
    paths: ips.map((ip) => ({ ip, subnetMask: '255.255.255.0', eth: 'lo' })),
  });

function good(): Snapshot {
  const kvs = [
    kv('/portway/disks/00001', rec('00001', 'a', 2)),
    kv('/portway/disks/00001/1', { ip: '127.9.1.10', subnetMask: '255.255.255.0', eth: 'lo' }),
    kv('/portway/disks/00001/2', { ip: '127.9.1.11', subnetMask: '255.255.255.0', eth: 'lo' }),
    kv('/portway/ips/127.9.1.10', '00001'),
    kv('/portway/ips/127.9.1.11', '00001'),
    kv('/portway/names/a', '00001'),
    kv('/portway/owners/00001/1', { node: 'n1', state: 'served' }),
    kv('/portway/owners/00001/2', { node: 'n1', state: 'served' }),
  ];
  const images: ImageRecord[] = [{ name: 'image-00001', sizeBytes: 1, meta: meta('00001', 'a', ['127.9.1.10', '127.9.1.11']) }];
  return {
    kvs,
    images,
    tgtds: [
      { pid: 100, ip: '127.9.1.10', controlPort: 1 },
      { pid: 101, ip: '127.9.1.11', controlPort: 2 },
    ],
    targets: new Map([
      [100, { iqn: 'iqn.2016-05.io.portway.test:00001', backing: ['/x/image-00001.img'] }],
      [101, { iqn: 'iqn.2016-05.io.portway.test:00001', backing: ['/x/image-00001.img'] }],
    ]),
  };
}
const opts = { settled: true, backingOf: (n: string) => `/x/${n}.img` };

describe('consistency checker', () => {
  it('a consistent state has no violations', () => {
    assert.deepEqual(check(good(), opts), []);
  });

  const cases: [string, (s: Snapshot) => void, RegExp][] = [
    ['orphan image', (s) => s.images.push({ name: 'image-00002', sizeBytes: 1, meta: null }), /orphan image image-00002/],
    ['detached image is fine', (s) => s.images.push({ name: 'image-00003', sizeBytes: 1, meta: JSON.stringify({ detached: true }) }), /^$/],
    ['lost image', (s) => s.images.splice(0, 1), /image-00001 does not exist/],
    ['metadata disagrees', (s) => ((s.images[0] as ImageRecord).meta = meta('00001', 'a', ['127.9.1.10', '127.9.1.99'])), /differ from its metadata/],
    [
      'IP in two paths',
      (s) => s.kvs.push(kv('/portway/disks/00002', rec('00002', 'b', 1)), kv('/portway/disks/00002/1', { ip: '127.9.1.10', subnetMask: 'm', eth: 'lo' })),
      /IP 127\.9\.1\.10 is used by 2 paths/,
    ],
    ['stale IP index', (s) => s.kvs.push(kv('/portway/ips/127.9.1.50', '00009')), /stale IP index key 127\.9\.1\.50/],
    ['missing name index', (s) => s.kvs.splice(5, 1), /name index key of "a" is missing/],
    ['owner of no path', (s) => s.kvs.push(kv('/portway/owners/00001/3', { node: 'n1', state: 'served' })), /names no existing path/],
    ['path served twice', (s) => s.tgtds.push({ pid: 102, ip: '127.9.1.10', controlPort: 3 }), /served by 2 tgtd processes/],
    ['served but no tgtd', (s) => s.tgtds.splice(1, 1), /marked served but no tgtd serves it/],
    ['tgtd for no path', (s) => s.tgtds.push({ pid: 103, ip: '127.9.1.77', controlPort: 4 }), /serves 127\.9\.1\.77, which no path has/],
    ['wrong target', (s) => s.targets.set(100, { iqn: 'iqn.x:y', backing: [] }), /serves "iqn\.x:y"/],
    [
      'two targets in one tgtd',
      (s) => s.targets.set(100, { iqn: 'iqn.2016-05.io.portway.test:00001', backing: ['/x/image-00001.img'], count: 2 }),
      /tgtd pid 100 \(127\.9\.1\.10\) has 2 targets, not one/,
    ],
    ['path count off', (s) => s.kvs.splice(2, 1), /pathCount 2 but path keys \[1\]/],
  ];
  for (const [what, mutate, want] of cases) {
    it(`finds: ${what}`, () => {
      const s = good();
      mutate(s);
      const v = check(s, opts).join('\n');
      if (want.source === '^$') assert.equal(v, '');
      else assert.match(v, want);
    });
  }
});
