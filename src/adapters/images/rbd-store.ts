/**
 * The cluster image store: Ceph RBD images, driven through the `rbd` and `ceph` CLIs
 * (execFile with argument arrays, `--format json`).
 *
 * Where the disk metadata lives: RBD image-meta key `portway.meta` on the image
 * (`rbd image-meta set/list`). librbd keeps image-meta in the omap of the image's header object
 * (`rbd_header.<id>`, omap key `metadata_portway.meta`), so it is stored with the image in the Ceph
 * cluster itself, goes away with the image, and the cluster alone is enough to rebuild the disk list.
 *
 * list() in one batch: the CLIs have no command that returns the image-meta of many images, so
 * list() runs ONE short Python program on the librados/librbd bindings (python3-rados and
 * python3-rbd, which ceph-common depends on: the `ceph` CLI itself is that Python) that lists the pool
 * and reads every image's size and `portway.meta` over a single cluster connection. Nothing is cached
 * in-process, so a change made by another node is seen by the next list(). Where the bindings are
 * missing (or with `batchList: false`) list() falls back to `rbd ls -l` plus one `rbd image-meta list`
 * per image, a few at a time.
 *
 * Exit codes of rbd are errno values: 17 EEXIST -> 'exists', 2 ENOENT -> 'not_found',
 * 16 EBUSY (watchers: e.g. tgtd has it open) -> 'busy', 28 ENOSPC -> 'no_space', a timeout or
 * 110 ETIMEDOUT / 108 ESHUTDOWN -> 'unavailable', anything else -> 'io'.
 *
 * tgtd (tgt-rbd) reaches the image with --bstype rbd, --backing-store POOL/NAME and
 * --bsopts "conf=<ceph.conf>;id=<client id>". bs_rbd accepts only conf=, id=, cluster= (and
 * virsecretuuid=/cephx_key=) in bsopts: it has no keyring option, so the keyring of that client id
 * must be found through the ceph.conf (`[client] keyring = ...`, e.g. scripts/ceph-start.sh writes
 * `keyring = <dir>/ceph.$name.keyring,<dir>/keyring`).
 *
 * Image features: only `layering` (not the Pacific default layering,exclusive-lock,object-map,
 * fast-diff,deep-flatten). Every path of a disk is its own tgtd, on its own node, and each opens the
 * image read-write: with exclusive-lock, librbd moves the lock between them on every write from
 * another path (each hand-over a round of cooperative lock requests), and once the owner dies with
 * its node, a write through a path that failed over waits until the OSD drops the dead client's
 * watch (osd_client_watch_timeout, 30 s) before the lock can be broken. Consistency between the paths
 * does not come from the lock anyway: the tgtds run with rbd_cache=false (TgtDriver), so every I/O
 * goes to the OSDs, and the initiator orders its own writes across paths. object-map and fast-diff
 * need exclusive-lock, so they go too (only `rbd du`/diff are slower). Images created before keep
 * their features (`rbd feature disable POOL/IMAGE fast-diff object-map exclusive-lock`).
 */
import { readFile } from 'node:fs/promises';
import { type CephHealth, parseCephHealth } from '../../domain/infra-health.js';
import { ipOfClient } from '../../domain/storage-clients.js';
import { type Qos, type QosLimit, QOS_LIMITS } from '../../domain/qos.js';
import { ExecError, run } from '../exec.js';
import { type ImageRecord, type ImageStore, ImageStoreError, SNAPSHOT_NAME, type SnapshotMode, type SnapshotRecord, type TargetBacking } from './types.js';

export interface RbdImageStoreOptions {
  /** Path of ceph.conf. */
  conf: string;
  /** Ceph client id (client.<id>), e.g. "admin". */
  id: string;
  /** RBD pool holding the images. */
  pool: string;
  /** Keyring path when ceph.conf does not name it (CLIs only: tgtd reads it from ceph.conf). */
  keyring?: string;
  /** Deadline of one CLI call in ms (default 30000); the cluster connect gives up a bit before. */
  timeoutMs?: number;
  /** Seconds a client fenced by fenceClients stays blocklisted (default 3600). */
  blocklistSeconds?: number;
  /** list() in one Python/librbd process (default true). */
  batchList?: boolean;
  /** Python 3 with the rados/rbd bindings (default /usr/bin/python3, the one ceph-common uses). */
  python?: string;
  /**
   * Command every CLI and the list program run through, e.g. ['ip', 'netns', 'exec', NS] for a
   * cluster reachable only inside a network namespace (the netns test harness). Default: none.
   */
  prefix?: readonly string[];
  /** Features of created images (default ['layering']: see above why not exclusive-lock). */
  features?: readonly string[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const FEATURE = /^[a-z][a-z-]{0,31}$/;
/** A RADOS client address as `rbd status` shows a watcher: "IP:port/nonce" (IPv4 or [IPv6]). */
const CLIENT_ADDR = /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):\d{1,5}\/\d{1,20}$/;
export const DEFAULT_IMAGE_FEATURES: readonly string[] = ['layering'];
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Deadline of the calls that copy or rewrite a whole image (rollback, flatten, snapshot purge). */
const LONG_MS = 6 * 3600_000;
export const META_KEY = 'portway.meta';

/** librbd's option of each QoS limit. */
export const RBD_QOS_OPTION: Readonly<Record<QosLimit, string>> = {
  iops: 'rbd_qos_iops_limit',
  readIops: 'rbd_qos_read_iops_limit',
  writeIops: 'rbd_qos_write_iops_limit',
  bps: 'rbd_qos_bps_limit',
  readBps: 'rbd_qos_read_bps_limit',
  writeBps: 'rbd_qos_write_bps_limit',
};

/** Lists the pool and reads every image's size and metadata over one cluster connection. */
const LIST_PY = String.raw`
import json, sys
try:
    import rados, rbd
except ImportError as e:
    sys.stderr.write("portway: no python rados/rbd bindings: %s\n" % e)
    sys.exit(99)
conf, cid, keyring, pool, key, timeout = sys.argv[1:7]
opts = {"client_mount_timeout": timeout, "rados_mon_op_timeout": timeout, "rados_osd_op_timeout": timeout}
if keyring:
    opts["keyring"] = keyring
cluster = rados.Rados(conffile=conf, rados_id=cid, conf=opts)
try:
    cluster.connect(timeout=int(float(timeout)))
except rados.TimedOut as e:
    sys.stderr.write("connect timed out: %s\n" % e); sys.exit(110)
except rados.Error as e:
    sys.stderr.write("connect failed: %s\n" % e); sys.exit(getattr(e, "errno", None) or 5)
out = []
try:
    try:
        ioctx = cluster.open_ioctx(pool)
    except rados.ObjectNotFound as e:
        sys.stderr.write("pool %s: %s\n" % (pool, e)); sys.exit(2)
    for ent in rbd.RBD().list2(ioctx):
        name = ent["name"]
        try:
            img = rbd.Image(ioctx, name, read_only=True)
        except rbd.ImageNotFound:
            continue  # removed while listing
        try:
            rec = {"name": name, "sizeBytes": img.size(), "meta": None}
            try:
                rec["meta"] = img.metadata_get(key)
            except KeyError:
                pass
            except Exception as e:
                rec["metaError"] = str(e) or type(e).__name__
        finally:
            img.close()
        out.append(rec)
    ioctx.close()
finally:
    cluster.shutdown()
sys.stdout.write(json.dumps(out))
`;

export class RbdImageStore implements ImageStore {
  readonly kind = 'rbd' as const;
  private readonly conf: string;
  private readonly id: string;
  private readonly pool: string;
  private readonly keyring: string | undefined;
  private readonly timeoutMs: number;
  /** How long a fenced client stays blocklisted (its tgtd is long gone by then; the entry expires by itself). */
  private readonly blocklistSeconds: number;
  private readonly python: string;
  private readonly prefix: readonly string[];
  private readonly features: readonly string[];
  private batchList: boolean;
  private warnedFallback = false;

  constructor(opts: RbdImageStoreOptions) {
    if (!opts.conf || /[;\0\n]/.test(opts.conf)) throw new Error(`RbdImageStore: bad ceph.conf path ${JSON.stringify(opts.conf)}`);
    if (!ID.test(opts.id)) throw new Error(`RbdImageStore: bad client id ${JSON.stringify(opts.id)}`);
    if (!NAME.test(opts.pool)) throw new Error(`RbdImageStore: bad pool name ${JSON.stringify(opts.pool)}`);
    if (opts.keyring !== undefined && (opts.keyring === '' || opts.keyring.includes('\0'))) throw new Error('RbdImageStore: bad keyring path');
    this.conf = opts.conf;
    this.id = opts.id;
    this.pool = opts.pool;
    this.keyring = opts.keyring;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.blocklistSeconds = opts.blocklistSeconds ?? 3600;
    if (!Number.isInteger(this.blocklistSeconds) || this.blocklistSeconds < 60) throw new Error('RbdImageStore: blocklistSeconds must be an integer >= 60');
    this.batchList = opts.batchList ?? true;
    this.python = opts.python ?? '/usr/bin/python3';
    this.prefix = [...(opts.prefix ?? [])];
    if (this.prefix.some((a) => typeof a !== 'string' || a === '' || a.includes('\0'))) throw new Error('RbdImageStore: bad command prefix');
    this.features = [...(opts.features ?? DEFAULT_IMAGE_FEATURES)];
    if (this.features.length === 0 || !this.features.every((f) => FEATURE.test(f)))
      throw new Error(`RbdImageStore: bad image features ${JSON.stringify(opts.features)}`);
  }

  /** Runs a tool (through the prefix, when there is one). */
  private exec(tool: string, args: string[], timeoutMs = this.timeoutMs) {
    const [cmd, ...pre] = [...this.prefix, tool];
    return run(cmd as string, [...pre, ...args], { timeoutMs });
  }

  // ---- helpers -------------------------------------------------------------------------------

  private checkName(name: string): void {
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new ImageStoreError('io', `invalid image name ${JSON.stringify(name)?.slice(0, 80)}`);
    }
  }

  private spec(name: string): string {
    return `${this.pool}/${name}`;
  }

  /** Seconds the cluster connection may take: a little under the CLI deadline. */
  private connectSeconds(): number {
    return Math.max(1, Math.floor((this.timeoutMs * 0.8) / 1000));
  }

  /** Options every ceph CLI gets: conf, client id, keyring, and bounded waits on the cluster. */
  private common(): string[] {
    const t = String(this.connectSeconds());
    const args = ['-c', this.conf, '--id', this.id];
    if (this.keyring) args.push('--keyring', this.keyring);
    args.push('--client_mount_timeout', t, '--rados_mon_op_timeout', t, '--rados_osd_op_timeout', t);
    return args;
  }

  private async cli(tool: 'rbd' | 'ceph', args: string[], what: string, timeoutMs?: number): Promise<string> {
    try {
      const { stdout } = await this.exec(tool, [...this.common(), ...args], timeoutMs);
      return stdout;
    } catch (e) {
      throw this.mapError(e, what);
    }
  }

  private rbd(args: string[], what: string, timeoutMs?: number): Promise<string> {
    return this.cli('rbd', args, what, timeoutMs);
  }

  private mapError(e: unknown, what: string): ImageStoreError {
    if (e instanceof ImageStoreError) return e;
    if (!(e instanceof ExecError)) return new ImageStoreError('io', `${what}: ${(e as Error)?.message ?? String(e)}`);
    const detail = (
      e.stderr
        .trim()
        .split('\n')
        .filter((l) => l.trim())
        .pop() ?? ''
    ).slice(0, 300);
    const msg = `${what}: ${detail || e.message}`;
    if (e.timedOut) return new ImageStoreError('unavailable', `${what}: the Ceph cluster did not answer within ${this.timeoutMs} ms`);
    switch (e.exitCode) {
      case 17:
        return new ImageStoreError('exists', msg);
      case 2:
        // ENOENT is also what rbd says for a missing pool: that is no missing image
        if (/error opening pool|pool .* does not exist/i.test(e.stderr)) return new ImageStoreError('io', msg);
        return new ImageStoreError('not_found', msg);
      case 16:
        return new ImageStoreError('busy', msg);
      case 28:
      case 122:
        return new ImageStoreError('no_space', msg);
      case 110:
      case 108:
      case 111:
        return new ImageStoreError('unavailable', msg);
      case null:
        // not started (ENOENT of the binary) or killed
        return new ImageStoreError('unavailable', msg);
      default:
        if (/timed out|couldn't connect|error connecting to the cluster|\[errno 110\]/i.test(e.stderr)) {
          return new ImageStoreError('unavailable', msg);
        }
        return new ImageStoreError('io', msg);
    }
  }

  private parse<T>(stdout: string, what: string): T {
    try {
      return JSON.parse(stdout) as T;
    } catch {
      throw new ImageStoreError('io', `${what}: unreadable output ${JSON.stringify(stdout.slice(0, 200))}`);
    }
  }

  private async info(name: string): Promise<{ size: number; id: string }> {
    const out = await this.rbd(['info', '--format', 'json', this.spec(name)], `image ${name}`);
    const j = this.parse<{ size?: number; id?: string }>(out, `rbd info ${name}`);
    if (typeof j.size !== 'number') throw new ImageStoreError('io', `rbd info ${name}: no size`);
    return { size: j.size, id: String(j.id ?? '') };
  }

  /** image-meta of one image as an object; ImageStoreError('not_found') when the image is missing. */
  private async metaList(name: string): Promise<Record<string, string>> {
    const out = await this.rbd(['image-meta', 'list', '--format', 'json', this.spec(name)], `image ${name} metadata`);
    // an image without any image-meta prints nothing at all
    if (out.trim() === '') return {};
    return this.parse<Record<string, string>>(out, `rbd image-meta list ${name}`);
  }

  // ---- ImageStore ----------------------------------------------------------------------------

  async create(name: string, sizeBytes: number, meta: string | null): Promise<void> {
    this.checkName(name);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw new ImageStoreError('io', `bad size ${sizeBytes} for image ${name}`);
    if (meta?.includes('\0')) throw new ImageStoreError('io', `metadata of image ${name} contains NUL`);
    await this.rbd(['create', '--size', `${sizeBytes}B`, '--image-feature', this.features.join(','), this.spec(name)], `create image ${name}`);
    if (meta === null) return;
    try {
      await this.rbd(['image-meta', 'set', this.spec(name), META_KEY, '--', meta], `set metadata of image ${name}`);
    } catch (e) {
      // leave no image without its metadata behind
      await this.rbd(['rm', '--no-progress', this.spec(name)], `remove image ${name}`).catch(() => undefined);
      throw e;
    }
  }

  readonly qosSupported = true;

  /**
   * librbd's per-image QoS settings as image-level config overrides (`rbd config image set`, stored as
   * image-meta `conf_<option>`); limits left out are removed (`rbd config image remove`), so the pool's
   * and cluster's defaults (unlimited) apply. Setting image-meta notifies the image's watchers (the
   * tgtds serving it), whose librbd refreshes and applies the new limits to the open image.
   */
  async setQos(name: string, qos: Qos): Promise<void> {
    this.checkName(name);
    const have = await this.metaList(name);
    for (const k of QOS_LIMITS) {
      const option = RBD_QOS_OPTION[k];
      const v = qos[k];
      if (v !== undefined) {
        if (!Number.isSafeInteger(v) || v <= 0) throw new ImageStoreError('io', `bad ${option} ${v} for image ${name}`);
        if (have[`conf_${option}`] !== String(v))
          await this.rbd(['config', 'image', 'set', this.spec(name), option, String(v)], `set ${option} of image ${name}`);
      } else if (have[`conf_${option}`] !== undefined) {
        await this.rbd(['config', 'image', 'remove', this.spec(name), option], `remove ${option} of image ${name}`);
      }
    }
  }

  async resize(name: string, sizeBytes: number): Promise<void> {
    this.checkName(name);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw new ImageStoreError('io', `bad size ${sizeBytes} for image ${name}`);
    const { size } = await this.info(name);
    if (sizeBytes < size) throw new ImageStoreError('shrink', `image ${name} can only grow (${size} -> ${sizeBytes} bytes)`);
    if (sizeBytes === size) return;
    // no --allow-shrink: rbd itself refuses to shrink should the image have grown meanwhile
    await this.rbd(['resize', '--no-progress', '--size', `${sizeBytes}B`, this.spec(name)], `resize image ${name}`);
  }

  async remove(name: string): Promise<void> {
    this.checkName(name);
    // rbd rm refuses an image with snapshots: they go with it, unless images are cloned from one
    const snaps = await this.snapshotList(name);
    if (snaps.length > 0) {
      const cloned = snaps.filter((x) => x.clones.length > 0);
      if (cloned.length > 0)
        throw new ImageStoreError('has_clones', `image ${name}: snapshot ${cloned[0]?.name} has clones (${cloned[0]?.clones.join(', ')}); flatten them first`);
      for (const x of snaps) await this.unprotect(name, x.name);
      await this.rbd(['snap', 'purge', '--no-progress', this.spec(name)], `remove snapshots of image ${name}`, LONG_MS);
    }
    await this.rbd(['rm', '--no-progress', this.spec(name)], `remove image ${name}`);
  }

  async rename(from: string, to: string): Promise<void> {
    this.checkName(from);
    this.checkName(to);
    await this.rbd(['rename', this.spec(from), this.spec(to)], `rename image ${from} to ${to}`);
  }

  async exists(name: string): Promise<boolean> {
    this.checkName(name);
    try {
      await this.info(name);
      return true;
    } catch (e) {
      if (e instanceof ImageStoreError && e.code === 'not_found') return false;
      throw e;
    }
  }

  async list(): Promise<ImageRecord[]> {
    let recs: ImageRecord[] | undefined;
    if (this.batchList) recs = await this.listBatched();
    if (!recs) recs = await this.listPerImage();
    return recs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** One Python/librbd process for the whole pool; undefined when the bindings are missing. */
  private async listBatched(): Promise<ImageRecord[] | undefined> {
    const args = ['-c', LIST_PY, this.conf, this.id, this.keyring ?? '', this.pool, META_KEY, String(this.connectSeconds())];
    let stdout: string;
    try {
      ({ stdout } = await this.exec(this.python, args));
    } catch (e) {
      if (e instanceof ExecError && (e.exitCode === 99 || (e.exitCode === null && !e.timedOut && /ENOENT/.test(e.stderr)))) {
        this.batchList = false;
        if (!this.warnedFallback) {
          this.warnedFallback = true;
          console.warn(`RbdImageStore: ${this.python} with rados/rbd bindings not usable; list() reads image-meta per image`);
        }
        return undefined;
      }
      throw this.mapError(e, 'list images');
    }
    const raw = this.parse<{ name: string; sizeBytes: number; meta: string | null; metaError?: string }[]>(stdout, 'list images');
    return raw
      .filter((r) => NAME.test(r.name))
      .map((r) => {
        const rec: ImageRecord = { name: r.name, sizeBytes: r.sizeBytes, meta: r.meta ?? null };
        if (r.metaError) rec.metaError = r.metaError;
        return rec;
      });
  }

  /** `rbd ls -l` for names and sizes, then image-meta per image, four at a time. */
  private async listPerImage(): Promise<ImageRecord[]> {
    const out = await this.rbd(['ls', '-l', '--format', 'json', this.pool], 'list images');
    const rows = out.trim() === '' ? [] : this.parse<{ image: string; size: number; snapshot?: string }[]>(out, 'rbd ls -l');
    const images = rows.filter((r) => r.snapshot === undefined && NAME.test(r.image));
    const recs: (ImageRecord | undefined)[] = new Array(images.length);
    let next = 0;
    const worker = async () => {
      while (next < images.length) {
        const i = next++;
        const row = images[i]!;
        const rec: ImageRecord = { name: row.image, sizeBytes: row.size, meta: null };
        try {
          rec.meta = (await this.metaList(row.image))[META_KEY] ?? null;
        } catch (e) {
          if (e instanceof ImageStoreError && e.code === 'not_found') continue; // removed while listing
          rec.metaError = (e as Error).message;
        }
        recs[i] = rec;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return recs.filter((r): r is ImageRecord => r !== undefined);
  }

  async getMeta(name: string): Promise<string | null> {
    this.checkName(name);
    return (await this.metaList(name))[META_KEY] ?? null;
  }

  async setMeta(name: string, meta: string): Promise<void> {
    this.checkName(name);
    if (meta.includes('\0')) throw new ImageStoreError('io', `metadata of image ${name} contains NUL`);
    await this.rbd(['image-meta', 'set', this.spec(name), META_KEY, '--', meta], `set metadata of image ${name}`);
  }

  backing(name: string): TargetBacking {
    this.checkName(name);
    return { bstype: 'rbd', path: this.spec(name), bsopts: `conf=${this.conf};id=${this.id}` };
  }

  // ---- snapshots and clones ------------------------------------------------------------------------

  private snapSpec(name: string, snap: string): string {
    this.checkName(name);
    if (typeof snap !== 'string' || !SNAPSHOT_NAME.test(snap)) throw new ImageStoreError('io', `invalid snapshot name ${JSON.stringify(snap)?.slice(0, 80)}`);
    return `${this.pool}/${name}@${snap}`;
  }

  async snapshotMode(_name: string): Promise<SnapshotMode> {
    return 'instant';
  }

  async snapshotCreate(name: string, snap: string): Promise<void> {
    await this.rbd(['snap', 'create', '--no-progress', this.snapSpec(name, snap)], `snapshot ${snap} of image ${name}`);
  }

  /** The raw `rbd snap ls` rows. */
  private async snapRows(name: string): Promise<{ name: string; size: number; protected: boolean; timestamp?: string }[]> {
    const out = await this.rbd(['snap', 'ls', '--format', 'json', this.spec(name)], `snapshots of image ${name}`);
    if (out.trim() === '') return [];
    const rows = this.parse<{ name?: unknown; size?: unknown; protected?: unknown; timestamp?: unknown }[]>(out, `rbd snap ls ${name}`);
    return rows
      .filter((r) => typeof r.name === 'string' && SNAPSHOT_NAME.test(r.name))
      .map((r) => ({
        name: r.name as string,
        size: Number(r.size ?? 0),
        protected: r.protected === true || r.protected === 'true',
        ...(typeof r.timestamp === 'string' ? { timestamp: r.timestamp } : {}),
      }));
  }

  /** Images cloned from a snapshot (this pool's and others'), "image" or "pool/image". */
  private async children(name: string, snap: string): Promise<string[]> {
    const out = await this.rbd(['children', '--format', 'json', this.snapSpec(name, snap)], `clones of ${name}@${snap}`);
    if (out.trim() === '') return [];
    const rows = this.parse<({ pool?: string; image?: string } | string)[]>(out, `rbd children ${name}@${snap}`);
    return rows
      .map((r) => (typeof r === 'string' ? r : r.pool && r.pool !== this.pool ? `${r.pool}/${r.image}` : String(r.image ?? '')))
      .filter((r) => r !== '');
  }

  async snapshotList(name: string): Promise<SnapshotRecord[]> {
    const rows = await this.snapRows(name);
    const out: SnapshotRecord[] = [];
    for (const r of rows) {
      const t = r.timestamp ? Date.parse(r.timestamp) : Number.NaN;
      // a clone needs its snapshot protected (Portway protects it when it clones): only those have children
      out.push({
        name: r.name,
        createdAt: Number.isNaN(t) ? new Date(0).toISOString() : new Date(t).toISOString(),
        sizeBytes: r.size,
        clones: r.protected ? await this.children(name, r.name) : [],
      });
    }
    return out;
  }

  /** Unprotects a snapshot if it is protected (it has no clones: rbd refuses otherwise, EBUSY). */
  private async unprotect(name: string, snap: string): Promise<void> {
    const row = (await this.snapRows(name)).find((r) => r.name === snap);
    if (!row?.protected) return;
    try {
      await this.rbd(['snap', 'unprotect', this.snapSpec(name, snap)], `unprotect ${name}@${snap}`);
    } catch (e) {
      if (e instanceof ImageStoreError && e.code === 'busy') throw new ImageStoreError('has_clones', `snapshot ${snap} of image ${name} has clones`);
      throw e;
    }
  }

  async snapshotRemove(name: string, snap: string): Promise<void> {
    const row = (await this.snapRows(name)).find((r) => r.name === snap);
    if (!row) throw new ImageStoreError('not_found', `image ${name} has no snapshot ${snap}`);
    if (row.protected) {
      const clones = await this.children(name, snap);
      if (clones.length > 0) throw new ImageStoreError('has_clones', `snapshot ${snap} of image ${name} has clones: ${clones.join(', ')}`);
      await this.unprotect(name, snap);
    }
    await this.rbd(['snap', 'rm', '--no-progress', this.snapSpec(name, snap)], `remove snapshot ${snap} of image ${name}`);
  }

  async snapshotRollback(name: string, snap: string): Promise<void> {
    // rewrites every object of the image that changed: may take long for a large one
    await this.rbd(['snap', 'rollback', '--no-progress', this.snapSpec(name, snap)], `rollback of image ${name} to ${snap}`, LONG_MS);
  }

  async cloneFrom(from: string, snap: string, to: string, meta: string | null): Promise<void> {
    this.checkName(to);
    if (meta?.includes('\0')) throw new ImageStoreError('io', `metadata of image ${to} contains NUL`);
    const row = (await this.snapRows(from)).find((r) => r.name === snap);
    if (!row) throw new ImageStoreError('not_found', `image ${from} has no snapshot ${snap}`);
    if (!row.protected) {
      try {
        await this.rbd(['snap', 'protect', this.snapSpec(from, snap)], `protect ${from}@${snap}`);
      } catch (e) {
        // protected meanwhile by another clone: fine
        if (!(e instanceof ImageStoreError && e.code === 'busy')) throw e;
      }
    }
    await this.rbd(['clone', '--image-feature', this.features.join(','), this.snapSpec(from, snap), this.spec(to)], `clone ${from}@${snap} to ${to}`);
    if (meta === null) return;
    try {
      await this.rbd(['image-meta', 'set', this.spec(to), META_KEY, '--', meta], `set metadata of image ${to}`);
    } catch (e) {
      await this.rbd(['rm', '--no-progress', this.spec(to)], `remove image ${to}`).catch(() => undefined);
      throw e;
    }
  }

  async flatten(name: string): Promise<void> {
    this.checkName(name);
    await this.rbd(['flatten', '--no-progress', this.spec(name)], `flatten image ${name}`, LONG_MS);
  }

  async parentOf(name: string): Promise<{ image: string; snap: string } | undefined> {
    this.checkName(name);
    const out = await this.rbd(['info', '--format', 'json', this.spec(name)], `image ${name}`);
    const j = this.parse<{ parent?: { pool?: string; image?: string; snapshot?: string } }>(out, `rbd info ${name}`);
    const p = j.parent;
    if (!p?.image || !p.snapshot) return undefined;
    return { image: p.pool && p.pool !== this.pool ? `${p.pool}/${p.image}` : p.image, snap: p.snapshot };
  }

  /** Raw bytes used and raw capacity of the cluster (`ceph df`). */
  /**
   * The source IP of this host's connections to the first monitor of the cluster's ceph.conf (`ip route
   * get`): the address its RBD clients' watches show. undefined when it cannot be told.
   */
  async clientIp(): Promise<string | undefined> {
    try {
      const conf = await readFile(this.conf, 'utf8');
      const mon = /^\s*mon[ _]host\s*=\s*(.+)$/im.exec(conf)?.[1];
      const ip = mon ? /(\d{1,3}(?:\.\d{1,3}){3})/.exec(mon)?.[1] : undefined;
      if (!ip) return undefined;
      const { stdout } = await run('ip', ['route', 'get', ip], { timeoutMs: 5000 });
      return /\bsrc (\d{1,3}(?:\.\d{1,3}){3})\b/.exec(stdout)?.[1];
    } catch {
      return undefined;
    }
  }

  /** The image's watchers: the addresses of the clients that have it open. */
  async watchers(name: string): Promise<string[]> {
    this.checkName(name);
    const out = await this.rbd(['status', '--format', 'json', this.spec(name)], `image ${name} status`);
    const j = this.parse<{ watchers?: { address?: unknown }[] }>(out, `rbd status ${name}`);
    return (j.watchers ?? []).map((w) => w.address).filter((a): a is string => typeof a === 'string' && CLIENT_ADDR.test(a));
  }

  clients(name: string): Promise<string[]> {
    return this.watchers(name);
  }

  async fenceClients(name: string, keepIps: ReadonlySet<string> = new Set(), alsoBlocklist: readonly string[] = []): Promise<string[]> {
    const extra = alsoBlocklist.filter((a) => CLIENT_ADDR.test(a) && !keepIps.has(ipOfClient(a)));
    const clients = [...new Set([...(await this.watchers(name)).filter((a) => !keepIps.has(ipOfClient(a))), ...extra])];
    if (clients.length === 0) return [];
    for (const addr of clients)
      await this.cli('ceph', ['osd', 'blocklist', 'add', addr, String(this.blocklistSeconds)], `blocklisting client ${addr} of image ${name}`);
    // The OSDs drop a blocklisted client's watch once they have the new map: until then it could still
    // write. Wait for that (bounded by the CLI timeout), so serving starts only after.
    const end = Date.now() + this.timeoutMs;
    for (;;) {
      const left = (await this.watchers(name)).filter((a) => clients.includes(a));
      if (left.length === 0) return clients;
      if (Date.now() > end)
        throw new ImageStoreError('unavailable', `image ${name}: blocklisted clients ${left.join(', ')} still watch it after ${this.timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async usage(): Promise<{ usedBytes: number; totalBytes: number }> {
    const out = await this.cli('ceph', ['df', '--format', 'json'], 'ceph df');
    const j = this.parse<{ stats?: { total_bytes?: number; total_used_raw_bytes?: number; total_used_bytes?: number } }>(out, 'ceph df');
    const s = j.stats;
    if (!s || typeof s.total_bytes !== 'number') throw new ImageStoreError('io', 'ceph df: no cluster stats');
    return { usedBytes: s.total_used_raw_bytes ?? s.total_used_bytes ?? 0, totalBytes: s.total_bytes };
  }

  /** Ceph's own health report (`ceph health --format json`), bounded to 10 s. */
  async cephHealth(): Promise<CephHealth> {
    const out = await this.cli('ceph', ['health', '--format', 'json'], 'ceph health', Math.min(this.timeoutMs, 10_000));
    const h = parseCephHealth(out);
    if (!h) throw new ImageStoreError('io', 'ceph health: not a health report');
    return h;
  }
}
