/** The seed's LoggedButton: a button whose clicks go to the UI action log (category, action, target). */
import type { ButtonHTMLAttributes } from 'react';
import { useActionLogger } from './use-action-logger.js';

export interface LoggedButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  /** What the click does: `stop`, `create`, `refresh`… */
  logAction: string;
  /** The object it acts on (`default/web`). */
  logTarget?: string;
  /** Defaults to the route's part of the UI. */
  logCategory?: string;
}

export function LoggedButton({ logAction, logTarget, logCategory, onClick, type, ...rest }: LoggedButtonProps) {
  const log = useActionLogger(logCategory);
  return (
    <button
      {...rest}
      type={type === 'submit' ? 'submit' : type === 'reset' ? 'reset' : 'button'}
      onClick={(e) => {
        log.logClick(logAction, logTarget);
        onClick?.(e);
      }}
    />
  );
}
