import { checkSelfFenceTimeout, chooseAcceleration, defaultServerName, gatewayTarget, MAX_SELF_FENCE_TIMEOUT_MS, parseDuration } from './flags.js';

describe('chooseAcceleration', () => {
  it.each([
    ['auto', true, { type: 'kvm', source: 'probe: /dev/kvm exists' }],
    ['auto', false, { type: 'qemu', source: 'probe: /dev/kvm does not exist' }],
    ['tcg', true, { type: 'qemu', source: 'flag: --acceleration tcg' }],
    ['kvm', true, { type: 'kvm', source: 'flag: --acceleration kvm' }],
  ] as const)('%s with /dev/kvm %s', (mode, kvm, want) => {
    expect(chooseAcceleration(mode, kvm)).toEqual(want);
  });
  it('refuses kvm without /dev/kvm, and unknown modes, naming the flag', () => {
    expect(() => chooseAcceleration('kvm', false)).toThrow('--acceleration kvm: /dev/kvm does not exist on this host (use tcg, or auto)');
    expect(() => chooseAcceleration('hvf', true)).toThrow('--acceleration: unknown mode "hvf" (kvm, tcg or auto)');
  });
  it('parseDuration still parses', () => {
    expect(parseDuration('x', '2m')).toBe(120_000);
  });
});

describe('checkSelfFenceTimeout', () => {
  it('0 is off; three heartbeat intervals or more is accepted', () => {
    expect(checkSelfFenceTimeout(0, 10_000)).toBe(0);
    expect(checkSelfFenceTimeout(30_000, 10_000)).toBe(30_000);
  });
  it('refuses a timeout a lost heartbeat or two could reach, and one longer than a day, naming the flag', () => {
    expect(() => checkSelfFenceTimeout(20_000, 10_000)).toThrow(
      '--self-fence-timeout: 20000ms is shorter than three heartbeat intervals (30000ms); use 0 to turn self-fencing off',
    );
    expect(() => checkSelfFenceTimeout(MAX_SELF_FENCE_TIMEOUT_MS + 1, 10_000)).toThrow('--self-fence-timeout: 86400001ms is longer than a day');
  });
});

describe('gatewayTarget (--gateway)', () => {
  it('passes one endpoint through, and makes one channel target of several IP endpoints', () => {
    expect(gatewayTarget('gw.example.org:6444')).toBe('gw.example.org:6444');
    expect(gatewayTarget('[::1]:6444')).toBe('[::1]:6444');
    expect(gatewayTarget('10.0.0.1:6444, 10.0.0.2:6444')).toBe('ipv4:10.0.0.1:6444,10.0.0.2:6444');
    expect(gatewayTarget('[fd00::1]:6444,[fd00::2]:6444')).toBe('ipv6:[fd00::1]:6444,[fd00::2]:6444');
  });
  it.each([
    ['', /"" is not HOST:PORT/],
    ['10.0.0.1', /"10.0.0.1" is not HOST:PORT/],
    ['10.0.0.1:0', /"10.0.0.1:0" is not HOST:PORT/],
    ['10.0.0.1:6444,', /"" is not HOST:PORT/],
    [':6444', /":6444" is not HOST:PORT/],
    ['a.example.org:6444,b.example.org:6444', /several endpoints must all be IPv4 or all IPv6/],
    ['10.0.0.1:6444,[fd00::2]:6444', /several endpoints must all be IPv4 or all IPv6/],
  ])('refuses %j naming the flag', (value, message) => {
    expect(() => gatewayTarget(value)).toThrow(/^--gateway: /);
    expect(() => gatewayTarget(value)).toThrow(message);
  });
  it('verifies replicas reached by IP as "localhost" (every apiserver certificate names it)', () => {
    expect(defaultServerName('127.0.0.1:6444,127.0.0.1:6454')).toBe('localhost');
    expect(defaultServerName('gw.example.org:6444')).toBeUndefined();
  });
});
