/**
 * I/O rate series re-read every sample interval (the server says how often the nodes sample): the
 * window's points are kept, each poll asks only for the recent points (from two samples before the
 * newest it has: a node's record can arrive after another node's newer one).
 */
import { useEffect, useState } from 'react';
import type { ApiErrorBody, ApiResult, IoReply } from './api';
import type { IoPoint, IoSeries } from './io-series';

/** What the charts show: the last 10 minutes. */
export const IO_WINDOW_MS = 10 * 60_000;
const DEFAULT_SAMPLE_MS = 3000;

export interface IoState {
  series?: IoSeries[];
  sampleMs: number;
  error?: ApiErrorBody;
}

/** `load(sinceMs)`: the API call (getDiskIo bound to a disk, or getNodesIo); `key` restarts the polling. */
export function useIoSeries(load: (sinceMs: number) => Promise<ApiResult<IoReply>>, key: string): IoState {
  const [state, setState] = useState<IoState>({ sampleMs: DEFAULT_SAMPLE_MS });
  // biome-ignore lint/correctness/useExhaustiveDependencies: `load` is a new closure each render; `key` names what it loads.
  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const byNode = new Map<string, IoPoint[]>();
    let newest = 0;
    let sampleMs = DEFAULT_SAMPLE_MS;
    const poll = async () => {
      const r = await load(newest > 0 ? newest - 2 * sampleMs : Date.now() - IO_WINDOW_MS);
      if (cancelled) return;
      if (r.ok) {
        sampleMs = Math.max(500, r.value.sampleSeconds * 1000);
        for (const s of r.value.series) {
          const pts = byNode.get(s.node) ?? [];
          const have = new Set(pts.map((p) => p[0]));
          for (const p of s.points) if (!have.has(p[0])) pts.push(p);
          pts.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0));
          byNode.set(s.node, pts);
        }
        for (const pts of byNode.values()) for (const p of pts) newest = Math.max(newest, p[0] ?? 0);
        const cut = newest - IO_WINDOW_MS;
        const series = [...byNode].map(([node, pts]) => {
          const kept = pts.filter((p) => (p[0] ?? 0) > cut);
          byNode.set(node, kept);
          return { node, points: kept };
        });
        setState({ series, sampleMs });
      } else setState((s) => ({ ...s, error: r.error }));
      timer = setTimeout(() => void poll(), sampleMs);
    };
    void poll();
    return () => {
      cancelled = true;
      if (timer) clearTimeout(timer);
    };
  }, [key]);
  return state;
}
