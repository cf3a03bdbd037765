// Uses REDIS_URL when set; otherwise starts a private redis-server for the whole run.
import type { TestProject } from 'vitest/node'
import { redisServer, type RedisServer } from './redis-server.js'

let own: RedisServer | null = null

export async function setup(project: TestProject) {
  let url = process.env['REDIS_URL']
  if (!url) {
    own = await redisServer()
    url = own.url
  }
  project.provide('redisUrl', url)
}

export async function teardown() {
  await own?.stop()
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string
  }
}
