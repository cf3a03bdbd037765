// The exit codes (docs/cli.md) for `airlock`'s own failures (sysexits.h).
export const EXIT = {
  ok: 0,
  /** A check ran and found problems (`audit verify`): not one of the failure codes. */
  problems: 1,
  usage: 64,
  denied: 65,
  unavailable: 69,
  software: 70,
  forbidden: 77,
  config: 78,
} as const

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
  }
}
