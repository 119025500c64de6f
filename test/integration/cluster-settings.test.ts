/**
 * Cluster settings in the coordination store, end to end on one box (embedded store, real agent and
 * tgtd): `portway settings show|set` through the API, the agent picking the new version up without a
 * restart (its node record's settingsVersion), the disk service allocating from the new range at once,
 * a change that would strand a served IP refused with its code, and the store's settings winning over
 * the node file after a restart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExecError, run } from '../../src/adapters/exec.js';
import { ISCSI_TOOLS } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';

const skip = missingTools(ISCSI_TOOLS);
const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'portway.ts');
const O = 47;

describe('cluster settings: CLI, agent, disk service', { skip }, () => {
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
  const nodeVersion = async () => (await api(tp.product, 'GET', '/api/v1/nodes')).json.nodes.find((n: { name: string }) => n.name === 'node1')?.settingsVersion;

  before(async () => {
    tp = await startTestProduct(O);
    home = mkdtempSync(join(tmpdir(), 'pw-settings-'));
  });
  after(async () => {
    await tp?.cleanup();
    rmSync(home, { recursive: true, force: true });
  });

  it('show: the settings the first start seeded from the node file, version 1; the agent works with it', async () => {
    const show = await cli(['settings', 'show']);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /^version +1 /m);
    assert.match(show.out, new RegExp(`subnet 1 +127\\.${O}\\.1\\.0/24, automatic 127\\.${O}\\.1\\.10-127\\.${O}\\.1\\.250`));
    await waitFor(async () => (await nodeVersion()) === 1, { what: 'node1 on settings version 1' });
  });

  it('set: a new automatic range reaches the agent and the next add without a restart', async () => {
    const first = await api(tp.product, 'POST', '/api/v1/disks', addBody('before', { activePaths: 1 }));
    assert.equal(first.status, 201, JSON.stringify(first.json));
    const set = await cli(['settings', 'set', '--subnet1-range', `127.${O}.1.100-127.${O}.1.120`]);
    assert.equal(set.code, 0, set.err);
    assert.match(set.out, /now at version 2/);
    assert.match(set.out, new RegExp(`subnet1\\.autoIpFrom: 127\\.${O}\\.1\\.10 -> 127\\.${O}\\.1\\.100`));
    await waitFor(async () => (await nodeVersion()) === 2, { what: "node1's agent on settings version 2" });
    const add = await api(tp.product, 'POST', '/api/v1/disks', addBody('after', { activePaths: 1 }));
    assert.equal(add.status, 201, JSON.stringify(add.json));
    const id = add.json.disk.id as string;
    await waitFor(async () => (await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk?.status === 'started', {
      what: 'the new disk served',
      timeoutMs: 30_000,
      detail: () => 'see log',
    });
    const paths = await api(tp.product, 'GET', `/api/v1/disks/${id}/paths`);
    assert.equal(paths.json.paths[0].ip, `127.${O}.1.100`);
  });

  it('refuses a subnet that would strand a served IP, and bad input, with their codes; nothing changes', async () => {
    const strand = await cli(['settings', 'set', '--subnet1', `127.${O + 1}.1.0/24`, '--subnet1-range', `127.${O + 1}.1.10-127.${O + 1}.1.20`]);
    assert.equal(strand.code, 1);
    assert.match(strand.err, /outside their subnet.*\(settings_strand_ip\)/);
    const bad = await cli(['settings', 'set', '--lease-ttl', '1']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /invalid_settings/);
    const usage = await cli(['settings', 'set', '--subnet2-range', 'nonsense']);
    assert.equal(usage.code, 2);
    const stale = await cli(['settings', 'set', '--lease-ttl', '7', '--version', '1']);
    assert.match(stale.err, /settings_version_conflict/);
    const show = JSON.parse((await cli(['settings', 'show', '--json'])).out);
    assert.equal(show.version, 2);
  });

  it("after a restart the store's settings win over the node file's", async () => {
    await tp.restart({ release: false });
    const show = JSON.parse((await cli(['settings', 'show', '--json'])).out);
    assert.equal(show.version, 2);
    assert.equal(show.settings.subnet1.autoIpFrom, `127.${O}.1.100`);
    const cfg = await api(tp.product, 'GET', '/api/v1/config');
    assert.equal(cfg.json.subnet1.autoIpFrom, `127.${O}.1.100`);
    assert.equal(cfg.json.subnet1.eth, 'lo');
  });
});
