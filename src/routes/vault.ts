// The vault is write-only for people: values go in, only metadata comes out. Admins only.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { recordAfter } from '../audit/log.js'
import { err, StoreUnavailableError } from '../errors.js'
import { principalOf } from '../plugins/auth.js'
import { scrub } from '../scrub.js'
import { errors } from '../schemas/common.js'
import { Rotate, Rotated, VaultPath, VaultWrite } from '../schemas/vault.js'
import { MAX_PATH, RESERVED_PREFIX, VAULT_PATH_RE, type Vault } from '../vault/vault.js'

const vaultRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { audit } = app.broker
  const config = { roles: ['admin'] as const }
  const vault = (): Vault => {
    if (!app.broker.vault)
      throw err.unavailable('the vault is not configured (set AIRLOCK_MASTER_KEY or vault.master_key)')
    return app.broker.vault
  }
  // The vault's storage failing is named as such (not "the session store"), saying what did not
  // happen; the cause (scrubbed) goes to the log only.
  const orUnavailable = async <T>(notDone: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f()
    } catch (e) {
      if (!(e instanceof StoreUnavailableError)) throw e
      app.log.error({ err: scrub(e.message) }, 'vault storage failed')
      throw err.unavailable(`the vault cannot be reached; ${notDone}`, e)
    }
  }
  // fastify has already decoded the wildcard; decoding again would turn %25 into a crash.
  const writablePath = (path: string): string => {
    if (path.length > MAX_PATH || !VAULT_PATH_RE.test(path)) {
      throw err.invalid('path: expected segments of A-Z a-z 0-9 . _ - separated by /')
    }
    if (path.startsWith(RESERVED_PREFIX))
      throw err.forbidden(`paths under ${RESERVED_PREFIX} hold Airlock's own keys`)
    return path
  }

  app.put(
    '/v1/vault/*',
    {
      config,
      schema: {
        summary: 'Write a secret (a new version); the value is never returned',
        tags: ['vault'],
        params: VaultPath,
        body: VaultWrite,
        response: { 204: Type.Null(), ...errors(400, 401, 403, 413, 415, 503) },
      },
    },
    async (req, reply) => {
      const path = writablePath(req.params['*'])
      const actor = principalOf(req).id
      const meta = await orUnavailable('the secret was not stored', () =>
        vault().put(path, req.body.value, actor),
      )
      if (!meta) throw err.conflict('the secret changed concurrently; try again')
      await recordAfter(audit, `the secret ${path} was stored as version ${meta.version}`, {
        type: 'vault.written',
        actor,
        details: { path, version: meta.version },
      })
      return reply.code(204).send(null)
    },
  )

  app.delete(
    '/v1/vault/*',
    {
      config,
      schema: {
        summary: 'Delete a secret',
        tags: ['vault'],
        params: VaultPath,
        response: { 204: Type.Null(), ...errors(400, 401, 403, 404, 503) },
      },
    },
    async (req, reply) => {
      const path = writablePath(req.params['*'])
      const actor = principalOf(req).id
      const deleted = await orUnavailable('the secret was not deleted', () => vault().delete(path, actor))
      if (!deleted) throw err.notFound(`no secret at ${path}`)
      await recordAfter(audit, `the secret ${path} was deleted`, {
        type: 'vault.deleted',
        actor,
        details: { path },
      })
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/v1/vault',
    {
      config,
      schema: {
        summary: 'List secrets: paths and metadata only',
        tags: ['vault'],
        response: {
          200: Type.Object({ secrets: Type.Array(Type.Ref('SecretMeta')) }),
          ...errors(401, 403, 503),
        },
      },
    },
    async () => ({ secrets: await orUnavailable('try again', () => vault().list()) }),
  )

  app.post(
    '/v1/keys/rotate',
    {
      // Without a body (as earlier clients send it) a rotation keeps earlier keys for their tokens.
      config: { ...config, optionalBody: true },
      schema: {
        summary:
          'Rotate the token signing key now (tokens signed before stay valid until they expire, unless drop_previous)',
        tags: ['tokens'],
        body: Rotate,
        response: { 200: Rotated, ...errors(400, 401, 403, 409, 503) },
      },
    },
    async (req) => {
      const { keyring } = app.broker
      if (!keyring) throw err.conflict('tokens.signing_key pins the signing key; replace that file to rotate')
      const actor = principalOf(req).id
      const dropPrevious = req.body.drop_previous === true
      const rotated = await keyring.rotate(actor, { dropPrevious })
      const ks = await keyring.load()
      app.broker.tokens.setKeys(ks.active, ks.retired)
      const done = dropPrevious
        ? `signing key ${rotated.kid} is active and the earlier keys are dropped`
        : `signing key ${rotated.kid} is active`
      await recordAfter(audit, done, {
        type: 'keys.rotated',
        actor,
        details: { ...rotated, scheduled: false },
      })
      return rotated
    },
  )
}

export default vaultRoutes
