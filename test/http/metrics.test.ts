// The process metrics carry one prefix: airlock_process_cpu_..., airlock_nodejs_..., never
// airlock_process_process_....
import { describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/metrics.js'

describe('default process metrics', () => {
  it('are named airlock_process_* and airlock_nodejs_*, without a doubled prefix', async () => {
    const text = await createMetrics({ defaults: true }).registry.metrics()
    expect(text).toMatch(/^airlock_process_cpu_user_seconds_total /m)
    expect(text).toMatch(/^airlock_process_resident_memory_bytes /m)
    expect(text).toMatch(/^airlock_nodejs_eventloop_lag_seconds /m)
    expect(text).not.toContain('process_process_')
    expect(text).not.toContain('airlock_process_nodejs_')
  })
})
