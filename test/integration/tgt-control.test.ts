/**
 * tgt-control against a real tgtd, with tgtadm as the independent witness: same `show` text, same
 * error messages; refused parameters reach nothing; and through the driver, a CHAP password with ','
 * and '=' (which Portway's validation accepts) logs in.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ExecError, run } from '../../src/adapters/exec.js';
import { TgtDriver } from '../../src/adapters/tgt/tgt.js';
import { TgtError, type TgtRequest, request, targetOps } from '../../src/adapters/tgt/tgt-control.js';
import { ISCSI_TOOLS, capacity, lunUrl } from '../helpers/iscsi.js';
import { missingTools, waitFor } from '../helpers/product.js';
import { alive } from '../helpers/procs.js';

const skip = missingTools(ISCSI_TOOLS);
// Control ports 25900-25999 and 127.59.x.y portals belong to this file and bench/tgt-control.ts.
const CP = 25911;
const IP = '127.59.11.1';
const DRIVER_IP = '127.59.11.2';
const DRIVER_DISK = '59112';
const IQN = 'iqn.2016-05.io.portway.test:ctl1';

/** tgtadm's stderr (without its "tgtadm: " prefix) for a run that must fail. */
async function tgtadmError(args: string[]): Promise<string> {
  try {
    await run('tgtadm', ['-C', String(CP), ...args], { timeoutMs: 15_000 });
  } catch (e) {
    if (e instanceof ExecError) return e.stderr.trim().replace(/^tgtadm: /, '');
    throw e;
  }
  throw new Error(`tgtadm ${args.join(' ')} succeeded`);
}

async function clientError(req: TgtRequest): Promise<TgtError> {
  try {
    await request(CP, req);
  } catch (e) {
    if (e instanceof TgtError) return e;
    throw e;
  }
  throw new Error('the request succeeded');
}

const showTargets = async () => (await run('tgtadm', ['-C', String(CP), '--lld', 'iscsi', '--op', 'show', '--mode', 'target'])).stdout;

describe('tgt-control on real tgtd, tgtadm as witness', { skip }, () => {
  let dir: string;
  let img: string;
  let tgtd: ChildProcess;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pw-tgtctl-'));
    img = join(dir, 'disk.img');
    writeFileSync(img, '');
    truncateSync(img, 32 * 1024 * 1024);
    tgtd = spawn('tgtd', ['-f', '-C', String(CP), '--iscsi', `portal=${IP}:3260`], { stdio: 'ignore' });
    await waitFor(
      'tgtd to answer',
      () =>
        request(CP, { mode: 'system', op: 'show' }).then(
          () => true,
          () => undefined,
        ),
      15_000,
      25,
    );
  });

  after(async () => {
    // Through the control socket (targets with force, then the system), then by PID if it is still there.
    const pid = tgtd.pid as number;
    await request(CP, { lld: 'iscsi', mode: 'target', op: 'delete', tid: 1, force: true }).catch(() => {});
    await request(CP, { mode: 'system', op: 'delete' }).catch(() => {});
    for (let i = 0; i < 100 && alive(pid) && tgtd.exitCode === null; i++) await new Promise((r) => setTimeout(r, 20));
    if (tgtd.exitCode === null && tgtd.signalCode === null) tgtd.kill('SIGKILL');
    rmSync(join('/var/run/tgtd', `socket.${CP}`), { force: true });
    rmSync(join('/var/run/tgtd', `socket.${CP}.lock`), { force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('a target configured through the client: its `show` text is the text tgtadm prints', async () => {
    const lld = 'iscsi';
    await request(CP, { lld, mode: 'target', op: 'new', tid: 1, params: { targetname: IQN } });
    await request(CP, { lld, mode: 'logicalunit', op: 'new', tid: 1, lun: 1, params: { path: img, bstype: 'rdwr' } });
    await request(CP, { lld, mode: 'logicalunit', op: 'update', tid: 1, lun: 1, params: targetOps({ vendor_id: 'PORTWAY', scsi_sn: 'PWctl1' }) });
    await request(CP, { lld, mode: 'target', op: 'update', tid: 1, params: { MaxRecvDataSegmentLength: '262144' } });
    await request(CP, { lld, mode: 'account', op: 'new', params: { user: 'ctl-user', password: 'pw,with=sep12' } });
    await request(CP, { lld, mode: 'account', op: 'bind', tid: 1, params: { user: 'ctl-user' } });
    await request(CP, { lld, mode: 'target', op: 'bind', tid: 1, params: { 'initiator-address': 'ALL' } });

    const ours = (await request(CP, { lld, mode: 'target', op: 'show' })).text;
    assert.equal(ours, await showTargets());
    assert.match(ours, new RegExp(`Target 1: ${IQN}`));
    assert.match(ours, /Backing store path: .*disk\.img/);
    assert.match(ours, /ctl-user/);
    assert.match(ours, /ALL/);
    const sys = (await request(CP, { mode: 'system', op: 'show' })).text;
    assert.equal(sys, (await run('tgtadm', ['-C', String(CP), '--op', 'show', '--mode', 'sys'])).stdout);
    const params = (await request(CP, { lld, mode: 'target', op: 'show', tid: 1 })).text;
    assert.equal(params, (await run('tgtadm', ['-C', String(CP), '--lld', 'iscsi', '--op', 'show', '--mode', 'target', '--tid', '1'])).stdout);
    assert.match(params, /MaxRecvDataSegmentLength=262144/);
    const accounts = (await request(CP, { lld, mode: 'account', op: 'show' })).text;
    assert.equal(accounts, (await run('tgtadm', ['-C', String(CP), '--lld', 'iscsi', '--op', 'show', '--mode', 'account'])).stdout);
  });

  it("tgtd's errors give tgtadm's messages", async () => {
    const cases: [TgtRequest, string[]][] = [
      // a second target with tid 1
      [
        { lld: 'iscsi', mode: 'target', op: 'new', tid: 1, params: { targetname: `${IQN}-b` } },
        ['--lld', 'iscsi', '--op', 'new', '--mode', 'target', '--tid', '1', '-T', `${IQN}-b`],
      ],
      // a LUN on a missing file
      [
        { lld: 'iscsi', mode: 'logicalunit', op: 'new', tid: 1, lun: 2, params: { path: join(dir, 'missing.img'), bstype: 'rdwr' } },
        ['--lld', 'iscsi', '--op', 'new', '--mode', 'logicalunit', '--tid', '1', '--lun', '2', '-b', join(dir, 'missing.img'), '--bstype', 'rdwr'],
      ],
      // an existing LUN number
      [
        { lld: 'iscsi', mode: 'logicalunit', op: 'new', tid: 1, lun: 1, params: { path: img, bstype: 'rdwr' } },
        ['--lld', 'iscsi', '--op', 'new', '--mode', 'logicalunit', '--tid', '1', '--lun', '1', '-b', img, '--bstype', 'rdwr'],
      ],
      // a missing target, a missing account, an existing account
      [{ lld: 'iscsi', mode: 'target', op: 'delete', tid: 7 }, ['--lld', 'iscsi', '--op', 'delete', '--mode', 'target', '--tid', '7']],
      [
        { lld: 'iscsi', mode: 'account', op: 'delete', params: { user: 'nobody' } },
        ['--lld', 'iscsi', '--op', 'delete', '--mode', 'account', '--user', 'nobody'],
      ],
      [
        { lld: 'iscsi', mode: 'account', op: 'new', params: { user: 'ctl-user', password: 'another-pass1' } },
        ['--lld', 'iscsi', '--op', 'new', '--mode', 'account', '--user', 'ctl-user', '--password', 'another-pass1'],
      ],
      // an unknown driver
      [{ lld: 'nosuch', mode: 'target', op: 'show' }, ['--lld', 'nosuch', '--op', 'show', '--mode', 'target']],
    ];
    const before = await showTargets();
    for (const [req, args] of cases) {
      const ours = await clientError(req);
      const theirs = await tgtadmError(args);
      assert.equal(ours.message, theirs, `${args.join(' ')}`);
      assert.equal(typeof ours.code, 'number');
    }
    assert.equal((await clientError(cases[0]![0])).message, 'this target already exists');
    assert.equal(await showTargets(), before, 'the failed requests changed nothing');
  });

  it('a refused parameter sends nothing: tgtd is left as it was', async () => {
    const before = await showTargets();
    const forged: TgtRequest[] = [
      { lld: 'iscsi', mode: 'target', op: 'new', tid: 2, params: { targetname: 'iqn.2016-05.io.portway.test:x,initiator-address=ALL' } },
      { lld: 'iscsi', mode: 'logicalunit', op: 'new', tid: 1, lun: 3, params: { path: `${img},bstype=null`, bstype: 'rdwr' } },
      { lld: 'iscsi', mode: 'target', op: 'bind', tid: 1, params: { 'initiator-name': 'iqn.2016-05.io.portway.test:a\0,initiator-address=ALL' } },
      { lld: 'iscsi', mode: 'account', op: 'new', params: { user: 'evil,password=x', password: 'y' } },
    ];
    for (const req of forged)
      await assert.rejects(request(CP, req), (e: unknown) => e instanceof TgtError && e.code === undefined && /refused/.test(e.message));
    assert.equal(await showTargets(), before);
    assert.doesNotMatch((await request(CP, { lld: 'iscsi', mode: 'account', op: 'show' })).text, /evil/);
  });

  it('the driver serves with a CHAP password holding , and = (allowed by Portway): the right one logs in, a wrong one does not', async () => {
    const driver = new TgtDriver({ runDir: join(dir, 'run'), logDir: join(dir, 'log'), controlPortBase: 25930, log: pino({ level: 'silent' }) });
    const chap = { user: 'chap-user', password: 'a,b=c,d=ef12' };
    try {
      await driver.serve(
        DRIVER_DISK,
        {
          iqn: `${IQN}-chap`,
          backing: { bstype: 'rdwr', path: img, bsopts: '' },
          acl: '',
          chapUser: chap.user,
          chapPassword: chap.password,
          serial: 'ctl2',
        },
        [DRIVER_IP],
      );
      // libiscsi takes the URL's password as written (lunUrl's percent-encoding would be sent as is).
      const url = (password: string) => `iscsi://${chap.user}%${password}@${DRIVER_IP}/${IQN}-chap/1`;
      assert.equal(await capacity(url(chap.password)), 32 * 1024 * 1024);
      await assert.rejects(capacity(url('a,b=c,d=ef13')));
      await assert.rejects(capacity(url('a')));
      await assert.rejects(capacity(lunUrl(DRIVER_IP, `${IQN}-chap`)));
    } finally {
      const state = (() => {
        try {
          return JSON.parse(readFileSync(join(dir, 'run', `${DRIVER_DISK}.json`), 'utf8')) as { pid: number };
        } catch {
          return undefined;
        }
      })();
      await driver.stopAll();
      if (state) assert.equal(alive(state.pid), false, 'the driver stopped its tgtd');
    }
  });
});
