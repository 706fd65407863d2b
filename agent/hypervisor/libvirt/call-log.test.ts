import { callSubject, isReadOnlyCall } from './connection.js';

describe('libvirt call log', () => {
  it.each([
    ['DOMAIN_SHUTDOWN_FLAGS', false],
    ['DOMAIN_DESTROY', false],
    ['DOMAIN_CREATE_WITH_FLAGS', false],
    ['DOMAIN_DEFINE_XML_FLAGS', false],
    ['DOMAIN_UNDEFINE_FLAGS', false],
    ['DOMAIN_SET_AUTOSTART', false],
    ['STORAGE_POOL_BUILD', false],
    ['STORAGE_VOL_DELETE', false],
    ['NETWORK_CREATE', false],
    ['DOMAIN_GET_STATE', true],
    ['DOMAIN_GET_XML_DESC', true],
    ['DOMAIN_LOOKUP_BY_UUID', true],
    ['CONNECT_LIST_ALL_DOMAINS', true],
    ['STORAGE_POOL_IS_ACTIVE', true],
    ['STORAGE_POOL_NUM_OF_VOLUMES', true],
    ['STORAGE_POOL_REFRESH', true],
    ['NODE_GET_INFO', true],
    ['CONNECT_OPEN', true],
    ['AUTH_LIST', true],
    ['CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY', true],
  ])('%s is read-only: %s', (procedure, readOnly) => {
    expect(isReadOnlyCall(procedure, {})).toBe(readOnly);
  });

  it('a QEMU monitor command is read-only only for query-* commands', () => {
    expect(isReadOnlyCall('QEMU_DOMAIN_MONITOR_COMMAND', { cmd: JSON.stringify({ execute: 'query-block' }) })).toBe(true);
    expect(isReadOnlyCall('QEMU_DOMAIN_MONITOR_COMMAND', { cmd: JSON.stringify({ execute: 'blockdev-snapshot-sync', arguments: {} }) })).toBe(false);
    expect(isReadOnlyCall('QEMU_DOMAIN_MONITOR_COMMAND', { cmd: 'not json' })).toBe(false);
  });

  it('names what a call acts on, never its XML', () => {
    const uuid = Buffer.alloc(16);
    expect(callSubject('DOMAIN_SHUTDOWN_FLAGS', { dom: { name: 'default_web', uuid, id: 3 }, flags: 0 }, undefined)).toEqual({ domain: 'default_web' });
    // A define names the domain it returned; the XML (user data may be in it) is not logged.
    const defined = callSubject('DOMAIN_DEFINE_XML_FLAGS', { xml: '<domain>secret</domain>', flags: 0 }, { name: 'default_db', uuid, id: -1 });
    expect(defined).toEqual({ domain: 'default_db' });
    expect(callSubject('STORAGE_POOL_BUILD', { pool: { name: 'fast', uuid }, flags: 0 }, undefined)).toEqual({ pool: 'fast' });
    expect(callSubject('STORAGE_VOL_DELETE', { vol: { pool: 'fast', name: 'web-root', key: 'k' }, flags: 0 }, undefined)).toEqual({ volume: 'web-root' });
    expect(callSubject('NETWORK_DESTROY', { net: { name: 'lan', uuid } }, undefined)).toEqual({ network: 'lan' });
    expect(
      callSubject(
        'QEMU_DOMAIN_MONITOR_COMMAND',
        { dom: { name: 'default_web', uuid, id: 3 }, cmd: JSON.stringify({ execute: 'blockdev-snapshot-sync' }), flags: 0 },
        '{}',
      ),
    ).toEqual({ domain: 'default_web', command: 'blockdev-snapshot-sync' });
  });
});
