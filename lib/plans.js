'use strict'
// pg-boss's plan functions beside the class (`getConstructionPlans`, `getMigrationPlans`, ...):
// the SQL comes from the engine; this is argument plumbing and pg-boss's errors.

const { ok: assert } = require('node:assert')
const native = require('./native.js')
const { toError, unwrap } = require('./convert.js')
const { markUndefined, nonFiniteAsText } = require('./marks.js')

function getConstructionPlans (schema, options) {
  const { createSchema = true, backend } = options ?? {}
  return plan(() => native.constructionPlans(schema ?? null, !!createSchema, planBackend({ backend })))
}

/** pg-boss's plan functions beside the class, answered by the engine. */
function moduleCall (method, args) {
  return unwrap(native.moduleCall(method, JSON.stringify(args)))
}

function getUninstallPlans (schema, options) { return moduleCall('getUninstallPlans', [schema ?? null, options ?? {}]) }
function getIndexBloatPlans (schema, options) { return moduleCall('getIndexBloatPlans', [schema ?? null, markUndefined(nonFiniteAsText(options)) ?? {}]) }

// the plan functions' errors arrive as an envelope; thrown as the Error pg-boss would throw
function plan (fn) {
  try {
    return fn()
  } catch (err) {
    if (typeof err?.message === 'string' && err.message.startsWith('{"err"')) throw toError(JSON.parse(err.message).err)
    throw err
  }
}

/** `{ oldest, latest }`: the schema versions a migration starts from (at the oldest) and reaches. */
function migratableVersions () { return moduleCall('migratableVersions', []) }

function getMigrationPlans (schema, version, options) {
  const partitions = options?.partitionTables ?? []
  for (const p of partitions) {
    assert(typeof p === 'object' && p !== null && typeof p.tableName === 'string' && typeof p.policy === 'string',
      `partitionTables entries must be { tableName, policy } records, received: ${JSON.stringify(p)}. The string[] form was removed in 12.28.0.`)
  }
  return plan(() => native.migrationPlans(schema ?? null, version ?? null, partitions.map(p => [p.tableName, p.policy]), planBackend(options)))
}

function getRollbackPlans (schema, version, options) {
  return plan(() => native.rollbackPlans(schema ?? null, version ?? null, planBackend(options)))
}

// pg-boss reads a falsy backend as none given
function planBackend (options) {
  return options?.backend ? String(options.backend) : null
}

module.exports = { migratableVersions, getConstructionPlans, getMigrationPlans, getRollbackPlans, getUninstallPlans, getIndexBloatPlans }
