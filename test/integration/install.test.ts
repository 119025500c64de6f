/**
 * The install layout: scripts/install.sh puts the built product, its production node_modules (no dev
 * tools), the `portway` command and the systemd units (packaging/systemd) under temporary
 * directories; `systemd-analyze verify` passes on every unit with no warning; the installed command
 * answers `portway serve --help` and runs the product from the layout (plain HTTP on loopback,
 * embedded stores, no agent; stopped by PID).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/adapters/exec.js';
import { missingTools } from '../helpers/product.js';
import { REPO } from '../helpers/services.js';

const skip = missingTools(['systemd-analyze', 'npm']);

describe('install layout and systemd units', { skip }, () => {
  let root: string;
  const d = (x: string) => join(root, x);

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'pw-install-'));
    await run('bash', [join(REPO, 'scripts', 'install.sh')], {
      env: { ...process.env, PORTWAY_PREFIX: d('opt/portway'), PORTWAY_BINDIR: d('bin'), PORTWAY_UNITDIR: d('units'), PORTWAY_CONFDIR: d('etc') },
      timeoutMs: 300_000,
    });
  });
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('puts the product, production node_modules only, the command and the units in place', () => {
    assert.ok(existsSync(d('opt/portway/dist/src/cli/portway.js')));
    assert.ok(existsSync(d('opt/portway/dist/web/index.html')));
    const mods = readdirSync(d('opt/portway/node_modules'));
    assert.ok(mods.includes('fastify'));
    for (const dev of ['typescript', 'vite', 'tsx', '@biomejs', 'playwright-core']) assert.equal(mods.includes(dev), false, `no ${dev} in production`);
    assert.deepEqual(readdirSync(d('units')).sort(), ['portway-agent.service', 'portway.service']);
    for (const u of ['portway.service', 'portway-agent.service']) {
      const text = readFileSync(d(`units/${u}`), 'utf8');
      assert.match(text, /^KillMode=process$/m, `${u}: the guard and tgtds outlive a restart (docs/HA.md)`);
      assert.match(text, new RegExp(`^ExecStart=${d('bin')}/portway (serve|agent) --config ${d('etc')}/node.json$`, 'm'));
    }
  });

  it('systemd-analyze verify passes on every unit, with no warning', async () => {
    for (const u of readdirSync(d('units'))) {
      const r = await run('systemd-analyze', ['verify', d(`units/${u}`)]);
      assert.equal(r.stderr.trim(), '', `${u}: ${r.stderr}`);
    }
    // and it does catch a broken unit (the check can fail)
    const broken = readFileSync(d('units/portway.service'), 'utf8').replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/portway');
    writeFileSync(d('broken.service'), broken);
    await assert.rejects(run('systemd-analyze', ['verify', d('broken.service')]), /not executable/);
  });

  it('the installed `portway` answers --help and runs the product from the layout', async () => {
    const help = await run(d('bin/portway'), ['serve', '--help']);
    assert.match(help.stdout, /^usage: portway serve /);
    const o = 90;
    writeFileSync(
      d('etc/node.json'),
      JSON.stringify({
        node: 'node1',
        cluster: {
          iqnBase: 'iqn.2016-05.io.portway.test',
          pool: 'rbd',
          subnet1: { cidr: `127.${o}.1.0/24`, autoIpFrom: `127.${o}.1.10`, autoIpTo: `127.${o}.1.250`, eth: 'lo' },
          subnet2: { cidr: `127.${o}.2.0/24`, autoIpFrom: `127.${o}.2.10`, autoIpTo: `127.${o}.2.250`, eth: 'lo' },
        },
        agent: { enabled: false, leaseTtlSeconds: 6 },
        auth: { adminPassword: 'Correct-Horse-42' },
      }),
    );
    const child = spawn(d('bin/portway'), ['serve', '--config', d('etc/node.json'), '--state-dir', d('state'), '--listen', '127.0.0.1:0', '--plain-http'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: root,
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        let err = '';
        const timer = setTimeout(() => reject(new Error(`not ready in 30 s: ${out} ${err}`)), 30_000);
        child.stderr?.on('data', (c) => {
          err += String(c);
        });
        child.stdout?.on('data', (c) => {
          out += String(c);
          const m = /"msg":"PORTWAY_READY","url":"([^"]+)"/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1] as string);
          }
        });
        child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
      });
      const r = await fetch(`${url}/api/v1/health`);
      assert.equal(r.status, 200);
      const page = await fetch(`${url}/login`);
      assert.match(await page.text(), /<div id="root">|<script/, 'the web UI is served from the layout');
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGTERM');
      await exited;
    }
  });
});
