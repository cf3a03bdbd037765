// Config loading: YAML → schema check → semantic checks → the resolved AirlockConfig. Every problem
// is collected (not just the first) so `airlock config check` can list them all with their paths.
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseDocument } from 'yaml'
import { ConfigError } from '../errors.js'
import { isRecord } from '../validation/schema.js'
import { build } from './build.js'
import type { ParseOptions } from './context.js'
import { configProblems } from './schema.js'
import type { AirlockConfig } from './types.js'

export type { ParseOptions }

export async function loadConfigFile(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: { allowMissingStore?: boolean } = {},
): Promise<AirlockConfig> {
  const full = resolve(path)
  let text: string
  try {
    text = await readFile(full, 'utf8')
  } catch (e) {
    const code = e instanceof Error && 'code' in e ? String(e.code) : 'unknown error'
    throw new ConfigError([{ path: '', message: `cannot read config file ${full} (${code})` }])
  }
  return parseConfig(text, { baseDir: dirname(full), env, ...opts })
}

export function parseConfig(text: string, opts: ParseOptions): AirlockConfig {
  const doc = parseYaml(text)
  const problems = configProblems(doc)
  const config = build(isRecord(doc) ? doc : {}, opts, (path, message) => problems.push({ path, message }))
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}

function parseYaml(text: string): unknown {
  const doc = parseDocument(text)
  const first = doc.errors[0]
  if (first) {
    // Only the first line: YAML's pretty message goes on to quote the source, which may hold a secret.
    const line = first.linePos?.[0]
    const what = first.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'syntax error'
    const where = line ? ` at line ${line.line}, column ${line.col}` : ''
    throw new ConfigError([{ path: '', message: `YAML syntax error${where}: ${what}` }])
  }
  let value: unknown
  try {
    value = doc.toJS()
  } catch (e) {
    throw new ConfigError([
      { path: '', message: `YAML error: ${e instanceof Error ? e.message : 'cannot read'}` },
    ])
  }
  if (value === null || value === undefined)
    throw new ConfigError([{ path: '', message: 'the config is empty' }])
  return value
}
