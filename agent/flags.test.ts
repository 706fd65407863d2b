import { chooseAcceleration, parseDuration } from './flags.js';

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
