// The jti of a grant's token: the issue attempt its credentials are named after.
export const jtiOf = (token: string): string =>
  (JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { jti: string }).jti
