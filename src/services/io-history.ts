/**
 * The last hour of I/O rates per disk and per node, in memory: fed by the nodes' I/O records
 * (`<root>/io/<node>`, domain/io-rates.ts) through a store watch. Bounded: per series at most
 * MAX_POINTS points, none older than an hour; a disk absent from a node's record had no I/O there.
 */
import type { Logger } from 'pino';
import type { CoordStore, Watch } from '../adapters/coord/types.js';
import { IO, type Rate, parseIoRecord } from '../domain/io-rates.js';
import { errText } from '../util/errors.js';

const HOUR_MS = 3600_000;
/** An hour of 3 s samples, and some slack. */
const MAX_POINTS = 1300;

/** One point: ms since the epoch, then read B/s, write B/s, read IOPS, write IOPS. */
export type IoPoint = [number, ...Rate];

class Series {
  readonly points: IoPoint[] = [];
  add(p: IoPoint): void {
    this.points.push(p);
    const cut = p[0] - HOUR_MS;
    let drop = 0;
    while (drop < this.points.length && ((this.points[drop] as IoPoint)[0] < cut || this.points.length - drop > MAX_POINTS)) drop++;
    if (drop) this.points.splice(0, drop);
  }
}

export class IoHistory {
  private readonly disks = new Map<string, Series>();
  private readonly nodes = new Map<string, Series>();
  /** node -> disks it reported busy last time (a disk that goes idle gets one zero point). */
  private readonly lastBusy = new Map<string, Set<string>>();
  private watch: Watch | undefined;

  constructor(private readonly o: { store: CoordStore; log: Logger }) {}

  async start(): Promise<void> {
    this.watch = await this.o.store.watch(IO, (ev) => {
      if (ev.type === 'put' && ev.value !== undefined) this.add(ev.key, ev.value);
    });
  }

  async close(): Promise<void> {
    await this.watch?.close().catch((e) => this.o.log.debug({ err: errText(e) }, 'io watch close'));
  }

  /** One node's record (the watch calls it). */
  add(key: string, value: string): void {
    const r = parseIoRecord(key, value);
    if (!r) return;
    const { node, rec } = r;
    const total: Rate = [0, 0, 0, 0];
    const busy = new Set(Object.keys(rec.disks));
    for (const [disk, rate] of Object.entries(rec.disks)) {
      this.series(this.disks, `${disk}@${node}`).add([rec.at, ...rate]);
      for (let i = 0; i < 4; i++) total[i] = (total[i] as number) + (rate[i] as number);
    }
    for (const d of this.lastBusy.get(node) ?? []) if (!busy.has(d)) this.series(this.disks, `${d}@${node}`).add([rec.at, 0, 0, 0, 0]);
    this.lastBusy.set(node, busy);
    this.series(this.nodes, node).add([rec.at, ...total]);
  }

  private series(m: Map<string, Series>, k: string): Series {
    let s = m.get(k);
    if (!s) {
      s = new Series();
      m.set(k, s);
    }
    return s;
  }

  /** A disk's points per node that served it I/O in the last hour. */
  disk(id: string, sinceMs = 0): { node: string; points: IoPoint[] }[] {
    const out: { node: string; points: IoPoint[] }[] = [];
    for (const [k, s] of this.disks) {
      const at = k.indexOf('@');
      if (k.slice(0, at) !== id) continue;
      out.push({ node: k.slice(at + 1), points: s.points.filter((p) => p[0] > sinceMs) });
    }
    return out.sort((a, b) => (a.node < b.node ? -1 : 1));
  }

  /** Each node's totals over its disks. */
  allNodes(sinceMs = 0): { node: string; points: IoPoint[] }[] {
    return [...this.nodes].map(([node, s]) => ({ node, points: s.points.filter((p) => p[0] > sinceMs) })).sort((a, b) => (a.node < b.node ? -1 : 1));
  }
}
