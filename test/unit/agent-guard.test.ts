/**
 * The fence guard's pure parts (message validation, deadline state, clock conversion) and its protocol
 * end to end in this process: a Guard on a socket in a temp dir with a fake IP drop, fed by the
 * agent's GuardClient. No root, no tgtd, no `ip`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { GuardClient } from '../../src/agent/guard-client.js';
import { Guard, GuardCore, type HeldIp, deadlineFromRenewal, effectiveDeadline, isTgtdFor, monoMs, parseAgentMessage } from '../../src/agent/guard.js';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('guard: messages', () => {
  it('accepts well-formed messages and refuses everything else', () => {
    assert.deepEqual(parseAgentMessage('{"t":"deadline","at":1000.5,"inMs":2400}'), { t: 'deadline', at: 1000.5, inMs: 2400 });
    assert.deepEqual(parseAgentMessage('{"t":"hold","ips":[{"ip":"10.99.1.10","prefix":24,"eth":"eth1","x":1}]}'), {
      t: 'hold',
      ips: [{ ip: '10.99.1.10', prefix: 24, eth: 'eth1' }],
    });
    assert.deepEqual(parseAgentMessage('{"t":"release","ips":["10.99.1.10"]}'), { t: 'release', ips: ['10.99.1.10'] });
    assert.deepEqual(parseAgentMessage('{"t":"tgtds","tgtds":[{"ip":"10.99.1.10","pid":1234,"controlPort":21000}]}'), {
      t: 'tgtds',
      tgtds: [{ ip: '10.99.1.10', pid: 1234, controlPort: 21000 }],
    });
    assert.deepEqual(parseAgentMessage('{"t":"hello","pid":77,"node":"n1"}'), { t: 'hello', pid: 77, node: 'n1' });
    assert.deepEqual(parseAgentMessage('{"t":"standdown"}'), { t: 'standdown' });
    for (const bad of [
      'not json',
      'null',
      '{"t":"what"}',
      '{"t":"deadline","at":"1","inMs":1}',
      '{"t":"deadline","at":1,"inMs":1e12}',
      '{"t":"deadline","at":null,"inMs":1}',
      '{"t":"hold","ips":[{"ip":"10.99.1.300","prefix":24,"eth":"eth1"}]}',
      '{"t":"hold","ips":[{"ip":"10.99.1.10","prefix":0,"eth":"eth1"}]}',
      '{"t":"hold","ips":[{"ip":"10.99.1.10","prefix":24,"eth":"eth1; rm -rf /"}]}',
      '{"t":"hold","ips":[{"ip":"10.99.1.10","prefix":24,"eth":"-force"}]}',
      '{"t":"release","ips":["10.99.1.10/24"]}',
      '{"t":"tgtds","tgtds":[{"ip":"10.99.1.10","pid":1}]}',
      '{"t":"tgtds","tgtds":[{"ip":"10.99.1.10","pid":2.5}]}',
      '{"t":"hello","pid":77,"node":"../x"}',
    ])
      assert.equal(parseAgentMessage(bad), undefined, bad);
  });

  it('a tgtd is recognised by its command line (ip and control port), nothing else is', () => {
    const args = ['/usr/sbin/tgtd', '-f', '-C', '21050', '--iscsi', 'portal=10.99.1.10:3260'];
    assert.equal(isTgtdFor(args, '10.99.1.10', 21050), true);
    assert.equal(isTgtdFor(args, '10.99.1.10'), true);
    assert.equal(isTgtdFor(args, '10.99.1.11', 21050), false);
    assert.equal(isTgtdFor(args, '10.99.1.10', 21051), false);
    assert.equal(isTgtdFor(['/usr/bin/node', 'portal=10.99.1.10:3260', '21050'], '10.99.1.10', 21050), false, 'a recycled pid');
    assert.equal(isTgtdFor([], '10.99.1.10'), false, 'gone');
  });
});

describe('guard: deadline', () => {
  it('takes the earlier of the absolute reading and the duration from receipt', () => {
    // same clock: at is exact, recv + inMs is late by the transit time
    assert.equal(effectiveDeadline(10_000, 2_000, 8_005), 10_000);
    // the sender's clock is ahead of the guard's by 1 s: the duration wins (never later than recv + inMs)
    assert.equal(effectiveDeadline(11_000, 2_000, 8_005), 10_005);
    // already passed when received
    assert.equal(effectiveDeadline(7_000, -1_000, 8_005), 7_000);
  });

  it('converts a renewal sent at performance.now() s into CLOCK_MONOTONIC s + F, never later', () => {
    const p = performance.now();
    const m = monoMs();
    const d = deadlineFromRenewal(p - 500, 2400, p, m);
    assert.ok(d <= m - 500 + 2400, `${d} <= ${m + 1900}`);
    assert.ok(d >= m - 500 + 2400 - 5);
    // performance.now() and CLOCK_MONOTONIC advance together in one process
    const again = deadlineFromRenewal(p - 500, 2400, performance.now(), monoMs());
    assert.ok(Math.abs(again - d) < 5, `${again} vs ${d}`);
  });

  it('unarmed until a deadline; due exactly from the deadline on; the latest deadline wins; standing down is never due', () => {
    const g = new GuardCore();
    assert.equal(g.armed, false);
    assert.equal(g.due(1e12), false, 'an unarmed guard never fences');
    g.apply({ t: 'deadline', at: 1000, inMs: 600 }, 400);
    assert.equal(g.remaining(400), 600);
    assert.equal(g.due(999.9), false);
    assert.equal(g.due(1000), true);
    g.apply({ t: 'deadline', at: 1600, inMs: 600 }, 1000.5);
    assert.equal(g.due(1200), false, 'a newer deadline postpones the fence');
    assert.equal(g.due(1600), true);
    g.apply({ t: 'standdown' }, 1700);
    assert.equal(g.due(5000), false);
  });

  it('IPs stay held until released; tgtds are replaced as a whole', () => {
    const g = new GuardCore();
    const a: HeldIp = { ip: '10.99.1.10', prefix: 24, eth: 'eth1' };
    const b: HeldIp = { ip: '10.99.2.10', prefix: 24, eth: 'eth2' };
    g.apply({ t: 'hold', ips: [a] }, 0);
    g.apply({ t: 'hold', ips: [b, a] }, 0);
    assert.deepEqual([...g.held.keys()].sort(), ['10.99.1.10', '10.99.2.10']);
    g.apply({ t: 'release', ips: ['10.99.1.10', '10.99.3.3'] }, 0);
    assert.deepEqual([...g.held.values()], [b]);
    g.apply({ t: 'tgtds', tgtds: [{ ip: '10.99.2.10', pid: 100 }] }, 0);
    g.apply({ t: 'tgtds', tgtds: [] }, 0);
    assert.deepEqual(g.tgtds, []);
  });
});

describe('guard: protocol through the socket (in process)', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const setup = async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-guard-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'tgt'));
    const dropped: HeldIp[][] = [];
    const exits: number[] = [];
    const guard = new Guard({ runDir: dir, log, dropIps: async (ips) => void dropped.push(ips), exit: (c) => void exits.push(c), idleMs: 60_000 });
    assert.equal(await guard.start(), true);
    // a second guard on the same run dir sees the first one and does not start
    assert.equal(await new Guard({ runDir: dir, log, exit: () => {} }).start(), false);
    const client = new GuardClient({
      runDir: dir,
      logFile: join(dir, 'guard.log'),
      node: 'n1',
      log,
      command: { file: '/bin/false', args: [] },
      connectTimeoutMs: 2000,
    });
    assert.equal(await client.ensure(), true);
    return { dir, guard, client, dropped, exits };
  };

  it('fences at the deadline: the held IPs dropped, a recorded pid that is no tgtd left alone, the agent told', async () => {
    const { dir, guard, client, dropped, exits } = await setup();
    // a state file whose pid is this test process (pid reuse): must not be killed
    writeFileSync(join(dir, 'tgt', '10.99.1.10.json'), JSON.stringify({ ip: '10.99.1.10', pid: process.pid, controlPort: 21000 }));
    let fencedReason: string | undefined;
    client.onFenced = (r) => {
      fencedReason = r;
    };
    await client.hold([
      { ip: '10.99.1.10', prefix: 24, eth: 'eth1' },
      { ip: '10.99.2.11', prefix: 24, eth: 'eth2' },
    ]);
    await client.hold([{ ip: '10.99.2.12', prefix: 24, eth: 'eth2' }]);
    client.release(['10.99.2.12']);
    const t0 = monoMs();
    for (let i = 0; i < 4; i++) {
      client.feed(monoMs() + 150);
      await sleep(80);
      assert.equal(exits.length, 0, 'fed in time: no fence');
    }
    const lastFed = monoMs() + 150;
    client.feed(lastFed);
    for (let i = 0; i < 100 && exits.length === 0; i++) await sleep(20);
    const fencedAt = monoMs();
    assert.deepEqual(exits, [0]);
    assert.ok(fencedAt >= lastFed, 'not before the deadline');
    process.stderr.write(
      `# guard (in process): fenced ${Math.round(fencedAt - lastFed)} ms after its deadline, ${Math.round(fencedAt - t0)} ms after the first feed\n`,
    );
    assert.deepEqual(
      dropped.map((l) => l.map((h) => h.ip).sort()),
      [['10.99.1.10', '10.99.2.11']],
    );
    for (let i = 0; i < 50 && fencedReason === undefined; i++) await sleep(10);
    assert.match(fencedReason ?? '', /deadline/);
    assert.equal(guard.core.held.size, 2);
    client.close();
  });

  it('stands down on a release, never fencing; a keep-exit leaves it armed for the next agent', async () => {
    const { dir, client, dropped, exits } = await setup();
    await client.hold([{ ip: '10.99.1.20', prefix: 24, eth: 'eth1' }]);
    client.feed(monoMs() + 400);
    client.close(); // keep-exit: the agent went, the guard keeps its deadline
    await sleep(50);
    assert.equal(exits.length, 0);
    // the next agent connects and feeds in time
    const next = new GuardClient({ runDir: dir, logFile: join(dir, 'guard.log'), node: 'n1', log, command: { file: '/bin/false', args: [] } });
    assert.equal(await next.ensure(), true);
    for (let i = 0; i < 50 && !next.guardState; i++) await sleep(10);
    assert.equal(next.guardState?.armed, true, "the guard kept the first agent's deadline");
    assert.equal(next.guardState?.held, 1);
    next.feed(monoMs() + 5000);
    await sleep(500);
    assert.equal(exits.length, 0, 'the new deadline counts');
    await next.standDown();
    for (let i = 0; i < 50 && exits.length === 0; i++) await sleep(10);
    assert.deepEqual(exits, [0]);
    assert.deepEqual(dropped, [], 'standing down drops nothing');
  });
});
