/** The disk list page: summary, filter, paged table, the paths dialog and the add-disk dialog. */
import { useCallback, useEffect, useId, useMemo, useState } from 'react';
import { AddDiskForm } from './AddDiskForm';
import type { ApiErrorBody, ClusterConfigView, DiskStatus, DiskView } from './api';
import { DiskTable, type SortKey, type SortState } from './DiskTable';
import { Modal } from './Modal';
import { Pagination } from './Pagination';
import { PathsDialog } from './PathsDialog';
import type { LiveDisks } from './useLiveDisks';

export const PAGE_SIZE = 50;
const STATUSES: DiskStatus[] = ['started', 'starting', 'degraded', 'stopping', 'stopped'];
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

interface DiskListPageProps {
  live: LiveDisks;
  config: ClusterConfigView | undefined;
  configError: ApiErrorBody | undefined;
  reloadConfig: () => void;
}

export function DiskListPage({ live, config, configError, reloadConfig }: DiskListPageProps) {
  const { disks, error, upsert } = live;
  const filterId = useId();
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<SortState>({ key: 'id', dir: 'asc' });
  const [page, setPage] = useState(0);
  const [pathsFor, setPathsFor] = useState<string | undefined>(undefined);
  const [adding, setAdding] = useState(false);
  const [highlightId, setHighlightId] = useState<string | undefined>(undefined);
  const [jumpTo, setJumpTo] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);

  const filtered = useMemo(() => {
    const all = disks ?? [];
    const q = filter.trim().toLowerCase();
    if (q === '') return all;
    return all.filter(
      (d) =>
        d.id.includes(q) ||
        d.name.toLowerCase().includes(q) ||
        d.iqn.toLowerCase().includes(q) ||
        d.status === q,
    );
  }, [disks, filter]);

  const sorted = useMemo(() => {
    const out = filtered.slice();
    const sign = sort.dir === 'asc' ? 1 : -1;
    out.sort((a, b) => sign * compare(a, b, sort.key) || collator.compare(a.id, b.id));
    return out;
  }, [filtered, sort]);

  const counts = useMemo(() => {
    const c: Record<DiskStatus, number> = { started: 0, starting: 0, degraded: 0, stopping: 0, stopped: 0 };
    for (const d of disks ?? []) c[d.status] = (c[d.status] ?? 0) + 1;
    return c;
  }, [disks]);

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

  useEffect(() => {
    if (notice === undefined) return;
    const t = setTimeout(() => setNotice(undefined), 6000);
    return () => clearTimeout(t);
  }, [notice]);

  const onSort = useCallback((key: SortKey) => {
    setSort((s) => (s.key === key ? { key, dir: s.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: 'asc' }));
  }, []);
  const onShowPaths = useCallback((id: string) => setPathsFor(id), []);

  const openAdd = (): void => {
    if (config === undefined) reloadConfig();
    setAdding(true);
  };

  const onCreated = (disk: DiskView): void => {
    upsert(disk);
    setAdding(false);
    setFilter('');
    setJumpTo(disk.id);
    setHighlightId(disk.id);
    setNotice(`Disk ${disk.id} “${disk.name}” created. Its paths are being started.`);
  };

  const pathsDisk = pathsFor === undefined ? undefined : disks?.find((d) => d.id === pathsFor);

  return (
    <main className="page" id="main">
      <div className="page-head">
        <div>
          <h1 className="page-title">Disks</h1>
          <p className="page-sub" data-testid="disk-summary">
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
          </p>
        </div>
        <button type="button" className="button button-primary" onClick={openAdd} data-testid="add-disk">
          <span aria-hidden="true" className="plus">
            +
          </span>
          Add disk
        </button>
      </div>

      <div role="status" className="notice-region">
        {notice ? (
          <div className="alert alert-success" data-testid="notice">
            {notice}
          </div>
        ) : null}
      </div>

      {error ? (
        <div className="alert alert-error" role="alert" data-testid="list-error">
          Cannot refresh the disk list: {error.message}
        </div>
      ) : null}

      <section className="card" aria-label="Disk list">
        <div className="toolbar">
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
              onChange={(e) => {
                setFilter(e.target.value);
                setPage(0);
              }}
            />
          </div>
          <span className="toolbar-range" data-testid="disk-range">
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
          <p className="empty" role="status">
            Loading disks…
          </p>
        ) : sorted.length === 0 ? (
          <p className="empty" data-testid="disk-empty">
            {disks.length === 0 ? 'No disks yet. Use “Add disk” to create the first one.' : 'No disk matches the filter.'}
          </p>
        ) : (
          <DiskTable disks={rows} sort={sort} onSort={onSort} onShowPaths={onShowPaths} highlightId={highlightId} />
        )}

        {sorted.length > PAGE_SIZE ? (
          <div className="table-foot">
            <Pagination page={current} pageCount={pageCount} onPage={setPage} />
          </div>
        ) : null}
      </section>

      {pathsDisk ? <PathsDialog disk={pathsDisk} onClose={() => setPathsFor(undefined)} /> : null}

      {adding ? (
        <Modal title="Add disk" onClose={() => setAdding(false)} testId="add-disk-dialog" wide>
          <AddDiskForm
            config={config}
            configError={configError}
            onCreated={onCreated}
            onCancel={() => setAdding(false)}
          />
        </Modal>
      ) : null}
    </main>
  );
}
