/** The iSCSI target adapter the agent depends on (tgt.ts is the implementation; tests fake it). */
import type { TargetBacking } from '../images/types.js';

export interface TargetSpec {
  iqn: string;
  backing: TargetBacking;
  /** '' = all initiators. */
  acl: string;
  chapUser: string;
  chapPassword: string;
  /** Mutual CHAP: the target's own account (tgt: bound as outgoing); left out: none. */
  targetChapUser?: string;
  targetChapPassword?: string;
  /** Same on every path of a disk so multipath sees one device: the disk id. */
  serial: string;
  /** The image's size: a grown image is re-read by recreating the LUN. */
  sizeGb?: number;
  /**
   * The target id: the disk's number, the same on every node. tgt derives the LUN's NAA designator
   * (VPD page 83h) from it, so it must differ between disks (hosts that pick that designator would take
   * two disks for one device). undefined = 1: disks made before placement existed keep the identity
   * hosts already know them by.
   */
  tid?: number;
}

/** One target process: a disk's target on the portals (path IPs) this node serves it on. */
export interface TargetUnit {
  /** What unserve() takes: the disk id, or `ip:<ip>` for a process of an older layout. */
  key: string;
  /** The disk id ('' for a process of an older layout). */
  disk: string;
  /** The portal IP the process was started with (its command line names it). */
  ip: string;
  /** Every portal IP it serves. */
  portals: string[];
  pid: number;
  controlPort: number;
  /** The process is running (and is the one recorded: not a recycled pid). */
  alive: boolean;
}

export interface TargetDriver {
  /**
   * Serves disk `disk`'s target with `spec` on exactly `portals` (its path IPs held by this node), in
   * one process. Idempotent: a matching target is left alone, sessions and all; portals are added and
   * removed without disturbing the others' sessions; a changed spec reconfigures the target.
   */
  serve(disk: string, spec: TargetSpec, portals: readonly string[]): Promise<void>;
  /**
   * Checks a served disk end to end, asking the process itself: it runs and holds its control port, has
   * this target (IQN, LUN 1 with the disk's serial) and every one of `portals`, and each portal accepts
   * connections. undefined when all holds, else what does not (for a log line and a repair).
   */
  check(disk: string, spec: TargetSpec, portals: readonly string[]): Promise<string | undefined>;
  /** Stops serving a unit (by TargetUnit.key): its target removed (sessions dropped), its process stopped. */
  unserve(key: string): Promise<void>;
  /** Every unit recorded, and whether its process runs. */
  units(): Promise<TargetUnit[]>;
  /** Kills target processes of this host serving one of `ips` that no record names (a crash between start and record). */
  killUnrecorded(ips: ReadonlySet<string>): Promise<{ pid: number; ip: string }[]>;
  /**
   * Keeps n idle target processes ready for disks of this backing store type (the warm pool: a disk
   * taken over is served without waiting for a process to start). Resolves once extra ones are stopped;
   * filling happens in the background. 0 empties the pool.
   */
  warm(n: number, bstype?: 'rdwr' | 'rbd'): Promise<void>;
  /** From now on serve() refuses (unserve still works). */
  close(): void;
  /** Stops every unit. */
  stopAll(): Promise<void>;
}
