// A local stand-in for AWS STS and IAM that speaks their query protocol: form-encoded
// `Action=...` POSTs, SigV4-signed (verified here with the caller's secret), answered with XML in
// the services' real namespaces and real error shapes and statuses. The real SDK clients are
// pointed at it by `endpoint`. Every call is recorded so tests can assert exact parameters.
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/'
const IAM_NS = 'https://iam.amazonaws.com/doc/2010-05-08/'
const STS_ACTIONS = new Set(['AssumeRole', 'GetCallerIdentity'])
const IAM_ACTIONS = new Set(['GetRole', 'PutRolePolicy', 'GetRolePolicy', 'DeleteRolePolicy'])
/** IAM: a role's inline policies together may hold 10,240 characters, whitespace not counted. */
const ROLE_POLICY_QUOTA = 10_240

export interface Identity {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  arn: string
  account: string
  userId: string
  expiresAt?: number
}

export interface FakeRole {
  arn: string
  name: string
  account: string
  roleId: string
  maxSessionDuration: number
  externalId: string | null
  /** Caller ARNs allowed to assume it (its trust policy). */
  trusted: Set<string>
  inline: Map<string, string>
}

export interface AwsCall {
  service: 'sts' | 'iam'
  action: string
  params: Record<string, string>
  /** The caller's ARN (an IAM user, or an assumed-role session). */
  caller: string
  accessKeyId: string
  status: number
}

export interface AwsErrorSpec {
  status: number
  code: string
  message: string
  type?: 'Sender' | 'Receiver'
}

export const THROTTLING: AwsErrorSpec = { status: 400, code: 'Throttling', message: 'Rate exceeded' }
export const SERVICE_UNAVAILABLE: AwsErrorSpec = {
  status: 503,
  code: 'ServiceUnavailable',
  message: 'Service is unable to handle request.',
  type: 'Receiver',
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex')
const hmac = (key: Buffer | string, s: string) => createHmac('sha256', key).update(s).digest()
const idOf = (prefix: string) => prefix + randomBytes(10).toString('hex').toUpperCase().slice(0, 17)

export interface FakeAws {
  url: string
  calls: AwsCall[]
  roles: Map<string, FakeRole>
  identities: Map<string, Identity>
  /** The next calls of `action` fail with these errors, in order. */
  fail(action: string, ...errors: AwsErrorSpec[]): void
  /** Every call of `action` answers only after `ms` (widens race windows; 0 to stop). */
  slow(action: string, ms: number): void
  /** Holds the next call of `action` until `release()`; `arrived` resolves when it comes in. */
  hold(action: string): { arrived: Promise<void>; release(): void }
  /** Resolves when the next call of `action` comes in. */
  nextCall(action: string): Promise<void>
  addRole(
    arn: string,
    opts?: { trusted?: string[]; externalId?: string; maxSessionDuration?: number },
  ): FakeRole
  addUser(arn: string, accessKeyId: string, secretAccessKey: string): Identity
  /** Calls of one action, in order. */
  callsOf(action: string): AwsCall[]
  /** The role's inline policy, parsed (null if absent). */
  policyOf(roleArn: string, name: string): any
  close(): Promise<void>
}

export async function fakeAws(opts: { now?: () => number } = {}): Promise<FakeAws> {
  const now = opts.now ?? (() => Date.now())
  const calls: AwsCall[] = []
  const roles = new Map<string, FakeRole>()
  const identities = new Map<string, Identity>()
  const failures = new Map<string, AwsErrorSpec[]>()
  const latency = new Map<string, number>()
  const holds = new Map<string, { arrived: () => void; released: Promise<void> }>()
  const watchers = new Map<string, (() => void)[]>()

  const send = (res: ServerResponse, status: number, xml: string) => {
    res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() })
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`)
  }
  const ok = (res: ServerResponse, ns: string, action: string, result: string) =>
    send(
      res,
      200,
      `<${action}Response xmlns="${ns}">${result ? `<${action}Result>${result}</${action}Result>` : ''}` +
        `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
    )
  const error = (res: ServerResponse, ns: string, e: AwsErrorSpec) =>
    send(
      res,
      e.status,
      `<ErrorResponse xmlns="${ns}"><Error><Type>${e.type ?? 'Sender'}</Type><Code>${e.code}</Code>` +
        `<Message>${esc(e.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
    )

  /** SigV4: recompute the signature with the secret of the key the request names. */
  function authenticate(req: IncomingMessage, body: string, service: string): Identity | AwsErrorSpec {
    const auth = req.headers['authorization'] ?? ''
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
        auth,
      )
    if (!m)
      return {
        status: 403,
        code: 'IncompleteSignature',
        message: 'Authorization header requires a SigV4 signature',
      }
    const [, akid, date, region, svc, signedHeaders, signature] = m as unknown as string[]
    const id = identities.get(akid!)
    if (!id || (id.expiresAt !== undefined && id.expiresAt <= now())) {
      return {
        status: 403,
        code: 'InvalidClientTokenId',
        message: 'The security token included in the request is invalid.',
      }
    }
    if (svc !== service)
      return {
        status: 403,
        code: 'SignatureDoesNotMatch',
        message: `Credential should be scoped to correct service: '${service}'.`,
      }
    if (id.sessionToken !== undefined && req.headers['x-amz-security-token'] !== id.sessionToken) {
      return {
        status: 403,
        code: 'InvalidClientTokenId',
        message: 'The security token included in the request is invalid.',
      }
    }
    const amzDate = String(req.headers['x-amz-date'] ?? '')
    const names = signedHeaders!.split(';')
    if (
      !names.includes('host') ||
      !names.includes('x-amz-date') ||
      (id.sessionToken && !names.includes('x-amz-security-token'))
    ) {
      return { status: 403, code: 'SignatureDoesNotMatch', message: 'required headers are not signed' }
    }
    const canonicalHeaders = names
      .map(
        (n) =>
          `${n}:${String(req.headers[n] ?? '')
            .trim()
            .replace(/\s+/g, ' ')}\n`,
      )
      .join('')
    const [path = '/', query = ''] = (req.url ?? '/').split('?')
    const payloadHash = String(req.headers['x-amz-content-sha256'] ?? sha256(body))
    const canonical = [req.method, path, query, canonicalHeaders, signedHeaders, payloadHash].join('\n')
    const scope = `${date}/${region}/${svc}/aws4_request`
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n')
    let key = hmac(`AWS4${id.secretAccessKey}`, date!)
    for (const part of [region!, svc!, 'aws4_request']) key = hmac(key, part)
    if (createHmac('sha256', key).update(toSign).digest('hex') !== signature) {
      return {
        status: 403,
        code: 'SignatureDoesNotMatch',
        message: 'The request signature we calculated does not match the signature you provided.',
      }
    }
    return id
  }

  function assumeRole(caller: Identity, p: Record<string, string>): AwsErrorSpec | string {
    const role = roles.get(p['RoleArn'] ?? '')
    const denied = {
      status: 403,
      code: 'AccessDenied',
      message: `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${p['RoleArn']}`,
    }
    if (!role || !role.trusted.has(caller.arn)) return denied
    if (role.externalId !== null && p['ExternalId'] !== role.externalId) return denied
    const name = p['RoleSessionName'] ?? ''
    if (!/^[\w+=,.@-]{2,64}$/.test(name))
      return validation(`Value '${name}' at 'roleSessionName' failed to satisfy constraint`)
    const duration = Number(p['DurationSeconds'] ?? 3600)
    if (!Number.isInteger(duration) || duration < 900)
      return validation(
        `Value '${p['DurationSeconds']}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900`,
      )
    if (duration > role.maxSessionDuration)
      return validation('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.')
    const src = p['SourceIdentity']
    if (src !== undefined && (!/^[\w+=,.@-]{2,64}$/.test(src) || src.startsWith('aws:')))
      return validation(`Value '${src}' at 'sourceIdentity' failed to satisfy constraint`)
    if (p['Policy'] !== undefined) {
      if (p['Policy'].length > 2048)
        return validation(
          "Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048",
        )
      try {
        JSON.parse(p['Policy'])
      } catch {
        return {
          status: 400,
          code: 'MalformedPolicyDocument',
          message: 'The policy is not in the valid JSON format.',
        }
      }
    }
    for (let i = 1; p[`Tags.member.${i}.Key`] !== undefined; i++) {
      const k = p[`Tags.member.${i}.Key`]!
      const v = p[`Tags.member.${i}.Value`] ?? ''
      if (!/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u.test(k) || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u.test(v))
        return validation(
          `Value at 'tags.${i}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`,
        )
    }
    const session: Identity = {
      accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: `FwoGZXIvYXdzE${randomBytes(48).toString('base64')}`,
      arn: `arn:aws:sts::${role.account}:assumed-role/${role.name}/${name}`,
      account: role.account,
      userId: `${role.roleId}:${name}`,
      expiresAt: now() + duration * 1000,
    }
    identities.set(session.accessKeyId, session)
    return (
      (src !== undefined ? `<SourceIdentity>${esc(src)}</SourceIdentity>` : '') +
      `<AssumedRoleUser><AssumedRoleId>${esc(session.userId)}</AssumedRoleId><Arn>${esc(session.arn)}</Arn></AssumedRoleUser>` +
      `<Credentials><AccessKeyId>${session.accessKeyId}</AccessKeyId><SecretAccessKey>${esc(session.secretAccessKey)}</SecretAccessKey>` +
      `<SessionToken>${esc(session.sessionToken!)}</SessionToken><Expiration>${new Date(session.expiresAt!).toISOString()}</Expiration></Credentials>` +
      `<PackedPolicySize>${Math.min(99, Math.ceil(((p['Policy'] ?? '').length / 2048) * 100))}</PackedPolicySize>`
    )
  }

  const validation = (message: string): AwsErrorSpec => ({ status: 400, code: 'ValidationError', message })

  /** IAM works within the caller's own account. */
  function roleFor(caller: Identity, p: Record<string, string>): FakeRole | AwsErrorSpec {
    const name = p['RoleName'] ?? ''
    const role = [...roles.values()].find((r) => r.name === name && r.account === caller.account)
    return (
      role ?? { status: 404, code: 'NoSuchEntity', message: `The role with name ${name} cannot be found.` }
    )
  }

  function iam(caller: Identity, action: string, p: Record<string, string>): AwsErrorSpec | string {
    const role = roleFor(caller, p)
    if ('code' in role) return role
    const policyName = p['PolicyName'] ?? ''
    switch (action) {
      case 'GetRole':
        return (
          `<Role><Path>/</Path><RoleName>${esc(role.name)}</RoleName><RoleId>${role.roleId}</RoleId><Arn>${esc(role.arn)}</Arn>` +
          `<CreateDate>2024-01-01T00:00:00Z</CreateDate><AssumeRolePolicyDocument>${encodeURIComponent('{"Version":"2012-10-17","Statement":[]}')}</AssumeRolePolicyDocument>` +
          `<MaxSessionDuration>${role.maxSessionDuration}</MaxSessionDuration></Role>`
        )
      case 'PutRolePolicy': {
        const doc = p['PolicyDocument'] ?? ''
        try {
          JSON.parse(doc)
        } catch {
          return { status: 400, code: 'MalformedPolicyDocument', message: 'Syntax errors in policy.' }
        }
        let total = doc.replace(/\s/g, '').length
        for (const [n, d] of role.inline) if (n !== policyName) total += d.replace(/\s/g, '').length
        if (total > ROLE_POLICY_QUOTA)
          return {
            status: 409,
            code: 'LimitExceeded',
            message: `Maximum policy size of ${ROLE_POLICY_QUOTA} bytes exceeded for role ${role.name}`,
          }
        role.inline.set(policyName, doc)
        return ''
      }
      case 'GetRolePolicy': {
        const doc = role.inline.get(policyName)
        if (doc === undefined)
          return {
            status: 404,
            code: 'NoSuchEntity',
            message: `The role policy with name ${policyName} cannot be found.`,
          }
        // IAM returns policy documents URL-encoded (RFC 3986).
        return `<PolicyName>${esc(policyName)}</PolicyName><RoleName>${esc(role.name)}</RoleName><PolicyDocument>${encodeURIComponent(doc)}</PolicyDocument>`
      }
      case 'DeleteRolePolicy':
        if (!role.inline.delete(policyName))
          return {
            status: 404,
            code: 'NoSuchEntity',
            message: `The role policy with name ${policyName} cannot be found.`,
          }
        return ''
    }
    return { status: 400, code: 'InvalidAction', message: `Could not find operation ${action}` }
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks).toString('utf8')
    const params = Object.fromEntries(new URLSearchParams(body))
    const action = params['Action'] ?? ''
    const service = STS_ACTIONS.has(action) ? 'sts' : IAM_ACTIONS.has(action) ? 'iam' : null
    if (req.method !== 'POST' || service === null) {
      return error(res, STS_NS, {
        status: 400,
        code: 'InvalidAction',
        message: `Could not find operation ${action}`,
      })
    }
    const ns = service === 'sts' ? STS_NS : IAM_NS
    const auth = authenticate(req, body, service)
    const record = (caller: string, status: number) =>
      calls.push({
        service,
        action,
        params,
        caller,
        accessKeyId: 'code' in auth ? '' : auth.accessKeyId,
        status,
      })
    if ('code' in auth) {
      record('', auth.status)
      return error(res, ns, auth)
    }
    for (const w of watchers.get(action)?.splice(0) ?? []) w()
    const held = holds.get(action)
    if (held) {
      holds.delete(action)
      held.arrived()
      await held.released
    }
    const delay = latency.get(action) ?? 0
    if (delay > 0) await new Promise((r) => setTimeout(r, delay))
    const scripted = failures.get(action)?.shift()
    if (scripted) {
      record(auth.arn, scripted.status)
      return error(res, ns, scripted)
    }
    const result =
      action === 'AssumeRole'
        ? assumeRole(auth, params)
        : action === 'GetCallerIdentity'
          ? `<Arn>${esc(auth.arn)}</Arn><UserId>${esc(auth.userId)}</UserId><Account>${auth.account}</Account>`
          : iam(auth, action, params)
    if (typeof result !== 'string') {
      record(auth.arn, result.status)
      return error(res, ns, result)
    }
    record(auth.arn, 200)
    ok(res, ns, action, result)
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() =>
      error(res, STS_NS, {
        status: 500,
        code: 'InternalFailure',
        message: 'internal failure',
        type: 'Receiver',
      }),
    )
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    roles,
    identities,
    fail(action, ...errors) {
      failures.set(action, [...(failures.get(action) ?? []), ...errors])
    },
    slow(action, ms) {
      latency.set(action, ms)
    },
    hold(action) {
      let arrived!: () => void
      let release!: () => void
      const a = new Promise<void>((r) => (arrived = r))
      const released = new Promise<void>((r) => (release = r))
      holds.set(action, { arrived, released })
      return { arrived: a, release }
    },
    nextCall(action) {
      return new Promise<void>((r) => watchers.set(action, [...(watchers.get(action) ?? []), r]))
    },
    addRole(arn, o = {}) {
      const m = /^arn:aws:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(arn)
      if (!m) throw new Error(`bad role ARN ${arn}`)
      const role: FakeRole = {
        arn,
        name: m[2]!,
        account: m[1]!,
        roleId: idOf('AROA'),
        maxSessionDuration: o.maxSessionDuration ?? 3600,
        externalId: o.externalId ?? null,
        trusted: new Set(o.trusted ?? []),
        inline: new Map(),
      }
      roles.set(arn, role)
      return role
    },
    addUser(arn, accessKeyId, secretAccessKey) {
      const account = /^arn:aws:iam::(\d{12}):/.exec(arn)?.[1] ?? '000000000000'
      const id: Identity = { accessKeyId, secretAccessKey, arn, account, userId: idOf('AIDA') }
      identities.set(accessKeyId, id)
      return id
    },
    callsOf: (action) => calls.filter((c) => c.action === action),
    policyOf(roleArn, name) {
      const doc = roles.get(roleArn)?.inline.get(name)
      return doc === undefined ? null : JSON.parse(doc)
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

/** The session tags of an AssumeRole call, as a map. */
export function tagsOf(call: AwsCall): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 1; call.params[`Tags.member.${i}.Key`] !== undefined; i++) {
    out[call.params[`Tags.member.${i}.Key`]!] = call.params[`Tags.member.${i}.Value`] ?? ''
  }
  return out
}
