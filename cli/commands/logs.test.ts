import { UsageError } from '../errors.js';
import type { LogRecord } from '../../lib/logging/record.js';
import { parseLogTarget, vmWriteCorrelationIds } from './logs.js';

describe('qxctl logs target', () => {
  it.each([
    [undefined, { kind: 'all' }],
    ['agent', { kind: 'component', component: 'agent' }],
    ['controller-manager', { kind: 'component', component: 'controller-manager' }],
    ['node/host-1', { kind: 'node', node: 'host-1' }],
    ['vm/prod/web', { kind: 'vm', namespace: 'prod', name: 'web' }],
    ['vm/web', { kind: 'vm', namespace: 'ns-from-flag', name: 'web' }],
  ])('%s', (arg, expected) => {
    expect(parseLogTarget(arg, 'ns-from-flag')).toEqual(expected);
  });

  it.each(['node/', 'node/a/b', 'vm/', 'vm/a/b/c', 'Agent!', 'pods/x'])('refuses %s with a usage error', (arg) => {
    expect(() => parseLogTarget(arg, 'default')).toThrow(UsageError);
  });
});

describe('vmWriteCorrelationIds', () => {
  const audit = (verb: string, uri: string, correlationId?: string, message = ''): LogRecord => ({
    time: '2026-12-07T08:00:00.000Z',
    level: 'info',
    component: 'audit',
    node: 'cp',
    message,
    verb,
    requestURI: uri,
    ...(correlationId ? { correlationId } : {}),
  });
  it("keeps the ids of the VM's writes only, once each, in order", () => {
    const base = '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines';
    const ids = vmWriteCorrelationIds(
      [
        audit('create', base, 'c0', 'create virtualmachines default/web → 201'), // a create's URI is the collection's
        audit('create', base, 'c9', 'create virtualmachines default/web2 → 201'),
        audit('update', `${base}/web`, 'c1'),
        audit('get', `${base}/web`, 'c2'),
        audit('patch', `${base}/web2`, 'c3'),
        audit('patch', `${base}/web/status`, 'c4'),
        audit('delete', `${base}/web?gracePeriodSeconds=0`, 'c5'),
        audit('update', `${base}/web`, 'c1'),
        audit('update', `${base}/web`),
      ],
      'default',
      'web',
    );
    expect(ids).toEqual(['c0', 'c1', 'c4', 'c5']);
  });
});
