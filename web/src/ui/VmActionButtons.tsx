import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { actionsFor, type ActionOption } from '../actions/vm-actions.js';
import { useVmActions } from '../actions/use-vm-actions.js';
import { useSession } from '../auth/session.js';
import { LoggedButton } from '../logging/LoggedButton.js';

/** In table rows, Start and Stop share one slot: whichever applies (Stop when neither does). */
function visible(actions: ActionOption[], compact: boolean): ActionOption[] {
  if (!compact) return actions;
  const start = actions.find((a) => a.action === 'start');
  const drop = start?.enabled ? 'stop' : 'start';
  return actions.filter((a) => a.action !== drop);
}

/** Lifecycle buttons for one VM; nothing at all for a read-only token. */
export function VmActionButtons({ vm, compact = false }: { vm: VirtualMachine; compact?: boolean }) {
  const { canWrite } = useSession();
  const act = useVmActions();
  if (!canWrite) return null;
  return (
    <span className={compact ? 'actions compact' : 'actions'}>
      {visible(actionsFor(vm), compact).map((a) => (
        <LoggedButton
          logAction={a.action}
          logTarget={`${vm.metadata.namespace}/${vm.metadata.name}`}
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
        </LoggedButton>
      ))}
    </span>
  );
}
