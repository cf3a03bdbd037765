// The console's two static files: console.css and console.js (compiled from client/console.ts by
// `npm run build`; a broker run from source through tsx compiles it once at start, with the
// TypeScript the dev dependencies bring). Served by @fastify/static under a path holding their
// content hash, so they can be cached for a year and a new build is fetched at once.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'

const here = dirname(fileURLToPath(import.meta.url))
const FROM_SOURCE = import.meta.url.endsWith('.ts')

export interface ConsoleAssets {
  css: string
  js: string
}

/** Writes a file whole or not at all (several test brokers may prepare the same directory). */
function writeAtomic(path: string, text: string) {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
}

async function sourceDir(): Promise<string> {
  const tsFile = join(here, 'client', 'console.ts')
  const cssFile = join(here, 'client', 'console.css')
  const ts = readFileSync(tsFile, 'utf8')
  const css = readFileSync(cssFile, 'utf8')
  const id = createHash('sha256').update(ts).update('\0').update(css).digest('hex').slice(0, 16)
  const dir = join(tmpdir(), `airlock-console-${id}`)
  if (existsSync(join(dir, 'console.js')) && existsSync(join(dir, 'console.css'))) return dir
  // Only when running from source: TypeScript is a dev dependency.
  const { default: typescript } = await import('typescript')
  const out = typescript.transpileModule(ts, {
    compilerOptions: { target: typescript.ScriptTarget.ES2020, module: typescript.ModuleKind.ES2020 },
    fileName: 'console.ts',
  })
  mkdirSync(dir, { recursive: true })
  writeAtomic(join(dir, 'console.js'), out.outputText)
  writeAtomic(join(dir, 'console.css'), css)
  return dir
}

/** Registers the asset routes on `app` (the console, prefixed /console) and returns the two files' URLs. */
export async function registerAssets(app: FastifyInstance): Promise<ConsoleAssets> {
  const dir = FROM_SOURCE ? await sourceDir() : join(here, 'client')
  const js = readFileSync(join(dir, 'console.js'))
  const css = readFileSync(join(dir, 'console.css'))
  const version = createHash('sha256').update(js).update(css).digest('hex').slice(0, 16)
  const prefix = `/assets/${version}/`
  await app.register(fastifyStatic, {
    root: dir,
    prefix,
    wildcard: false,
    index: false,
    list: false,
    decorateReply: false,
    dotfiles: 'deny',
    maxAge: '365d',
    immutable: true,
    // Only the two files (a build directory may hold a source map too).
    allowedPath: (path) => path === '/console.js' || path === '/console.css',
  })
  return { css: `/console${prefix}console.css`, js: `/console${prefix}console.js` }
}
