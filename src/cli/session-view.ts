// How sessions look to people: a row of `airlock sessions`, and `airlock sessions show`.
import { printTable, statusColour, dim } from './output.js'
import { timeLeft, type Session } from '../client/sessions.js'
import { actionView } from '../action-view.js'
import { showHidden } from '../visible.js'

/**
 * Text others wrote (an agent's task and justification, an approver's comment) as one inert line:
 * an escape sequence in it must not move the cursor and rewrite the lines above it.
 */
const inert = (s: string): string => showHidden(s).replace(/\n/g, '\\n').replace(/\t/g, '\\t')

export const sessionRow = (s: Session) => [
  s.id,
  statusColour(s.status),
  s.agent,
  s.environment,
  s.operation_class,
  s.provider,
  s.task.id,
  s.status === 'pending_approval' ? `${s.approvals.length}/${s.approvals_required}` : '',
  dim(untilCell(s)),
]

/** Time left only while the session is live: a finished session's deadline means nothing. */
const LIVE = new Set(['pending_approval', 'approved', 'active'])
const untilCell = (s: Session) => (LIVE.has(s.status) ? timeLeft(s.expires_at) : '-')

/** `sessions show`: one field a line. */
export function printSessionDetail(s: Session) {
  const rows: [string, string][] = [
    ['id', s.id],
    ['status', statusColour(s.status)],
    ['agent', s.agent],
    ['on behalf of', s.on_behalf_of ?? '-'],
    ['task', `${s.task.id}${s.task.description ? ` (${inert(s.task.description)})` : ''}`],
    ['environment', s.environment],
    ['class', s.operation_class],
    ['provider', s.provider],
    // The call on its line, its body on the lines below it (each inert, so none can redraw others).
    ...(s.action
      ? actionView(s.action)
          .split('\n')
          .map((l, i): [string, string] => [i === 0 ? 'action' : '', inert(l)])
      : []),
    ['justification', s.justification === null ? '-' : inert(s.justification)],
    ['ttl', `${s.ttl_seconds}s`],
    ['created', s.created_at],
    ['expires', LIVE.has(s.status) ? `${s.expires_at} (${timeLeft(s.expires_at)})` : s.expires_at],
    [
      'approvals',
      `${s.approvals.length} of ${s.approvals_required}` +
        s.approvals
          .map((a) => `; ${a.by} via ${a.via} at ${a.at}${a.comment ? `: ${inert(a.comment)}` : ''}`)
          .join(''),
    ],
    ...(s.denied_by ? [['denied by', s.denied_by] as [string, string]] : []),
    ...(s.revoked_by
      ? [['revoked by', `${s.revoked_by} at ${s.revoked_at ?? '?'}`] as [string, string]]
      : []),
  ]
  printTable(['FIELD', 'VALUE'], rows)
}
