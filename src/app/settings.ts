/** The product's settings file (JSON), its defaults and validation. */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isNice } from '../agent/priority.js';
import { DEFAULT_LOGIN_LIMIT } from '../api/login-limit.js';
import { type ClusterConfig, DEFAULT_CONFIG } from '../domain/config.js';

export interface Settings {
  /** Where the embedded stores, run state and logs live. */
  stateDir: string;
  listenHost: string;
  listenPort: number;
  /** This node's name in the cluster. */
  node: string;
  /**
   * The cluster settings as this file has them: used to seed the coordination store at the first start
   * (migration); once the store holds cluster settings, those win (domain/cluster-settings.ts). A node
   * made with `portway cluster init` / `node join` leaves them out.
   */
  cluster: ClusterConfig;
  /** Which interface carries each iSCSI subnet on this node (default: cluster.subnetN.eth, i.e. lo). */
  interfaces?: { subnet1: string; subnet2: string };
  images: { kind: 'file' } | { kind: 'rbd'; conf: string; keyring?: string; id: string; pool: string };
  coord: { kind: 'embedded' } | EtcdSettings;
  /**
   * resyncSeconds: how often the agent checks every path it holds against tgtd and the host (a killed
   * tgtd, a removed IP); changes in the store (adds, edits, moves) are acted on at once regardless.
   * storageFencing (Ceph mode, default true): blocklist a taken-over shared disk's other RBD clients
   * before serving it (docs/HA.md). false only for tests that measure what it prevents.
   * warmTargets (default 32): at most this many idle tgtds kept ready for disks taken over from a failed
   * node (the agent keeps its share of the busiest other node's disks, plus 2; 0: none). Each is ~20 MB.
   * nice (default -10, cluster nodes): the agent's CPU priority, so a busy host does not starve its lease
   * renewals into a fence (agent/priority.ts); its tgtds run at the ordinary priority.
   * sampling (default true): every 3 s ask each tgtd of the node who is connected and how much I/O it did
   * (connected hosts, I/O rates, the per-disk I/O metrics); false turns all three off.
   */
  agent: {
    enabled: boolean;
    leaseTtlSeconds: number;
    resyncSeconds?: number;
    storageFencing?: boolean;
    warmTargets?: number;
    nice?: number;
    sampling?: boolean;
  };
  /** How the agent makes path IPs live: loopback (single box) or iproute (`ip addr` + ARP, cluster nodes). */
  net: 'loopback' | 'iproute';
  /** First tgtd control port this node's agent uses. */
  tgtControlPortBase: number;
  /** Built web UI; defaults to dist/web of the install. */
  webDir?: string;
  auth: AuthSettings;
  tls: TlsSettings;
}

/**
 * HTTPS for the API and web UI (default on). cert + key: the admin's own certificate and key (PEM
 * files); neither: a self-signed certificate made at the first start in <stateDir>/tls. enabled false:
 * plain HTTP (only when asked for, e.g. behind a TLS-terminating proxy).
 */
export interface TlsSettings {
  enabled: boolean;
  cert?: string;
  key?: string;
  /** More names (DNS names or IPs) the self-signed certificate is made for, beside the listen address, loopback and this host's name. */
  altNames?: string[];
}

/**
 * etcd: client URLs (https:// for TLS), the CA file that signed etcd's certificate, this node's client
 * certificate and key (when etcd asks for one: --client-cert-auth), and an etcd user with its password
 * (inline or, better, in a file of its own readable by root only).
 */
export interface EtcdSettings {
  kind: 'etcd';
  endpoints: string[];
  ca?: string;
  cert?: string;
  key?: string;
  username?: string;
  password?: string;
  passwordFile?: string;
}

export interface AuthSettings {
  /** Logins and permissions; false lets every request act as an admin (tests, migration only). */
  enabled: boolean;
  /** A login session ends after this long without a request (default 8 h). */
  sessionIdleSeconds: number;
  /** A login session ends this long after the login, however active (default 24 h). */
  sessionMaxSeconds: number;
  /** Failed logins allowed per username and per client address within windowSeconds (then locked out until the window ends). */
  login: { maxFailuresPerUser: number; maxFailuresPerAddress: number; windowSeconds: number };
  /** Always mark the session cookie Secure (TLS ends at a proxy); it is anyway when served over https. */
  secureCookie: boolean;
  /** Password of the first admin, made when no user exists; else PORTWAY_ADMIN_PASSWORD, else generated and printed once. */
  adminPassword?: string;
  /** The oldest audit entries beyond this many are pruned. */
  auditMaxEntries: number;
}

export function defaultSettings(): Settings {
  return {
    stateDir: '/var/lib/portway',
    listenHost: '127.0.0.1',
    listenPort: 8080,
    node:
      hostname()
        .replace(/[^A-Za-z0-9._-]/g, '-')
        .slice(0, 63) || 'node1',
    cluster: DEFAULT_CONFIG,
    images: { kind: 'file' },
    coord: { kind: 'embedded' },
    agent: { enabled: true, leaseTtlSeconds: 10 },
    net: 'loopback',
    tgtControlPortBase: 3000,
    tls: { enabled: true },
    auth: {
      enabled: true,
      sessionIdleSeconds: 8 * 3600,
      sessionMaxSeconds: 24 * 3600,
      login: { ...DEFAULT_LOGIN_LIMIT },
      secureCookie: false,
      auditMaxEntries: 10_000,
    },
  };
}

export class SettingsError extends Error {}

const NODE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Reads a settings file over the defaults: any field left out keeps its default. */
export async function loadSettings(file?: string): Promise<Settings> {
  const s = defaultSettings();
  if (!file) return s;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new SettingsError(`cannot read settings ${file}: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object') throw new SettingsError(`settings ${file} must be a JSON object`);
  const r = raw as Partial<Settings>;
  const merged: Settings = {
    ...s,
    ...r,
    agent: { ...s.agent, ...(r.agent ?? {}) },
    auth: { ...s.auth, ...(r.auth ?? {}), login: { ...s.auth.login, ...(r.auth?.login ?? {}) } },
    tls: { ...s.tls, ...(r.tls ?? {}) },
    cluster: {
      ...s.cluster,
      ...(r.cluster ?? {}),
      subnet1: { ...s.cluster.subnet1, ...(r.cluster?.subnet1 ?? {}) },
      subnet2: { ...s.cluster.subnet2, ...(r.cluster?.subnet2 ?? {}) },
    },
  };
  return checkSettings(merged);
}

/** The interface per subnet on this node: `interfaces`, else the file's cluster.subnetN.eth. */
export function localInterfaces(s: Settings): { subnet1: string; subnet2: string } {
  return s.interfaces ?? { subnet1: s.cluster.subnet1.eth, subnet2: s.cluster.subnet2.eth };
}

const ETH = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,14}$/;

export function checkSettings(s: Settings): Settings {
  if (s.interfaces !== undefined) {
    const i = s.interfaces as Partial<Record<'subnet1' | 'subnet2', unknown>>;
    for (const k of ['subnet1', 'subnet2'] as const)
      if (typeof i[k] !== 'string' || !ETH.test(i[k]))
        throw new SettingsError(`interfaces.${k} must name this node's interface for iSCSI subnet ${k.slice(-1)} (e.g. eth1)`);
  }
  if (!NODE.test(s.node)) throw new SettingsError(`node name "${s.node}" must be 1-63 letters, digits, . _ -`);
  if (!Number.isInteger(s.listenPort) || s.listenPort < 0 || s.listenPort > 65535) throw new SettingsError('listenPort must be 0-65535');
  if (!Number.isInteger(s.tgtControlPortBase) || s.tgtControlPortBase < 1) throw new SettingsError('tgtControlPortBase must be a positive integer');
  if (s.agent.leaseTtlSeconds < 2) throw new SettingsError('agent.leaseTtlSeconds must be at least 2');
  if (s.agent.storageFencing !== undefined && typeof s.agent.storageFencing !== 'boolean')
    throw new SettingsError('agent.storageFencing must be true or false');
  if (s.agent.sampling !== undefined && typeof s.agent.sampling !== 'boolean') throw new SettingsError('agent.sampling must be true or false');
  const wt = s.agent.warmTargets;
  if (wt !== undefined && !(Number.isInteger(wt) && wt >= 0 && wt <= 1000)) throw new SettingsError('agent.warmTargets must be a whole number from 0 to 1000');
  if (s.agent.nice !== undefined && !isNice(s.agent.nice)) throw new SettingsError('agent.nice must be a whole number from -20 to 19');
  const rs = s.agent.resyncSeconds;
  if (rs !== undefined && !(typeof rs === 'number' && Number.isFinite(rs) && rs >= 1 && rs <= 3600))
    throw new SettingsError('agent.resyncSeconds must be a number of seconds from 1 to 3600');
  if (typeof s.auth.enabled !== 'boolean') throw new SettingsError('auth.enabled must be true or false');
  if (!Number.isInteger(s.auth.sessionIdleSeconds) || s.auth.sessionIdleSeconds < 1)
    throw new SettingsError('auth.sessionIdleSeconds must be a positive integer');
  if (!Number.isInteger(s.auth.sessionMaxSeconds) || s.auth.sessionMaxSeconds < 1) throw new SettingsError('auth.sessionMaxSeconds must be a positive integer');
  for (const k of ['maxFailuresPerUser', 'maxFailuresPerAddress', 'windowSeconds'] as const) {
    const v = s.auth.login[k];
    if (!Number.isInteger(v) || v < 1 || v > 1_000_000) throw new SettingsError(`auth.login.${k} must be a positive integer`);
  }
  if (!Number.isInteger(s.auth.auditMaxEntries) || s.auth.auditMaxEntries < 1) throw new SettingsError('auth.auditMaxEntries must be a positive integer');
  if (typeof s.tls.enabled !== 'boolean') throw new SettingsError('tls.enabled must be true or false');
  for (const k of ['cert', 'key'] as const)
    if (s.tls[k] !== undefined && (typeof s.tls[k] !== 'string' || s.tls[k] === '')) throw new SettingsError(`tls.${k} must be a file path`);
  if ((s.tls.cert === undefined) !== (s.tls.key === undefined))
    throw new SettingsError('tls.cert and tls.key go together: give both, or neither for a self-signed certificate');
  if (
    s.tls.altNames !== undefined &&
    !(Array.isArray(s.tls.altNames) && s.tls.altNames.every((n) => typeof n === 'string' && /^[A-Za-z0-9.:-]{1,253}$/.test(n)))
  )
    throw new SettingsError('tls.altNames must be a list of DNS names or IP addresses');
  if (s.coord.kind === 'etcd') checkEtcd(s.coord);
  else if (s.coord.kind !== 'embedded') throw new SettingsError('coord.kind must be "embedded" or "etcd"');
  if (s.net !== 'loopback' && s.net !== 'iproute') throw new SettingsError('net must be "loopback" or "iproute"');
  return s;
}

function checkEtcd(c: EtcdSettings): void {
  if (!Array.isArray(c.endpoints) || c.endpoints.length === 0) throw new SettingsError('coord.endpoints must list the etcd client URLs');
  const schemes = new Set<string>();
  for (const e of c.endpoints) {
    const m = typeof e === 'string' ? /^(https?):\/\/[^/\s]+$/.exec(e) : null;
    if (!m) throw new SettingsError(`coord.endpoints: "${String(e)}" is not an etcd client URL (http://HOST:PORT or https://HOST:PORT)`);
    schemes.add(m[1] as string);
  }
  if (schemes.size > 1) throw new SettingsError('coord.endpoints must all be https:// or all http://');
  for (const k of ['ca', 'cert', 'key', 'username', 'password', 'passwordFile'] as const)
    if (c[k] !== undefined && (typeof c[k] !== 'string' || c[k] === '')) throw new SettingsError(`coord.${k} must be a non-empty string`);
  if ((c.cert === undefined) !== (c.key === undefined)) throw new SettingsError('coord.cert and coord.key (the client certificate) go together');
  if ((c.ca || c.cert) && !schemes.has('https')) throw new SettingsError('coord.ca / coord.cert are for TLS: the endpoints must be https://');
  if (schemes.has('https') && !c.ca) throw new SettingsError("coord.ca (the CA file that signed etcd's certificate) is needed for https:// endpoints");
  if (c.password !== undefined && c.passwordFile !== undefined) throw new SettingsError('coord.password and coord.passwordFile exclude each other');
  if ((c.password !== undefined || c.passwordFile !== undefined) && c.username === undefined) throw new SettingsError('coord.password needs coord.username');
  if (c.username !== undefined && c.password === undefined && c.passwordFile === undefined)
    throw new SettingsError('coord.username needs coord.password or coord.passwordFile');
}
