import type { AgentConfig, Role } from '../config/types.js'

/** Who is calling. Agents and resource servers have one implicit role each; humans have theirs. */
export type RouteRole = Role | 'agent' | 'resource_server'

export type Principal =
  | { kind: 'agent'; id: string; roles: readonly RouteRole[]; agent: AgentConfig }
  | { kind: 'human'; id: string; roles: readonly RouteRole[] }
  | { kind: 'resource_server'; id: string; roles: readonly RouteRole[]; audiences: readonly string[] }

export const hasRole = (p: Principal, roles: readonly RouteRole[]): boolean =>
  p.roles.some((r) => roles.includes(r))
