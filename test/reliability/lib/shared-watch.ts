/**
 * "A shared disk is never served by two nodes at once", sampled for the whole of a cluster test.
 *
 * A shared disk lives on one node in one tgtd (every path IP a portal of it): a failover, a move or a
 * drain must stop it on one node before another starts it. Round after round this reads, for every
 * node of a simulated cluster, the disks it runs a tgtd for (its driver's records,
 * `<node>/run/tgt/<disk>.json`, each checked against /proc: SimNode.tgtds()), and the disks' placement
 * from the store in the same round (ids are reused after a delete, placement can be edited).
 *
 * The nodes are read one after the other, so one round is not one instant: as in IpWatcher
 * (test/harness/ip-watcher.ts) an overlap is judged by bracketing: node B's read at t shows the disk,
 * and node A's reads just before and just after t both show it too. `sameRound` counts the plain
 * "on two nodes in one round" sightings (a move between two reads), for information.
 */
import { readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { placementOf } from '../../../src/domain/disk.js';
import type { SimCluster } from '../../harness/cluster.js';
import { namespaceInode } from '../../harness/netns.js';

interface Sample {
  node: string;
  t: number;
  /** Shared disks this node ran a tgtd for at t. */
  disks: Set<string>;
}

export interface DiskOverlap {
  disk: string;
  a: string;
  b: string;
  t: number;
}

const DISK = /^\/portway\/disks\/(\d{5})$/;

/** The network namespace inode of a process (undefined: gone). */
function netnsOf(pid: number): number | undefined {
  try {
    const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export class SharedDiskWatcher {
  private readonly samples: Sample[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  private shared = new Set<string>();
  rounds = 0;
  /** Disks seen on a node (shared or not), for the report. */
  readonly seen = new Set<string>();

  constructor(
    private readonly c: SimCluster,
    private readonly everyMs = 200,
  ) {}

  /** The shared disks as the store says now (the last answer kept when the store does not answer). */
  private async refresh(): Promise<void> {
    try {
      const next = new Set<string>();
      for (const kv of await this.c.store.list('/portway/disks/')) {
        const m = DISK.exec(kv.key);
        if (!m) continue;
        try {
          if (placementOf(JSON.parse(kv.value)) === 'shared') next.add(m[1] as string);
        } catch {}
      }
      this.shared = next;
    } catch {}
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const t0 = performance.now();
        await this.refresh();
        for (const n of this.c.nodes) {
          const disks = new Set<string>();
          const ns = namespaceInode(n.ns);
          for (const t of n.tgtds()) {
            // a record's pid reused by another node's tgtd (pid_max can be 32768) is not this node's
            if (!t.disk || netnsOf(t.pid) !== ns) continue;
            this.seen.add(t.disk);
            if (this.shared.has(t.disk)) disks.add(t.disk);
          }
          this.samples.push({ node: n.name, t: performance.now(), disks });
        }
        this.rounds++;
        const wait = this.everyMs - (performance.now() - t0);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Sightings of one shared disk on two nodes within one round (may be a move between two reads). */
  sameRound(): number {
    let n = 0;
    const nodes = this.c.nodes.length || 1;
    for (let i = 0; i + nodes <= this.samples.length; i += nodes) {
      const count = new Map<string, number>();
      for (const s of this.samples.slice(i, i + nodes)) for (const d of s.disks) count.set(d, (count.get(d) ?? 0) + 1);
      for (const x of count.values()) if (x > 1) n++;
    }
    return n;
  }

  /** Shared disks that were served by tgtds on two nodes at once (bracketed, see above). */
  overlaps(): DiskOverlap[] {
    const byNode = new Map<string, Sample[]>();
    for (const s of this.samples) byNode.set(s.node, [...(byNode.get(s.node) ?? []), s]);
    const out: DiskOverlap[] = [];
    for (const s of this.samples) {
      for (const disk of s.disks) {
        for (const [other, list] of byNode) {
          if (other === s.node) continue;
          let lo = 0;
          let hi = list.length; // first index with t >= s.t
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if ((list[mid] as Sample).t < s.t) lo = mid + 1;
            else hi = mid;
          }
          if (list[lo - 1]?.disks.has(disk) && list[lo]?.disks.has(disk)) out.push({ disk, a: s.node, b: other, t: Math.round(s.t) });
        }
      }
    }
    return out;
  }

  /** Stops sampling and returns a one-line summary; throws listing the overlaps if there were any. */
  async assertNoOverlap(): Promise<string> {
    await this.stop();
    const o = this.overlaps();
    if (o.length > 0)
      throw new Error(
        `a shared disk was served by tgtds on two nodes at once: ${o
          .slice(0, 10)
          .map((x) => `disk ${x.disk} on ${x.a} and ${x.b} at ${x.t} ms`)
          .join('; ')}${o.length > 10 ? ` (+${o.length - 10})` : ''}`,
      );
    return `shared-disk watcher: ${this.rounds} rounds, ${this.seen.size} disks seen, ${this.sameRound()} same-round sightings (moves between two reads), 0 overlaps`;
  }
}
