// The package's version, for `airlock --version` and `GET /v1/whoami`.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** This package's version, from the package.json above this file (source or dist/). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string
        version?: string
      }
      if (pkg.name === 'airlock' && pkg.version) return pkg.version
    } catch {
      // not here: look one level up
    }
    const up = dirname(dir)
    if (up === dir) return 'unknown'
    dir = up
  }
}
