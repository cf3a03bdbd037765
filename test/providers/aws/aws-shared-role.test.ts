// Two aws providers of one broker on the same role: each would keep the role's deny policy from its
// own list, so one's prune would drop the other's revocations. The config refuses it.
import { afterAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { EXAMPLE, exampleLoadOptions, loadProblems } from '../../support/example-config.js'

const { opts: OPTS, cleanup } = exampleLoadOptions('aws-shared-role')
afterAll(cleanup)

/** The example with a copy of its aws provider, edited by `edit`: the problems it reports. */
function problems(edit: (second: Record<string, any>) => void) {
  const doc = parse(EXAMPLE) as Record<string, any>
  doc['providers'] = doc['providers'].filter((p: { type: string }) => p.type !== 'postgres')
  const second = structuredClone(doc['providers'][1])
  second.name = 'aws-eu'
  second.region = 'eu-west-1'
  edit(second)
  doc['providers'].push(second)
  return loadProblems(stringify(doc), OPTS)
}

describe('aws providers sharing a role', () => {
  it('is refused when they would write the same deny policy (whatever the ARN spelling)', () => {
    const found = problems((p) => {
      p.environments.staging.role_arn = 'arn:aws:iam::111111111111:role/ci/Airlock-Staging'
      p.environments.prod.role_arn = 'arn:aws:iam::222222222222:role/airlock-prod-eu'
    })
    expect(found).toEqual([
      {
        path: expect.stringMatching(/^providers\[\d+\]\.environments\.staging\.role_arn$/),
        message:
          "the deny policy airlock-revoked-sessions of role arn:aws:iam::111111111111:role/ci/Airlock-Staging is already written by provider 'aws-main'; two providers would undo each other's revocations",
      },
    ])
  })

  it('is fine with a deny policy of its own', () => {
    expect(problems((p) => (p.deny_policy_name = 'airlock-revoked-eu'))).toEqual([])
  })
})
