// How the Redis store keeps a session record compactly. A record is split in two:
//
// - its profile: who asked for what under which rule (agent, owners, environment, operation class,
//   provider, eligible approvers, rule, approvals required). Most sessions share theirs with many
//   others, so it is kept once, under a key named by its digest, and read through a cache (a
//   profile never changes: other content is another key).
// - the record proper: version and status (first, where the scripts read them), the profile's
//   digest, then this session's own fields, separated by US (0x1f), numbers in base 36, times as
//   offsets from created_at, and without its id (the key names it).
//
// A record that does not fit this form exactly (a control character in a string, an empty string
// where null is also possible, a field this form does not know) is kept as its JSON text, which is
// also how earlier versions kept every record: both forms read, JSON starting with `{`, the
// compact form with SOH (0x01).
import { createHash } from 'node:crypto'
import type { SessionRecord } from '../domain/session.js'
import type { Status } from '../domain/status.js'

const SOH = '\x01'
const US = '\x1f'
/** Between the items of a list (owners, eligible approvers). */
const RS = '\x1e'
/** Where an optional field (action, action_digest) is absent rather than null. */
const ABSENT = '\x1d'
/** Control characters (this form's separators) and lone surrogates (not kept by UTF-8). */
// eslint-disable-next-line no-control-regex
const UNFIT = /[\x00-\x1f]|\p{Surrogate}/u

/** The fields this form keeps; a record with any other is kept as JSON. */
const KNOWN = new Set([
  'v',
  'id',
  'status',
  'agent',
  'owners',
  'on_behalf_of',
  'task',
  'environment',
  'operation_class',
  'provider',
  'justification',
  'ttl_seconds',
  'created_at',
  'expires_at',
  'approvals_required',
  'approvals',
  'eligible_approvers',
  'rule',
  'denied_by',
  'revoked_by',
  'revoked_at',
  'jti',
  'handle',
  'action',
  'action_digest',
])

export type Profile = Pick<
  SessionRecord,
  | 'agent'
  | 'owners'
  | 'environment'
  | 'operation_class'
  | 'provider'
  | 'eligible_approvers'
  | 'rule'
  | 'approvals_required'
>

/** A record as the store writes it: the text to keep, and the profile it names (if compact). */
export interface Packed {
  text: string
  profile: { id: string; text: string } | null
}

const plain = (s: string) => !UNFIT.test(s)
const count = (n: number) => Number.isSafeInteger(n) && n >= 0
const list = (xs: string[]) => xs.every((x) => x !== '' && plain(x))
/** A nullable string: null is kept as '', so '' itself cannot be. */
const nullable = (s: string | null) => s === null || (s !== '' && plain(s))

function packProfile(rec: SessionRecord): string | null {
  const { agent, owners, environment, operation_class, provider, eligible_approvers, rule } = rec
  const strings = [agent, environment, operation_class, provider, rule]
  if (!strings.every(plain) || !list(owners) || !list(eligible_approvers)) return null
  if (!count(rec.approvals_required)) return null
  return [
    agent,
    owners.join(RS),
    environment,
    operation_class,
    provider,
    eligible_approvers.join(RS),
    rule,
    rec.approvals_required.toString(36),
  ].join(US)
}

export const profileId = (text: string): string =>
  createHash('sha256').update(text).digest('base64url').slice(0, 16)

export function unpackProfile(text: string): Profile {
  const f = text.split(US)
  const items = (s: string) => (s === '' ? [] : s.split(RS))
  return {
    agent: f[0] as string,
    owners: items(f[1] as string),
    environment: f[2] as string,
    operation_class: f[3] as string,
    provider: f[4] as string,
    eligible_approvers: items(f[5] as string),
    rule: f[6] as string,
    approvals_required: parseInt(f[7] as string, 36),
  }
}

const json = (x: unknown) => (x === undefined ? ABSENT : x === null ? '' : JSON.stringify(x))

/** The compact form of a record, or null when it has to be kept as JSON. */
export function packRecord(rec: SessionRecord): Packed | null {
  if (!Object.keys(rec).every((k) => KNOWN.has(k))) return null
  const profile = packProfile(rec)
  if (profile === null) return null
  const t0 = rec.created_at
  const since = (t: number) => t - t0
  if (!count(rec.v) || !count(t0) || !count(since(rec.expires_at)) || !count(rec.ttl_seconds)) return null
  if (rec.revoked_at !== null && !count(since(rec.revoked_at))) return null
  const { task, jti } = rec
  if (Object.keys(task).some((k) => k !== 'id' && k !== 'description')) return null
  if (task.description === undefined || rec.handle === undefined) return null
  if (!plain(task.id) || !nullable(task.description) || !nullable(rec.on_behalf_of)) return null
  if (!nullable(rec.justification) || !nullable(rec.denied_by) || !nullable(rec.revoked_by)) return null
  if (!nullable(jti) || !/^[a-z_]+$/.test(rec.status)) return null
  const digest = rec.action_digest
  if (digest !== undefined && !nullable(digest)) return null
  const id = profileId(profile)
  const text =
    `${SOH}${rec.v},${rec.status}${US}` +
    [
      id,
      t0.toString(36),
      since(rec.expires_at).toString(36),
      rec.ttl_seconds.toString(36),
      task.id,
      task.description ?? '',
      rec.on_behalf_of ?? '',
      rec.justification ?? '',
      rec.denied_by ?? '',
      rec.revoked_by ?? '',
      rec.revoked_at === null ? '' : since(rec.revoked_at).toString(36),
      jti ?? '',
      json(rec.handle),
      rec.approvals.length === 0 ? '' : JSON.stringify(rec.approvals),
      json(rec.action),
      digest === undefined ? ABSENT : (digest ?? ''),
    ].join(US)
  return { text, profile: { id, text: profile } }
}

export const isPacked = (text: string): boolean => text.startsWith(SOH)

/** The profile digest a compact record names. */
export function profileOf(text: string): string {
  const from = text.indexOf(US) + 1
  return text.slice(from, text.indexOf(US, from))
}

/** A record from its compact form, its id and its profile. */
export function unpackRecord(text: string, id: string, profile: Profile): SessionRecord {
  const comma = text.indexOf(',')
  const f = text.split(US)
  const head = f[0] as string
  const str = (i: number) => f[i] as string
  const orNull = (i: number) => (str(i) === '' ? null : str(i))
  const t0 = parseInt(str(2), 36)
  const at = (i: number) => t0 + parseInt(str(i), 36)
  const rec: SessionRecord = {
    v: Number(head.slice(1, comma)),
    id,
    status: head.slice(comma + 1) as Status,
    agent: profile.agent,
    owners: [...profile.owners],
    on_behalf_of: orNull(7),
    task: { id: str(5), description: orNull(6) },
    environment: profile.environment,
    operation_class: profile.operation_class,
    provider: profile.provider,
    justification: orNull(8),
    ttl_seconds: parseInt(str(4), 36),
    created_at: t0,
    expires_at: at(3),
    approvals_required: profile.approvals_required,
    approvals: str(14) === '' ? [] : (JSON.parse(str(14)) as SessionRecord['approvals']),
    eligible_approvers: [...profile.eligible_approvers],
    rule: profile.rule,
    denied_by: orNull(9),
    revoked_by: orNull(10),
    revoked_at: str(11) === '' ? null : at(11),
    jti: orNull(12),
    handle: str(13) === '' ? null : (JSON.parse(str(13)) as Record<string, string>),
  }
  if (str(15) !== ABSENT)
    rec.action = str(15) === '' ? null : (JSON.parse(str(15)) as SessionRecord['action'])
  if (str(16) !== ABSENT) rec.action_digest = orNull(16)
  return rec
}
