/**
 * Rebuild and backup that an admin can trust, on the real single-box product (file images, embedded
 * store, real tgtd; loopback octet 89): the desired state travels with the image metadata, so
 * `portway rebuild` after losing the coordination store brings a stopped disk back stopped and a
 * started one started; `portway backup` / `portway restore` of the embedded store bring back users,
 * sessions' absence aside, and the audit log after a wipe.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExecError, run } from '../../src/adapters/exec.js';
import { type EtcdSettings, defaultSettings } from '../../src/app/settings.js';
import { type TestProduct, addBody, login, missingTools, startTestProduct, withAuth } from '../helpers/product.js';
import { etcdAvailable, requireService, startEtcd } from '../helpers/services.js';
import { sleep, waitFor } from '../helpers/wait.js';

const skip = missingTools(['tgtd', 'tgtadm']);
const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'portway.ts');

async function cli(args: string[]) {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', CLI, ...args], { timeoutMs: 60_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    if (e instanceof ExecError) return { code: e.exitCode, out: e.stdout, err: e.stderr };
    throw e;
  }
}

describe('rebuild keeps the desired state; backup and restore of the coordination store', { skip }, () => {
  let tp: TestProduct;
  let work: string;
  let config: string;

  before(async () => {
    tp = await startTestProduct(89, withAuth());
    work = mkdtempSync(join(tmpdir(), 'pw-rebuild-'));
    config = join(work, 'settings.json');
    writeFileSync(config, JSON.stringify(tp.settings));
  });
  after(async () => {
    await tp?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  let adminApi: Awaited<ReturnType<typeof login>>['api'];
  const status = async (id: string) => (await adminApi('GET', `/api/v1/disks/${id}`)).json.disk?.status;

  it('portway rebuild brings a stopped disk back stopped, a started one started', async () => {
    adminApi = (await login(tp.product, 'admin', 'Correct-Horse-42')).api;
    for (const name of ['keep1', 'halt1']) assert.equal((await adminApi('POST', '/api/v1/disks', addBody(name, { activePaths: 1 }))).status, 201);
    await waitFor(async () => ((await status('00001')) === 'started' && (await status('00002')) === 'started' ? true : undefined), { what: 'both started' });
    assert.equal((await adminApi('POST', '/api/v1/disks/00002/stop')).status, 200);
    await waitFor(async () => ((await status('00002')) === 'stopped' ? true : undefined), { what: '00002 stopped' });

    await tp.product.stop({ release: true });
    const coord = join(tp.settings.stateDir, 'coord');
    rmSync(coord, { recursive: true, force: true }); // the coordination store is lost
    const r = await cli(['rebuild', '--config', config, '--state-dir', tp.settings.stateDir]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /registered 2 disk\(s\): 00001 00002/);

    await tp.restart();
    adminApi = (await login(tp.product, 'admin', 'Correct-Horse-42')).api;
    await waitFor(async () => ((await status('00001')) === 'started' ? true : undefined), { what: '00001 started again' });
    assert.equal(await status('00002'), 'stopped');
    await sleep(1500); // the agent had time to serve it, were it wanted
    const d2 = (await adminApi('GET', '/api/v1/disks/00002')).json.disk;
    assert.equal(d2.status, 'stopped', 'the stopped disk stays stopped');
    assert.equal(d2.pathsServed, 0, 'and none of its paths is served');

    // started again, and the image says so
    assert.equal((await adminApi('POST', '/api/v1/disks/00002/start')).status, 200);
    await waitFor(async () => ((await status('00002')) === 'started' ? true : undefined), { what: '00002 started' });
  });

  it('portway backup / restore bring back users and the audit log after the store is wiped', async () => {
    const made = await adminApi('POST', '/api/v1/users', { name: 'carol', role: 'operator', password: 'Secret-Of-Op-55' });
    assert.equal(made.status, 201, JSON.stringify(made.json));
    const running = await cli(['backup', '--out', join(work, 'live.backup'), '--config', config, '--state-dir', tp.settings.stateDir]);
    assert.equal(running.code, 0, `a backup while the product runs: ${running.err}`);
    assert.equal((statSync(join(work, 'live.backup')).mode & 0o777).toString(8), '600');
    const refused = await cli(['restore', '--in', join(work, 'live.backup'), '--config', config, '--state-dir', tp.settings.stateDir]);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /in use by process \d+: stop the product first/);

    await tp.product.stop({ release: true });
    const coord = join(tp.settings.stateDir, 'coord');
    rmSync(coord, { recursive: true, force: true });
    const r = await cli(['restore', '--in', join(work, 'live.backup'), '--config', config, '--state-dir', tp.settings.stateDir]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /restored the embedded store/);
    await tp.restart();
    const carol = await login(tp.product, 'carol', 'Secret-Of-Op-55');
    assert.equal(carol.me.user.role, 'operator');
    adminApi = (await login(tp.product, 'admin', 'Correct-Horse-42')).api;
    const audit = (await adminApi('GET', '/api/v1/audit?limit=200')).json.entries as { action: string; target: string }[];
    assert.ok(
      audit.some((e) => e.action === 'user.create' && e.target === 'user:carol'),
      'the audit log came back',
    );
    assert.deepEqual(
      (await adminApi('GET', '/api/v1/disks')).json.disks.map((d: { id: string }) => d.id),
      ['00001', '00002'],
    );
    const kept = readdirSync(tp.settings.stateDir).filter((f) => f.startsWith('coord.before-restore-'));
    assert.equal(kept.length, 0, 'nothing to keep: the store had been wiped');

    const bad = await cli(['restore', '--in', config, '--config', config, '--state-dir', tp.settings.stateDir]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /is not a Portway embedded-store backup/);
  });
});

describe('portway backup of an etcd store (TLS, client certificate, user)', requireService('etcd', etcdAvailable(), 'apt-get install etcd-server'), () => {
  it('writes etcd own snapshot, which etcdctl reads back', async () => {
    const etcd = await startEtcd({ tls: true, rootPassword: 'Etcd-Root-Secret-9' });
    const work = mkdtempSync(join(tmpdir(), 'pw-etcd-backup-'));
    try {
      const tls = etcd.tls;
      assert.ok(tls);
      writeFileSync(join(work, 'pw'), 'Etcd-Root-Secret-9\n', { mode: 0o600 });
      const coord: EtcdSettings = {
        kind: 'etcd',
        endpoints: etcd.endpoints,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        username: 'root',
        passwordFile: join(work, 'pw'),
      };
      writeFileSync(join(work, 'node.json'), JSON.stringify({ ...defaultSettings(), stateDir: work, coord }));
      const r = await cli(['backup', '--out', join(work, 'etcd.db'), '--config', join(work, 'node.json')]);
      assert.equal(r.code, 0, r.err);
      const st = await run('etcdctl', ['snapshot', 'status', join(work, 'etcd.db'), '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' } });
      assert.ok(JSON.parse(st.stdout).totalKey > 0, st.stdout);
      writeFileSync(join(work, 'wrong'), 'nope\n');
      writeFileSync(join(work, 'node2.json'), JSON.stringify({ ...defaultSettings(), stateDir: work, coord: { ...coord, passwordFile: join(work, 'wrong') } }));
      const denied = await cli(['backup', '--out', join(work, 'etcd2.db'), '--config', join(work, 'node2.json')]);
      assert.equal(denied.code, 1);
      assert.match(denied.err, /etcdctl snapshot save failed/);
      const restore = await cli(['restore', '--in', join(work, 'etcd.db'), '--config', join(work, 'node.json')]);
      assert.equal(restore.code, 1);
      assert.match(restore.err, /etcdctl snapshot restore/);
    } finally {
      await etcd.stop();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
