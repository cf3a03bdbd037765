// The models every layer shares. Nothing here imports from the rest of src (TypeBox only).
export * from './status.js'
export * from './session.js'
export * from './lock.js'
export * from './grant.js'
export { iso } from './time.js'
