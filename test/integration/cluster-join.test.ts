/**
 * A 3-node cluster in network namespaces brought up only with `portway cluster init` (n1) and
 * `portway node join` (every node's process), each node's file a few local lines (no cluster fields):
 * - a disk added there is served, through every path, and answers an iSCSI inquiry from the client;
 * - a settings change (a new automatic IP range) reaches every agent (their node records' settings
 *   version) without a restart, and the next disk takes its IPs from the new range;
 * - `portway node leave` on n3 empties it (its paths served by the others; its join process stops),
 *   with no path IP on two nodes at any sample of the run; `portway agent` started on n3 afterwards
 *   (a reboot with the service enabled) is refused (not_a_member, exit status 78);
 * - init again with the same settings changes nothing; with other settings it is refused; join on a
 *   node whose interface is missing is refused with its code.
 *
 * etcd runs with TLS, client certificates and authentication (user root): the node files name the CA,
 * the client certificate and key, the user and its password file. Not here: the API over HTTPS (no
 * `portway serve` runs in this test; cluster-https.test.ts runs it on n1 of such a cluster, tls.test.ts
 * and e2e/https.test.ts on loopback).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ClusterSettingsService } from '../../src/services/cluster-settings-service.js';
import { type SimCluster, waitUntil } from '../harness/cluster.js';
import { haCluster, haSkip } from '../harness/suite.js';

const skip = haSkip();
const TTL = 10;

describe('cluster init / node join / node leave on 3 namespaced nodes', { skip, timeout: 500_000 }, () => {
  let c: SimCluster;
  let settings: ClusterSettingsService;
  const nodeVersions = async () => {
    const out: Record<string, number | undefined> = {};
    for (const n of c.nodes) {
      const kv = await c.store.get(`/portway/nodes/${n.name}`);
      out[n.name] = kv ? (JSON.parse(kv.value) as { settingsVersion?: number }).settingsVersion : undefined;
    }
    return out;
  };

  before(async () => {
    c = await haCluster({ nodes: 3, leaseTtlSeconds: TTL, join: true, etcdTls: true });
    settings = new ClusterSettingsService({ store: c.store, log: pino({ level: 'silent' }) });
  });
  after(async () => {
    await c?.destroy();
  });

  it('node files hold no cluster fields; init wrote version 1, every node joined and works with it', async () => {
    for (const n of c.nodes) {
      const file = JSON.parse(readFileSync(n.configFile, 'utf8')) as Record<string, unknown>;
      assert.equal('cluster' in file, false);
      const coord = file.coord as { endpoints: string[]; username?: string; cert?: string };
      assert.match(coord.endpoints[0] ?? '', /^https:\/\//);
      assert.equal(coord.username, 'root');
      assert.ok(coord.cert);
      assert.ok(Object.keys(file).length <= 8, Object.keys(file).join(','));
    }
    const s = await settings.get();
    assert.equal(s?.version, 1);
    assert.equal(s?.settings.leaseTtlSeconds, TTL);
    assert.equal(s?.settings.subnet1.cidr, '10.99.1.0/24');
    for (const n of c.nodes) assert.ok(await c.store.get(`/portway/members/${n.name}`), `${n.name} is a member`);
    await waitUntil('every node on settings version 1', async () => Object.values(await nodeVersions()).every((v) => v === 1) || undefined, 20_000);
  });

  it('init again: the same settings change nothing, other settings are refused; a missing interface refuses a join', async () => {
    assert.match(await c.clusterInit(), /initialised already \(settings version 1\)/);
    const other = await c.nodeCli('n1', ['cluster', 'init', '--config', c.node('n1').configFile, '--lease-ttl', String(TTL + 5)]);
    assert.equal(other.code, 1);
    assert.match(other.err, /cluster_settings_differ/);
    const n2 = c.node('n2');
    const bad = `${n2.configFile}.bad.json`;
    const file = JSON.parse(readFileSync(n2.configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(bad, JSON.stringify({ ...file, interfaces: { subnet1: 'eth1', subnet2: 'eth9' } }));
    const missing = await c.nodeCli('n2', ['node', 'join', '--config', bad, '--register-only']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /interface eth9 .* does not exist.*\(interface_missing\)/);
  });

  it('a disk added there is served on every path and answers the client', async () => {
    const r = await c.disks.add({
      name: 'joined',
      sizeGb: 1,
      activePaths: 3,
      subnet: 1,
      ipMode: 'auto',
      acl: { mode: 'all' },
      auth: { mode: 'none' },
      placement: 'spread',
    });
    assert.ok(r.ok, r.ok ? '' : r.message);
    const paths = await c.waitServed(r.disk.id, 60_000);
    assert.equal(new Set(paths.map((p) => p.node)).size, 3, 'spread over the three nodes');
    await c.waitAnswering(paths, r.disk.iqn, r.disk.id, 30_000);
  });

  it('a new automatic range reaches every agent without a restart; the next disk takes its IPs from it', async () => {
    const pids = c.nodes.map((n) => n.agentPid);
    const ch = await settings.change({ subnet1: { autoIpFrom: '10.99.1.100', autoIpTo: '10.99.1.150' } }, 'test', 1);
    assert.ok(ch.ok, ch.ok ? '' : ch.message);
    await waitUntil('every agent on settings version 2', async () => Object.values(await nodeVersions()).every((v) => v === 2) || undefined, 30_000);
    assert.deepEqual(
      c.nodes.map((n) => n.agentPid),
      pids,
      'no agent restarted',
    );
    // The test process's disk service takes the new settings as an API server's watch does.
    const { subnet1, subnet2 } = await import('../../src/domain/config.js').then(({ checkConfig }) => {
      const r = checkConfig({ ...c.config, subnet1: { ...c.config.subnet1, autoIpFrom: '10.99.1.100', autoIpTo: '10.99.1.150' } });
      if (!r.ok) throw new Error(r.message);
      return r;
    });
    c.disks.setCluster({ subnet1, subnet2, iqnBase: c.config.iqnBase, pool: c.config.pool });
    const r = await c.disks.add({ name: 'after', sizeGb: 1, activePaths: 1, subnet: 1, ipMode: 'auto', acl: { mode: 'all' }, auth: { mode: 'none' } });
    assert.ok(r.ok, r.ok ? '' : r.message);
    const paths = await c.waitServed(r.disk.id, 60_000);
    assert.equal(paths[0]?.ip, '10.99.1.100');
  });

  it('node leave empties n3: its paths go to n1/n2, its join process stops, no IP on two nodes', async () => {
    const n3 = c.node('n3');
    const left = await c.nodeCli('n1', ['node', 'leave', '--config', c.node('n1').configFile, '--node', 'n3', '--timeout', '90'], 150_000);
    assert.equal(left.code, 0, `${left.out}\n${left.err}`);
    assert.match(left.out, /node n3 left the cluster/);
    await waitUntil('the join process on n3 exited', () => n3.agent === undefined || undefined, 30_000);
    assert.equal(await c.store.get('/portway/members/n3'), undefined);
    for (const kv of await c.store.list('/portway/owners/')) assert.notEqual((JSON.parse(kv.value) as { node: string }).node, 'n3', kv.key);
    for (const kv of await c.store.list('/portway/disks/'))
      if (/^\/portway\/disks\/\d{5}$/.test(kv.key)) await c.waitServed(kv.key.split('/').pop() as string, 60_000, ['n3']);
    assert.deepEqual(await n3.pathIps(), []);
    const again = await c.nodeCli('n1', ['node', 'leave', '--config', c.node('n1').configFile, '--node', 'n3']);
    assert.equal(again.code, 0);
    assert.match(again.out, /not in the cluster: nothing to do/);
    // n3 rebooted with its agent service still enabled: refused, with the status its unit does not restart on.
    const rebooted = await c.nodeCli('n3', ['agent', '--config', n3.configFile], 60_000);
    assert.equal(rebooted.code, 78, `${rebooted.out}\n${rebooted.err}`);
    assert.match(rebooted.err, /node n3 is not a member of this cluster .*\(not_a_member\)/);
    assert.deepEqual(await n3.pathIps(), []);
    await c.assertNoIpOnTwoNodes();
  });
});
