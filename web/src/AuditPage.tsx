/** The audit log, newest first, 50 entries at a time ("Show older" pages back); filter what is loaded. */
import { useCallback, useEffect, useId, useMemo, useState } from 'react';
import { type ApiErrorBody, type AuditEntry, listAudit } from './api';
import { CardTable } from './CardTable';
import { LoadError } from './Field';
import { formatDateSeconds } from './format';
import { PageHead } from './PageHead';
import { usePermissions } from './session';
import { StatusBadge } from './StatusBadge';

const PAGE = 50;

function detailText(d: Record<string, unknown>): string {
  const parts = Object.entries(d ?? {}).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return parts.join(' · ');
}

export function AuditPage() {
  const { canReadAudit } = usePermissions();
  const filterId = useId();
  const [entries, setEntries] = useState<AuditEntry[] | undefined>(undefined);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<ApiErrorBody | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [filter, setFilter] = useState('');

  const load = useCallback(async (before?: string) => {
    setBusy(true);
    const r = await listAudit(PAGE, before);
    setBusy(false);
    if (!r.ok) {
      setError(r.error);
      return;
    }
    setError(undefined);
    setEntries((prev) => (before && prev ? [...prev, ...r.value.entries] : r.value.entries));
    setNext(r.value.next);
  }, []);

  useEffect(() => {
    if (canReadAudit) void load();
  }, [canReadAudit, load]);

  const shown = useMemo(() => {
    const q = filter.trim().toLowerCase();
    if (!entries || q === '') return entries;
    return entries.filter((e) => [e.actor, e.action, e.target, e.outcome, e.via, e.ip ?? ''].some((s) => s.toLowerCase().includes(q)));
  }, [entries, filter]);

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
          <button type="button" className="button" onClick={() => void load()} disabled={busy} data-testid="audit-refresh">
            Refresh
          </button>
        }
      />
      {error ? <LoadError what="the audit log" error={error} onRetry={() => void load()} /> : null}
      <CardTable
        label="Audit entries"
        rows={shown}
        failed={error !== undefined}
        empty={entries?.length === 0 ? 'Nothing has been recorded yet.' : 'No loaded entry matches the filter.'}
        testId="audit-table"
        className="table-compact"
        rowKey={(e) => e.id}
        rowTestId={() => 'audit-row'}
        toolbar={
          <div className="toolbar">
            <div className="search">
              <label htmlFor={filterId} className="sr-only">
                Filter loaded entries
              </label>
              <input
                id={filterId}
                className="input input-search"
                type="search"
                placeholder="Filter by user, action, target or outcome"
                value={filter}
                onChange={(e) => setFilter(e.target.value)}
                data-testid="audit-filter"
              />
            </div>
            <span className="toolbar-range">{entries ? `${shown?.length ?? 0} of ${entries.length} loaded` : ''}</span>
          </div>
        }
        footer={
          next ? (
            <div className="table-foot">
              <button type="button" className="button button-small" onClick={() => void load(next)} disabled={busy} data-testid="audit-older">
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
          { head: 'Action', className: 'mono', cell: (e) => e.action },
          { head: 'Target', className: 'mono cell-wrap', cell: (e) => e.target },
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
