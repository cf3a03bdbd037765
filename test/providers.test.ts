// The provider interface's shared pieces.
import { describe, expect, it } from 'vitest'
import { rotationCovers } from '../providers/types.js'

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
