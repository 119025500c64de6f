/**
 * Builds the parts `portway serve` (product.ts) and `portway agent` (agent/main.ts) share from the
 * settings: the coordination store, the image store, the host network, the target driver, and the
 * agent (with its fence guard when one is given). One place, so both programs are the same program.
 *
 * The driver and agent constructors are thin pass-throughs of settings: the adapters own their options.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Agent, type AgentOptions } from '../agent/agent.js';
import { GuardClient } from '../agent/guard-client.js';
import { HostsPublisher, type HostsPublisherOptions } from '../agent/hosts-publisher.js';
import { ordinaryNice } from '../agent/priority.js';
import { EmbeddedStore } from '../adapters/coord/embedded-store.js';
import type { CoordStore } from '../adapters/coord/types.js';
import { FileImageStore } from '../adapters/images/file-store.js';
import type { ImageStore } from '../adapters/images/types.js';
import { IpRouteNetwork } from '../adapters/net/iproute.js';
import { type HostNetwork, LoopbackNetwork } from '../adapters/net/loopback.js';
import { TgtDriver } from '../adapters/tgt/tgt.js';
import type { ClusterSettingsService } from '../services/cluster-settings-service.js';
import { type Settings, SettingsError, localInterfaces } from './settings.js';

/** The image store the settings name (sparse files under stateDir, or Ceph RBD). */
export async function openImageStore(s: Settings): Promise<ImageStore> {
  if (s.images.kind === 'file') return new FileImageStore(join(s.stateDir, 'images')).init();
  const { RbdImageStore } = await import('../adapters/images/rbd-store.js');
  return new RbdImageStore(s.images);
}

/** The coordination store the settings name (embedded under stateDir, or etcd). */
export async function openCoordStore(s: Settings): Promise<CoordStore> {
  if (s.coord.kind === 'embedded') return new EmbeddedStore({ dir: join(s.stateDir, 'coord') });
  const { EtcdStore } = await import('../adapters/coord/etcd-store.js');
  const c = s.coord;
  const read = async (what: string, file: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (e) {
      throw new SettingsError(`cannot read coord.${what} ${file}: ${(e as Error).message}`);
    }
  };
  const credentials = c.ca
    ? {
        rootCertificate: await read('ca', c.ca),
        ...(c.cert && c.key ? { certChain: await read('cert', c.cert), privateKey: await read('key', c.key) } : {}),
      }
    : undefined;
  const password = c.password ?? (c.passwordFile ? (await read('passwordFile', c.passwordFile)).toString('utf8').replace(/\r?\n$/, '') : undefined);
  return new EtcdStore({
    hosts: c.endpoints,
    ...(credentials ? { credentials } : {}),
    ...(c.username && password !== undefined ? { auth: { username: c.username, password } } : {}),
  });
}

export async function openStores(s: Settings): Promise<{ store: CoordStore; images: ImageStore }> {
  const images = await openImageStore(s);
  const store = await openCoordStore(s);
  return { store, images };
}

/** The host network the settings choose for the agent. */
export function hostNetwork(s: Settings, log: Logger): HostNetwork {
  return s.net === 'iproute' ? new IpRouteNetwork({ log: log.child({ mod: 'net' }) }) : new LoopbackNetwork();
}

/** The target driver (tgtd processes), its state and logs under stateDir. */
export function targetDriver(s: Settings, log: Logger): TgtDriver {
  return new TgtDriver({
    runDir: join(s.stateDir, 'run', 'tgt'),
    logDir: join(s.stateDir, 'log'),
    controlPortBase: s.tgtControlPortBase,
    log: log.child({ mod: 'tgt' }),
    tgtdNice: ordinaryNice,
  });
}

/**
 * The fence guard client (a separate process that fences this node if the agent dies or hangs; see
 * agent/guard.ts). command: how to start the guard (tests); default `portway agent-guard`.
 */
export function fenceGuard(s: Settings, log: Logger, command?: { file: string; args: string[] }): GuardClient {
  return new GuardClient({
    runDir: join(s.stateDir, 'run'),
    logFile: join(s.stateDir, 'log', 'guard.log'),
    node: s.node,
    log: log.child({ mod: 'guard-client' }),
    ...(command ? { command } : {}),
  });
}

/** What an agent serves with, besides its settings. */
export interface AgentParts {
  store: CoordStore;
  images: ImageStore;
  target: TgtDriver;
  net: HostNetwork;
  /** The fence guard: told the agent's IPs and deadlines; a fence it reports fences the agent. */
  guard?: GuardClient;
  /** Told every sample of the node's targets (I/O counters), every fence and every reconcile's duration (metrics). */
  observer?: { onSample?: HostsPublisherOptions['onSample']; onFence?: AgentOptions['onFence']; onReconcile?: AgentOptions['onReconcile'] };
  /** The cluster settings as watched (app/cluster-config.ts): interfaces per subnet, lease TTL, version. */
  cluster?: ClusterSettingsService;
}

/** The node agent for the settings' node over `parts` (not started). */
export function buildAgent(s: Settings, parts: AgentParts, log: Logger): Agent {
  const { guard, observer, cluster, ...rest } = parts;
  const stored = cluster?.latest();
  // agent.sampling false: no sampler (no connected hosts, I/O rates or I/O counters from this node).
  const sidecar =
    s.agent.sampling === false
      ? undefined
      : new HostsPublisher({
          node: s.node,
          store: parts.store,
          target: parts.target,
          log: log.child({ mod: 'hosts' }),
          ...(observer?.onSample ? { onSample: observer.onSample } : {}),
        });
  const agent = new Agent({
    node: s.node,
    ...rest,
    ...(sidecar ? { sidecar } : {}),
    log: log.child({ mod: 'agent' }),
    leaseTtlSeconds: stored?.settings.leaseTtlSeconds ?? s.agent.leaseTtlSeconds,
    ...(cluster ? { cluster: { current: () => cluster.latest(), interfaces: localInterfaces(s) } } : {}),
    ...(s.agent.resyncSeconds ? { resyncMs: s.agent.resyncSeconds * 1000 } : {}),
    ...(s.agent.storageFencing === false ? { storageFencing: false } : {}),
    ...(s.agent.warmTargets !== undefined ? { warmTargets: s.agent.warmTargets } : {}),
    ...(guard ? { guard } : {}),
    ...(observer?.onFence ? { onFence: observer.onFence } : {}),
    ...(observer?.onReconcile ? { onReconcile: observer.onReconcile } : {}),
  });
  if (guard) guard.onFenced = (reason) => void agent.fence(`fence guard: ${reason}`);
  cluster?.onChange(() => void agent.clusterSettingsChanged().catch((e: unknown) => log.warn({ err: (e as Error).message }, 'settings version not recorded')));
  return agent;
}
