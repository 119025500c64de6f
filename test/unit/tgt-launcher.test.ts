/**
 * The tgtd starter's xargs (src/adapters/tgt/launcher.ts), with GNU xargs and a stand-in "tgtd" (a
 * script that records its arguments): each start gets its own arguments, and an xargs whose input ends
 * empty (its agent died before writing it) starts nothing, where xargs without -r would run a bare tgtd.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { TgtdLauncher, starterArgs } from '../../src/adapters/tgt/launcher.js';
import { waitFor } from '../helpers/wait.js';

describe('tgtd starter (xargs)', () => {
  let dir: string;
  let fake: string;
  let record: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-launcher-'));
    fake = join(dir, 'fake-tgtd');
    record = join(dir, 'runs');
    writeFileSync(fake, `#!/bin/sh\necho "$#:$*" >> '${record}'\n`);
    chmodSync(fake, 0o755);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('an xargs with no input starts nothing (without -r it would run the program once, bare)', () => {
    const r = spawnSync('xargs', starterArgs(4, fake), { input: '', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(record), false, 'no start');
    // The same without -r: the bare run the flag prevents (proves the check above can fail).
    const bare = spawnSync(
      'xargs',
      starterArgs(4, fake).filter((a) => a !== '-r'),
      { input: '', encoding: 'utf8' },
    );
    assert.equal(bare.status, 0, bare.stderr);
    assert.equal(readFileSync(record, 'utf8'), '0:\n');
    rmSync(record);
  });

  it('starts of one turn go to one xargs, each with its own arguments', async () => {
    const launcher = new TgtdLauncher(fake, join(dir, 'log'), pino({ level: 'silent' }));
    const pids = await Promise.all([launcher.launch(['-f', '-C', '1'], process.env, 'e'), launcher.launch(['-f', '-C', '2'], process.env, 'e')]);
    assert.equal(pids[0], pids[1], 'one xargs');
    const runs = await waitFor(
      async () => {
        const lines = existsSync(record) ? readFileSync(record, 'utf8').trim().split('\n') : [];
        return lines.length === 2 ? lines.sort() : undefined;
      },
      { what: 'both starts', timeoutMs: 5000 },
    );
    assert.deepEqual(runs, ['3:-f -C 1', '3:-f -C 2']);
  });
});
