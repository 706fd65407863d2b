import type { ReactNode } from 'react';

/** A definition list of label → value, skipping empty values. */
export function KeyValues({ rows }: { rows: readonly [string, ReactNode][] }) {
  return (
    <dl className="kv">
      {rows
        .filter(([, v]) => v !== undefined && v !== null && v !== '')
        .map(([k, v]) => (
          <div key={k} className="kv-row">
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
    </dl>
  );
}

export function ConditionsTable({
  conditions,
}: {
  conditions: readonly { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[] | undefined;
}) {
  if (!conditions?.length) return <p className="muted">No conditions reported.</p>;
  return (
    <table className="table">
      <thead>
        <tr>
          <th>Type</th>
          <th>Status</th>
          <th>Reason</th>
          <th>Message</th>
          <th>Since</th>
        </tr>
      </thead>
      <tbody>
        {conditions.map((c) => (
          <tr key={c.type}>
            <td>{c.type}</td>
            <td>{c.status}</td>
            <td>{c.reason}</td>
            <td>{c.message}</td>
            <td className="muted">{c.lastTransitionTime}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Labels({ labels }: { labels: Record<string, string> | undefined }) {
  const entries = Object.entries(labels ?? {});
  if (!entries.length) return <span className="muted">none</span>;
  return (
    <span className="labels">
      {entries.map(([k, v]) => (
        <code key={k} className="label">
          {k}={v}
        </code>
      ))}
    </span>
  );
}
