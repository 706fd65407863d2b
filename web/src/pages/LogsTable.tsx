/**
 * The Logs page's rows: a virtualised table (@tanstack/react-virtual) so 100,000 lines
 * scroll with only the visible rows in the DOM; a click on a correlation id filters by it.
 */
import type { Virtualizer } from '@tanstack/react-virtual';
import type { RefObject } from 'react';
import type { LogRecord } from '../../../lib/logging/record.js';
import { ComponentBadge } from '../logging/ComponentBadge.js';
import { LoggedButton } from '../logging/LoggedButton.js';

export const LOGS_ROW_HEIGHT = 28;
const ROW_HEIGHT = LOGS_ROW_HEIGHT;
const COLUMNS = '200px 58px 150px 110px 150px 1fr';

export function LogsTable({
  rows,
  loading,
  onCorrelationId,
  scrollRef,
  virtualizer,
  onScrolled,
}: {
  rows: readonly LogRecord[];
  loading: boolean;
  onCorrelationId(correlationId: string): void;
  scrollRef: RefObject<HTMLDivElement | null>;
  virtualizer: Virtualizer<HTMLDivElement, Element>;
  /** Whether the user is (back) at the bottom, where following keeps showing the newest. */
  onScrolled(atBottom: boolean): void;
}) {
  return (
    <div className="vtable logs-table" role="table" data-testid="logs-table" data-rows={rows.length}>
      <div className="vrow vhead" role="row" style={{ gridTemplateColumns: COLUMNS }}>
        <div role="columnheader">Time</div>
        <div role="columnheader">Level</div>
        <div role="columnheader">Component</div>
        <div role="columnheader">Node</div>
        <div role="columnheader">Correlation id</div>
        <div role="columnheader">Message</div>
      </div>
      <div
        className="vbody"
        ref={scrollRef}
        style={{ height: 'calc(100vh - 380px)', minHeight: 240, overflow: 'auto' }}
        onScroll={(e) => {
          const el = e.currentTarget;
          onScrolled(el.scrollHeight - el.scrollTop - el.clientHeight < ROW_HEIGHT * 2);
        }}
        data-testid="logs-scroll"
      >
        {rows.length === 0 ? (
          <div className="vempty muted">{loading ? 'Loading…' : 'No log lines match.'}</div>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {virtualizer.getVirtualItems().map((item) => {
              const r = rows[item.index]!;
              return (
                <div
                  key={item.key}
                  role="row"
                  className={`vrow log-row level-${r.level}${r.component === 'ui' ? ' ui-action' : ''}`}
                  data-index={item.index}
                  data-component={r.component}
                  style={{
                    gridTemplateColumns: COLUMNS,
                    height: ROW_HEIGHT,
                    position: 'absolute',
                    top: 0,
                    left: 0,
                    right: 0,
                    transform: `translateY(${item.start}px)`,
                  }}
                >
                  <div role="cell" data-col="time" className="mono small">
                    {r.time}
                  </div>
                  <div role="cell" data-col="level" className={`level level-${r.level}`}>
                    {r.level}
                  </div>
                  <div role="cell" data-col="component">
                    <ComponentBadge component={r.component} />
                  </div>
                  <div role="cell" data-col="node" className="small">
                    {r.node}
                  </div>
                  <div role="cell" data-col="correlationId" className="mono small">
                    {r.correlationId && (
                      <LoggedButton
                        logAction="filter-correlation-id"
                        logTarget={r.correlationId}
                        className="link"
                        title={`Show the chain of ${r.correlationId}`}
                        onClick={() => onCorrelationId(r.correlationId!)}
                        data-testid="row-correlation-id"
                      >
                        {r.correlationId}
                      </LoggedButton>
                    )}
                  </div>
                  <div role="cell" data-col="message" title={JSON.stringify(r, null, 2)}>
                    {r.message}
                  </div>
                </div>
              );
            })}
          </div>
        )}
      </div>
    </div>
  );
}
