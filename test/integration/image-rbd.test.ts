/**
 * RbdImageStore against a real one-node Ceph started by scripts/ceph-start.sh in a temp dir on its
 * own ports (started once for this file, stopped at the end): the ImageStore conformance suite, then
 * RBD specifics (where the metadata lives, the per-image list fallback, busy, an unreachable
 * cluster) and tgtd serving an image through backing().
 *
 *   node --import tsx --test test/integration/image-rbd.test.ts
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/adapters/exec.js';
import { META_KEY, RbdImageStore } from '../../src/adapters/images/rbd-store.js';
import { ImageStoreError } from '../../src/adapters/images/types.js';
import { imageStoreSuite } from '../conformance/image-store.suite.js';
import { type CephCluster, cephAvailable, commandExists, freePortRange, requireService, sleep, stopSharedCeph, whenCephReady } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const gate = requireService('ceph', cephAvailable(), 'Ceph not on PATH (apt-get install ceph-mon ceph-osd ceph-mgr ceph-common)');

let ceph: CephCluster;
const MiB = 1024 * 1024;

before(async () => {
  if (gate.skip) return;
  ceph = await whenCephReady();
  console.log(`# ceph up in ${ceph.startMs} ms (${ceph.dir}, mon port ${ceph.monPort})`);
});
after(async () => {
  const t0 = Date.now();
  await stopSharedCeph();
  if (!gate.skip) console.log(`# ceph stopped in ${Date.now() - t0} ms`);
});

const store = (opts: Partial<ConstructorParameters<typeof RbdImageStore>[0]> = {}) =>
  new RbdImageStore({ conf: ceph.conf, id: ceph.id, pool: ceph.pool, ...opts });

imageStoreSuite('rbd', async () => ({ store: store(), cleanup: async () => undefined }), { skip: gate.skip, pool: 'rbd' });

const rbdCli = (args: string[]) => run('rbd', ['-c', ceph.conf, '--id', ceph.id, ...args], { timeoutMs: 30_000 });

describe('RbdImageStore specifics', { skip: gate.skip }, () => {
  const p = `pwx-${randomBytes(3).toString('hex')}-`;

  it(`keeps the metadata as RBD image-meta "${META_KEY}" on the image`, async () => {
    const s = store();
    await s.create(`${p}meta`, 4 * MiB, '{"id":"00001"}');
    const { stdout } = await rbdCli(['image-meta', 'list', '--format', 'json', `rbd/${p}meta`]);
    assert.deepEqual(JSON.parse(stdout), { [META_KEY]: '{"id":"00001"}' });
    // and reads what another client wrote
    await rbdCli(['image-meta', 'set', `rbd/${p}meta`, META_KEY, '{"id":"00002"}']);
    assert.equal(await s.getMeta(`${p}meta`), '{"id":"00002"}');
    await s.remove(`${p}meta`);
  });

  it('list() in one batch and the per-image fallback agree, and see changes made elsewhere', async () => {
    const s = store();
    for (let i = 0; i < 6; i++) await s.create(`${p}l${i}`, (i + 1) * MiB, i % 2 ? `m${i}` : null);
    // a change made by another client (another node) shows in the next list: nothing is cached
    await rbdCli(['image-meta', 'set', `rbd/${p}l0`, META_KEY, 'from-elsewhere']);
    const t0 = Date.now();
    const batched = (await s.list()).filter((r) => r.name.startsWith(p));
    const t1 = Date.now();
    const perImage = (await store({ batchList: false }).list()).filter((r) => r.name.startsWith(p));
    const t2 = Date.now();
    console.log(`# list of ${batched.length} images: batched ${t1 - t0} ms, per image ${t2 - t1} ms`);
    assert.deepEqual(batched, perImage);
    assert.equal(batched.length, 6);
    assert.equal(batched[0]?.meta, 'from-elsewhere');
    assert.equal(batched[1]?.meta, 'm1');
    assert.equal(batched[2]?.meta, null);
    assert.equal(batched[5]?.sizeBytes, 6 * MiB);
    for (let i = 0; i < 6; i++) await s.remove(`${p}l${i}`);
  });

  it('remove of an image another client has open fails with busy', async () => {
    const s = store();
    await s.create(`${p}busy`, 4 * MiB, null);
    // hold the image open (a watcher, like tgtd's) from a Python librbd process; it closes the image
    // and exits when its stdin closes (killed by PID only if it does not)
    const holder = spawn(
      '/usr/bin/python3',
      [
        '-c',
        'import rados, rbd, sys\n' +
          'c = rados.Rados(conffile=sys.argv[1], rados_id="admin"); c.connect()\n' +
          'io = c.open_ioctx("rbd"); img = rbd.Image(io, sys.argv[2])\n' +
          'print("open", flush=True); sys.stdin.read()\n' +
          'img.close(); io.close(); c.shutdown()\n',
        ceph.conf,
        `${p}busy`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout?.on('data', (d: Buffer) => d.toString().includes('open') && resolve());
        holder.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
      });
      await assert.rejects(s.remove(`${p}busy`), (e: unknown) => e instanceof ImageStoreError && e.code === 'busy');
      assert.equal(await s.exists(`${p}busy`), true);
    } finally {
      holder.stdin?.end();
      const exited =
        holder.exitCode !== null || (await Promise.race([new Promise((r) => holder.once('exit', () => r(true))), sleep(10_000).then(() => false)]));
      if (!exited && holder.pid) process.kill(holder.pid, 'SIGKILL');
    }
    // (had the holder been killed, its watch would linger until it times out, ~30 s)
    await waitFor(
      async () => {
        try {
          await s.remove(`${p}busy`);
          return true;
        } catch (e) {
          if (e instanceof ImageStoreError && e.code === 'busy') return false;
          throw e;
        }
      },
      { what: 'remove after the holder is gone', timeoutMs: 60_000, intervalMs: 1000 },
    );
  });

  it('an unreachable cluster gives unavailable within the deadline, never a hang', async () => {
    const port = await freePortRange(2); // nothing listens there
    const conf = join(ceph.dir, 'unreachable.conf');
    writeFileSync(conf, readFileSync(ceph.conf, 'utf8').replace(/^mon host = .*$/m, `mon host = [v2:127.0.0.1:${port},v1:127.0.0.1:${port + 1}]`));
    const s = new RbdImageStore({ conf, id: 'admin', pool: 'rbd', timeoutMs: 3000 });
    for (const [what, op] of [
      ['exists', () => s.exists('anything')],
      ['list', () => s.list()],
      ['create', () => s.create('anything', MiB, null)],
      ['usage', () => s.usage()],
    ] as const) {
      const t0 = Date.now();
      await assert.rejects(op(), (e: unknown) => e instanceof ImageStoreError && e.code === 'unavailable', what);
      assert.ok(Date.now() - t0 < 5000, `${what} took ${Date.now() - t0} ms`);
    }
  });

  it('rejects a bad pool, client id or conf path at construction', () => {
    assert.throws(() => new RbdImageStore({ conf: '/x;y', id: 'admin', pool: 'rbd' }));
    assert.throws(() => new RbdImageStore({ conf: '/x', id: 'ad min', pool: 'rbd' }));
    assert.throws(() => new RbdImageStore({ conf: '/x', id: 'admin', pool: '../rbd' }));
  });
});

const TGT_TOOLS = ['tgtd', 'tgtadm', 'iscsi-readcapacity16'];
const tgtGate = gate.skip ? gate : requireService('tgt', TGT_TOOLS.every(commandExists), `${TGT_TOOLS.join(', ')} (apt-get install tgt tgt-rbd libiscsi-bin)`);

describe('tgtd serves an RBD image through backing()', { skip: tgtGate.skip }, () => {
  let tgtd: ChildProcess | undefined;
  let tgtdExited: Promise<void> = Promise.resolve();
  let control = 0; // tgtd -C <n> (0..32767): the control socket of our own tgtd
  let portal = 0;
  const tgtadm = (args: string[]) => run('tgtadm', ['-C', String(control), '--lld', 'iscsi', ...args], { timeoutMs: 30_000 });

  before(async () => {
    portal = await freePortRange(1);
    // a control number no tgtd answers on
    for (let i = 0; i < 50 && !control; i++) {
      const n = 10_000 + Math.floor(Math.random() * 20_000);
      const taken = await run('tgtadm', ['-C', String(n), '--op', 'show', '--mode', 'system'], { timeoutMs: 5000 }).then(
        () => true,
        () => false,
      );
      if (!taken) control = n;
    }
    assert.ok(control, 'a free tgtd control number');
    let stderr = '';
    const t = spawn('tgtd', ['-f', '-C', String(control), '--iscsi', `portal=127.0.0.1:${portal}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    tgtd = t;
    t.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<void>((r) => t.once('exit', () => r()));
    process.on('exit', () => {
      // safety net should the file die before after(): our tgtd, by PID
      if (t.pid && t.exitCode === null && t.signalCode === null) process.kill(t.pid, 'SIGKILL');
    });
    await waitFor(
      async () => {
        if (t.exitCode !== null) throw new Error(`tgtd exited ${t.exitCode}: ${stderr}`);
        try {
          await run('tgtadm', ['-C', String(control), '--op', 'show', '--mode', 'system'], { timeoutMs: 5000 });
          return true;
        } catch {
          return false;
        }
      },
      { what: 'tgtd ready', timeoutMs: 30_000, intervalMs: 100 },
    ).catch((e) => {
      throw new Error(`${(e as Error).message}; tgtd stderr: ${stderr}`);
    });
    tgtdExited = exited;
  });
  after(async () => {
    const t = tgtd;
    if (!t?.pid || t.exitCode !== null || t.signalCode !== null) return;
    // tgtd ignores SIGTERM: it stops on "--op delete --mode system" (after its targets are gone)
    await run('tgtadm', ['-C', String(control), '--op', 'delete', '--mode', 'system'], { timeoutMs: 10_000 }).catch(() => undefined);
    const gone = await Promise.race([tgtdExited.then(() => true), sleep(5000).then(() => false)]);
    if (!gone && t.exitCode === null && t.signalCode === null) process.kill(t.pid, 'SIGKILL');
  });

  it('a LUN with bstype/path/bsopts from backing() reports the image size over iSCSI', async () => {
    const s = store();
    const name = `pwtgt-${randomBytes(3).toString('hex')}`;
    await s.create(name, 64 * MiB, null);
    const iqn = `iqn.2016-05.io.portway.test:${name}`;
    try {
      const b = s.backing(name);
      await tgtadm(['--op', 'new', '--mode', 'target', '--tid', '1', '--targetname', iqn]);
      await tgtadm(['--op', 'new', '--mode', 'logicalunit', '--tid', '1', '--lun', '1', '--bstype', b.bstype, '--backing-store', b.path, '--bsopts', b.bsopts]);
      await tgtadm(['--op', 'bind', '--mode', 'target', '--tid', '1', '--initiator-address', 'ALL']);
      const { stdout } = await run('iscsi-readcapacity16', [`iscsi://127.0.0.1:${portal}/${iqn}/1`], { timeoutMs: 20_000 });
      assert.match(stdout, new RegExp(`Total size:${64 * MiB}\\b`));
      // while tgtd has it open, the image cannot be removed
      await assert.rejects(s.remove(name), (e: unknown) => e instanceof ImageStoreError && e.code === 'busy');
    } finally {
      await tgtadm(['--op', 'delete', '--mode', 'target', '--tid', '1', '--force']).catch(() => undefined);
    }
    await waitFor(
      async () => {
        try {
          await s.remove(name);
          return true;
        } catch (e) {
          if (e instanceof ImageStoreError && e.code === 'busy') return false;
          throw e;
        }
      },
      { what: 'image free after the target is gone', timeoutMs: 60_000, intervalMs: 500 },
    );
  });
});
