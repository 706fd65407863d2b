import type { ReactNode } from 'react';

/**
 * A labelled form input with the error for it (the server's, or a local check's) in place
 * of its hint; the error carries `data-testid="error-<id>"`.
 */
export function Field({
  id,
  inputId,
  label,
  error,
  hint,
  children,
}: {
  id: string;
  inputId?: string;
  label: string;
  error?: string;
  hint?: ReactNode;
  children: ReactNode;
}) {
  return (
    <div className={error ? 'field has-error' : 'field'}>
      <label htmlFor={inputId}>{label}</label>
      {children}
      {error ? (
        <div className="field-error" data-testid={`error-${id}`}>
          {error}
        </div>
      ) : (
        hint && <div className="hint">{hint}</div>
      )}
    </div>
  );
}
