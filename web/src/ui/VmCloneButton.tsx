/**
 * Clone on the VM page: a dialog asks for the new name, then POST virtualmachines/NAME/clone
 * (api-types/vm-clone.ts) and the page of the new VM. The server's error (409 for a running
 * source or a taken name, 422 for a bad name) stays in the dialog. Writers only.
 */
import { useState } from 'react';
import { useNavigate } from 'react-router';
import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { objectPath, VirtualMachines } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { cloneOption, defaultCloneName } from '../model/vm-clone.js';
import { LoggedButton } from '../logging/LoggedButton.js';

export function VmCloneButton({ vm }: { vm: VirtualMachine }) {
  const { canWrite, client } = useSession();
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  if (!canWrite) return null;
  const option = cloneOption(vm);
  const ns = vm.metadata.namespace!;
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await client.fetch('POST', objectPath(VirtualMachines, ns, vm.metadata.name!, 'clone'), {
        body: JSON.stringify({ apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachineCloneOptions', name }),
        contentType: 'application/json',
      });
      setOpen(false);
      void navigate(`/vms/${ns}/${name}`);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <LoggedButton
        logAction="clone"
        logTarget={`${vm.metadata.namespace}/${vm.metadata.name}`}
        type="button"
        className="small"
        disabled={!option.enabled}
        title={option.title}
        data-write="true"
        data-testid="action-clone"
        onClick={() => {
          setName(defaultCloneName(vm.metadata.name!));
          setError(undefined);
          setOpen(true);
        }}
      >
        Clone
      </LoggedButton>
      {open && (
        <div className="modal-backdrop">
          <div className="modal card" role="dialog" aria-modal="true" aria-labelledby="clone-title" data-testid="clone-dialog">
            <form
              className="form"
              onSubmit={(e) => {
                e.preventDefault();
                void submit();
              }}
              onKeyDown={(e) => e.key === 'Escape' && setOpen(false)}
            >
              <h2 id="clone-title">
                Clone {ns}/{vm.metadata.name}
              </h2>
              <div className="modal-body">
                <p className="muted small">
                  A new VM on the same node with full copies of the disks. It gets its own uid, MAC addresses and host name, and cloud-init runs its first-boot
                  set-up again. Fixed MACs and host port forwards are not copied.
                </p>
                <label>
                  Name of the new VM
                  {/* biome-ignore lint/a11y/noAutofocus: the dialog exists to ask for this name */}
                  <input value={name} onChange={(e) => setName(e.target.value)} autoFocus data-testid="clone-name" />
                </label>
                {error && (
                  <div className="note note-lost" data-testid="clone-error">
                    {error}
                  </div>
                )}
              </div>
              <div className="modal-actions">
                <LoggedButton logAction="clone-cancel" type="button" onClick={() => setOpen(false)}>
                  Cancel
                </LoggedButton>
                <LoggedButton
                  logAction="clone-submit"
                  logTarget={`${vm.metadata.namespace}/${vm.metadata.name}`}
                  type="submit"
                  className="primary"
                  disabled={busy || name === ''}
                  data-testid="clone-submit"
                >
                  Clone
                </LoggedButton>
              </div>
            </form>
          </div>
        </div>
      )}
    </>
  );
}
