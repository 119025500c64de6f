/**
 * The node agent (PetaSAN's iscsi_service): takes the paths no node holds under its own lease, makes
 * their IPs live, serves their targets, and gives back what it should no longer hold. It reconciles
 * the store's desired state with tgtd's actual portals on every change, every few seconds, and at
 * start (adopting the daemons and keys a previous run of this node left, so a restart flaps nothing).
 *
 * Fencing: the lease is renewed every ttl/3. If no renewal has succeeded for `fenceAfter` (< ttl)
 * since the last successful renewal was *sent*, the agent kills its tgtds and drops its IPs before
 * the store can expire the lease and hand the paths to another node. See docs/HA.md.
 */
import type { Logger } from 'pino';
import type { ImageStore } from '../adapters/images/types.js';
import type { HostNetwork } from '../adapters/net/loopback.js';
import type { TargetSpec, TgtDriver } from '../adapters/target/tgt.js';
import { type CoordStore, CoordError, type KeyValue, type Lease, type Watch } from '../adapters/coord/types.js';
import { type DiskMeta, imageName, parseDiskMeta } from '../domain/disk.js';
import { type DiskState, type NodeRecord, type OwnerRecord, ROOT, assembleDisks, nodeKey, ownerKey, parseKey } from '../domain/keys.js';
import { prefixOfMask } from '../domain/ip.js';
import { type PathRef, placePaths } from '../domain/placement.js';
import { Coalescer, mapSettled } from '../util/async.js';
import { errText } from '../util/errors.js';

export interface AgentOptions {
  node: string;
  store: CoordStore;
  images: ImageStore;
  target: TgtDriver;
  net: HostNetwork;
  log: Logger;
  leaseTtlSeconds?: number;
  resyncMs?: number;
  /** Parallel target configurations. */
  concurrency?: number;
}

interface Owned {
  id: string;
  index: number;
  ip: string;
  kv: KeyValue;
}

export class Agent {
  private lease: Lease | undefined;
  private watch: Watch | undefined;
  private timers: NodeJS.Timeout[] = [];
  private readonly reconciler: Coalescer;
  private lastRenewSentOk = 0;
  private fenced = false;
  private stopped = false;
  private metaCache = new Map<string, { rev: number; meta: DiskMeta }>();
  readonly ttl: number;

  constructor(private readonly o: AgentOptions) {
    this.ttl = o.leaseTtlSeconds ?? 10;
    this.reconciler = new Coalescer(
      () => this.reconcileOnce(),
      (e) => this.o.log.error({ err: errText(e) }, 'reconcile failed'),
    );
  }

  get node(): string {
    return this.o.node;
  }

  async start(): Promise<void> {
    await this.joinCluster();
    this.watch = await this.o.store.watch(
      `${ROOT}/`,
      () => void this.reconciler.trigger(),
      () => void this.reconciler.trigger(),
    );
    this.timers.push(setInterval(() => void this.renew(), (this.ttl * 1000) / 3));
    this.timers.push(setInterval(() => void this.reconciler.trigger(), this.o.resyncMs ?? 5000));
    await this.reconcile();
  }

  private async joinCluster(): Promise<void> {
    const sentAt = Date.now();
    this.lease = await this.o.store.grantLease(this.ttl);
    this.lastRenewSentOk = sentAt;
    const rec: NodeRecord = { name: this.o.node, startedAt: new Date().toISOString() };
    await this.o.store.put(nodeKey(this.o.node), JSON.stringify(rec), { lease: this.lease.id });
    this.fenced = false;
    this.o.log.info({ node: this.o.node, lease: this.lease.id, ttl: this.ttl }, 'agent joined');
  }

  /** Runs a reconcile now (or right after the one in progress) and waits for it. */
  reconcile(): Promise<void> {
    return this.reconciler.trigger();
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    const sentAt = Date.now();
    try {
      if (!this.lease || this.fenced) {
        await this.joinCluster();
        void this.reconciler.trigger();
        return;
      }
      await this.lease.keepAliveOnce();
      this.lastRenewSentOk = sentAt;
    } catch (e) {
      const lost = e instanceof CoordError && e.code === 'lease_lost';
      const silentFor = Date.now() - this.lastRenewSentOk;
      this.o.log.warn({ err: errText(e), silentForMs: silentFor }, 'lease renewal failed');
      if (lost || silentFor >= this.fenceAfterMs()) await this.fence(lost ? 'lease lost' : 'lease not renewed in time');
    }
  }

  /** Fence well before the lease (ttl) can expire: 60% of ttl, leaving time to kill tgtds. */
  private fenceAfterMs(): number {
    return this.ttl * 600;
  }

  /** Stops serving everything at once: this node may no longer own any path. */
  async fence(reason: string): Promise<void> {
    if (this.fenced) return;
    this.fenced = true;
    this.o.log.error({ reason }, 'fencing: dropping every path of this node');
    const portals = await this.o.target.portals();
    await mapSettled(portals, 16, async (p) => {
      await this.o.target.unserve(p.ip);
      await this.o.net.removeIp(p.ip, 32, '');
    });
    this.lease = undefined;
  }

  private async reconcileOnce(): Promise<void> {
    if (this.stopped || this.fenced || !this.lease) return;
    const lease = this.lease;
    const kvs = await this.o.store.list(`${ROOT}/`);
    const disks = assembleDisks(kvs);
    const nodes: string[] = [];
    for (const kv of kvs) {
      const k = parseKey(kv.key);
      if (k.kind !== 'node') continue;
      try {
        const rec = JSON.parse(kv.value) as NodeRecord;
        if (!rec.drained) nodes.push(rec.name);
      } catch {}
    }
    const ownerKvs = new Map(kvs.filter((kv) => parseKey(kv.key).kind === 'owner').map((kv) => [kv.key, kv]));

    // What this node holds, and what every node holds (for placement).
    const mine: Owned[] = [];
    const held = new Map<string, PathRef[]>();
    const unowned: PathRef[] = [];
    const release: Owned[] = [];
    for (const d of disks.values()) {
      const wanted = d.record.desired === 'started';
      for (const [index, path] of d.paths) {
        const owner = d.owners.get(index);
        const kv = ownerKvs.get(ownerKey(d.record.id, index));
        if (!owner || !kv) {
          if (wanted) unowned.push({ id: d.record.id, index });
          continue;
        }
        const list = held.get(owner.node) ?? [];
        list.push({ id: d.record.id, index });
        held.set(owner.node, list);
        if (owner.node !== this.o.node) continue;
        const o: Owned = { id: d.record.id, index, ip: path.ip, kv };
        if (wanted) mine.push(o);
        else release.push(o);
      }
    }
    // Owner keys of this node whose disk or path is gone.
    for (const kv of ownerKvs.values()) {
      const k = parseKey(kv.key);
      if (k.kind !== 'owner') continue;
      const d = disks.get(k.id);
      if (d?.paths.has(k.index)) continue;
      try {
        if ((JSON.parse(kv.value) as OwnerRecord).node === this.o.node) await this.o.store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ type: 'delete', key: kv.key }]);
      } catch {}
    }

    // Adopt keys left by a previous run of this node (same name, older lease).
    for (const o of mine) {
      if (o.kv.lease === lease.id) continue;
      const ok = await this.o.store.txn([{ key: o.kv.key, modRevision: o.kv.modRevision }], [{ type: 'put', key: o.kv.key, value: o.kv.value, lease: lease.id }]);
      if (ok) {
        const now = await this.o.store.get(o.kv.key);
        if (now) o.kv = now;
        this.o.log.info({ disk: o.id, path: o.index }, 'adopted path from previous run');
      }
    }

    for (const o of release) await this.releasePath(o);

    // Take this node's share of the unowned paths.
    const plan = placePaths(unowned, nodes.includes(this.o.node) ? nodes : [...nodes, this.o.node], held);
    const toTake = plan.get(this.o.node) ?? [];
    for (const p of toTake) {
      const key = ownerKey(p.id, p.index);
      const value = JSON.stringify({ node: this.o.node, state: 'configuring' } satisfies OwnerRecord);
      const ok = await this.o.store.txn([{ key, modRevision: 0 }], [{ type: 'put', key, value, lease: lease.id }]);
      if (!ok) continue;
      const kv = await this.o.store.get(key);
      const path = disks.get(p.id)?.paths.get(p.index);
      if (kv && path) mine.push({ id: p.id, index: p.index, ip: path.ip, kv });
    }

    // Serve everything this node holds (idempotent), then mark it served.
    await mapSettled(mine, this.o.concurrency ?? 8, async (o) => {
      const d = disks.get(o.id) as DiskState;
      try {
        await this.servePath(o, d);
      } catch (e) {
        this.o.log.error({ disk: o.id, path: o.index, ip: o.ip, err: errText(e) }, 'cannot serve path');
      }
    });

    // Portals tgtd still has that this node no longer holds.
    const keep = new Set(mine.map((o) => o.ip));
    for (const p of await this.o.target.portals()) {
      if (keep.has(p.ip)) continue;
      this.o.log.info({ ip: p.ip }, 'removing stale portal');
      await this.o.target.unserve(p.ip);
      await this.o.net.removeIp(p.ip, 32, '');
    }
  }

  private async diskMeta(d: DiskState, rev: number): Promise<DiskMeta> {
    const cached = this.metaCache.get(d.record.id);
    if (cached && cached.rev === rev) return cached.meta;
    const raw = await this.o.images.getMeta(imageName(d.record.id));
    const meta = parseDiskMeta(raw);
    if (!meta) throw new Error(`image ${imageName(d.record.id)} has no readable Portway metadata`);
    this.metaCache.set(d.record.id, { rev, meta });
    return meta;
  }

  private async servePath(o: Owned, d: DiskState): Promise<void> {
    const path = d.paths.get(o.index);
    if (!path) return;
    const diskKv = await this.o.store.get(`${ROOT}/disks/${o.id}`);
    const meta = await this.diskMeta(d, diskKv?.modRevision ?? 0);
    const spec: TargetSpec = {
      iqn: meta.iqn,
      backing: this.o.images.backing(imageName(o.id)),
      acl: meta.acl,
      chapUser: meta.chapUser,
      chapPassword: meta.chapPassword,
      serial: o.id,
      sizeGb: meta.sizeGb,
    };
    await this.o.net.addIp(path.ip, prefixOfMask(path.subnetMask) ?? 32, path.eth);
    await this.o.target.serve(path.ip, spec);
    const owner = JSON.parse(o.kv.value) as OwnerRecord;
    if (owner.state === 'served') return;
    const value = JSON.stringify({ node: this.o.node, state: 'served' } satisfies OwnerRecord);
    const ok = await this.o.store.txn([{ key: o.kv.key, modRevision: o.kv.modRevision }], [{ type: 'put', key: o.kv.key, value, lease: this.lease?.id ?? '' }]);
    if (ok) this.o.log.info({ disk: o.id, path: o.index, ip: path.ip }, 'path served');
  }

  private async releasePath(o: Owned): Promise<void> {
    await this.o.target.unserve(o.ip);
    await this.o.net.removeIp(o.ip, 32, '');
    await this.o.store.txn([{ key: o.kv.key, modRevision: o.kv.modRevision }], [{ type: 'delete', key: o.kv.key }]);
    this.o.log.info({ disk: o.id, path: o.index, ip: o.ip }, 'path released');
  }

  /**
   * Stops the agent. release=true gives every path back (targets removed, keys deleted, lease revoked);
   * release=false leaves targets running and keys under the lease, for a restart that adopts them.
   */
  async stop({ release }: { release: boolean }): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.watch?.close().catch(() => {});
    await this.reconciler.trigger(); // waits for a run in progress (it returns at once: stopped)
    if (!release) return;
    for (const p of await this.o.target.portals()) {
      await this.o.target.unserve(p.ip);
      await this.o.net.removeIp(p.ip, 32, '');
    }
    if (this.lease) await this.lease.revoke().catch((e) => this.o.log.warn({ err: errText(e) }, 'lease revoke failed'));
    this.o.log.info({ node: this.o.node }, 'agent stopped, paths released');
  }
}
