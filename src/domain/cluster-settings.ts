/**
 * The cluster settings: one copy for the whole cluster in the coordination store (CLUSTER_SETTINGS),
 * versioned, validated as the settings file's `cluster` part is (checkConfig). What stays in a node's
 * own file is local: its name, the store's endpoints and credentials, the Ceph client config, and the
 * interface that carries each subnet on that node. Pure.
 */
import { type ClusterConfig, type ConfigCheck, checkConfig } from './config.js';
import { type Failure, fail } from './outcomes.js';
import { cidrText, inSubnet, parseCidr, parseIp } from './ip.js';

export interface ClusterSubnet {
  cidr: string;
  autoIpFrom: string;
  autoIpTo: string;
}

export interface ClusterSettings {
  iqnBase: string;
  pool: string;
  subnet1: ClusterSubnet;
  subnet2: ClusterSubnet;
  /** The agents' lease: a node that stops renewing loses its paths after this long. */
  leaseTtlSeconds: number;
}

/** What the store holds: the settings, their version (1 at init, +1 per change), who changed them last. */
export interface StoredClusterSettings {
  v?: number;
  version: number;
  settings: ClusterSettings;
  changedAt: string;
  changedBy: string;
}

/** `/portway/members/<name>`: a node that joined (`portway node join`), its interfaces per subnet. */
export interface MemberRecord {
  v?: number;
  name: string;
  joinedAt: string;
  interfaces: { subnet1: string; subnet2: string };
}

/** A change request: any field left out keeps its value; a subnet's fields likewise. */
export interface ClusterSettingsPatch {
  iqnBase?: string;
  pool?: string;
  subnet1?: Partial<ClusterSubnet>;
  subnet2?: Partial<ClusterSubnet>;
  leaseTtlSeconds?: number;
}

export const LEASE_TTL_MIN = 2;
export const LEASE_TTL_MAX = 300;

/** The cluster part of a node's settings file (the form the store takes them from at the first start). */
export function clusterSettingsOf(c: ClusterConfig, leaseTtlSeconds: number): ClusterSettings {
  const sub = (s: ClusterConfig['subnet1']): ClusterSubnet => ({ cidr: s.cidr, autoIpFrom: s.autoIpFrom, autoIpTo: s.autoIpTo });
  return { iqnBase: c.iqnBase, pool: c.pool, subnet1: sub(c.subnet1), subnet2: sub(c.subnet2), leaseTtlSeconds };
}

/** The cluster settings with this node's interface per subnet: what the disk service and API work with. */
export function withInterfaces(cs: ClusterSettings, eth: { subnet1: string; subnet2: string }): ClusterConfig {
  return { iqnBase: cs.iqnBase, pool: cs.pool, subnet1: { ...cs.subnet1, eth: eth.subnet1 }, subnet2: { ...cs.subnet2, eth: eth.subnet2 } };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Applies a patch (unknown input: checked field by field) over the current settings, then checks the whole. */
export function applyPatch(current: ClusterSettings, patch: unknown): { ok: true; settings: ClusterSettings } | Failure<'invalid_settings'> {
  if (!isObj(patch)) return fail('invalid_settings', 'The change must be an object of settings.');
  const known = new Set(['iqnBase', 'pool', 'subnet1', 'subnet2', 'leaseTtlSeconds']);
  for (const k of Object.keys(patch)) if (!known.has(k)) return fail('invalid_settings', `"${k}" is not a cluster setting.`, k);
  const next: ClusterSettings = { ...current, subnet1: { ...current.subnet1 }, subnet2: { ...current.subnet2 } };
  for (const k of ['iqnBase', 'pool'] as const) {
    const v = patch[k];
    if (v === undefined) continue;
    if (typeof v !== 'string') return fail('invalid_settings', `${k} must be a string.`, k);
    next[k] = v.trim();
  }
  if (patch.leaseTtlSeconds !== undefined) {
    const t = patch.leaseTtlSeconds;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < LEASE_TTL_MIN || t > LEASE_TTL_MAX)
      return fail('invalid_settings', `The lease TTL must be a whole number of seconds from ${LEASE_TTL_MIN} to ${LEASE_TTL_MAX}.`, 'leaseTtlSeconds');
    next.leaseTtlSeconds = t;
  }
  for (const n of ['subnet1', 'subnet2'] as const) {
    const p = patch[n];
    if (p === undefined) continue;
    if (!isObj(p)) return fail('invalid_settings', `${n} must be an object (cidr, autoIpFrom, autoIpTo).`, n);
    for (const k of Object.keys(p))
      if (k !== 'cidr' && k !== 'autoIpFrom' && k !== 'autoIpTo')
        return fail('invalid_settings', `"${k}" is not a subnet setting here (the interface is set in each node's own file).`, `${n}.${k}`);
    for (const k of ['cidr', 'autoIpFrom', 'autoIpTo'] as const) {
      const v = p[k];
      if (v === undefined) continue;
      if (typeof v !== 'string') return fail('invalid_settings', `${n}.${k} must be a string.`, `${n}.${k}`);
      next[n][k] = v.trim();
    }
  }
  const c = checkClusterSettings(next);
  return c.ok ? { ok: true, settings: next } : c;
}

/** The same validation as the settings file's `cluster` part (checkConfig), plus the lease TTL. */
export function checkClusterSettings(cs: ClusterSettings): { ok: true } | Failure<'invalid_settings'> {
  // The interface is no cluster setting: a valid placeholder lets checkConfig judge the rest.
  const r: ConfigCheck = checkConfig(withInterfaces(cs, { subnet1: 'lo', subnet2: 'lo' }));
  if (!r.ok) return fail('invalid_settings', r.message, r.field);
  if (!Number.isInteger(cs.leaseTtlSeconds) || cs.leaseTtlSeconds < LEASE_TTL_MIN || cs.leaseTtlSeconds > LEASE_TTL_MAX)
    return fail('invalid_settings', `The lease TTL must be a whole number of seconds from ${LEASE_TTL_MIN} to ${LEASE_TTL_MAX}.`, 'leaseTtlSeconds');
  return { ok: true };
}

/** Reads a stored value; undefined when it is not cluster settings this code can use. */
export function parseStoredSettings(raw: unknown): StoredClusterSettings | undefined {
  if (!isObj(raw) || !Number.isInteger(raw.version) || !isObj(raw.settings)) return undefined;
  const s = raw.settings;
  const sub = (v: unknown): ClusterSubnet | undefined =>
    isObj(v) && typeof v.cidr === 'string' && typeof v.autoIpFrom === 'string' && typeof v.autoIpTo === 'string'
      ? { cidr: v.cidr, autoIpFrom: v.autoIpFrom, autoIpTo: v.autoIpTo }
      : undefined;
  const s1 = sub(s.subnet1);
  const s2 = sub(s.subnet2);
  if (typeof s.iqnBase !== 'string' || typeof s.pool !== 'string' || !s1 || !s2 || typeof s.leaseTtlSeconds !== 'number') return undefined;
  const settings: ClusterSettings = { iqnBase: s.iqnBase, pool: s.pool, subnet1: s1, subnet2: s2, leaseTtlSeconds: s.leaseTtlSeconds };
  if (!checkClusterSettings(settings).ok) return undefined;
  return {
    version: raw.version as number,
    settings,
    changedAt: typeof raw.changedAt === 'string' ? raw.changedAt : '',
    changedBy: typeof raw.changedBy === 'string' ? raw.changedBy : '',
  };
}

/** What changed, field by field ("subnet1.autoIpTo"), for the audit log and the CLI. */
export function settingsChanges(before: ClusterSettings, after: ClusterSettings): { field: string; from: string | number; to: string | number }[] {
  const out: { field: string; from: string | number; to: string | number }[] = [];
  for (const k of ['iqnBase', 'pool', 'leaseTtlSeconds'] as const) if (before[k] !== after[k]) out.push({ field: k, from: before[k], to: after[k] });
  for (const n of ['subnet1', 'subnet2'] as const)
    for (const k of ['cidr', 'autoIpFrom', 'autoIpTo'] as const)
      if (before[n][k] !== after[n][k]) out.push({ field: `${n}.${k}`, from: before[n][k], to: after[n][k] });
  return out;
}

/** A path of a disk as the store has it (its IP). */
export interface PathIp {
  disk: string;
  path: number;
  ip: string;
}

/**
 * The paths a change of subnets would strand: an IP that lay in subnet n before must lie in subnet n
 * after (a host reaches it through that network); one in neither (never expected) must lie in one.
 * Changing only the automatic range never strands anything: existing IPs keep their place.
 */
export function strandedPaths(before: ClusterSettings, after: ClusterSettings, paths: PathIp[]): PathIp[] {
  const net = (s: ClusterSettings, n: 'subnet1' | 'subnet2') => parseCidr(s[n].cidr);
  const b1 = net(before, 'subnet1');
  const b2 = net(before, 'subnet2');
  const a1 = net(after, 'subnet1');
  const a2 = net(after, 'subnet2');
  if (!a1 || !a2) return paths;
  return paths.filter((p) => {
    const ip = parseIp(p.ip);
    if (ip === undefined) return false;
    if (b1 && inSubnet(ip, b1)) return !inSubnet(ip, a1);
    if (b2 && inSubnet(ip, b2)) return !inSubnet(ip, a2);
    return !inSubnet(ip, a1) && !inSubnet(ip, a2);
  });
}

/** The subnet (1 or 2) of the settings an IP lies in, if any: the agent picks its local interface by it. */
export function subnetOfIp(cs: ClusterSettings, ipText: string): 1 | 2 | undefined {
  const ip = parseIp(ipText);
  if (ip === undefined) return undefined;
  for (const n of [1, 2] as const) {
    const s = parseCidr(cs[n === 1 ? 'subnet1' : 'subnet2'].cidr);
    if (s && inSubnet(ip, s)) return n;
  }
  return undefined;
}

/** "10.0.1.0/24, automatic 10.0.1.10-10.0.1.250" for one subnet (CLI). */
export function subnetText(s: ClusterSubnet): string {
  const net = parseCidr(s.cidr);
  return `${net ? cidrText(net) : s.cidr}, automatic ${s.autoIpFrom}-${s.autoIpTo}`;
}
