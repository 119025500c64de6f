/**
 * Snapshots of a disk (docs/PRODUCT.md "Snapshots and clones"): create, list, delete, rollback. The
 * image store holds them (RBD snapshots; on a single box copies of the image file), so nothing about them
 * lives in the coordination store. Every change runs under the disk's lock (DiskService.locked), so a
 * start, stop or edit of the same disk through this server waits for it.
 */
import type { Logger } from 'pino';
import { type ImageStore, ImageStoreError, type SnapshotMode, type SnapshotRecord } from '../adapters/images/types.js';
import { imageName, parseDiskMeta, sizeBytes } from '../domain/disk.js';
import type { DiskState } from '../domain/keys.js';
import { type Failure, fail } from '../domain/outcomes.js';
import { cloneRef, parseSnapshotName } from '../domain/snapshot.js';
import { reservedName } from '../domain/snapshot-schedule.js';
import { diskStatus } from '../domain/status.js';
import { errText } from '../util/errors.js';
import type { AddDiskRequest } from '../domain/add-disk.js';
import type { DiskView } from './disk-view.js';

const GiB = 1024 ** 3;

type Result<T> = ({ ok: true } & T) | Failure;

export interface SnapshotView {
  name: string;
  createdAt: string;
  sizeBytes: number;
  usedBytes?: number;
  /** Disks (ids) or images cloned from it that still depend on it. */
  clones: string[];
  /** A copy still being made: 0-100. */
  progressPct?: number;
}

export interface SnapshotAccess {
  /** The add-disk flow, with the new disk's data from a snapshot. */
  add(req: AddDiskRequest, source: { disk: string; snapshot: string }): Promise<Result<{ disk: DiskView }>>;
  /** Runs fn on the disk under its lock; disk_not_found / disk_list_unreadable when it cannot be read. */
  locked<T>(id: string, fn: (state: DiskState) => Promise<Result<T>>, exclusive?: boolean): Promise<Result<T>>;
}

/** The snapshot a clone still depends on. */
export interface ParentView {
  /** The disk id (or the image name when the image is no disk's). */
  disk: string;
  snapshot: string;
  /** This server is flattening it now. */
  flattening: boolean;
}

export function snapshotView(r: SnapshotRecord): SnapshotView {
  return {
    name: r.name,
    createdAt: r.createdAt,
    sizeBytes: r.sizeBytes,
    ...(r.usedBytes === undefined ? {} : { usedBytes: r.usedBytes }),
    clones: r.clones.map(cloneRef),
    ...(r.progressPct === undefined ? {} : { progressPct: r.progressPct }),
  };
}

export class SnapshotService {
  constructor(
    private readonly images: ImageStore,
    private readonly disks: SnapshotAccess,
    private readonly log: Logger,
  ) {}

  /** The store failure as the API's. */
  private storeFailure(e: unknown, id: string, snap: string, what: string): Failure {
    if (e instanceof ImageStoreError) {
      switch (e.code) {
        case 'not_found':
          return fail('snapshot_not_found', `Disk ${id} has no snapshot "${snap}".`);
        case 'exists':
          return fail('snapshot_exists', `Disk ${id} has a snapshot named "${snap}" already.`, 'name');
        case 'has_clones':
          return fail('snapshot_has_clones', `Snapshot "${snap}" of disk ${id} has clones: flatten them first (${e.message}).`);
        case 'no_space':
          return fail('storage_error', `The storage backend has no space left for ${what}.`);
        default:
      }
    }
    this.log.error({ disk: id, snapshot: snap, err: errText(e) }, `${what} failed`);
    return fail('storage_error', `The storage backend did not complete ${what}; try again.`);
  }

  /** Disks being flattened by this server now. */
  private readonly flattening = new Set<string>();

  async list(id: string): Promise<Result<{ snapshots: SnapshotView[]; mode: SnapshotMode; parent?: ParentView }>> {
    return this.disks.locked(
      id,
      async () => {
        try {
          const [snaps, mode, parent] = await Promise.all([
            this.images.snapshotList(imageName(id)),
            this.images.snapshotMode(imageName(id)),
            this.images.parentOf(imageName(id)),
          ]);
          return {
            ok: true as const,
            snapshots: snaps.map(snapshotView),
            mode,
            ...(parent ? { parent: { disk: cloneRef(parent.image), snapshot: parent.snap, flattening: this.flattening.has(id) } } : {}),
          };
        } catch (e) {
          this.log.error({ disk: id, err: errText(e) }, 'snapshot list unreadable');
          return fail('storage_error', `The snapshots of disk ${id} cannot be read from the storage backend.`);
        }
      },
      false,
    );
  }

  /**
   * Takes a snapshot. Instant (RBD, reflink) at any time; a full copy (a file image on a filesystem
   * without reflink) only of a stopped disk, else snapshot_needs_stop. Names starting with `auto-` are
   * the snapshot schedule's (`scheduled`: the scheduler's own call); anyone else's is refused.
   */
  async create(id: string, body: { name?: unknown }, opts: { scheduled?: boolean } = {}): Promise<Result<{ snapshot: SnapshotView }>> {
    const name = parseSnapshotName(body.name);
    if (typeof name !== 'string') return name;
    const reserved = opts.scheduled ? undefined : reservedName(name);
    if (reserved) return reserved;
    return this.disks.locked(id, async (state) => {
      const image = imageName(id);
      let mode: SnapshotMode;
      try {
        mode = await this.images.snapshotMode(image);
      } catch (e) {
        return this.storeFailure(e, id, name, 'the snapshot');
      }
      const status = diskStatus(state);
      if (mode === 'copy' && status !== 'stopped')
        return fail(
          'snapshot_needs_stop',
          `Disk ${id} is ${status}: this storage cannot take an instant snapshot (no reflink), so the snapshot is a full copy of the image, taken only while the disk is stopped. Stop it first.`,
        );
      const t0 = Date.now();
      try {
        await this.images.snapshotCreate(image, name, { allowCopy: mode === 'copy' });
        const snap = (await this.images.snapshotList(image)).find((s) => s.name === name);
        if (!snap) return fail('storage_error', `Snapshot "${name}" of disk ${id} was taken but is not listed; look again.`);
        this.log.info({ disk: id, snapshot: name, mode, ms: Date.now() - t0 }, 'snapshot taken');
        return { ok: true, snapshot: snapshotView(snap) };
      } catch (e) {
        if (e instanceof ImageStoreError && e.code === 'not_found')
          return fail('image_not_found', `The image of disk ${id} is missing from the storage backend: no snapshot can be taken.`);
        return this.storeFailure(e, id, name, 'the snapshot');
      }
    });
  }

  async delete(id: string, snap: string): Promise<Result<{ name: string }>> {
    const name = parseSnapshotName(snap);
    if (typeof name !== 'string') return fail('snapshot_not_found', `Disk ${id} has no snapshot ${JSON.stringify(String(snap)).slice(0, 70)}.`);
    return this.disks.locked(id, async () => {
      try {
        await this.images.snapshotRemove(imageName(id), name);
        this.log.info({ disk: id, snapshot: name }, 'snapshot deleted');
        return { ok: true, name };
      } catch (e) {
        return this.storeFailure(e, id, name, 'the snapshot removal');
      }
    });
  }

  /**
   * Puts the disk's data back as it was at the snapshot. The disk must be stopped (no target has the
   * image open). A disk grown since keeps its size (the part beyond the snapshot's size reads zeros).
   */
  async rollback(id: string, snap: string): Promise<Result<{ name: string }>> {
    const name = parseSnapshotName(snap);
    if (typeof name !== 'string') return fail('snapshot_not_found', `Disk ${id} has no snapshot ${JSON.stringify(String(snap)).slice(0, 70)}.`);
    return this.disks.locked(id, async (state) => {
      const status = diskStatus(state);
      if (status !== 'stopped')
        return fail('disk_not_stopped', `Disk ${id} is ${status}: stop it and wait until it is stopped before you roll it back to a snapshot.`);
      const image = imageName(id);
      const t0 = Date.now();
      try {
        if (!(await this.images.snapshotList(image)).some((s) => s.name === name && s.progressPct === undefined))
          return fail('snapshot_not_found', `Disk ${id} has no snapshot "${name}".`);
        await this.images.snapshotRollback(image, name);
        const meta = parseDiskMeta(await this.images.getMeta(image));
        const size = (await this.images.list()).find((i) => i.name === image)?.sizeBytes;
        if (meta && size !== undefined && size < sizeBytes(meta.sizeGb)) await this.images.resize(image, sizeBytes(meta.sizeGb));
      } catch (e) {
        return this.storeFailure(e, id, name, 'the rollback');
      }
      this.log.info({ disk: id, snapshot: name, ms: Date.now() - t0 }, 'disk rolled back to a snapshot');
      return { ok: true, name };
    });
  }

  /**
   * A new disk from a snapshot, through the add-disk flow (name, paths, subnet, IPs, ACL, CHAP,
   * placement; its own id, IQN and IPs); its size is the snapshot's (grow it later with edit). RBD: a
   * copy-on-write clone (the snapshot is protected); files: a copy. flatten: the clone's data is copied
   * out of the snapshot in the background, after which the snapshot may be deleted.
   */
  async clone(id: string, snap: string, req: AddDiskRequest & { flatten?: unknown }): Promise<Result<{ disk: DiskView }>> {
    const name = parseSnapshotName(snap);
    if (typeof name !== 'string') return fail('snapshot_not_found', `Disk ${id} has no snapshot ${JSON.stringify(String(snap)).slice(0, 70)}.`);
    if (req.flatten !== undefined && typeof req.flatten !== 'boolean') return fail('invalid_request', 'flatten is true or false.', 'flatten');
    const found = await this.disks.locked(
      id,
      async (): Promise<Result<{ snap: SnapshotRecord }>> => {
        try {
          const s = (await this.images.snapshotList(imageName(id))).find((x) => x.name === name && x.progressPct === undefined);
          return s ? { ok: true, snap: s } : fail('snapshot_not_found', `Disk ${id} has no snapshot "${name}".`);
        } catch (e) {
          return this.storeFailure(e, id, name, 'the clone');
        }
      },
      false,
    );
    if (!found.ok) return found;
    const { flatten, ...add } = req;
    const r = await this.disks.add({ ...add, sizeGb: Math.max(1, Math.ceil(found.snap.sizeBytes / GiB)) }, { disk: id, snapshot: name });
    if (!r.ok) return r;
    this.log.info({ disk: r.disk.id, from: id, snapshot: name, flatten: flatten === true }, 'disk cloned from a snapshot');
    if (flatten === true) void this.flatten(r.disk.id);
    return r;
  }

  /**
   * Copies the data a clone shares with its parent snapshot into it, in the background (the disk keeps
   * serving). Returns at once: started (or already running here), or the reason it cannot.
   */
  async flatten(id: string): Promise<Result<{ flattening: boolean }>> {
    const checked = await this.disks.locked(
      id,
      async (): Promise<Result<{ parent: boolean }>> => {
        try {
          return { ok: true, parent: (await this.images.parentOf(imageName(id))) !== undefined };
        } catch (e) {
          this.log.error({ disk: id, err: errText(e) }, 'clone parent unreadable');
          return fail('storage_error', `The storage backend cannot tell whether disk ${id} is a clone; try again.`);
        }
      },
      false,
    );
    if (!checked.ok) return checked;
    if (!checked.parent) return { ok: true, flattening: false };
    if (this.flattening.has(id)) return { ok: true, flattening: true };
    this.flattening.add(id);
    const t0 = Date.now();
    void this.images
      .flatten(imageName(id))
      .then(
        () => this.log.info({ disk: id, ms: Date.now() - t0 }, 'clone flattened'),
        (e) => this.log.error({ disk: id, err: errText(e) }, 'flatten failed'),
      )
      .finally(() => this.flattening.delete(id));
    return { ok: true, flattening: true };
  }

  /** Is this server flattening the disk now (for tests and the list)? */
  isFlattening(id: string): boolean {
    return this.flattening.has(id);
  }
}
