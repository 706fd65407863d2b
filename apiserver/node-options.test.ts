import { apiserverNodeOptions } from './node-options.js';

describe('apiserverNodeOptions', () => {
  it('leaves one core to the JS thread: one V8 helper on 1 or 2 cores, cores - 1 up to Node’s default of 4', () => {
    const poolSize = (cores: number) => apiserverNodeOptions(cores).find((flag) => flag.startsWith('--v8-pool-size='));
    expect(poolSize(1)).toBe('--v8-pool-size=1');
    expect(poolSize(2)).toBe('--v8-pool-size=1');
    expect(poolSize(3)).toBe('--v8-pool-size=2');
    expect(poolSize(4)).toBe('--v8-pool-size=3');
    expect(poolSize(5)).toBe('--v8-pool-size=4');
    expect(poolSize(64)).toBe('--v8-pool-size=4');
  });

  it('always sets the larger young generation', () => {
    expect(apiserverNodeOptions(2)).toContain('--max-semi-space-size=32');
    expect(apiserverNodeOptions(16)).toContain('--max-semi-space-size=32');
  });
});
