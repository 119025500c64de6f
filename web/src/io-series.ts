/**
 * Pure shaping of the I/O rates the API serves (GET /api/v1/disks/{id}/io, GET /api/v1/io/nodes) for
 * the charts: each series is one node's points `[ms, read B/s, write B/s, read IOPS, write IOPS]`,
 * taken at that node's own sample times. Summing nodes whose samples fall at different times holds
 * each node's last point until its next one (a node with no point for `holdMs` counts as 0: an idle
 * node stops writing records).
 */

/** [ms since the epoch, read B/s, write B/s, read IOPS, write IOPS] */
export type IoPoint = readonly number[];
export interface IoSeries {
  node: string;
  points: readonly IoPoint[];
}

/** What a chart shows: one x axis (seconds, as uPlot wants) and named lines on it. */
export interface ChartData {
  xs: number[];
  lines: { key: string; label: string; values: number[] }[];
}

/** Rate fields of a point. */
export const FIELD = { readBps: 1, writeBps: 2, readIops: 3, writeIops: 4 } as const;
export type Field = keyof typeof FIELD;

const at = (p: IoPoint, i: number): number => {
  const v = p[i];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
};

/** Every time any series has a point, after `sinceMs`, ascending. */
function times(series: readonly IoSeries[], sinceMs: number): number[] {
  const ts = new Set<number>();
  for (const s of series) for (const p of s.points) if (at(p, 0) > sinceMs) ts.add(at(p, 0));
  return [...ts].sort((a, b) => a - b);
}

/** The sum over the series of `fields` at each time (each series held at its last point for holdMs). */
function summed(series: readonly IoSeries[], ts: readonly number[], fields: readonly number[], holdMs: number): number[] {
  const out = ts.map(() => 0);
  for (const s of series) {
    const pts = [...s.points].sort((a, b) => at(a, 0) - at(b, 0));
    let j = -1;
    ts.forEach((t, k) => {
      while (j + 1 < pts.length && at(pts[j + 1] as IoPoint, 0) <= t) j++;
      const p = pts[j];
      if (p === undefined || t - at(p, 0) > holdMs) return;
      out[k] = (out[k] as number) + fields.reduce((a, f) => a + at(p, f), 0);
    });
  }
  return out;
}

/** Read and write of one kind (bytes/s or IOPS), summed over the series' nodes. */
export function readWrite(series: readonly IoSeries[], kind: 'bytes' | 'iops', sinceMs: number, holdMs: number): ChartData {
  const ts = times(series, sinceMs);
  const [r, w] = kind === 'bytes' ? [FIELD.readBps, FIELD.writeBps] : [FIELD.readIops, FIELD.writeIops];
  return {
    xs: ts.map((t) => t / 1000),
    lines: [
      { key: 'read', label: 'Read', values: summed(series, ts, [r], holdMs) },
      { key: 'write', label: 'Write', values: summed(series, ts, [w], holdMs) },
    ],
  };
}

/** Read + write of one kind, one line per node. */
export function perNode(series: readonly IoSeries[], kind: 'bytes' | 'iops', sinceMs: number, holdMs: number): ChartData {
  const ts = times(series, sinceMs);
  const fields = kind === 'bytes' ? [FIELD.readBps, FIELD.writeBps] : [FIELD.readIops, FIELD.writeIops];
  return {
    xs: ts.map((t) => t / 1000),
    lines: [...series]
      .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
      .map((s) => ({ key: s.node, label: s.node, values: summed([s], ts, fields, holdMs) })),
  };
}

/**
 * Each line's latest value: its value at the last time on the chart, or 0 when that time is more than
 * `staleMs` before `nowMs` (no node has reported for a while: nothing is moving, or nothing reports).
 */
export function latest(d: ChartData, nowMs: number, staleMs: number): { key: string; label: string; value: number }[] {
  const last = d.xs.length - 1;
  const fresh = last >= 0 && nowMs - (d.xs[last] as number) * 1000 <= staleMs;
  return d.lines.map((l) => ({ key: l.key, label: l.label, value: fresh ? (l.values[last] ?? 0) : 0 }));
}

/** Bytes per second in binary units (B/s, KiB/s, MiB/s, GiB/s). */
export function formatRate(bps: number): string {
  const units = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s', 'TiB/s'];
  let i = 0;
  let v = bps;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  // Whole bytes, except below 10 B/s (an axis of an idle chart: 0.5 B/s is not "1 B/s").
  const text = v >= 100 || (i === 0 && (v >= 10 || Number.isInteger(v))) ? String(Math.round(v)) : v.toFixed(1);
  return `${text} ${units[i]}`;
}

export function formatIops(n: number): string {
  return `${n >= 100 || Number.isInteger(n) ? Math.round(n).toLocaleString('en-US') : n.toFixed(1)} IOPS`;
}
