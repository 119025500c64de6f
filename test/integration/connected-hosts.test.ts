/**
 * Connected hosts, from tgtd's own view of its sessions: two initiators with different IQNs (sessions
 * held open by tools/pw-scsi), one on each path of a disk (both paths on this node: one tgtd, two
 * portals), are listed by the API on the right paths; stop without force is refused with both listed;
 * with force it stops and the list empties. The CLI's `disk show` lists them too.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/adapters/exec.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { PW_SCSI, ScsiSession } from '../helpers/scsi-session.js';
import { REPO, requireService } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const skip = missingTools(['tgtd', 'tgtadm']) ?? requireService('pw-scsi', existsSync(PW_SCSI), `${PW_SCSI} is missing: run scripts/setup.sh`).skip;
const HOST_A = 'iqn.1994-05.com.example:host-a';
const HOST_B = 'iqn.1994-05.com.example:host-b';

describe('connected hosts', { skip }, () => {
  let tp: TestProduct;
  const sessions: ScsiSession[] = [];
  before(async () => {
    tp = await startTestProduct(58);
  });
  after(async () => {
    for (const s of sessions) await s.close().catch(() => {});
    await tp?.cleanup();
  });

  it('lists two initiators on their paths; stop is refused without force, listing both, and stops with force', async () => {
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('hosts1', { activePaths: 2 }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const id = r.json.disk.id as string;
    const iqn = r.json.disk.iqn as string;
    await waitFor(async () => ((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk?.status === 'started' ? true : undefined), {
      what: 'disk started',
      timeoutMs: 20_000,
    });
    const paths = (await api(tp.product, 'GET', `/api/v1/disks/${id}/paths`)).json.paths as { index: number; ip: string }[];
    assert.equal(paths.length, 2);
    const [p1, p2] = paths as [{ index: number; ip: string }, { index: number; ip: string }];

    // Nobody connected: stop would not be refused. Not stopped here (the sessions come next).
    const none = (await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk;
    assert.deepEqual(none.hosts, []);

    sessions.push(await ScsiSession.open(`iscsi://${p1.ip}/${iqn}/1`, { initiator: HOST_A }));
    sessions.push(await ScsiSession.open(`iscsi://${p2.ip}/${iqn}/1`, { initiator: HOST_B }));

    type Host = { iqn: string; address: string; portal: string; path: number | null; node: string; connections: number; since: string };
    const hosts = await waitFor(
      async () => {
        const h = (await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk?.hosts as Host[] | undefined;
        return h && h.length === 2 ? h : undefined;
      },
      { what: 'both hosts listed', timeoutMs: 15_000 },
    );
    const a = hosts.find((h) => h.iqn === HOST_A);
    const b = hosts.find((h) => h.iqn === HOST_B);
    assert.ok(a && b, JSON.stringify(hosts));
    assert.deepEqual([a.path, a.portal, a.node, a.connections], [p1.index, p1.ip, 'node1', 1]);
    assert.deepEqual([b.path, b.portal, b.node, b.connections], [p2.index, p2.ip, 'node1', 1]);
    // The initiators connect from the loopback interface: tgtd shows the source address the kernel picked.
    assert.match(a.address, /^127\./);
    assert.ok(Date.now() - Date.parse(a.since) < 60_000, a.since);

    // Per path too.
    const perPath = (await api(tp.product, 'GET', `/api/v1/disks/${id}/paths`)).json.paths as { index: number; hosts: Host[] }[];
    assert.deepEqual(
      perPath.map((p) => p.hosts.map((h) => h.iqn)),
      [[HOST_A], [HOST_B]],
    );

    // The CLI's disk show lists them.
    const cli = await run(process.execPath, ['--import', 'tsx', `${REPO}/src/cli/portway.ts`, 'disk', 'show', id, '--url', tp.product.url], {
      timeoutMs: 30_000,
      env: { ...process.env, PORTWAY_CLI_CONFIG: `${REPO}/.no-cli-config.json` },
    });
    assert.match(cli.stdout, new RegExp(HOST_A.replace(/\./g, '\\.')));
    assert.match(cli.stdout, new RegExp(HOST_B.replace(/\./g, '\\.')));

    // Stop without force: refused, both listed, nothing changed.
    const refused = await api(tp.product, 'POST', `/api/v1/disks/${id}/stop`);
    assert.equal(refused.status, 409, JSON.stringify(refused.json));
    assert.equal(refused.json.code, 'hosts_connected');
    assert.deepEqual((refused.json.details.hosts as Host[]).map((h) => h.iqn).sort(), [HOST_A, HOST_B]);
    assert.match(refused.json.message, /host-a/);
    assert.match(refused.json.message, /host-b/);
    assert.equal((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk.status, 'started');
    assert.equal((await sessions[0]?.send('inquiry'))?.ok, true, 'host a still has the disk');

    // With force: it stops, and the hosts are gone.
    const forced = await api(tp.product, 'POST', `/api/v1/disks/${id}/stop`, { force: true });
    assert.equal(forced.status, 200, JSON.stringify(forced.json));
    await waitFor(
      async () => {
        const d = (await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk;
        return d?.status === 'stopped' && d.hosts.length === 0 ? true : undefined;
      },
      { what: 'stopped with no hosts', timeoutMs: 20_000 },
    );
    // A stopped disk with nobody connected deletes without force.
    const del = await api(tp.product, 'DELETE', `/api/v1/disks/${id}`);
    assert.equal(del.status, 200, JSON.stringify(del.json));
  });
});
