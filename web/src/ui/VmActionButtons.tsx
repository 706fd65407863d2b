import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { actionsFor } from '../actions/vm-actions.js';
import { useVmActions } from '../actions/use-vm-actions.js';
import { useSession } from '../auth/session.js';

/** Lifecycle buttons for one VM; nothing at all for a read-only token. */
export function VmActionButtons({ vm, compact = false }: { vm: VirtualMachine; compact?: boolean }) {
  const { canWrite } = useSession();
  const act = useVmActions();
  if (!canWrite) return null;
  return (
    <span className={compact ? 'actions compact' : 'actions'}>
      {actionsFor(vm).map((a) => (
        <button
          key={a.action}
          type="button"
          className={a.danger ? 'danger small' : 'small'}
          disabled={!a.enabled}
          title={a.why ?? a.confirm}
          onClick={(e) => {
            e.stopPropagation();
            void act(vm, a);
          }}
          data-write="true"
          data-testid={`action-${a.action}`}
        >
          {a.label}
        </button>
      ))}
    </span>
  );
}
