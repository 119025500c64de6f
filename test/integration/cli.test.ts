/** The `portway` CLI round trip against the real product: add, list --json, show, stop, delete. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExecError, run } from '../../src/adapters/exec.js';
import { ISCSI_TOOLS } from '../helpers/iscsi.js';
import { type TestProduct, missingTools, startTestProduct } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';

const skip = missingTools(ISCSI_TOOLS);
const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'portway.ts');

describe('portway CLI', { skip }, () => {
  let tp: TestProduct;
  let home: string;
  const cli = async (args: string[]) => {
    try {
      const r = await run(process.execPath, ['--import', 'tsx', CLI, ...args], {
        env: { ...process.env, PORTWAY_URL: tp.product.url, PORTWAY_CLI_CONFIG: join(home, 'cli.json') },
        timeoutMs: 30_000,
      });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      if (e instanceof ExecError) return { code: e.exitCode, out: e.stdout, err: e.stderr };
      throw e;
    }
  };
  before(async () => {
    tp = await startTestProduct(37);
    home = mkdtempSync(join(tmpdir(), 'pw-cli-'));
  });
  after(async () => {
    await tp?.cleanup();
    rmSync(home, { recursive: true, force: true });
  });

  it('add, list --json, show, stop, delete', async () => {
    const add = await cli(['disk', 'add', '--name', 'cli1', '--size', '2', '--paths', '1', '--json']);
    assert.equal(add.code, 0, add.err);
    const id = JSON.parse(add.out).id as string;
    await waitFor(async () => (JSON.parse((await cli(['disk', 'list', '--json'])).out)[0]?.status === 'started' ? true : undefined), { what: 'started' });
    const list = JSON.parse((await cli(['disk', 'list', '--json'])).out);
    assert.deepEqual(
      list.map((d: { id: string; name: string; sizeGb: number }) => [d.id, d.name, d.sizeGb]),
      [[id, 'cli1', 2]],
    );
    const show = await cli(['disk', 'show', id]);
    assert.match(show.out, /127\.37\.1\.10 +node1 +served/);
    const human = await cli(['disk', 'list']);
    assert.match(human.out, /^ID +NAME +SIZE +STATUS/m);
    assert.match(human.out, new RegExp(`${id} +cli1 +2 GiB +started +1/1`));

    const refused = await cli(['disk', 'delete', id]);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /stop it .*\(disk_not_stopped\)/);
    assert.equal((await cli(['disk', 'stop', id])).code, 0);
    await waitFor(async () => (JSON.parse((await cli(['disk', 'list', '--json'])).out)[0]?.status === 'stopped' ? true : undefined), { what: 'stopped' });
    const del = await cli(['disk', 'delete', id]);
    assert.equal(del.code, 0, del.err);
    assert.deepEqual(JSON.parse((await cli(['disk', 'list', '--json'])).out), []);
  });

  it('bad input gets the server message and a non-zero exit; bad usage exits 2', async () => {
    const bad = await cli(['disk', 'add', '--name', 'x', '--size', 'abc']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /whole number of GiB .*\(invalid_size\)/);
    const usage = await cli(['disk', 'frobnicate']);
    assert.equal(usage.code, 2);
  });
});
