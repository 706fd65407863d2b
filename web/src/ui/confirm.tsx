/** Confirmation before any change: `await confirm({...})` resolves true on OK. */
import { createContext, useCallback, useContext, useState, type ReactNode } from 'react';
import { LoggedButton } from '../logging/LoggedButton.js';

export interface ConfirmOptions {
  title: string;
  body: ReactNode;
  confirmLabel: string;
  danger?: boolean;
}

type Confirm = (options: ConfirmOptions) => Promise<boolean>;

const ConfirmContext = createContext<Confirm | undefined>(undefined);

export function useConfirm(): Confirm {
  const confirm = useContext(ConfirmContext);
  if (!confirm) throw new Error('useConfirm outside <ConfirmProvider>');
  return confirm;
}

export function ConfirmProvider({ children }: { children: ReactNode }) {
  const [pending, setPending] = useState<{ options: ConfirmOptions; resolve: (ok: boolean) => void } | undefined>();
  const confirm = useCallback<Confirm>((options) => new Promise((resolve) => setPending({ options, resolve })), []);
  const close = (ok: boolean) => {
    pending?.resolve(ok);
    setPending(undefined);
  };
  return (
    <ConfirmContext.Provider value={confirm}>
      {children}
      {pending && (
        // biome-ignore lint/a11y/useKeyWithClickEvents lint/a11y/noStaticElementInteractions: a click beside the dialog is a mouse shortcut for Cancel; keys have Escape and the buttons
        <div className="modal-backdrop" onClick={() => close(false)}>
          <div
            className="modal card"
            role="dialog"
            aria-modal="true"
            aria-labelledby="confirm-title"
            data-testid="confirm-dialog"
            onClick={(e) => e.stopPropagation()}
            onKeyDown={(e) => e.key === 'Escape' && close(false)}
          >
            <h2 id="confirm-title">{pending.options.title}</h2>
            <div className="modal-body">{pending.options.body}</div>
            <div className="modal-actions">
              <LoggedButton
                logAction="confirm-cancel"
                logTarget={pending.options.title}
                type="button"
                onClick={() => close(false)}
                data-testid="confirm-cancel"
              >
                Cancel
              </LoggedButton>
              {/* Focus on the answer: Enter confirms, Escape cancels. */}
              <LoggedButton
                logAction="confirm-ok"
                logTarget={pending.options.title}
                type="button"
                className={pending.options.danger ? 'danger' : 'primary'}
                onClick={() => close(true)}
                autoFocus
                data-testid="confirm-ok"
              >
                {pending.options.confirmLabel}
              </LoggedButton>
            </div>
          </div>
        </div>
      )}
    </ConfirmContext.Provider>
  );
}
