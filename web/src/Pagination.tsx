/** Page selector: previous / page select / next. */
import { useId } from 'react';

interface PaginationProps {
  page: number; // 0-based
  pageCount: number;
  onPage: (page: number) => void;
}

export function Pagination({ page, pageCount, onPage }: PaginationProps) {
  const selectId = useId();
  return (
    <nav className="pagination" aria-label="Pages" data-testid="pagination">
      <div className="pagination-controls">
        <button type="button" className="button button-small" onClick={() => onPage(page - 1)} disabled={page <= 0}>
          <span aria-hidden="true">‹ </span>Previous
        </button>
        <label htmlFor={selectId} className="pagination-label">
          Page
        </label>
        <select id={selectId} className="select select-small" value={page} onChange={(e) => onPage(Number(e.target.value))} data-testid="page-select">
          {Array.from({ length: pageCount }, (_, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: pages are positions
            <option key={i} value={i}>
              {i + 1}
            </option>
          ))}
        </select>
        <span className="pagination-of">of {pageCount}</span>
        <button type="button" className="button button-small" onClick={() => onPage(page + 1)} disabled={page >= pageCount - 1}>
          Next<span aria-hidden="true"> ›</span>
        </button>
      </div>
    </nav>
  );
}
