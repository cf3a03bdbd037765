// The `audit` section: the stdout copy of every event, how long events are kept, and how often the
// chain's head is checkpointed.
import type { BuildContext } from '../context.js'
import { AuditSchema, DEFAULTS } from '../schema.js'
import type { AuditConfig } from '../types.js'

export function buildAudit(ctx: BuildContext): AuditConfig {
  const audit = ctx.section(AuditSchema, 'audit') ?? {}
  return {
    stdout: audit.stdout ?? DEFAULTS.auditStdout,
    retentionMs: ctx.duration('audit.retention', audit.retention ?? DEFAULTS.auditRetention),
    checkpointEveryMs: ctx.duration(
      'audit.checkpoint_every',
      audit.checkpoint_every ?? DEFAULTS.checkpointEvery,
    ),
  }
}
