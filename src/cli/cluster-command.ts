/**
 * Bringing nodes into a cluster and out of it, with the node's own file (a few lines: its name, etcd's
 * endpoints and credentials, the Ceph client config, its interface per subnet):
 *
 *   portway cluster init  first node: checks etcd (and Ceph), writes the cluster settings (version 1),
 *                         makes the first admin (password printed once, or PORTWAY_ADMIN_PASSWORD),
 *                         registers the node. Run again: says what is there already, changes nothing.
 *   portway node join     any node: checks etcd, the cluster settings, Ceph, its interfaces; registers
 *                         itself (members/<name>) and serves (the agent) until it is told to leave.
 *   portway node leave    drains the node (its paths move to others), removes it from the members; a
 *                         `node join` serving there stops once it is removed.
 *
 * Every missing piece is a clear message with a stable code (ClusterCommandError.code), nothing half-done.
 */
import { access } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import type { CoordStore } from '../adapters/coord/types.js';
import type { ImageStore } from '../adapters/images/types.js';
import { openCoordStore, openImageStore } from '../app/assemble.js';
import { fileClusterSettings } from '../app/cluster-config.js';
import { createLogger } from '../app/logging.js';
import { authService, initialAdminPassword } from '../app/product.js';
import { type Settings, SettingsError, checkSettings, loadSettings, localInterfaces } from '../app/settings.js';
import { type ClusterSettings, type MemberRecord, applyPatch, settingsChanges } from '../domain/cluster-settings.js';
import { CLUSTER_SETTINGS, drainedKey, memberKey, nodeKey } from '../domain/keys.js';
import { readRecord, recordJson } from '../domain/records.js';
import { ClusterSettingsService } from '../services/cluster-settings-service.js';
import { PathService } from '../services/path-service.js';
import { sleep } from '../util/async.js';
import { errText } from '../util/errors.js';

export const CLUSTER_USAGE = `  portway cluster init --config FILE [--iqn-base IQN] [--pool POOL] [--subnet1 CIDR --subnet1-range FROM-TO]
                       [--subnet2 CIDR --subnet2-range FROM-TO] [--lease-ttl SECONDS]
                 first node: cluster settings into etcd, the first admin (PORTWAY_ADMIN_PASSWORD or printed once)
  portway node join --config FILE [--register-only]   check etcd, Ceph, interfaces; register; serve
  portway node leave --config FILE [--node NAME] [--timeout SECONDS]   drain the node, then remove it`;

export type ClusterErrorCode =
  | 'usage'
  | 'coord_unreachable'
  | 'storage_unreachable'
  | 'cluster_not_initialised'
  | 'cluster_settings_differ'
  | 'interface_missing'
  | 'not_a_cluster_store'
  | 'node_not_found'
  | 'drain_timeout'
  | 'invalid_settings';

export class ClusterCommandError extends Error {
  constructor(
    readonly code: ClusterErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const OPTIONS = {
  config: { type: 'string' },
  'state-dir': { type: 'string' },
  node: { type: 'string' },
  'iqn-base': { type: 'string' },
  pool: { type: 'string' },
  subnet1: { type: 'string' },
  'subnet1-range': { type: 'string' },
  subnet2: { type: 'string' },
  'subnet2-range': { type: 'string' },
  'lease-ttl': { type: 'string' },
  'register-only': { type: 'boolean' },
  timeout: { type: 'string' },
} as const;
type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

/** A step that must answer in time: etcd or Ceph that does not answer is a clear error, not a hang. */
async function within<T>(ms: number, what: string, code: ClusterErrorCode, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ClusterCommandError(code, `${what}: no answer within ${ms / 1000} s`)), ms);
      }),
    ]);
  } catch (e) {
    if (e instanceof ClusterCommandError) throw e;
    throw new ClusterCommandError(code, `${what}: ${errText(e)}`);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

async function nodeSettings(v: Values): Promise<Settings> {
  const s = await loadSettings(v.config);
  if (v['state-dir']) s.stateDir = v['state-dir'];
  if (v.node) s.node = v.node;
  return checkSettings(s);
}

function endpointsOf(s: Settings): string {
  return s.coord.kind === 'etcd' ? `etcd at ${s.coord.endpoints.join(', ')}` : `the embedded store in ${s.stateDir}`;
}

/** Opens the coordination store and reads once: unreachable, wrong credentials, bad TLS are all said here. */
async function reachStore(s: Settings): Promise<CoordStore> {
  const store = await openCoordStore(s).catch((e: unknown) => {
    throw e instanceof SettingsError ? e : new ClusterCommandError('coord_unreachable', `cannot open ${endpointsOf(s)}: ${errText(e)}`);
  });
  try {
    await within(15_000, `cannot reach ${endpointsOf(s)}`, 'coord_unreachable', store.get(CLUSTER_SETTINGS));
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
  return store;
}

/** Ceph (or the image directory) answers a listing. */
async function reachImages(s: Settings): Promise<ImageStore> {
  const what = s.images.kind === 'rbd' ? `cannot reach Ceph (pool ${s.images.pool}, ${s.images.conf})` : 'cannot open the image directory';
  const images = await within(30_000, what, 'storage_unreachable', openImageStore(s));
  await within(30_000, what, 'storage_unreachable', images.list());
  return images;
}

/** The node's interface per subnet exists on this host (iproute nodes; loopback nodes use lo). */
async function checkInterfaces(s: Settings): Promise<{ subnet1: string; subnet2: string }> {
  const eth = localInterfaces(s);
  if (s.net !== 'iproute') return eth;
  for (const [n, name] of [
    [1, eth.subnet1],
    [2, eth.subnet2],
  ] as const) {
    try {
      await access(`/sys/class/net/${name}`);
    } catch {
      throw new ClusterCommandError(
        'interface_missing',
        `interface ${name} (iSCSI subnet ${n}, interfaces.subnet${n} in the node file) does not exist on this host`,
      );
    }
  }
  return eth;
}

async function register(store: CoordStore, s: Settings, interfaces: { subnet1: string; subnet2: string }): Promise<boolean> {
  const key = memberKey(s.node);
  const had = await store.get(key);
  const rec: MemberRecord = {
    name: s.node,
    joinedAt: (had && (readRecord('member', had.value)?.joinedAt as string | undefined)) || new Date().toISOString(),
    interfaces,
  };
  await store.put(key, recordJson('member', rec));
  return had === undefined;
}

function range(text: string, flag: string): { autoIpFrom: string; autoIpTo: string } {
  const m = /^([^-\s]+)-([^-\s]+)$/.exec(text);
  if (!m) throw new ClusterCommandError('usage', `${flag} wants FROM-TO (two IPs joined by -), not "${text}"`);
  return { autoIpFrom: m[1] as string, autoIpTo: m[2] as string };
}

/** The cluster settings init writes: the file's cluster part (defaults if it has none) with the flags over it. */
function initSettings(s: Settings, v: Values): ClusterSettings {
  const patch: Record<string, unknown> = {};
  if (v['iqn-base'] !== undefined) patch.iqnBase = v['iqn-base'];
  if (v.pool !== undefined) patch.pool = v.pool;
  for (const n of ['subnet1', 'subnet2'] as const) {
    const cidr = v[n];
    const r = v[`${n}-range`];
    if (cidr !== undefined || r !== undefined) patch[n] = { ...(cidr !== undefined ? { cidr } : {}), ...(r !== undefined ? range(r, `--${n}-range`) : {}) };
  }
  if (v['lease-ttl'] !== undefined) {
    if (!/^\d+$/.test(v['lease-ttl'])) throw new ClusterCommandError('usage', `--lease-ttl wants a whole number of seconds, not "${v['lease-ttl']}"`);
    patch.leaseTtlSeconds = Number(v['lease-ttl']);
  }
  const r = applyPatch(fileClusterSettings(s), patch);
  if (!r.ok) throw new ClusterCommandError('invalid_settings', `${r.message}${r.field ? ` (${r.field})` : ''}`);
  return r.settings;
}

async function clusterInit(v: Values, log: Logger): Promise<void> {
  const s = await nodeSettings(v);
  const wanted = initSettings(s, v);
  const adminPassword = initialAdminPassword(s);
  const interfaces = await checkInterfaces(s);
  const store = await reachStore(s);
  try {
    if (s.images.kind === 'rbd') await reachImages(s);
    const service = new ClusterSettingsService({ store, log });
    const r = await service.seed(wanted, `cli:${userInfo().username}@${s.node}`);
    if (r.seeded) out(`cluster settings written (version 1) to ${endpointsOf(s)}`);
    else {
      const differ = settingsChanges(r.stored.settings, wanted);
      if (differ.length > 0)
        throw new ClusterCommandError(
          'cluster_settings_differ',
          `the cluster is initialised already (settings version ${r.stored.version}) with other settings (${differ.map((d) => `${d.field} ${d.from}`).join(', ')}); change them with \`portway settings set\``,
        );
      out(`cluster initialised already (settings version ${r.stored.version}): nothing to change`);
    }
    const auth = authService(s, store, log);
    const b = await auth.bootstrap({ ...(adminPassword !== undefined ? { adminPassword } : {}), print: out });
    out(
      b.created
        ? `first admin "admin" made${b.generated ? ' (password above, shown once)' : ' (password from PORTWAY_ADMIN_PASSWORD)'}`
        : 'users exist already: no admin made',
    );
    const fresh = await register(store, s, interfaces);
    out(`node ${s.node} ${fresh ? 'registered' : 'registered already'}; start it with: portway serve --config ${v.config ?? '<file>'}`);
  } finally {
    await store.close().catch(() => {});
  }
}

async function nodeJoin(v: Values, log: Logger): Promise<void> {
  const s = await nodeSettings(v);
  if (s.coord.kind !== 'etcd')
    throw new ClusterCommandError('not_a_cluster_store', 'a node joins a cluster through etcd: the node file needs coord.kind "etcd" with its endpoints');
  const interfaces = await checkInterfaces(s);
  const store = await reachStore(s);
  try {
    if (!(await store.get(CLUSTER_SETTINGS)))
      throw new ClusterCommandError(
        'cluster_not_initialised',
        `${endpointsOf(s)} holds no cluster settings: run \`portway cluster init\` on the first node first`,
      );
    await reachImages(s);
    const fresh = await register(store, s, interfaces);
    out(`node ${s.node} ${fresh ? 'joined' : 'joined already'} (interfaces ${interfaces.subnet1}, ${interfaces.subnet2})`);
  } finally {
    await store.close().catch(() => {});
  }
  if (v['register-only']) return;
  await serveUntilLeft(s, log);
}

/** The agent, until SIGTERM/SIGINT or until `node leave` removes this node from the members. */
async function serveUntilLeft(s: Settings, log: Logger): Promise<void> {
  const { startAgentProcess } = await import('../agent/main.js');
  const { whenRemoved } = await import('../agent/membership.js');
  const running = await startAgentProcess(s, log, { seed: false });
  out(JSON.stringify({ msg: 'PORTWAY_AGENT_READY', node: s.node, pid: process.pid }));
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'stopping: releasing paths');
    try {
      await running.stop({ release: true });
    } finally {
      process.exit(0);
    }
  };
  await whenRemoved(running.store, s.node, () => void stop('removed from the cluster (node leave)'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

async function nodeLeave(v: Values, log: Logger): Promise<void> {
  const s = await nodeSettings(v);
  const name = s.node;
  const store = await reachStore(s);
  try {
    const member = await store.get(memberKey(name));
    const live = await store.get(nodeKey(name));
    const paths = new PathService({ store, log, drainTimeoutMs: (v.timeout && /^\d+$/.test(v.timeout) ? Number(v.timeout) : 120) * 1000, pollMs: 200 });
    const known = await paths.nodes();
    if (!known.ok) throw new ClusterCommandError('coord_unreachable', known.message);
    const busy = known.nodes.some((n) => n.name === name && (n.up || n.pathCount > 0));
    if (!member && !busy) {
      out(`node ${name} is not in the cluster: nothing to do`);
      return;
    }
    if (busy) {
      out(`draining ${name}: its paths move to the other nodes...`);
      const d = await paths.drain(name);
      if (!d.ok)
        throw new ClusterCommandError(
          d.code === 'drain_timeout' ? 'drain_timeout' : 'node_not_found',
          `${d.message} The node stays drained (it takes no path); run node leave again once other nodes can take its paths.`,
        );
      out(`${name} holds no path`);
    }
    const auth = authService(s, store, log);
    await auth.appendAudit({ user: `cli:${userInfo().username}`, via: 'cli' }, 'node.leave', `node:${name}`, 'ok', {});
    await store.delete(memberKey(name));
    // A `node join` serving there stops once its member key is gone (its node key goes with its lease).
    let gone = !live;
    for (let i = 0; !gone && i < 100; i++) {
      await sleep(200);
      gone = !(await store.get(nodeKey(name)));
    }
    if (gone) {
      await store.delete(drainedKey(name));
      out(`node ${name} left the cluster`);
    } else
      out(
        `node ${name} removed from the members; its agent still runs (a \`portway serve\`, or an agent that cannot reach the store): stop it there; the node stays drained so it takes no path`,
      );
  } finally {
    await store.close().catch(() => {});
  }
}

export async function clusterCommand(cmd: 'cluster' | 'node', argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const [sub, ...extra] = positionals;
  const usage = (why: string) => new ClusterCommandError('usage', `${why}\nusage:\n${CLUSTER_USAGE}`);
  if (extra.length > 0) throw usage(`unexpected argument "${extra[0]}"`);
  const log = createLogger({ defaultLevel: 'warn' });
  if (cmd === 'cluster') {
    if (sub !== 'init') throw usage(sub ? `unknown cluster command "${sub}"` : 'which cluster command?');
    return clusterInit(values, log);
  }
  if (sub === 'join') return nodeJoin(values, createLogger());
  if (sub === 'leave') return nodeLeave(values, log);
  throw usage(sub ? `unknown node command "${sub}"` : 'which node command?');
}
