/**
 * Which nodes an object (a storage pool, a network) is assigned to, one row per registered
 * or assigned node, with its state there and how many VMs there use it; admins get an
 * Assign / Unassign button per row (`assign-<node>` / `unassign-<node>`).
 */
import type { ReactNode } from 'react';
import { Link } from 'react-router';
import { Nodes } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { readinessOf } from '../model/node-ready.js';
import { Phase } from './bits.js';
import { LoggedButton } from '../logging/LoggedButton.js';

export interface AssignmentTableProps {
  assigned: readonly string[];
  testId: string;
  intro: ReactNode;
  stateHeader: string;
  stateOn(node: string): ReactNode;
  usersHeader: string;
  usersOn(node: string): number;
  onToggle(node: string, assign: boolean): void;
}

export function AssignmentTable({ assigned, testId, intro, stateHeader, stateOn, usersHeader, usersOn, onToggle }: AssignmentTableProps) {
  const nodes = useLiveList(Nodes);
  const { canWrite } = useSession();
  const isAssigned = new Set(assigned);
  const names = [...new Set([...nodes.items.map((n) => n.metadata.name!), ...assigned])].sort();
  return (
    <div className="card">
      <p className="muted small">{intro}</p>
      <table className="table" data-testid={testId}>
        <thead>
          <tr>
            <th>Node</th>
            <th>Ready</th>
            <th>Assigned</th>
            <th>{stateHeader}</th>
            <th>{usersHeader}</th>
            {canWrite && <th />}
          </tr>
        </thead>
        <tbody>
          {names.map((n) => {
            const node = nodes.items.find((x) => x.metadata.name === n);
            const on = isAssigned.has(n);
            return (
              <tr key={n} data-node={n}>
                <td>
                  <Link to={`/nodes/${n}`}>{n}</Link>
                </td>
                <td>{node ? <Phase value={readinessOf(node)} /> : <span className="muted">not registered</span>}</td>
                <td>{on ? 'yes' : 'no'}</td>
                <td>{stateOn(n)}</td>
                <td>{usersOn(n)}</td>
                {canWrite && (
                  <td>
                    <LoggedButton
                      logAction={on ? 'unassign' : 'assign'}
                      logTarget={n}
                      type="button"
                      className={on ? 'small' : 'small primary'}
                      onClick={() => onToggle(n, !on)}
                      data-write="true"
                      data-testid={`${on ? 'unassign' : 'assign'}-${n}`}
                    >
                      {on ? 'Unassign' : 'Assign'}
                    </LoggedButton>
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
