/**
 * The pages' tables: a table with its hidden caption and column heads (Table), and the same table in a
 * card with a title bar, a loading state and an empty state (CardTable). Columns say how each cell of
 * a row is drawn.
 */
import { type ReactNode, useId } from 'react';

export interface Column<T> {
  /** The column head; srOnly: for screen readers only (an actions column). */
  head: ReactNode;
  srOnly?: boolean;
  /** Class of the head cell. */
  headClassName?: string;
  /** Class of each cell. */
  className?: string;
  cell: (row: T) => ReactNode;
  /** data-testid of each cell. */
  cellTestId?: (row: T) => string;
  /** false: the column is left out (an action the user may not take). */
  show?: boolean;
}

export interface TableProps<T> {
  /** The caption (hidden: the card or the page says it). */
  caption: ReactNode;
  columns: readonly Column<T>[];
  rows: readonly T[];
  rowKey: (row: T) => string | number;
  rowTestId?: (row: T) => string;
  testId: string;
  /** More classes of the table (table-compact) and of its scroll box (table-bordered, table-scroll). */
  className?: string;
  wrapClassName?: string;
}

const classes = (base: string, more: string | undefined): string => (more ? `${base} ${more}` : base);

export function Table<T>({ caption, columns, rows, rowKey, rowTestId, testId, className, wrapClassName }: TableProps<T>) {
  const shown = columns.filter((c) => c.show !== false);
  return (
    <div className={classes('table-wrap', wrapClassName)}>
      <table className={classes('table', className)} data-testid={testId}>
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            {shown.map((c, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: columns are fixed per table
              <th key={i} scope="col" className={c.headClassName}>
                {c.srOnly ? <span className="sr-only">{c.head}</span> : c.head}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={rowKey(r)} data-testid={rowTestId?.(r)}>
              {shown.map((c, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: columns are fixed per table
                <td key={i} className={c.className} data-testid={c.cellTestId?.(r)}>
                  {c.cell(r)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export interface CardTableProps<T> extends Omit<TableProps<T>, 'rows' | 'caption'> {
  /** The card's title bar, and the table's caption. */
  title?: string;
  /** Without a title: the card's accessible name (the page head says it). */
  label?: string;
  /** undefined: still loading. */
  rows: readonly T[] | undefined;
  /** The load failed (the page shows why): no loading text then. */
  failed?: boolean;
  loadingText?: ReactNode;
  /** Shown instead of a table without rows. */
  empty?: ReactNode;
  /** Above the table (a filter bar) and below it (more rows). */
  toolbar?: ReactNode;
  footer?: ReactNode;
}

export function CardTable<T>({ title, label, rows, failed, loadingText, empty, toolbar, footer, ...table }: CardTableProps<T>) {
  const titleId = useId();
  let body: ReactNode;
  if (rows === undefined)
    body = failed ? null : (
      <p className="empty" role="status">
        {loadingText ?? 'Loading…'}
      </p>
    );
  else if (rows.length === 0 && empty !== undefined) body = <p className="empty">{empty}</p>;
  else body = <Table {...table} caption={title ?? label} rows={rows} />;
  return (
    <section className="card" {...(title ? { 'aria-labelledby': titleId } : { 'aria-label': label })}>
      {title ? (
        <h2 id={titleId} className="card-title card-title-bar">
          {title}
        </h2>
      ) : null}
      {toolbar}
      {body}
      {footer}
    </section>
  );
}
