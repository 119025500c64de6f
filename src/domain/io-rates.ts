/**
 * I/O rates from tgtd's per-session counters. Each sample gives, per disk, the cumulative counters of
 * every session of its target; rates are the deltas since the previous sample over the time between
 * them. A session new since the last sample counts from 0 (its whole counter is new I/O); a session gone
 * takes its last interval's I/O with it (tgtd drops its counters). Pure.
 *
 * Each node records its rates at `<root>/io/<node>` (IoRecord), replaced every sample while any disk
 * moves (and once more when all are idle); servers keep the last hour in memory (services/io-history.ts).
 */
import { ROOT } from './keys.js';

export const IO = `${ROOT}/io/`;
export const ioKey = (node: string): string => `${IO}${node}`;

export interface Counters {
  readBytes: number;
  reads: number;
  writeBytes: number;
  writes: number;
}

/** [read bytes/s, write bytes/s, read IOPS, write IOPS] */
export type Rate = [number, number, number, number];

export interface IoRecord {
  /** ms since the epoch of the sample. */
  at: number;
  /** ms since the previous sample (the rates' interval). */
  intervalMs: number;
  /** disk id -> rate, disks with any I/O in the interval only. */
  disks: Record<string, Rate>;
}

/** Per session key (e.g. `${disk}/${pid}/${sid}`) -> counters. */
export type SessionCounters = ReadonlyMap<string, Counters>;

/**
 * Rates per disk between two samples. `diskOf` names a session key's disk. Counters that went down (a
 * recycled session id) count from 0.
 */
export function ratesBetween(prev: SessionCounters, next: SessionCounters, intervalMs: number, diskOf: (key: string) => string): Map<string, Rate> {
  const out = new Map<string, Rate>();
  if (intervalMs <= 0) return out;
  const s = 1000 / intervalMs;
  for (const [k, c] of next) {
    const p = prev.get(k);
    const d = (a: number, b: number | undefined) => (b === undefined || a < b ? a : a - b);
    const delta = [d(c.readBytes, p?.readBytes), d(c.writeBytes, p?.writeBytes), d(c.reads, p?.reads), d(c.writes, p?.writes)];
    if (delta.every((x) => x === 0)) continue;
    const disk = diskOf(k);
    const r = out.get(disk) ?? [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) r[i] = (r[i] as number) + (delta[i] as number) * s;
    out.set(disk, r);
  }
  return out;
}

export function parseIoRecord(key: string, value: string): { node: string; rec: IoRecord } | undefined {
  const m = /^\/portway\/io\/([A-Za-z0-9][A-Za-z0-9._-]{0,62})$/.exec(key);
  if (!m) return undefined;
  try {
    const v = JSON.parse(value) as Partial<IoRecord>;
    if (typeof v.at !== 'number' || typeof v.intervalMs !== 'number' || typeof v.disks !== 'object' || v.disks === null) return undefined;
    const disks: Record<string, Rate> = {};
    for (const [id, r] of Object.entries(v.disks)) {
      if (/^\d{5}$/.test(id) && Array.isArray(r) && r.length === 4 && r.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0))
        disks[id] = r as Rate;
    }
    return { node: m[1] as string, rec: { at: v.at, intervalMs: v.intervalMs, disks } };
  } catch {
    return undefined;
  }
}
