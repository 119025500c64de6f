import type { Qos } from '../../domain/qos.js';

/**
 * The image store: block images and the disk metadata stored with each image.
 * Two implementations: sparse files (single box) and Ceph RBD (cluster). Both pass
 * test/conformance/image-store.suite.ts.
 */

import type { CephHealth } from '../../domain/infra-health.js';

export interface ImageRecord {
  name: string;
  sizeBytes: number;
  /** The metadata stored with the image, raw; null when the image has none. */
  meta: string | null;
  /** Set when the metadata exists but could not be read. */
  metaError?: string;
}

/** A point-in-time snapshot of an image. */
export interface SnapshotRecord {
  name: string;
  /** When it was taken (ISO 8601). */
  createdAt: string;
  /** The image's size when it was taken. */
  sizeBytes: number;
  /** Bytes the snapshot takes on its own, where the backend can tell (file copies); absent otherwise. */
  usedBytes?: number;
  /** Images cloned from it (RBD: `rbd children`), by image name. */
  clones: string[];
  /** A copy still being made (file store without reflink): 0-100. */
  progressPct?: number;
}

/** How a snapshot is taken: an instant copy-on-write one, or a full (sparse) copy that takes a while. */
export type SnapshotMode = 'instant' | 'copy';

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
  // ---- snapshots and clones (docs/PRODUCT.md "Snapshots and clones") ----
  /**
   * How snapshots of this image are taken: 'instant' (RBD, or a filesystem with reflink) or 'copy'
   * (a full sparse copy: consistent only while nothing writes to the image).
   */
  snapshotMode(name: string): Promise<SnapshotMode>;
  /**
   * Takes snapshot `snap` of the image. allowCopy false: only an instant one, else
   * ImageStoreError('unsupported'). 'exists' if the name is taken, 'not_found' without the image.
   */
  snapshotCreate(name: string, snap: string, opts?: { allowCopy?: boolean }): Promise<void>;
  /** The image's snapshots, oldest first (copies in progress included, with progressPct). */
  snapshotList(name: string): Promise<SnapshotRecord[]>;
  /** Removes a snapshot: 'not_found' if absent, 'has_clones' while images are cloned from it. */
  snapshotRemove(name: string, snap: string): Promise<void>;
  /** Puts the image's data back as it was at the snapshot (nothing may have the image open); size as at the snapshot. */
  snapshotRollback(name: string, snap: string): Promise<void>;
  /**
   * Creates image `to` from snapshot `snap` of `from`, with metadata (RBD: a copy-on-write clone, the
   * snapshot protected; files: a copy). 'exists' if `to` exists.
   */
  cloneFrom(from: string, snap: string, to: string, meta: string | null): Promise<void>;
  /** Copies the data a clone still shares with its parent snapshot into it (RBD flatten; files: nothing to do). */
  flatten(name: string): Promise<void>;
  /** The snapshot an image is a clone of, while it still depends on it; undefined otherwise. */
  parentOf(name: string): Promise<{ image: string; snap: string } | undefined>;
  // ---- QoS limits (docs/PRODUCT.md "QoS limits") ----
  /** Whether the backend enforces per-image QoS limits (RBD: librbd; files: no). */
  readonly qosSupported: boolean;
  /**
   * Sets the image's QoS limits to exactly `qos` (a limit left out: none), applied by clients that have
   * the image open without reopening it (RBD: image-level config overrides, which librbd re-reads on the
   * header update they cause). A backend without QoS: ImageStoreError('unsupported') for any limit, {}
   * does nothing.
   */
  setQos(name: string, qos: Qos): Promise<void>;
  /** Bytes used and total of the backend, for the dashboard. */
  usage(): Promise<{ usedBytes: number; totalBytes: number }>;
  /** Ceph mode: Ceph's own health report (the events' `ceph_unhealthy`). Files have none. */
  cephHealth?(): Promise<CephHealth>;
}

export type ImageStoreErrorCode =
  | 'exists'
  | 'not_found'
  | 'busy'
  | 'shrink'
  | 'no_space'
  | 'too_large'
  | 'unavailable'
  | 'io'
  /** the snapshot has clones (or the image has snapshots with clones) */
  | 'has_clones'
  /** the backend cannot do this (an instant snapshot on a filesystem without reflink) */
  | 'unsupported';

/** Snapshot names: 1-64 of letters, digits, . _ -, starting with a letter or digit. */
export const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class ImageStoreError extends Error {
  constructor(
    readonly code: ImageStoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ImageStoreError';
  }
}
