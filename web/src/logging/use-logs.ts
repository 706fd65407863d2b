/**
 * Reads `GET /logs` for the Logs page: pages backwards up to the wanted line count, then,
 * while following, the NDJSON stream (`follow=true`) from the newest record loaded on.
 * Turning follow on or off keeps the loaded lines (no reload of up to 100,000 of them).
 */
import { useEffect, useRef, useState } from 'react';
import type { LogRecord } from '../../../lib/logging/record.js';
import { asApiError } from '../../../lib/apimachinery/status-error.js';
import type { ApiClient } from '../api/client.js';
import { appendFollowed, loadPages, ndjsonSplitter, troubledSources, type FollowMessage, type LogList, type LogSource } from './log-rows.js';
import { logsQuery, MAX_LINES, MAX_PAGE, type LogsFilter } from './logs-filter.js';

export const LOGS_PATH = '/logs';

export interface LogsView {
  rows: LogRecord[];
  /** Sources that did not answer (component/node with state and message). */
  troubled: LogSource[];
  loading: boolean;
  /** The follow stream is open. */
  following: boolean;
  error?: string;
}

export function useLogs(client: ApiClient, filter: LogsFilter, reload: number): LogsView {
  const [view, setView] = useState<LogsView>({ rows: [], troubled: [], loading: true, following: false });
  const sources = useRef<LogSource[]>([]);
  const rows = useRef<LogRecord[]>([]);
  // What is loaded depends on everything but follow.
  const loadKey = JSON.stringify({ ...filter, follow: false });

  // biome-ignore lint/correctness/useExhaustiveDependencies: `loadKey` stands for the filter's content
  useEffect(() => {
    const abort = new AbortController();
    const { signal } = abort;
    rows.current = [];
    sources.current = [];
    setView({ rows: [], troubled: [], loading: true, following: false });
    const fetchPage = (limit: number, until: string | undefined) => client.get<LogList>(LOGS_PATH, { signal, query: logsQuery(filter, { limit, until }) });
    void (async () => {
      try {
        const loaded = await loadPages(fetchPage, filter.lines, (partial) => !signal.aborted && setView((v) => ({ ...v, rows: partial })));
        if (signal.aborted) return;
        rows.current = loaded.rows;
        sources.current = loaded.sources;
        setView({ rows: loaded.rows, troubled: troubledSources(loaded.sources), loading: false, following: false });
      } catch (err) {
        if (signal.aborted) return;
        setView((v) => ({ ...v, loading: false, error: asApiError(err).describe() }));
      }
    })();
    return () => abort.abort();
  }, [client, loadKey, reload]);

  const ready = !view.loading && !view.error;
  // biome-ignore lint/correctness/useExhaustiveDependencies: `loadKey` stands for the filter's content; the stream starts from what is loaded
  useEffect(() => {
    if (!filter.follow || !ready) return;
    const abort = new AbortController();
    const { signal } = abort;
    void (async () => {
      try {
        const newest = rows.current[rows.current.length - 1]?.time;
        const res = await client.fetch('GET', LOGS_PATH, {
          signal,
          // From the newest line shown (its repeats are dropped), or the filter's tail.
          query: logsQuery(filter, { limit: newest ? MAX_PAGE : Math.min(filter.lines, MAX_PAGE), since: newest ?? filter.since, follow: true }),
        });
        setView((v) => ({ ...v, following: true }));
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        const splitter = ndjsonSplitter();
        for (;;) {
          const { value, done } = await reader.read();
          const messages = (done ? splitter.end() : splitter.push(value)) as FollowMessage[];
          const records = messages.flatMap((m) => (m.type === 'record' ? [m.record] : []));
          const changed = messages.flatMap((m) => (m.type === 'source' ? [m.source] : []));
          if (records.length || changed.length) {
            rows.current = appendFollowed(rows.current, records, MAX_LINES);
            sources.current = [...sources.current, ...changed];
            const snapshot = rows.current;
            const troubled = troubledSources(sources.current);
            setView((v) => ({ ...v, rows: snapshot, troubled }));
          }
          if (done) break;
        }
        setView((v) => ({ ...v, following: false }));
      } catch (err) {
        if (signal.aborted) return;
        setView((v) => ({ ...v, following: false, error: `Follow stopped: ${asApiError(err).describe()}` }));
      }
    })();
    return () => {
      abort.abort();
      setView((v) => ({ ...v, following: false }));
    };
  }, [client, loadKey, reload, filter.follow, ready]);
  return view;
}
