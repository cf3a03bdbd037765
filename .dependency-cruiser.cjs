// The layering of src/ and providers/, checked by `npm run depcheck` (dependency-cruiser).
//
// A unit is a folder under src/ or providers/, or a file at their roots. Units are listed in
// layers, bottom first; a unit may import its own files, the units of lower layers, and the units
// listed before it in its own layer. Nothing may import upward, so no two folders can import each
// other, directly or round a longer loop: the order itself forbids folder-level cycles.
//
// The imports that still go upward today are listed in KNOWN below: each is reported as a warning
// (rule `known-cycle`) until it is untangled, and everything else upward is an error. A new folder
// must be placed in LAYERS (rule `unplaced`).

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
      'src/metrics.ts',
      'src/metrics-listener.ts',
      'src/clock.ts',
      'src/schemas',
      'src/tokens',
      'providers/types.ts',
    ],
  ],
  // Where state lives: Redis or memory.
  ['store', ['src/redis', 'src/store']],
  // What the operator configured, and what it refers to.
  ['configuration', ['src/config', 'src/policy', 'src/secrets', 'src/vault', 'src/log.ts', 'src/auth']],
  // The backend the config names (memory or Redis), and the job queues on it.
  ['backend', ['src/backend.ts', 'src/queue']],
  // Providers; what a provider implements (providers/types.ts) is in the kernel.
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
      'src/gateway',
      'src/runtime.ts',
      'src/provider-health.ts',
    ],
  ],
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

/**
 * Upward imports that exist today, [from unit, to unit, why]: reported as warnings. Remove an
 * entry once its imports are gone (the check then keeps them gone).
 */
const KNOWN = [
  [
    'src/config',
    'providers/registry.ts',
    'config/load.ts has the provider registry validate each provider section',
  ],
  [
    'providers/gateway',
    'src/gateway',
    'providers/gateway/config.ts compiles its rules with gateway/classify-http.ts',
  ],
]

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
/** The files of a unit: a folder's files at any depth, or the one file. */
const files = (unit) => (unit.endsWith('.ts') ? `^${esc(unit)}$` : `^${esc(unit)}/`)
const any = (units) => units.map(files).join('|')

const ordered = LAYERS.flatMap(([layer, units]) => units.map((unit) => ({ layer, unit })))
const rank = new Map(ordered.map((u, i) => [u.unit, i]))
const forbidden = []

for (const [i, { layer, unit }] of ordered.entries()) {
  const known = KNOWN.filter(([from]) => from === unit).map(([, to]) => to)
  const above = ordered.slice(i + 1).map((u) => u.unit)
  const errors = above.filter((u) => !known.includes(u))
  if (errors.length > 0)
    forbidden.push({
      name: `layer-${layer}`,
      comment: `${unit} (layer ${layer}) may import only what LAYERS lists before it`,
      severity: 'error',
      from: { path: files(unit) },
      to: { path: any(errors) },
    })
  const warned = above.filter((u) => known.includes(u))
  if (warned.length > 0)
    forbidden.push({
      name: 'known-cycle',
      comment: KNOWN.filter(([from, to]) => from === unit && warned.includes(to))
        .map(([, to, why]) => `${unit} -> ${to}: ${why}`)
        .join('; '),
      severity: 'warn',
      from: { path: files(unit) },
      to: { path: any(warned) },
    })
}

for (const [from, to] of KNOWN)
  if (!rank.has(from) || !rank.has(to)) throw new Error(`KNOWN names a unit LAYERS lacks: ${from} -> ${to}`)

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
      'providers depend on the domain, the errors, the shared validation and what a provider implements (providers/types.ts) only',
    severity: 'warn',
    from: { path: '^providers/(?!registry\\.ts$)' },
    to: {
      path: '^src/',
      pathNot: '^src/(domain/|errors\\.ts$|validation/)',
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
