/**
 * The image store: block images and the disk metadata stored with each image.
 * Two implementations: sparse files (single box) and Ceph RBD (cluster). Both pass
 * test/conformance/image-store.suite.ts.
 */

export interface ImageRecord {
  name: string;
  sizeBytes: number;
  /** The metadata stored with the image, raw; null when the image has none. */
  meta: string | null;
  /** Set when the metadata exists but could not be read. */
  metaError?: string;
}

/** How tgtd reaches an image: a file (bstype rdwr) or an RBD image (bstype rbd). */
export interface TargetBacking {
  bstype: 'rdwr' | 'rbd';
  /** File path, or "pool/image" for rbd. */
  path: string;
  /** tgtd --bsopts (rbd: "conf=...;id=..."), empty when none. */
  bsopts: string;
}

export interface ImageStore {
  readonly kind: 'file' | 'rbd';
  /** Creates the image with its metadata. ImageStoreError('exists') if present. */
  create(name: string, sizeBytes: number, meta: string | null): Promise<void>;
  /** Grows the image. ImageStoreError('shrink') when smaller than now. */
  resize(name: string, sizeBytes: number): Promise<void>;
  /** Removes the image and its metadata. ImageStoreError('not_found') if absent. */
  remove(name: string): Promise<void>;
  /** Renames the image (and its metadata). 'not_found' / 'exists' errors as create and remove. */
  rename(from: string, to: string): Promise<void>;
  exists(name: string): Promise<boolean>;
  /** Every image with its size and metadata, in one batch. */
  list(): Promise<ImageRecord[]>;
  getMeta(name: string): Promise<string | null>;
  setMeta(name: string, meta: string): Promise<void>;
  backing(name: string): TargetBacking;
  /**
   * Storage fencing: blocklists every client that has the image open (its watchers: the RBD clients of
   * the tgtds serving it), so the OSDs refuse anything they still send, and waits until the OSDs have
   * dropped their watches (they have the blocklist). Returns the addresses blocklisted. A file store
   * has nothing to fence (one box: the question does not arise) and returns [].
   * keepIps: clients from these IPs are left alone (live nodes' own tgtds of a spread disk).
   * alsoBlocklist: addresses to blocklist whether they still watch the image or not (clients recorded
   * by nodes that are not live: a watch expires after the OSDs' watch timeout, the client may not).
   */
  fenceClients(name: string, keepIps?: ReadonlySet<string>, alsoBlocklist?: readonly string[]): Promise<string[]>;
  /** The clients that have the image open now (RBD: its watchers, "IP:port/nonce"); [] for files. */
  clients(name: string): Promise<string[]>;
  /** The IP this host's clients of the backend come from (RBD: the source address towards a monitor); undefined for files. */
  clientIp(): Promise<string | undefined>;
  /** Bytes used and total of the backend, for the dashboard. */
  usage(): Promise<{ usedBytes: number; totalBytes: number }>;
}

export type ImageStoreErrorCode = 'exists' | 'not_found' | 'busy' | 'shrink' | 'no_space' | 'too_large' | 'unavailable' | 'io';

export class ImageStoreError extends Error {
  constructor(
    readonly code: ImageStoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ImageStoreError';
  }
}
