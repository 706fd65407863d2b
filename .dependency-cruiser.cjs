// Component boundaries (`make boundaries`): a component (agent, apiserver, controllers, cli, web)
// imports only api-types/, lib/ and itself; lib/ only api-types/ and lib/; api-types/ only itself.
// Tests, web/e2e/ and hack/ may reach further. Type-only imports count (tsPreCompilationDeps).
// A CommonJS file because package.json makes *.js ESM and dependency-cruiser loads this with require().

/** Test code: unit, integration and end-to-end suites and the browser suite's helpers. */
const TESTS = ['\\.test\\.tsx?$', '^web/e2e/'];
/** Everything outside the tree (npm packages, node: built-ins) is not a boundary question. */
const OUTSIDE = ['^node_modules/'];

module.exports = {
  forbidden: [
    {
      name: 'component-boundary',
      comment: 'A component imports only api-types/, lib/ and its own folder (see docs and issue 13).',
      severity: 'error',
      from: { path: '^(agent|apiserver|controllers|cli|web)/', pathNot: TESTS },
      to: { pathNot: ['^(api-types|lib)/', '^$1/', ...OUTSIDE], dependencyTypesNot: ['core'] },
    },
    {
      name: 'lib-boundary',
      comment: 'lib/ is the shared layer: it imports only api-types/ and lib/.',
      severity: 'error',
      from: { path: '^lib/', pathNot: TESTS },
      to: { pathNot: ['^(api-types|lib)/', ...OUTSIDE], dependencyTypesNot: ['core'] },
    },
    {
      name: 'api-types-boundary',
      comment: 'api-types/ is the contract: it imports only itself.',
      severity: 'error',
      from: { path: '^api-types/', pathNot: TESTS },
      to: { pathNot: ['^api-types/', ...OUTSIDE], dependencyTypesNot: ['core'] },
    },
    {
      name: 'no-circular',
      comment: 'Modules in a cycle cannot be understood, tested or moved one at a time.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve cannot be checked against the rules above.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules'] },
    exclude: { path: ['^node_modules/', '^web/dist/', '^\\.quantix/'] },
    // Count `import type` too: a type import is still a dependency on the other component's code.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
