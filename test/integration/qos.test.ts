/**
 * QoS limits on Ceph RBD + etcd, measured through iSCSI (docs/PRODUCT.md "QoS limits"): a disk added with
 * a 500 IOPS limit; one iscsi-perf run reads it for ~20 s: at most ~550 IOPS while the limit is 500;
 * halfway through the limit is raised to 2000 with `portway disk edit --iops` and the measured rate rises
 * in the same iSCSI session (no reconnect), the same tgtd serving (no restart of the disk). The limits
 * are librbd's image-level config overrides (`rbd config image list`), removed again by an edit.
 *
 *   flock /tmp/pw-heavy.lock env CI=true node --import tsx --test test/integration/qos.test.ts
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExecError, run } from '../../src/adapters/exec.js';
import { ISCSI_TOOLS } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { CEPH_TOOLS, type CephCluster, type EtcdCluster, startEtcd, stopSharedCeph, whenCephReady } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'portway.ts');
const skip = missingTools([...ISCSI_TOOLS, ...CEPH_TOOLS, 'etcd', 'iscsi-perf']);

/** The image's librbd QoS overrides: option -> value. */
async function imageQos(ceph: CephCluster, id: string): Promise<Record<string, string>> {
  const { stdout } = await run('rbd', ['-c', ceph.conf, '--id', ceph.id, 'config', 'image', 'list', '--format', 'json', `${ceph.pool}/image-${id}`], {
    timeoutMs: 30_000,
  });
  const rows = JSON.parse(stdout) as { name: string; value: string; source: string }[];
  return Object.fromEntries(
    rows.filter((r) => r.name.startsWith('rbd_qos_') && r.name.endsWith('_limit') && r.source === 'image').map((r) => [r.name, r.value]),
  );
}

describe('QoS limits on Ceph RBD through iSCSI', { skip, timeout: 600_000 }, () => {
  let tp: TestProduct;
  let etcd: EtcdCluster;
  let ceph: CephCluster;
  let home: string;
  const cli = async (args: string[]) => {
    try {
      const r = await run(process.execPath, ['--import', 'tsx', CLI, ...args], {
        env: { ...process.env, PORTWAY_URL: tp.product.url, PORTWAY_CLI_CONFIG: join(home, 'cli.json') },
        timeoutMs: 60_000,
      });
      return { code: 0 as number | null, out: r.stdout, err: r.stderr };
    } catch (e) {
      if (e instanceof ExecError) return { code: e.exitCode, out: e.stdout, err: e.stderr };
      throw e;
    }
  };

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'pw-qos-cli-'));
    const [c, e] = await Promise.all([whenCephReady(), startEtcd({ members: 1 })]);
    ceph = c;
    etcd = e;
    tp = await startTestProduct(127, {
      images: { kind: 'rbd', conf: ceph.conf, keyring: ceph.keyring, id: ceph.id, pool: ceph.pool },
      coord: { kind: 'etcd', endpoints: etcd.endpoints },
    });
  });
  after(async () => {
    await tp?.cleanup();
    await etcd?.stop();
    await stopSharedCeph();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('500 IOPS: iscsi-perf measures at most ~550; raised to 2000 by an edit, the rate rises in the same session, the same tgtd serving', async () => {
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('qos-rbd', { activePaths: 1, qos: { iops: 500 } }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const id = r.json.disk.id as string;
    assert.deepEqual(r.json.disk.qos, { iops: 500 });
    await waitFor(async () => ((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk.status === 'started' ? true : undefined), {
      what: `disk ${id} started`,
      timeoutMs: 60_000,
    });
    assert.deepEqual(await imageQos(ceph, id), { rbd_qos_iops_limit: '500' });
    const shown = await cli(['disk', 'show', id]);
    assert.equal(shown.code, 0, shown.err);
    assert.match(shown.out, /^QoS limits: iops 500$/m);

    const ip = (await api(tp.product, 'GET', `/api/v1/disks/${id}/paths`)).json.paths[0].ip as string;
    const tgtdPid = () => (JSON.parse(readFileSync(join(tp.settings.stateDir, 'run', 'tgt', `${id}.json`), 'utf8')) as { pid: number }).pid;
    const pidBefore = tgtdPid();

    // One session for the whole run: -x 0, no reconnects (a restarted target would end it with an error).
    const perf = spawn(
      'iscsi-perf',
      ['-i', 'iqn.1994-05.com.example:qos', '-m', '8', '-b', '8', '-t', '24', '-l', '-x', '0', `iscsi://${ip}/${r.json.disk.iqn}/1`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    perf.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    perf.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((res) => perf.once('exit', (code) => res(code)));
    const current = () => [...out.matchAll(/iops current (\d+)/g)].map((m) => Number(m[1]));
    await waitFor(async () => (current().length >= 10 ? true : undefined), { what: '10 s of iscsi-perf', timeoutMs: 30_000 });
    const raisedAt = current().length;
    const edit = await cli(['disk', 'edit', id, '--iops', '2000']);
    assert.equal(edit.code, 0, edit.err);
    const editedAt = current().length;
    const code = await exited;
    assert.equal(code, 0, `iscsi-perf ended with ${code}: ${out.slice(-500)}`);
    assert.doesNotMatch(out, /ABORTED|reconnect/i);

    const perSecond = current();
    // Seconds 3..raisedAt: the limit holds (the first two seconds may drain librbd's initial burst).
    const limited = perSecond.slice(2, raisedAt);
    const limitedMean = limited.reduce((a, b) => a + b, 0) / limited.length;
    // From 2 s after the edit returned (librbd applies the limit at its next refresh) to the end.
    const raised = perSecond.slice(editedAt + 2);
    const raisedMean = raised.reduce((a, b) => a + b, 0) / raised.length;
    process.stderr.write(`# IOPS per second: ${perSecond.join(' ')}; limited mean ${limitedMean.toFixed(0)}, raised mean ${raisedMean.toFixed(0)}\n`);
    assert.ok(limited.length >= 6 && raised.length >= 4, `too few samples: ${perSecond.join(' ')}`);
    assert.ok(limitedMean <= 550, `500 IOPS limit: measured ${limitedMean.toFixed(0)}`);
    assert.ok(Math.max(...limited) <= 600, `500 IOPS limit: a second at ${Math.max(...limited)}`);
    assert.ok(limitedMean >= 300, `the limited run did read: ${limitedMean.toFixed(0)}`);
    assert.ok(raisedMean >= 1.5 * limitedMean, `raised to 2000: measured ${raisedMean.toFixed(0)} vs ${limitedMean.toFixed(0)} before`);
    assert.ok(raisedMean <= 2200, `2000 IOPS limit: measured ${raisedMean.toFixed(0)}`);
    assert.equal(tgtdPid(), pidBefore, 'the same tgtd serves the disk: no restart');
    const disk = (await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk;
    assert.equal(disk.status, 'started');
    assert.deepEqual(disk.qos, { iops: 2000 });
    assert.deepEqual(await imageQos(ceph, id), { rbd_qos_iops_limit: '2000' });

    // Bandwidth limits beside; then every limit removed: no override left on the image.
    const bw = await api(tp.product, 'PATCH', `/api/v1/disks/${id}`, { qos: { readBps: 10 * 1024 * 1024, writeIops: 300 } });
    assert.equal(bw.status, 200, JSON.stringify(bw.json));
    assert.deepEqual(bw.json.disk.qos, { iops: 2000, writeIops: 300, readBps: 10 * 1024 * 1024 });
    assert.deepEqual(await imageQos(ceph, id), { rbd_qos_iops_limit: '2000', rbd_qos_write_iops_limit: '300', rbd_qos_read_bps_limit: '10485760' });
    const audit = (await api(tp.product, 'GET', '/api/v1/audit?limit=20')).json;
    assert.match(JSON.stringify(audit), /"qos":\{"writeIops":\{"from":null,"to":300\},"readBps":\{"from":null,"to":10485760\}\}/);
    const none = await cli(['disk', 'edit', id, '--iops', 'none', '--write-iops', '0', '--read-bps', 'none']);
    assert.equal(none.code, 0, none.err);
    assert.deepEqual(await imageQos(ceph, id), {});
    assert.deepEqual((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk.qos, {});
    // a bad value: the CLI shows the code, nothing changes
    const bad = await cli(['disk', 'edit', id, '--iops', '20000000']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /invalid_qos/);
  });
});
