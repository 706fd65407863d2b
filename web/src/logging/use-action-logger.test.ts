import { actionLogger } from './use-action-logger.js';
import { UiLogger, type UiLogInput } from './ui-logger.js';

/** A UiLogger whose entries are only collected (nothing is sent: no token). */
function collecting() {
  const logged: UiLogInput[] = [];
  const logger = new UiLogger({ setTimer: () => undefined, clearTimer: () => undefined });
  const log = logger.log.bind(logger);
  logger.log = (input) => {
    logged.push(input);
    return log(input);
  };
  return { logger, logged };
}

describe('actionLogger', () => {
  it('track: one correlation id for the work, start then success with the duration', async () => {
    const { logger, logged } = collecting();
    let t = 1_000;
    const a = actionLogger('vm', '/ui/vms', logger, () => t);
    let seen = '';
    const value = await a.track('stop', 'default/web', async (id) => {
      seen = id;
      t += 250;
      return 'done';
    });
    expect(value).toBe('done');
    expect(seen).toMatch(/^[0-9a-f-]{36}$/);
    expect(logged).toEqual([
      { category: 'vm', route: '/ui/vms', action: 'stop', target: 'default/web', result: 'start', correlationId: seen },
      { category: 'vm', route: '/ui/vms', action: 'stop', result: 'success', target: 'default/web', correlationId: seen, durationMs: 250 },
    ]);
  });

  it('track: an error is logged with its message and rethrown', async () => {
    const { logger, logged } = collecting();
    const a = actionLogger('node', '/ui/nodes', logger, () => 0);
    await expect(
      a.track('cordon', 'hv-1', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(logged[1]).toMatchObject({ category: 'node', action: 'cordon', target: 'hv-1', result: 'error', message: expect.stringContaining('boom') });
    expect(logged[1]!.correlationId).toBe(logged[0]!.correlationId);
  });

  it('clicks, submits and navigations', () => {
    const { logger, logged } = collecting();
    const a = actionLogger('logs', '/ui/logs', logger);
    a.logClick('refresh');
    a.logSubmit('filter', 'x');
    a.logNavigation('/ui/vms');
    expect(logged).toEqual([
      { category: 'logs', route: '/ui/logs', action: 'refresh', target: undefined, result: 'info', message: 'click' },
      { category: 'logs', route: '/ui/logs', action: 'filter', target: 'x', result: 'info', message: 'submit' },
      { category: 'navigation', route: '/ui/logs', action: 'navigate', target: '/ui/vms', result: 'info' },
    ]);
  });
});
