// The one reviewed list of IAM actions that destroy (data, infrastructure, or the guard rails that
// protect them) or hand out more power than the session was granted. An operation class not
// marked destructive (two approvals) may not have an action pattern that can match any entry,
// including through a wildcard (ec2:*, s3:Put*, *). Add an entry with its reason; never remove
// one without a review. Patterns are IAM's: `*` any run of characters, `?` one; case-insensitive.
//
// Entries of the form `*:Verb*` cover every service; the rest name the actions that destroy
// without saying so in their verb.

export interface DestructiveEntry {
  pattern: string
  reason: string
}

export const DESTRUCTIVE_ACTIONS: readonly DestructiveEntry[] = [
  // Verbs that destroy whatever service they belong to.
  { pattern: '*:Delete*', reason: 'deletes a resource or its data' },
  { pattern: '*:Terminate*', reason: 'terminates instances, clusters or environments' },
  { pattern: '*:Destroy*', reason: 'destroys a resource' },
  { pattern: '*:Drop*', reason: 'drops data' },
  { pattern: '*:Purge*', reason: 'purges queued or stored data' },
  { pattern: '*:Remove*', reason: 'removes resources, permissions or members' },
  { pattern: '*:Deregister*', reason: 'deregisters images, targets or task definitions' },
  { pattern: '*:Disassociate*', reason: 'cuts a resource off from what it serves' },
  { pattern: '*:Detach*', reason: 'detaches volumes, policies or gateways' },
  {
    pattern: '*:Disable*',
    reason: 'disables keys, logging or protections (kms:DisableKey makes data unreadable)',
  },
  // Policies: replacing one can lock everyone out of a resource or grant anyone everything.
  {
    pattern: '*:Put*Policy',
    reason:
      'replaces a resource or identity policy (s3:PutBucketPolicy, kms:PutKeyPolicy, iam:PutRolePolicy)',
  },
  {
    pattern: '*:Attach*Policy',
    reason: 'attaches a managed policy: privilege escalation (iam:AttachRolePolicy)',
  },
  { pattern: 'iam:UpdateAssumeRolePolicy', reason: 'changes who may assume a role: privilege escalation' },
  { pattern: 'iam:CreatePolicyVersion', reason: 'rewrites a managed policy (and can make it the default)' },
  { pattern: 'iam:SetDefaultPolicyVersion', reason: 'switches a managed policy to another version' },
  // KMS: a scheduled deletion destroys everything encrypted under the key once it runs.
  {
    pattern: 'kms:ScheduleKeyDeletion',
    reason: 'deletes the key (and so its data) after the waiting period',
  },
  // S3: rules that delete objects later, or stop keeping the versions that would undo a mistake.
  { pattern: 's3:PutLifecycleConfiguration', reason: 'an expiration rule deletes objects' },
  { pattern: 's3:PutBucketLifecycle', reason: 'an expiration rule deletes objects (older API name)' },
  { pattern: 's3:PutBucketVersioning', reason: 'suspending versioning lets overwrites destroy data' },
  { pattern: 's3:PutBucketObjectLockConfiguration', reason: 'changes the retention that protects objects' },
  { pattern: 's3:BypassGovernanceRetention', reason: 'deletes objects under governance-mode retention' },
  // Modify calls that turn off deletion protection or drop backups.
  {
    pattern: 'rds:ModifyDBInstance',
    reason: 'can turn off deletion protection and set backup retention to 0 (deletes automated backups)',
  },
  { pattern: 'rds:ModifyDBCluster', reason: 'can turn off deletion protection and shorten backup retention' },
  {
    pattern: 'ec2:ModifyInstanceAttribute',
    reason: 'can turn off termination protection (disableApiTermination)',
  },
  { pattern: 'dynamodb:UpdateTable', reason: 'can turn off deletion protection' },
  { pattern: 'dynamodb:UpdateContinuousBackups', reason: 'can turn off point-in-time recovery' },
  { pattern: 'cloudtrail:StopLogging', reason: 'stops the audit trail of everything that follows' },
  // Ways out of the just-in-time boundary: long-lived keys, or another principal's access.
  { pattern: 'iam:CreateAccessKey', reason: 'mints a long-lived access key that outlives the session' },
  { pattern: 'iam:PassRole', reason: 'hands a (possibly stronger) role to a service the session controls' },
  { pattern: '*:AddPermission', reason: 'grants another principal, or everyone, access to a resource' },
  {
    pattern: '*:Add*Permission',
    reason: 'grants another account access (lambda:AddLayerVersionPermission)',
  },
  { pattern: '*:PartiQLDelete', reason: 'deletes items through PartiQL' },
  {
    pattern: '*:Batch*Delete*',
    reason: 'deletes many resources at once (ecr:BatchDeleteImage, glue:BatchDeleteTable)',
  },
  {
    pattern: 'dynamodb:BatchWriteItem',
    reason: 'its DeleteRequests delete items, checked against this action alone, not DeleteItem',
  },
  { pattern: '*:Release*', reason: 'releases addresses or hosts, which may not come back' },
  { pattern: 'iam:CreateLoginProfile', reason: 'gives a user a console password that outlives the session' },
  { pattern: 'iam:UpdateLoginProfile', reason: "sets a user's console password, which outlives the session" },
  {
    pattern: 'iam:CreateServiceSpecificCredential',
    reason: 'mints a long-lived credential that outlives the session',
  },
  { pattern: 'iam:Upload*', reason: 'adds an SSH key or certificate that outlives the session' },
  { pattern: 'iam:AddUserToGroup', reason: "gives a user a group's (possibly stronger) policies" },
  {
    pattern: 'sts:AssumeRole*',
    reason: "takes another role, whose credentials this session's revocation does not reach",
  },
  { pattern: 'ssm:SendCommand', reason: 'runs commands on instances with their role' },
  {
    pattern: 'lambda:UpdateFunctionCode',
    reason: "runs code of the session's choosing with the function's role",
  },
  {
    pattern: 'codebuild:StartBuild',
    reason: "runs a build (its commands can be overridden) with the project's role",
  },
  {
    pattern: 'codebuild:StartBuildBatch',
    reason: "runs builds (their commands can be overridden) with the project's role",
  },
  { pattern: 'ssm:StartSession', reason: 'opens a shell on instances, which run with their role' },
  { pattern: 'ecs:ExecuteCommand', reason: 'opens a shell in a container, which runs with its task role' },
  {
    pattern: 'ec2-instance-connect:Send*SSHPublicKey',
    reason: 'lets a key of the session log in to an instance, which runs with its role',
  },
  {
    pattern: 'lambda:UpdateFunctionConfiguration',
    reason: "adds layers (code of the session's choosing) to a function that runs with its role",
  },
  // Changes checked against this action alone that can delete what they name.
  {
    pattern: 'cloudformation:UpdateStack*',
    reason: "a template without a resource deletes it, with the stack's role",
  },
  {
    pattern: 'cloudformation:ExecuteChangeSet',
    reason: "applies a change set, deletions included, with the stack's role",
  },
  { pattern: 'route53:ChangeResourceRecordSets', reason: 'its DELETE changes delete DNS records' },
  // Sharing: a resource handed to another account, or to everyone, outlives the session.
  { pattern: '*:Put*Acl', reason: 'shares a bucket or object with other accounts or everyone' },
  { pattern: '*:Put*PublicAccessBlock', reason: 'can turn off the block on public access' },
  { pattern: '*:Set*Policy', reason: 'replaces a resource policy (ecr:SetRepositoryPolicy)' },
  { pattern: 'kms:CreateGrant', reason: 'lets another principal use the key' },
  {
    pattern: '*:Modify*SnapshotAttribute',
    reason: 'shares a snapshot with other accounts or everyone',
  },
  { pattern: 'ec2:ModifyImageAttribute', reason: 'shares an image (AMI) with other accounts or everyone' },
]

const lower = (s: string) => s.toLowerCase()

/**
 * Whether two IAM patterns can match a common action: a walk over both patterns at once, where a
 * `*` either ends or swallows one more character (or `?`, or the other's `*`) of the other side.
 */
export function patternsOverlap(a: string, b: string): boolean {
  const x = lower(a)
  const y = lower(b)
  const seen = new Set<number>()
  const go = (i: number, j: number): boolean => {
    const key = i * (y.length + 1) + j
    if (seen.has(key)) return false
    seen.add(key)
    if (i === x.length && j === y.length) return true
    if (x[i] === '*' && (go(i + 1, j) || (j < y.length && go(i, j + 1)))) return true
    if (y[j] === '*' && (go(i, j + 1) || (i < x.length && go(i + 1, j)))) return true
    if (i === x.length || j === y.length || x[i] === '*' || y[j] === '*') return false
    return (x[i] === '?' || y[j] === '?' || x[i] === y[j]) && go(i + 1, j + 1)
  }
  return go(0, 0)
}

/** service and action name; a bare `*` is any of both. An action has exactly one colon. */
const parts = (p: string): [string, string] => {
  const at = p.indexOf(':')
  return at < 0 ? [p, '*'] : [p.slice(0, at), p.slice(at + 1)]
}

/** Whether two action patterns can match a common action (compared part by part: `*` never spans the colon). */
export function actionsOverlap(a: string, b: string): boolean {
  const [sa, na] = parts(a)
  const [sb, nb] = parts(b)
  return patternsOverlap(sa, sb) && patternsOverlap(na, nb)
}

/** The first entry an action pattern of a config can match, or null when it cannot destroy. */
export function destructiveMatch(action: string): DestructiveEntry | null {
  return DESTRUCTIVE_ACTIONS.find((e) => actionsOverlap(action, e.pattern)) ?? null
}

export const mayDestroy = (action: string): boolean => destructiveMatch(action) !== null
