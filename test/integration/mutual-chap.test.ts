/**
 * Mutual CHAP through the real product and tgtd (docs/PRODUCT.md "Mutual CHAP"): a disk with the
 * initiator's CHAP and the target's own credentials. libiscsi (iscsi-inq) is the host: without the
 * target's secret configured it does not check the target and logs in; with the right one it checks and
 * logs in; with a wrong one it refuses the target. Edit removes and sets mutual CHAP again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExecError, run } from '../../src/adapters/exec.js';
import { ISCSI_TOOLS, lunUrl } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';

const skip = missingTools(ISCSI_TOOLS);
const INITIATOR = 'iqn.2016-05.io.portway.test:initiator';
const CHAP = { user: 'host1', password: 'Host-Secret-12' };
const TARGET = { user: 'target1', password: 'Target-Secret-9' };

/** iscsi-inq through url: true when it logged in and answered. */
async function inq(url: string): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await run('iscsi-inq', ['-i', INITIATOR, url], { timeoutMs: 20_000 });
    return { ok: true, out: r.stdout };
  } catch (e) {
    if (e instanceof ExecError) return { ok: false, out: `${e.stdout}${e.stderr}` };
    throw e;
  }
}

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'portway.ts');

const withTarget = (url: string, user: string, password: string) =>
  `${url}?target_user=${encodeURIComponent(user)}&target_password=${encodeURIComponent(password)}`;

describe('mutual CHAP (tgt outgoing account) with libiscsi', { skip, timeout: 180_000 }, () => {
  let tp: TestProduct;
  let home: string;
  before(async () => {
    tp = await startTestProduct(124);
    home = mkdtempSync(join(tmpdir(), 'pw-mutual-cli-'));
  });
  after(async () => {
    await tp?.cleanup();
    rmSync(home, { recursive: true, force: true });
  });
  const cli = async (args: string[], input?: string) => {
    try {
      const r = await run(process.execPath, ['--import', 'tsx', CLI, ...args], {
        env: { ...process.env, PORTWAY_URL: tp.product.url, PORTWAY_CLI_CONFIG: join(home, 'cli.json') },
        timeoutMs: 60_000,
        ...(input !== undefined ? { input } : {}),
      });
      return { code: 0 as number | null, out: r.stdout, err: r.stderr };
    } catch (e) {
      if (e instanceof ExecError) return { code: e.exitCode, out: e.stdout, err: e.stderr };
      throw e;
    }
  };

  it('bad mutual input: clear codes naming the field, nothing added', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ mode: 'chap', ...CHAP, targetUser: TARGET.user }, 'chap_missing', 'chap.targetPassword'],
      [{ mode: 'chap', ...CHAP, targetUser: TARGET.user, targetPassword: 'short' }, 'invalid_chap', 'chap.targetPassword'],
      [{ mode: 'chap', ...CHAP, targetUser: TARGET.user, targetPassword: CHAP.password }, 'invalid_chap', 'chap.targetPassword'],
      [{ mode: 'chap', ...CHAP, targetUser: CHAP.user, targetPassword: TARGET.password }, 'invalid_chap', 'chap.targetUser'],
      [{ mode: 'chap', ...CHAP, targetPassword: TARGET.password }, 'chap_missing', 'chap.targetUser'],
    ];
    for (const [auth, code, field] of cases) {
      const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('bad-mutual', { activePaths: 1, auth }));
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.equal(r.json.code, code, JSON.stringify(r.json));
      assert.equal(r.json.details.field, field);
    }
    assert.deepEqual((await api(tp.product, 'GET', '/api/v1/disks')).json.disks, []);
  });

  it('a host that does not check the target logs in; the right target secret is accepted; a wrong one refused', async () => {
    const r = await api(
      tp.product,
      'POST',
      '/api/v1/disks',
      addBody('mutual1', { activePaths: 1, auth: { mode: 'chap', ...CHAP, targetUser: TARGET.user, targetPassword: TARGET.password } }),
    );
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const id = r.json.disk.id as string;
    assert.equal(r.json.disk.targetChapUser, TARGET.user);
    assert.equal(JSON.stringify(r.json).includes(TARGET.password), false, 'the target secret is never returned');
    await waitFor(async () => ((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk.status === 'started' ? true : undefined), { what: 'started' });
    const ip = (await api(tp.product, 'GET', `/api/v1/disks/${id}/paths`)).json.paths[0].ip as string;
    const url = lunUrl(ip, r.json.disk.iqn, CHAP);

    const plain = await inq(url);
    assert.equal(plain.ok, true, plain.out);
    assert.match(plain.out, /PORTWAY/);
    const right = await inq(withTarget(url, TARGET.user, TARGET.password));
    assert.equal(right.ok, true, right.out);
    const wrong = await inq(withTarget(url, TARGET.user, 'Wrong-Secret-99'));
    assert.equal(wrong.ok, false, 'the host refuses a target that does not know its secret');
    const noChap = await inq(lunUrl(ip, r.json.disk.iqn));
    assert.equal(noChap.ok, false, 'the initiator CHAP still applies');

    // edit: mutual CHAP removed (same initiator CHAP): the target then cannot answer a host that checks it
    let e = await api(tp.product, 'PATCH', `/api/v1/disks/${id}`, { auth: { mode: 'chap', user: CHAP.user } });
    assert.equal(e.status, 200, JSON.stringify(e.json));
    assert.equal(e.json.disk.targetChapUser, '');
    await waitFor(async () => ((await inq(withTarget(url, TARGET.user, TARGET.password))).ok ? undefined : true), {
      what: 'mutual CHAP gone',
      timeoutMs: 30_000,
    });
    assert.equal((await inq(url)).ok, true);
    // and set again
    e = await api(tp.product, 'PATCH', `/api/v1/disks/${id}`, {
      auth: { mode: 'chap', user: CHAP.user, targetUser: TARGET.user, targetPassword: TARGET.password },
    });
    assert.equal(e.status, 200, JSON.stringify(e.json));
    await waitFor(async () => ((await inq(withTarget(url, TARGET.user, TARGET.password))).ok ? true : undefined), {
      what: 'mutual CHAP back',
      timeoutMs: 30_000,
    });
  });

  it('the CLI: add with --target-user (both secrets on stdin), an edit of other fields keeps mutual CHAP, --no-mutual removes it', async () => {
    const added = await cli(
      [
        'disk',
        'add',
        '--name',
        'mutual-cli',
        '--size',
        '1',
        '--paths',
        '1',
        '--chap-user',
        CHAP.user,
        '--chap-password-stdin',
        '--target-user',
        TARGET.user,
        '--target-password-stdin',
        '--json',
      ],
      `${CHAP.password}\n${TARGET.password}\n`,
    );
    assert.equal(added.code, 0, added.err);
    const disk = JSON.parse(added.out);
    assert.equal(disk.targetChapUser, TARGET.user);
    assert.equal(added.out.includes(TARGET.password), false);
    await waitFor(async () => ((await api(tp.product, 'GET', `/api/v1/disks/${disk.id}`)).json.disk.status === 'started' ? true : undefined), {
      what: 'started',
    });
    const ip = (await api(tp.product, 'GET', `/api/v1/disks/${disk.id}/paths`)).json.paths[0].ip as string;
    const url = lunUrl(ip, disk.iqn, CHAP);
    const right = await inq(withTarget(url, TARGET.user, TARGET.password));
    assert.equal(right.ok, true, right.out);
    assert.equal((await inq(withTarget(url, TARGET.user, 'Wrong-Secret-99'))).ok, false);

    // an edit naming only the initiator's user keeps the target's credentials (the CLI sends them on)
    const renamed = await cli(['disk', 'edit', disk.id, '--name', 'mutual-cli2', '--chap-user', CHAP.user]);
    assert.equal(renamed.code, 0, renamed.err);
    assert.equal((await api(tp.product, 'GET', `/api/v1/disks/${disk.id}`)).json.disk.targetChapUser, TARGET.user);
    assert.equal((await inq(withTarget(url, TARGET.user, TARGET.password))).ok, true);

    // a target password without a user: a usage error, nothing sent
    const noUser = await cli(['disk', 'edit', disk.id, '--no-mutual', '--target-password-stdin'], 'Other-Secret-77');
    assert.equal(noUser.code, 2);
    assert.match(noUser.err, /target password needs --target-user/);

    const removed = await cli(['disk', 'edit', disk.id, '--no-mutual']);
    assert.equal(removed.code, 0, removed.err);
    assert.equal((await api(tp.product, 'GET', `/api/v1/disks/${disk.id}`)).json.disk.targetChapUser, '');
    await waitFor(async () => ((await inq(withTarget(url, TARGET.user, TARGET.password))).ok ? undefined : true), {
      what: 'mutual CHAP gone',
      timeoutMs: 30_000,
    });
    assert.equal((await inq(url)).ok, true, 'the initiator CHAP is kept');

    // a bad target secret from the CLI: the server's code
    const bad = await cli(['disk', 'edit', disk.id, '--target-user', TARGET.user, '--target-password-stdin'], 'short');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /invalid_chap/);
  });
});
