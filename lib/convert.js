'use strict'
// Conversion at the boundary: JSON envelopes from the engine into values and errors shaped as
// pg-boss returns them (Dates where node-postgres gives Dates), and a caller's `db` into the
// function the engine calls for SQL.

const { AssertionError } = require('node:assert')
const { X509Certificate } = require('node:crypto')

const JOB_DATE_FIELDS = ['startAfter', 'startedOn', 'singletonOn', 'heartbeatOn', 'createdOn', 'completedOn', 'keepUntil', 'sourceCreatedOn']
const QUEUE_DATE_FIELDS = ['createdOn', 'updatedOn', 'deltaOn', 'capturedOn']
const INSTANCE_DATE_FIELDS = ['crashRestartsSince', 'startedOn', 'heartbeatOn', 'stoppedOn']

function reviveDates (row, fields) {
  if (row === null || typeof row !== 'object') return row
  for (const field of fields) {
    const value = row[field]
    if (typeof value === 'string') row[field] = new Date(value)
  }
  return row
}

const SCHEDULE_DATE_FIELDS = ['createdOn', 'updatedOn']

const revive = {
  job: row => reviveDates(row, JOB_DATE_FIELDS),
  jobs: rows => { for (const row of rows) reviveDates(row, JOB_DATE_FIELDS); return rows },
  queue: row => reviveDates(row, QUEUE_DATE_FIELDS),
  queues: rows => { for (const row of rows) reviveDates(row, QUEUE_DATE_FIELDS); return rows },
  instances: rows => { for (const row of rows) reviveDates(row, INSTANCE_DATE_FIELDS); return rows },
  bamStatus: rows => { for (const row of rows) reviveDates(row, ['lastCreatedOn']); return rows },
  schedule: row => reviveDates(row, SCHEDULE_DATE_FIELDS),
  schedules: rows => { for (const row of rows) reviveDates(row, SCHEDULE_DATE_FIELDS); return rows },
  bamEntries: rows => { for (const row of rows) reviveDates(row, ['createdOn', 'startedOn', 'completedOn']); return rows }
}

/**
 * What `executeSql` resolves, from the engine's reply: node-postgres's `{ rows, rowCount }` for
 * one statement (timestamp columns as `Date`s), an array of them for a script of several.
 */
function sqlResult (reply) {
  if (Array.isArray(reply)) return reply.map(sqlResult)
  const { rows, dates, rowCount } = reply
  for (const row of rows) for (const column of dates) if (typeof row[column] === 'number') row[column] = new Date(row[column])
  return { rows, rowCount: rowCount ?? null }
}

/** What node-postgres throws for a statement PostgreSQL refused (pg-boss passes those through). */
class DatabaseError extends Error {
  constructor (message, code) {
    super(message)
    this.name = 'error'
    this.severity = 'ERROR'
    this.code = code
  }
}

/** Coded errors of pg-boss's own that travel with the database ones. */
const BOSS_CODES = new Set(['PGBOSS_QUEUE_NOT_FOUND'])

/** The engine's error data as the error pg-boss would throw. */
function toError (err) {
  if (err.kind === 'assertion') {
    return new AssertionError({ message: err.message, actual: false, expected: true, operator: '==' })
  }
  if (err.kind === 'aggregate') return new AggregateError(err.errors, err.message)
  if (err.kind === 'database' && err.code && !BOSS_CODES.has(err.code)) {
    return new DatabaseError(err.message, err.code)
  }
  const error = new Error(err.message)
  if (err.code) error.code = err.code
  return error
}

/** Unwraps `{ ok }` / `{ err }` from the engine. */
function unwrap (text) {
  const envelope = JSON.parse(text)
  if (envelope.err) throw toError(envelope.err)
  return envelope.ok
}

function cell (value) {
  if (value === null || value === undefined) return null
  if (typeof value === 'string') return value
  if (value instanceof Date) return value.toISOString()
  if (Buffer.isBuffer(value)) return value.toString()
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

/** node-postgres style results, possibly one per statement, as rows of text cells. */
function rowsOf (result) {
  let rows
  if (Array.isArray(result)) {
    if (result.every(r => Array.isArray(r?.rows))) rows = result.flatMap(r => r.rows)
    else if (result.every(r => Array.isArray(r))) rows = result.flat()
    else rows = result
  } else {
    rows = result?.rows ?? []
  }
  return rows.map(row => (Array.isArray(row) ? row : Object.values(row)).map(cell))
}

const executors = new WeakMap()

/** A caller's `IDatabase` as the function the engine calls: it never rejects. */
function toExecutor (db) {
  if (!db) return undefined
  let fn = executors.get(db)
  if (fn) return fn
  if (typeof db.executeSql !== 'function') {
    throw new AssertionError({ message: 'db must implement executeSql(text, values)', actual: false, expected: true, operator: '==' })
  }
  fn = async (sql, paramsJson) => {
    try {
      const result = paramsJson == null
        ? await db.executeSql(sql)
        : await db.executeSql(sql, JSON.parse(paramsJson))
      return JSON.stringify({ rows: rowsOf(result) })
    } catch (err) {
      return JSON.stringify({ error: { message: String(err?.message ?? err), code: err?.code ?? null } })
    }
  }
  executors.set(db, fn)
  return fn
}

/**
 * A caller's `db.beginTransaction()` as the function the engine calls for transactional workers
 * (`undefined` when the adapter has none). It never rejects. Its `transactions` map holds the
 * open ones, so a handler can be given the adapter's own `tx.db`.
 */
function toTransactions (db) {
  if (!db || typeof db.beginTransaction !== 'function') return undefined
  const open = new Map()
  let next = 0
  const fn = async (op, id, sql, paramsJson) => {
    try {
      if (op === 'begin') {
        const transaction = await db.beginTransaction()
        open.set(++next, transaction)
        return JSON.stringify({ id: next })
      }
      const transaction = open.get(id)
      if (!transaction) return JSON.stringify({ error: { message: 'Transaction is already settled', code: null } })
      if (op === 'query') {
        const result = paramsJson == null
          ? await transaction.db.executeSql(sql)
          : await transaction.db.executeSql(sql, JSON.parse(paramsJson))
        return JSON.stringify({ rows: rowsOf(result) })
      }
      open.delete(id)
      await (op === 'commit' ? transaction.commit() : transaction.rollback())
      return '{}'
    } catch (err) {
      return JSON.stringify({ error: { message: String(err?.message ?? err), code: err?.code ?? null } })
    }
  }
  fn.transactions = open
  return fn
}

// A function-valued option or send() payload reaches the engine as this marker, so it can refuse
// one it cannot call (the engine reads `password` functions through their own channel).
const FUNCTION = '\u0000function'

/**
 * Constructor options as JSON, without what JSON cannot carry: functions become the marker, and
 * Buffers (TLS `ca`, `cert`, `key`) their PEM text, as Node's TLS reads them.
 */
function configJson (value) {
  if (!value || typeof value !== 'object') return JSON.stringify(value ?? null)
  const { db, clock, openTelemetry, ...rest } = value
  // a clock is checked by its methods (the engine says which are missing, in pg-boss's order)
  if (clock) rest.clock = describeClock(clock)
  return JSON.stringify(rest, function (key, v) {
    const raw = this[key]
    if (typeof raw === 'function') return FUNCTION
    if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8')
    return v
  })
}

const CLOCK_MEMBERS = ['now', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'attach']

function describeClock (clock) {
  const described = {}
  for (const member of CLOCK_MEMBERS) {
    if (typeof clock[member] === 'function') described[member] = FUNCTION
  }
  return described
}

/** A `password` function as the engine calls it, once per new connection: never rejects. */
function passwordCallback (value) {
  const password = value && typeof value === 'object' ? value.password : undefined
  if (typeof password !== 'function') return undefined
  return async (paramsJson) => {
    try {
      const result = await password(JSON.parse(paramsJson))
      if (result === undefined) return JSON.stringify({ ok: null })
      if (typeof result !== 'string') return JSON.stringify({ err: 'Password must be a string' })
      return JSON.stringify({ ok: result })
    } catch (err) {
      return JSON.stringify({ err: String(err?.message ?? err) })
    }
  }
}

/**
 * `ssl.checkServerIdentity(hostname, cert)` as the engine calls it after the chain is verified,
 * with the certificate as Node's TLS presents it (`X509Certificate#toLegacyObject()`); never rejects.
 */
function identityCallback (value) {
  const check = value && typeof value === 'object' && value.ssl && typeof value.ssl === 'object' ? value.ssl.checkServerIdentity : undefined
  if (typeof check !== 'function') return undefined
  return async (host, certificateHex) => {
    try {
      const cert = new X509Certificate(Buffer.from(certificateHex, 'hex')).toLegacyObject()
      const refusal = check(host, cert)
      if (!refusal) return '{}'
      return JSON.stringify({ err: String(refusal?.message ?? refusal), code: refusal?.code ?? null })
    } catch (err) {
      return JSON.stringify({ err: String(err?.message ?? err), code: err?.code ?? null })
    }
  }
}

module.exports = { revive, sqlResult, toError, unwrap, toExecutor, toTransactions, configJson, passwordCallback, identityCallback, DatabaseError, FUNCTION }
