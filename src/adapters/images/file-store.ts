/**
 * The embedded image store for a single box: each image is a sparse file `<dir>/<name>.img`, and the
 * disk metadata is stored with it in `<dir>/<name>.meta.json` (written to a temporary file, fsynced and
 * renamed, so it is either the old or the new version, never half).
 *
 * Snapshots are files too: `<dir>/<name>.snaps/<snap>.img`, made with `cp` (execFile): a reflink copy
 * (`--reflink=always`: instant, copy-on-write, point in time) where the filesystem has it (XFS with
 * reflink, btrfs), else a sparse copy (`--sparse=always`) that reads the whole image, so it is taken only
 * while nothing writes to it (the service asks for the disk to be stopped first). A copy is written to
 * `<snap>.img.partial` and renamed when complete: the list shows it with its progress meanwhile (bytes
 * allocated so far against the image's). A snapshot's time is its file's mtime, set to when it was taken.
 * Clones are copies of a snapshot made the same way: they share nothing with it afterwards, so a
 * snapshot with clones can be deleted and there is nothing to flatten.
 */
import { constants } from 'node:fs';
import { open, readFile, readdir, rename, rm, stat, statfs, unlink, utimes, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecError, run } from '../exec.js';
import { type Qos, hasQos } from '../../domain/qos.js';
import { type ImageRecord, type ImageStore, ImageStoreError, SNAPSHOT_NAME, type SnapshotMode, type SnapshotRecord, type TargetBacking } from './types.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

function mapFsError(e: unknown, name: string): ImageStoreError {
  const code = errno(e);
  if (code === 'ENOENT') return new ImageStoreError('not_found', `image ${name} does not exist`);
  if (code === 'EEXIST') return new ImageStoreError('exists', `image ${name} already exists`);
  if (code === 'ENOSPC' || code === 'EDQUOT') return new ImageStoreError('no_space', `no space left for image ${name}`);
  if (code === 'EFBIG') return new ImageStoreError('too_large', `image ${name} is larger than the filesystem allows`);
  return new ImageStoreError('io', `image ${name}: ${(e as Error)?.message ?? String(e)}`);
}

export class FileImageStore implements ImageStore {
  readonly kind = 'file' as const;

  constructor(readonly dir: string) {}

  async init(): Promise<this> {
    await mkdir(this.dir, { recursive: true });
    return this;
  }

  private checkName(name: string): void {
    if (!NAME.test(name)) throw new ImageStoreError('io', `invalid image name ${JSON.stringify(name).slice(0, 80)}`);
  }

  private img(name: string): string {
    return join(this.dir, `${name}.img`);
  }

  private metaPath(name: string): string {
    return join(this.dir, `${name}.meta.json`);
  }

  async create(name: string, sizeBytes: number, meta: string | null): Promise<void> {
    this.checkName(name);
    let fh: Awaited<ReturnType<typeof open>> | undefined;
    try {
      fh = await open(this.img(name), constants.O_CREAT | constants.O_EXCL | constants.O_RDWR, 0o600);
    } catch (e) {
      throw mapFsError(e, name);
    }
    try {
      await fh.truncate(sizeBytes);
      await fh.sync();
      await fh.close();
      fh = undefined;
      if (meta !== null) await this.setMeta(name, meta);
    } catch (e) {
      await fh?.close().catch(() => {});
      // Leave nothing half-made behind.
      await unlink(this.img(name)).catch(() => {});
      await unlink(this.metaPath(name)).catch(() => {});
      // setMeta's errors are mapped already (keep their code, e.g. no_space)
      throw e instanceof ImageStoreError ? e : mapFsError(e, name);
    }
  }

  /** Sparse files have no I/O scheduler of their own: QoS limits cannot be enforced. */
  readonly qosSupported = false;

  async setQos(name: string, qos: Qos): Promise<void> {
    if (hasQos(qos)) throw new ImageStoreError('unsupported', `file image ${name}: QoS limits cannot be enforced on file images`);
  }

  async resize(name: string, sizeBytes: number): Promise<void> {
    this.checkName(name);
    try {
      const st = await stat(this.img(name));
      if (sizeBytes < st.size) throw new ImageStoreError('shrink', `image ${name} can only grow (${st.size} -> ${sizeBytes} bytes)`);
      const fh = await open(this.img(name), 'r+');
      try {
        await fh.truncate(sizeBytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (e) {
      throw e instanceof ImageStoreError ? e : mapFsError(e, name);
    }
  }

  async remove(name: string): Promise<void> {
    this.checkName(name);
    try {
      await unlink(this.img(name));
    } catch (e) {
      throw mapFsError(e, name);
    }
    await rm(this.snapDir(name), { recursive: true, force: true }).catch(() => {});
    await unlink(this.metaPath(name)).catch((e) => {
      if (errno(e) !== 'ENOENT') throw mapFsError(e, name);
    });
  }

  async rename(from: string, to: string): Promise<void> {
    this.checkName(from);
    this.checkName(to);
    if (await this.exists(to)) throw new ImageStoreError('exists', `image ${to} already exists`);
    try {
      await rename(this.img(from), this.img(to));
    } catch (e) {
      throw mapFsError(e, from);
    }
    await rename(this.metaPath(from), this.metaPath(to)).catch((e) => {
      if (errno(e) !== 'ENOENT') throw mapFsError(e, from);
    });
    await rename(this.snapDir(from), this.snapDir(to)).catch((e) => {
      if (errno(e) !== 'ENOENT') throw mapFsError(e, from);
    });
  }

  async exists(name: string): Promise<boolean> {
    this.checkName(name);
    try {
      await stat(this.img(name));
      return true;
    } catch (e) {
      if (errno(e) === 'ENOENT') return false;
      throw mapFsError(e, name);
    }
  }

  async list(): Promise<ImageRecord[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch (e) {
      throw mapFsError(e, this.dir);
    }
    const names = entries
      .filter((f) => f.endsWith('.img'))
      .map((f) => f.slice(0, -4))
      .filter((n) => NAME.test(n));
    const out = await Promise.all(
      names.map(async (name): Promise<ImageRecord | undefined> => {
        try {
          const st = await stat(this.img(name));
          const rec: ImageRecord = { name, sizeBytes: st.size, meta: null };
          try {
            rec.meta = await this.getMeta(name);
          } catch (e) {
            rec.metaError = (e as Error).message;
          }
          return rec;
        } catch (e) {
          if (errno(e) === 'ENOENT') return undefined; // removed while listing
          throw mapFsError(e, name);
        }
      }),
    );
    return out.filter((r): r is ImageRecord => r !== undefined).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async getMeta(name: string): Promise<string | null> {
    this.checkName(name);
    if (!(await this.exists(name))) throw new ImageStoreError('not_found', `image ${name} does not exist`);
    try {
      return await readFile(this.metaPath(name), 'utf8');
    } catch (e) {
      if (errno(e) === 'ENOENT') return null;
      throw mapFsError(e, name);
    }
  }

  async setMeta(name: string, meta: string): Promise<void> {
    this.checkName(name);
    if (!(await this.exists(name))) throw new ImageStoreError('not_found', `image ${name} does not exist`);
    const tmp = `${this.metaPath(name)}.tmp`;
    try {
      await writeFile(tmp, meta, { mode: 0o600 });
      const fh = await open(tmp, 'r');
      await fh.sync();
      await fh.close();
      await rename(tmp, this.metaPath(name));
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw mapFsError(e, name);
    }
  }

  backing(name: string): TargetBacking {
    this.checkName(name);
    return { bstype: 'rdwr', path: this.img(name), bsopts: '' };
  }

  /** One box: every path is served by this host's tgtd; no other client can hold the file. */
  async fenceClients(_name: string, _keepIps?: ReadonlySet<string>, _alsoBlocklist?: readonly string[]): Promise<string[]> {
    return [];
  }

  async clients(_name: string): Promise<string[]> {
    return [];
  }

  async clientIp(): Promise<string | undefined> {
    return undefined;
  }

  // ---- snapshots ---------------------------------------------------------------------------------

  private snapDir(name: string): string {
    return join(this.dir, `${name}.snaps`);
  }

  private snapPath(name: string, snap: string): string {
    if (!SNAPSHOT_NAME.test(snap)) throw new ImageStoreError('io', `invalid snapshot name ${JSON.stringify(snap).slice(0, 80)}`);
    return join(this.snapDir(name), `${snap}.img`);
  }

  private reflink: boolean | undefined;

  /** Can this filesystem clone a file instantly (reflink)? Tried once with a small file. */
  private async canReflink(): Promise<boolean> {
    if (this.reflink !== undefined) return this.reflink;
    const a = join(this.dir, `.reflink-probe-${process.pid}`);
    const b = `${a}.copy`;
    try {
      await writeFile(a, 'x');
      await run('cp', ['--reflink=always', '--', a, b], { timeoutMs: 10_000 });
      this.reflink = true;
    } catch {
      this.reflink = false;
    } finally {
      await unlink(a).catch(() => {});
      await unlink(b).catch(() => {});
    }
    return this.reflink;
  }

  async snapshotMode(_name: string): Promise<SnapshotMode> {
    return (await this.canReflink()) ? 'instant' : 'copy';
  }

  /** cp src -> dst (instant: reflink only; else reflink where possible, sparse), cp's errors mapped. */
  private async copy(src: string, dst: string, instant: boolean, what: string): Promise<void> {
    const mode = instant ? ['--reflink=always'] : ['--reflink=auto', '--sparse=always'];
    try {
      // a copy of a large image takes long: no deadline but a day's
      await run('cp', [...mode, '--', src, dst], { timeoutMs: 24 * 3600_000 });
      const fh = await open(dst, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (e) {
      if (e instanceof ExecError) {
        if (/No space left|Disk quota/i.test(e.stderr)) throw new ImageStoreError('no_space', `${what}: no space left`);
        if (/No such file/i.test(e.stderr)) throw new ImageStoreError('not_found', `${what}: ${e.stderr.trim().slice(0, 200)}`);
        throw new ImageStoreError('io', `${what}: ${e.stderr.trim().slice(0, 200)}`);
      }
      throw e instanceof ImageStoreError ? e : mapFsError(e, what);
    }
  }

  async snapshotCreate(name: string, snap: string, opts: { allowCopy?: boolean } = {}): Promise<void> {
    this.checkName(name);
    const dst = this.snapPath(name, snap);
    if (!(await this.exists(name))) throw new ImageStoreError('not_found', `image ${name} does not exist`);
    const instant = await this.canReflink();
    if (!instant && !opts.allowCopy)
      throw new ImageStoreError('unsupported', `the filesystem of ${this.dir} cannot clone files instantly (no reflink): a snapshot is a full copy`);
    await mkdir(this.snapDir(name), { recursive: true });
    if (
      await stat(dst).then(
        () => true,
        () => false,
      )
    )
      throw new ImageStoreError('exists', `snapshot ${snap} of image ${name} already exists`);
    const tmp = `${dst}.partial`;
    const at = new Date();
    try {
      // O_EXCL: two creates of one name never both copy
      await (await open(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600)).close();
    } catch (e) {
      throw errno(e) === 'EEXIST' ? new ImageStoreError('exists', `snapshot ${snap} of image ${name} is being taken`) : mapFsError(e, name);
    }
    try {
      await this.copy(this.img(name), tmp, instant, `snapshot ${snap} of image ${name}`);
      await utimes(tmp, at, at);
      await rename(tmp, dst);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e instanceof ImageStoreError ? e : mapFsError(e, name);
    }
  }

  async snapshotList(name: string): Promise<SnapshotRecord[]> {
    this.checkName(name);
    if (!(await this.exists(name))) throw new ImageStoreError('not_found', `image ${name} does not exist`);
    let files: string[];
    try {
      files = await readdir(this.snapDir(name));
    } catch (e) {
      if (errno(e) === 'ENOENT') return [];
      throw mapFsError(e, name);
    }
    const imgBlocks = (await stat(this.img(name)).catch(() => undefined))?.blocks ?? 0;
    const out: SnapshotRecord[] = [];
    for (const f of files) {
      const partial = f.endsWith('.img.partial');
      const snap = partial ? f.slice(0, -'.img.partial'.length) : f.endsWith('.img') ? f.slice(0, -4) : undefined;
      if (snap === undefined || !SNAPSHOT_NAME.test(snap)) continue;
      if (partial && files.includes(`${snap}.img`)) continue;
      let st = await stat(join(this.snapDir(name), f)).catch(() => undefined);
      let copying = partial;
      if (!st && partial) {
        // The copy finished between the readdir and this stat (renamed to its final name): list that.
        st = await stat(join(this.snapDir(name), `${snap}.img`)).catch(() => undefined);
        copying = false;
      }
      if (!st) continue; // removed meanwhile
      const rec: SnapshotRecord = { name: snap, createdAt: st.mtime.toISOString(), sizeBytes: st.size, usedBytes: st.blocks * 512, clones: [] };
      if (copying) {
        rec.createdAt = st.birthtime.getTime() > 0 ? st.birthtime.toISOString() : st.ctime.toISOString();
        rec.progressPct = imgBlocks > 0 ? Math.min(99, Math.floor((st.blocks / imgBlocks) * 100)) : 0;
      }
      out.push(rec);
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.name < b.name ? -1 : 1));
  }

  async snapshotRemove(name: string, snap: string): Promise<void> {
    this.checkName(name);
    try {
      await unlink(this.snapPath(name, snap));
    } catch (e) {
      throw errno(e) === 'ENOENT' ? new ImageStoreError('not_found', `image ${name} has no snapshot ${snap}`) : mapFsError(e, name);
    }
  }

  async snapshotRollback(name: string, snap: string): Promise<void> {
    this.checkName(name);
    const src = this.snapPath(name, snap);
    if (
      !(await stat(src).then(
        () => true,
        () => false,
      ))
    )
      throw new ImageStoreError('not_found', `image ${name} has no snapshot ${snap}`);
    if (!(await this.exists(name))) throw new ImageStoreError('not_found', `image ${name} does not exist`);
    // the copy goes beside the image, then replaces it in one rename: the image is the old or the new one
    const tmp = `${this.img(name)}.rollback`;
    try {
      await this.copy(src, tmp, await this.canReflink(), `rollback of image ${name} to ${snap}`);
      await rename(tmp, this.img(name));
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e instanceof ImageStoreError ? e : mapFsError(e, name);
    }
  }

  async cloneFrom(from: string, snap: string, to: string, meta: string | null): Promise<void> {
    this.checkName(from);
    this.checkName(to);
    const src = this.snapPath(from, snap);
    if (
      !(await stat(src).then(
        () => true,
        () => false,
      ))
    )
      throw new ImageStoreError('not_found', `image ${from} has no snapshot ${snap}`);
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(this.img(to), constants.O_CREAT | constants.O_EXCL | constants.O_RDWR, 0o600);
    } catch (e) {
      throw mapFsError(e, to);
    }
    await fh.close();
    try {
      await this.copy(src, this.img(to), await this.canReflink(), `clone of ${from}@${snap}`);
      if (meta !== null) await this.setMeta(to, meta);
    } catch (e) {
      await unlink(this.img(to)).catch(() => {});
      await unlink(this.metaPath(to)).catch(() => {});
      throw e instanceof ImageStoreError ? e : mapFsError(e, to);
    }
  }

  /** A file clone is a full copy already. */
  async flatten(name: string): Promise<void> {
    if (!(await this.exists(name))) throw new ImageStoreError('not_found', `image ${name} does not exist`);
  }

  async parentOf(_name: string): Promise<{ image: string; snap: string } | undefined> {
    return undefined;
  }

  async usage(): Promise<{ usedBytes: number; totalBytes: number }> {
    const s = await statfs(this.dir);
    return { usedBytes: (s.blocks - s.bfree) * s.bsize, totalBytes: s.blocks * s.bsize };
  }
}
