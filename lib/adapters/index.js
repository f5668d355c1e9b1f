'use strict'
// The ORM and driver adapters pg-boss 12.38 exports: each wraps a transaction (or client) as an
// IDatabase, `{ executeSql(text, values) }`, for the `db` option of the constructor or of a call.

const { fromKnex } = require('./knex.js')
const { fromKysely } = require('./kysely.js')
const { fromDrizzle } = require('./drizzle.js')
const { fromPrisma } = require('./prisma.js')
const { fromPglite } = require('./pglite.js')
const { fromBunSql } = require('./bun.js')

module.exports = { fromKnex, fromKysely, fromDrizzle, fromPrisma, fromPglite, fromBunSql }
