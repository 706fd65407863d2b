import { createLogger, setLogLevel, setLogSink, withCorrelation, currentCorrelationId } from './logger.js';

describe('logger', () => {
  const lines: string[] = [];
  beforeAll(() => {
    process.env.QUANTIX_LOG_FORMAT = 'json';
    setLogSink((line) => lines.push(line));
  });
  beforeEach(() => {
    lines.length = 0;
    setLogLevel('info');
  });

  it('writes JSON lines with timestamp, level, component and fields', () => {
    createLogger('apiserver').info('started', { port: 6443 });
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({ level: 'info', component: 'apiserver', message: 'started', port: 6443 });
    expect(Date.parse(entry.timestamp)).not.toBeNaN();
  });

  it('carries the correlation id through async work', async () => {
    const log = createLogger('agent');
    await withCorrelation('req-42', async () => {
      await new Promise((resolve) => setImmediate(resolve));
      expect(currentCorrelationId()).toBe('req-42');
      log.info('inside');
    });
    log.info('outside');
    expect(JSON.parse(lines[0]!).correlationId).toBe('req-42');
    expect(JSON.parse(lines[1]!).correlationId).toBeUndefined();
  });

  it('honours the level and rejects unknown levels', () => {
    const log = createLogger('controller-manager');
    log.debug('hidden');
    setLogLevel('debug');
    log.child({ controller: 'scheduler' }).debug('shown');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ controller: 'scheduler', message: 'shown' });
    expect(() => setLogLevel('loud')).toThrow(/unknown log level "loud"/);
  });
});
