// Revocation for STS credentials. They cannot be recalled, only denied: each environment's role
// carries one inline policy that denies everything to revoked sessions (`aws:userid` =
// ROLE_ID:SESSION_NAME). The list lives in the broker's store; the whole policy is rewritten
// from it under a per-role lock shared by every replica and read back to confirm, so concurrent
// revokes and prunes never lose an entry. When the list would outgrow the role's inline policy
// quota, every session issued before a cutoff is denied instead (`aws:TokenIssueTime`), and the
// broker is told to mark the live ones revoked.
import { err } from '../../src/errors.js'
import {
  DeleteRolePolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam'
import type { FastifyBaseLogger } from 'fastify'
import type { ProviderState } from '../types.js'
import { awsCode, describe, withRetries, type AwsClients, type RetryOptions } from './clients.js'
import type { AwsEnvironmentConfig, AwsProviderConfig } from './config.js'
import { deniedBy, denyPolicy, policyChars, sessionOfName, type PolicyDocument } from './policy.js'

/** Deny entries outlive the credentials they name by this much (clock skew between us and AWS). */
export const SKEW_MS = 5 * 60_000
const LOCK_TTL_MS = 60_000
const LOCK_WAIT_MS = 20_000
/** IAM is eventually consistent: a read right after a write may still show the old policy. */
const CONFIRM_READS = 4

export interface DenyListDeps {
  config: AwsProviderConfig
  clients: AwsClients
  state: ProviderState
  now: () => number
  log: FastifyBaseLogger
  retry: RetryOptions
  onMassRevocation(sessionIds: string[], reason: string): Promise<string[]>
}

const sets = (roleArn: string) => ({
  /** member ROLE_ID:SESSION -> when the entry may go (credential expiry + skew). */
  denied: `denied:${roleArn}`,
  /** member STS session name -> when its credentials were issued (AWS time once known). */
  issued: `issued:${roleArn}`,
  /** member cutoff (ISO) -> when every credential issued before it has expired. */
  cutoff: `cutoff:${roleArn}`,
  /** member session id -> cut off at AWS but not yet marked revoked in Airlock (retried by reap). */
  massPending: `mass:${roleArn}`,
})

/** IAM's aws:TokenIssueTime takes whole-second ISO 8601. */
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')

export function createDenyList(deps: DenyListDeps) {
  const { config, clients, state, log } = deps
  const maxSessionMs = config.maxSessionSeconds * 1000
  const roleIds = new Map<string, string>()

  const iam = async <T>(
    env: AwsEnvironmentConfig,
    what: string,
    call: (c: Awaited<ReturnType<AwsClients['iam']>>) => Promise<T>,
  ) => {
    try {
      return await withRetries(async () => call(await clients.iam(env)), deps.retry)
    } catch (e) {
      clients.noteFailure(e)
      // Codes the callers act on stay as AWS sent them; anything else gets a sentence.
      if (awsCode(e) === 'NoSuchEntity' || awsCode(e) === 'LimitExceeded') throw e
      throw err.unavailable(`IAM ${what} on ${env.roleArn} failed: ${describe(e)}`, e)
    }
  }

  /** The role's unique id (AROA...), the first half of its sessions' aws:userid. Cached. */
  async function roleId(env: AwsEnvironmentConfig): Promise<string> {
    const cached = roleIds.get(env.roleArn)
    if (cached) return cached
    const out = await iam(env, 'GetRole', (c) => c.send(new GetRoleCommand({ RoleName: env.roleName })))
    const id = out.Role?.RoleId
    if (!id) throw err.unavailable(`IAM GetRole on ${env.roleArn} returned no RoleId`)
    roleIds.set(env.roleArn, id)
    return id
  }

  /** The cutoff in force (ms), or null. */
  async function cutoff(env: AwsEnvironmentConfig): Promise<number | null> {
    const live = await state.zrange(sets(env.roleArn).cutoff, deps.now())
    const latest = live.map((e) => Date.parse(e.member)).sort((a, b) => b - a)[0]
    return latest ?? null
  }

  async function write(env: AwsEnvironmentConfig, doc: PolicyDocument | null): Promise<void> {
    if (doc === null) {
      await iam(env, 'DeleteRolePolicy', (c) =>
        c.send(new DeleteRolePolicyCommand({ RoleName: env.roleName, PolicyName: config.denyPolicyName })),
      ).catch((e: unknown) => {
        if (awsCode(e) !== 'NoSuchEntity') throw e
      })
      return
    }
    await iam(env, 'PutRolePolicy', (c) =>
      c.send(
        new PutRolePolicyCommand({
          RoleName: env.roleName,
          PolicyName: config.denyPolicyName,
          PolicyDocument: JSON.stringify(doc),
        }),
      ),
    )
  }

  /** What the role's deny policy denies now, as IAM returns it (URL-encoded JSON). */
  async function readBack(env: AwsEnvironmentConfig) {
    try {
      const out = await iam(env, 'GetRolePolicy', (c) =>
        c.send(new GetRolePolicyCommand({ RoleName: env.roleName, PolicyName: config.denyPolicyName })),
      )
      return deniedBy(JSON.parse(decodeURIComponent(out.PolicyDocument ?? '')))
    } catch (e) {
      if (awsCode(e) === 'NoSuchEntity') return null
      throw e
    }
  }

  const covers = (got: ReturnType<typeof deniedBy> | null, userIds: string[], cut: string | null) =>
    got === null
      ? userIds.length === 0 && cut === null
      : userIds.every((id) => got.userIds.has(id)) && (cut === null || got.cutoff === cut)

  /** Exactly these entries and this cutoff (reap repairs any difference). */
  const matches = (got: ReturnType<typeof deniedBy> | null, userIds: string[], cut: string | null) =>
    got === null
      ? userIds.length === 0 && cut === null
      : got.userIds.size === userIds.length && covers(got, userIds, cut) && got.cutoff === cut

  async function confirm(env: AwsEnvironmentConfig, userIds: string[], cut: string | null) {
    for (let i = 0; i < CONFIRM_READS; i++) {
      if (covers(await readBack(env), userIds, cut)) return
      await new Promise((r) => setTimeout(r, 250 * 2 ** i))
    }
    throw err.unavailable(`the deny policy on ${env.roleArn} did not read back as written`)
  }

  /**
   * Overflow: deny every session issued before a cutoff later than any issue we know of, and name
   * the sessions that may still hold live credentials. Called under the role lock.
   */
  async function fallback(env: AwsEnvironmentConfig, now: number, why: string) {
    const s = sets(env.roleArn)
    // The cutoff is recorded before reading who was issued: an issue() registering after this
    // read checks the cutoff once STS answers (see provider.ts), so nobody slips between the two.
    const latestIssue = (await state.zrange(s.issued)).reduce((m, e) => Math.max(m, e.score), 0)
    const cutMs = (Math.floor(Math.max(now, latestIssue) / 1000) + 1) * 1000
    const cut = isoSeconds(cutMs)
    const until = cutMs + maxSessionMs + SKEW_MS
    const old = await state.zrange(s.cutoff)
    await state.zadd(s.cutoff, [{ member: cut, score: until }])
    await state.zrem(
      s.cutoff,
      old.map((e) => e.member).filter((m) => m !== cut),
    )
    // Issued under attempt names (or session ids, before attempts had names): the broker wants sessions.
    const issued = await state.zrange(s.issued, now - maxSessionMs - SKEW_MS)
    const victims = [...new Set(issued.map((e) => sessionOfName(e.member)))]
    await state.zadd(
      s.massPending,
      victims.map((member) => ({ member, score: until })),
    )
    // Every denied session was issued before the cutoff, so the cutoff covers them all.
    await state.zremBelow(s.denied, Infinity)
    const reason = `${why}; every session of ${env.roleArn} issued before ${cut} is denied (aws:TokenIssueTime)`
    log.error({ role: env.roleArn, cutoff: cut, sessions: victims.length }, `deny list overflow: ${reason}`)
    return { cut, victims, reason }
  }

  /**
   * Rewrites the role's deny policy from the store and confirms it. Call under the role lock.
   * Returns the sessions a fallback cut off (to be marked revoked once the lock is released).
   */
  async function rewrite(env: AwsEnvironmentConfig, now: number, force: boolean) {
    const s = sets(env.roleArn)
    const pruned = (await state.zremBelow(s.denied, now)) + (await state.zremBelow(s.cutoff, now))
    let userIds = (await state.zrange(s.denied)).map((e) => e.member)
    let cut =
      (await state.zrange(s.cutoff))
        .map((e) => e.member)
        .sort()
        .at(-1) ?? null
    if (!force && pruned === 0 && matches(await readBack(env), userIds, cut)) return { pruned, mass: null }
    let mass: Awaited<ReturnType<typeof fallback>> | null = null
    let doc = denyPolicy(userIds, cut)
    if (doc !== null && policyChars(doc) > config.denyPolicyMaxChars) {
      mass = await fallback(env, now, `the deny list would exceed ${config.denyPolicyMaxChars} characters`)
      ;({ cut } = mass)
      userIds = []
      doc = denyPolicy(userIds, cut)
    }
    try {
      await write(env, doc)
    } catch (e) {
      // The role's other inline policies leave less room than configured.
      if (awsCode(e) !== 'LimitExceeded' || mass !== null) throw e
      mass = await fallback(env, now, `IAM refused the deny list (${describe(e)})`)
      ;({ cut } = mass)
      userIds = []
      doc = denyPolicy(userIds, cut)
      await write(env, doc)
    }
    await confirm(env, userIds, cut)
    return { pruned, mass }
  }

  const lockName = (env: AwsEnvironmentConfig) => `role:${env.roleArn}`

  /** Tells the broker which sessions a cutoff killed; kept pending (and retried by reap) until it succeeds. */
  async function reportMass(env: AwsEnvironmentConfig, victims: string[], reason: string) {
    if (victims.length === 0) return
    try {
      await deps.onMassRevocation(victims, reason)
      await state.zrem(sets(env.roleArn).massPending, victims)
    } catch (e) {
      log.error(
        { role: env.roleArn, sessions: victims.length, err: (e as Error).message },
        'sessions cut off at AWS could not be marked revoked yet; retrying at the next reap',
      )
    }
  }

  return {
    roleId,
    cutoff,

    /** Records that issuing starts; false when this STS session name was issued before (never mint twice). */
    async startIssue(env: AwsEnvironmentConfig, name: string): Promise<boolean> {
      const added = await state.zadd(sets(env.roleArn).issued, [{ member: name, score: deps.now() }], {
        onlyNew: true,
      })
      return added === 1
    },
    /** STS answered: the AWS issue time replaces the provisional one. */
    async issued(env: AwsEnvironmentConfig, name: string, issuedAtMs: number) {
      await state.zadd(sets(env.roleArn).issued, [{ member: name, score: issuedAtMs }])
    },
    /** STS refused for good: nothing was minted. */
    async notIssued(env: AwsEnvironmentConfig, name: string) {
      await state.zrem(sets(env.roleArn).issued, [name])
    },
    /** When an STS session name's credentials were (or may have been) issued; null if never. */
    issuedAt: (env: AwsEnvironmentConfig, name: string) => state.zscore(sets(env.roleArn).issued, name),

    /** Denies one session's credentials until `untilMs` and confirms the policy at AWS. Idempotent. */
    async deny(env: AwsEnvironmentConfig, userId: string, untilMs: number): Promise<void> {
      const result = await state.withLock(
        lockName(env),
        LOCK_TTL_MS,
        async () => {
          await state.zadd(sets(env.roleArn).denied, [{ member: userId, score: untilMs + SKEW_MS }])
          return rewrite(env, deps.now(), true)
        },
        { waitMs: LOCK_WAIT_MS },
      )
      if (result.mass) await reportMass(env, result.mass.victims, result.mass.reason)
    },

    /** Prunes expired entries, repairs a policy that does not match the store, retries pending mass revocations. */
    async reap(env: AwsEnvironmentConfig): Promise<number> {
      const now = deps.now()
      const s = sets(env.roleArn)
      await state.zremBelow(s.issued, now - maxSessionMs - SKEW_MS)
      await state.zremBelow(s.massPending, now)
      const result = await state.withLock(lockName(env), LOCK_TTL_MS, () => rewrite(env, now, false), {
        waitMs: LOCK_WAIT_MS,
      })
      if (result.mass) await reportMass(env, result.mass.victims, result.mass.reason)
      const pending = (await state.zrange(s.massPending)).map((e) => e.member)
      if (pending.length > 0) await reportMass(env, pending, `cut off at AWS earlier (${env.roleArn})`)
      return result.pruned
    },
  }
}

export type DenyList = ReturnType<typeof createDenyList>
