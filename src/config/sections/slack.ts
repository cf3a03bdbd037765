// The `slack` section (optional): where approval requests are posted, and the secrets that let
// Airlock post them and verify Slack's interactions.
import { isHttpUrl, type BuildContext } from '../context.js'
import { DEFAULTS, SlackSchema } from '../schema.js'
import { resolveRef } from '../secrets.js'
import type { SlackConfig } from '../types.js'

export function buildSlack(ctx: BuildContext): SlackConfig | null {
  if (ctx.raw['slack'] === undefined) return null
  const slack = ctx.section(SlackSchema, 'slack')
  if (!slack) return null
  const botToken = ctx.deferrable('slack.bot_token', slack.bot_token, () =>
    resolveRef(slack.bot_token, ctx.opts),
  )
  const signingSecret = ctx.deferrable('slack.signing_secret', slack.signing_secret, () =>
    resolveRef(slack.signing_secret, ctx.opts),
  )
  const apiUrl = slack.api_url ?? DEFAULTS.slackApiUrl
  if (!isHttpUrl(apiUrl)) ctx.report('slack.api_url', 'expected an http:// or https:// URL')
  return {
    botToken,
    signingSecret,
    channel: slack.channel,
    // Method names are appended to it, which needs the trailing slash.
    apiUrl: apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`,
  }
}
