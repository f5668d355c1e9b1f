'use strict'
// fromDrizzle(tx, sql): a drizzle-orm transaction (node-postgres or postgres-js driver) as an
// IDatabase. drizzle-orm's `sql` tag is passed in, so this package needs no drizzle-orm of its own:
// the statement is rebuilt as `sql` template pieces with every value a `sql.param()`.

const { inTextOrder, isArrayParameter } = require('./placeholders.js')
const { resultRows } = require('./results.js')
const { requireMethods } = require('./checks.js')

function fromDrizzle (tx, sql) {
  requireMethods('fromDrizzle', 'a drizzle transaction', tx, ['execute'])
  if (typeof sql !== 'function' || typeof sql.param !== 'function') {
    requireMethods('fromDrizzle', "drizzle-orm's sql tag as its second argument", sql, ['param'])
  }
  return {
    async executeSql (text, values) {
      const { strings, params } = templateOf(text, values, sql)
      return resultRows(await tx.execute(sql(strings, ...params)))
    }
  }
}

/**
 * `text` as the arguments of a tagged template call. An array bound to an array-typed parameter
 * (`$2::uuid[]`) becomes `ARRAY[p1, p2, ...]` of its elements: drizzle would otherwise spread it
 * into a bare `$2, $3` list, and some drivers under it (Bun's) cannot bind an array whole.
 */
function templateOf (text, values, sql) {
  const hasValues = Array.isArray(values) && values.length > 0
  const { parts, values: ordered } = hasValues ? inTextOrder(text, values) : { parts: [text], values: [] }
  const strings = []
  const params = []
  let pending = parts[0]
  for (let k = 0; k < ordered.length; k++) {
    const value = ordered[k]
    if (isArrayParameter(value, parts[k + 1])) {
      pending += 'ARRAY['
      value.forEach((element, e) => {
        if (e > 0) pending += ','
        strings.push(pending)
        params.push(sql.param(element))
        pending = ''
      })
      pending += ']' + parts[k + 1]
    } else {
      strings.push(pending)
      params.push(sql.param(value))
      pending = parts[k + 1]
    }
  }
  strings.push(pending)
  return { strings: Object.assign(strings, { raw: [...strings] }), params }
}

module.exports = { fromDrizzle }
