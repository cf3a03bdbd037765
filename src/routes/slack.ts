// Slack's interactivity endpoint: the Approve / Deny buttons. No bearer: the request is authenticated
// by Slack's signature over the raw body, so this plugin keeps form bodies as raw strings (scoped to
// this plugin; POST /v1/introspect still gets parsed forms). It answers within Slack's three seconds:
// the decision is a few Redis round trips, and every Slack call it causes happens afterwards.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { Principal } from '../auth/principal.js'
import { AirlockError, err } from '../errors.js'
import { SESSION_ID_RE } from '../ids.js'
import { errors } from '../schemas/common.js'
import { checkBlockActions, checkPayloadType, SlackForm, SlackHeaders } from '../schemas/slack.js'
import { ACTION_APPROVE, ACTION_DENY } from '../slack/render.js'
import { MAX_SKEW_SECONDS, verifySlackSignature } from '../slack/signature.js'

/** Slack's payloads carry the whole message they came from, so they can be larger than API bodies. */
const SLACK_BODY_LIMIT = 256 * 1024
const FORM = 'application/x-www-form-urlencoded'

const slack: FastifyPluginAsyncTypebox = async (app) => {
  const { approvals, runtime, clock } = app.broker
  const { notifier, outbox, metrics } = app.broker.slack

  app.removeContentTypeParser(FORM)
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: SLACK_BODY_LIMIT }, (_req, body, done) =>
    done(null, body),
  )

  app.post(
    '/slack/interactions',
    {
      bodyLimit: SLACK_BODY_LIMIT,
      config: { forms: true },
      // Before the body is read: the generic 415s would ask for JSON, which Slack never sends.
      onRequest: async (req) => {
        const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
        if (type !== FORM) throw err.mediaType(`Slack interactions are forms: send Content-Type: ${FORM}`)
      },
      schema: {
        summary: 'Slack interactivity: Approve / Deny buttons (authenticated by the Slack signature)',
        tags: ['approvals'],
        security: [],
        consumes: [FORM],
        headers: SlackHeaders,
        body: SlackForm,
        response: {
          200: Type.String({ description: 'Empty: Slack only needs the acknowledgement' }),
          ...errors(400, 401, 404, 413, 415, 503),
        },
      },
    },
    async (req, reply) => {
      const cfg = runtime().config.slack
      if (!cfg) throw err.notFound('Slack is not configured on this broker')
      const rejected = (e: AirlockError) => {
        metrics.interactions.inc({ outcome: 'rejected' })
        return e
      }
      // Never verify with an empty key: anyone can sign with ''. Off until the secret resolves.
      const secret = cfg.signingSecret
      if (!secret) {
        metrics.interactions.inc({ outcome: 'unavailable' })
        req.log.warn(
          { request_id: req.id },
          'Slack interaction refused: slack.signing_secret has no value (a vault: reference not resolved yet)',
        )
        throw err.unavailable(
          'Slack approvals are unavailable: the signing secret is not available to this broker yet',
        )
      }
      const check = verifySlackSignature(
        secret,
        { timestamp: req.headers['x-slack-request-timestamp'], signature: req.headers['x-slack-signature'] },
        req.body,
        clock.now(),
      )
      if (!check.ok) throw rejected(err.unauthenticated(check.reason))
      // A signed request is accepted once: a captured one replayed within the window is refused too.
      const signature = req.headers['x-slack-signature'] as string
      if (!(await outbox.firstSeen(signature, 2 * MAX_SKEW_SECONDS * 1000))) {
        throw rejected(err.unauthenticated('this Slack request was already received (replay)'))
      }

      const json = new URLSearchParams(req.body).get('payload')
      if (json === null) throw rejected(err.invalid('body: expected payload=<JSON>'))
      let payload: unknown
      try {
        payload = JSON.parse(json)
      } catch {
        throw rejected(err.invalid('payload: not valid JSON'))
      }
      if (!checkPayloadType.Check(payload)) throw rejected(err.invalid('payload: no type'))
      // Other interaction types (shortcuts, views) are not Airlock's: acknowledged, nothing done.
      if (payload.type !== 'block_actions') return reply.code(200).send('')
      if (!checkBlockActions.Check(payload)) {
        const first = checkBlockActions.Errors(payload).First()
        throw rejected(err.invalid(`payload${first?.path ?? ''}: ${first?.message ?? 'is invalid'}`))
      }
      const action = payload.actions[0]!
      if (action.action_id !== ACTION_APPROVE && action.action_id !== ACTION_DENY) {
        throw rejected(err.invalid(`payload/actions/0/action_id: unknown action '${action.action_id}'`))
      }
      if (!action.value || !SESSION_ID_RE.test(action.value)) {
        throw rejected(err.invalid('payload/actions/0/value: expected a session id'))
      }

      const user = payload.user.id
      const channel = payload.channel?.id ?? payload.container?.channel_id ?? cfg.channel
      const refuse = (why: string) => {
        metrics.interactions.inc({ outcome: 'refused' })
        void notifier.tell(channel, user, why)
        return reply.code(200).send('')
      }
      const human = runtime().config.humans.find((h) => h.slackUserId === user)
      if (!human) {
        return refuse(
          'Your Slack account is not linked to anyone in Airlock (humans[].slack_user_id), so you cannot approve or deny requests. Nothing was changed.',
        )
      }
      const principal: Principal = { kind: 'human', id: human.id, roles: human.roles }
      const decision = action.action_id === ACTION_APPROVE ? 'approve' : 'deny'
      try {
        await approvals.decide(principal, action.value, decision, null, 'slack')
      } catch (e) {
        if (e instanceof AirlockError && e.statusCode < 500)
          return refuse(`Nothing was changed: ${e.message}.`)
        throw e
      }
      metrics.interactions.inc({ outcome: 'applied' })
      return reply.code(200).send('')
    },
  )
}

export default slack
