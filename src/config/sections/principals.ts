// The `humans`, `agents` and `resource_servers` sections: who may call the broker, and how each
// proves it (an API key's SHA-256, an OIDC workload identity, a Slack user id).
import type { Static } from '@sinclair/typebox'
import { isRecord } from '../../validation/schema.js'
import { isIssuerUrl, type BuildContext, type Report } from '../context.js'
import { checkHumanIdentities } from './console.js'
import { AgentSchema, DEFAULTS, HumanSchema, ResourceServerSchema } from '../schema.js'
import type { AgentConfig, HumanConfig, ResourceServerConfig, Role } from '../types.js'

const OIDC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
]

export function buildHumans(ctx: BuildContext): HumanConfig[] {
  const humans = ctx.items(HumanSchema, 'humans').map(([h, i]) => ({
    i,
    h: {
      id: h.id,
      roles: [...new Set<Role>(h.roles ?? [])],
      slackUserId: h.slack_user_id ?? null,
      apiKeySha256: h.api_key_sha256 ?? null,
      email: h.email ?? null,
      oidcSubject: h.oidc_subject ?? null,
    },
  }))
  checkHumanIdentities(humans, ctx.report)
  return humans.map(({ h }) => h)
}

/** Humans with the approver role, as the file writes them (a human with another bad field still counts). */
export const approverIds = (ctx: BuildContext): Set<string> =>
  new Set(
    ctx
      .rawList('humans')
      .flatMap((h) =>
        isRecord(h) &&
        typeof h['id'] === 'string' &&
        Array.isArray(h['roles']) &&
        h['roles'].includes('approver')
          ? [h['id']]
          : [],
      ),
  )

export const buildResourceServers = (ctx: BuildContext): ResourceServerConfig[] =>
  ctx.items(ResourceServerSchema, 'resource_servers').map(([r]) => ({
    id: r.id,
    audiences: r.audiences,
    apiKeySha256: r.api_key_sha256,
  }))

export function buildAgents(ctx: BuildContext): AgentConfig[] {
  const humanIds = ctx.names('humans', 'id')
  const bindings = new Map<string, number>()
  return ctx.items(AgentSchema, 'agents').map(([a, i]) => {
    const at = `agents[${i}]`
    const owners = typeof a.owner === 'string' ? [a.owner] : (a.owner ?? [])
    owners.forEach((o, k) => {
      if (humanIds && !humanIds.has(o))
        ctx.report(typeof a.owner === 'string' ? `${at}.owner` : `${at}.owner[${k}]`, `unknown human '${o}'`)
    })
    if (a.api_key_sha256 === undefined && a.oidc === undefined)
      ctx.report(at, 'needs api_key_sha256 or oidc (or both)')
    let oidc: AgentConfig['oidc'] = null
    if (a.oidc) {
      oidc = buildOidc(a.oidc, at, ctx)
      // Two agents with one binding would make a workload's identity ambiguous.
      const key = JSON.stringify([oidc.issuer, oidc.audience, oidc.subject])
      const other = bindings.get(key)
      if (other !== undefined)
        ctx.report(`${at}.oidc`, `same issuer, audience and subject as agents[${other}]`)
      else bindings.set(key, i)
    }
    return { id: a.id, owners: [...new Set(owners)], apiKeySha256: a.api_key_sha256 ?? null, oidc }
  })
}

function buildOidc(
  o: NonNullable<Static<typeof AgentSchema>['oidc']>,
  at: string,
  ctx: BuildContext,
): NonNullable<AgentConfig['oidc']> {
  const { report } = ctx
  if (!isIssuerUrl(o.issuer))
    report(`${at}.oidc.issuer`, 'expected an https:// URL (http:// only for localhost)')
  if (o.jwks_uri !== undefined && !isIssuerUrl(o.jwks_uri))
    report(`${at}.oidc.jwks_uri`, 'expected an https:// URL (http:// only for localhost)')
  const algorithms = o.algorithms ?? [...DEFAULTS.oidcAlgorithms]
  algorithms.forEach((alg, k) => {
    if (!OIDC_ALGORITHMS.includes(alg)) {
      const why = alg === 'none' || /^HS/i.test(alg) ? 'is not allowed' : 'is not supported'
      report(
        `${at}.oidc.algorithms[${k}]`,
        `'${alg}' ${why}: expected asymmetric ones (${OIDC_ALGORITHMS.join(', ')})`,
      )
    }
  })
  const maxLifetimeSeconds = ctx.ttlSeconds(
    `${at}.oidc.max_lifetime`,
    o.max_lifetime ?? DEFAULTS.oidcMaxLifetime,
  )
  if (maxLifetimeSeconds < 60) report(`${at}.oidc.max_lifetime`, 'expected at least 1m')
  return {
    issuer: o.issuer,
    audience: o.audience,
    subject: o.subject,
    jwksUri: o.jwks_uri ?? null,
    algorithms,
    maxLifetimeSeconds,
  }
}

/** Ids shared between principal kinds, and API key hashes / Slack ids shared by anyone. */
export function crossKindChecks(rawList: (key: string) => unknown[], report: Report): void {
  const kinds = ['agents', 'humans', 'resource_servers'] as const
  const unique = (field: string, message: (other: string, value: string) => string, acrossKinds = true) => {
    const seen = new Map<string, { kind: string; path: string }>()
    for (const kind of kinds) {
      rawList(kind).forEach((el, i) => {
        const value = isRecord(el) ? el[field] : undefined
        if (typeof value !== 'string') return
        const other = seen.get(value)
        if (!other) seen.set(value, { kind, path: `${kind}[${i}]` })
        else if (acrossKinds || other.kind !== kind)
          report(`${kind}[${i}].${field}`, message(other.path, value))
      })
    }
  }
  // Same-kind duplicate ids are reported as "duplicate agent id", so only cross-kind ones here.
  unique('id', (other, id) => `id '${id}' is also used by ${other}`, false)
  // Hashes are not secret, but the other holder's path is all a reader needs.
  unique('api_key_sha256', (other) => `duplicate api_key_sha256 (also used by ${other})`)
  unique('slack_user_id', (other, id) => `duplicate slack_user_id '${id}' (also used by ${other})`)
}
