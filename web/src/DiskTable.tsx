/** The disk table: one page of rows, sortable columns. Rows are memoised (live updates touch few). */
import { memo } from 'react';
import type { DiskView } from './api';
import { formatDate, formatNumber } from './format';
import { Menu, type MenuItem } from './Menu';
import { Link } from './router';
import { StatusBadge } from './StatusBadge';

export type SortKey = 'id' | 'name' | 'sizeGb' | 'iqn' | 'createdAt' | 'pathCount' | 'status';
export interface SortState {
  key: SortKey;
  dir: 'asc' | 'desc';
}

interface DiskTableProps {
  disks: DiskView[];
  sort: SortState;
  onSort: (key: SortKey) => void;
  onShowPaths: (id: string) => void;
  highlightId: string | undefined;
  /** The actions of a row's menu; no actions column when absent. */
  menuItems?: (disk: DiskView) => MenuItem[];
}

const COLUMNS: { key: SortKey; label: string; className?: string }[] = [
  { key: 'id', label: 'ID' },
  { key: 'name', label: 'Name' },
  { key: 'sizeGb', label: 'Size (GiB)', className: 'num' },
  { key: 'iqn', label: 'IQN' },
  { key: 'createdAt', label: 'Created' },
  { key: 'pathCount', label: 'Paths' },
  { key: 'status', label: 'Status' },
];

export function DiskTable({ disks, sort, onSort, onShowPaths, highlightId, menuItems }: DiskTableProps) {
  return (
    <div className="table-wrap">
      <table className="table disk-table" data-testid="disk-table">
        <caption className="sr-only">Disks</caption>
        <thead>
          <tr>
            {COLUMNS.map((c) => {
              const active = sort.key === c.key;
              return (
                <th key={c.key} scope="col" className={c.className} aria-sort={active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : undefined}>
                  <button type="button" className="sort-button" onClick={() => onSort(c.key)}>
                    {c.label}
                    <span className={active ? 'sort-icon sort-icon-active' : 'sort-icon'} aria-hidden="true">
                      {active && sort.dir === 'desc' ? '▾' : '▴'}
                    </span>
                  </button>
                </th>
              );
            })}
            {menuItems ? (
              <th scope="col" className="col-actions">
                <span className="sr-only">Actions</span>
              </th>
            ) : null}
          </tr>
        </thead>
        <tbody>
          {disks.map((d) => (
            <DiskRow key={d.id} disk={d} onShowPaths={onShowPaths} highlighted={d.id === highlightId} menuItems={menuItems} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

interface DiskRowProps {
  disk: DiskView;
  onShowPaths: (id: string) => void;
  highlighted: boolean;
  menuItems: ((disk: DiskView) => MenuItem[]) | undefined;
}

function sameDisk(a: DiskView, b: DiskView): boolean {
  return (
    a.id === b.id &&
    a.name === b.name &&
    a.sizeGb === b.sizeGb &&
    a.iqn === b.iqn &&
    a.createdAt === b.createdAt &&
    a.pathCount === b.pathCount &&
    a.pathsServed === b.pathsServed &&
    a.status === b.status &&
    a.acl === b.acl &&
    a.chapUser === b.chapUser &&
    a.subnet === b.subnet
  );
}

const DiskRow = memo(
  function DiskRow({ disk: d, onShowPaths, highlighted, menuItems }: DiskRowProps) {
    const partly = d.pathsServed < d.pathCount;
    const items = menuItems?.(d);
    return (
      <tr data-testid={`disk-row-${d.id}`} className={highlighted ? 'row-highlight' : undefined}>
        <td className="mono cell-id">{d.id}</td>
        <td className="cell-name" title={d.name}>
          <Link to={`/disks/${d.id}`} className="row-link" data-testid={`disk-link-${d.id}`}>
            {d.name}
          </Link>
        </td>
        <td className="num cell-size">
          {formatNumber(d.sizeGb)}
          <span className="phone-only"> GiB</span>
        </td>
        <td className="mono cell-iqn" title={d.iqn}>
          {d.iqn}
        </td>
        <td className="nowrap cell-created">
          <time dateTime={d.createdAt}>{formatDate(d.createdAt)}</time>
        </td>
        <td className="cell-paths">
          <button
            type="button"
            className="link-button"
            data-testid={`disk-paths-${d.id}`}
            onClick={() => onShowPaths(d.id)}
            title={`${d.pathsServed} of ${d.pathCount} paths served`}
          >
            {d.pathCount}
            <span className="phone-only" aria-hidden="true">
              {' '}
              {d.pathCount === 1 ? 'path' : 'paths'}
            </span>
            <span className="sr-only"> paths of disk {d.id}</span>
          </button>
          {partly ? <span className="served-hint">{d.pathsServed} served</span> : null}
        </td>
        <td className="cell-status" data-testid={`disk-status-${d.id}`} data-status={d.status}>
          <StatusBadge status={d.status} />
        </td>
        {items ? (
          <td className="col-actions">
            {items.length > 0 ? <Menu label={`Actions for disk ${d.id} ${d.name}`} items={items} testId={`disk-menu-${d.id}`} /> : null}
          </td>
        ) : null}
      </tr>
    );
  },
  (prev, next) =>
    prev.highlighted === next.highlighted && prev.onShowPaths === next.onShowPaths && prev.menuItems === next.menuItems && sameDisk(prev.disk, next.disk),
);
