/**
 * One live line chart of I/O rates (uPlot on a canvas). Its caption gives each line's latest value as
 * text, and as numbers in data attributes (data-series, data-value) for scripts and tests: the canvas
 * itself is hidden from screen readers, the caption says the same.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './io-charts.css';
import { type ChartData, latest } from './io-series';

const COLORS = ['#1d4ed8', '#c2410c', '#047857', '#7c3aed', '#b91c1c', '#0e7490', '#a16207', '#be185d'];
const HEIGHT = 180;

export function IoChart({
  title,
  data,
  format,
  nowMs,
  staleMs,
  windowMs,
  testId,
}: {
  title: string;
  data: ChartData;
  /** The value's text (bytes/s or IOPS). */
  format: (v: number) => string;
  /** The browser's clock, for "latest" (a line with no point for staleMs is 0). */
  nowMs: number;
  staleMs: number;
  /** The time the x axis spans, ending now. */
  windowMs: number;
  testId: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const [width, setWidth] = useState(0);
  const keys = data.lines.map((l) => l.key).join('\n');
  const aligned = useMemo<uPlot.AlignedData>(() => [data.xs, ...data.lines.map((l) => l.values)], [data]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(Math.floor(el.clientWidth)));
    ro.observe(el);
    setWidth(Math.floor(el.clientWidth));
    return () => ro.disconnect();
  }, []);

  // A new chart when the lines change (a node appears); new data otherwise.
  // biome-ignore lint/correctness/useExhaustiveDependencies: rebuilt on the set of lines only; data and width follow below.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        // The whole window, ending now: a new line grows from the right, an idle stretch shows as one.
        x: { time: true, range: () => [(Date.now() - windowMs) / 1000, Date.now() / 1000] },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
      axes: [{}, { size: 100, values: (_u, splits) => splits.map((v) => format(v)) }],
      series: [{}, ...data.lines.map((l, i) => ({ label: l.label, stroke: COLORS[i % COLORS.length] as string, width: 2 }))],
    };
    plot.current = new uPlot(opts, aligned, el);
    return () => {
      plot.current?.destroy();
      plot.current = undefined;
    };
  }, [keys]);

  useEffect(() => {
    plot.current?.setData(aligned);
  }, [aligned]);

  useEffect(() => {
    if (width > 0) plot.current?.setSize({ width: Math.max(200, width), height: HEIGHT });
  }, [width]);

  const now = latest(data, nowMs, staleMs);
  return (
    <figure className="io-chart" data-testid={testId} data-points={data.xs.length}>
      <div className="io-chart-canvas" ref={box} aria-hidden="true" />
      <figcaption className="io-chart-caption">
        <span className="io-chart-title">{title}</span>
        {data.lines.length === 0 ? (
          <span className="muted"> no I/O recorded in this window</span>
        ) : (
          <ul className="io-chart-legend" aria-label={`${title}, latest`}>
            {now.map((l, i) => (
              <li key={l.key} data-series={l.key} data-value={l.value}>
                <span className="io-chart-swatch" style={{ background: COLORS[i % COLORS.length] }} />
                {l.label} <strong>{format(l.value)}</strong>
              </li>
            ))}
          </ul>
        )}
      </figcaption>
    </figure>
  );
}
