/**
 * `portway agent`: the node agent alone (no API, no disk service), for a node of a cluster. The
 * coordination store must be etcd (an embedded store is one process's), the image store is the one the
 * settings name, and the host network is `net` (iproute on a cluster node).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import type { CoordStore } from '../adapters/coord/types.js';
import { buildAgent, fenceGuard, hostNetwork, openStores, targetDriver } from '../app/assemble.js';
import { createLogger } from '../app/logging.js';
import { type Settings, SettingsError, checkSettings, loadSettings } from '../app/settings.js';
import type { Agent } from './agent.js';
import { loadClusterSettings } from '../app/cluster-config.js';
import type { ClusterSettingsService } from '../services/cluster-settings-service.js';
import { checkMembership, whenRemoved } from './membership.js';
import { DEFAULT_AGENT_NICE, raiseAgentPriority } from './priority.js';

export interface RunningAgent {
  agent: Agent;
  store: CoordStore;
  /** 'member': the node joined with `node join` (its agent stops when `node leave` removes it). */
  membership: 'member' | 'no-members';
  /** release: give every path back; otherwise leave targets and keys for the next start to adopt. */
  stop(opts: { release: boolean }): Promise<void>;
}

export interface AgentProcessOptions {
  /** false: no fence guard (tests that run the agent inside their own process); command: how to start it. */
  guard?: false | { command?: { file: string; args: string[] } };
  /** false (`portway node join`): cluster settings must be in the store already (no seeding from the file). */
  seed?: boolean;
}

export async function startAgentProcess(s: Settings, log: Logger, opts: AgentProcessOptions = {}): Promise<RunningAgent> {
  if (s.coord.kind !== 'etcd') throw new SettingsError('portway agent needs coord.kind "etcd" (the embedded store lives in one process)');
  // Calls keep etcd's usual deadline: a slow renewal that does come back in time still counts, and
  // the fence watchdog does not wait for any call (a short deadline only turned slowness into fences).
  raiseAgentPriority(s.agent.nice ?? DEFAULT_AGENT_NICE, log);
  const { store, images } = await openStores(s);
  // A node that left (or never joined) a cluster of members takes no path.
  let membership: 'member' | 'no-members';
  try {
    membership = await checkMembership(store, s.node);
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
  // The cluster settings: the store's (seeded from this file if none: a cluster of files from before),
  // watched: a change reaches this agent without a restart.
  let cluster: ClusterSettingsService;
  try {
    cluster = (await loadClusterSettings(s, store, log, opts.seed === false ? { seed: false } : {})).service;
    const first = await cluster.get();
    if (first) await cluster.start(first);
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
  const target = targetDriver(s, log);
  const net = hostNetwork(s, log);
  // The fence guard: a separate process that fences this node if this one dies or hangs (guard.ts).
  // Connecting (and starting it, if no guard of an earlier run answers) runs alongside the join.
  const guard = opts.guard === false ? undefined : fenceGuard(s, log, opts.guard?.command);
  if (guard) {
    await mkdir(join(s.stateDir, 'log'), { recursive: true });
    void guard.ensure();
  }
  // etcd may be unreachable or slow at boot: try again until the agent is in (or the process stops).
  let agent: Agent;
  for (let attempt = 1; ; attempt++) {
    agent = buildAgent(s, { store, images, target, net, cluster, ...(guard ? { guard } : {}) }, log);
    try {
      await agent.start();
      break;
    } catch (e) {
      // keep whatever a previous run left serving: the next attempt adopts it
      await agent.stop({ release: false }).catch(() => {});
      log.warn({ attempt, err: (e as Error).message }, 'agent start failed, retrying');
      if (attempt >= 30) {
        guard?.close();
        await cluster.close().catch(() => {});
        await store.close().catch(() => {});
        throw e;
      }
      await new Promise((r) => setTimeout(r, Math.min(5000, 500 * attempt)));
    }
  }
  let stopped = false;
  return {
    agent,
    store,
    membership,
    async stop(opts) {
      if (stopped) return;
      stopped = true;
      guard?.endReconnects();
      await agent.stop(opts);
      // Released: the guard stands down. Kept: it keeps its deadline for the next start (or fences).
      if (guard) {
        if (opts.release) await guard.standDown();
        else guard.close();
      }
      await cluster.close();
      await store.close();
    },
  };
}

/**
 * `portway agent [--config FILE] [--state-dir DIR] [--node NAME]`. Prints one line
 * {"msg":"PORTWAY_AGENT_READY",...} once it has joined and reconciled. SIGTERM/SIGINT give the paths
 * back; SIGQUIT exits leaving targets served and keys under the lease, for the next start to adopt.
 */
export async function agentCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, 'state-dir': { type: 'string' }, node: { type: 'string' } } });
  const s = await loadSettings(values.config);
  if (values['state-dir']) s.stateDir = values['state-dir'];
  if (values.node) s.node = values.node;
  checkSettings(s);
  const log = createLogger();
  const running = await startAgentProcess(s, log);
  process.stdout.write(`${JSON.stringify({ msg: 'PORTWAY_AGENT_READY', node: s.node, pid: process.pid })}\n`);
  let stopping = false;
  const stop = async (sig: string, release: boolean) => {
    if (stopping) return;
    stopping = true;
    log.info({ sig, release }, release ? 'stopping: releasing paths' : 'stopping: leaving paths for the next start');
    try {
      await running.stop({ release });
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGINT', () => void stop('SIGINT', true));
  process.on('SIGTERM', () => void stop('SIGTERM', true));
  process.on('SIGQUIT', () => void stop('SIGQUIT', false));
  // `portway node leave` drained this node and removed it: give back what is left and exit 0 (a
  // systemd unit with Restart=on-failure stays stopped).
  if (running.membership === 'member') await whenRemoved(running.store, s.node, () => void stop('removed from the cluster (node leave)', true));
}
