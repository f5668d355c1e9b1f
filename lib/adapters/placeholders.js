'use strict'
// pg-boss's SQL (and ours) numbers its parameters `$1`, `$2`, ...; an ORM that binds by position
// (knex's `?`) or builds statements from template pieces (drizzle's `sql```) needs them in the order
// they appear, a repeated `$n` once per appearance. The scan skips what PostgreSQL itself does not
// read as a parameter: string literals, quoted identifiers, dollar-quoted bodies and comments, and
// `$` inside an identifier (`a$1`), so a function body's `$1` in a script stays as written.

const IDENTIFIER_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/
const TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/

/**
 * `text` cut at its placeholders: `parts` are the SQL between them (one more than `numbers`), and
 * `numbers` the placeholders' numbers in the order they appear.
 */
function splitPlaceholders (text) {
  const parts = []
  const numbers = []
  let start = 0
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text[i]
    const next = text[i + 1]
    if (c === "'") {
      // E'...' strings take backslash escapes; every string takes '' as a quote
      const escapes = i > 0 && (text[i - 1] === 'E' || text[i - 1] === 'e') && !(i > 1 && IDENTIFIER_CHAR.test(text[i - 2]))
      i++
      while (i < n) {
        if (escapes && text[i] === '\\') i += 2
        else if (text[i] === "'" && text[i + 1] === "'") i += 2
        else if (text[i] === "'") break
        else i++
      }
      i++
    } else if (c === '"') {
      i++
      while (i < n && !(text[i] === '"' && text[i + 1] !== '"')) i += text[i] === '"' ? 2 : 1
      i++
    } else if (c === '-' && next === '-') {
      while (i < n && text[i] !== '\n') i++
    } else if (c === '/' && next === '*') {
      // block comments nest in PostgreSQL
      let depth = 0
      do {
        if (text[i] === '/' && text[i + 1] === '*') { depth++; i += 2 } else if (text[i] === '*' && text[i + 1] === '/') { depth--; i += 2 } else i++
      } while (i < n && depth > 0)
    } else if (c === '$' && !(i > 0 && IDENTIFIER_CHAR.test(text[i - 1]))) {
      const digits = /^\$(\d+)/.exec(text.slice(i, i + 12))
      const tag = digits ? null : TAG.exec(text.slice(i, i + 64))
      if (digits) {
        parts.push(text.slice(start, i))
        numbers.push(Number(digits[1]))
        i += digits[0].length
        start = i
      } else if (tag) {
        const close = text.indexOf(tag[0], i + tag[0].length)
        i = close === -1 ? n : close + tag[0].length
      } else {
        i++
      }
    } else {
      i++
    }
  }
  parts.push(text.slice(start))
  return { parts, numbers }
}

/** The value of placeholder `$number`, or a clear error when `values` has none. */
function valueOf (values, number) {
  if (number < 1 || number > values.length) {
    throw new RangeError(`executeSql: the SQL refers to $${number} but ${values.length} value${values.length === 1 ? ' was' : 's were'} given`)
  }
  return values[number - 1]
}

/** `text`'s pieces and its values in the order its placeholders appear (a repeated `$n` repeats its value). */
function inTextOrder (text, values) {
  const { parts, numbers } = splitPlaceholders(text)
  const list = Array.isArray(values) ? values : []
  return { parts, values: numbers.map(number => valueOf(list, number)) }
}

// A parameter cast to an array type (`$2::uuid[]`): only then is a JS array a PostgreSQL array
// rather than, say, a JSON array bound to a jsonb parameter.
const ARRAY_CAST = /^\s*::\s*[A-Za-z_][A-Za-z0-9_.]*\s*\[\s*\]/

/** Whether the value before `part` is an array bound to an array-typed parameter. */
function isArrayParameter (value, part) {
  return Array.isArray(value) && ARRAY_CAST.test(part)
}

/**
 * `text` renumbered `$1..$n` in textual order, an array-typed parameter written out as
 * `ARRAY[$i, $j, ...]` of its elements: for drivers that cannot bind a JS array whole (Bun's SQL
 * sends it as `a,b`). Every element stays a bind parameter.
 */
function expandArrayParams (text, values) {
  const { parts, values: ordered } = inTextOrder(text, values)
  const flat = []
  let sql = parts[0]
  for (let k = 0; k < ordered.length; k++) {
    const value = ordered[k]
    if (isArrayParameter(value, parts[k + 1])) {
      sql += `ARRAY[${value.map(element => `$${flat.push(element)}`).join(',')}]`
    } else {
      sql += `$${flat.push(value)}`
    }
    sql += parts[k + 1]
  }
  return { text: sql, values: flat }
}

module.exports = { splitPlaceholders, inTextOrder, isArrayParameter, expandArrayParams }
