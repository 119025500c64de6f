/**
 * The audit log, newest first, 50 entries at a time ("Show older" pages back). The search runs on the
 * server over every entry (a disk's name or id finds every action on it); the same search exports as
 * CSV or JSON.
 */
import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { type ApiErrorBody, type AuditEntry, auditExportUrl, listAudit } from './api';
import { CardTable } from './CardTable';
import { LoadError } from './Field';
import { formatDateSeconds } from './format';
import { PageHead } from './PageHead';
import { usePermissions } from './session';
import { StatusBadge } from './StatusBadge';

const PAGE = 50;

/** Disk and path actions by meaning; older entries (a method and a route) are shown as they are. */
const ACTION_LABELS: Record<string, string> = {
  'disk.create': 'Add disk',
  'disk.edit': 'Edit disk',
  'disk.stop': 'Stop disk',
  'disk.start': 'Start disk',
  'disk.detach': 'Detach disk',
  'disk.attach': 'Attach image',
  'disk.delete': 'Delete disk',
  'path.move': 'Move path',
  'paths.rebalance': 'Rebalance paths',
  'node.drain': 'Drain node',
  'node.undrain': 'Undrain node',
};

const valueText = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

function detailText(d: Record<string, unknown>): string {
  const parts = Object.entries(d ?? {})
    .filter(([k]) => k !== 'diskId' && k !== 'diskName')
    .map(([k, v]) => {
      if (k === 'changed' && v !== null && typeof v === 'object') {
        const changes = Object.entries(v as Record<string, unknown>).map(([f, c]) =>
          c !== null && typeof c === 'object' && 'from' in c && 'to' in c ? `${f}: ${valueText(c.from)} → ${valueText(c.to)}` : `${f}: ${valueText(c)}`,
        );
        return changes.length ? `changed ${changes.join(', ')}` : 'nothing changed';
      }
      return `${k}: ${valueText(v)}`;
    });
  return parts.join(' · ');
}

/** The disk an entry is about: "db1 (00001)". */
function diskOf(e: AuditEntry): string | undefined {
  const id = typeof e.details?.diskId === 'string' ? e.details.diskId : undefined;
  const name = typeof e.details?.diskName === 'string' ? e.details.diskName : undefined;
  if (name && id) return `${name} (${id})`;
  return name ?? id;
}

export function AuditPage() {
  const { canReadAudit } = usePermissions();
  const filterId = useId();
  const [entries, setEntries] = useState<AuditEntry[] | undefined>(undefined);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<ApiErrorBody | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [filter, setFilter] = useState('');
  /** The search the entries shown were loaded for (the answer to an older search is dropped). */
  const [loadedFor, setLoadedFor] = useState<string | undefined>(undefined);
  const latest = useRef('');

  const load = useCallback(async (search: string, before?: string) => {
    latest.current = search;
    setBusy(true);
    const r = await listAudit(PAGE, before, search || undefined);
    if (latest.current !== search) return;
    setBusy(false);
    if (!r.ok) {
      setError(r.error);
      return;
    }
    setError(undefined);
    setEntries((prev) => (before && prev ? [...prev, ...r.value.entries] : r.value.entries));
    setNext(r.value.next);
    setLoadedFor(search);
  }, []);

  const search = filter.trim();
  // The search runs on the server, a moment after the last key.
  useEffect(() => {
    if (!canReadAudit) return;
    const t = setTimeout(() => void load(search), search === '' ? 0 : 250);
    return () => clearTimeout(t);
  }, [canReadAudit, load, search]);
  const shown = entries;

  if (!canReadAudit) {
    return (
      <>
        <PageHead title="Audit log" />
        <p className="alert alert-warning" data-testid="no-permission">
          The audit log is open to users who can change something (admins and operators).
        </p>
      </>
    );
  }

  return (
    <>
      <PageHead
        title="Audit log"
        sub={<span className="page-sub">Who did what, and when. Newest first.</span>}
        actions={
          <>
            <a className="button" href={auditExportUrl('csv', search)} download data-testid="audit-export-csv">
              Export CSV
            </a>
            <a className="button" href={auditExportUrl('json', search)} download data-testid="audit-export-json">
              Export JSON
            </a>
            <button type="button" className="button" onClick={() => void load(search)} disabled={busy} data-testid="audit-refresh">
              Refresh
            </button>
          </>
        }
      />
      {error ? <LoadError what="the audit log" error={error} onRetry={() => void load(search)} /> : null}
      <CardTable
        label="Audit entries"
        rows={shown}
        failed={error !== undefined}
        empty={loadedFor ? `No entry contains “${loadedFor}”.` : 'Nothing has been recorded yet.'}
        testId="audit-table"
        className="table-compact"
        rowKey={(e) => e.id}
        rowTestId={() => 'audit-row'}
        toolbar={
          <div className="toolbar">
            <div className="search">
              <label htmlFor={filterId} className="sr-only">
                Search the audit log
              </label>
              <input
                id={filterId}
                className="input input-search"
                type="search"
                placeholder="Search: disk name or id, user, action, node…"
                value={filter}
                onChange={(e) => setFilter(e.target.value)}
                data-testid="audit-filter"
              />
            </div>
            <span className="toolbar-range" data-testid="audit-count" data-search={loadedFor ?? ''}>
              {entries ? `${entries.length} shown${next ? ', more older' : ''}${loadedFor ? ` for “${loadedFor}”` : ''}` : ''}
            </span>
          </div>
        }
        footer={
          next ? (
            <div className="table-foot">
              <button type="button" className="button button-small" onClick={() => void load(search, next)} disabled={busy} data-testid="audit-older">
                Show older entries
              </button>
            </div>
          ) : null
        }
        columns={[
          { head: 'Time', className: 'nowrap', cell: (e) => <time dateTime={e.time}>{formatDateSeconds(e.time)}</time> },
          {
            head: 'User',
            className: 'nowrap',
            cell: (e) => (
              <>
                {e.actor}
                <span className="muted"> · {e.via}</span>
              </>
            ),
          },
          {
            head: 'Action',
            cell: (e) => (
              <span data-testid="audit-action" data-action={e.action} className={ACTION_LABELS[e.action] ? undefined : 'mono'}>
                {ACTION_LABELS[e.action] ?? e.action}
              </span>
            ),
          },
          {
            head: 'Target',
            className: 'cell-wrap',
            cell: (e) => {
              const disk = diskOf(e);
              return disk ? <span data-testid="audit-disk">{disk}</span> : <span className="mono">{e.target}</span>;
            },
          },
          { head: 'Outcome', cell: (e) => <StatusBadge status={e.outcome} /> },
          {
            head: 'Details',
            className: 'cell-details',
            cell: (e) => (
              <>
                {detailText(e.details)}
                {e.ip ? <span className="muted"> · from {e.ip}</span> : null}
              </>
            ),
          },
        ]}
      />
    </>
  );
}
