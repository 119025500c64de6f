/**
 * The 3-node soak, CI length (issue #8): random add / stop / start / delete / edit through DiskService
 * on the simulated cluster (real agents and tgtds in network namespaces, etcd) for SOAK_SECONDS
 * (default 90) and at most SOAK_MAX_OPS ops, while a node is restarted every SOAK_RESTART_EVERY_S
 * (default 25): the agent SIGKILLed by PID (its fence guard cleans up if it is not back in time), SIGTERM,
 * or a reboot (cables pulled), alternating.
 * Disks are shared (the default: every path on one node, in one tgtd), with one spread disk among them
 * (lib/soak.ts). An IP watcher samples every node's addresses throughout, and a shared-disk watcher
 * (lib/shared-watch.ts) every node's tgtds: no path IP on two nodes, no shared disk on two nodes.
 *
 * Afterwards, within a bounded wait: every started disk's paths are served exactly once, by a live
 * node, and answer INQUIRY from the client; a shared disk's paths all on one node; stopped disks serve
 * nothing; store, images and tgtds are consistent (shared checker: no orphan image, no disk without
 * image, no IP twice); the store holds exactly the disks the successful ops left; every failed op got
 * a clear code. The full-length run is bench/soak.ts (same code).
 *
 * Issue 17 through the soak: a dedicated shared disk (2 paths, one per subnet) that the random ops never
 * touch has pw-verify writing to it from the client namespace, through both path URLs, for the whole
 * soak. Before each restart the disk is moved onto the node about to go down (PathService.move), so
 * every restart kind (SIGKILL, SIGTERM, reboot) hits it under I/O, and each move is a path change under
 * I/O too. At the end the verifier is stopped and reads the region back: 0 lost, 0 stale. --cmd-timeout
 * 10 s (a portal that stops answering without closing the connection is left after 10 s; a killed or
 * stopped tgtd closes it at once), --give-up 120 s (the longest expected outage, a reboot or a fenced
 * kill on a loaded box, is TTL + takeover, 15-45 s). Should it give up all the same, that is a failure only if the store said the disk served
 * (= answering) for more than 50 s of the give-up window; otherwise the next run goes on from the
 * state file (--continue) once the disk answers again, so the read-back still covers the whole soak.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SimCluster } from '../harness/cluster.js';
import { haCluster, haSkip } from '../harness/suite.js';
import { PW_VERIFY } from '../helpers/write-verifier.js';
import { waitClusterConsistent } from './lib/cluster-check.js';
import { measured } from './lib/common.js';
import { SharedDiskWatcher } from './lib/shared-watch.js';
import { type SoakVerifier, modelViolations, runSoak, soakParamsFromEnv, soakTable, startSoakVerifier } from './lib/soak.js';

// pw-verify is built by scripts/setup.sh; in CI a missing one fails the test (startVerifier throws).
const skip = haSkip() ?? (existsSync(PW_VERIFY) || process.env.CI === 'true' ? undefined : `${PW_VERIFY} missing: run scripts/setup.sh`);
const CMD_TIMEOUT_S = 10;
const GIVE_UP_S = 120;
// The default TTL. A killed agent's tgtds and IPs stay; if it is not back within 0.6 TTL its fence
// guard kills the tgtds and drops the IPs before the lease can expire (docs/HA.md).
const TTL = Number(process.env.SOAK_TTL ?? 10);
const params = soakParamsFromEnv();

describe('soak: 3 nodes, random disk ops, a node restarted on a schedule', { skip, timeout: (3 * params.seconds + 300) * 1000 }, () => {
  let c: SimCluster;
  let shared: SharedDiskWatcher;
  let verifier: SoakVerifier | undefined;
  before(async () => {
    c = await haCluster({ nodes: 3, leaseTtlSeconds: TTL });
    shared = new SharedDiskWatcher(c);
    shared.start();
  });
  after(async () => {
    verifier?.abort();
    await shared?.stop();
    await c?.destroy();
  });

  it('ends consistent: every started path served once and answering, nothing else served, store = images = ops; the verified disk lost no write and got no stale one', async () => {
    process.stderr.write(`# soak: ${JSON.stringify(params)} (replay with SOAK_SEED=${params.seed})\n`);
    const log = (l: string) => process.stderr.write(`${l}\n`);

    // The verified disk: shared (the default), one path per subnet; not in the soak's model, so no op touches it.
    const add = await c.disks.add({
      name: 'soak-verified',
      sizeGb: 1,
      activePaths: 2,
      subnet: 3,
      ipMode: 'auto',
      acl: { mode: 'all' },
      auth: { mode: 'none' },
    });
    assert.ok(add.ok, JSON.stringify(add));
    const vd = { id: add.disk.id, iqn: add.disk.iqn };
    const vpaths = await c.waitServed(vd.id, 60_000);
    await c.waitAnswering(vpaths, vd.iqn, vd.id, 60_000);
    verifier = startSoakVerifier(c, {
      disk: vd,
      urls: vpaths.map((p) => c.lunUrl(p.ip, vd.iqn)),
      state: join(c.dir, 'soak-verify.state'),
      blocks: 2048,
      queueDepth: 4,
      cmdTimeoutS: CMD_TIMEOUT_S,
      giveUpS: GIVE_UP_S,
      servedGraceMs: 50_000,
      log,
    });
    await verifier.started;
    log(`# soak: verifier writing to disk ${vd.id} (on ${vpaths[0]?.node}) through ${vpaths.map((p) => p.ip).join(' ')}`);
    const moves: { node: string; kind: string; moved: boolean; line: string }[] = [];
    const r = await runSoak(c, {
      ...params,
      log,
      // The verified disk onto the node about to restart, so every restart kind hits it under I/O.
      beforeRestart: async (node, kind) => {
        const t = Date.now();
        const m = await c.paths.move(vd.id, 1, node.name);
        const moved = m.ok && m.moves.some((x) => x.moved);
        const there = !m.ok && m.code === 'path_on_node_already'; // a move to where it is is refused, not done
        const line = `${node.name} (${kind}): ${m.ok || there ? `${moved ? 'moved' : 'there already'} in ${Date.now() - t} ms` : `${m.code}: ${m.message}`}`;
        moves.push({ node: node.name, kind, moved, line });
        log(`# soak: verified disk onto ${line}`);
      },
    });
    process.stderr.write(`${soakTable(r)}\n`);
    for (const n of c.nodes) if (!n.agentPid) await n.startAgent();

    const { convergedMs, checkedMs } = await waitClusterConsistent(c, 90_000);
    measured('soak: converged after the last op', convergedMs);
    measured('soak: end state checked (INQUIRY on every path) after the last op', checkedMs);

    const v = await verifier.stop();
    log(
      `# soak verifier: ${Math.round(v.ms / 1000)} s, acked ${v.acked}, in doubt ${v.inDoubt}, reconnects ${v.reconnects}, lost ${v.lost}, stale ${v.stale}; ` +
        `${v.runs} run(s), give-ups ${v.giveUps.length ? JSON.stringify(v.giveUps) : 'none'}; --cmd-timeout ${CMD_TIMEOUT_S} --give-up ${GIVE_UP_S}; ` +
        `moves before restarts: ${moves.map((m) => m.line).join('; ') || 'none'}`,
    );
    const brief = JSON.stringify({ ...v.final, problems: v.final.problems.slice(0, 8), stderr: v.final.stderr.slice(-800) });
    assert.equal(v.error, undefined, `the verifier ran to the end: ${brief}`);
    assert.deepEqual(
      v.giveUps.filter((g) => g.whileServed),
      [],
      'the verifier never gave up while the store said the disk was served',
    );
    assert.equal(v.lost, 0, `no acknowledged write lost: ${brief}`);
    assert.equal(v.stale, 0, `no stale write: ${brief}`);
    assert.equal(v.final.exitCode, 0, `the read-back finished clean: ${brief}`);
    assert.ok(v.acked > 0, 'the verifier had writes acknowledged');
    if (moves.some((m) => m.moved)) assert.ok(v.reconnects >= 1, 'the disk moved under the verifier: it reconnected');

    const list = await c.disks.list();
    assert.ok(list.ok);
    assert.equal(list.disks.find((d) => d.id === vd.id)?.status, 'started', 'the verified disk is started');
    assert.deepEqual(
      modelViolations(
        r,
        list.disks.filter((d) => d.id !== vd.id),
      ),
      [],
      'the store holds exactly the disks the ops left, in their state',
    );

    const unclear = r.ops.filter((o) => o.outcome === 'unclear');
    assert.deepEqual(unclear, [], 'every failed op returned a known code and a message');
    assert.equal(r.uncertain.size, 0);
    assert.ok(r.ops.length >= 10, `ops ran (${r.ops.length})`);
    assert.ok(r.spread.size >= 1, 'a spread disk was added among the shared ones');
    assert.ok(
      r.ops.some((o) => o.kind === 'delete' && o.outcome === 'ok'),
      'some deletes went through',
    );
    // The run goes on past its time until minRestarts restarts began (see SoakParams.minRestarts).
    const due = Math.max(params.minRestarts, Math.ceil(params.seconds / params.restartEverySeconds) - 1);
    assert.ok(r.restarts.length >= Math.min(3, due), `${r.restarts.length} restarts of ${due} due (run ${Math.round(r.elapsedMs / 1000)} s)`);
    assert.deepEqual(
      r.restarts.filter((x) => x.error),
      [],
      'every restart brought its agent back',
    );

    await c.watcher.stop();
    assert.ok(c.watcher.rounds > 20, `the watcher sampled (${c.watcher.rounds} rounds)`);
    assert.deepEqual(c.watcher.overlaps(), [], 'no path IP was on two nodes at once');
    process.stderr.write(`# ${await shared.assertNoOverlap()}\n`);
    assert.ok(shared.rounds > 20, `the shared-disk watcher sampled (${shared.rounds} rounds)`);
  });
});
