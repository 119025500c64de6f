/**
 * Samples `ip -j addr` in every node namespace, round after round, for the whole test, and finds any
 * path IP that was on two nodes at once.
 *
 * The namespaces are read one after the other, so one round is not one instant: an IP that moved
 * from A to B between the reads of A and B shows in both. A true overlap is therefore judged by
 * bracketing: B's read at time t shows the IP, and the reads of A just before t AND just after t both
 * show it too; then A had it before and after B's read (the IP does not flap back and forth within a
 * few ms). `sameRound` counts the plain "twice in one round" sightings for information.
 */
import { performance } from 'node:perf_hooks';
import { addrs } from './netns.js';

interface Sample {
  ns: string;
  t: number;
  ips: Set<string>;
}

export interface Overlap {
  ip: string;
  a: string;
  b: string;
  t: number;
}

export class IpWatcher {
  private readonly samples: Sample[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  rounds = 0;

  constructor(
    /** Node name -> namespace. */
    private readonly nodes: () => ReadonlyMap<string, string>,
    /** Which addresses are path IPs. */
    private readonly isPathIp: (ip: string) => boolean,
    private readonly everyMs = 100,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const t0 = performance.now();
        for (const [name, ns] of this.nodes()) {
          const list = await addrs(ns);
          this.samples.push({ ns: name, t: performance.now(), ips: new Set(list.map((a) => a.ip).filter(this.isPathIp)) });
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

  /** Where each IP was in the latest sample of each node. */
  latest(): Map<string, string[]> {
    const last = new Map<string, Sample>();
    for (const s of this.samples) last.set(s.ns, s);
    const out = new Map<string, string[]>();
    for (const s of last.values()) for (const ip of s.ips) out.set(ip, [...(out.get(ip) ?? []), s.ns]);
    return out;
  }

  /** Sightings of one IP on two nodes within one round (may be a move between two reads). */
  sameRound(): number {
    let n = 0;
    const nodes = this.nodes().size || 1;
    for (let i = 0; i + nodes <= this.samples.length; i += nodes) {
      const seen = new Map<string, number>();
      for (const s of this.samples.slice(i, i + nodes)) for (const ip of s.ips) seen.set(ip, (seen.get(ip) ?? 0) + 1);
      for (const c of seen.values()) if (c > 1) n++;
    }
    return n;
  }

  /** IPs that were on two nodes at once (bracketed, see above). */
  overlaps(): Overlap[] {
    const byNs = new Map<string, Sample[]>();
    for (const s of this.samples) byNs.set(s.ns, [...(byNs.get(s.ns) ?? []), s]);
    const out: Overlap[] = [];
    for (const s of this.samples) {
      for (const ip of s.ips) {
        for (const [other, list] of byNs) {
          if (other === s.ns) continue;
          // last read of `other` before s.t and first one after it
          let lo = 0;
          let hi = list.length; // first index with t >= s.t
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if ((list[mid] as Sample).t < s.t) lo = mid + 1;
            else hi = mid;
          }
          const before = list[lo - 1];
          const after = list[lo];
          if (before?.ips.has(ip) && after?.ips.has(ip)) out.push({ ip, a: s.ns, b: other, t: s.t });
        }
      }
    }
    return out;
  }

  get sampleCount(): number {
    return this.samples.length;
  }
}
