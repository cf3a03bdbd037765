// A reload that tightens the test config's policy (test/support/fixtures.ts), and the reasons
// its judgment gives the sessions it revokes.

/** build-bot may no longer write in staging, and reading prod needs two approvals. */
export const tightened = (yaml: string) =>
  yaml
    .replace('operation_classes: [read, write]', 'operation_classes: [read]')
    .replace(
      'operation_classes: [read]\n    providers: ["*"]\n    approvals: 1',
      'operation_classes: [read]\n    providers: ["*"]\n    approvals: 2',
    )

export const NO_WRITE = 'the policy no longer allows build-bot write on staging with internal-api'
export const TWO_NEEDED = 'other-bot read on prod with internal-api now needs 2 approvals; this session had 1'
