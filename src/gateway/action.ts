// The action of a session request on a gateway provider: required for a destructive class, itself
// allowed by the class and environment, and stored with its canonical digest; and, when it is
// sent, whether the upstream could read its body as another call than the one approved.
import { isGateway } from '../../providers/gateway/provider.js'
import type { Provider } from '../../providers/types.js'
import { err } from '../errors.js'
import type { SessionAction } from '../domain/session.js'
import { actionDigest, isJsonBody, otherCharset } from './canonical.js'
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

/**
 * Why the upstream could read an approved action's body as another call than the one compared, or
 * null: in another charset than UTF-8, or a JSON body sent as anything but JSON (Rails and Laravel
 * read a form, Rack one with no type; a parser for JSON reads no body of another type at all).
 */
export function readsOtherwise(contentType: string, body: Buffer): string | null {
  const charset = otherCharset(contentType)
  if (charset !== null)
    return `the approved action is compared as UTF-8, and the upstream could read charset ${charset} as another call: send it as UTF-8`
  if (!isJsonType(contentType) && isJsonBody(body))
    return 'the approved action has a JSON body, which the upstream could read as a form or not at all: send it with Content-Type: application/json'
  return null
}

/** `application/json` or `application/*+json`, and nothing else in the header's type. */
const isJsonType = (contentType: string): boolean =>
  /^application\/([a-z0-9.!#$&^_-]+\+)?json$/i.test(contentType.split(';', 1)[0]?.trim() ?? '')
