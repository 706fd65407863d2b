/**
 * The seed's useActionLogger: a component's handle on the UI action log. The category
 * defaults to the part of the UI the route is in (`vm` on /vms/…); entries carry the route.
 */
import { useEffect, useMemo } from 'react';
import { useLocation } from 'react-router';
import { asApiError } from '../../../lib/apimachinery/status-error.js';
import { newActionId } from '../api/request-id.js';
import { categoryForRoute } from './ui-log-entry.js';
import { uiLogger, type UiLogger } from './ui-logger.js';

export interface ActionLogger {
  category: string;
  logClick(action: string, target?: string): void;
  logSubmit(action: string, target?: string): void;
  logNavigation(to: string): void;
  logSuccess(action: string, o?: { target?: string; durationMs?: number; correlationId?: string; message?: string }): void;
  logError(action: string, err: unknown, o?: { target?: string; durationMs?: number; correlationId?: string }): void;
  /**
   * Runs one user action under a new correlation id (pass it to the API calls as actionId):
   * logs its start, then its success or error with the duration.
   */
  track<T>(action: string, target: string | undefined, work: (correlationId: string) => Promise<T>): Promise<T>;
}

export function actionLogger(category: string, route: string | undefined, logger: UiLogger = uiLogger, now: () => number = Date.now): ActionLogger {
  const base = { category, route };
  const self: ActionLogger = {
    category,
    logClick: (action, target) => void logger.log({ ...base, action, target, result: 'info', message: 'click' }),
    logSubmit: (action, target) => void logger.log({ ...base, action, target, result: 'info', message: 'submit' }),
    logNavigation: (to) => void logger.log({ ...base, category: 'navigation', action: 'navigate', target: to, result: 'info' }),
    logSuccess: (action, o = {}) => void logger.log({ ...base, action, result: 'success', ...o }),
    logError: (action, err, o = {}) => void logger.log({ ...base, action, result: 'error', message: asApiError(err).describe(), ...o }),
    async track(action, target, work) {
      const correlationId = newActionId();
      const started = now();
      logger.log({ ...base, action, target, result: 'start', correlationId });
      try {
        const value = await work(correlationId);
        self.logSuccess(action, { target, correlationId, durationMs: now() - started });
        return value;
      } catch (err) {
        self.logError(action, err, { target, correlationId, durationMs: now() - started });
        throw err;
      }
    },
  };
  return self;
}

export function useActionLogger(category?: string): ActionLogger {
  const { pathname } = useLocation();
  const resolved = category ?? categoryForRoute(pathname);
  return useMemo(() => actionLogger(resolved, `/ui${pathname}`), [resolved, pathname]);
}

/** Logs each route the user goes to (once per path change). */
export function useNavigationLog(): void {
  const { pathname } = useLocation();
  useEffect(() => {
    uiLogger.log({ category: 'navigation', action: 'navigate', target: `/ui${pathname}`, result: 'info', route: `/ui${pathname}` });
  }, [pathname]);
}
