// Operator quarantines. Creating a lock first makes it visible to every create/claim/introspect
// check (they test the lock index atomically), then revokes what is already live.
import type { Static } from '@sinclair/typebox'
import { recordAfter, type AuditLog } from '../audit/log.js'
import type { LockRequest as LockRequestSchema } from '../schemas/lock.js'
import type { Clock } from '../clock.js'
import { err } from '../errors.js'
import { unknownName } from '../suggest.js'
import { newLockId } from '../ids.js'
import type { Runtime } from '../runtime.js'
import type { SessionService } from '../sessions/service.js'
import { ReplicaAckError } from '../store/durable.js'
import type { LockStore } from '../store/types.js'
import { lockCovers, lockMatch, lockToPublic, type Lock } from '../domain/lock.js'
import { scopeOf } from '../domain/session.js'

export type LockRequest = Static<typeof LockRequestSchema>

/** The last moment RFC 3339 can write (its years have four digits). */
const LAST_RFC3339_MS = Date.parse('9999-12-31T23:59:59.999Z')

export function createLockService(deps: {
  store: LockStore
  sessions: SessionService
  audit: AuditLog
  clock: Clock
  runtime: () => Runtime
}) {
  const { store, sessions, audit, clock } = deps
  return {
    async create(by: string, body: LockRequest) {
      const rt = deps.runtime()
      if (!body.agent && !body.environment && !body.provider && !body.task_id) {
        throw err.invalid('a lock names at least one of agent, environment, provider, task_id')
      }
      // A lock that names something else than meant would quarantine nothing: say what was meant.
      const known = [
        ['agent', body.agent, rt.agents],
        ['environment', body.environment, rt.environments],
        ['provider', body.provider, rt.providers],
      ] as const
      for (const [what, name, names] of known) {
        if (name !== undefined && !names.has(name))
          throw err.invalid(`${what}: ${unknownName(what, name, names.keys())}`)
      }
      const now = clock.now()
      let expiresAt: number | null = null
      if (body.expires_at !== undefined) {
        expiresAt = Date.parse(body.expires_at)
        if (!Number.isFinite(expiresAt)) throw err.invalid('expires_at: expected an RFC 3339 time')
        if (expiresAt <= now) throw err.invalid('expires_at: must be in the future')
        // Past year 9999 (UTC) a time has no RFC 3339 form to answer with.
        if (expiresAt > LAST_RFC3339_MS)
          throw err.invalid(
            'expires_at: at most 9999-12-31T23:59:59Z; leave it out for a lock that never expires',
          )
      }
      const lock: Lock = {
        id: newLockId(),
        agent: body.agent ?? null,
        environment: body.environment ?? null,
        provider: body.provider ?? null,
        task_id: body.task_id ?? null,
        reason: body.reason,
        expires_at: expiresAt,
        created_by: by,
        created_at: now,
      }
      // A lock the replicas did not acknowledge in time still holds on the primary: its sessions
      // are revoked and it is audited all the same, then the caller gets the 503 (and may retry).
      let unacked: ReplicaAckError | null = null
      const unconfirmed = (e: unknown) => {
        if (!(e instanceof ReplicaAckError)) throw e
        unacked = e
      }
      await store.putLock(lock).catch(unconfirmed)
      // Once the lock is written it holds (its sessions are refused everywhere), so it is audited
      // even when its sweep could not revoke every session it covers (those would come back when
      // it is lifted): the caller hears which lock holds, and that a bulk revoke finishes the job.
      let incomplete: unknown = null
      const revoked = await sessions
        .revokeMatching(by, `lock ${lock.id}: ${lock.reason}`, (r) =>
          lockCovers(lock, scopeOf(r), clock.now()),
        )
        .catch((e: unknown) => {
          if (e instanceof ReplicaAckError) unacked = e
          else incomplete = e
          return [] as string[]
        })
      await recordAfter(audit, `lock ${lock.id} holds`, {
        type: 'lock.created',
        actor: by,
        details: {
          lock: lockToPublic(lock),
          revoked,
          ...(incomplete !== null && { revocation_incomplete: true }),
        },
      })
      if (incomplete !== null) {
        const filter = JSON.stringify(lockMatch(lock))
        throw err.unavailable(
          `lock ${lock.id} holds, but not every session it covers could be revoked; revoke them with POST /v1/sessions/revoke ${filter} rather than locking again`,
          incomplete,
        )
      }
      if (unacked) throw unacked
      return { lock: lockToPublic(lock), revoked_sessions: revoked }
    },

    async list() {
      const now = clock.now()
      return (await store.listLocks())
        .filter((l) => l.expires_at === null || l.expires_at > now)
        .sort((a, b) => a.created_at - b.created_at)
        .map(lockToPublic)
    },

    async remove(by: string, id: string) {
      const lock = await store.deleteLock(id)
      if (!lock) throw err.notFound('no such lock')
      await recordAfter(audit, `lock ${lock.id} was lifted`, {
        type: 'lock.deleted',
        actor: by,
        details: { lock: lockToPublic(lock) },
      })
      return lockToPublic(lock)
    },

    /** Sweeper: forget locks past their expiry. */
    async dropExpired(): Promise<number> {
      const now = clock.now()
      let n = 0
      for (const l of await store.listLocks()) {
        if (l.expires_at !== null && l.expires_at <= now && (await store.deleteLock(l.id))) {
          await audit.record({ type: 'lock.expired', actor: 'airlock', details: { lock: lockToPublic(l) } })
          n++
        }
      }
      return n
    },
  }
}

export type LockService = ReturnType<typeof createLockService>
