// Scenario: POST /v1/sessions (issue a grant) as fast as the server takes it.
import type { Airlock } from '../lib/airlock.js'
import { warmThenMeasure, type Scenario, type Target } from '../lib/cannon.js'
import type { BenchOptions } from '../lib/options.js'

export const ISSUE_BODY = {
  environment: 'staging',
  operation_class: 'read',
  provider: 'bench-api',
  task: { id: 'BENCH-1' },
}

export function issueScenario(target: Target, airlock: Airlock, o: BenchOptions): Promise<Scenario> {
  return warmThenMeasure(
    target,
    {
      name: 'issue',
      url: `${airlock.base}/v1/sessions`,
      authorization: `Bearer ${airlock.botKey}`,
      body: ISSUE_BODY,
    },
    o,
    { warmup: `warm-up: issue ${o.warmup} s`, run: `issue: ${o.duration} s, ${o.connections} connections` },
  )
}

/** One grant's token (for the introspect run). */
export async function issueOnce(airlock: Airlock): Promise<string> {
  const res = await fetch(`${airlock.base}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${airlock.botKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(ISSUE_BODY),
  })
  const json = (await res.json()) as { grant?: { token?: string } }
  if (res.status !== 201 || !json.grant?.token) {
    throw new Error(`POST /v1/sessions answered ${res.status}: ${JSON.stringify(json).slice(0, 300)}`)
  }
  return json.grant.token
}
