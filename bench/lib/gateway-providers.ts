// The two gateway providers the gateway benchmarks send through: plain HTTP and GraphQL, both in
// front of one upstream (bench/gateway-servers.ts), reading the token from BENCH_UPSTREAM_TOKEN.

/** Entries for a config's `providers:` list, each line indented by two spaces. */
export const gatewayProvidersYaml = (upstream: string): string => `  - name: bench-http
    type: gateway
    upstream: "${upstream}"
    environments: { staging: { credential: env:BENCH_UPSTREAM_TOKEN } }
    operation_classes: { read: { http: ["GET /api/**"] } }
  - name: bench-gql
    type: gateway
    upstream: "${upstream}/graphql"
    graphql: true
    environments: { staging: { credential: env:BENCH_UPSTREAM_TOKEN, arguments: { environmentId: [env-1] } } }
    operation_classes: { read: { queries: ["me", "project"] } }
`
