// Text approvers read must be the text that is carried out. Characters that draw nothing or
// change how the text around them reads (controls but tab and newline, zero-width and direction
// characters, tag characters, line and paragraph separators, spaces other than the plain one,
// private-use and unassigned code points) are shown as \uXXXX escapes: a key "dry_run" followed by
// a zero-width space cannot pass for "dry_run", and JSON shown this way is still the same JSON.
const HIDDEN = /(?![\t\n ])[\p{C}\p{Z}\p{Default_Ignorable_Code_Point}]/gu

const escape = (c: string): string => {
  let out = ''
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`
  return out
}

/** `s` with every character that hides or reorders text written as its \uXXXX escape. */
export const showHidden = (s: string): string => s.replace(HIDDEN, escape)
