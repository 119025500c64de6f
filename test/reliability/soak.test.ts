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
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SimCluster } from '../harness/cluster.js';
import { haCluster, haSkip } from '../harness/suite.js';
import { waitClusterConsistent } from './lib/cluster-check.js';
import { measured } from './lib/common.js';
import { SharedDiskWatcher } from './lib/shared-watch.js';
import { modelViolations, runSoak, soakParamsFromEnv, soakTable } from './lib/soak.js';

const skip = haSkip();
// The default TTL. A killed agent's tgtds and IPs stay; if it is not back within 0.6 TTL its fence
// guard kills the tgtds and drops the IPs before the lease can expire (docs/HA.md).
const TTL = Number(process.env.SOAK_TTL ?? 10);
const params = soakParamsFromEnv();

describe('soak: 3 nodes, random disk ops, a node restarted on a schedule', { skip, timeout: (3 * params.seconds + 300) * 1000 }, () => {
  let c: SimCluster;
  let shared: SharedDiskWatcher;
  before(async () => {
    c = await haCluster({ nodes: 3, leaseTtlSeconds: TTL });
    shared = new SharedDiskWatcher(c);
    shared.start();
  });
  after(async () => {
    await shared?.stop();
    await c?.destroy();
  });

  it('ends consistent: every started path served once and answering, nothing else served, store = images = ops', async () => {
    process.stderr.write(`# soak: ${JSON.stringify(params)} (replay with SOAK_SEED=${params.seed})\n`);
    const r = await runSoak(c, { ...params, log: (l) => process.stderr.write(`${l}\n`) });
    process.stderr.write(`${soakTable(r)}\n`);
    for (const n of c.nodes) if (!n.agentPid) await n.startAgent();

    const { convergedMs, checkedMs } = await waitClusterConsistent(c, 90_000);
    measured('soak: converged after the last op', convergedMs);
    measured('soak: end state checked (INQUIRY on every path) after the last op', checkedMs);
    const list = await c.disks.list();
    assert.ok(list.ok);
    assert.deepEqual(modelViolations(r, list.disks), [], 'the store holds exactly the disks the ops left, in their state');

    const unclear = r.ops.filter((o) => o.outcome === 'unclear');
    assert.deepEqual(unclear, [], 'every failed op returned a known code and a message');
    assert.equal(r.uncertain.size, 0);
    assert.ok(r.ops.length >= 10, `ops ran (${r.ops.length})`);
    assert.ok(r.spread.size >= 1, 'a spread disk was added among the shared ones');
    assert.ok(r.ops.some((o) => o.kind === 'delete' && o.outcome === 'ok'), 'some deletes went through');
    // The run goes on past its time until minRestarts restarts began (see SoakParams.minRestarts).
    const due = Math.max(params.minRestarts, Math.ceil(params.seconds / params.restartEverySeconds) - 1);
    assert.ok(r.restarts.length >= Math.min(3, due), `${r.restarts.length} restarts of ${due} due (run ${Math.round(r.elapsedMs / 1000)} s)`);
    assert.deepEqual(r.restarts.filter((x) => x.error), [], 'every restart brought its agent back');

    await c.watcher.stop();
    assert.ok(c.watcher.rounds > 20, `the watcher sampled (${c.watcher.rounds} rounds)`);
    assert.deepEqual(c.watcher.overlaps(), [], 'no path IP was on two nodes at once');
    process.stderr.write(`# ${await shared.assertNoOverlap()}\n`);
    assert.ok(shared.rounds > 20, `the shared-disk watcher sampled (${shared.rounds} rounds)`);
  });
});
