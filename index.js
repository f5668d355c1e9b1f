'use strict'
// pg-boss-native: the package entry. The engine (validation, SQL, workers) is Rust; this file is
// the EventEmitter facade pg-boss users hold, argument overloads JSON cannot carry (functions, a
// caller's `db`), and conversion of results. No queue logic lives here.

const EventEmitter = require('node:events')
const { AssertionError } = require('node:assert')
const native = require('./lib/native.js')
const { revive, toError, unwrap, toExecutor } = require('./lib/convert.js')

const states = Object.freeze({
  created: 'created',
  retry: 'retry',
  active: 'active',
  completed: 'completed',
  cancelled: 'cancelled',
  failed: 'failed'
})

const policies = Object.freeze({
  standard: 'standard',
  short: 'short',
  singleton: 'singleton',
  stately: 'stately',
  exclusive: 'exclusive',
  key_strict_fifo: 'key_strict_fifo'
})

const events = Object.freeze({
  error: 'error',
  warning: 'warning',
  wip: 'wip',
  stopped: 'stopped',
  bam: 'bam',
  flow: 'flow'
})

function assertion (message) {
  return new AssertionError({ message, actual: false, expected: true, operator: '==' })
}

let serializeErrorModule
/** serialize-error 13 is ESM-only; loaded on first use so `require()` works on Node 20. */
async function serializeError (value) {
  serializeErrorModule ??= await import('serialize-error')
  return serializeErrorModule.serializeError(value)
}

/** `complete()`/`fail()` data as pg-boss stores it. */
async function completionData (data) {
  if (data === null || data === undefined || typeof data === 'function') return null
  const value = (typeof data === 'object' && !Array.isArray(data)) ? data : { value: data }
  return serializeError(value)
}

/** `{ db, ...rest }` → [rest, db]: a caller's db cannot cross as JSON. */
function splitDb (options) {
  if (!options || typeof options !== 'object' || !('db' in options)) return [options, undefined]
  const { db, ...rest } = options
  return [rest, db]
}

/** Constructor options as JSON, without what JSON cannot carry. */
function configJson (value) {
  if (!value || typeof value !== 'object') return JSON.stringify(value ?? null)
  const { db, clock, openTelemetry, ...rest } = value
  return JSON.stringify(rest, (key, v) => (typeof v === 'function' ? undefined : v))
}

class PgBoss extends EventEmitter {
  #native
  #config
  #started = false
  #stopped = false
  #starting = null
  #stopping = null
  #keepAlive = null

  constructor (value) {
    super()
    const db = value && typeof value === 'object' ? value.db : undefined
    try {
      this.#native = new native.NativeBoss(configJson(value), toExecutor(db), (text) => this.#onEvent(text))
    } catch (err) {
      if (typeof err?.message === 'string' && err.message.startsWith('{"err"')) throw toError(JSON.parse(err.message).err)
      throw err
    }
    this.#config = { db, schema: this.#native.schema }
  }

  #onEvent (text) {
    const event = JSON.parse(text)
    if (event.event === 'error') {
      this.emit(events.error, toError(event.error.err))
    } else if (event.event === 'warning') {
      this.emit(events.warning, { message: event.message, data: event.data })
    }
  }

  async #call (method, args, db) {
    const text = await this.#native.call(method, JSON.stringify(args), toExecutor(db))
    return unwrap(text)
  }

  // ---- lifecycle ----

  async start () {
    if (this.#stopping) await this.#stopping.catch(() => {})
    if (this.#starting) return this.#starting
    if (this.#started) return this
    this.#starting = (async () => {
      await this.#call('start', [])
      this.#started = true
      this.#stopped = false
      // A started pg-boss keeps the process alive with its timers; so do we, until stop().
      this.#keepAlive = setInterval(() => {}, 1 << 30)
      return this
    })()
    try {
      return await this.#starting
    } finally {
      this.#starting = null
    }
  }

  async stop (options = {}) {
    if (this.#starting) await this.#starting.catch(() => {})
    if (this.#stopping) return this.#stopping
    if (!this.#started) return
    this.#stopping = (async () => {
      await this.#call('stop', [options ?? {}])
      clearInterval(this.#keepAlive)
      this.#keepAlive = null
      this.#started = false
      this.#stopped = true
      this.emit(events.stopped)
    })()
    try {
      return await this.#stopping
    } finally {
      this.#stopping = null
    }
  }

  isInstalled () { return this.#call('isInstalled', []) }
  schemaVersion () { return this.#call('schemaVersion', []) }

  getDb () {
    if (this.#config.db) return this.#config.db
    return {
      executeSql: () => { throw new Error('pg-boss-native: getDb().executeSql() on the native pool is not implemented yet; pass your own db option') }
    }
  }

  // ---- queues ----

  createQueue (name, options) { return this.#call('createQueue', [name ?? null, options ?? {}]) }
  updateQueue (name, options) { return this.#call('updateQueue', [name ?? null, options ?? {}]) }
  deleteQueue (name) { return this.#call('deleteQueue', [name ?? null]) }
  async getQueue (name) { return revive.queue(await this.#call('getQueue', [name ?? null])) }
  async getQueues (names, options) { return revive.queues(await this.#call('getQueues', [names ?? null, options ?? {}])) }
  async getQueueStats (name, options) { return revive.queues(await this.#call('getQueueStats', [name ?? null, options ?? {}])) }
  deleteQueuedJobs (name) { return this.#call('deleteQueuedJobs', [name ?? null]) }
  deleteStoredJobs (name) { return this.#call('deleteStoredJobs', [name ?? null]) }
  deleteAllJobs (name) { return this.#call('deleteAllJobs', [name ?? null]) }

  // ---- jobs ----

  #sendCall (method, args) {
    let db
    if (typeof args[0] === 'string') {
      if (typeof args[1] === 'function') {
        throw assertion(`${method === 'send' ? 'send()' : 'send()'} cannot accept a function as the payload.  Did you intend to use work()?`)
      }
      const [options, optionsDb] = splitDb(args[2])
      db = optionsDb
      args = [args[0], args[1] ?? null, options ?? null, ...args.slice(3)]
    } else if (args[0] && typeof args[0] === 'object' && args[0].options) {
      const [options, optionsDb] = splitDb(args[0].options)
      db = optionsDb
      args = [{ ...args[0], options }, ...args.slice(1)]
    }
    return this.#call(method, args, db)
  }

  async send (...args) { return this.#sendCall('send', args) }
  async sendAfter (name, data, options, after) { return this.#sendCall('sendAfter', [name, data, options, after]) }
  async sendThrottled (name, data, options, seconds, key) { return this.#sendCall('sendThrottled', [name, data, options, seconds, key ?? null]) }
  async sendDebounced (name, data, options, seconds, key) { return this.#sendCall('sendDebounced', [name, data, options, seconds, key ?? null]) }

  async insert (name, jobs, options) {
    const [rest, db] = splitDb(options)
    return this.#call('insert', [name ?? null, jobs ?? null, rest ?? {}], db)
  }

  async fetch (name, options = {}) {
    const [rest, db] = splitDb(options)
    return revive.jobs(await this.#call('fetch', [name ?? null, rest ?? {}], db))
  }

  async complete (name, id, data, options) {
    const [rest, db] = splitDb(options)
    return this.#call('complete', [name ?? null, id ?? null, await completionData(data), rest ?? {}], db)
  }

  async fail (name, id, data, options) {
    const [, db] = splitDb(options)
    return this.#call('fail', [name ?? null, id ?? null, await completionData(data)], db)
  }

  #idCall (method, name, id, options) {
    const [, db] = splitDb(options)
    return this.#call(method, [name ?? null, id ?? null], db)
  }

  cancel (name, id, options) { return this.#idCall('cancel', name, id, options) }
  resume (name, id, options) { return this.#idCall('resume', name, id, options) }
  retry (name, id, options) { return this.#idCall('retry', name, id, options) }
  deleteJob (name, id, options) { return this.#idCall('deleteJob', name, id, options) }
  touch (name, id, options) { return this.#idCall('touch', name, id, options) }

  /** @deprecated Use findJobs() instead */
  async getJobById (name, id, options) {
    const [, db] = splitDb(options)
    return revive.job(await this.#call('getJobById', [name ?? null, id ?? null], db))
  }

  async findJobs (name, options) {
    const [rest, db] = splitDb(options)
    return revive.jobs(await this.#call('findJobs', [name ?? null, rest ?? {}], db))
  }

  // ---- workers (next: issue 3) ----

  async work () {
    if (this.#stopped) throw new Error('Workers are disabled. pg-boss is stopped')
    throw new Error('pg-boss-native: work() is not implemented yet')
  }
}

function getConstructionPlans (schema) {
  return native.constructionPlans(schema ?? null)
}

function getMigrationPlans () {
  throw new Error('pg-boss-native: getMigrationPlans() is not available yet; only schema version 46 is installed')
}

function getRollbackPlans () {
  throw new Error('pg-boss-native: getRollbackPlans() is not available yet')
}

// v10/v11 style: the module is the class, with the named exports on it.
module.exports = PgBoss
Object.assign(module.exports, {
  PgBoss,
  default: PgBoss,
  states,
  policies,
  events,
  getConstructionPlans,
  getMigrationPlans,
  getRollbackPlans
})
