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
import { diskStatus } from '../domain/status.js';
import { errText } from '../util/errors.js';

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
  /** Runs fn on the disk under its lock; disk_not_found / disk_list_unreadable when it cannot be read. */
  locked<T>(id: string, fn: (state: DiskState) => Promise<Result<T>>, exclusive?: boolean): Promise<Result<T>>;
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

  async list(id: string): Promise<Result<{ snapshots: SnapshotView[]; mode: SnapshotMode }>> {
    return this.disks.locked(
      id,
      async () => {
        try {
          const [snaps, mode] = await Promise.all([this.images.snapshotList(imageName(id)), this.images.snapshotMode(imageName(id))]);
          return { ok: true, snapshots: snaps.map(snapshotView), mode };
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
   * without reflink) only of a stopped disk, else snapshot_needs_stop.
   */
  async create(id: string, body: { name?: unknown }): Promise<Result<{ snapshot: SnapshotView }>> {
    const name = parseSnapshotName(body.name);
    if (typeof name !== 'string') return name;
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
}
