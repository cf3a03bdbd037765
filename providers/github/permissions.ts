// GitHub's documented installation-token permissions and the levels each accepts (the
// `app-permissions` schema of GitHub's REST API description, as of API version 2022-11-28).
// A name or level outside this table is a config error, not a request GitHub would refuse later.
export type Level = 'read' | 'write' | 'admin'

const RW: readonly Level[] = ['read', 'write']
const RWA: readonly Level[] = ['read', 'write', 'admin']
const R: readonly Level[] = ['read']
const W: readonly Level[] = ['write']

export const PERMISSIONS: Readonly<Record<string, readonly Level[]>> = {
  // repository
  actions: RW,
  administration: RW,
  artifact_metadata: RW,
  attestations: RW,
  checks: RW,
  code_quality: RW,
  codespaces: RW,
  contents: RW,
  dependabot_secrets: RW,
  deployments: RW,
  discussions: RW,
  environments: RW,
  issues: RW,
  merge_queues: RW,
  metadata: RW,
  packages: RW,
  pages: RW,
  pull_requests: RW,
  repository_custom_properties: RW,
  repository_hooks: RW,
  repository_projects: RWA,
  secret_scanning_alerts: RW,
  secrets: RW,
  security_events: RW,
  single_file: RW,
  statuses: RW,
  vulnerability_alerts: RW,
  workflows: W,
  // organization
  custom_properties_for_organizations: RW,
  members: RW,
  organization_administration: RW,
  organization_custom_roles: RW,
  organization_custom_org_roles: RW,
  organization_custom_properties: RWA,
  organization_copilot_seat_management: RW,
  organization_copilot_agent_settings: RW,
  organization_announcement_banners: RW,
  organization_events: R,
  organization_hooks: RW,
  organization_personal_access_tokens: RW,
  organization_personal_access_token_requests: RW,
  organization_plan: R,
  organization_projects: RWA,
  organization_packages: RW,
  organization_secrets: RW,
  organization_self_hosted_runners: RW,
  organization_user_blocking: RW,
  // account
  email_addresses: RW,
  followers: RW,
  git_ssh_keys: RW,
  gpg_keys: RW,
  interaction_limits: RW,
  profile: W,
  starring: RW,
  // enterprise
  enterprise_custom_properties_for_organizations: RWA,
}

/** Permissions that administer a repository or organisation at any level. */
const ADMINISTERING = new Set(['administration', 'organization_administration'])

/**
 * Writes that set what every repository (or organisation) shares, not just the environment's: an
 * installation shared by two environments shares its organisation.
 */
const ORGANISATION_WIDE = /^(organization_.*|members|(enterprise_)?custom_properties_for_organizations)$/
/**
 * Writes whose effects outlive the token: webhooks that keep sending after revocation, secrets,
 * and workflows or Actions settings that run code with the repository's secrets.
 */
const OUTLIVING = /^(.*_hooks|(.*_)?secrets|workflows|actions|environments)$/

/**
 * Why a permission may only be held by a class marked destructive (two approvals), or null when
 * any class may hold it.
 */
export function destructiveOnly(name: string, level: string): string | null {
  if (ADMINISTERING.has(name) || level === 'admin') return 'administers the repository or organisation'
  if (level !== 'write') return null
  if (ORGANISATION_WIDE.test(name))
    return "acts on the whole organisation, past the environment's repositories"
  if (OUTLIVING.test(name))
    return 'leaves what outlives the token (webhooks, secrets, workflows that run with them)'
  return null
}
