'use strict'
// What the drivers under the ORMs return, as the `{ rows }` pg-boss's IDatabase promises.

/**
 * node-postgres gives one result, or one per statement for a multi-statement script; postgres-js
 * and Bun give the rows themselves (an array), or one array per statement. The rows of every
 * statement are kept, in order, so a RETURNING inside `BEGIN; ...; COMMIT` is not lost behind the
 * COMMIT's empty result.
 */
function resultRows (result) {
  if (Array.isArray(result)) {
    if (result.length && result.every(r => Array.isArray(r?.rows))) return { rows: result.flatMap(r => r.rows) }
    if (result.length && result.every(r => Array.isArray(r))) return { rows: result.flat() }
    return { rows: [...result] }
  }
  return { rows: Array.isArray(result?.rows) ? result.rows : [] }
}

module.exports = { resultRows }
