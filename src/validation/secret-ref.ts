// Secret references: the config names where a secret lives (`env:NAME`, `file:PATH`, `vault:PATH`),
// never the secret itself. Resolving them is the loader's job (src/config/secrets.ts).

export const SECRET_REF_PATTERN = '^(env|file|vault):.+$'
export const LITERAL_SECRET = 'must be a secret reference (env:, file: or vault:), not a literal'

export const isSecretRef = (s: string): boolean => /^(env|file|vault):./.test(s)
