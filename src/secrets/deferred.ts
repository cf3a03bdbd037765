// Config fields holding `vault:` references (Slack's bot token and signing secret) resolve once the
// vault is open, again for every config a reload brings, and again when the vault changes, so a
// secret written later takes effect without a restart. Until one resolves its field stays null and
// its feature waits (Slack interactions answer 503); a missing or empty value is never a key.
import type { FastifyBaseLogger } from 'fastify'
import type { SecretSource } from '../../providers/types.js'
import { EmptySecretError } from '../config/secrets.js'
import type { AirlockConfig, DeferredSecret } from '../config/types.js'
import type { Metrics } from '../metrics.js'
import { SecretMissingError } from './source.js'

type SlackField = 'botToken' | 'signingSecret'
const SLACK_FIELDS: Partial<Record<DeferredSecret['field'], SlackField>> = {
  'slack.bot_token': 'botToken',
  'slack.signing_secret': 'signingSecret',
}

export interface DeferredSecrets {
  /**
   * Fills the config's deferred fields in place. When the vault cannot be read (as opposed to the
   * secret being absent or empty), the value already there, or `previous`'s for the same
   * reference, is kept. True when a field changed.
   */
  resolve(config: AirlockConfig, previous?: AirlockConfig): Promise<boolean>
  /** Whether a deferred field of this config has no value yet. */
  pending(config: AirlockConfig): boolean
  /** Whether a change to this vault path (or '*': everything) concerns the config. */
  concerns(config: AirlockConfig, path: string): boolean
}

export function createDeferredSecrets(deps: {
  /** null: no vault is configured, so no reference can resolve. */
  secrets: SecretSource | null
  log: FastifyBaseLogger
  metrics: Pick<Metrics, 'secretsUnresolved'>
}): DeferredSecrets {
  const { log, metrics } = deps
  /** The last state logged per field, so a secret still missing is not logged every retry. */
  const logged = new Map<string, string>()
  const report = (d: DeferredSecret, state: 'resolved' | 'unresolved' | 'kept', err?: string) => {
    metrics.secretsUnresolved.set({ field: d.field }, state === 'unresolved' ? 1 : 0)
    const key = `${state}:${d.ref}:${err ?? ''}`
    if (logged.get(d.field) === key) return
    logged.set(d.field, key)
    const at = { field: d.field, ref: d.ref, err }
    if (state === 'resolved') log.info(at, 'a vault: reference in the config resolved')
    else if (state === 'kept') log.warn(at, 'a vault: reference cannot be read again; keeping its value')
    else log.error(at, 'a vault: reference in the config cannot be resolved; its feature is off until it can')
  }
  const slackFields = (config: AirlockConfig) =>
    config.deferredSecrets.flatMap((d) => {
      const field = SLACK_FIELDS[d.field]
      return field && config.slack ? [{ d, field }] : []
    })

  return {
    async resolve(config, previous) {
      let changed = false
      for (const { d, field } of slackFields(config)) {
        const slack = config.slack
        if (!slack) continue
        let value: string | null
        try {
          if (!deps.secrets) throw new Error('no vault master key is configured')
          value = await deps.secrets.resolve(d.ref)
          report(d, 'resolved')
        } catch (e) {
          const gone = e instanceof SecretMissingError || e instanceof EmptySecretError || !deps.secrets
          const kept = previous?.deferredSecrets.some((p) => p.field === d.field && p.ref === d.ref)
            ? (previous.slack?.[field] ?? null)
            : null
          value = gone ? null : (slack[field] ?? kept)
          report(d, value === null ? 'unresolved' : 'kept', (e as Error).message)
        }
        if (slack[field] !== value) {
          // A new object: the Slack notifier builds a new client when its config object changes.
          config.slack = { ...slack, [field]: value }
          changed = true
        }
      }
      return changed
    },
    pending: (config) => slackFields(config).some(({ field }) => !config.slack?.[field]),
    concerns: (config, path) => path === '*' || config.deferredSecrets.some((d) => d.ref === `vault:${path}`),
  }
}
