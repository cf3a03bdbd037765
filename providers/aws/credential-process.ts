// The AWS SDKs' `credential_process` output for an aws grant (used by `airlock credential-process`).
// `Expiration` is the session's end, never later, even when STS issued 900 s credentials for a
// shorter session: SDKs then come back for new credentials instead of using revoked ones.
import { err } from '../../src/errors.js'

export interface CredentialProcessOutput {
  Version: 1
  AccessKeyId: string
  SecretAccessKey: string
  SessionToken: string
  Expiration: string
}

/** `grant` is the grant object of the API (docs/api.md): `{expires_at, credentials: {access_key_id, ...}}`. */
export function credentialProcessOutput(grant: {
  expires_at: string
  credentials: Record<string, unknown>
}): CredentialProcessOutput {
  const c = grant.credentials
  const field = (name: string): string => {
    const v = c[name]
    if (typeof v !== 'string' || v.length === 0)
      throw err.invalid(`the grant has no aws credential '${name}'`)
    return v
  }
  const sessionEnd = Date.parse(grant.expires_at)
  const credentialEnd = Date.parse(field('expiration'))
  if (Number.isNaN(sessionEnd) || Number.isNaN(credentialEnd))
    throw err.invalid('the grant has no valid expiry')
  return {
    Version: 1,
    AccessKeyId: field('access_key_id'),
    SecretAccessKey: field('secret_access_key'),
    SessionToken: field('session_token'),
    Expiration: new Date(Math.min(sessionEnd, credentialEnd)).toISOString(),
  }
}
