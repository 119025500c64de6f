/**
 * The disk list: summary, text and status filters (kept in the URL), sortable paged table (50 rows a
 * page, so 1,000s of disks stay fast), the paths dialog, the row actions, add disk and attach image.
 */
import { useCallback, useEffect, useId, useMemo, useState } from 'react';
import { AddDiskForm } from './AddDiskForm';
import type { ApiErrorBody, ClusterConfigView, DiskStatus, DiskView } from './api';
import { AttachImageDialog } from './AttachImageDialog';
import { useDiskActions } from './DiskActions';
import { DiskTable, type SortKey, type SortState } from './DiskTable';
import { Modal } from './Modal';
import { useNotify } from './notify';
import { PageHead } from './PageHead';
import { Pagination } from './Pagination';
import { PathsDialog } from './PathsDialog';
import { navigate, useLocation, withQuery } from './router';
import { usePermissions } from './session';
import type { LiveDisks } from './useLiveDisks';

export const PAGE_SIZE = 50;
export const STATUSES: DiskStatus[] = ['started', 'starting', 'degraded', 'stopping', 'stopped'];
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function compare(a: DiskView, b: DiskView, key: SortKey): number {
  switch (key) {
    case 'sizeGb':
    case 'pathCount':
      return a[key] - b[key];
    case 'createdAt':
      return Date.parse(a.createdAt) - Date.parse(b.createdAt);
    case 'status':
      return STATUSES.indexOf(a.status) - STATUSES.indexOf(b.status);
    default:
      return collator.compare(a[key], b[key]);
  }
}

export function statusCounts(disks: readonly DiskView[] | undefined): Record<DiskStatus, number> {
  const c: Record<DiskStatus, number> = { started: 0, starting: 0, degraded: 0, stopping: 0, stopped: 0 };
  for (const d of disks ?? []) c[d.status] = (c[d.status] ?? 0) + 1;
  return c;
}

interface DiskListPageProps {
  live: LiveDisks;
  config: ClusterConfigView | undefined;
  configError: ApiErrorBody | undefined;
  reloadConfig: () => void;
}

export function DiskListPage({ live, config, configError, reloadConfig }: DiskListPageProps) {
  const { disks, error, upsert } = live;
  const { can } = usePermissions();
  const notify = useNotify();
  const filterId = useId();
  const statusId = useId();
  const { search } = useLocation();
  const filter = search.get('q') ?? '';
  const statusParam = search.get('status') ?? '';
  const status = (STATUSES as string[]).includes(statusParam) ? (statusParam as DiskStatus) : undefined;
  const [sort, setSort] = useState<SortState>({ key: 'id', dir: 'asc' });
  const [page, setPage] = useState(0);
  const [pathsFor, setPathsFor] = useState<string | undefined>(undefined);
  const [dialog, setDialog] = useState<'add' | 'attach' | undefined>(undefined);
  const [highlightId, setHighlightId] = useState<string | undefined>(undefined);
  const [jumpTo, setJumpTo] = useState<string | undefined>(undefined);
  const actions = useDiskActions(disks);

  const setQuery = (q: string, s: string): void => {
    navigate(withQuery('/disks', { q, status: s }), { replace: true });
    setPage(0);
  };

  const filtered = useMemo(() => {
    let all = disks ?? [];
    if (status) all = all.filter((d) => d.status === status);
    const q = filter.trim().toLowerCase();
    if (q === '') return all;
    return all.filter((d) => d.id.includes(q) || d.name.toLowerCase().includes(q) || d.iqn.toLowerCase().includes(q) || d.status === q);
  }, [disks, filter, status]);

  const sorted = useMemo(() => {
    const out = filtered.slice();
    const sign = sort.dir === 'asc' ? 1 : -1;
    out.sort((a, b) => sign * compare(a, b, sort.key) || collator.compare(a.id, b.id));
    return out;
  }, [filtered, sort]);

  const counts = useMemo(() => statusCounts(disks), [disks]);

  const pageCount = Math.max(1, Math.ceil(sorted.length / PAGE_SIZE));
  const current = Math.min(page, pageCount - 1);
  const rows = useMemo(() => sorted.slice(current * PAGE_SIZE, (current + 1) * PAGE_SIZE), [sorted, current]);

  // After a create: show the page holding the new disk.
  useEffect(() => {
    if (jumpTo === undefined) return;
    const i = sorted.findIndex((d) => d.id === jumpTo);
    if (i >= 0) {
      setPage(Math.floor(i / PAGE_SIZE));
      setJumpTo(undefined);
    }
  }, [jumpTo, sorted]);

  useEffect(() => {
    if (highlightId === undefined) return;
    const t = setTimeout(() => setHighlightId(undefined), 4000);
    return () => clearTimeout(t);
  }, [highlightId]);

  const onSort = useCallback((key: SortKey) => {
    setSort((s) => (s.key === key ? { key, dir: s.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: 'asc' }));
  }, []);
  const onShowPaths = useCallback((id: string) => setPathsFor(id), []);

  const openDialog = (which: 'add' | 'attach'): void => {
    if (config === undefined) reloadConfig();
    setDialog(which);
  };

  const onCreated = (disk: DiskView, verb: string): void => {
    upsert(disk);
    setDialog(undefined);
    if (filter || status) setQuery('', '');
    setJumpTo(disk.id);
    setHighlightId(disk.id);
    notify(`Disk ${disk.id} “${disk.name}” ${verb}. Its paths are being started.`);
  };

  const pathsDisk = pathsFor === undefined ? undefined : disks?.find((d) => d.id === pathsFor);
  const canAdd = can('AddDisk');
  const anyAction = can('EditDisk') || can('StartStopDisk') || can('DeleteDisk');

  return (
    <>
      <PageHead
        title="Disks"
        sub={
          <span className="page-sub" data-testid="disk-summary">
            {disks === undefined ? (
              'Loading…'
            ) : (
              <>
                <strong>{disks.length}</strong> {disks.length === 1 ? 'disk' : 'disks'}
                {STATUSES.filter((s) => counts[s] > 0).map((s) => (
                  <span key={s} className={`summary-item summary-${s}`}>
                    <span className="badge-dot" aria-hidden="true" />
                    {counts[s]} {s}
                  </span>
                ))}
              </>
            )}
          </span>
        }
        actions={
          canAdd ? (
            <>
              <button type="button" className="button" onClick={() => openDialog('attach')} data-testid="attach-image">
                Attach image
              </button>
              <button type="button" className="button button-primary" onClick={() => openDialog('add')} data-testid="add-disk">
                <span aria-hidden="true" className="plus">
                  +
                </span>
                Add disk
              </button>
            </>
          ) : null
        }
      />

      {error ? (
        <div className="alert alert-error" role="alert" data-testid="list-error">
          Cannot refresh the disk list: {error.message}
        </div>
      ) : null}

      <section className="card" aria-label="Disk list">
        <div className="toolbar">
          <div className="toolbar-filters">
            <div className="search">
              <label htmlFor={filterId} className="sr-only">
                Filter disks
              </label>
              <input
                id={filterId}
                className="input input-search"
                type="search"
                placeholder="Filter by ID, name, IQN or status"
                data-testid="disk-filter"
                value={filter}
                onChange={(e) => setQuery(e.target.value, status ?? '')}
              />
            </div>
            <label htmlFor={statusId} className="sr-only">
              Status
            </label>
            <select
              id={statusId}
              className="select select-filter"
              data-testid="status-filter"
              value={status ?? ''}
              onChange={(e) => setQuery(filter, e.target.value)}
            >
              <option value="">All statuses</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s[0]?.toUpperCase()}
                  {s.slice(1)} ({counts[s]})
                </option>
              ))}
            </select>
          </div>
          <span className="toolbar-range" data-testid="disk-range" aria-live="polite">
            {disks === undefined
              ? ''
              : sorted.length === 0
                ? `0 of ${disks.length}`
                : `${current * PAGE_SIZE + 1}–${current * PAGE_SIZE + rows.length} of ${sorted.length}${
                    sorted.length < disks.length ? ` (filtered from ${disks.length})` : ''
                  }`}
          </span>
        </div>

        {disks === undefined ? (
          error ? null : (
            <p className="empty" role="status">
              Loading disks…
            </p>
          )
        ) : sorted.length === 0 ? (
          <p className="empty" data-testid="disk-empty">
            {disks.length === 0 ? (canAdd ? 'No disks yet. Use “Add disk” to create the first one.' : 'No disks yet.') : 'No disk matches the filter.'}
          </p>
        ) : (
          <DiskTable
            disks={rows}
            sort={sort}
            onSort={onSort}
            onShowPaths={onShowPaths}
            highlightId={highlightId}
            menuItems={anyAction ? actions.menuItems : undefined}
          />
        )}

        {sorted.length > PAGE_SIZE ? (
          <div className="table-foot">
            <Pagination page={current} pageCount={pageCount} onPage={setPage} />
          </div>
        ) : null}
      </section>

      {pathsDisk ? <PathsDialog disk={pathsDisk} onClose={() => setPathsFor(undefined)} /> : null}
      {actions.dialogs}

      {dialog === 'add' ? (
        <Modal title="Add disk" onClose={() => setDialog(undefined)} testId="add-disk-dialog" wide>
          <AddDiskForm config={config} configError={configError} onCreated={(d) => onCreated(d, 'created')} onCancel={() => setDialog(undefined)} />
        </Modal>
      ) : null}
      {dialog === 'attach' ? (
        <AttachImageDialog config={config} configError={configError} onAttached={(d) => onCreated(d, 'attached')} onClose={() => setDialog(undefined)} />
      ) : null}
    </>
  );
}
