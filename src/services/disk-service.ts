/**
 * Disk management: the add-disk flow of SPEC.md (validate, allocate, id, image + metadata, keys),
 * the disk list and each disk's paths. Adds are serialized so two admins never get one id or IP.
 */
import type { Logger } from 'pino';
import { type CoordStore, createAllIfAbsent } from '../adapters/coord/types.js';
import { type ImageStore, ImageStoreError } from '../adapters/images/types.js';
import { type AddDiskRequest, parseAddDisk, planAddDisk } from '../domain/add-disk.js';
import type { ResolvedSubnet } from '../domain/config.js';
import { type DiskMeta, type DiskStatus, type SubnetChoice, diskIdOfImage, diskIqn, formatDiskId, imageName, parseDiskId, parseDiskMeta, sizeBytes } from '../domain/disk.js';
import { type DiskState, ROOT, assembleDisks, diskKey, diskRecordOf, pathKey } from '../domain/keys.js';
import { parseIp } from '../domain/ip.js';
import { type Failure, fail } from '../domain/outcomes.js';
import { diskStatus, servedCount } from '../domain/status.js';
import { Mutex } from '../util/async.js';
import { errText } from '../util/errors.js';

export interface DiskView {
  id: string;
  name: string;
  sizeGb: number;
  iqn: string;
  createdAt: string;
  pathCount: number;
  pathsServed: number;
  status: DiskStatus;
  acl: string;
  chapUser: string;
  subnet: SubnetChoice;
}

export interface PathView {
  index: number;
  ip: string;
  subnetMask: string;
  eth: string;
  node: string | null;
  state: 'unassigned' | 'configuring' | 'served';
}

export type Result<T> = ({ ok: true } & T) | Failure;

export interface DiskServiceOptions {
  store: CoordStore;
  images: ImageStore;
  subnet1: ResolvedSubnet;
  subnet2: ResolvedSubnet;
  iqnBase: string;
  pool: string;
  log: Logger;
}

export function diskView(d: DiskState): DiskView {
  const r = d.record;
  return {
    id: r.id,
    name: r.name,
    sizeGb: r.sizeGb,
    iqn: r.iqn,
    createdAt: r.createdAt,
    pathCount: d.paths.size,
    pathsServed: servedCount(d),
    status: diskStatus(d),
    acl: r.acl,
    chapUser: r.chapUser,
    subnet: r.subnet,
  };
}

export class DiskService {
  private readonly addLock = new Mutex();

  constructor(private readonly o: DiskServiceOptions) {}

  private async readDisks(): Promise<Map<string, DiskState> | Failure> {
    try {
      return assembleDisks(await this.o.store.list(`${ROOT}/`));
    } catch (e) {
      this.o.log.error({ err: errText(e) }, 'disk list unreadable');
      return fail('disk_list_unreadable', 'The disk list cannot be read from the coordination store right now; try again.');
    }
  }

  async list(): Promise<Result<{ disks: DiskView[] }>> {
    const disks = await this.readDisks();
    if (disks instanceof Map) return { ok: true, disks: [...disks.values()].map(diskView).sort((a, b) => (a.id < b.id ? -1 : 1)) };
    return disks;
  }

  async get(id: string): Promise<Result<{ disk: DiskView }>> {
    const d = await this.one(id);
    return d.ok ? { ok: true, disk: diskView(d.state) } : d;
  }

  async paths(id: string): Promise<Result<{ paths: PathView[] }>> {
    const d = await this.one(id);
    if (!d.ok) return d;
    const paths = [...d.state.paths.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, p]): PathView => {
        const owner = d.state.owners.get(index);
        return { index, ip: p.ip, subnetMask: p.subnetMask, eth: p.eth, node: owner?.node ?? null, state: owner?.state ?? 'unassigned' };
      });
    return { ok: true, paths };
  }

  private async one(id: string): Promise<Result<{ state: DiskState }>> {
    if (parseDiskId(id) === undefined) return fail('disk_not_found', `There is no disk ${String(id).slice(0, 20)}.`);
    const disks = await this.readDisks();
    if (!(disks instanceof Map)) return disks;
    const state = disks.get(id);
    return state ? { ok: true, state } : fail('disk_not_found', `There is no disk ${id}.`);
  }

  /** SPEC.md's add-disk, steps 1-6. Returns at once: the paths are allocated, not yet served. */
  async add(req: AddDiskRequest): Promise<Result<{ disk: DiskView }>> {
    const input = parseAddDisk(req);
    if ('ok' in input) return input;
    return this.addLock.run(async () => {
      const disks = await this.readDisks();
      if (!(disks instanceof Map)) return disks;
      const usedIps = new Set<number>();
      const names = new Set<string>();
      for (const d of disks.values()) {
        names.add(d.record.name);
        for (const p of d.paths.values()) {
          const n = parseIp(p.ip);
          if (n !== undefined) usedIps.add(n);
        }
      }
      const plan = planAddDisk(
        input,
        { subnet1: this.o.subnet1, subnet2: this.o.subnet2, iqnBase: this.o.iqnBase, pool: this.o.pool, usedIps, diskIds: disks.keys(), diskNames: names },
        new Date(),
      );
      if ('ok' in plan) return plan;
      const created = await this.createImage(plan);
      if ('ok' in created) return created;
      return this.register(created);
    });
  }

  /** Step 4: the image with its metadata. An id held by an unregistered image moves on to the next. */
  private async createImage(meta: DiskMeta): Promise<DiskMeta | Failure> {
    let m = meta;
    for (let attempt = 0; attempt < 1000; attempt++) {
      try {
        await this.o.images.create(imageName(m.id), sizeBytes(m.sizeGb), JSON.stringify(m));
        this.o.log.info({ disk: m.id, name: m.name, sizeGb: m.sizeGb, paths: m.paths.map((p) => p.ip) }, 'image created');
        return m;
      } catch (e) {
        if (e instanceof ImageStoreError && e.code === 'exists') {
          const n = (parseDiskId(m.id) ?? 0) + 1;
          if (n > 99999) break;
          const id = formatDiskId(n);
          m = { ...m, id, iqn: diskIqn(this.o.iqnBase, id) };
          continue;
        }
        this.o.log.error({ disk: m.id, err: errText(e) }, 'image creation failed');
        if (e instanceof ImageStoreError && e.code === 'no_space')
          return fail('storage_error', 'The storage backend has no space left for this disk.');
        return fail('storage_error', 'The disk image could not be created in the storage backend; nothing was added.');
      }
    }
    return fail('no_disk_id', 'Every disk id is in use.');
  }

  /** Step 5: the disk's keys, created only if absent. On failure the image is removed again. */
  /** The disk's keys, created only if absent, in one transaction. */
  private async registerKeys(meta: DiskMeta): Promise<Failure | undefined> {
    const kvs = [
      { key: diskKey(meta.id), value: JSON.stringify(diskRecordOf(meta, 'started')) },
      ...meta.paths.map((p, i) => ({ key: pathKey(meta.id, i + 1), value: JSON.stringify(p) })),
    ];
    try {
      if (!(await createAllIfAbsent(this.o.store, kvs))) return fail('disk_exists', `Disk ${meta.id} is already registered; nothing was added.`);
    } catch (e) {
      this.o.log.error({ disk: meta.id, err: errText(e) }, 'disk registration failed');
      return fail('coordination_error', 'The coordination store did not accept the disk; nothing was added. Try again.');
    }
    this.o.log.info({ disk: meta.id, name: meta.name }, 'disk registered');
    return undefined;
  }

  private async register(meta: DiskMeta): Promise<Result<{ disk: DiskView }>> {
    const outcome = await this.registerKeys(meta);
    if (!outcome) {
      const state: DiskState = { record: diskRecordOf(meta, 'started'), paths: new Map(meta.paths.map((p, i) => [i + 1, p])), owners: new Map() };
      return { ok: true, disk: diskView(state) };
    }
    try {
      await this.o.images.remove(imageName(meta.id));
    } catch (e) {
      this.o.log.error({ disk: meta.id, image: imageName(meta.id), err: errText(e) }, 'rollback failed: image left behind');
    }
    return outcome;
  }

  /**
   * Rebuilds the coordination store from the storage backend alone: every image `image-<id>` whose
   * metadata is a disk's and that is not registered gets its disk and path keys back (started).
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
    const registered: string[] = [];
    const skipped: { image: string; reason: string }[] = [];
    for (const img of images) {
      const id = diskIdOfImage(img.name);
      if (!id) continue;
      if (disks.has(id)) continue;
      const meta = parseDiskMeta(img.meta);
      if (!meta || meta.id !== id) {
        skipped.push({ image: img.name, reason: img.metaError ?? 'no Portway metadata' });
        continue;
      }
      const r = await this.registerKeys(meta);
      if (r) skipped.push({ image: img.name, reason: r.message });
      else registered.push(id);
    }
    this.o.log.info({ registered: registered.length, skipped: skipped.length }, 'disk list rebuilt from images');
    return { ok: true, registered, skipped };
  }

  /** Calls onChange (coalesced) whenever a disk, path or owner changes. */
  async watch(onChange: () => void): Promise<() => Promise<void>> {
    let timer: NodeJS.Timeout | undefined;
    const w = await this.o.store.watch(`${ROOT}/`, () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        onChange();
      }, 50);
    });
    return async () => {
      if (timer) clearTimeout(timer);
      await w.close();
    };
  }
}
