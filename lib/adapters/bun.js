'use strict'
// fromBunSql(client): Bun's built-in PostgreSQL client (`new SQL(url)` from 'bun') as an
// IDatabase. The caller owns the client; pg-boss-native never ends it.

const { expandArrayParams } = require('./placeholders.js')
const { resultRows } = require('./results.js')
const { requireMethods } = require('./checks.js')

// Bun refuses a `BEGIN; ... COMMIT` script on its pool ("use sql.begin, sql.reserved or max: 1"),
// since the pool could hand the next statement to another connection; such a script runs on a
// reserved connection.
const OPENS_TRANSACTION = /^\s*BEGIN\b/i

function fromBunSql (client) {
  requireMethods('fromBunSql', "a Bun SQL client (new SQL() from 'bun')", client, ['unsafe', 'reserve'])
  const db = {
    async executeSql (text, values) {
      // Bun stringifies a JS array parameter (`a,b`), so array-typed parameters are written out
      // as ARRAY[...] of their elements; without values the simple protocol runs a whole script
      const query = expandArrayParams(text, values)
      const run = target => query.values.length ? target.unsafe(query.text, query.values) : target.unsafe(query.text)
      try {
        return resultRows(await (OPENS_TRANSACTION.test(query.text) ? reserved(client, run) : run(client)))
      } catch (err) {
        throw withSqlState(err)
      }
    }
  }
  // Bun 1.4+: its third argument is called on every (re)subscribe, which is what onReconnect means
  if (typeof client.listen === 'function') {
    db.listen = async (channel, onNotification, onReconnect) => {
      const subscription = await client.listen(channel, onNotification, onReconnect)
      return { close: async () => { await subscription.unlisten() } }
    }
  }
  return db
}

async function reserved (client, run) {
  const connection = await client.reserve()
  try {
    return await run(connection)
  } finally {
    connection.release()
  }
}

/**
 * Bun's server errors carry code `ERR_POSTGRES_SERVER_ERROR` and the SQLSTATE in `errno`; pg-boss
 * (and our engine) read the SQLSTATE from `code`, as node-postgres puts it there.
 */
function withSqlState (err) {
  if (err && err.code === 'ERR_POSTGRES_SERVER_ERROR' && typeof err.errno === 'string' && err.errno) {
    try { err.code = err.errno } catch {}
  }
  return err
}

module.exports = { fromBunSql }
