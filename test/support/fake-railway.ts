// A local GraphQL API shaped like Railway's public one (backboard.railway.com/graphql/v2), built
// with the reference `graphql` package: its own bearer token, JSON and batched requests, and a
// log of every root field it ran, so tests can prove a refused call never reached it.
import { buildSchema, graphql, parse, Kind, type OperationDefinitionNode } from 'graphql'
import { createServer, type Server } from 'node:http'
import { parse as parseYaml } from 'yaml'
import { validateGateway, type GatewayConfig } from '../../providers/gateway/config.js'

const SCHEMA = buildSchema(`
  type User { id: String!, email: String! }
  type Project { id: String!, name: String! }
  type Volume { id: String!, name: String!, environmentId: String! }
  input VariableUpsertInput {
    projectId: String!
    environmentId: String!
    serviceId: String
    name: String!
    value: String!
  }
  type Query {
    me: User!
    project(id: String!): Project
    volumes(environmentId: String!): [Volume!]!
  }
  type Mutation {
    volumeDelete(volumeId: String!): Boolean!
    serviceDelete(id: String!, environmentId: String): Boolean!
    environmentDelete(id: String!): Boolean!
    projectDelete(id: String!): Boolean!
    volumeInstanceBackupDelete(volumeInstanceId: String!, volumeInstanceBackupId: String!): Boolean!
    variableUpsert(input: VariableUpsertInput!): Boolean!
    serviceInstanceRedeploy(serviceId: String!, environmentId: String!): Boolean!
  }
`)

export interface RailwayCall {
  field: string
  args: Record<string, unknown>
}

export interface FakeRailway {
  /** The upstream URL, with Railway's base path. */
  url: string
  /** Every root field that ran, in order. */
  calls: RailwayCall[]
  volumes: Map<string, { id: string; name: string; environmentId: string }>
  /** Requests refused for a wrong or missing token. */
  unauthorized: number
  close(): Promise<void>
}

export async function fakeRailway(token: string): Promise<FakeRailway> {
  const calls: RailwayCall[] = []
  const volumes = new Map([
    ['vol-staging-1', { id: 'vol-staging-1', name: 'pg-data', environmentId: 'env-staging-1' }],
    ['vol-prod-1', { id: 'vol-prod-1', name: 'pg-data', environmentId: 'env-prod-1' }],
  ])
  const ran = (field: string, args: Record<string, unknown>) => calls.push({ field, args })
  const root = {
    me: () => (ran('me', {}), { id: 'u1', email: 'agent@example.com' }),
    project: (a: { id: string }) => (ran('project', a), { id: a.id, name: 'app' }),
    volumes: (a: { environmentId: string }) => (
      ran('volumes', a),
      [...volumes.values()].filter((v) => v.environmentId === a.environmentId)
    ),
    volumeDelete: (a: { volumeId: string }) => (ran('volumeDelete', a), volumes.delete(a.volumeId)),
    serviceDelete: (a: object) => (ran('serviceDelete', { ...a }), true),
    environmentDelete: (a: object) => (ran('environmentDelete', { ...a }), true),
    projectDelete: (a: object) => (ran('projectDelete', { ...a }), true),
    volumeInstanceBackupDelete: (a: object) => (ran('volumeInstanceBackupDelete', { ...a }), true),
    variableUpsert: (a: { input: object }) => (ran('variableUpsert', { input: { ...a.input } }), true),
    serviceInstanceRedeploy: (a: object) => (ran('serviceInstanceRedeploy', { ...a }), true),
  }
  const fake: FakeRailway = { url: '', calls, volumes, unauthorized: 0, close: async () => {} }

  const execute = async (req: Record<string, unknown>) => {
    // Railway answers a document with several operations and no name with an error; so does this.
    const doc = parse(String(req['query']))
    const ops = doc.definitions.filter(
      (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
    )
    if (ops.length > 1 && !req['operationName'])
      return { errors: [{ message: 'Must provide operation name' }] }
    return graphql({
      schema: SCHEMA,
      source: String(req['query']),
      rootValue: root,
      variableValues: (req['variables'] as Record<string, unknown> | null) ?? null,
      operationName: (req['operationName'] as string | null) ?? null,
    })
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      void (async () => {
        const send = (status: number, body: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' })
          res.end(JSON.stringify(body))
        }
        if (req.headers['authorization'] !== `Bearer ${token}`) {
          fake.unauthorized++
          return send(401, { errors: [{ message: 'Not Authorized' }] })
        }
        if (req.url !== '/graphql/v2' || req.method !== 'POST')
          return send(404, { errors: [{ message: 'Not Found' }] })
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as unknown
          const out = Array.isArray(body)
            ? await Promise.all(body.map((b) => execute(b as Record<string, unknown>)))
            : await execute(body as Record<string, unknown>)
          send(200, out)
        } catch (e) {
          send(400, { errors: [{ message: (e as Error).message }] })
        }
      })()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  fake.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/graphql/v2`
  fake.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    })
  return fake
}

/** The gateway provider entry for the fake (YAML, indented for testConfigYaml's providers list). */
export const railwayProviderYaml = (url: string, credential: string) => `
  - name: railway
    type: gateway
    upstream: "${url}"
    graphql: true
    timeout: 5s
    environments:
      staging:
        credential: ${credential}
        arguments: { environmentId: [env-staging-1], volumeId: [vol-staging-1], serviceId: [svc-staging-1] }
      prod:
        credential: ${credential}
        arguments: { environmentId: [env-prod-1], volumeId: [vol-prod-1], serviceId: [svc-prod-1] }
    operation_classes:
      read:        { queries: ["*"] }
      write:       { queries: ["*"], mutations: ["variableUpsert", "serviceInstanceRedeploy", "*Update"] }
      destructive: { queries: ["*"], mutations: ["*"] }
`

/** The Railway gateway section, validated as the broker would (staging and prod; read, write, destructive). */
export function railwayGatewayConfig(): GatewayConfig {
  const raw = (
    parseYaml(
      railwayProviderYaml('https://backboard.railway.com/graphql/v2', 'vault:railway/token'),
    ) as Record<string, unknown>[]
  )[0]!
  const { name: _n, type: _t, ...section } = raw
  const validated = validateGateway(section, {
    name: 'railway',
    environments: ['staging', 'prod'],
    operationClasses: ['read', 'write', 'destructive'],
    destructiveClasses: ['destructive'],
  })
  if (!validated.ok) throw new Error(JSON.stringify(validated.problems))
  return validated.config
}
