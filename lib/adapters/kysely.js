'use strict'
// fromKysely(trx): a Kysely transaction (or Kysely instance) as an IDatabase. Kysely's PostgreSQL
// dialect speaks `$n` itself, so the statement goes to it unchanged, as a compiled raw query.

const { requireMethods } = require('./checks.js')

const RAW_QUERY = Object.freeze({ kind: 'RawNode', sqlFragments: [], parameters: [] })

function fromKysely (trx) {
  requireMethods('fromKysely', 'a Kysely transaction', trx, ['executeQuery'])
  return {
    async executeSql (text, values) {
      const result = await trx.executeQuery({
        sql: text,
        parameters: Array.isArray(values) ? values : [],
        query: RAW_QUERY,
        queryId: { queryId: 'pg-boss-native' }
      })
      return { rows: [...(result?.rows ?? [])] }
    }
  }
}

module.exports = { fromKysely }
