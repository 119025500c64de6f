/**
 * The shared consistency checker of the fault tests. After a fault and its recovery, the system must
 * hold none of: an orphan image, a registered disk without its image or metadata, an IP in two paths,
 * an owner key of no path (or two owners of one path), a path served twice, a served path without a
 * tgtd or a tgtd without a served path, a tgtd serving the wrong disk.
 *
 * Inputs are plain data (raw keys, the image list, the tgtd processes found in /proc), so the checker
 * works on an in-process product (its CoordStore / ImageStore), a child-process product (the embedded
 * store read from its files, see readEmbeddedStoreDir) and a cluster (etcd + Ceph).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyValue } from '../../../src/adapters/coord/types.js';
import type { ImageRecord, ImageStore } from '../../../src/adapters/images/types.js';
import type { CoordStore } from '../../../src/adapters/coord/types.js';
import { run } from '../../../src/adapters/exec.js';
import { parseShowTargets } from '../../../src/adapters/tgt/tgt-show.js';
import { diskIdOfImage, parseDiskMeta } from '../../../src/domain/disk.js';
import { waitFor } from '../../helpers/wait.js';
import { type TgtdProc, tgtdProcs, warmTgtdProcs } from './procs.js';

export interface Snapshot {
  /** Every key under /portway/. */
  kvs: KeyValue[];
  images: ImageRecord[];
  /**
   * Live tgtd processes of the product's subnets, one entry per portal each listens on (a disk's tgtd
   * holds every path IP of that disk on its node as a portal): `ip` is that portal.
   */
  tgtds: TgtdProc[];
  /**
   * The target of each tgtd (by pid), as tgtadm shows it (one tgtd serves one disk: one target, whose
   * tid is the disk's number, or 1 for a disk made before placement existed); `count` is how many
   * targets it has (undefined: one); undefined when tgtadm did not answer.
   */
  targets: Map<number, { iqn: string; backing: string[]; count?: number } | undefined>;
}

export interface CheckOptions {
  /**
   * The system has settled: every path of every started disk is served. Then the set of tgtd portals
   * must equal the set of served paths exactly; otherwise only "never twice, never a stranger" holds.
   */
  settled: boolean;
  /** How an image name maps to the backing path tgtd shows (file store: <dir>/<name>.img). */
  backingOf?: (image: string) => string;
}

const DISK = /^\/portway\/disks\/(\d{5})$/;
const PATH = /^\/portway\/disks\/(\d{5})\/(\d+)$/;
const OWNER = /^\/portway\/owners\/(\d{5})\/(\d+)$/;
const IPIDX = /^\/portway\/ips\/(.+)$/;
const NAMEIDX = /^\/portway\/names\/(.+)$/;

function json(v: string): any {
  try {
    return JSON.parse(v);
  } catch {
    return undefined;
  }
}

/** Violations of the invariants, as readable sentences; [] when consistent. */
export function check(s: Snapshot, o: CheckOptions): string[] {
  const v: string[] = [];
  const disks = new Map<string, any>();
  const paths = new Map<string, Map<number, any>>();
  const owners = new Map<string, { node: string; state: string }[]>();
  const ipIndex = new Map<string, string>();
  const nameIndex = new Map<string, string>();
  for (const kv of s.kvs) {
    const ix = IPIDX.exec(kv.key);
    if (ix) ipIndex.set(ix[1] as string, kv.value);
    const nx = NAMEIDX.exec(kv.key);
    if (nx) nameIndex.set(decodeURIComponent(nx[1] as string), kv.value);
    let m = DISK.exec(kv.key);
    if (m) {
      const rec = json(kv.value);
      if (!rec || rec.id !== m[1]) v.push(`disk key ${kv.key} holds no readable disk record`);
      disks.set(m[1] as string, rec);
      continue;
    }
    m = PATH.exec(kv.key);
    if (m) {
      const p = json(kv.value);
      if (!p || typeof p.ip !== 'string') v.push(`path key ${kv.key} holds no readable path`);
      const map = paths.get(m[1] as string) ?? new Map();
      map.set(Number(m[2]), p);
      paths.set(m[1] as string, map);
      continue;
    }
    m = OWNER.exec(kv.key);
    if (m) {
      const ow = json(kv.value);
      const k = `${m[1]}/${m[2]}`;
      const list = owners.get(k) ?? [];
      list.push(ow);
      owners.set(k, list);
    }
  }

  // Every path key belongs to a registered disk, and every disk has pathCount paths 1..n.
  for (const id of paths.keys()) if (!disks.has(id)) v.push(`path keys of disk ${id} exist without its disk key`);
  for (const [id, rec] of disks) {
    const map = paths.get(id) ?? new Map();
    const n = typeof rec?.pathCount === 'number' ? rec.pathCount : -1;
    const want = Array.from({ length: Math.max(n, 0) }, (_, i) => i + 1).join(',');
    const got = [...map.keys()].sort((a, b) => a - b).join(',');
    if (want !== got) v.push(`disk ${id}: pathCount ${n} but path keys [${got}]`);
  }

  // Every registered disk has its image and metadata that agrees with the keys.
  const images = new Map(s.images.map((i) => [i.name, i]));
  for (const [id, rec] of disks) {
    const img = images.get(`image-${id}`);
    if (!img) {
      v.push(`disk ${id} is registered but image-${id} does not exist (lost disk)`);
      continue;
    }
    const meta = parseDiskMeta(img.meta);
    if (!meta) {
      v.push(`disk ${id}: image-${id} has no readable metadata (${img.metaError ?? 'none'})`);
      continue;
    }
    if (meta.id !== id || meta.iqn !== rec?.iqn || meta.name !== rec?.name)
      v.push(`disk ${id}: image metadata (${meta.id}, ${meta.name}, ${meta.iqn}) disagrees with its key`);
    const keyIps = [...(paths.get(id) ?? new Map()).entries()].sort(([a], [b]) => a - b).map(([, p]) => p?.ip);
    const metaIps = meta.paths.map((p) => p.ip);
    if (keyIps.join(',') !== metaIps.join(',')) v.push(`disk ${id}: path IPs in keys [${keyIps}] differ from its metadata [${metaIps}]`);
  }
  // Every image-<id> is registered (an unregistered one, with or without metadata, is an orphan),
  // unless it was detached on purpose (its metadata says so).
  for (const img of s.images) {
    const id = diskIdOfImage(img.name);
    if (!id || disks.has(id)) continue;
    if ((json(img.meta ?? '') as { detached?: boolean } | undefined)?.detached === true) continue;
    v.push(`orphan image ${img.name} (${img.meta === null ? 'no metadata' : 'with metadata'}) is not registered`);
  }

  // No IP in two paths.
  const ipUse = new Map<string, string[]>();
  for (const [id, map] of paths) for (const [n, p] of map) if (p?.ip) ipUse.set(p.ip, [...(ipUse.get(p.ip) ?? []), `${id}/${n}`]);
  for (const [ip, users] of ipUse) if (users.length > 1) v.push(`IP ${ip} is used by ${users.length} paths: ${users.join(' ')}`);

  // The uniqueness index (one key per IP and per name) names exactly the registered disks' IPs and
  // names: a missing entry lets a second disk take the IP; a stale one loses the IP for good.
  for (const [ip, users] of ipUse) {
    const id = users[0]?.split('/')[0];
    if (ipIndex.get(ip) !== id) v.push(`IP ${ip} of disk ${id}: index key ${ipIndex.has(ip) ? `names ${ipIndex.get(ip)}` : 'is missing'}`);
  }
  for (const [ip, id] of ipIndex) if (!ipUse.has(ip)) v.push(`stale IP index key ${ip} -> ${id}: no path has this IP (the IP is lost)`);
  for (const [id, rec] of disks)
    if (rec?.name !== undefined && nameIndex.get(rec.name) !== id)
      v.push(`disk ${id}: name index key of "${rec.name}" ${nameIndex.has(rec.name) ? `names ${nameIndex.get(rec.name)}` : 'is missing'}`);
  for (const [name, id] of nameIndex) if (disks.get(id)?.name !== name) v.push(`stale name index key "${name}" -> ${id}`);

  // Owner keys: one per path, of an existing path, readable.
  const served = new Map<string, string>(); // ip -> disk id
  for (const [k, list] of owners) {
    const [id, n] = k.split('/') as [string, string];
    if (list.length > 1) v.push(`path ${k} has ${list.length} owner keys`);
    const p = paths.get(id)?.get(Number(n));
    if (!p) v.push(`owner key of ${k} names no existing path`);
    const ow = list[0];
    if (!ow || typeof ow.node !== 'string' || (ow.state !== 'served' && ow.state !== 'configuring')) v.push(`owner key of ${k} is unreadable`);
    else if (ow.state === 'served' && p?.ip) served.set(p.ip, id);
  }

  // tgtd: never two per portal; none for an IP no path has; each serves its disk (a tgtd is listed
  // once per portal: one serving every path IP of its disk is right on each).
  const byIp = new Map<string, TgtdProc[]>();
  for (const t of s.tgtds) byIp.set(t.ip, [...(byIp.get(t.ip) ?? []), t]);
  for (const [ip, procs] of byIp) {
    if (procs.length > 1) v.push(`portal ${ip} is served by ${procs.length} tgtd processes (pids ${procs.map((p) => p.pid).join(' ')})`);
    const users = ipUse.get(ip);
    if (!users) {
      v.push(`tgtd pid ${procs[0]?.pid} serves ${ip}, which no path has`);
      continue;
    }
    const id = users[0]?.split('/')[0] as string;
    for (const p of procs) {
      if (!s.targets.has(p.pid)) continue;
      const t = s.targets.get(p.pid);
      if (!t) {
        if (o.settled) v.push(`tgtd pid ${p.pid} (${ip}) does not answer tgtadm`);
        continue;
      }
      if (o.settled && (t.count ?? 1) > 1) v.push(`tgtd pid ${p.pid} (${ip}) has ${t.count} targets, not one`);
      if (o.settled && t.iqn !== disks.get(id)?.iqn) v.push(`tgtd on ${ip} serves "${t.iqn}", not disk ${id}'s IQN ${disks.get(id)?.iqn}`);
      if (o.settled && o.backingOf && !t.backing.includes(o.backingOf(`image-${id}`))) v.push(`tgtd on ${ip} has backing [${t.backing}], not image-${id}`);
    }
  }
  if (o.settled) {
    for (const ip of served.keys()) if (!byIp.has(ip)) v.push(`path IP ${ip} (disk ${served.get(ip)}) is marked served but no tgtd serves it`);
    for (const ip of byIp.keys()) if (ipUse.has(ip) && !served.has(ip)) v.push(`tgtd serves ${ip}, whose path is not marked served`);
  }
  return v;
}

/**
 * The target of a tgtd, as tgtadm shows it: its only one (any tid: a disk's tid is its number), the
 * lowest tid if it has several (`count` says how many); iqn '' when it has none.
 */
export async function showTarget(controlPort: number): Promise<{ iqn: string; backing: string[]; count?: number } | undefined> {
  try {
    const { stdout } = await run('tgtadm', ['-C', String(controlPort), '--lld', 'iscsi', '--op', 'show', '--mode', 'target'], {
      timeoutMs: 10_000,
    });
    const all = parseShowTargets(stdout).sort((a, b) => a.tid - b.tid);
    const t = all[0];
    return t
      ? { iqn: t.iqn, backing: t.luns.map((l) => l.backingPath).filter((b) => b !== ''), ...(all.length > 1 ? { count: all.length } : {}) }
      : { iqn: '', backing: [] };
  } catch {
    return undefined;
  }
}

/**
 * The portal IPs a tgtd listens on now, as tgtadm shows them (its command line names only the one it
 * started with: portals are added and deleted at run time); undefined when it did not answer.
 */
export async function showPortals(controlPort: number): Promise<string[] | undefined> {
  try {
    const { stdout } = await run('tgtadm', ['-C', String(controlPort), '--lld', 'iscsi', '--op', 'show', '--mode', 'portal'], {
      timeoutMs: 10_000,
    });
    return [...stdout.matchAll(/^Portal: \[?([^\]\s]+?)\]?:\d+,\d+$/gm)].map((m) => m[1] as string);
  } catch {
    return undefined;
  }
}

/**
 * Collects a snapshot: keys, images, and the tgtds of ipPrefix (found by the portal on their command
 * line, or a warm-pool tgtd listening on one of ipPrefix) with what each serves, one entry per portal it listens on. A tgtd that does not answer, or
 * listens on no portal, keeps the entry of its command line's portal (so it is not lost from view).
 */
export async function snapshot(kvs: KeyValue[] | CoordStore, images: ImageRecord[] | ImageStore, ipPrefix: string): Promise<Snapshot> {
  const k = Array.isArray(kvs) ? kvs : await kvs.list('/portway/');
  const i = Array.isArray(images) ? images : await images.list();
  const tgtds: TgtdProc[] = [];
  const targets = new Map<number, { iqn: string; backing: string[] } | undefined>();
  for (const t of tgtdProcs(ipPrefix)) {
    targets.set(t.pid, await showTarget(t.controlPort));
    const portals = await showPortals(t.controlPort);
    if (!portals?.length) tgtds.push(t);
    else for (const ip of portals) tgtds.push({ ...t, ip });
  }
  // A tgtd of a warm pool that took a disk: its command line names only its placeholder portal.
  for (const t of warmTgtdProcs()) {
    const portals = (await showPortals(t.controlPort))?.filter((ip) => ip.startsWith(ipPrefix)) ?? [];
    if (!portals.length) continue; // idle, or another run's
    targets.set(t.pid, await showTarget(t.controlPort));
    for (const ip of portals) tgtds.push({ ...t, ip });
  }
  tgtds.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.pid - b.pid));
  return { kvs: k, images: i, tgtds, targets };
}

/** path IP -> the node named by its owner key (undefined: the path has no owner key). */
function ownerOfIp(kvs: KeyValue[]): Map<string, string | undefined> {
  const ips = new Map<string, string>(); // "<id>/<n>" -> ip
  const owner = new Map<string, string>(); // "<id>/<n>" -> node
  for (const kv of kvs) {
    let m = PATH.exec(kv.key);
    if (m) {
      const p = json(kv.value);
      if (typeof p?.ip === 'string') ips.set(`${m[1]}/${m[2]}`, p.ip);
      continue;
    }
    m = OWNER.exec(kv.key);
    if (m) {
      const ow = json(kv.value);
      if (typeof ow?.node === 'string') owner.set(`${m[1]}/${m[2]}`, ow.node);
    }
  }
  return new Map([...ips].map(([ref, ip]) => [ip, owner.get(ref)]));
}

/**
 * "No path is served by a node that does not own it", which holds at every instant, not only once
 * the system has settled: the agent creates a path's owner key before it starts the path's tgtd and
 * deletes it only after that tgtd stopped (and fences itself before its lease, and so its keys, can
 * expire). `s` was taken between two reads of the keys (s.kvs before the tgtds were listed, `later`
 * after): a tgtd alive in between had its owner key in at least one of them. So a tgtd of a path
 * whose owner key names no node, or another node than `node`, in both reads is a violation.
 * Only for a product whose process is alive (a crashed one cannot fence: its tgtds outlive its lease).
 */
export function unownedServing(s: Snapshot, later: KeyValue[], node?: string): string[] {
  const before = ownerOfIp(s.kvs);
  const after = ownerOfIp(later);
  const owns = (m: Map<string, string | undefined>, ip: string) => {
    const n = m.get(ip);
    return n !== undefined && (node === undefined || n === node);
  };
  const v: string[] = [];
  for (const t of s.tgtds) {
    if (!before.has(t.ip) && !after.has(t.ip)) continue; // an IP no path has: check() reports it
    if (owns(before, t.ip) || owns(after, t.ip)) continue;
    const who = after.get(t.ip) ?? before.get(t.ip);
    v.push(`tgtd pid ${t.pid} serves ${t.ip}, a path ${who === undefined ? 'nobody owns' : `owned by ${who}`}${node ? `, not by ${node}` : ''}`);
  }
  return v;
}

class Inconsistent extends Error {}

/**
 * Waits (bounded) until the system has converged after a fault, then holds it to the strict check.
 * Every poll takes a snapshot between two key reads and fails at once on what must hold at every
 * instant: the unsettled check (never two tgtds per portal, never a tgtd for an IP no path has, no
 * lost disk or orphan image: call it with no operation in flight) and unownedServing. It returns (the
 * ms it waited) once a snapshot passes the settled check, and fails at the deadline with the
 * violations of the last one. Reads that fail (a store just back) are retried until the deadline.
 */
export async function waitConsistent(
  read: { keys: () => Promise<KeyValue[]>; images: () => Promise<ImageRecord[]>; ipPrefix: string },
  o: CheckOptions & { node?: string; timeoutMs: number },
  what = 'system',
): Promise<number> {
  const t0 = Date.now();
  let last = 'no snapshot could be taken';
  await waitFor(
    async () => {
      const s = await snapshot(await read.keys(), await read.images(), read.ipPrefix);
      const later = await read.keys();
      const always = [...check(s, { ...o, settled: false }), ...unownedServing(s, later, o.node)];
      if (always.length > 0) throw new Inconsistent(`${what} is inconsistent while converging:\n  - ${always.join('\n  - ')}`);
      const strict = check(s, { ...o, settled: true });
      last = strict.join('\n  - ');
      return strict.length === 0;
    },
    {
      what: `${what} to converge`,
      timeoutMs: o.timeoutMs,
      intervalMs: 200,
      retry: (e) => !(e instanceof Inconsistent), // a read that failed (a store just back): the next poll
      detail: () => `\n  - ${last}`,
    },
  );
  return Date.now() - t0;
}

/** Throws with every violation listed. */
export function assertConsistent(s: Snapshot, o: CheckOptions, what = 'system'): void {
  const v = check(s, o);
  if (v.length > 0) throw new Error(`${what} is inconsistent:\n  - ${v.join('\n  - ')}`);
}

/**
 * The keys of an embedded store, read from its files (snapshot.json + wal.log) without opening it:
 * a running product holds its lock. Keys under a lease that is revoked or expired are left out, as
 * the store would drop them. Read-only; used for products that run in a child process.
 */
export function readEmbeddedStoreDir(dir: string, now = Date.now()): KeyValue[] {
  const kv = new Map<string, KeyValue>();
  const leases = new Map<string, number>();
  const snap = join(dir, 'snapshot.json');
  if (existsSync(snap)) {
    const s = JSON.parse(readFileSync(snap, 'utf8')) as {
      kv: [string, { value: string; createRevision: number; modRevision: number; lease?: string }][];
      leases: [string, { expiresAt: number }][];
    };
    for (const [k, e] of s.kv)
      kv.set(k, {
        key: k,
        value: e.value,
        createRevision: e.createRevision,
        modRevision: e.modRevision,
        ...(e.lease ? { lease: e.lease } : {}),
      });
    for (const [id, l] of s.leases) leases.set(id, l.expiresAt);
  }
  const wal = join(dir, 'wal.log');
  if (existsSync(wal)) {
    for (const line of readFileSync(wal, 'utf8').split('\n')) {
      if (line === '') continue;
      let r: any;
      try {
        r = JSON.parse(line);
      } catch {
        break;
      }
      if (r.op === 'put')
        kv.set(r.k, {
          key: r.k,
          value: r.v,
          createRevision: kv.get(r.k)?.createRevision ?? r.r,
          modRevision: r.r,
          ...(r.l ? { lease: r.l } : {}),
        });
      else if (r.op === 'del') kv.delete(r.k);
      else if (r.op === 'lease') leases.set(r.id, r.exp);
      else if (r.op === 'unlease') leases.delete(r.id);
    }
  }
  return [...kv.values()]
    .filter((e) => e.key.startsWith('/portway/') && (e.lease === undefined || (leases.get(e.lease) ?? 0) > now))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
