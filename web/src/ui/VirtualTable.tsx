/**
 * A table that renders only the rows in view (plus a few), so thousands of rows scroll
 * smoothly: fixed row height, absolute positioning inside a spacer of the full height.
 */
import { useLayoutEffect, useRef, useState, type ReactNode } from 'react';

export interface Column<T> {
  key: string;
  header: ReactNode;
  /** CSS grid track, e.g. `2fr` or `90px`. */
  width: string;
  render(row: T): ReactNode;
  /** Makes the header a sort toggle. */
  sortable?: boolean;
}

export interface VirtualTableProps<T> {
  rows: readonly T[];
  columns: readonly Column<T>[];
  rowKey(row: T): string;
  rowHeight?: number;
  /** Max height of the scrolling body; the table grows up to it. */
  maxHeight?: string;
  sort?: { key: string; desc: boolean };
  onSort?(key: string): void;
  rowClass?(row: T): string | undefined;
  rowTitle?(row: T): string | undefined;
  empty?: ReactNode;
  testId?: string;
}

const OVERSCAN = 8;

export function VirtualTable<T>({
  rows,
  columns,
  rowKey,
  rowHeight = 38,
  maxHeight = 'calc(100vh - 260px)',
  sort,
  onSort,
  rowClass,
  rowTitle,
  empty,
  testId,
}: VirtualTableProps<T>) {
  const bodyRef = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(800);
  useLayoutEffect(() => {
    const el = bodyRef.current;
    if (!el) return;
    const measure = () => setViewport(el.clientHeight || 800);
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const template = columns.map((c) => c.width).join(' ');
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewport) / rowHeight) + OVERSCAN);
  const visible = rows.slice(first, last);
  return (
    <div className="vtable" role="table" data-testid={testId} data-rows={rows.length}>
      <div className="vrow vhead" role="row" style={{ gridTemplateColumns: template }}>
        {columns.map((c) => (
          <div
            key={c.key}
            role="columnheader"
            className={c.sortable ? 'sortable' : undefined}
            tabIndex={c.sortable && onSort ? 0 : undefined}
            onClick={c.sortable && onSort ? () => onSort(c.key) : undefined}
            onKeyDown={
              c.sortable && onSort
                ? (e) => {
                    if (e.key !== 'Enter' && e.key !== ' ') return;
                    e.preventDefault(); // Space would scroll the page
                    onSort(c.key);
                  }
                : undefined
            }
            aria-sort={sort?.key === c.key ? (sort.desc ? 'descending' : 'ascending') : undefined}
          >
            {c.header}
            {sort?.key === c.key ? (sort.desc ? ' ▾' : ' ▴') : ''}
          </div>
        ))}
      </div>
      <div className="vbody" ref={bodyRef} style={{ maxHeight }} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}>
        {rows.length === 0 ? (
          <div className="vempty muted">{empty ?? 'Nothing here.'}</div>
        ) : (
          <div style={{ height: rows.length * rowHeight, position: 'relative' }}>
            {visible.map((row, i) => (
              <div
                key={rowKey(row)}
                role="row"
                className={`vrow ${rowClass?.(row) ?? ''}`}
                title={rowTitle?.(row)}
                data-key={rowKey(row)}
                style={{ gridTemplateColumns: template, height: rowHeight, transform: `translateY(${(first + i) * rowHeight}px)` }}
              >
                {columns.map((c) => (
                  <div key={c.key} role="cell" data-col={c.key}>
                    {c.render(row)}
                  </div>
                ))}
              </div>
            ))}
          </div>
        )}
      </div>
    </div>
  );
}
