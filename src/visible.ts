// Text approvers read must read as what it is. Agent-written prose (a task's description, a
// justification) is cleaned of controls and direction characters, which could disguise it. An
// action must also be exactly the call carried out, so characters that draw nothing or change how
// the text around them reads (controls but tab and newline, zero-width and direction characters,
// tag characters, line and paragraph separators, spaces other than the plain one, private-use and
// unassigned code points) are shown as \uXXXX escapes: a key "dry_run" followed by a zero-width
// space cannot pass for "dry_run", and JSON shown this way is still the same JSON.
const HIDDEN = /(?![\t\n ])[\p{C}\p{Z}\p{Default_Ignorable_Code_Point}]/gu

const escape = (c: string): string => {
  let out = ''
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`
  return out
}

/** `s` with every character that hides or reorders text written as its \uXXXX escape. */
export const showHidden = (s: string): string => s.replace(HIDDEN, escape)

// C0 and C1 controls except tab and newline, and the Unicode direction marks, overrides and
// isolates that can make text read differently from what it is.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/** Agent-written prose without the controls and direction characters that could disguise it. */
export const cleanText = (s: string): string => s.replace(UNSAFE, '')
