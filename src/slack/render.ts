// The Block Kit message of an approval request, rendered from the session record alone, so any
// replica can re-render it after any change and the message always tells the current state.
// Agent-written text (task id and description, justification) only ever appears in `plain_text`
// objects, which Slack shows literally: no mentions, links, emoji codes or formatting. It is cleaned
// of control and direction-override characters and cut to fit Slack's limits.
import { parse, print } from 'graphql'
import { formatDuration } from '../validation/duration.js'
import { effectiveStatus, type SessionRecord } from '../domain/index.js'
import { cleanText, showHidden } from '../visible.js'

export const ACTION_APPROVE = 'airlock_approve'
export const ACTION_DENY = 'airlock_deny'

/** Slack's limits (Block Kit reference): header 150, section text 3000, field 2000, button 75. */
export const LIMITS = { header: 150, section: 3000, field: 2000, context: 3000, button: 75 } as const
/** What the API accepts; longer text (from anywhere) is cut here too. */
export const AGENT_TEXT = { taskId: 128, description: 500, justification: 1000 } as const

export interface PlainText {
  type: 'plain_text'
  text: string
  emoji: boolean
}
export type Block =
  | { type: 'header'; text: PlainText }
  | { type: 'section'; text?: PlainText; fields?: PlainText[] }
  | { type: 'context'; elements: PlainText[] }
  | { type: 'divider' }
  | { type: 'actions'; block_id: string; elements: Button[] }

export interface Button {
  type: 'button'
  action_id: string
  text: PlainText
  value: string
  style?: 'primary' | 'danger'
  confirm?: { title: PlainText; text: PlainText; confirm: PlainText; deny: PlainText; style?: 'danger' }
}

export interface SlackMessage {
  /** Notification fallback; Slack parses it as mrkdwn, so it holds no agent-written text. */
  text: string
  blocks: Block[]
}

export interface RenderContext {
  now: number
  /** Whether the operation class is marked `destructive: true`. */
  destructive: boolean
}

/** Cleans text and cuts it to `max` UTF-16 units (never splitting a surrogate pair), marking the cut. */
export function clip(raw: string, max: number): string {
  const s = cleanText(raw)
  if (s.length <= max) return s
  let end = max - 1
  const code = s.charCodeAt(end - 1)
  if (code >= 0xd800 && code <= 0xdbff) end-- // a high surrogate without its pair
  return `${s.slice(0, end)}…`
}

const plain = (text: string, max: number): PlainText => ({
  type: 'plain_text',
  text: clip(text, max) || ' ',
  emoji: false,
})

/** `&`, `<` and `>` are the only characters mrkdwn needs escaped. */
export const escapeMrkdwn = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export const hhmm = (ms: number): string => `${new Date(ms).toISOString().slice(11, 16)} UTC`

/** A TTL the way the config writes durations (`15m`, `1h`), by the config's own formatter. */
export const duration = (seconds: number): string => formatDuration(seconds * 1000)

function progress(rec: SessionRecord): string {
  const n = rec.approvals.length
  const who = rec.approvals.map((a) => a.by).join(', ')
  return `${n} of ${rec.approvals_required} approvals${n > 0 ? `: ${who}` : ''}`
}

/** One line saying where the request stands. */
export function statusLine(rec: SessionRecord, now: number): string {
  switch (effectiveStatus(rec, now)) {
    case 'pending_approval':
      return `Waiting for approval until ${hhmm(rec.expires_at)}`
    case 'approved':
      return `Approved. Waiting for ${rec.agent} to claim it by ${hhmm(rec.expires_at)}`
    case 'active':
      return `Issued, expires ${hhmm(rec.expires_at)}`
    case 'denied':
      return `Denied by ${rec.denied_by ?? 'an approver'}`
    case 'revoked':
      return `Revoked by ${rec.revoked_by ?? 'airlock'}${rec.revoked_at === null ? '' : ` at ${hhmm(rec.revoked_at)}`}`
    case 'expired':
      if (rec.approvals.length < rec.approvals_required) return 'Expired: not enough approvals in time'
      if (rec.jti === null) return 'Expired: approved but never claimed'
      return `Expired at ${hhmm(rec.expires_at)}`
  }
}

/** The fields of a GraphQL request; a body with any other field is shown as the JSON it is. */
const GRAPHQL_FIELDS = new Set(['query', 'variables', 'operationName'])

/**
 * The body as a GraphQL request, when that is all it is. Anything else (a REST body that happens
 * to have a `query`, an `extensions` field) is shown whole: the grant allows the body as sent, so
 * approvers must see every field of it.
 */
function graphqlRequest(
  b: unknown,
): { query: string; variables: unknown; operationName: string | null } | null {
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return null
  const o = b as Record<string, unknown>
  const { query, variables, operationName } = o
  if (typeof query !== 'string' || Object.keys(o).some((k) => !GRAPHQL_FIELDS.has(k))) return null
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return null
  return { query, variables: variables ?? {}, operationName: operationName ?? null }
}

/**
 * The query as a GraphQL server reads it, without comments: a comment ends at a carriage return
 * too, so as sent, a field after one could read as part of it. As sent when it does not parse.
 */
function readable(query: string): string {
  try {
    return print(parse(query, { noLocation: true }))
  } catch {
    return query
  }
}

/** Ends an action cut to fit: padding must not pass the part shown off as the whole call. */
const CUT_NOTE =
  '[Cut to fit: the call goes on past this point. Read the whole action (GET /v1/sessions/<id>, or the console) before approving.]'

/**
 * The one gateway call an approval covers, as approvers must read it: method and path, then a
 * GraphQL body's operation and variables (or any other body), as plain text cut to fit.
 */
export function actionText(action: NonNullable<SessionRecord['action']>): string {
  const call = `${action.method} ${action.path || '/'}`
  const b = action.body
  const gql = graphqlRequest(b)
  const body =
    b === undefined || b === null
      ? []
      : gql
        ? [
            readable(gql.query),
            `Variables: ${JSON.stringify(gql.variables, null, 2)}`,
            ...(gql.operationName ? [`Operation: ${gql.operationName}`] : []),
          ]
        : [typeof b === 'string' ? b : JSON.stringify(b, null, 2)]
  const max = LIMITS.section - 10
  // Hidden characters shown as escapes, not taken out: what is shown is then the call itself.
  const text = (title: string) => showHidden([`Action (${title}): ${call}`, ...body].join('\n'))
  const whole = text('approved once, exactly as shown')
  if (whole.length <= max) return whole
  const cut = clip(text('approved once; too long to show whole'), max - CUT_NOTE.length - 1)
  return `${cut}\n${CUT_NOTE}`
}

export function renderRequest(rec: SessionRecord, ctx: RenderContext): SlackMessage {
  const status = effectiveStatus(rec, ctx.now)
  const what = `${rec.agent} requests ${rec.operation_class} on ${rec.environment}`
  const owners = rec.owners.length > 0 ? rec.owners.join(', ') : 'none'
  const fields = [
    `Agent: ${rec.agent}`,
    `Owner: ${owners}`,
    `Environment: ${rec.environment}`,
    `Operation: ${rec.operation_class}${ctx.destructive ? ' (DESTRUCTIVE)' : ''}`,
    `Provider: ${rec.provider}`,
    `TTL: ${duration(rec.ttl_seconds)}`,
    `Task: ${clip(rec.task.id, AGENT_TEXT.taskId)}`,
    `Approvers: ${rec.eligible_approvers.join(', ')}`,
    ...(rec.on_behalf_of ? [`On behalf of: ${rec.on_behalf_of}`] : []),
  ]
  const blocks: Block[] = [
    {
      type: 'header',
      text: plain(`${ctx.destructive ? '⚠️ DESTRUCTIVE: ' : ''}${what}`, LIMITS.header),
    },
    { type: 'section', fields: fields.map((f) => plain(f, LIMITS.field)) },
    {
      type: 'section',
      text: plain(
        `Task description: ${clip(rec.task.description ?? '(none)', AGENT_TEXT.description)}`,
        LIMITS.section,
      ),
    },
    {
      type: 'section',
      text: plain(
        `Justification: ${clip(rec.justification ?? '(none)', AGENT_TEXT.justification)}`,
        LIMITS.section,
      ),
    },
    ...(rec.action
      ? [{ type: 'section' as const, text: plain(actionText(rec.action), LIMITS.section) }]
      : []),
    {
      type: 'context',
      elements: [plain(progress(rec), LIMITS.context), plain(statusLine(rec, ctx.now), LIMITS.context)],
    },
  ]
  if (status === 'pending_approval') blocks.push(buttons(rec, ctx.destructive))
  blocks.push({ type: 'context', elements: [plain(`Session ${rec.id}`, LIMITS.context)] })

  const text =
    status === 'pending_approval'
      ? `Approval needed: ${what} (${rec.provider}), ${progress(rec)}`
      : `${what} (${rec.provider}): ${statusLine(rec, ctx.now)}`
  return { text: escapeMrkdwn(text), blocks }
}

function buttons(rec: SessionRecord, destructive: boolean): Block {
  const approve: Button = {
    type: 'button',
    action_id: ACTION_APPROVE,
    text: plain('Approve', LIMITS.button),
    value: rec.id,
    style: destructive ? 'danger' : 'primary',
  }
  if (destructive) {
    approve.confirm = {
      title: plain('Approve destructive access?', 100),
      text: plain(
        `${rec.agent} gets ${rec.operation_class} on ${rec.environment} (${rec.provider}) for ${duration(rec.ttl_seconds)}.`,
        300,
      ),
      confirm: plain('Approve', 30),
      deny: plain('Cancel', 30),
      style: 'danger',
    }
  }
  return {
    type: 'actions',
    block_id: `airlock_decide_${rec.id}`,
    elements: [
      approve,
      { type: 'button', action_id: ACTION_DENY, text: plain('Deny', LIMITS.button), value: rec.id },
    ],
  }
}
