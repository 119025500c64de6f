/**
 * Issue 17 with the coordination store under a fault: the product (`portway serve`, a child process,
 * file images) on a 3-member etcd (scripts/etcd-start.sh, loopback), a shared disk served on two
 * 127.68.x portals with pw-verify writing to it through both (no network namespace), while the etcd
 * leader is SIGKILLed by PID (scripts/etcd-member.sh kill), a new leader is elected among the other two,
 * and the killed member is started again and rejoins; LEADER_KILLS rounds (default 2), each killing
 * whichever member leads then.
 *
 * Guarantee: the disk stays served through it (the agent renews its lease through the surviving members
 * within the fence time, 0.6 TTL: it does not fence, the same tgtd serves throughout, the verifier never
 * loses its session, and every readable sample of the disk's paths says served) and, read back at the
 * end, no acknowledged write is lost and none is stale.
 *
 *   node --import tsx --test test/reliability/etcd-leader-kill.test.ts    (root: tgtd; pw-verify from scripts/setup.sh)
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { GUARD_PID_FILE } from '../../src/agent/guard.js';
import { ISCSI_TOOLS, lunUrl } from '../helpers/iscsi.js';
import { missingTools } from '../helpers/product.js';
import { type EtcdCluster, etcdAvailable, startEtcd } from '../helpers/services.js';
import { type BackgroundVerifier, PW_VERIFY, startVerifier } from '../helpers/write-verifier.js';
import { type ChildProduct, childProduct, request } from './lib/child-product.js';
import { cleanupChild, measured, sleep } from './lib/common.js';
import { alive } from './lib/procs.js';

const OCTET = 68;
const PREFIX = `127.${OCTET}.`;
const TTL = 10; // the product's default lease TTL: fence after 6 s without a renewal
const ROUNDS = Math.max(1, Number(process.env.LEADER_KILLS ?? 2));
const CI = process.env.CI === 'true';
const skip =
  missingTools(ISCSI_TOOLS) ??
  (etcdAvailable() || CI ? undefined : 'etcd is not installed (apt-get install etcd-server)') ??
  (existsSync(PW_VERIFY) || CI ? undefined : `${PW_VERIFY} missing: run scripts/setup.sh`);

const t0 = Date.now();
const stage = (what: string) => process.stderr.write(`# +${((Date.now() - t0) / 1000).toFixed(1)} s ${what}\n`);

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(everyMs);
  }
}

/** Index of the member that says it leads (asked one member at a time); undefined when none answers so. */
async function leader(c: EtcdCluster, skipIdx?: number): Promise<number | undefined> {
  for (const [i, ep] of c.endpoints.entries()) {
    if (i === skipIdx) continue;
    const client = new Etcd3({ hosts: [ep], dialTimeout: 1000 });
    try {
      const st = await client.maintenance.status({ deadline: Date.now() + 1000 });
      if (st.leader !== '0' && st.leader === st.header.member_id) return i;
    } catch {
      // down or busy
    } finally {
      client.close();
    }
  }
  return undefined;
}

/** The product's JSON log lines (stdout and stderr of every start go to <state>/log/product-<n>.log). */
function productLog(p: ChildProduct): Record<string, unknown>[] {
  const dir = join(p.stateDir, 'log');
  const out: Record<string, unknown>[] = [];
  for (const f of readdirSync(dir).filter((x) => x.startsWith('product-'))) {
    for (const l of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (!l.startsWith('{')) continue;
      try {
        out.push(JSON.parse(l) as Record<string, unknown>);
      } catch {}
    }
  }
  return out;
}

/** PIDs of the product's tgtds, from their records in <state>/run/tgt/. */
function tgtdPids(p: ChildProduct): number[] {
  const dir = join(p.stateDir, 'run', 'tgt');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { pid: number }).pid)
    .sort((a, b) => a - b);
}

describe('the etcd leader killed (3 members) under a write verifier: the disk stays served, no lost or stale write', { skip, timeout: 300_000 }, () => {
  let etcd: EtcdCluster;
  let p: ChildProduct;
  let verifier: BackgroundVerifier | undefined;
  before(async () => {
    etcd = await startEtcd({ members: 3 });
    p = childProduct(OCTET, { over: { coord: { kind: 'etcd', endpoints: etcd.endpoints }, agent: { enabled: true, leaseTtlSeconds: TTL } } });
    const startMs = await p.start();
    stage(`etcd (3 members) up in ${etcd.startMs} ms; product up in ${startMs} ms`);
  });
  after(async () => {
    if (verifier) await verifier.stop().catch(() => undefined);
    await cleanupChild(p, PREFIX);
    // The guard of a stopped serve exits after the stop; one still running is stopped by PID.
    const pidFile = p ? join(p.stateDir, 'run', GUARD_PID_FILE) : '';
    if (pidFile && existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
    }
    await etcd?.stop();
  });

  it(`${ROUNDS} leader kill(s) and rejoin(s) while pw-verify writes through both paths`, async () => {
    const add = await request(p.url, 'POST', '/api/v1/disks', {
      name: 'leader-kill',
      sizeGb: 1,
      activePaths: 2,
      subnet: 3,
      ipMode: 'auto',
      acl: { mode: 'all' },
      auth: { mode: 'none' },
    });
    assert.equal(add.status, 201, JSON.stringify(add.json));
    const disk = add.json.disk as { id: string; iqn: string };
    const pathsNow = async () => {
      const r = await request(p.url, 'GET', `/api/v1/disks/${disk.id}/paths`, undefined, 5_000);
      return r.status === 200 ? (r.json.paths as { ip: string; state: string; node: string | null }[]) : undefined;
    };
    const paths = await until(
      'every path served',
      async () => {
        const ps = await pathsNow();
        return ps && ps.length === 2 && ps.every((x) => x.state === 'served') ? ps : undefined;
      },
      60_000,
    );
    const tgtds = await until('the disk has its tgtd', () => (tgtdPids(p).length ? tgtdPids(p) : undefined), 10_000);
    assert.equal(tgtds.length, 1, 'a shared disk: one tgtd for both paths');

    const lines: { t: number; line: string }[] = [];
    verifier = startVerifier({
      urls: paths.map((x) => lunUrl(x.ip, disk.iqn)),
      seconds: 0,
      blocks: 2048,
      queueDepth: 4,
      cmdTimeoutS: 10,
      giveUpS: 60,
      state: join(p.stateDir, 'verify.state'),
      onLog: (line) => {
        lines.push({ t: Date.now(), line });
        if (!/ acked \d+ \(/.test(line)) process.stderr.write(`# verifier: ${line}\n`);
      },
    });
    await verifier.waitFor(/acked [1-9]/, 60_000);
    stage(`pw-verify writing to disk ${disk.id} through ${paths.map((x) => x.ip).join(' ')} (tgtd ${tgtds[0]})`);

    // What the API says about the paths, every 250 ms, from now to the end (a failed read says nothing).
    const samples: { t: number; served?: boolean }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const ps = await pathsNow().catch(() => undefined);
        samples.push({ t: Date.now(), served: ps ? ps.every((x) => x.state === 'served') : undefined });
        await sleep(250);
      }
    })();

    const rounds: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      await sleep(3000);
      const lead = await until('a leader', () => leader(etcd), 30_000, 200);
      const pid = await etcd.pid(lead);
      assert.ok(pid, `member ${lead} has a PID`);
      const killedAt = Date.now();
      await etcd.killMember(lead);
      assert.equal(alive(pid), false, `member ${lead} (pid ${pid}) is gone`);
      const next = await until('a new leader among the other two', () => leader(etcd, lead), 30_000, 100);
      const electedMs = Date.now() - killedAt;
      // Longer than the TTL: a lease not renewed through the other members would have fenced, then expired.
      await sleep((TTL + 2) * 1000);
      const restartAt = Date.now();
      await etcd.startMember(lead);
      await until(`member ${lead} healthy again`, async () => ((await etcd.healthy(lead)) ? true : undefined), 30_000, 200);
      const rejoinMs = Date.now() - restartAt;
      await sleep(3000);
      const line = `round ${round}: leader m${lead} (pid ${pid}) SIGKILLed; m${next} elected after ${electedMs} ms; m${lead} down ${Math.round((restartAt - killedAt) / 1000)} s, healthy ${rejoinMs} ms after its start`;
      rounds.push(line);
      stage(line);
      measured('etcd leader SIGKILLed -> new leader (seen by a status probe)', electedMs);
    }

    const r = await verifier.stop();
    verifier = undefined;
    sampling = false;
    await sampler;
    const read = samples.filter((s) => s.served !== undefined);
    const notServed = read.filter((s) => !s.served);
    const log = productLog(p);
    const fenced = log.filter((e) => e.msg === 'fenced');
    const renewFailures = log.filter((e) => e.msg === 'lease renewal failed');
    const silent = Math.max(0, ...renewFailures.map((e) => Number(e.silentForMs) || 0));
    stage(
      `verifier: ${r.seconds.toFixed(0)} s, acked ${r.acked_writes}, in doubt ${r.in_doubt_writes}, reconnects ${r.reconnects}, lost ${r.lost}, stale ${r.stale}; ` +
        `path samples ${samples.length} (${samples.length - read.length} unreadable, ${notServed.length} not served); ` +
        `lease renewals failed ${renewFailures.length} (longest silence ${silent} ms, fence at ${TTL * 600} ms); fenced ${fenced.length}`,
    );
    const brief = JSON.stringify({ ...r, problems: r.problems.slice(0, 8), stderr: r.stderr.slice(-800) });
    assert.equal(r.lost, 0, `no acknowledged write lost: ${brief}`);
    assert.equal(r.stale, 0, `no stale write: ${brief}`);
    assert.equal(r.exitCode, 0, `the verifier finished clean: ${brief}`);
    assert.ok(r.acked_writes > 0, 'writes were acknowledged');
    // Served throughout: no fence, the same tgtd, the host's session never lost, the API never said otherwise.
    assert.deepEqual(fenced, [], 'the agent never fenced (its lease was renewed through the other members)');
    assert.deepEqual(tgtdPids(p), tgtds, 'the same tgtd served the disk throughout');
    assert.ok(tgtds.every(alive), 'and it still runs');
    assert.equal(
      r.reconnects,
      0,
      `the verifier never lost its session: ${lines
        .filter((l) => /session|reconnect/.test(l.line))
        .map((l) => l.line)
        .join(' | ')}`,
    );
    assert.ok(read.length > 20, `the paths were sampled (${read.length} readable samples)`);
    assert.deepEqual(notServed, [], 'every readable sample said every path served');
  });
});
