/**
 * The cluster at a glance, derived from the live disk list and GET /api/v1/nodes: disks by status,
 * paths served and not, nodes up. Capacity used needs GET /api/v1/cluster/usage, which the server
 * does not offer yet: until it does, a placeholder says so (no made-up numbers).
 */
import { HealthSummary } from './HealthSummary';
import { DashboardIoCharts } from './IoCharts';
import { useAlerts } from './useAlerts';
import { type ReactNode, useEffect, useMemo, useState } from 'react';
import { type ApiErrorBody, type ClusterUsage, getClusterUsage } from './api';
import { STATUSES, statusCounts } from './DiskListPage';
import { formatBytes, formatGiB, formatNumber, GIB, overcommitLevel } from './format';
import { PageHead } from './PageHead';
import { Link, withQuery } from './router';
import { StatusBadge } from './StatusBadge';
import type { LiveDisks } from './useLiveDisks';
import { useNodes } from './useNodes';

const ATTENTION_MAX = 8;

function isUsage(v: unknown): v is ClusterUsage {
  const u = v as ClusterUsage;
  return typeof u === 'object' && u !== null && Number.isFinite(u.usedBytes) && Number.isFinite(u.totalBytes) && u.totalBytes > 0;
}

export function DashboardPage({ live }: { live: LiveDisks }) {
  const { disks, error } = live;
  const { nodes, error: nodesError } = useNodes(disks);
  const [usage, setUsage] = useState<ClusterUsage | ApiErrorBody | undefined>(undefined);

  useEffect(() => {
    let cancelled = false;
    void getClusterUsage().then((r) => {
      if (cancelled) return;
      setUsage(r.ok && isUsage(r.value) ? r.value : r.ok ? { code: 'bad_reply', message: 'unreadable reply', details: {}, status: 200 } : r.error);
    });
    return () => {
      cancelled = true;
    };
  }, []);

  const counts = useMemo(() => statusCounts(disks), [disks]);
  const paths = useMemo(() => {
    let total = 0;
    let served = 0;
    let wanted = 0;
    let provisionedGb = 0;
    for (const d of disks ?? []) {
      total += d.pathCount;
      served += d.pathsServed;
      provisionedGb += d.sizeGb;
      if (d.status !== 'stopped' && d.status !== 'stopping') wanted += d.pathCount;
    }
    // Paths of started disks that no node serves.
    return { total, served, unserved: Math.max(0, wanted - served), provisionedGb };
  }, [disks]);
  const attention = useMemo(() => (disks ?? []).filter((d) => d.status === 'degraded' || d.status === 'starting' || d.status === 'stopping'), [disks]);
  const up = nodes?.filter((n) => n.up).length ?? 0;
  const drained = nodes?.filter((n) => n.drained).length ?? 0;

  return (
    <>
      <PageHead title="Dashboard" sub={<span className="page-sub">The cluster at a glance, updated live.</span>} />
      <DashboardHealth />
      {error ? (
        <p className="alert alert-error" role="alert">
          Cannot refresh the disk list: {error.message}
        </p>
      ) : null}

      <div className="tiles">
        <Tile name="disks" title="Disks">
          <p className="tile-value">{disks === undefined ? '…' : formatNumber(disks.length)}</p>
          <ul className="tile-list">
            {STATUSES.map((s) => (
              <li key={s}>
                <Link to={withQuery('/disks', { status: s })} className="tile-link" data-testid={`dash-status-${s}`}>
                  <StatusBadge status={s} />
                  <span className="tile-count">{disks === undefined ? '…' : counts[s]}</span>
                </Link>
              </li>
            ))}
          </ul>
        </Tile>

        <Tile name="paths" title="Paths">
          <Figure value={paths.served} of={paths.total} what="served" known={disks !== undefined} format={formatNumber} />
          <p className={paths.unserved > 0 ? 'tile-note tile-note-warn' : 'tile-note'} data-testid="paths-unserved">
            {disks === undefined
              ? ''
              : paths.unserved === 0
                ? 'Every path of a started disk is served.'
                : `${paths.unserved} path(s) of started disks not served.`}
          </p>
        </Tile>

        <Tile name="nodes" title="Nodes">
          <Figure value={up} of={nodes?.length ?? 0} what="up" known={nodes !== undefined} />
          <p className="tile-note">
            {nodesError ? (
              <span className="text-danger">Cannot load the nodes: {nodesError.message}</span>
            ) : nodes === undefined ? (
              ''
            ) : (
              <>
                {drained > 0 ? `${drained} drained · ` : ''}
                <Link to="/nodes">Nodes</Link>
              </>
            )}
          </p>
        </Tile>

        <Tile name="capacity" title="Capacity">
          {usage === undefined ? (
            <p className="tile-value">…</p>
          ) : isUsage(usage) ? (
            <Figure value={usage.usedBytes} of={usage.totalBytes} what="used" format={formatBytes} />
          ) : (
            <p className="tile-placeholder" data-testid="capacity-unavailable">
              Capacity used is not available: the server does not report storage usage yet.
            </p>
          )}
          <p className="tile-note" data-testid="capacity-provisioned">
            {disks === undefined ? '' : `${formatGiB(paths.provisionedGb)} provisioned in ${formatNumber(disks.length)} disk(s).`}
          </p>
          {disks !== undefined && isUsage(usage) ? <Overcommit provisionedGib={paths.provisionedGb} totalBytes={usage.totalBytes} /> : null}
        </Tile>
      </div>

      <DashboardIoCharts />

      <div className="dash-grid">
        <section className="card" aria-labelledby="attention-h" data-testid="attention">
          <h2 id="attention-h" className="card-title card-title-bar">
            Disks needing attention
          </h2>
          {disks === undefined ? (
            <p className="empty">…</p>
          ) : attention.length === 0 ? (
            <p className="empty">None: every disk is started or stopped.</p>
          ) : (
            <ul className="list">
              {attention.slice(0, ATTENTION_MAX).map((d) => (
                <li key={d.id} className="list-row">
                  <Link to={`/disks/${d.id}`}>
                    <span className="mono">{d.id}</span> {d.name}
                  </Link>
                  <span className="list-meta">
                    {d.pathsServed}/{d.pathCount} served <StatusBadge status={d.status} />
                  </span>
                </li>
              ))}
              {attention.length > ATTENTION_MAX ? (
                <li className="list-row">
                  <Link to="/disks">and {attention.length - ATTENTION_MAX} more on the disk list</Link>
                </li>
              ) : null}
            </ul>
          )}
        </section>

        <section className="card" aria-labelledby="dash-nodes-h">
          <h2 id="dash-nodes-h" className="card-title card-title-bar">
            Nodes
          </h2>
          {nodes === undefined ? (
            <p className="empty">{nodesError ? nodesError.message : '…'}</p>
          ) : nodes.length === 0 ? (
            <p className="empty">No node has joined the cluster.</p>
          ) : (
            <ul className="list">
              {nodes.map((n) => (
                <li key={n.name} className="list-row">
                  <span className="mono">{n.name}</span>
                  <span className="list-meta">
                    {n.pathCount} path(s) <StatusBadge status={n.up ? (n.drained ? 'drained' : 'up') : 'down'} />
                  </span>
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
    </>
  );
}

/** A dashboard tile: a titled section (data-testid tile-<name>). */
function Tile({ name, title, children }: { name: string; title: string; children: ReactNode }) {
  return (
    <section className="tile" aria-labelledby={`tile-${name}`} data-testid={`tile-${name}`}>
      <h2 id={`tile-${name}`} className="tile-title">
        {title}
      </h2>
      {children}
    </section>
  );
}

/** "value of total what" with its bar; `…` for both figures while they are not known. */
function Figure({
  value,
  of,
  what,
  known = true,
  format = String,
}: {
  value: number;
  of: number;
  what: string;
  known?: boolean;
  format?: (n: number) => string;
}) {
  return (
    <>
      <p className="tile-value">
        {known ? format(value) : '…'}
        <span className="tile-of">
          {' '}
          of {known ? format(of) : '…'} {what}
        </span>
      </p>
      <Meter value={value} max={of} />
    </>
  );
}

/** A bar for a figure the text next to it already gives (so hidden from screen readers). */
function Meter({ value, max }: { value: number; max: number }) {
  const pct = max > 0 ? Math.min(100, Math.round((value / max) * 100)) : 0;
  return (
    <div className="meter" aria-hidden="true">
      <div className="meter-bar" style={{ width: `${pct}%` }} />
    </div>
  );
}

/** Provisioned sizes beyond raw capacity (thin disks): a note past 100%, a warning past 200%. */
function Overcommit({ provisionedGib, totalBytes }: { provisionedGib: number; totalBytes: number }) {
  const level = overcommitLevel(provisionedGib * GIB, totalBytes);
  if (level === 'none') return null;
  const pct = Math.round(((provisionedGib * GIB) / totalBytes) * 100);
  const text = `Provisioned is ${pct}% of the raw capacity (${formatBytes(totalBytes)}): the storage can run out before the disks are full.`;
  return (
    <p
      className={level === 'warning' ? 'tile-note tile-note-warn' : 'tile-note'}
      data-testid={`overcommit-${level}`}
      role={level === 'warning' ? 'alert' : undefined}
    >
      {level === 'warning' ? `Heavily overcommitted. ${text}` : `Overcommitted. ${text}`}
    </p>
  );
}

/** The health summary (problems now), from the event service. */
function DashboardHealth() {
  const { health } = useAlerts(1);
  return <HealthSummary health={health} linkToEvents />;
}
