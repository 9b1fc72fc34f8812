/**
 * The layer order of ARCHITECTURE.md §2, checked by dependency-cruiser (`npm run lint:deps`, run by
 * `npm test`): a folder imports only from folders listed before it, and nothing imports in a circle.
 * A folder's README says what it may import; this list is the one place the order is enforced.
 */
const LAYERS = [
  'domain', // the vocabulary, workflow-safe
  'lib', // Node helpers with no domain knowledge
  'config',
  'db',
  'disk',
  'registry',
  'native',
  'compositor',
  'iscsi',
  'connectors',
  'activities',
  'workflows',
  'worker',
  'api',
  'console',
  'runtime',
  'cli',
];

/** Folders that sit on top of everything (they may import any layer, and nothing imports them). */
const TOP = ['test', 'bench', 'scripts'];

const allowedBelow = (index) => LAYERS.slice(0, index);

const layerRules = LAYERS.map((layer, index) => ({
  name: `layer-order-${layer}`,
  comment: `${layer}/ may import only from ${allowedBelow(index).join(', ') || 'nothing of ours'} (ARCHITECTURE.md §2)`,
  severity: 'error',
  from: { path: `^${layer}/` },
  to: {
    path: '^[^/]+/',
    pathNot: [`^${layer}/`, ...allowedBelow(index).map((below) => `^${below}/`), '^node_modules/'],
    dependencyTypesNot: ['core'],
  },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'modules import one way; a cycle means a piece belongs in its own module',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'domain-is-workflow-safe',
      comment:
        'domain/ is imported by workflow code: no Node modules and no packages but @temporalio/common ' +
        '(workflow-safe: workflows reach it through @temporalio/workflow)',
      severity: 'error',
      from: { path: '^domain/' },
      to: {
        dependencyTypes: ['core', 'npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'],
        pathNot: '^node_modules/@temporalio/common/',
      },
    },
    {
      name: 'workflows-import-activity-types-only',
      comment:
        'workflow code runs in the deterministic sandbox: activities are called through proxies, by type',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^activities/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'nothing-imports-the-top',
      comment: `${TOP.join(', ')} use the product; the product never imports them`,
      severity: 'error',
      from: { pathNot: TOP.map((top) => `^${top}/`) },
      to: { path: TOP.map((top) => `^${top}/`) },
    },
    {
      name: 'no-unresolvable',
      comment: 'an import that resolves to nothing is a typo or a missing dependency',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|data|native/build|\\.tools)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
