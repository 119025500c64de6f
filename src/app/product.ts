/**
 * `portway serve`: the parts every program shares (assemble.ts: stores, host network, target driver,
 * agent) plus what only the management node runs: the disk service, users and sessions, the API.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Agent } from '../agent/agent.js';
import type { CoordStore } from '../adapters/coord/types.js';
import type { ImageStore } from '../adapters/images/types.js';
import { buildApi } from '../api/server.js';
import { checkPassword } from '../domain/auth.js';
import { checkConfig } from '../domain/config.js';
import { AuthService } from '../services/auth-service.js';
import { DiskService } from '../services/disk-service.js';
import { Metrics } from '../services/metrics.js';
import { EventService } from '../services/event-service.js';
import { infraProbe } from '../services/infra-probe.js';
import { IoHistory } from '../services/io-history.js';
import { PathService } from '../services/path-service.js';
import { SnapshotScheduler, type SnapshotSchedulerOptions } from '../services/snapshot-scheduler.js';
import { buildAgent, fenceGuard, hostNetwork, openStores, targetDriver } from './assemble.js';
import type { GuardClient } from '../agent/guard-client.js';
import { checkMembership } from '../agent/membership.js';
import { DEFAULT_AGENT_NICE, raiseAgentPriority } from '../agent/priority.js';
import { withRedaction } from './logging.js';
import { type TlsMaterial, TlsError, loadOrMakeCert } from '../adapters/tls/certs.js';
import { type Settings, SettingsError } from './settings.js';
import { type EffectiveConfig, effectiveConfig, loadClusterSettings } from './cluster-config.js';
import type { ClusterSettingsService } from '../services/cluster-settings-service.js';
import type { ClusterConfigView } from '../api/wire.js';

export interface Product {
  url: string;
  /** HTTPS: the certificate served and its fingerprints (absent: plain HTTP). */
  tls?: { certFile: string; fingerprint256: string; spkiSha256: string };
  disks: DiskService;
  agent?: Agent;
  store: CoordStore;
  images: ImageStore;
  auth: AuthService;
  /** release: give paths back (targets removed); otherwise leave them for the next start to adopt. */
  stop(opts?: { release?: boolean }): Promise<void>;
}

/** dist/web next to the installed code (dist/src/app -> dist/web; src/app under tsx -> dist/web). */
export function defaultWebDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${'/'}dist${'/'}`) ? join(here, '..', '..', 'web') : join(here, '..', '..', 'dist', 'web');
}

/** The disk service over the settings' stores (no agent, no API). */
export async function openDiskService(
  s: Settings,
  log: Logger,
): Promise<{ disks: DiskService; store: CoordStore; images: ImageStore; cluster: ClusterSettingsService; current: EffectiveConfig }> {
  const checked = checkConfig(s.cluster);
  if (!checked.ok) throw new SettingsError(checked.message);
  const { store, images } = await openStores(s);
  let loaded: Awaited<ReturnType<typeof loadClusterSettings>>;
  try {
    // The store's cluster settings win; none there: this node's file seeds them (the first start).
    loaded = await loadClusterSettings(s, store, log);
  } catch (e) {
    await store.close();
    throw e;
  }
  const { current } = loaded;
  const disks = new DiskService({
    store,
    images,
    subnet1: current.subnet1,
    subnet2: current.subnet2,
    iqnBase: current.config.iqnBase,
    pool: current.config.pool,
    server: s.node,
    log: log.child({ mod: 'disks' }),
  });
  return { disks, store, images, cluster: loaded.service, current };
}

/** The users/sessions/audit service over a coordination store. */
export function authService(s: Settings, store: CoordStore, log: Logger): AuthService {
  return new AuthService({
    store,
    log: log.child({ mod: 'auth' }),
    sessionIdleMs: s.auth.sessionIdleSeconds * 1000,
    sessionMaxMs: s.auth.sessionMaxSeconds * 1000,
    auditMaxEntries: s.auth.auditMaxEntries,
  });
}

/** The first admin's password from the settings or PORTWAY_ADMIN_PASSWORD, checked; undefined: generate one. */
export function initialAdminPassword(s: Settings): string | undefined {
  const pw = s.auth.adminPassword ?? (process.env.PORTWAY_ADMIN_PASSWORD || undefined);
  if (pw === undefined) return undefined;
  const c = checkPassword(pw, 'admin');
  if (!c.ok) throw new SettingsError(`the first admin's password (auth.adminPassword / PORTWAY_ADMIN_PASSWORD): ${c.message}`);
  return pw;
}

export interface StartOptions {
  /**
   * The fence guard (agent/guard.ts), for a node that serves paths in a cluster (etcd): a separate
   * process that fences this node if this process dies or hangs, as `portway agent` has. `portway serve`
   * turns it on; tests that run the product inside their own process leave it off (the guard is started
   * from this process's own script). command: how to start it (default `portway agent-guard`).
   */
  guard?: boolean | { command: { file: string; args: string[] } };
  /** false: do not print the PORTWAY_TLS_CERT line (tests that run several products). */
  printTls?: boolean;
  /** Tests only (no setting): the snapshot scheduler's tick, leader lease ttl and clock. */
  scheduler?: Pick<SnapshotSchedulerOptions, 'tickMs' | 'leaseTtlSeconds' | 'now'>;
}

/** The backends as the settings page shows them (never a Ceph pool on a file backend). */
export function backendOf(s: Settings): NonNullable<ClusterConfigView['backend']> {
  return {
    images: s.images.kind === 'rbd' ? { kind: 'rbd', pool: s.images.pool } : { kind: 'file' },
    coord: s.coord.kind === 'etcd' ? { kind: 'etcd', endpoints: s.coord.endpoints } : { kind: 'embedded' },
  };
}

export async function startProduct(s: Settings, rootLog: Logger, opts: StartOptions = {}): Promise<Product> {
  // No password, token, cookie or CHAP secret in any log line, whatever logger the caller made.
  const log = withRedaction(rootLog);
  const adminPassword = s.auth.enabled ? initialAdminPassword(s) : undefined;
  const { disks, store, images, cluster, current: initial } = await openDiskService(s, log);
  let current = initial;
  const auth = authService(s, store, log);
  try {
    await cluster.start(initial.stored);
  } catch (e) {
    await store.close();
    throw e;
  }
  // A new version of the cluster settings: adds allocate and name by it at once (no restart).
  cluster.onChange((stored) => {
    try {
      current = effectiveConfig(s, stored);
      disks.setCluster({ subnet1: current.subnet1, subnet2: current.subnet2, iqnBase: current.config.iqnBase, pool: current.config.pool });
      log.info({ version: stored.version }, 'cluster settings picked up');
    } catch (e) {
      log.error({ err: (e as Error).message, version: stored.version }, 'cluster settings not usable on this node (its interfaces?)');
    }
  });
  try {
    await disks.recoverInterruptedAdds();
  } catch (e) {
    await store.close();
    throw e;
  }
  if (s.auth.enabled) {
    try {
      // The one line with the generated password goes to stdout, never to the structured log.
      await auth.bootstrap({ ...(adminPassword !== undefined ? { adminPassword } : {}), print: (line) => process.stdout.write(`${line}\n`) });
      await auth.pruneAudit();
    } catch (e) {
      await store.close();
      throw e;
    }
  }
  // The certificate before anything is served: a bad cert/key stops the start with nothing half-done.
  let tls: TlsMaterial | undefined;
  if (s.tls.enabled) {
    try {
      tls = await loadOrMakeCert({
        ...(s.tls.cert !== undefined ? { certFile: s.tls.cert } : {}),
        ...(s.tls.key !== undefined ? { keyFile: s.tls.key } : {}),
        dir: join(s.stateDir, 'tls'),
        listenHost: s.listenHost,
        ...(s.tls.altNames ? { altNames: s.tls.altNames } : {}),
      });
    } catch (e) {
      await disks.close();
      await store.close();
      throw e instanceof TlsError ? new SettingsError(e.message) : e;
    }
    // Not a secret: what a client pins or a browser is told to trust (stdout, like the first admin's password).
    if (opts.printTls !== false)
      process.stdout.write(
        `PORTWAY_TLS_CERT ${tls.generated ? 'made (self-signed)' : 'loaded'} ${tls.certFile} sha256=${tls.fingerprint256} spki-sha256=${tls.spkiSha256}\n`,
      );
  }
  const metrics = new Metrics({
    store,
    node: s.node,
    log: log.child({ mod: 'metrics' }),
    diskStatuses: async () => {
      const r = await disks.list();
      return r.ok ? r.disks.map((d) => d.status) : undefined;
    },
  });
  await metrics.start();
  const infra = infraProbe({ store, images, log: log.child({ mod: 'infra' }) });
  const events = new EventService({ store, log: log.child({ mod: 'events' }), ...(infra ? { infra } : {}) });
  await events.start();
  const io = new IoHistory({ store, log: log.child({ mod: 'io' }) });
  await io.start();
  let agent: Agent | undefined;
  let guard: GuardClient | undefined;
  if (s.agent.enabled) {
    // A node that left (or never joined) a cluster of members takes no path (agent/membership.ts).
    if (s.coord.kind === 'etcd') await checkMembership(store, s.node);
    // A node of a cluster that serves paths runs the fence guard, like any agent node: without it, a
    // crashed or hung `serve` would leave its IPs live while another node takes them. (One box: no
    // other node can take them.)
    if (s.coord.kind === 'etcd' && opts.guard) {
      raiseAgentPriority(s.agent.nice ?? DEFAULT_AGENT_NICE, log);
      guard = fenceGuard(s, log, typeof opts.guard === 'object' ? opts.guard.command : undefined);
      await mkdir(join(s.stateDir, 'log'), { recursive: true });
      void guard.ensure();
    }
    const observer = {
      onSample: (samples: Parameters<Metrics['addIoSample']>[0]) => metrics.addIoSample(samples),
      onReconcile: (seconds: number, ok: boolean) => metrics.reconcileDuration.observe({ node: s.node, result: ok ? 'ok' : 'error' }, seconds),
      onFence: (info: { reason: string }) => {
        metrics.fences.inc({ node: s.node });
        events.fence(s.node, info.reason);
      },
    };
    agent = buildAgent(s, { store, images, target: targetDriver(s, log), net: hostNetwork(s, log), observer, cluster, ...(guard ? { guard } : {}) }, log);
    await agent.start();
  }
  // Snapshot schedules: every server runs a scheduler; the one holding the leader key acts.
  const scheduler = new SnapshotScheduler({
    store,
    snapshots: disks.snapshots,
    node: s.node,
    log: log.child({ mod: 'snapshot-scheduler' }),
    audit: auth.appendAudit,
    events,
    ...opts.scheduler,
  });
  const paths = new PathService({ store, log: log.child({ mod: 'paths' }) });
  const app = await buildApi({
    disks,
    paths,
    config: current.config,
    subnet1: current.subnet1,
    subnet2: current.subnet2,
    current: () => ({ ...current, backend: backendOf(s) }),
    clusterSettings: cluster,
    log: log.child({ mod: 'api' }),
    webDir: s.webDir ?? defaultWebDir(),
    auth: { service: auth, enabled: s.auth.enabled, secureCookie: s.auth.secureCookie },
    loginLimit: s.auth.login,
    metrics,
    ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
    events,
    io,
  });
  await app.listen({ host: s.listenHost, port: s.listenPort });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : s.listenPort;
  const url = `${tls ? 'https' : 'http'}://${s.listenHost.includes(':') ? `[${s.listenHost}]` : s.listenHost}:${port}`;
  scheduler.start();
  log.info({ url, node: s.node, images: s.images.kind, coord: s.coord.kind }, 'portway is up');
  let stopped = false;
  return {
    url,
    ...(tls ? { tls: { certFile: tls.certFile, fingerprint256: tls.fingerprint256, spkiSha256: tls.spkiSha256 } } : {}),
    disks,
    ...(agent ? { agent } : {}),
    store,
    images,
    auth,
    async stop(opts = {}) {
      if (stopped) return;
      stopped = true;
      // In-flight requests finish (new ones are refused), adds under way complete, then paths go.
      // The agent stops taking work first: paths it would start now would only be given back.
      agent?.beginStop();
      await app.close();
      await scheduler.stop();
      await disks.drain();
      guard?.endReconnects();
      await agent?.stop({ release: opts.release ?? true });
      // Released: the guard stands down. Kept: it keeps its deadline for the next start (or fences).
      if (guard) {
        if (opts.release ?? true) await guard.standDown();
        else guard.close();
      }
      await io.close();
      await events.close();
      await metrics.close();
      await cluster.close();
      await disks.close();
      await store.close();
    },
  };
}
