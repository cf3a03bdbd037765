// Scenario: the bare calibration routes (bench/baseline-server.ts), each run right after its
// Airlock counterpart: POST /sign (an EdDSA signature and one Redis write) against issue, POST
// /verify (a verification and one Redis read) against introspect.
import { bareSignOnce, type Baseline } from '../lib/baseline.js'
import { warmThenMeasure, type Scenario, type Target } from '../lib/cannon.js'
import type { BenchOptions } from '../lib/options.js'

export function bareSignScenario(target: Target, baseline: Baseline, o: BenchOptions): Promise<Scenario> {
  return bareRun(target, baseline, 'sign', {}, o)
}

/** The floor under issue: /sign with a hash-chained audit event in its write. */
export function bareSignAuditedScenario(
  target: Target,
  baseline: Baseline,
  o: BenchOptions,
): Promise<Scenario> {
  return bareRun(target, baseline, 'sign-audited', {}, o)
}

export async function bareVerifyScenario(
  target: Target,
  baseline: Baseline,
  o: BenchOptions,
): Promise<Scenario> {
  return bareRun(target, baseline, 'verify', { token: await bareSignOnce(baseline.base) }, o)
}

function bareRun(
  target: Target,
  baseline: Baseline,
  route: 'sign' | 'sign-audited' | 'verify',
  body: unknown,
  o: BenchOptions,
): Promise<Scenario> {
  return warmThenMeasure(
    target,
    { name: `bare ${route}`, url: `${baseline.base}/${route}`, authorization: '', body },
    o,
    { run: `bare ${route}: ${o.duration} s, ${o.connections} connections` },
  )
}
