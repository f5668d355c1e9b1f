// Shared test plumbing: the database, a schema per test file, and both queue implementations.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { after, before } from 'node:test'
import assert from 'node:assert/strict'
import { userInfo } from 'node:os'
import { fileURLToPath } from 'node:url'
import { PgBoss } from '../index.mjs'

const require = createRequire(import.meta.url)
export const pg = require('pg')

export const connectionString = process.env.DATABASE_URL || 'postgres://localhost:5432'
// node-postgres and the native pool both fall back to PGUSER, then USER; a shell without USER
// (containers, CI) would otherwise send no user name at all.
process.env.PGUSER ||= process.env.USER || userInfo().username

/** A pg pool for assertions against the database itself. */
export function pool () {
  return new pg.Pool({ connectionString, max: 3 })
}

export async function dropSchema (schema) {
  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  } finally {
    await client.end()
  }
}

/** A started pg-boss-native on `schema` with background work off unless asked for. */
export async function startBoss (schema, options = {}) {
  const boss = new PgBoss({ connectionString, schema, supervise: false, schedule: false, ...options })
  boss.on('error', err => { boss.lastError = err })
  await boss.start()
  return boss
}

/** pg-boss 12.38 itself, for interop. */
export async function startPgBoss (schema, options = {}) {
  const { PgBoss: Reference } = await import('pg-boss')
  const boss = new Reference({ connectionString, schema, supervise: false, schedule: false, ...options })
  boss.on('error', err => { boss.lastError = err })
  await boss.start()
  return boss
}

/** Rows of one job straight from the table. */
export async function jobRow (db, schema, id) {
  const { rows } = await db.query(`SELECT * FROM ${schema}.job WHERE id = $1`, [id])
  return rows[0]
}

/** What a call did, comparable across implementations: its value, or the error's class, code and message. */
export async function outcome (fn) {
  try {
    return { ok: await fn() }
  } catch (err) {
    return { error: err?.constructor?.name, code: err?.code, message: err?.message }
  }
}

/** Two started instances on one schema: ours and pg-boss 12.38. */
export async function startBoth (schema, options = {}) {
  await dropSchema(schema)
  const ours = await startBoss(schema, options)
  const ref = await startPgBoss(schema, { migrate: false, ...options })
  return { ours, ref }
}

export async function stopBoth ({ ours, ref }) {
  await ours?.stop()
  await ref?.stop({ graceful: false })
}

/**
 * Both implementations on `schema` for one test file, and a pool to read the tables with:
 * started before the file's first test (`ready` receives `{ ours, ref, db }`), stopped, closed
 * and the schema dropped after its last.
 */
export function bothForFile (schema, ready) {
  let both, db
  before(async () => {
    both = await startBoth(schema)
    db = pool()
    ready({ ...both, db })
  })
  after(async () => {
    if (both) await stopBoth(both)
    await db?.end()
    await dropSchema(schema)
  })
}

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** Polls `fn` until it returns something truthy (returned), or throws after `timeout` ms. */
export async function waitFor (fn, { timeout = 20000, every = 50 } = {}) {
  const until = Date.now() + timeout
  for (;;) {
    const value = await fn()
    if (value) return value
    if (Date.now() > until) throw new Error('timed out waiting')
    await sleep(every)
  }
}

/** The package entry, for scripts run in a child process to import. */
export const entry = fileURLToPath(new URL('../index.mjs', import.meta.url))

/**
 * `source` run as an ES module in a child Node (the one running the tests) with DATABASE_URL set:
 * the child, a promise of its `{ code, signal, output }` once it exits, and its output so far.
 */
export function runScript (source) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
    env: { ...process.env, DATABASE_URL: connectionString },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', d => { output += d })
  child.stderr.on('data', d => { output += d })
  const exited = new Promise(resolve => child.on('exit', (code, signal) => resolve({ code, signal, output })))
  return { child, exited, output: () => output }
}

/** The error `promise` rejects with; fails the test when it resolves. */
export async function rejection (promise) {
  try {
    await promise
  } catch (err) {
    return err
  }
  assert.fail('expected a rejection')
}

/** The version row of `schema` as a number. */
export async function schemaVersion (db, schema) {
  const { rows } = await db.query(`SELECT version FROM ${schema}.version`)
  return Number(rows[0].version)
}

/**
 * One test file's pool and schemas: `db` (closed after the file's last test), `schemaName(label)`
 * (`<prefix>_<label>`, dropped after the last test with the schemas `alsoDrop(schema)` names) and
 * `version(schema)`.
 */
export function schemasForFile (prefix, { alsoDrop = () => [] } = {}) {
  const used = new Set()
  const db = pool()
  after(async () => {
    for (const s of used) {
      for (const other of alsoDrop(s)) await dropSchema(other)
      await dropSchema(s)
    }
    await db.end()
  })
  return {
    db,
    schemaName (label) {
      const s = `${prefix}_${label}`
      used.add(s)
      return s
    },
    version: schema => schemaVersion(db, schema)
  }
}
