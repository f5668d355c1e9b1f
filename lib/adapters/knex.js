'use strict'
// fromKnex(trx): a knex transaction (or the knex instance) as an IDatabase.

const { inTextOrder } = require('./placeholders.js')
const { resultRows } = require('./results.js')
const { requireMethods } = require('./checks.js')

// knex.raw() reads every `?` as a binding (and `??` as an identifier), even inside strings, so a
// literal `?` (jsonb's key-exists operator, which pg-boss's update uses) is written as knex's `\?`.
const escapeQuestionMarks = sql => sql.replace(/\?/g, '\\?')

function fromKnex (trx) {
  requireMethods('fromKnex', 'a knex transaction', trx, ['raw'])
  return {
    async executeSql (text, values) {
      if (!Array.isArray(values) || values.length === 0) {
        // no bindings: knex hands the text to node-postgres as it is, so a script runs whole
        return resultRows(await trx.raw(escapeQuestionMarks(text)))
      }
      const { parts, values: ordered } = inTextOrder(text, values)
      return resultRows(await trx.raw(parts.map(escapeQuestionMarks).join('?'), ordered))
    }
  }
}

module.exports = { fromKnex }
