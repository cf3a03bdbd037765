// Evaluates the IAM documents the aws provider writes with a real IAM policy simulator.
import { runSimulation } from '@cloud-copilot/iam-simulate'

const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }

export interface SimRequest {
  action: string
  resource: string
  /** The role's identity policies besides AdministratorAccess-like allow-all (e.g. the deny policy). */
  rolePolicies?: unknown[]
  sessionPolicy?: unknown
  context?: Record<string, string | string[]>
  principal?: string
  account?: string
}

/** 'Allowed', 'ExplicitlyDenied' or 'ImplicitlyDenied' for a session of a role that may do anything. */
export async function simulate(r: SimRequest): Promise<string> {
  const account = r.account ?? '111111111111'
  const result = await runSimulation(
    {
      request: {
        principal: r.principal ?? `arn:aws:sts::${account}:assumed-role/airlock-staging/ses_sim`,
        action: r.action,
        resource: { resource: r.resource, accountId: account },
        contextVariables: r.context ?? {},
      },
      identityPolicies: [
        { name: 'allow-all', policy: ALLOW_ALL },
        ...(r.rolePolicies ?? []).map((policy, i) => ({ name: `role-${i}`, policy })),
      ],
      ...(r.sessionPolicy !== undefined && { sessionPolicy: r.sessionPolicy }),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  )
  if (result.resultType === 'error') throw new Error(`simulation error: ${JSON.stringify(result.errors)}`)
  return result.overallResult
}
