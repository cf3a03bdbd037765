// `airlock dev` as a newcomer runs it: in-memory store, demo keys printed once, a curl line that works.
import { spawn } from 'node:child_process'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from './support/redis-server.js'

const children: ReturnType<typeof spawn>[] = []
afterAll(() => children.forEach((c) => c.kill('SIGTERM')))

describe('airlock dev', () => {
  it('starts without Redis, prints keys and a working request, and serves the whole flow', async () => {
    const port = await freePort()
    const env = { ...process.env }
    delete env['REDIS_URL']
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'dev', '--port', String(port)],
      {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    children.push(child)
    let out = ''
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (b: Buffer) => {
        out += b.toString()
        if (out.includes('API docs:')) resolve()
      })
      child.once('exit', (code) => reject(new Error(`airlock dev exited with ${code}`)))
    })
    expect(out).toContain(`http://127.0.0.1:${port}`)
    const key = (who: string) =>
      (new RegExp(`^\\s+${who}\\s+(ak_\\S+)$`, 'm').exec(out) as RegExpExecArray)[1] as string
    const curl = /-d '(\{.*\})'/.exec(out)?.[1] as string
    const base = `http://127.0.0.1:${port}`
    const post = async (path: string, who: string, body: string) => {
      const r = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key(who)}`, 'content-type': 'application/json' },
        body,
      })
      return { status: r.status, body: (await r.json()) as Record<string, any> }
    }
    const issued = await post('/v1/sessions', 'demo-bot', curl)
    expect(issued.status).toBe(201)
    expect(
      (await post('/v1/introspect', 'demo-api', JSON.stringify({ token: issued.body.grant.token }))).body
        .active,
    ).toBe(true)
    const del = await fetch(`${base}/v1/sessions/${issued.body.session.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${key('ops')}` },
    })
    expect(((await del.json()) as { session: { status: string } }).session.status).toBe('revoked')
    expect(
      (await post('/v1/introspect', 'demo-api', JSON.stringify({ token: issued.body.grant.token }))).body,
    ).toEqual({ active: false })
    const pending = await post(
      '/v1/sessions',
      'demo-bot',
      JSON.stringify({
        environment: 'prod',
        operation_class: 'read',
        provider: 'demo-api',
        task: { id: 'DEMO-2' },
      }),
    )
    expect(pending.status).toBe(202)
  })

  it('serve refuses to start without a Redis URL', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'airlock-test-'))
    const cfg = join(dir, 'a.yaml')
    writeFileSync(cfg, 'environments: [{ name: staging }]\noperation_classes: [{ name: read }]\n')
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', cfg], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let err = ''
    child.stderr?.on('data', (b: Buffer) => (err += b.toString()))
    const code = await new Promise<number | null>((r) => child.once('exit', r))
    expect(code).toBe(78)
    expect(err).toMatch(/store.redis_url: required/)
  })
})
