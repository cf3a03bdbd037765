// Locks are a model of src/domain; this names them for the locks layer.
export { lockCovers, lockMatch, lockToPublic, type Lock } from '../domain/lock.js'
