// The deployment files in infra/ (images cannot be built here): the compose file and the
// Kubernetes manifests parse, their broker configs load, and every probe path, port and
// environment variable they name exists in the code.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments, parse } from 'yaml'
import { parseConfig } from '../../src/config/load.js'
import { testBroker } from '../helper.js'

const infra = (...p: string[]) => join(import.meta.dirname, '..', '..', 'infra', ...p)
const read = (...p: string[]) => readFileSync(infra(...p), 'utf8')
const ENV = { AIRLOCK_MASTER_KEY: Buffer.alloc(32, 1).toString('base64') }
const sourceText = () =>
  ['src/cli/serve.ts', ...configSources('src/config')]
    .map((f) => readFileSync(join(import.meta.dirname, '..', '..', f), 'utf8'))
    .join('\n')
/** The config loader's files (it reads the environment variables the manifests set). */
const configSources = (dir: string): string[] =>
  readdirSync(join(import.meta.dirname, '..', '..', dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? configSources(`${dir}/${e.name}`) : [`${dir}/${e.name}`],
  )

/** Whether the broker answers `path` (any status but 404) without authentication. */
async function routeExists(path: string): Promise<boolean> {
  const t = await testBroker()
  try {
    return (await t.app.inject({ url: path })).statusCode === 200
  } finally {
    await t.close()
  }
}

describe('infra/', () => {
  it('the compose file: two brokers, a primary, a replica and three sentinels; its config loads', async () => {
    const doc = parse(read('compose', 'docker-compose.yaml'), { merge: true }) as {
      services: Record<
        string,
        { environment?: Record<string, string>; ports?: string[]; command?: string[]; read_only?: boolean }
      >
    }
    const names = Object.keys(doc.services)
    expect(names.filter((n) => n.startsWith('airlock-'))).toHaveLength(2)
    expect(names.filter((n) => n.startsWith('sentinel-'))).toHaveLength(3)
    expect(doc.services['redis-replica']?.command).toContain('--replicaof')
    const config = parseConfig(read('compose', 'airlock.yaml'), { baseDir: infra('compose'), env: ENV })
    expect(config.store).toMatchObject({ redis: { kind: 'sentinel', name: 'airlock' }, replicaAcks: 1 })
    expect(read('compose', 'sentinel.conf')).toMatch(
      new RegExp(`sentinel monitor ${'airlock'} redis-primary 6379 2`),
    )
    for (const n of ['airlock-1', 'airlock-2']) {
      const s = doc.services[n]
      expect(s?.read_only).toBe(true)
      expect(s?.ports?.[0]).toMatch(new RegExp(`:${config.server.port}$`))
      for (const v of Object.keys(s?.environment ?? {})) expect(sourceText()).toContain(v)
    }
    expect(read('compose', 'redis.conf')).toMatch(/^maxmemory-policy noeviction$/m)
  })

  it('the Kubernetes manifests: two replicas, probes, limits, security context, PDB, config and secret', async () => {
    const kustomization = parse(read('kubernetes', 'kustomization.yaml')) as { resources: string[] }
    const docs = kustomization.resources.flatMap((f) =>
      parseAllDocuments(read('kubernetes', f)).map((d) => d.toJS()),
    )
    const kinds = docs.map((d: { kind: string }) => d.kind)
    expect(kinds.sort()).toEqual(['Deployment', 'PodDisruptionBudget', 'Service'])
    const dep = docs.find((d: { kind: string }) => d.kind === 'Deployment')
    expect(dep.spec.replicas).toBe(2)
    const c = dep.spec.template.spec.containers[0]
    const config = parseConfig(read('kubernetes', 'airlock.yaml'), { baseDir: '.', env: ENV })
    expect(c.ports[0].containerPort).toBe(config.server.port)
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false })
    expect(dep.spec.template.spec.securityContext.runAsNonRoot).toBe(true)
    expect(c.resources.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) })
    const master = c.env.find((e: { name: string }) => e.name === 'AIRLOCK_MASTER_KEY')
    expect(master.valueFrom.secretKeyRef.name).toBe('airlock-master-key')
    for (const e of c.env) expect(sourceText()).toContain(e.name)
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      expect(probe.httpGet.port).toBe('http')
      expect(await routeExists(probe.httpGet.path)).toBe(true)
    }
    expect(readdirSync(infra('kubernetes'))).toContain('airlock.yaml') // the configMapGenerator's file
  })

  it('the Dockerfile: multi-stage, production dependencies only, non-root, a HEALTHCHECK on a real route', async () => {
    const df = read('Dockerfile')
    expect(df.match(/^FROM /gm)?.length).toBeGreaterThan(1)
    expect(df).toMatch(/npm ci --omit=dev/)
    expect(df).toMatch(/^USER node$/m)
    const path = /127\.0\.0\.1:8080(\/\w+)/.exec(df)?.[1] as string
    expect(await routeExists(path)).toBe(true)
    expect(df).toMatch(/^EXPOSE 8080$/m)
  })
})
