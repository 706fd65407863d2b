import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeLogFile, createLogger, currentCorrelationId, setLogFile, setLogLevel, setLogNode, setLogSink, withCorrelation } from './logger.js';
import { logFilesOf } from './files.js';

describe('logger', () => {
  const lines: string[] = [];
  beforeAll(() => setLogSink((line) => lines.push(line)));
  beforeEach(() => {
    lines.length = 0;
    setLogLevel('info');
    setLogNode(hostname());
  });

  it('writes one LogRecord per line: time, level, component, node, message, correlationId first, then the fields', () => {
    createLogger('apiserver').child({ correlationId: 'cid-1' }).info('started', { port: 6443 });
    const text = lines[0]!;
    expect(Object.keys(JSON.parse(text))).toEqual(['time', 'level', 'component', 'node', 'message', 'correlationId', 'port']);
    const record = JSON.parse(text);
    expect(record).toEqual({
      time: record.time,
      level: 'info',
      component: 'apiserver',
      node: hostname(),
      message: 'started',
      correlationId: 'cid-1',
      port: 6443,
    });
    expect(record.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(text).not.toContain('timestamp');
  });

  it('uses the node name set for the process, and never lets a field override a column', () => {
    setLogNode('node-a');
    createLogger('agent').warn('w', { node: 'other', component: 'x', time: 'then', level: 'debug', message: 'm', uid: 'u' });
    expect(JSON.parse(lines[0]!)).toEqual({ time: expect.any(String), level: 'warn', component: 'agent', node: 'node-a', message: 'w', uid: 'u' });
    // An agent's own logger names its Node (several agents share a process in tests).
    createLogger('agent').child({ node: 'node-b' }).info('i');
    expect(JSON.parse(lines[1]!).node).toBe('node-b');
  });

  it('carries the correlation id through async work; a call or child field takes precedence', async () => {
    const log = createLogger('agent');
    await withCorrelation(
      'req-42',
      async () => {
        await new Promise((resolve) => setImmediate(resolve));
        expect(currentCorrelationId()).toBe('req-42');
        log.info('inside');
        log.info('explicit', { correlationId: 'other' });
      },
      { key: 'default/web' },
    );
    log.info('outside');
    expect(JSON.parse(lines[0]!)).toMatchObject({ correlationId: 'req-42', key: 'default/web' });
    expect(JSON.parse(lines[1]!).correlationId).toBe('other');
    expect(JSON.parse(lines[2]!).correlationId).toBeUndefined();
  });

  it('honours the level and rejects unknown levels', () => {
    const log = createLogger('controller-manager');
    log.debug('hidden');
    expect(log.isDebugEnabled()).toBe(false);
    setLogLevel('debug');
    log.child({ controller: 'scheduler' }).debug('shown');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ controller: 'scheduler', message: 'shown' });
    expect(() => setLogLevel('loud')).toThrow(/unknown log level "loud"/);
  });

  it('writes errors as their message, and fields named like credentials as [redacted]', () => {
    createLogger('apiserver').error('failed', { error: new Error('boom'), token: 'abcdef.0123456789abcdef', userData: '#cloud-config\n', size: 10n });
    expect(JSON.parse(lines[0]!)).toMatchObject({ error: 'boom', token: '[redacted]', userData: '[redacted]', size: '10' });
    expect(lines[0]).not.toContain('0123456789abcdef');
  });

  it('keeps a line whose fields cannot be serialized', () => {
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    createLogger('apiserver').info('odd', { loop });
    expect(JSON.parse(lines[0]!)).toMatchObject({ message: 'odd', logError: expect.stringMatching(/not serializable/) });
  });

  it('with a log file writes every record to <dir>/<base>.log, rotated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qx-logger-'));
    try {
      setLogFile({ dir, base: 'controller-manager', maxBytes: 2000, maxFiles: 2 });
      const log = createLogger('controller-manager');
      for (let n = 0; n < 100; n++) log.info('reconciled', { n });
      await closeLogFile();
      const files = logFilesOf(dir, 'controller-manager');
      expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['controller-manager.log.2', 'controller-manager.log.1', 'controller-manager.log']);
      const kept = files.flatMap((f) =>
        readFileSync(f, 'utf8')
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l)),
      );
      expect(kept.at(-1)).toMatchObject({ component: 'controller-manager', message: 'reconciled', n: 99 });
      // The capturing sink still saw every line.
      expect(lines).toHaveLength(100);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
