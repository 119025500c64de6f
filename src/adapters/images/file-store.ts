/**
 * The embedded image store for a single box: each image is a sparse file `<dir>/<name>.img`, and the
 * disk metadata is stored with it in `<dir>/<name>.meta.json` (written to a temporary file, fsynced and
 * renamed, so it is either the old or the new version, never half).
 */
import { constants } from 'node:fs';
import { open, readFile, readdir, rename, stat, statfs, unlink, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type ImageRecord, type ImageStore, ImageStoreError, type TargetBacking } from './types.js';

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

  async usage(): Promise<{ usedBytes: number; totalBytes: number }> {
    const s = await statfs(this.dir);
    return { usedBytes: (s.blocks - s.bfree) * s.bsize, totalBytes: s.blocks * s.bsize };
  }
}
