/**
 * Disk management: the add-disk flow of docs/PRODUCT.md (validate, allocate, id, image + metadata, keys),
 * the disk list and each disk's paths. Adds are serialized so two admins never get one id or IP.
 */
import { clientsPrefix } from '../domain/storage-clients.js';
import { type ConnectedHost, connectedHosts, describeHosts, hostsPrefix } from '../domain/hosts.js';
import type { Logger } from 'pino';
import type { CoordStore, KeyValue, TxnOp } from '../adapters/coord/types.js';
import { type ImageStore, ImageStoreError } from '../adapters/images/types.js';
import { type AddDiskInput, type AddDiskRequest, parseAddDisk, planAddDisk } from '../domain/add-disk.js';
import { type EditDiskRequest, applyEdit } from '../domain/edit-disk.js';
import type { ResolvedSubnet } from '../domain/config.js';
import { type DiskMeta, diskIdOfImage, diskIqn, formatDiskId, imageName, parseDiskId, parseDiskMeta, sizeBytes } from '../domain/disk.js';
import {
  type DiskRecord,
  type DiskState,
  DISKS,
  IPS,
  NAMES,
  NODES,
  OWNERS,
  PENDING,
  pendingKey,
  snapshotRunKey,
  snapshotScheduleKey,
  assembleDisks,
  diskKey,
  diskRecordOf,
  ipKey,
  nameKey,
  registrationKvs,
} from '../domain/keys.js';
import { allocateAuto } from '../domain/allocate.js';
import { formatIp, parseIp } from '../domain/ip.js';
import { parsePathCount, parseSubnetChoice } from '../domain/validate.js';
import { recordJson } from '../domain/records.js';
import { type Failure, fail } from '../domain/outcomes.js';
import { hasQos, qosUnsupported, sameQos } from '../domain/qos.js';
import { diskStatus } from '../domain/status.js';
import { KeyedMutex, Mutex, sleep } from '../util/async.js';
import { errText } from '../util/errors.js';
import type { PathRow } from '../api/wire.js';
import { type DiskView, type PathView, diskView } from './disk-view.js';
import { DiskListCache } from './disk-list-cache.js';
import { SnapshotService } from './snapshot-service.js';
import { SnapshotSchedules } from './snapshot-schedules.js';
import { withStoreLock } from './store-lock.js';

export { type DiskView, type PathView, diskView } from './disk-view.js';

export type Result<T> = ({ ok: true } & T) | Failure;

/** A new disk's data from a snapshot of another (clone). */
export interface CloneSource {
  disk: string;
  snapshot: string;
}

export interface DiskServiceOptions {
  /** This server's name in intent keys (the node name); adds it left unfinished are undone at its next start. */
  server?: string;
  store: CoordStore;
  images: ImageStore;
  subnet1: ResolvedSubnet;
  subnet2: ResolvedSubnet;
  iqnBase: string;
  pool: string;
  log: Logger;
  /**
   * Keep the disk list in memory, fed by a store watch (default true). Off: every list reads the
   * store (used by the list benchmark to show the difference).
   */
  listCache?: boolean;
}

export class DiskService {
  private readonly addLock = new Mutex();
  private readonly diskLocks = new KeyedMutex();

  private readonly server: string;
  private readonly cache: DiskListCache | undefined;
  /** The store; with the list cache, writes to disk keys return once the cache has seen them. */
  private readonly store: CoordStore;

  /** Snapshots of the disks (services/snapshot-service.ts). */
  readonly snapshots: SnapshotService;
  /** Their snapshot schedules (services/snapshot-schedules.ts; run by services/snapshot-scheduler.ts). */
  readonly schedules: SnapshotSchedules;

  constructor(private readonly o: DiskServiceOptions) {
    this.snapshots = new SnapshotService(o.images, this, o.log);
    this.schedules = new SnapshotSchedules(o.store, this, this.snapshots, o.log);
    this.server = o.server ?? 'local';
    this.cache = o.listCache === false ? undefined : new DiskListCache(o.store, o.log);
    this.store = this.cache ? this.cache.track(o.store) : o.store;
  }

  /** Whether the image store enforces QoS limits (RBD); limits are refused otherwise. */
  get qosSupported(): boolean {
    return this.o.images.qosSupported;
  }

  /** New cluster settings (a watch on the store): adds from now on allocate and name by them. */
  setCluster(c: { subnet1: ResolvedSubnet; subnet2: ResolvedSubnet; iqnBase: string; pool: string }): void {
    this.o.subnet1 = c.subnet1;
    this.o.subnet2 = c.subnet2;
    this.o.iqnBase = c.iqnBase;
    this.o.pool = c.pool;
  }

  /** Closes the list cache's watches (the store itself is the caller's). */
  async close(): Promise<void> {
    await this.cache?.close();
  }

  /** Disks, paths and owners: two prefix reads, whatever else lives in the store. */
  private async readDisks(): Promise<Map<string, DiskState> | Failure> {
    try {
      const [disks, owners] = await Promise.all([this.store.list(DISKS), this.store.list(OWNERS)]);
      return assembleDisks([...disks, ...owners]);
    } catch (e) {
      this.o.log.error({ err: errText(e) }, 'disk list unreadable');
      return fail('disk_list_unreadable', 'The disk list cannot be read from the coordination store right now; try again.');
    }
  }

  /**
   * Every disk, sorted by id. From the list cache when it is live (the same array while nothing
   * changed: callers must not modify it), else read from the store.
   */
  async list(): Promise<Result<{ disks: readonly DiskView[] }>> {
    const cached = await this.cache?.list();
    if (cached) return { ok: true, disks: cached };
    const disks = await this.readDisks();
    if (disks instanceof Map) return { ok: true, disks: [...disks.values()].map(diskView).sort((a, b) => (a.id < b.id ? -1 : 1)) };
    return disks;
  }

  /** Every path of every disk (by disk id, then path number): IP, serving node and state. */
  async allPaths(): Promise<Result<{ paths: PathRow[] }>> {
    const disks = await this.readDisks();
    if (!(disks instanceof Map)) return disks;
    const rows: PathRow[] = [];
    for (const d of [...disks.values()].sort((a, b) => (a.record.id < b.record.id ? -1 : 1))) {
      const v = diskView(d);
      for (const [index, p] of [...d.paths.entries()].sort(([a], [b]) => a - b)) {
        const owner = d.owners.get(index);
        rows.push({
          diskId: v.id,
          diskName: v.name,
          diskStatus: v.status,
          placement: v.placement,
          index,
          ip: p.ip,
          node: owner?.node ?? null,
          state: owner?.state ?? 'unassigned',
        });
      }
    }
    return { ok: true, paths: rows };
  }

  async get(id: string): Promise<Result<{ disk: DiskView }>> {
    const d = await this.one(id);
    if (!d.ok) return d;
    const hosts = await this.hostsOf(d.state);
    return { ok: true, disk: { ...diskView(d.state), ...(hosts ? { hosts } : {}) } };
  }

  /**
   * The initiators logged in to the disk's paths, as the serving nodes' tgtds last told (domain/hosts.ts);
   * undefined when the store cannot be read.
   */
  private async hostsOf(state: DiskState): Promise<ConnectedHost[] | undefined> {
    try {
      const [records, nodes] = await Promise.all([this.store.list(hostsPrefix(state.record.id)), this.store.list(NODES)]);
      const live = new Set(nodes.map((kv) => kv.key.slice(NODES.length)));
      const ips = new Map([...state.paths].map(([n, p]) => [p.ip, n] as const));
      return connectedHosts(records, live, ips);
    } catch (e) {
      this.o.log.warn({ disk: state.record.id, err: errText(e) }, 'connected hosts unreadable');
      return undefined;
    }
  }

  /** Refuses an action that would cut hosts off, listing them, unless forced. */
  private async refuseIfConnected(state: DiskState, action: string, force: boolean): Promise<Failure | undefined> {
    if (force) return undefined;
    const hosts = await this.hostsOf(state);
    if (hosts === undefined)
      return fail('coordination_error', `Who is connected to disk ${state.record.id} cannot be read right now; try again, or ${action} it with force.`);
    if (hosts.length === 0) return undefined;
    return fail(
      'hosts_connected',
      `${hosts.length === 1 ? 'A host is' : `${hosts.length} sessions are`} connected to disk ${state.record.id}: ${describeHosts(hosts)}. They lose the disk if you ${action} it; ${action} it with force to go ahead.`,
      undefined,
      { hosts },
    );
  }

  async paths(id: string): Promise<Result<{ paths: PathView[] }>> {
    const d = await this.one(id);
    if (!d.ok) return d;
    const hosts = (await this.hostsOf(d.state)) ?? [];
    const paths = [...d.state.paths.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, p]): PathView => {
        const owner = d.state.owners.get(index);
        return {
          hosts: hosts.filter((h) => h.path === index),
          index,
          ip: p.ip,
          subnetMask: p.subnetMask,
          eth: p.eth,
          node: owner?.node ?? null,
          state: owner?.state ?? 'unassigned',
          ...(owner?.problem && owner.state !== 'served' ? { problem: owner.problem } : {}),
        };
      });
    return { ok: true, paths };
  }

  private async one(id: string): Promise<Result<{ state: DiskState }>> {
    if (parseDiskId(id) === undefined) return fail('disk_not_found', `There is no disk ${String(id).slice(0, 20)}.`);
    let kvs: KeyValue[];
    try {
      const [disk, owners] = await Promise.all([this.store.list(`${diskKey(id)}`), this.store.list(`${OWNERS}${id}/`)]);
      kvs = [...disk.filter((kv) => kv.key === diskKey(id) || kv.key.startsWith(`${diskKey(id)}/`)), ...owners];
    } catch (e) {
      this.o.log.error({ err: errText(e) }, 'disk unreadable');
      return fail('disk_list_unreadable', 'The disk cannot be read from the coordination store right now; try again.');
    }
    const state = assembleDisks(kvs).get(id);
    return state ? { ok: true, state } : fail('disk_not_found', `There is no disk ${id}.`);
  }

  private async usage(): Promise<
    { disks: Map<string, DiskState>; usedIps: Set<number>; ipOwners: Map<number, string>; names: Set<string>; pendingIds: string[] } | Failure
  > {
    const disks = await this.readDisks();
    if (!(disks instanceof Map)) return disks;
    // Ids of adds in progress or failed and being cleaned up (intent keys): not to be given out again.
    let pendingIds: string[];
    try {
      pendingIds = (await this.store.list(PENDING)).map((kv) => kv.key.slice(PENDING.length)).filter((id) => parseDiskId(id) !== undefined);
    } catch (e) {
      this.o.log.error({ err: errText(e) }, 'disk list unreadable');
      return fail('disk_list_unreadable', 'The disk list cannot be read from the coordination store right now; try again.');
    }
    const usedIps = new Set<number>();
    const ipOwners = new Map<number, string>();
    const names = new Set<string>();
    for (const d of disks.values()) {
      names.add(d.record.name);
      for (const [index, p] of d.paths) {
        const n = parseIp(p.ip);
        if (n === undefined) continue;
        usedIps.add(n);
        ipOwners.set(n, `path ${index} of disk ${d.record.id} "${d.record.name}"`);
      }
    }
    return { disks, usedIps, ipOwners, names, pendingIds };
  }

  /**
   * The add-disk flow of docs/PRODUCT.md ("Adding a disk"), steps 1-6. Returns at once: the paths are allocated, not yet served.
   * Adds of this process run one at a time; adds of other API servers are kept apart by the
   * registration transaction, which creates one index key per IP and per name only if absent:
   * the loser of a race removes its image and plans again.
   */
  async add(req: AddDiskRequest, source?: CloneSource): Promise<Result<{ disk: DiskView }>> {
    const input = parseAddDisk(req);
    if ('ok' in input) return input;
    if (input.qos && !this.o.images.qosSupported) return qosUnsupported(this.o.images.kind);
    return this.allocating(async () => {
      let last: Failure | undefined;
      for (let attempt = 0; attempt < 5; attempt++) {
        const u = await this.usage();
        if ('ok' in u) return u;
        const plan = this.plan(input, u);
        if ('ok' in plan) return plan;
        const created = await this.createImage(plan, source);
        if ('ok' in created) return created;
        const r = await this.register(created);
        if (r.ok || r.code !== 'disk_exists') return r;
        last = r; // another server registered the same id, IP or name meanwhile: plan again
      }
      return last ?? fail('error', 'The disk could not be added.');
    });
  }

  /**
   * The IPs automatic allocation would give a new disk now (nothing is reserved: an add made meanwhile
   * may take them).
   */
  async previewIps(activePaths: unknown, subnet: unknown): Promise<Result<{ ips: { path: number; ip: string; subnet: 1 | 2 }[] }>> {
    const count = parsePathCount(activePaths);
    if (typeof count !== 'number') return count;
    const choice = parseSubnetChoice(subnet);
    if (typeof choice !== 'number') return choice;
    const u = await this.usage();
    if ('ok' in u) return u;
    const r = allocateAuto(choice, count, this.o.subnet1, this.o.subnet2, u.usedIps);
    if (!r) return fail('ip_out_of_range', `No ${count} consecutive free IPs are left in the automatic range of the chosen subnet.`, 'activePaths');
    return { ok: true, ips: r.map((a, i) => ({ path: i + 1, ip: formatIp(a.ip), subnet: a.subnet === this.o.subnet1 ? 1 : 2 })) };
  }

  /** Steps 2-3 (domain): paths, id and metadata for input, given the disks that exist. */
  private plan(
    input: AddDiskInput,
    u: { disks: Map<string, DiskState>; usedIps: Set<number>; ipOwners?: Map<number, string>; names: Set<string>; pendingIds: string[] },
  ): DiskMeta | Failure {
    const cluster = {
      subnet1: this.o.subnet1,
      subnet2: this.o.subnet2,
      iqnBase: this.o.iqnBase,
      pool: this.o.pool,
      usedIps: u.usedIps,
      ...(u.ipOwners ? { ipOwners: u.ipOwners } : {}),
      diskIds: [...u.disks.keys(), ...u.pendingIds],
      diskNames: u.names,
    };
    return planAddDisk(input, cluster, new Date());
  }

  /** Runs an id/IP allocating operation: one at a time in this process, and across API servers. */
  private allocating<T>(fn: () => Promise<Result<T>>): Promise<Result<T>> {
    return this.addLock.run(async () => {
      try {
        return await withStoreLock(this.store, 'allocate', fn);
      } catch (e) {
        this.o.log.error({ err: errText(e) }, 'allocation lock unavailable');
        return fail('coordination_error', 'The coordination store is unavailable or busy; nothing was added. Try again.');
      }
    });
  }

  /**
   * Step 4: the image with its metadata. An id held by an unregistered image moves on to the next.
   * An intent key `pending/<id>` naming this server is written first and removed with the disk's
   * registration, so an add cut short by a crash is found and undone at the next start
   * (recoverInterruptedAdds): no orphan image survives a crash between image and keys.
   */
  private async createImage(meta: DiskMeta, source?: CloneSource): Promise<DiskMeta | Failure> {
    let m = meta;
    for (let attempt = 0; attempt < 1000; attempt++) {
      try {
        await this.store.put(pendingKey(m.id), recordJson('pending', { server: this.server, image: imageName(m.id), at: new Date().toISOString() }));
      } catch (e) {
        this.o.log.error({ disk: m.id, err: errText(e) }, 'cannot record the add');
        return fail('coordination_error', 'The coordination store is unavailable; nothing was added. Try again.');
      }
      try {
        if (source) await this.o.images.cloneFrom(imageName(source.disk), source.snapshot, imageName(m.id), recordJson('meta', m));
        else await this.o.images.create(imageName(m.id), sizeBytes(m.sizeGb), recordJson('meta', m));
        // A clone may carry its parent's limits (RBD copies image-meta): the new disk's own apply.
        if (this.o.images.qosSupported && (m.qos || source)) await this.o.images.setQos(imageName(m.id), m.qos ?? {});
        this.o.log.info({ disk: m.id, name: m.name, sizeGb: m.sizeGb, paths: m.paths.map((p) => p.ip) }, 'image created');
        return m;
      } catch (e) {
        if (e instanceof ImageStoreError && e.code === 'exists') {
          // Another image has this name (not ours: never removed); try the next id.
          await this.store.delete(pendingKey(m.id)).catch(() => {});
        } else {
          // A create can fail after it made the image or part of it (a timeout, Ceph's metadata step).
          // It is removed in the background (a storage backend that is down would hold the reply up to
          // its deadline); the intent key keeps the id reserved until then, or until the next start
          // removes the image if this cannot.
          void this.removeFailedImage(m.id);
        }
        if (e instanceof ImageStoreError && e.code === 'too_large')
          return fail('invalid_size', `The storage backend cannot hold a ${m.sizeGb} GB image; choose a smaller size.`, 'sizeGb');
        if (e instanceof ImageStoreError && e.code === 'exists') {
          const n = (parseDiskId(m.id) ?? 0) + 1;
          if (n > 99999) break;
          const id = formatDiskId(n);
          m = { ...m, id, iqn: diskIqn(this.o.iqnBase, id) };
          continue;
        }
        this.o.log.error({ disk: m.id, err: errText(e) }, 'image creation failed');
        if (source && e instanceof ImageStoreError && e.code === 'not_found')
          return fail('snapshot_not_found', `Disk ${source.disk} has no snapshot "${source.snapshot}" (any more); nothing was added.`);
        if (e instanceof ImageStoreError && e.code === 'no_space') return fail('storage_error', 'The storage backend has no space left for this disk.');
        return fail('storage_error', 'The disk image could not be created in the storage backend; nothing was added.');
      }
    }
    return fail('no_disk_id', 'Every disk id is in use.');
  }

  private async removeFailedImage(id: string): Promise<void> {
    const gone = await this.o.images.remove(imageName(id)).then(
      () => true,
      (err) => err instanceof ImageStoreError && err.code === 'not_found',
    );
    if (gone) await this.store.delete(pendingKey(id)).catch(() => {});
    else this.o.log.warn({ disk: id }, 'the image of a failed add cannot be removed now; it is removed at the next start');
  }

  /**
   * The disk's keys (record, paths, IP and name index), created only if absent, in one transaction.
   * A store client may retry a transaction that did apply and then report it as failed (or time out
   * on the reply), so a failure is checked against what the store holds before it is believed.
   */
  private async registerKeys(meta: DiskMeta, desired: DiskRecord['desired'] = 'started', pending = false): Promise<Failure | undefined> {
    const kvs = registrationKvs(meta, desired);
    const record = kvs[0] as { key: string; value: string };
    const ops: TxnOp[] = kvs.map((kv) => ({ type: 'put', key: kv.key, value: kv.value }));
    if (pending) ops.push({ type: 'delete', key: pendingKey(meta.id) });
    let failure: Failure | undefined;
    try {
      if (
        !(await this.store.txn(
          kvs.map((kv) => ({ key: kv.key, modRevision: 0 })),
          ops,
        ))
      )
        failure = fail('disk_exists', `Disk ${meta.id}, its name or one of its IPs is already registered; nothing was added.`);
    } catch (e) {
      this.o.log.error({ disk: meta.id, err: errText(e) }, 'disk registration failed');
      failure = fail('coordination_error', 'The coordination store did not accept the disk; nothing was added. Try again.');
    }
    if (failure && (await this.holds(record.key, record.value))) failure = undefined;
    if (failure) return failure;
    this.o.log.info({ disk: meta.id, name: meta.name }, 'disk registered');
    return undefined;
  }

  /** Does the store hold exactly this value at key? Retries reads for a few seconds; false when it can't tell. */
  private async holds(key: string, value: string): Promise<boolean> {
    const end = Date.now() + 5000;
    for (;;) {
      try {
        return (await this.store.get(key))?.value === value;
      } catch {
        if (Date.now() > end) return false;
        await sleep(250);
      }
    }
  }

  /** Registers a new image's disk; on failure the image is removed again (no orphan), then its intent. */
  private async register(meta: DiskMeta): Promise<Result<{ disk: DiskView }>> {
    const outcome = await this.registerKeys(meta, 'started', true);
    if (!outcome) {
      const state: DiskState = { record: diskRecordOf(meta, 'started'), paths: new Map(meta.paths.map((p, i) => [i + 1, p])), owners: new Map() };
      return { ok: true, disk: diskView(state) };
    }
    try {
      await this.o.images.remove(imageName(meta.id));
      await this.store.delete(pendingKey(meta.id)).catch(() => {});
    } catch (e) {
      // The intent key stays: the next start of this server removes the image.
      this.o.log.error({ disk: meta.id, image: imageName(meta.id), err: errText(e) }, 'rollback failed: image left for recovery');
    }
    return outcome;
  }

  /**
   * Undoes this server's adds that a crash cut short: an image whose disk was never registered is
   * removed. Run at start, before the API serves requests.
   */
  async recoverInterruptedAdds(): Promise<{ removed: string[] }> {
    const removed: string[] = [];
    for (const kv of await this.store.list(PENDING)) {
      let intent: { server?: string; image?: string };
      try {
        intent = JSON.parse(kv.value) as { server?: string; image?: string };
      } catch {
        continue;
      }
      if (intent.server !== this.server) continue;
      const id = kv.key.slice(PENDING.length);
      if (parseDiskId(id) === undefined) continue;
      if (!(await this.store.get(diskKey(id)))) {
        try {
          await this.o.images.remove(imageName(id));
          removed.push(imageName(id));
        } catch (e) {
          if (!(e instanceof ImageStoreError && e.code === 'not_found')) throw e;
        }
      }
      await this.store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ type: 'delete', key: kv.key }]);
    }
    if (removed.length) this.o.log.warn({ removed }, 'removed images of adds interrupted by a crash');
    return { removed };
  }

  /** Bytes used and total of the storage backend (Ceph pool or the state directory's filesystem). */
  async capacity(): Promise<Result<{ usedBytes: number; totalBytes: number }>> {
    try {
      return { ok: true, ...(await this.o.images.usage()) };
    } catch (e) {
      this.o.log.error({ err: errText(e) }, 'storage usage unreadable');
      return fail('storage_error', 'The storage backend does not answer.');
    }
  }

  /** Waits for the adds and attaches in progress (for a clean stop). */
  drain(): Promise<void> {
    return this.addLock.run(async () => {});
  }

  private async readMeta(id: string): Promise<DiskMeta | Failure> {
    try {
      const meta = parseDiskMeta(await this.o.images.getMeta(imageName(id)));
      return meta ?? fail('meta_unreadable', `The metadata of disk ${id} cannot be read from its image.`);
    } catch (e) {
      this.o.log.error({ disk: id, err: errText(e) }, 'metadata unreadable');
      return fail('meta_unreadable', `The metadata of disk ${id} cannot be read from its image.`);
    }
  }

  /**
   * Runs fn on one disk (snapshots and the like): under its lock in this process unless exclusive is
   * false (reads).
   */
  locked<T>(id: string, fn: (state: DiskState) => Promise<Result<T>>, exclusive = true): Promise<Result<T>> {
    if (exclusive) return this.onDisk(id, (state) => fn(state));
    return this.one(id).then((d) => (d.ok ? fn(d.state) : d));
  }

  /** Runs fn on one disk, serialized per disk in this process; its store writes compare the record's revision. */
  private onDisk<T>(id: string, fn: (state: DiskState, rev: number) => Promise<Result<T>>): Promise<Result<T>> {
    return this.diskLocks.run(id, async () => {
      const d = await this.one(id);
      if (!d.ok) return d;
      const kv = await this.store.get(diskKey(id)).catch(() => undefined);
      if (!kv) return fail('disk_not_found', `There is no disk ${id}.`);
      return fn(d.state, kv.modRevision);
    });
  }

  private async txnOrConflict(id: string, rev: number, ops: TxnOp[], extra: { key: string; modRevision: number }[] = []): Promise<Failure | undefined> {
    try {
      if (await this.store.txn([{ key: diskKey(id), modRevision: rev }, ...extra], ops)) return undefined;
      return fail('disk_busy', `Disk ${id} was changed by someone else meanwhile; try again.`);
    } catch (e) {
      this.o.log.error({ disk: id, err: errText(e) }, 'store update failed');
      return fail('coordination_error', 'The coordination store did not accept the change; nothing was changed. Try again.');
    }
  }

  private setDesired(id: string, desired: DiskRecord['desired'], force = true): Promise<Result<{ disk: DiskView }>> {
    return this.onDisk(id, async (state, rev) => {
      if (state.record.desired !== desired) {
        const refused = desired === 'stopped' ? await this.refuseIfConnected(state, 'stop', force) : undefined;
        if (refused) return refused;
        const record: DiskRecord = { ...state.record, desired };
        // The image's metadata first (what a rebuild reads back); put back if the store refuses the change.
        const meta = await this.readMeta(id);
        if ('ok' in meta) return meta;
        const marked = await this.markDesired(id, meta, desired);
        if (marked) return marked;
        const f = await this.txnOrConflict(id, rev, [{ type: 'put', key: diskKey(id), value: recordJson('disk', record) }]);
        if (f) {
          await this.markDesired(id, meta, meta.desired ?? 'started');
          return f;
        }
        state.record = record;
        this.o.log.info({ disk: id, desired }, desired === 'stopped' ? 'disk stopping' : 'disk starting');
      }
      return { ok: true, disk: diskView(state) };
    });
  }

  /** Writes the desired state into the image's metadata; a failure to return when it could not. */
  private async markDesired(id: string, meta: DiskMeta, desired: 'started' | 'stopped'): Promise<Failure | undefined> {
    if ((meta.desired ?? 'started') === desired) return undefined;
    try {
      await this.o.images.setMeta(imageName(id), recordJson('meta', { ...meta, desired }));
      return undefined;
    } catch (e) {
      this.o.log.error({ disk: id, err: errText(e) }, 'metadata update failed');
      return fail('storage_error', `The metadata of disk ${id} cannot be written to its image; nothing was changed.`);
    }
  }

  /**
   * Stop: paths are released by their nodes (targets removed); status stopping, then stopped. Idempotent.
   * Refused (hosts_connected, listing them) while initiators are logged in, unless `force`.
   */
  stop(id: string, opts: { force?: boolean } = {}): Promise<Result<{ disk: DiskView }>> {
    return this.setDesired(id, 'stopped', opts.force === true);
  }

  /** Start: the paths are served again. Idempotent. */
  start(id: string): Promise<Result<{ disk: DiskView }>> {
    return this.setDesired(id, 'started');
  }

  /** Edit: rename, grow, ACL, CHAP, placement, QoS limits (applied to the image, live). Metadata with the image first, then the record (lists). */
  edit(id: string, req: EditDiskRequest): Promise<Result<{ disk: DiskView }>> {
    return this.onDisk(id, async (state, rev) => {
      const meta = await this.readMeta(id);
      if ('ok' in meta) return meta;
      const next = applyEdit(meta, req);
      if ('ok' in next) return next;
      const qosChanged = !sameQos(meta.qos, next.qos);
      if (qosChanged && hasQos(next.qos) && !this.o.images.qosSupported) return qosUnsupported(this.o.images.kind);
      const ops: TxnOp[] = [];
      const compares: { key: string; modRevision: number }[] = [];
      if (next.name !== meta.name) {
        const taken = await this.store.get(nameKey(next.name)).catch(() => undefined);
        if (taken) return fail('disk_name_exists', `A disk named "${next.name}" already exists.`, 'name');
        compares.push({ key: nameKey(next.name), modRevision: 0 });
        ops.push({ type: 'delete', key: nameKey(meta.name) }, { type: 'put', key: nameKey(next.name), value: id });
      }
      try {
        if (next.sizeGb > meta.sizeGb) await this.o.images.resize(imageName(id), sizeBytes(next.sizeGb));
        if (qosChanged) await this.o.images.setQos(imageName(id), next.qos ?? {});
        await this.o.images.setMeta(imageName(id), recordJson('meta', next));
      } catch (e) {
        this.o.log.error({ disk: id, err: errText(e) }, 'image update failed');
        if (qosChanged) await this.o.images.setQos(imageName(id), meta.qos ?? {}).catch(() => {});
        return fail('storage_error', 'The storage backend did not accept the change.');
      }
      const record: DiskRecord = { ...diskRecordOf(next, state.record.desired) };
      ops.push({ type: 'put', key: diskKey(id), value: recordJson('disk', record) });
      const f = await this.txnOrConflict(id, rev, ops, compares);
      if (f) {
        // Put the image's metadata back as it was (the size can only stay grown).
        await this.o.images.setMeta(imageName(id), recordJson('meta', { ...meta, sizeGb: next.sizeGb })).catch(() => {});
        if (qosChanged) await this.o.images.setQos(imageName(id), meta.qos ?? {}).catch(() => {});
        return f.code === 'disk_busy' && compares.length ? fail('disk_name_exists', `A disk named "${next.name}" already exists.`, 'name') : f;
      }
      this.o.log.info(
        { disk: id, name: next.name, sizeGb: next.sizeGb, acl: next.acl || 'ALL', chap: next.chapUser !== '', qos: next.qos ?? {} },
        'disk edited',
      );
      state.record = record;
      return { ok: true, disk: diskView(state) };
    });
  }

  private requireStopped(state: DiskState, action: string): Failure | undefined {
    const status = diskStatus(state);
    if (status !== 'stopped')
      return fail('disk_not_stopped', `Disk ${state.record.id} is ${status}: stop it and wait until it is stopped before you ${action} it.`);
    return undefined;
  }

  private unregisterOps(state: DiskState): TxnOp[] {
    const id = state.record.id;
    return [
      { type: 'delete', key: diskKey(id) },
      { type: 'deletePrefix', prefix: `${diskKey(id)}/` },
      ...[...state.paths.values()].map((p): TxnOp => ({ type: 'delete', key: ipKey(p.ip) })),
      { type: 'delete', key: nameKey(state.record.name) },
      // RBD clients nodes recorded for storage fencing (domain/storage-clients.ts): nothing to fence any more.
      { type: 'deletePrefix', prefix: clientsPrefix(id) },
      { type: 'deletePrefix', prefix: hostsPrefix(id) },
      // Its snapshot schedule goes with it (a later disk with this id starts without one).
      { type: 'delete', key: snapshotScheduleKey(id) },
      { type: 'delete', key: snapshotRunKey(id) },
    ];
  }

  /** Delete (stopped disks only): the image, then every key. Safe to retry after a failure midway. */
  delete(id: string, opts: { force?: boolean } = {}): Promise<Result<{ id: string }>> {
    return this.onDisk(id, async (state, rev) => {
      const f = this.requireStopped(state, 'delete') ?? (await this.refuseIfConnected(state, 'delete', opts.force === true));
      if (f) return f;
      try {
        await this.o.images.remove(imageName(id));
      } catch (e) {
        if (!(e instanceof ImageStoreError && e.code === 'not_found')) {
          this.o.log.error({ disk: id, err: errText(e) }, 'image removal failed');
          if (e instanceof ImageStoreError && e.code === 'has_clones')
            return fail('snapshot_has_clones', `Disk ${id} has a snapshot that other disks are cloned from: flatten them first (${e.message}).`);
          return fail(
            'storage_error',
            e instanceof ImageStoreError && e.code === 'busy'
              ? `The image of disk ${id} is still in use; try again shortly.`
              : `The image of disk ${id} could not be removed; nothing was deleted.`,
          );
        }
      }
      const t = await this.txnOrConflict(id, rev, this.unregisterOps(state));
      if (t) return t;
      this.o.log.info({ disk: id, name: state.record.name }, 'disk deleted');
      return { ok: true, id };
    });
  }

  /** Detach (stopped disks only): the image and its metadata stay, marked detached; the disk leaves the SAN. */
  detach(id: string, opts: { force?: boolean } = {}): Promise<Result<{ image: string }>> {
    return this.onDisk(id, async (state, rev) => {
      const f = this.requireStopped(state, 'detach') ?? (await this.refuseIfConnected(state, 'detach', opts.force === true));
      if (f) return f;
      const meta = await this.readMeta(id);
      if (!('ok' in meta)) {
        try {
          await this.o.images.setMeta(imageName(id), recordJson('meta', { ...meta, detached: true }));
        } catch (e) {
          this.o.log.error({ disk: id, err: errText(e) }, 'metadata update failed');
          return fail('storage_error', 'The storage backend did not accept the change; nothing was detached.');
        }
      }
      const t = await this.txnOrConflict(id, rev, this.unregisterOps(state));
      if (t) return t;
      this.o.log.info({ disk: id, image: imageName(id) }, 'disk detached');
      return { ok: true, image: imageName(id) };
    });
  }

  /** Images in the storage backend that are not disks of the SAN (detached or made elsewhere). */
  async freeImages(): Promise<Result<{ images: { image: string; sizeBytes: number; name: string | null; detached: boolean }[] }>> {
    const u = await this.readDisks();
    if (!(u instanceof Map)) return u;
    try {
      const all = await this.o.images.list();
      return {
        ok: true,
        images: all
          .filter((i) => !u.has(diskIdOfImage(i.name) ?? ''))
          .map((i) => {
            const m = parseDiskMeta(i.meta) as (DiskMeta & { detached?: boolean }) | undefined;
            return { image: i.name, sizeBytes: i.sizeBytes, name: m?.name ?? null, detached: m?.detached === true };
          }),
      };
    } catch (e) {
      this.o.log.error({ err: errText(e) }, 'image list unreadable');
      return fail('storage_error', 'The image list cannot be read from the storage backend.');
    }
  }

  /**
   * Attach an image that is not a disk (detached, or made outside Portway) as a disk again. With
   * `keepPaths` and Portway metadata, its id, name, ACL, CHAP and path IPs are kept when still free;
   * otherwise the request's fields apply as for an add (name, paths, ACL, CHAP) and the image keeps
   * its size. Images not named image-<id> are renamed to image-<new id>.
   */
  async attach(req: AddDiskRequest & { image?: unknown; keepPaths?: unknown }): Promise<Result<{ disk: DiskView }>> {
    if (typeof req.image !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(req.image))
      return fail('image_not_found', 'Name an image of the pool to attach.');
    const image = req.image;
    return this.allocating(async () => {
      const u = await this.usage();
      if ('ok' in u) return u;
      let rec: Awaited<ReturnType<ImageStore['list']>>[number] | undefined;
      try {
        rec = (await this.o.images.list()).find((i) => i.name === image);
      } catch (e) {
        this.o.log.error({ err: errText(e) }, 'image list unreadable');
        return fail('storage_error', 'The image list cannot be read from the storage backend.');
      }
      if (!rec) return fail('image_not_found', `There is no image ${image}.`);
      const ownId = diskIdOfImage(image);
      if (ownId && u.disks.has(ownId)) return fail('disk_exists', `Image ${image} is already disk ${ownId}.`);
      const old = parseDiskMeta(rec.meta);
      const sizeGb = Math.max(1, Math.ceil(rec.sizeBytes / 1024 ** 3));
      let meta: DiskMeta;
      if (req.keepPaths === true && old) {
        if (u.names.has(old.name)) return fail('disk_name_exists', `A disk named "${old.name}" already exists.`, 'name');
        for (const p of old.paths)
          if (u.usedIps.has(parseIp(p.ip) ?? -1)) return fail('ip_used_already', `Path IP ${p.ip} of this image is used by another disk now.`, 'path1');
        meta = { ...old, sizeGb };
        delete (meta as { detached?: boolean }).detached;
      } else {
        const input = parseAddDisk({ ...req, name: req.name ?? old?.name, sizeGb });
        if ('ok' in input) return input;
        const plan = this.plan(input, u);
        if ('ok' in plan) return plan;
        meta = { ...plan, sizeGb };
      }
      // Keep the image's own id when it has one that is free; else the planned (next) id.
      const id = ownId && !u.disks.has(ownId) ? ownId : meta.id;
      // An attached disk starts (as it registers started): its image says so for a later rebuild.
      meta = { ...meta, id, iqn: diskIqn(this.o.iqnBase, id) };
      delete meta.desired;
      try {
        if (image !== imageName(id)) await this.o.images.rename(image, imageName(id));
        await this.o.images.setMeta(imageName(id), recordJson('meta', meta));
        // The image's limits as its metadata says (none unless kept): no stale override left enforced unseen.
        if (this.o.images.qosSupported) await this.o.images.setQos(imageName(id), meta.qos ?? {});
      } catch (e) {
        this.o.log.error({ image, err: errText(e) }, 'attach: image update failed');
        return fail('storage_error', `Image ${image} could not be prepared as disk ${id}.`);
      }
      const f = await this.registerKeys(meta);
      if (f) return f;
      this.o.log.info({ disk: id, image, name: meta.name }, 'image attached');
      return { ok: true, disk: diskView({ record: diskRecordOf(meta, 'started'), paths: new Map(meta.paths.map((p, i) => [i + 1, p])), owners: new Map() }) };
    });
  }

  /**
   * Rebuilds the coordination store from the storage backend alone: every image `image-<id>` whose
   * metadata is a disk's (and not detached) and that is not registered gets its keys back (started).
   */
  async rebuildFromImages(): Promise<Result<{ registered: string[]; skipped: { image: string; reason: string }[] }>> {
    const disks = await this.readDisks();
    if (!(disks instanceof Map)) return disks;
    let images: Awaited<ReturnType<ImageStore['list']>>;
    try {
      images = await this.o.images.list();
    } catch (e) {
      this.o.log.error({ err: errText(e) }, 'image list unreadable');
      return fail('storage_error', 'The image list cannot be read from the storage backend.');
    }
    // Index entries of disks that are not registered (a partly wiped store) would block re-registration.
    try {
      const index = [...(await this.store.list(IPS)), ...(await this.store.list(NAMES))];
      for (const kv of index) if (!disks.has(kv.value)) await this.store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ type: 'delete', key: kv.key }]);
    } catch (e) {
      this.o.log.error({ err: errText(e) }, 'index cleanup failed');
      return fail('coordination_error', 'The coordination store is unavailable; nothing was rebuilt.');
    }
    const registered: string[] = [];
    const skipped: { image: string; reason: string }[] = [];
    for (const img of images) {
      const id = diskIdOfImage(img.name);
      if (!id || disks.has(id)) continue;
      const meta = parseDiskMeta(img.meta) as (DiskMeta & { detached?: boolean }) | undefined;
      if (!meta || meta.id !== id) {
        skipped.push({ image: img.name, reason: img.metaError ?? 'no Portway metadata' });
        continue;
      }
      if (meta.detached) {
        skipped.push({ image: img.name, reason: 'detached' });
        continue;
      }
      const r = await this.registerKeys(meta, meta.desired ?? 'started');
      if (r) skipped.push({ image: img.name, reason: r.message });
      else registered.push(id);
    }
    this.o.log.info({ registered: registered.length, skipped: skipped.length }, 'disk list rebuilt from images');
    return { ok: true, registered, skipped };
  }

  /** Calls onChange (coalesced) whenever a disk, path or owner changes. */
  async watch(onChange: () => void): Promise<() => Promise<void>> {
    let timer: NodeJS.Timeout | undefined;
    const fire = () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        onChange();
      }, 50);
    };
    // With the list cache, every subscriber shares its two watches; without it, two watches each.
    const ws = this.cache ? [] : await Promise.all([this.store.watch(DISKS, fire, fire), this.store.watch(OWNERS, fire, fire)]);
    const unsubscribe = this.cache ? await this.cache.subscribe(fire) : undefined;
    return async () => {
      if (timer) clearTimeout(timer);
      unsubscribe?.();
      await Promise.all(ws.map((w) => w.close()));
    };
  }
}
