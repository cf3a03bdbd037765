// The Block Kit message of an approval request, rendered from the session record alone, so any
// replica can re-render it after any change and the message always tells the current state.
// Agent-written text (task id and description, justification) only ever appears in `plain_text`
// objects, which Slack shows literally: no mentions, links, emoji codes or formatting. It is cleaned
// of control and direction-override characters and cut to fit Slack's limits.
import { formatDuration } from '../validation/duration.js'
import { effectiveStatus, type SessionRecord } from '../domain/index.js'
import { actionView } from '../action-view.js'
import { cleanText } from '../visible.js'

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

/** Ends an action cut to fit: padding must not pass the part shown off as the whole call. */
const CUT_NOTE =
  '[Cut to fit: the call goes on past this point. Read the whole action (GET /v1/sessions/<id>, or the console) before approving.]'

/**
 * The one gateway call an approval covers, as approvers read it everywhere (actionView), as plain
 * text cut to fit.
 */
export function actionText(action: NonNullable<SessionRecord['action']>): string {
  const call = actionView(action)
  const max = LIMITS.section - 10
  const whole = `Action (approved once, exactly as shown): ${call}`
  if (whole.length <= max) return whole
  const cut = clip(`Action (approved once; too long to show whole): ${call}`, max - CUT_NOTE.length - 1)
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
