// The charsets a Content-Type names. A header may name more than one (a repeated parameter, or
// two types joined), and readers differ on which they take, so every check looks at all of them.
export const namedCharsets = (contentType: string): string[] =>
  Array.from(contentType.matchAll(/charset\s*=\s*"?([^";,\s]*)/gi), (m) => m[1] as string)
