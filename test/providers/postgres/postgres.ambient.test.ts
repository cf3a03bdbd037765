// The admin connection uses exactly the credential in its secret: a URL without a password never
// borrows PGPASSWORD from the broker's own environment (pg's fallback for an empty password).
import { afterAll, describe, expect, it, inject } from 'vitest'
import { buildProvider, MapSecrets, suffix } from '../../support/pg-provider.js'

const url = inject('pgScramUrl')
const saved = process.env['PGPASSWORD']
afterAll(() => {
  if (saved === undefined) delete process.env['PGPASSWORD']
  else process.env['PGPASSWORD'] = saved
})

describe('postgres admin credentials', () => {
  it('an admin URL without a password fails to log in even when PGPASSWORD holds the right one', async () => {
    const noPassword = new URL(url)
    process.env['PGPASSWORD'] = decodeURIComponent(noPassword.password)
    noPassword.password = ''
    const q = buildProvider(
      {
        deployment_id: `ambient-${suffix()}`,
        environments: {
          staging: { connection: 'vault:pg/admin', database: 'postgres', owner: `nobody_${suffix()}` },
        },
      },
      { secrets: new MapSecrets(new Map([['vault:pg/admin', noPassword.toString()]])) },
    )
    try {
      await expect(q.setup()).rejects.toThrow(/^environment staging: .*password/)
    } finally {
      await q.close()
    }
  })
})
