/**
 * The agent's raised CPU priority (src/agent/priority.ts) and the tgtd starter putting its children
 * back to the ordinary one (src/adapters/tgt/launcher.ts). Run in a child process of its own session
 * (so of its own autogroup): the test runner's priority is left alone. Needs root (CAP_SYS_NICE).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { isNice } from '../../src/agent/priority.js';
import { REPO, requireService } from '../helpers/services.js';

const CHILD = `
import { existsSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import pino from 'pino';
import { ordinaryNice, raiseAgentPriority } from './src/agent/priority.ts';
import { TgtdLauncher } from './src/adapters/tgt/launcher.ts';
const log = pino({ level: 'silent' });
const before = getPriority(0);
raiseAgentPriority(-7, log);
const raised = getPriority(0);
const autogroup = existsSync('/proc/self/autogroup') ? readFileSync('/proc/self/autogroup', 'utf8').trim() : null;
// the "tgtd" is sleep: started by xargs exactly as tgtds are
const launcher = new TgtdLauncher('sleep', '/dev/null', log, ordinaryNice);
const xargs = await launcher.launch(['30'], process.env, 'x');
let child;
for (let i = 0; i < 200 && !child; i++) {
  await new Promise((r) => setTimeout(r, 10));
  child = readFileSync('/proc/' + xargs + '/task/' + xargs + '/children', 'utf8').trim().split(' ')[0] || undefined;
}
const childNice = getPriority(Number(child));
process.kill(Number(child), 'SIGKILL');
raiseAgentPriority(-3, log); // never lowers
console.log(JSON.stringify({ before, raised, autogroup, childNice, again: getPriority(0), ordinary: ordinaryNice() }));
`;

describe('agent priority', () => {
  it('isNice accepts -20..19 whole numbers only', () => {
    for (const ok of [-20, -10, 0, 19]) assert.ok(isNice(ok), String(ok));
    for (const bad of [-21, 20, 1.5, '5', null, Number.NaN]) assert.ok(!isNice(bad), String(bad));
  });

  it('raises the event-loop thread and its autogroup; tgtds started through the launcher run at the ordinary priority', (t) => {
    if (requireService('root', process.getuid?.() === 0, 'raising a priority needs root (CAP_SYS_NICE)', t).skip) return;
    const r = spawnSync('setsid', ['-w', process.execPath, '--import', 'tsx', '--input-type=module', '-e', CHILD], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as {
      before: number;
      raised: number;
      autogroup: string | null;
      childNice: number;
      again: number;
      ordinary: number;
    };
    assert.ok(out.before > -7, `the test runs at an ordinary priority (nice ${out.before})`);
    assert.equal(out.raised, -7);
    if (out.autogroup !== null) assert.match(out.autogroup, /nice -7$/, 'the session autogroup is raised too');
    assert.equal(out.ordinary, out.before);
    assert.equal(out.childNice, out.before, 'a process started by the tgtd starter is back at the ordinary priority');
    assert.equal(out.again, -7, 'a later call with a weaker value does not lower it');
  });
});
