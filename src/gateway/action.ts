// The action of a session request on a gateway provider: required for a destructive class, itself
// allowed by the class and environment, and stored with its canonical digest.
import { isGateway } from '../../providers/gateway/provider.js'
import type { Provider } from '../../providers/types.js'
import { err } from '../errors.js'
import type { SessionAction } from '../domain/session.js'
import { actionDigest } from './canonical.js'
import { checkRequest } from './check.js'
import { containPath } from './path.js'

export interface BoundAction {
  action: SessionAction
  digest: string
}

/** The request's action checked against the provider (null when there is none); throws 400. */
export function bindAction(
  provider: Provider,
  req: { environment: string; operation_class: string; action?: SessionAction | undefined },
  destructive: boolean,
): BoundAction | null {
  const action = req.action
  if (!isGateway(provider)) {
    if (action) throw err.invalid(`action applies to gateway providers only; ${provider.name} is not one`)
    return null
  }
  const cfg = provider.config
  if (!cfg.classes[req.operation_class])
    throw err.invalid(`provider ${provider.name} has no rules for operation class ${req.operation_class}`)
  if (!action) {
    if (destructive)
      throw err.invalid(
        `operation class ${req.operation_class} on ${provider.name} is approved one call at a time: add action {method, path, body} with the exact request`,
      )
    return null
  }
  const method = action.method.toUpperCase()
  const digest = actionDigest({ ...action, method }, cfg.graphql)
  if (typeof digest !== 'string') throw err.invalid(digest.invalid)
  const contained = containPath(action.path, '')
  if (typeof contained === 'string') throw err.invalid(`action.path: ${contained}`)
  const body =
    action.body === undefined || action.body === null
      ? null
      : Buffer.from(typeof action.body === 'string' ? action.body : JSON.stringify(action.body))
  const outcome = checkRequest(
    cfg,
    { provider: provider.name, environment: req.environment, operationClass: req.operation_class },
    { method, contentType: 'application/json', body, contained },
  )
  if (!outcome.ok) throw err.invalid(`action: ${outcome.message}`)
  return { action: { ...action, method }, digest }
}
