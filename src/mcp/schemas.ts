// The MCP tools' inputs and outputs (zod, as the SDK takes them; it publishes them as JSON Schema).
// Inputs are strict: a misspelt option (`timeout_second`) is refused by name rather than dropped,
// which would run the call with the default the model did not mean. Lengths are bounded (names as
// the broker's) so that an error names the field instead of echoing a huge value back.
import { z } from 'zod'
import { NAME, TASK_ID } from '../schemas/common.js'

/** A config name as the broker takes it, refused here under the tool's own field name. */
const name = (what: string) =>
  z
    .string()
    .min(1)
    .max(NAME.maxLength)
    .regex(new RegExp(NAME.pattern), 'letters, digits, ".", "_" and "-" only, as the config names it')
    .describe(what)

// As the broker spells session ids (ASCII letters, digits, `_`): anything else is refused here, by
// the field's name, rather than as a path error or an encoding failure.
const sessionId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_]+$/, 'a session_id as request_access returned it, such as ses_0123abcd')
  .describe('the session_id that request_access returned')
/** The same for an action and for the request that uses it. */
const method = z.string().regex(/^[A-Za-z]{1,16}$/, 'an HTTP method such as GET or POST')
const waitSeconds = z
  .number()
  .int()
  .min(0)
  .max(3600)
  .describe(
    "wait up to this many seconds for approvals (never past the approval deadline); keep it under the host's tool-call timeout, then wait more with access_status",
  )

export const requestAccessInput = z.strictObject({
  environment: name('environment, e.g. "staging"'),
  operation_class: name('kind of action, e.g. "read", "write", "destructive"'),
  provider: name('credential provider, e.g. "aws-main"'),
  task_id: z
    .string()
    .min(TASK_ID.minLength)
    .max(TASK_ID.maxLength)
    .regex(new RegExp(TASK_ID.pattern), 'letters, digits and . _ : / - only, e.g. "JIRA-123"')
    .describe('the task this access is for, e.g. "JIRA-123"'),
  task_description: z.string().max(500).optional().describe('what the task is, shown to approvers'),
  justification: z.string().max(1000).optional().describe('why this access is needed, shown to approvers'),
  ttl: z
    .union([z.string().max(16), z.number().int().positive()])
    .optional()
    .describe('credential lifetime: a duration like "15m" or seconds (clamped by policy)'),
  action: z
    .strictObject({ method, path: z.string().max(8192), body: z.unknown().optional() })
    .optional()
    .describe('for a gateway provider: the exact request the approval is for (destructive classes need it)'),
  wait_seconds: waitSeconds.optional(),
})

export const accessStatusInput = z.strictObject({
  session_id: sessionId,
  wait_seconds: waitSeconds.optional(),
})

export const runWithAccessInput = z.strictObject({
  session_id: sessionId,
  // What spawn would refuse, refused here by field (spawn counts arguments from 0 after the program).
  command: z
    .array(z.string().regex(/^[^\0]*$/, 'an argument cannot hold a NUL character'))
    .min(1)
    .refine((c) => c[0] !== '', { message: 'the program (the first element) cannot be empty', path: [0] })
    .describe('the program and its arguments, run without a shell (use ["sh", "-c", "..."] for one)'),
  cwd: z.string().max(4096).optional().describe('working directory (default: where the server runs)'),
  stdin: z.string().max(1_000_000).optional().describe('text given to the command on its standard input'),
  timeout_seconds: z
    .number()
    .int()
    .min(1)
    .max(3600)
    .optional()
    .describe('kill the command and everything it started after this many seconds (default 120)'),
})

export const gatewayRequestInput = z.strictObject({
  session_id: sessionId,
  method,
  path: z
    .string()
    .max(8192)
    .describe(
      'path under the gateway URL, with any query string, e.g. "/v1/items?limit=5" or "" for the root',
    ),
  body: z
    .unknown()
    .optional()
    .describe('request body: JSON (sent as application/json), or a string sent as it is'),
})

export const releaseAccessInput = z.strictObject({ session_id: sessionId })

const approval = z.object({
  by: z.string(),
  via: z.string(),
  at: z.string(),
  comment: z.string().nullable(),
})

export const accessOutput = {
  session_id: z.string(),
  status: z.string().describe('pending_approval | approved | active | denied | expired | revoked'),
  environment: z.string(),
  operation_class: z.string(),
  provider: z.string(),
  approvals_required: z.number(),
  approvals: z.array(approval),
  expires_at: z
    .string()
    .describe('pending: approval deadline; approved: claim deadline; active: credential expiry'),
  message: z.string().describe('what the status means and what to do next'),
}

export const runOutput = {
  exit_code: z.number().nullable().describe('null when the command ended by a signal'),
  signal: z.string().nullable(),
  timed_out: z.boolean(),
  stdout: z.string(),
  stderr: z.string(),
  stdout_truncated: z.boolean(),
  stderr_truncated: z.boolean(),
}

export const gatewayOutput = {
  status: z.number().describe("the upstream's HTTP status"),
  content_type: z.string().nullable(),
  body: z.string(),
  body_truncated: z.boolean(),
}
