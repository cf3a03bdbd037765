// Every Lua script of Airlock is defined through defineScript, on whatever client it runs on
// (standalone, Sentinel, Cluster). ioredis sends a script's body once per connection (EVAL) and
// its SHA-1 after that (EVALSHA), and sends the body again when Redis answers NOSCRIPT (a restart,
// a failover, a Cluster node it had not used yet). A script's keys must share one hash slot on
// Cluster: Airlock's keys all carry the {al} hash tag (src/store/keys.ts).
import type { RedisClient } from './client.js'

export type Script<R = unknown> = (...args: (string | number | Buffer)[]) => Promise<R>

/**
 * Defines the script `name` on `client` and returns a function running it. With `numberOfKeys`,
 * the function takes exactly that many keys first; without it, the first argument is the number of
 * keys that follow.
 */
export function defineScript<R = unknown>(
  client: RedisClient,
  name: string,
  lua: string,
  numberOfKeys?: number,
): Script<R> {
  client.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys })
  const run = (client as unknown as Record<string, Script<R>>)[name] as Script<R>
  return run.bind(client)
}
