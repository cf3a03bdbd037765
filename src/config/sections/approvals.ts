// The `approvals` section: how long a request waits for approvers, and an approved grant for its claim.
import type { BuildContext } from '../context.js'
import { ApprovalsSchema, DEFAULTS } from '../schema.js'
import type { ApprovalsConfig } from '../types.js'

export function buildApprovals(ctx: BuildContext): ApprovalsConfig {
  const approvals = ctx.section(ApprovalsSchema, 'approvals') ?? {}
  return {
    timeoutMs: ctx.duration('approvals.timeout', approvals.timeout ?? DEFAULTS.approvalTimeout),
    claimWindowMs: ctx.duration('approvals.claim_window', approvals.claim_window ?? DEFAULTS.claimWindow),
  }
}
