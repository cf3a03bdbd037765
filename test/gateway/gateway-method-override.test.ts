// Method overrides (src/gateway/method-override.ts): the `_method` parameters that Rails, Laravel,
// Symfony and express's method-override read as the real method, in the spellings they accept.
import { describe, expect, it } from 'vitest'
import { mayOverride, methodOverride } from '../../src/gateway/method-override.js'

const FORM = 'application/x-www-form-urlencoded'
const BOUNDARY = 'b0undary'
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`
const multipart = (...parts: [string, string][]) =>
  Buffer.from(
    parts
      .map(
        ([disposition, value]) =>
          `--${BOUNDARY}\r\nContent-Disposition: form-data; ${disposition}\r\n\r\n${value}\r\n`,
      )
      .join('') + `--${BOUNDARY}--\r\n`,
    'latin1',
  )
const body = (s: string) => Buffer.from(s)
/** One part with its header block written out whole: how a parser reads its name is the test. */
const rawPart = (head: string, value = 'DELETE') =>
  Buffer.from(`--${BOUNDARY}\r\n${head}\r\n\r\n${value}\r\n--${BOUNDARY}--\r\n`, 'latin1')

describe('method overrides', () => {
  it.each([
    ['query string', 'POST', '?_method=DELETE', '', null],
    ['query string, encoded', 'GET', '?%5Fmethod=delete', '', null],
    ['query string, as an array', 'POST', '?_method[]=DELETE', '', null],
    ['form body', 'POST', '', FORM, body('name=x&_method=DELETE')],
    ['form body, encoded', 'POST', '', FORM, body('name=x&%5f%6Dethod=DELETE')],
    ['form body, PHP reads a dot as _', 'POST', '', FORM, body('.method=DELETE')],
    ['form body, PHP drops a leading space', 'POST', '', `${FORM}; charset=utf-8`, body('+_method=DELETE')],
    ['form body, PHP array key', 'POST', '', FORM, body('_method[0]=DELETE')],
    ['form body, upper case', 'POST', '', FORM, body('_METHOD=DELETE')],
    ['multipart field', 'POST', '', MULTIPART, multipart(['name="_method"', 'DELETE'])],
    ['multipart, unquoted name', 'POST', '', MULTIPART, multipart(['name=_method', 'DELETE'])],
    ['multipart, RFC 2231 name', 'POST', '', MULTIPART, multipart(["name*=utf-8''%5Fmethod", 'DELETE'])],
    ['JSON key', 'POST', '', 'application/json', body('{"a":1,"_method":"DELETE"}')],
    ['JSON key, escaped', 'POST', '', 'application/vnd.api+json', body('{"\\u005fmethod":"DELETE"}')],
    ['form body with no Content-Type (Rack reads a form)', 'POST', '', '', body('_method=DELETE')],
    [
      'form body, its type ended by a comma (Rack)',
      'POST',
      '',
      `${FORM}, text/plain`,
      body('_method=DELETE'),
    ],
    ['form body, its type ended by a space (PHP)', 'POST', '', `${FORM} x`, body('_method=DELETE')],
    [
      'multipart/mixed part (Rack)',
      'POST',
      '',
      `multipart/mixed; boundary=${BOUNDARY}`,
      multipart(['name="_method"', 'DELETE']),
    ],
    // How Rack and PHP find a part's name, laxer than a well-formed header (PHP joins folded and
    // colon-less lines; Rack's pattern spans lines, dequotes, and falls back to Content-ID).
    [
      'multipart, a folded Content-Disposition (PHP, Rack)',
      'POST',
      '',
      MULTIPART,
      rawPart('Content-Disposition: form-data;\r\n name="_method"'),
    ],
    [
      'multipart, name on a line without a colon (PHP, Rack)',
      'POST',
      '',
      MULTIPART,
      rawPart('Content-Disposition: form-data\r\n;name="_method"'),
    ],
    [
      'multipart, name as the first parameter (PHP)',
      'POST',
      '',
      MULTIPART,
      rawPart('Content-Disposition: name=_method'),
    ],
    [
      'multipart, name after a space, not a ; (Rack 2.0)',
      'POST',
      '',
      MULTIPART,
      rawPart('Content-Disposition: form-data name="_method"'),
    ],
    [
      'multipart, name in single quotes (PHP)',
      'POST',
      '',
      MULTIPART,
      multipart(["name='_method'", 'DELETE']),
    ],
    [
      'multipart, backslash escapes in the name (Rack dequotes)',
      'POST',
      '',
      MULTIPART,
      multipart(['name="\\_\\m\\ethod"', 'DELETE']),
    ],
    [
      'multipart, a quoted name cut at ; (PHP)',
      'POST',
      '',
      MULTIPART,
      multipart(['name="_method;x"', 'DELETE']),
    ],
    [
      'multipart, a part named by Content-ID (Rack)',
      'POST',
      '',
      MULTIPART,
      rawPart('Content-Disposition: form-data\r\nContent-ID: _method'),
    ],
    [
      'multipart, a NUL ends the name (PHP)',
      'POST',
      '',
      MULTIPART,
      multipart(['name="_method\0x"', 'DELETE']),
    ],
    ['form body, a NUL ends the name (PHP)', 'POST', '', FORM, body('_method%00x=DELETE')],
    ['query string, a NUL ends the name (PHP)', 'POST', '?_method%00=DELETE', '', null],
    [
      'UTF-16 form body (Tomcat decodes names in the declared charset)',
      'POST',
      '',
      `${FORM}; charset=UTF-16LE`,
      Buffer.concat([Buffer.from('_method', 'utf16le'), Buffer.from('='), Buffer.from('DELETE', 'utf16le')]),
    ],
    [
      'multipart, an RFC 2047 B-encoded name (Tomcat, commons-fileupload)',
      'POST',
      '',
      MULTIPART,
      multipart(['name="=?UTF-8?B?X21ldGhvZA==?="', 'DELETE']),
    ],
    [
      'multipart, an RFC 2047 Q-encoded name in UTF-16 (Tomcat)',
      'POST',
      '',
      MULTIPART,
      multipart(['name="=?utf-16be?q?=00=5F=00m=00e=00t=00h=00o=00d?="', 'DELETE']),
    ],
    [
      'multipart, an RFC 2231 name in UTF-16 (busboy)',
      'POST',
      '',
      MULTIPART,
      multipart(["name*=utf-16le''%5F%00m%00e%00t%00h%00o%00d%00", 'DELETE']),
    ],
    [
      'UTF-7 JSON body (body-parser decodes any utf-*: +AF8- is _)',
      'POST',
      '',
      'application/json; charset=utf-7',
      body('{"+AF8-method":"DELETE"}'),
    ],
    ['JSON key, text/json (Laravel)', 'POST', '', 'text/json', body('{"_method":"DELETE"}')],
    [
      'JSON key, /json in a parameter (Laravel)',
      'POST',
      '',
      'text/plain; x=/json',
      body('{"_method":"DELETE"}'),
    ],
    // Parsers configured for any type (body-parser's `type: '*/*'`) read a body whatever it declares.
    ['JSON body sent as text/plain', 'POST', '', 'text/plain', body('{"_method":"DELETE"}')],
    ['form body sent as octet-stream', 'POST', '', 'application/octet-stream', body('_method=DELETE')],
    ['form body sent as text/plain', 'POST', '', 'text/plain; charset=utf-8', body('a=1&_method=DELETE')],
    ['JSON body with no Content-Type', 'POST', '', '', body('{"_method":"DELETE"}')],
    ['form body sent as JSON', 'POST', '', 'application/json', body('_method=DELETE')],
    ['JSON body sent as a form', 'POST', '', FORM, body('{"_method":"DELETE"}')],
    // body-parser decodes with iconv-lite, which drops a byte order mark first.
    ['JSON body after a BOM', 'POST', '', 'application/json', body('\uFEFF{"_method":"DELETE"}')],
    ['form body after a BOM', 'POST', '', 'text/plain', body('\uFEFF_method=DELETE')],
  ])('is refused in a %s', (_what, method, query, type, b) => {
    expect(methodOverride(method, query, type, b)).toMatch(/^a _method parameter in the (query string|body)/)
  })

  it.each([
    ['a form without one', 'POST', '', FORM, body('name=x&method=DELETE&my_method=1')],
    ['a field named like it', 'POST', '', FORM, body('_method_name=x')],
    [
      'a multipart file whose content names it',
      'POST',
      '',
      MULTIPART,
      multipart(['name="file"; filename="a.rb"', 'params[:_method]']),
    ],
    [
      'a JSON value or nested key',
      'POST',
      '',
      'application/json',
      body('{"a":"_method","b":{"_method":"DELETE"}}'),
    ],
    ['a multipart field named like it', 'POST', '', MULTIPART, multipart(['name="_method_name"', 'x'])],
    [
      'a multipart file named like it',
      'POST',
      '',
      MULTIPART,
      multipart(['name="f"; filename="_methods"', 'x']),
    ],
    ['a form in a charset ASCII reads', 'POST', '', `${FORM}; charset="ISO-8859-1"`, body('a=1')],
    ['a JSON body in UTF-8', 'POST', '', 'application/json; charset=UTF-8', body('{"a":1}')],
    ['a text body that only mentions it', 'POST', '', 'text/plain', body('set _method & method=x')],
    ['a binary body', 'POST', '', 'application/octet-stream', Buffer.from([0xff, 0, 0x26, 0x5f, 0x3d])],
    ['a PUT text body (frameworks override POST only)', 'PUT', '', 'text/plain', body('_method=DELETE')],
    ['a PUT form (frameworks override POST only)', 'PUT', '', FORM, body('_method=DELETE')],
    ['a query parameter that only contains it', 'GET', '?x=_method&my_method=1', '', null],
  ])('passes %s', (_what, method, query, type, b) => {
    expect(methodOverride(method, query, type, b)).toBeNull()
  })

  it('reads whole every POST body, whatever its type, and no other', () => {
    expect(mayOverride('POST')).toBe(true)
    expect(mayOverride('PUT')).toBe(false)
    expect(mayOverride('PATCH')).toBe(false)
  })

  it('refuses any POST body in a charset that is not ASCII-based', () => {
    const utf16 = Buffer.from('{"_method":"DELETE"}', 'utf16le')
    expect(methodOverride('POST', '', 'text/plain; charset=utf-16le', utf16)).toMatch(/charset utf-16le/)
  })
})
