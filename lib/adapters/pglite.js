'use strict'
// fromPglite(pglite): an in-process PGlite (PostgreSQL compiled to WASM) as an IDatabase, for
// `new PgBoss({ backend: 'pglite', db: fromPglite(pglite) })`. The caller creates and closes it.
//
// PGlite binds `$n` itself. Its `query()` runs one statement; the parameterless scripts (schema
// install, `BEGIN ... COMMIT` blocks) go to `exec()`, whose per-statement results are flattened
// so a RETURNING before the COMMIT is kept.

const { requireMethods } = require('./checks.js')

function fromPglite (pglite) {
  requireMethods('fromPglite', 'a PGlite instance', pglite, ['query', 'exec'])
  let sessionStatements = []

  const run = async (text, values) => {
    if (Array.isArray(values) && values.length > 0) return pglite.query(text, values)
    const results = await pglite.exec(text)
    return { rows: (Array.isArray(results) ? results : []).flatMap(r => r?.rows ?? []) }
  }

  const db = {
    async executeSql (text, values) {
      try {
        const result = await run(text, values)
        return { rows: result?.rows ?? [] }
      } catch (err) {
        // One connection serves every statement: a script that failed inside BEGIN would leave it
        // in an aborted transaction and fail everything after. A pool would hand out another
        // connection; here the transaction is rolled back (a no-op outside one) before rethrowing.
        await pglite.query('ROLLBACK').catch(() => {})
        throw err
      }
    },
    // One session for the instance's life: statements every session must run (a TestClock's
    // opt-in) are run once, now.
    async setSessionStatements (statements) {
      sessionStatements = Array.isArray(statements) ? [...statements] : []
      for (const statement of sessionStatements) await pglite.exec(statement)
    }
  }

  // PGlite delivers NOTIFY in process. pg-boss-native's engine does not listen through a `db`
  // (it polls), but the adapter offers `listen` as pg-boss's does, for code that calls it.
  if (typeof pglite.listen === 'function') {
    db.listen = async (channel, onNotification, onReconnect) => {
      const unlisten = await pglite.listen(channel, onNotification)
      // subscribed: as after a reconnect, whatever was sent before now is the caller's to fetch
      onReconnect?.()
      return { close: async () => { await unlisten() } }
    }
  }
  return db
}

module.exports = { fromPglite }
