/** Health from the store's state, and the events between two looks (domain/health.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkWebhookUrl, healthEvents, healthOf, overall } from '../../src/domain/health.js';
import type { DiskState, OwnerRecord } from '../../src/domain/keys.js';

function disk(id: string, owners: [number, OwnerRecord][], servedOnce = true): DiskState {
  return {
    record: { id, name: `d${id}`, iqn: `iqn.x:${id}`, sizeGb: 1, createdAt: '', acl: '', chapUser: '', subnet: 1, pathCount: 2, desired: 'started' },
    paths: new Map([
      [1, { ip: '10.0.0.1', subnetMask: '255.255.255.0', eth: 'eth1' }],
      [2, { ip: '10.0.0.2', subnetMask: '255.255.255.0', eth: 'eth1' }],
    ]),
    owners: new Map(owners),
    ...(servedOnce ? { servedOnce: true as const } : {}),
  };
}

describe('cluster health', () => {
  const live = new Set(['n1', 'n2']);
  const both = disk('00001', [
    [1, { node: 'n1', state: 'served' }],
    [2, { node: 'n2', state: 'served' }],
  ]);
  it('is ok when every known node is up and every disk served', () => {
    const h = healthOf(new Map([['00001', both]]), live, live);
    assert.equal(h.problems.size, 0);
    assert.equal(overall(h.problems.values()), 'ok');
  });
  it('raises node down, degraded and path failed, then clears them', () => {
    const ok = healthOf(new Map([['00001', both]]), live, live);
    const broken = disk('00001', [
      [1, { node: 'n1', state: 'served' }],
      [2, { node: 'n1', state: 'configuring', problem: 'storage fencing failed' }],
    ]);
    const bad = healthOf(new Map([['00001', broken]]), new Set(['n1']), live);
    assert.deepEqual([...bad.problems.keys()].sort(), ['disk:00001', 'node:n2', 'path:00001/2']);
    assert.equal(overall(bad.problems.values()), 'critical');
    const raised = healthEvents(ok, bad);
    assert.deepEqual(raised.map((e) => e.kind).sort(), ['disk_degraded', 'node_down', 'path_failed']);
    assert.deepEqual(healthEvents(bad, bad), [], 'nothing new: no event');
    const cleared = healthEvents(bad, ok);
    assert.deepEqual(cleared.map((e) => [e.kind, e.clears]).sort(), [
      ['disk_recovered', 'disk_degraded'],
      ['node_up', 'node_down'],
      ['path_recovered', 'path_failed'],
    ]);
  });
  it('a disk still starting is not degraded', () => {
    const starting = disk('00002', [[1, { node: 'n1', state: 'served' }]], false);
    assert.equal(healthOf(new Map([['00002', starting]]), live, live).problems.size, 0);
  });
  it('accepts http(s) webhook URLs only, without credentials', () => {
    assert.deepEqual(checkWebhookUrl('https://alerts.example.net/x?y=1'), { ok: true, url: 'https://alerts.example.net/x?y=1' });
    for (const bad of ['ftp://x/', 'not a url', 'http://user:pw@x/', 42, 'x'.repeat(2001)]) assert.equal(checkWebhookUrl(bad).ok, false, String(bad));
  });
});
