'use strict'
// fromPrisma(tx): a Prisma interactive transaction (Prisma 7 with a driver adapter such as
// @prisma/adapter-pg) or client as an IDatabase. `$queryRawUnsafe` takes `$n` placeholders as
// PostgreSQL does, so the statement goes unchanged.

const { requireMethods } = require('./checks.js')

function fromPrisma (tx) {
  requireMethods('fromPrisma', 'a Prisma transaction', tx, ['$queryRawUnsafe'])
  return {
    async executeSql (text, values) {
      const rows = await tx.$queryRawUnsafe(text, ...(Array.isArray(values) ? values : []))
      return { rows: Array.isArray(rows) ? rows : [] }
    }
  }
}

module.exports = { fromPrisma }
