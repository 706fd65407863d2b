// Jest runs TypeScript through @swc/jest as native ESM (see DESIGN.md pitfalls).
// Projects split by what a suite needs, so `make test-unit` stays fast.
const common = {
  extensionsToTreatAsEsm: ['.ts', '.tsx'],
  transform: {
    '^.+\\.tsx?$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript', tsx: true }, target: 'es2022', transform: { react: { runtime: 'automatic' } } },
        module: { type: 'es6' },
      },
    ],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testEnvironment: 'node',
};

export default {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/**/*.test.ts', '<rootDir>/**/*.test.tsx'],
      testPathIgnorePatterns: ['/node_modules/', '\\.int\\.test\\.ts$', '\\.e2e\\.test\\.ts$'],
    },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/**/*.int.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/**/*.e2e.test.ts'] },
  ],
  testPathIgnorePatterns: ['/node_modules/', '/.quantix/'],
  // Integration and end-to-end suites start real etcd, libvirt and Chromium.
  testTimeout: 120_000,
};
