/**
 * Snapshots end to end through iSCSI (docs/PRODUCT.md "Snapshots and clones"): a pattern written through
 * the target, a snapshot, another pattern over it, stop, roll back, start: the first pattern reads back
 * through iSCSI. On a single box (file images; on this machine's ext4 a full sparse copy, so taken while
 * the disk is stopped) and on Ceph RBD with etcd (instant RBD snapshots of a started disk). The snapshot
 * commands go through the `portway` CLI, so the CLI is tested with them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExecError, run } from '../../src/adapters/exec.js';
import { ISCSI_TOOLS, lunUrl, verifyPattern, writePattern } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { CEPH_TOOLS, type EtcdCluster, startEtcd, stopSharedCeph, whenCephReady } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'portway.ts');
const MiB = 1024 * 1024;
const OFF = 5 * MiB;
const LEN = 256 * 1024;

function harness(tpOf: () => TestProduct) {
  let home: string | undefined;
  const cli = async (args: string[]) => {
    home ??= mkdtempSync(join(tmpdir(), 'pw-snap-cli-'));
    try {
      const r = await run(process.execPath, ['--import', 'tsx', CLI, ...args], {
        env: { ...process.env, PORTWAY_URL: tpOf().product.url, PORTWAY_CLI_CONFIG: join(home, 'cli.json') },
        timeoutMs: 120_000,
      });
      return { code: 0 as number | null, out: r.stdout, err: r.stderr };
    } catch (e) {
      if (e instanceof ExecError) return { code: e.exitCode, out: e.stdout, err: e.stderr };
      throw e;
    }
  };
  const status = async (id: string, want: string) =>
    waitFor(async () => ((await api(tpOf().product, 'GET', `/api/v1/disks/${id}`)).json.disk.status === want ? true : undefined), {
      what: `disk ${id} ${want}`,
      timeoutMs: 60_000,
    });
  const stop = async (id: string) => {
    assert.equal((await cli(['disk', 'stop', id])).code, 0);
    await status(id, 'stopped');
  };
  const start = async (id: string) => {
    assert.equal((await cli(['disk', 'start', id])).code, 0);
    await status(id, 'started');
  };
  const cleanup = () => {
    if (home) rmSync(home, { recursive: true, force: true });
  };
  return { cli, status, stop, start, cleanup };
}

/** The flow both backends must pass; `instant`: the snapshot is taken while the disk is started. */
async function rollbackFlow(tp: TestProduct, h: ReturnType<typeof harness>, instant: boolean): Promise<{ id: string; url: string }> {
  const r = await api(tp.product, 'POST', '/api/v1/disks', addBody(`snap-${instant ? 'rbd' : 'file'}`, { activePaths: 1 }));
  assert.equal(r.status, 201, JSON.stringify(r.json));
  const id = r.json.disk.id as string;
  await h.status(id, 'started');
  const url = lunUrl(r.json.disk.paths?.[0]?.ip ?? (await api(tp.product, 'GET', `/api/v1/disks/${id}/paths`)).json.paths[0].ip, r.json.disk.iqn);
  await writePattern(url, 0xa1, OFF, LEN);

  if (!instant) {
    // a full copy needs the disk stopped: the CLI shows the server's reason
    const refused = await h.cli(['snapshot', 'create', id, 'before']);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /Stop it first.*\(snapshot_needs_stop\)/);
    await h.stop(id);
  }
  const made = await h.cli(['snapshot', 'create', id, 'before', '--json']);
  assert.equal(made.code, 0, made.err);
  assert.equal(JSON.parse(made.out).name, 'before');
  if (!instant) await h.start(id);

  await writePattern(url, 0xb2, OFF, LEN);
  assert.equal(await verifyPattern(url, 0xb2, OFF, LEN), true);

  // a started disk is not rolled back
  const busy = await h.cli(['snapshot', 'rollback', id, 'before']);
  assert.equal(busy.code, 1);
  assert.match(busy.err, /disk_not_stopped/);
  assert.equal(await verifyPattern(url, 0xb2, OFF, LEN), true);

  await h.stop(id);
  const back = await h.cli(['snapshot', 'rollback', id, 'before']);
  assert.equal(back.code, 0, back.err);
  await h.start(id);
  assert.equal(await verifyPattern(url, 0xa1, OFF, LEN), true, 'the first pattern reads back through iSCSI after the rollback');

  const list = await h.cli(['snapshot', 'list', id]);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /^NAME +TAKEN +SIZE +USED +CLONES/m);
  assert.match(list.out, /^before +\d{4}-\d\d-\d\dT\S+ +1\.0 GiB/m);
  return { id, url };
}

/**
 * After rollbackFlow: the source gets new data, snapshot `before` is cloned into a new disk (CLI), which
 * serves the first pattern on its own IP while the source keeps its new data. Returns the clone's id.
 */
async function cloneFlow(tp: TestProduct, h: ReturnType<typeof harness>, src: { id: string; url: string }): Promise<{ id: string; url: string }> {
  await writePattern(src.url, 0xc3, OFF, LEN);
  const made = await h.cli(['snapshot', 'clone', src.id, 'before', '--name', `clone-of-${src.id}`, '--paths', '1', '--json']);
  assert.equal(made.code, 0, made.err);
  const clone = JSON.parse(made.out);
  assert.notEqual(clone.id, src.id);
  assert.notEqual(clone.iqn, (await api(tp.product, 'GET', `/api/v1/disks/${src.id}`)).json.disk.iqn);
  await h.status(clone.id, 'started');
  const ip = (await api(tp.product, 'GET', `/api/v1/disks/${clone.id}/paths`)).json.paths[0].ip as string;
  const srcIp = (await api(tp.product, 'GET', `/api/v1/disks/${src.id}/paths`)).json.paths[0].ip as string;
  assert.notEqual(ip, srcIp);
  const url = lunUrl(ip, clone.iqn);
  assert.equal(await verifyPattern(url, 0xa1, OFF, LEN), true, 'the clone serves the snapshot pattern on its own IP');
  assert.equal(await verifyPattern(src.url, 0xc3, OFF, LEN), true, 'the source keeps its new data');
  // a bad clone request: the add-disk codes, nothing added
  const bad = await h.cli(['snapshot', 'clone', src.id, 'before', '--name', 'bad name!', '--paths', '1']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /invalid_name/);
  const none = await h.cli(['snapshot', 'clone', src.id, 'nosuch', '--name', 'x1', '--paths', '1']);
  assert.match(none.err, /snapshot_not_found/);
  assert.equal((await api(tp.product, 'GET', '/api/v1/disks')).json.disks.length, 2);
  return { id: clone.id, url };
}

const fileSkip = missingTools(ISCSI_TOOLS);

describe('snapshots on a single box (file images) through iSCSI', { skip: fileSkip, timeout: 300_000 }, () => {
  let tp: TestProduct;
  const h = harness(() => tp);
  before(async () => {
    tp = await startTestProduct(121);
  });
  after(async () => {
    await tp?.cleanup();
    h.cleanup();
  });

  it('pattern, snapshot (stopped: full copy), overwrite, stop, rollback, start: the first pattern reads back; clone', async () => {
    const src = await rollbackFlow(tp, h, false);
    const { id } = src;
    const clone = await cloneFlow(tp, h, src);
    // a file clone is a copy: the snapshot can go at once
    const del = await h.cli(['snapshot', 'delete', id, 'before']);
    assert.equal(del.code, 0, del.err);
    assert.match((await h.cli(['snapshot', 'list', id])).out, /has no snapshots/);
    const gone = await h.cli(['snapshot', 'delete', id, 'before']);
    assert.equal(gone.code, 1);
    assert.match(gone.err, /snapshot_not_found/);
    assert.equal(await verifyPattern(clone.url, 0xa1, OFF, LEN), true);
  });
});

const cephSkip = missingTools([...ISCSI_TOOLS, ...CEPH_TOOLS, 'etcd']);

describe('snapshots on Ceph RBD + etcd through iSCSI', { skip: cephSkip, timeout: 600_000 }, () => {
  let tp: TestProduct;
  let etcd: EtcdCluster;
  const h = harness(() => tp);
  before(async () => {
    const [ceph, e] = await Promise.all([whenCephReady(), startEtcd({ members: 1 })]);
    etcd = e;
    tp = await startTestProduct(122, {
      images: { kind: 'rbd', conf: ceph.conf, keyring: ceph.keyring, id: ceph.id, pool: ceph.pool },
      coord: { kind: 'etcd', endpoints: etcd.endpoints },
    });
  });
  after(async () => {
    await tp?.cleanup();
    await etcd?.stop();
    await stopSharedCeph();
    h.cleanup();
  });

  it('pattern, snapshot of the started disk (RBD, instant), overwrite, stop, rollback, start: the first pattern reads back; clone, flatten', async () => {
    const src = await rollbackFlow(tp, h, true);
    const { id } = src;
    const clone = await cloneFlow(tp, h, src);
    // the snapshot has a copy-on-write clone: deleting it is refused until the clone is flattened
    const refused = await h.cli(['snapshot', 'delete', id, 'before']);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /flatten them first.*\(snapshot_has_clones\)/);
    assert.match((await h.cli(['snapshot', 'list', id])).out, new RegExp(`^before .* ${clone.id}$`, 'm'));
    assert.match((await h.cli(['snapshot', 'list', clone.id])).out, new RegExp(`clone of ${id}@before`));
    const fl = await h.cli(['snapshot', 'flatten', clone.id]);
    assert.equal(fl.code, 0, fl.err);
    await waitFor(async () => ((await api(tp.product, 'GET', `/api/v1/disks/${clone.id}/snapshots`)).json.parent === undefined ? true : undefined), {
      what: 'clone flattened',
      timeoutMs: 120_000,
    });
    const del = await h.cli(['snapshot', 'delete', id, 'before']);
    assert.equal(del.code, 0, del.err);
    assert.equal(await verifyPattern(clone.url, 0xa1, OFF, LEN), true, 'the flattened clone keeps its data');
    assert.equal(await verifyPattern(src.url, 0xc3, OFF, LEN), true);
  });
});
