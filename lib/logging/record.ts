/**
 * The shape of one log record, the same in every component's log file, in the logs API
 * and in every export format (JSON, CSV, TXT). Files hold one JSON object per line; these
 * fields come first under these names, then any extra fields of the line.
 */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogRecord {
  /** ISO 8601, UTC, millisecond precision. */
  time: string;
  level: LogLevel;
  /** `apiserver`, `controller-manager`, `agent`, `ui`, `audit`, `qxctl`… */
  component: string;
  /** The host the line was written on: the Node name for agents, the host name otherwise. */
  node: string;
  message: string;
  /** The user action the line belongs to (X-Request-Id, annotation quantix.io/correlation-id). */
  correlationId?: string;
  [field: string]: unknown;
}

/** The columns every export format starts with, in this order. */
export const LOG_RECORD_COLUMNS = ['time', 'level', 'component', 'node', 'correlationId', 'message'] as const;
