/**
 * Cluster settings in the coordination store: the pure rules (validation as the settings file's,
 * stranded IPs, what changed) and the API over the embedded store (app.inject): GET/PUT
 * /api/v1/settings/cluster, ManageConfig, audited with what changed, picked up by the disk service.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type ClusterSettings,
  applyPatch,
  checkClusterSettings,
  clusterSettingsOf,
  settingsChanges,
  strandedPaths,
  subnetOfIp,
  withInterfaces,
} from '../../src/domain/cluster-settings.js';
import { DEFAULT_CONFIG } from '../../src/domain/config.js';
import { ADMIN_PW, type ApiApp, type Caller, startApiApp } from '../helpers/api-app.js';
import { waitFor } from '../helpers/wait.js';

const BASE: ClusterSettings = clusterSettingsOf(DEFAULT_CONFIG, 10);

describe('cluster settings (pure)', () => {
  it('the file defaults are valid settings, and the interfaces are only added back per node', () => {
    assert.deepEqual(checkClusterSettings(BASE), { ok: true });
    assert.equal('eth' in BASE.subnet1, false);
    assert.deepEqual(withInterfaces(BASE, { subnet1: 'eth1', subnet2: 'eth2' }).subnet2, { ...DEFAULT_CONFIG.subnet2, eth: 'eth2' });
  });

  it('validates as the settings file does, naming the field', () => {
    const bad = (patch: unknown, field: string) => {
      const r = applyPatch(BASE, patch);
      assert.equal(r.ok, false, JSON.stringify(patch));
      if (!r.ok) {
        assert.equal(r.code, 'invalid_settings');
        assert.equal(r.field, field, r.message);
      }
    };
    bad({ iqnBase: 'nope' }, 'iqnBase');
    bad({ pool: 'a b' }, 'pool');
    bad({ subnet1: { cidr: '10.0.0.0/33' } }, 'subnet1');
    bad({ subnet1: { autoIpTo: '127.10.9.9' } }, 'subnet1');
    bad({ subnet2: { cidr: '127.10.1.0/24', autoIpFrom: '127.10.1.10', autoIpTo: '127.10.1.20' } }, 'subnet2');
    bad({ subnet1: { eth: 'eth0' } }, 'subnet1.eth');
    bad({ leaseTtlSeconds: 1 }, 'leaseTtlSeconds');
    bad({ colour: 'red' }, 'colour');
    bad([], undefined as unknown as string);
  });

  it('a patch keeps what it leaves out, and says what changed', () => {
    const r = applyPatch(BASE, { subnet1: { autoIpFrom: '127.10.1.100' }, leaseTtlSeconds: 6 });
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.equal(r.settings.subnet1.cidr, BASE.subnet1.cidr);
    assert.equal(r.settings.subnet1.autoIpTo, BASE.subnet1.autoIpTo);
    assert.deepEqual(settingsChanges(BASE, r.settings), [
      { field: 'leaseTtlSeconds', from: 10, to: 6 },
      { field: 'subnet1.autoIpFrom', from: '127.10.1.10', to: '127.10.1.100' },
    ]);
  });

  it('strands an IP only when its subnet no longer holds it; a range change strands nothing', () => {
    const paths = [
      { disk: '00001', path: 1, ip: '127.10.1.10' },
      { disk: '00001', path: 2, ip: '127.10.2.10' },
    ];
    const range = applyPatch(BASE, { subnet1: { autoIpFrom: '127.10.1.200', autoIpTo: '127.10.1.210' } });
    assert.ok(range.ok);
    if (range.ok) assert.deepEqual(strandedPaths(BASE, range.settings, paths), []);
    const moved = applyPatch(BASE, { subnet1: { cidr: '127.11.1.0/24', autoIpFrom: '127.11.1.10', autoIpTo: '127.11.1.20' } });
    assert.ok(moved.ok);
    if (moved.ok) assert.deepEqual(strandedPaths(BASE, moved.settings, paths), [paths[0]]);
    // A wider network still holds the IP.
    const wider = applyPatch(BASE, { subnet1: { cidr: '127.10.0.0/23', autoIpFrom: '127.10.0.10', autoIpTo: '127.10.0.20' } });
    assert.ok(wider.ok, wider.ok ? '' : wider.message);
    if (wider.ok) assert.deepEqual(strandedPaths(BASE, wider.settings, paths), []);
  });

  it('tells the subnet of an IP (the agent picks its interface by it)', () => {
    assert.equal(subnetOfIp(BASE, '127.10.2.5'), 2);
    assert.equal(subnetOfIp(BASE, '127.10.1.5'), 1);
    assert.equal(subnetOfIp(BASE, '10.9.9.9'), undefined);
  });
});

describe('cluster settings API', () => {
  let a: ApiApp;
  let admin: Caller;
  before(async () => {
    a = await startApiApp();
    admin = await a.login('admin', ADMIN_PW);
  });
  after(async () => {
    await a?.close();
  });

  it('GET shows the stored settings with their version; /config shows the version and the backends', async () => {
    const r = await admin('GET', '/api/v1/settings/cluster');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.version, 1);
    assert.equal(r.json.settings.subnet1.cidr, '127.90.1.0/24');
    assert.equal(r.json.settings.leaseTtlSeconds, 10);
    const c = await admin('GET', '/api/v1/config');
    assert.equal(c.json.version, 1);
    assert.deepEqual(c.json.backend, { images: { kind: 'file' }, coord: { kind: 'embedded' } });
  });

  it('PUT changes the range: a new version, audited with what changed, and the next add allocates from it', async () => {
    const r = await admin('PUT', '/api/v1/settings/cluster', { version: 1, subnet1: { autoIpFrom: '127.90.1.100', autoIpTo: '127.90.1.120' } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.version, 2);
    assert.deepEqual(r.json.changes, [
      { field: 'subnet1.autoIpFrom', from: '127.90.1.10', to: '127.90.1.100' },
      { field: 'subnet1.autoIpTo', from: '127.90.1.250', to: '127.90.1.120' },
    ]);
    const audit = await admin('GET', `/api/v1/audit?limit=20&q=${encodeURIComponent('settings.cluster')}`);
    const e = (audit.json.entries as { action: string; outcome: string; details: { version: number; changes: unknown[] } }[]).find(
      (x) => x.action === 'settings.cluster',
    );
    assert.ok(e, audit.body);
    assert.equal(e.outcome, 'ok');
    assert.equal(e.details.version, 2);
    assert.equal(e.details.changes.length, 2);
    await waitFor(async () => (await admin('GET', '/api/v1/config')).json.version === 2, { what: 'the watch to deliver version 2' });
    const add = await admin('POST', '/api/v1/disks', { name: 'after-change', sizeGb: 1, activePaths: 1, subnet: 1 });
    assert.equal(add.status, 201, add.body);
    const paths = await admin('GET', `/api/v1/disks/${add.json.disk.id}/paths`);
    assert.equal(paths.json.paths[0].ip, '127.90.1.100');
  });

  it('refuses: a stale version, a stranded IP, a pool change with disks, bad input; a viewer may read, not change', async () => {
    const stale = await admin('PUT', '/api/v1/settings/cluster', { version: 1, leaseTtlSeconds: 8 });
    assert.equal(stale.status, 409);
    assert.equal(stale.json.code, 'settings_version_conflict');
    const strand = await admin('PUT', '/api/v1/settings/cluster', { subnet1: { cidr: '127.91.1.0/24', autoIpFrom: '127.91.1.10', autoIpTo: '127.91.1.20' } });
    assert.equal(strand.status, 409, strand.body);
    assert.equal(strand.json.code, 'settings_strand_ip');
    assert.match(strand.json.message, /127\.90\.1\.100/);
    const pool = await admin('PUT', '/api/v1/settings/cluster', { pool: 'other' });
    assert.equal(pool.json.code, 'settings_pool_in_use');
    const bad = await admin('PUT', '/api/v1/settings/cluster', { subnet2: { autoIpTo: '10.0.0.1' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'invalid_settings');
    assert.equal(bad.json.details.field, 'subnet2');
    const eth = await admin('PUT', '/api/v1/settings/cluster', { subnet2: { eth: 'eth9' } });
    assert.equal(eth.status, 400);
    const viewer = await a.userWithRole('vw', 'viewer');
    assert.equal((await viewer('GET', '/api/v1/settings/cluster')).status, 200);
    const denied = await viewer('PUT', '/api/v1/settings/cluster', { leaseTtlSeconds: 8 });
    assert.equal(denied.status, 403);
    assert.equal((await admin('GET', '/api/v1/settings/cluster')).json.version, 2, 'nothing refused was written');
  });
});
