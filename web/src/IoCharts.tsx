/**
 * The live I/O charts: the dashboard's (the cluster's read/write throughput and IOPS, and each node's)
 * and a disk's (its read/write throughput and IOPS, summed over the nodes serving it). Rates are the
 * nodes' own samples of their targets' counters (GET /api/v1/io/nodes, GET /api/v1/disks/{id}/io).
 */
import { useMemo } from 'react';
import { getDiskIo, getNodesIo } from './api';
import { IoChart } from './IoChart';
import { formatIops, formatRate, perNode, readWrite } from './io-series';
import { IO_WINDOW_MS, type IoState, useIoSeries } from './useIoSeries';

/** How long a node's last point counts for a sum, and how old the newest may be to be "latest". */
const holdMs = (s: IoState) => 2 * s.sampleMs + 1000;
const staleMs = (s: IoState) => 3 * s.sampleMs + 2000;

function Problem({ state }: { state: IoState }) {
  return state.error ? (
    <p className="alert alert-error" role="alert">
      Cannot load the I/O rates: {state.error.message}
    </p>
  ) : null;
}

export function DashboardIoCharts() {
  const state = useIoSeries((since) => getNodesIo(since), 'nodes');
  const charts = useMemo(() => {
    const series = state.series ?? [];
    const since = Date.now() - IO_WINDOW_MS;
    const hold = holdMs(state);
    return {
      bytes: readWrite(series, 'bytes', since, hold),
      iops: readWrite(series, 'iops', since, hold),
      nodeBytes: perNode(series, 'bytes', since, hold),
      nodeIops: perNode(series, 'iops', since, hold),
    };
  }, [state]);
  const now = Date.now();
  const stale = staleMs(state);
  return (
    <section className="card card-pad" aria-labelledby="dash-io-h" data-testid="dash-io">
      <h2 id="dash-io-h" className="card-title">
        I/O
      </h2>
      <Problem state={state} />
      <div className="io-charts">
        <IoChart
          title="Cluster throughput"
          data={charts.bytes}
          format={formatRate}
          nowMs={now}
          staleMs={stale}
          windowMs={IO_WINDOW_MS}
          testId="io-cluster-bytes"
        />
        <IoChart title="Cluster IOPS" data={charts.iops} format={formatIops} nowMs={now} staleMs={stale} windowMs={IO_WINDOW_MS} testId="io-cluster-iops" />
        <IoChart
          title="Throughput per node"
          data={charts.nodeBytes}
          format={formatRate}
          nowMs={now}
          staleMs={stale}
          windowMs={IO_WINDOW_MS}
          testId="io-node-bytes"
        />
        <IoChart title="IOPS per node" data={charts.nodeIops} format={formatIops} nowMs={now} staleMs={stale} windowMs={IO_WINDOW_MS} testId="io-node-iops" />
      </div>
      <p className="muted io-charts-note">Last 10 minutes, from the targets' own counters, sampled every {Math.round(state.sampleMs / 1000)} s by each node.</p>
    </section>
  );
}

export function DiskIoCharts({ id }: { id: string }) {
  const state = useIoSeries((since) => getDiskIo(id, since), id);
  const charts = useMemo(() => {
    const series = state.series ?? [];
    const since = Date.now() - IO_WINDOW_MS;
    const hold = holdMs(state);
    return { bytes: readWrite(series, 'bytes', since, hold), iops: readWrite(series, 'iops', since, hold) };
  }, [state]);
  const now = Date.now();
  const stale = staleMs(state);
  return (
    <>
      <Problem state={state} />
      <div className="io-charts" data-testid="disk-io">
        <IoChart title="Throughput" data={charts.bytes} format={formatRate} nowMs={now} staleMs={stale} windowMs={IO_WINDOW_MS} testId="io-disk-bytes" />
        <IoChart title="IOPS" data={charts.iops} format={formatIops} nowMs={now} staleMs={stale} windowMs={IO_WINDOW_MS} testId="io-disk-iops" />
      </div>
      <p className="muted io-charts-note">Last 10 minutes, summed over the nodes serving the disk; sampled every {Math.round(state.sampleMs / 1000)} s.</p>
    </>
  );
}
