// Scenario: POST /v1/introspect of one live token as fast as the server takes it, with a check
// before and after that the token still introspects active.
import type { Airlock } from '../lib/airlock.js'
import { warmThenMeasure, type Scenario, type Target } from '../lib/cannon.js'
import type { BenchOptions } from '../lib/options.js'
import { issueOnce } from './issue.js'

export interface IntrospectRun {
  scenario: Scenario
  /** What one introspection answered before and after the run ("200 active=true"). */
  sanity: { before: string; after: string }
}

export async function introspectScenario(
  target: Target,
  airlock: Airlock,
  o: BenchOptions,
): Promise<IntrospectRun> {
  const token = await issueOnce(airlock)
  const before = await introspectOnce(airlock, token)
  const scenario = await warmThenMeasure(
    target,
    {
      name: 'introspect',
      url: `${airlock.base}/v1/introspect`,
      authorization: `Bearer ${airlock.rsKey}`,
      body: { token },
    },
    o,
    {
      warmup: `warm-up: introspect ${o.warmup} s`,
      run: `introspect: ${o.duration} s, ${o.connections} connections`,
    },
  )
  const after = await introspectOnce(airlock, token)
  return { scenario, sanity: { before, after } }
}

async function introspectOnce(airlock: Airlock, token: string): Promise<string> {
  const res = await fetch(`${airlock.base}/v1/introspect`, {
    method: 'POST',
    headers: { authorization: `Bearer ${airlock.rsKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  })
  const json = (await res.json()) as { active?: boolean }
  return `${res.status} active=${String(json.active)}`
}
