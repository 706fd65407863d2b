/**
 * Reads `GET /logs` for the Logs page: pages backwards up to the wanted line count, then,
 * when following, the NDJSON stream (`follow=true`) from the newest record loaded on.
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
  const key = JSON.stringify(filter);
  const keyRef = useRef(key);
  keyRef.current = key;

  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` stands for the filter's content
  useEffect(() => {
    const abort = new AbortController();
    const { signal } = abort;
    let sources: LogSource[] = [];
    let rows: LogRecord[] = [];
    setView({ rows: [], troubled: [], loading: true, following: false });
    const fetchPage = (limit: number, until: string | undefined) => client.get<LogList>(LOGS_PATH, { signal, query: logsQuery(filter, { limit, until }) });

    const follow = async () => {
      const newest = rows[rows.length - 1]?.time;
      const res = await client.fetch('GET', LOGS_PATH, {
        signal,
        query: logsQuery(filter, { limit: newest ? MAX_PAGE : Math.min(filter.lines, MAX_PAGE), since: newest ?? filter.since, follow: true }),
      });
      setView((v) => ({ ...v, following: true }));
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      const splitter = ndjsonSplitter();
      for (;;) {
        const { value, done } = await reader.read();
        const messages = (done ? splitter.end() : splitter.push(value)) as FollowMessage[];
        const records = messages.filter((m) => m.type === 'record').map((m) => (m as { record: LogRecord }).record);
        const sourceChanges = messages.filter((m) => m.type === 'source').map((m) => (m as { source: LogSource }).source);
        if (records.length || sourceChanges.length) {
          rows = appendFollowed(rows, records, MAX_LINES);
          sources = [...sources, ...sourceChanges];
          const snapshot = rows;
          const troubled = troubledSources(sources);
          setView((v) => ({ ...v, rows: snapshot, troubled }));
        }
        if (done) break;
      }
      setView((v) => ({ ...v, following: false }));
    };

    void (async () => {
      try {
        const loaded = await loadPages(fetchPage, filter.lines, (partial) => !signal.aborted && setView((v) => ({ ...v, rows: partial })));
        rows = loaded.rows;
        sources = loaded.sources;
        setView({ rows, troubled: troubledSources(sources), loading: false, following: false });
        if (filter.follow) await follow();
      } catch (err) {
        if (signal.aborted) return;
        setView((v) => ({ ...v, loading: false, following: false, error: asApiError(err).describe() }));
      }
    })();
    return () => abort.abort();
  }, [client, key, reload]);
  return view;
}
