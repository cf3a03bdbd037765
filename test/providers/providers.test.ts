// The provider interface's shared pieces.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { rotationCovers } from '../../providers/types.js'

const ROOT = join(import.meta.dirname, '..', '..')

describe('rotationCovers', () => {
  it.each([
    ['vault:aws/broker', 'vault:aws/broker', true],
    ['*', 'vault:aws/broker', true], // a file vault rewritten: any secret may have changed
    ['*', 'file:/etc/airlock/aws.json', true],
    ['vault:aws/other', 'vault:aws/broker', false],
    ['aws/broker', 'vault:aws/broker', false], // a bare path is not a reference
    ['*', null, false], // no secret in use
  ])('%s against %s: %s', (changed, ref, covered) => {
    expect(rotationCovers(changed, ref)).toBe(covered)
  })
})

describe('layering', () => {
  it('providers import nothing from src/config: the loader depends on them, not the other way round', () => {
    const files = readdirSync(join(ROOT, 'providers'), { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.ts'),
    )
    expect(files.length).toBeGreaterThan(10)
    const offending = files.filter((f) =>
      /from '(\.\.\/)+src\/config\//.test(readFileSync(join(ROOT, 'providers', f), 'utf8')),
    )
    expect(offending).toEqual([])
  })
})
