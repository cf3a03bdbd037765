// The layering of src/ and providers/, checked by `npm run depcheck` (dependency-cruiser).
//
// A unit is a folder under src/ or providers/, or a file at their roots. Units are listed in
// layers, bottom first; a unit may import its own files, the units of lower layers, and the units
// listed before it in its own layer. Nothing may import upward, so no two folders can import each
// other, directly or round a longer loop: the order itself forbids folder-level cycles.
//
// An import upward is an error (rule `layer-<layer>`), and so is a folder or root file not yet placed
// in LAYERS, whether it imports (rule `unplaced`) or is imported (rule `unplaced-import`).

/** Bottom first. */
const LAYERS = [
  // The models every layer shares; they import nothing from src.
  ['domain', ['src/domain']],
  // Small shared pieces with no knowledge of the broker.
  [
    'kernel',
    [
      'src/errors.ts',
      'src/validation',
      'src/ids.ts',
      'src/version.ts',
      'src/suggest.ts',
      'src/glob.ts',
      'src/scrub.ts',
      'src/visible.ts',
      'src/action-view.ts',
      'src/metrics.ts',
      'src/metrics-listener.ts',
      'src/clock.ts',
      'src/schemas',
      'src/tokens',
      'providers/types.ts',
      'providers/attempts.ts',
    ],
  ],
  // The providers and their registry. They build on the kernel alone: what a provider implements
  // (providers/types.ts), the errors, the shared validation, ids and scrubbing.
  [
    'providers',
    [
      'providers/validate.ts',
      'providers/jwt',
      'providers/aws',
      'providers/github',
      'providers/postgres',
      'providers/gateway',
      'providers/registry.ts',
    ],
  ],
  // Where state lives: Redis or memory.
  ['store', ['src/redis', 'src/store']],
  // What the operator configured, and what it refers to.
  ['configuration', ['src/config', 'src/policy', 'src/secrets', 'src/vault', 'src/log.ts', 'src/auth']],
  // The backend the config names (memory or Redis), and the job queues and counters on it.
  ['backend', ['src/backend.ts', 'src/queue', 'src/ratelimit']],
  // What runs the providers: the runtime, their health, the gateway's request handling.
  ['runtime', ['src/gateway', 'src/runtime.ts', 'src/provider-health.ts']],
  // The services: the audit log, sessions and what acts on them.
  [
    'services',
    ['src/audit', 'src/sessions', 'src/approvals', 'src/locks', 'src/slack', 'src/workers', 'src/reload.ts'],
  ],
  // HTTP (the API and the web console), and the broker wired together.
  ['http', ['src/plugins', 'src/routes', 'src/console', 'src/app.ts', 'src/broker.ts']],
  // Clients of the broker: the HTTP client they share, the MCP server, the airlock command.
  ['clients', ['src/client', 'src/mcp', 'src/cli']],
]

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
/** The files of a unit: a folder's files at any depth, or the one file. */
const files = (unit) => (unit.endsWith('.ts') ? `^${esc(unit)}$` : `^${esc(unit)}/`)
const any = (units) => units.map(files).join('|')

const ordered = LAYERS.flatMap(([layer, units]) => units.map((unit) => ({ layer, unit })))
const rank = new Map(ordered.map((u, i) => [u.unit, i]))
const forbidden = []

for (const [i, { layer, unit }] of ordered.entries()) {
  const above = ordered.slice(i + 1).map((u) => u.unit)
  if (above.length > 0)
    forbidden.push({
      name: `layer-${layer}`,
      comment: `${unit} (layer ${layer}) may import only what LAYERS lists before it`,
      severity: 'error',
      from: { path: files(unit) },
      to: { path: any(above) },
    })
}

forbidden.push(
  {
    name: 'domain-imports-nothing',
    comment: 'src/domain is the bottom: it imports nothing from src/ or providers/ (TypeBox is fine)',
    severity: 'error',
    from: { path: '^src/domain/' },
    to: { path: '^(src|providers)/', pathNot: '^src/domain/' },
  },
  {
    name: 'providers-use-the-interface',
    comment:
      'providers depend on the domain, the errors, the shared validation, ids, scrubbing and what a provider implements (providers/types.ts) only',
    severity: 'error',
    from: { path: '^providers/(?!registry\\.ts$)' },
    to: {
      path: '^src/',
      pathNot: '^src/(domain/|errors\\.ts$|validation/|ids\\.ts$|scrub\\.ts$)',
    },
  },
  {
    name: 'unplaced',
    comment: 'every folder and root file of src/ and providers/ has a place in LAYERS',
    severity: 'error',
    from: { path: '^(src|providers)/', pathNot: any([...rank.keys()]) },
    to: {},
  },
  {
    // A file that imports nothing escapes the rule above; its importers do not.
    name: 'unplaced-import',
    comment: 'every folder and root file of src/ and providers/ has a place in LAYERS',
    severity: 'error',
    from: {},
    to: { path: '^(src|providers)/', pathNot: any([...rank.keys()]) },
  },
  {
    name: 'not-to-tests',
    comment: 'shipped code does not import the tests or the benchmarks',
    severity: 'error',
    from: { path: '^(src|providers)/' },
    to: { path: '^(test|bench)/' },
  },
)

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a cycle through types is a cycle in the design.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
}
