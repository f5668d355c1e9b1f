'use strict'
// pg-boss-native: the package entry. The engine (validation, SQL, workers) is Rust; this file is
// the EventEmitter facade pg-boss users hold, argument overloads JSON cannot carry (functions, a
// caller's `db`), and conversion of results. No queue logic lives here.

const EventEmitter = require('node:events')
const { randomUUID } = require('node:crypto')
const { AssertionError } = require('node:assert')
const native = require('./lib/native.js')
const { revive, sqlResult, toError, unwrap, toExecutor, toTransactions, configJson, passwordCallback, identityCallback } = require('./lib/convert.js')
const { EngineHost, recurrence } = require('./lib/host.js')
const { systemClock, TestClock } = require('./lib/clock.js')
const { addBins, percentile, fillPercentiles } = require('./lib/latency.js')
const { Spies, notEnabled: spiesNotEnabled } = require('./lib/spy.js')
const { UnrecoverableError, completionData } = require('./lib/outcome.js')
const { handlerCallbacks, settlingHandlerTransaction } = require('./lib/handler.js')
const { states, policies, events, CLOCK_OVERRIDE_SETTING, enableClockOverride, disableClockOverride } = require('./lib/constants.js')
const { UNDEFINED, markUndefined, nonFiniteAsText, payload, splitDb } = require('./lib/marks.js')
const { sendArguments, updateArguments, redriveArguments, flowArguments } = require('./lib/call-shapes.js')
const { getConstructionPlans, getMigrationPlans, getRollbackPlans, getUninstallPlans, getIndexBloatPlans } = require('./lib/plans.js')
const { fromKnex, fromKysely, fromDrizzle, fromPrisma, fromPglite, fromBunSql } = require('./lib/adapters/index.js')
const v10 = require('./lib/v10.js')
const { ADMIN } = require('./lib/admin.js')

const scheduleKinds = recurrence.KINDS
const scheduleMissedPolicies = recurrence.MISSED_POLICIES

function assertion (message) {
  return new AssertionError({ message, actual: false, expected: true, operator: '==' })
}

const FETCH_CHECKED = ['batchSize', 'includeMetadata', 'priority', 'ignoreStartAfter']

// the key of the instance method upgradeFromV10() and rollbackV10Upgrade() call through
const V10_UPGRADE = Symbol('v10 upgrade')

class PgBoss extends EventEmitter {
  #native
  #config
  #started = false
  #stopped = false
  #starting = null
  #stopping = null
  #keepAlive = null
  #eventsReceived = 0
  #host
  // the test spies (lib/spy.js), only with `__test__enableSpies`
  #spies = null
  /** The constructor `db`'s beginTransaction(), for transactional workers. */
  #adapterTransactions
  /** work id → queue name, for v10's offWork({ id }) */
  #workQueues = new Map()

  constructor (value) {
    super()
    const db = value && typeof value === 'object' ? value.db : undefined
    const clock = value && typeof value === 'object' ? value.clock : undefined
    // what a TestClock attaches to: the instance's database and schema, and when it is idle
    this.#host = new EngineHost(clock, () => ({ db: this.getDb(), schema: this.#native.schema, idle: this.#host.idle }))
    this.#adapterTransactions = toTransactions(db)
    try {
      this.#native = new native.NativeBoss(configJson(value), toExecutor(db), (text) => this.#onEvent(text), passwordCallback(value), identityCallback(value), this.#host.handle)
    } catch (err) {
      if (typeof err?.message === 'string' && err.message.startsWith('{"err"')) throw toError(JSON.parse(err.message).err)
      throw err
    }
    if (this.#adapterTransactions) this.#native.setTransactionOpener(this.#adapterTransactions)
    this.#config = { db, schema: this.#native.schema }
    const v10Defaults = this.#syncCall('v10DefaultKeys', [])
    if (v10Defaults.length) v10.deprecated('JOB_DEFAULTS', { keys: v10Defaults.join(', ') })
    if (this.#syncCall('spiesEnabled', [])) {
      // a selector that throws is reported, never thrown into the engine's event delivery
      const onError = (err) => { if (this.listenerCount(events.error)) this.emit(events.error, err) }
      this.#spies = new Spies((name, id) => this.getJobById(name, id), onError)
    }
  }

  /** Resolves once `count` engine events have been received (or after a second, whatever). */
  async #eventsDelivered (count) {
    const until = Date.now() + 1000
    while (this.#eventsReceived < count && Date.now() < until) {
      await new Promise(resolve => setImmediate(resolve))
    }
  }

  #onEvent (text) {
    this.#eventsReceived++
    const event = JSON.parse(text)
    if (event.event === 'error' && event.worker) {
      // pg-boss emits worker failures as a plain object naming the queue and worker
      const error = toError(event.error.err)
      this.emit(events.error, {
        ...error,
        message: `${error.message} (Queue: ${event.queue}, Worker: ${event.worker})`,
        stack: error.stack,
        queue: event.queue,
        worker: event.worker
      })
    } else if (event.event === 'named') {
      this.emit(event.name, event.data)
    } else if (event.event === 'wip') {
      this.emit(events.wip, event.data)
    } else if (event.event === 'error') {
      this.emit(events.error, toError(event.error.err))
    } else if (event.event === 'warning') {
      this.emit(events.warning, { message: event.message, data: event.data })
    } else if (event.event === 'spy') {
      this.#spies?.onEngineEvent(event)
    }
  }

  async #call (method, args, db) {
    // a transactional handler settling its own jobs through `tx`: fenced to the attempts it was
    // handed, and counted by its batch's completion
    const handlerTx = settlingHandlerTransaction(method, db)
    if (handlerTx) args = [args[0], handlerTx.fence(args[1]), ...args.slice(2)]
    const text = await this.#native.call(method, JSON.stringify(args), toExecutor(db))
    const result = unwrap(text)
    handlerTx?.record(result)
    return result
  }

  /** upgradeFromV10() / rollbackV10Upgrade(): the engine opens a pool for the call when not started. */
  [V10_UPGRADE] (method, options) { return this.#call(method, [options]) }

  // ---- lifecycle ----

  async start (options = {}) {
    this.#syncCall('checkStartOptions', [options])
    if (this.#stopping) await this.#stopping.catch(() => {})
    if (this.#starting) return this.#starting
    if (this.#started) return this
    this.#starting = (async () => {
      await this.#clockSessions(true)
      this.#spies?.forgetCalls()
      this.#host.starting(this.#syncCall('scheduling', []))
      try {
        await this.#call('start', [options])
      } catch (err) {
        this.#host.stopped()
        throw err
      }
      // Events the engine raised during start (a clock_skew warning, say) reach listeners before
      // start() resolves, as pg-boss emits them from within its start. They cross threads on
      // their own queue, so the result can overtake them: wait (briefly, at most) for the count.
      await this.#eventsDelivered(this.#syncCall('eventsEmitted', []))
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
    if (options && typeof options === 'object' && 'wait' in options) {
      // v10: wait: false resolved at once and let a graceful stop finish in the background
      v10.deprecated('STOP_WAIT')
      const { wait, ...rest } = options
      if (wait === false && rest.graceful !== false) {
        this.stop(rest).catch(err => this.emit(events.error, err))
        return
      }
      options = rest
    }
    if (this.#starting) {
      // a start() waiting to try again fails now rather than after its remaining attempts
      this.#syncCall('cancelStartRetries', [])
      await this.#starting.catch(() => {})
    }
    if (this.#stopping) return this.#stopping
    if (!this.#started) return
    this.#stopping = (async () => {
      await this.#call('stop', [options ?? {}])
      this.#host.stopped()
      await this.#clockSessions(false)
      clearInterval(this.#keepAlive)
      this.#keepAlive = null
      this.#workQueues.clear()
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

  /**
   * A TestClock's job_now() serves its time to sessions that opt in. The native pool opts in as
   * it connects; a caller's `db` is asked to, as pg-boss 12.38 asks it.
   */
  async #clockSessions (on) {
    const db = this.#config.db
    if (!db || !this.#host.attachable) return
    if (on) {
      if (typeof db.setSessionStatements !== 'function') {
        throw assertion('configuration assert: this db adapter does not implement setSessionStatements(), so a TestClock cannot reach every session it opens. Implement it to run the given statements on each new connection (or once, if the adapter has a single session).')
      }
      await db.setSessionStatements([enableClockOverride()])
    } else {
      await db.setSessionStatements?.([])
    }
  }

  isInstalled () { return this.#call('isInstalled', []) }
  /** The CLI's schema administration (src/admin.rs), on an instance that is never started. */
  async [ADMIN] (command, args = []) { return unwrap(await this.#native.admin(command, JSON.stringify(args))) }
  /** One monitor (counts, expiry) and maintenance (retention) pass now, for every queue or one. */
  supervise (name, options) { return this.#call('supervise', [name ?? null, markUndefined(options) ?? {}]) }
  schemaVersion () { return this.#call('schemaVersion', []) }
  /** The live schema against schema 46, in pg-boss 12.38's report shape (src/drift). */
  detectSchemaDrift () { return this.#call('detectSchemaDrift', [{ clockOverride: this.#host.attached }]) }

  /** The database in use: the constructor `db`, or the native pool as an `IDatabase`. */
  getDb () {
    if (this.#config.db) return this.#config.db
    const counts = () => this.#syncCall('poolCounts', []) ?? { totalCount: 0, idleCount: 0, waitingCount: 0, max: 0 }
    return {
      // node-postgres's pool counters, read from the native pool
      pool: {
        get totalCount () { return counts().totalCount },
        get idleCount () { return counts().idleCount },
        get waitingCount () { return counts().waitingCount },
        get options () { return { max: counts().max } }
      },
      executeSql: async (text, values) => sqlResult(await this.#call('executeSql', [text, Array.isArray(values) ? values : []]))
    }
  }

  // ---- queues ----

  async createQueue (name, options) { await this.#call('createQueue', [name ?? null, markUndefined(options) ?? {}]) }
  async updateQueue (name, options) { await this.#call('updateQueue', [name ?? null, markUndefined(options) ?? {}]) }
  async deleteQueue (name) { await this.#call('deleteQueue', [name ?? null]) }
  async getQueue (name) { return revive.queue(await this.#call('getQueue', [name ?? null])) }
  async getQueues (names, options) { return revive.queues(await this.#call('getQueues', [names ?? null, options ?? {}])) }
  async getQueueStats (name, options) { return fillPercentiles(revive.queues(await this.#call('getQueueStats', [name ?? null, markUndefined(options) ?? {}]))) }
  /** The instance registry: every PgBoss instance (pg-boss's and ours) sharing this schema. */
  async getInstances (options) { return revive.instances(await this.#call('getInstances', [options ?? {}])) }
  async getBamStatus () { return revive.bamStatus(await this.#call('getBamStatus', [])) }
  /** The statements that would rebuild the bloated job indexes; the engine does not run them. */
  getReindexCommands (options) { return this.#call('getReindexCommands', [markUndefined(nonFiniteAsText(options)) ?? {}]) }
  async getBamEntries (options) { return revive.bamEntries(await this.#call('getBamEntries', [options ?? {}])) }
  deleteQueuedJobs (name) { return this.#call('deleteQueuedJobs', [name ?? null]) }
  deleteStoredJobs (name) { return this.#call('deleteStoredJobs', [name ?? null]) }
  deleteAllJobs (name) { return this.#call('deleteAllJobs', [name ?? null]) }

  // ---- jobs ----

  #sendCall (method, args) {
    return this.#spies ? this.#sendSpied(method, args) : this.#sendVia(method, args)
  }

  /** A send with the test spies on: the job is recorded once it is written. */
  async #sendSpied (method, args) {
    const id = await this.#sendVia(method, args)
    const byName = typeof args[0] === 'string'
    this.#spies.created(byName ? args[0] : args[0]?.name, [id], (byName ? args[1] : args[0]?.data) || {})
    return id
  }

  #sendVia (method, args) { return this.#call(method, ...sendArguments(args)) }

  /** update()/upsert(): see lib/call-shapes.js. */
  #updateCall (method, args) { return this.#call(method, ...updateArguments(args)) }

  async update (...args) { return this.#updateCall('update', args) }
  async upsert (...args) {
    const result = await this.#updateCall('upsert', args)
    // only a job the upsert inserted is created, after its write, as 12.38 records it
    if (this.#spies && result?.inserted) {
      const [name, data] = typeof args[0] === 'string' ? [args[0], args[1]] : [args[0]?.name, args[0]?.data]
      this.#spies.created(name, result.jobs, data || {})
    }
    return result
  }

  #redriveCall (method, name, options) { return this.#call(method, ...redriveArguments(name, options)) }

  redrive (name, options = {}) { return this.#redriveCall('redrive', name, options) }

  async previewRedrive (name, options = {}) {
    const preview = await this.#redriveCall('previewRedrive', name, options)
    preview.destinations.sort((a, b) => b.count - a.count || a.name.localeCompare(b.name))
    return preview
  }

  getBlockedKeys (name, options) { return this.#call('getBlockedKeys', [name ?? null, options ?? {}]) }

  async send (...args) { return this.#sendCall('send', args) }
  async sendAfter (name, data, options, after) { return this.#sendCall('sendAfter', [name, data, options, after]) }
  async sendThrottled (name, data, options, seconds, key) { return this.#sendCall('sendThrottled', [name, data, options, seconds, key ?? null]) }
  async sendDebounced (name, data, options, seconds, key) { return this.#sendCall('sendDebounced', [name, data, options, seconds, key ?? null]) }

  // ---- pub/sub ----

  // ---- schedules ----

  /** The database's clock as the cron pass reads it: this instance's clock plus the measured skew. */
  #databaseTime () { return this.#host.now() + this.#syncCall('clockSkew', []) }

  async schedule (name, cron, data, options = {}) {
    // `db` runs this call; it is not part of the schedule the row keeps
    const { db, ...persisted } = options
    // any falsy zone is UTC (a nullable column read back, a config value left null)
    const tz = persisted.tz || 'UTC'
    const kind = recurrence.checkSchedule(cron, tz, this.#host.now(), this.#databaseTime())
    await this.#call('schedule', [name === undefined ? UNDEFINED : name, cron, payload(data), markUndefined(persisted), kind, tz], db)
  }

  async unschedule (name, key, options = {}) {
    await this.#call('unschedule', [name ?? null, key === undefined ? UNDEFINED : key], options.db)
  }

  async getSchedules (name, key, options) {
    const rows = await this.#call('getSchedules', [name ?? null, key === undefined ? UNDEFINED : key, markUndefined(options) ?? {}])
    return revive.schedules(rows)
  }

  async getSchedule (name, key) {
    return revive.schedule(await this.#call('getSchedule', [name ?? null, key === undefined ? UNDEFINED : key]))
  }

  previewSchedule (cron, options = {}) {
    return recurrence.preview(cron, options, this.#databaseTime())
  }

  isTimekeeping () { return this.#syncCall('isTimekeeping', []) }
  isCheckingSkew () { return this.#syncCall('isCheckingSkew', []) }
  /** Whether a BAM pass (the background index builds) runs now. */
  isBamWorking () { return this.#syncCall('isBamWorking', []) }

  async subscribe (event, name) { await this.#call('subscribe', [event ?? null, name ?? null]) }
  async unsubscribe (event, name) { await this.#call('unsubscribe', [event ?? null, name ?? null]) }

  async publish (event, data, options) {
    const [rest, db] = splitDb(options)
    const sent = await this.#call('publish', [event ?? null, payload(data), markUndefined(rest) ?? null], db)
    if (this.#spies) for (const [queue, id] of sent) this.#spies.created(queue, [id], data || {})
  }

  async insert (name, jobs, options) {
    if (v10.isV10Insert(name) && (jobs === undefined || (jobs !== null && typeof jobs === 'object' && !Array.isArray(jobs)))) {
      // v10: insert(jobs, options), each job naming its queue
      v10.deprecated('INSERT')
      let all = null
      for (const [queue, queueJobs] of v10.insertsByQueue(name)) {
        const ids = await this.insert(queue, queueJobs, jobs)
        if (ids) all = (all ?? []).concat(ids)
      }
      return all
    }
    let [rest, db] = splitDb(options)
    // pg-boss 12.38 with a spy on the queue: every job gets its id here, and the ids come back
    const spied = this.#spies?.has(name) && Array.isArray(jobs)
    if (spied) {
      jobs = jobs.map((job) => (job && typeof job === 'object' ? { ...job, id: job.id ?? randomUUID() } : job))
      rest = { ...rest, returnId: true }
    }
    const ids = await this.#call('insert', [name ?? null, jobs ?? null, rest ?? {}], db)
    if (spied && ids) {
      const data = new Map(jobs.map((job) => [job?.id, job?.data ?? {}]))
      this.#spies.created(name, ids, (id) => data.get(id))
    }
    return ids
  }

  // ---- test spies ----

  /** pg-boss's test spy of queue `name` (`__test__enableSpies`). */
  getSpy (name) {
    return this.#spies ? this.#spies.get(name) : spiesNotEnabled()
  }

  clearSpies () {
    this.#spies?.clear()
  }

  async flow (jobs, options) { return this.#call('flow', ...flowArguments(jobs, options)) }

  getDependencies (name, id, options) { return this.#dependencyCall('getDependencies', name, id, options) }
  getDependents (name, id, options) { return this.#dependencyCall('getDependents', name, id, options) }

  #dependencyCall (method, name, id, options) {
    const [rest, db] = splitDb(options)
    return this.#call(method, [name ?? null, id ?? null, rest ?? {}], db)
  }

  resolveFlow () { return this.#call('resolveFlow', []) }
  isResolvingFlow () { return this.#syncCall('isResolvingFlow', []) }

  async fetch (name, options = {}) {
    const [rest, db] = splitDb(options)
    return revive.jobs(await this.#call('fetch', [name ?? null, markUndefined(rest, FETCH_CHECKED) ?? {}], db))
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
  // pg-boss reports which ids a settle touched; resume and retry leave `settled` unset
  async resume (name, id, options) { return { ...await this.#idCall('resume', name, id, options), settled: undefined } }
  async retry (name, id, options) { return { ...await this.#idCall('retry', name, id, options), settled: undefined } }
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

  // ---- workers ----

  /** `work(name, handler)` / `work(name, options, handler)`: resolves the work id. */
  async work (name, ...args) {
    return this.#startWork(name, args, false)
  }

  /**
   * `workEach(name, handler)` / `workEach(name, options, handler)`: the handler takes ONE job and
   * returns its output (or throws). Each claim takes as many jobs as there are free slots (at most
   * `batchSize`), at most `concurrency` handlers run at once, slots refill as jobs finish, and
   * outcomes are settled in coalesced batches.
   */
  async workEach (name, ...args) {
    return this.#startWork(name, args, true)
  }

  async #startWork (name, args, each) {
    if (this.#stopped) throw new Error('Workers are disabled. pg-boss is stopped')
    if (!name) throw assertion('queue name is required')
    let options, handler
    if (args.length === 1) {
      handler = args[0]
      options = {}
    } else {
      options = args[0] || {}
      handler = args[1]
    }
    if (typeof handler !== 'function') throw assertion('expected callback to be a function')
    if (typeof options !== 'object') throw assertion('expected config to be an object')
    const { run, abort } = handlerCallbacks({
      native: this.#native,
      spies: this.#spies,
      adapterTransactions: this.#adapterTransactions?.transactions,
      name,
      handler,
      each,
      perJobResults: options.perJobResults === true
    })
    const text = await this.#native.work(JSON.stringify([name, options]), each, run, abort)
    const id = unwrap(text)
    if (typeof id === 'string') this.#workQueues.set(id, name)
    return id
  }

  async offWork (name, options) {
    if (v10.isV10OffWork(name) && options === undefined) {
      // v10: offWork({ id }) stopped that worker, whatever its queue, without waiting for it
      v10.deprecated('OFF_WORK')
      const { id } = name
      const queue = this.#workQueues.get(id) ?? this.getWipData({ includeInternal: true }).find(w => w.id === id)?.name
      if (queue === undefined) return
      return this.offWork(queue, { id, wait: false })
    }
    if (typeof name === 'string' && options?.id === undefined) {
      for (const [id, queue] of this.#workQueues) if (queue === name) this.#workQueues.delete(id)
    } else if (typeof options?.id === 'string') {
      this.#workQueues.delete(options.id)
    }
    return this.#call('offWork', [name ?? null, options ?? null])
  }

  notifyWorker (workerId) {
    this.#syncCall('notifyWorker', [workerId ?? null])
  }

  /** Whether a supervise pass (background or `supervise()`) is running now. */
  isMaintaining () { return this.#syncCall('isMaintaining', []) }

  getWipData (options) {
    return this.#syncCall('getWipData', [options ?? {}])
  }

  /** Batch metrics per queue and worker; `{ format: 'prometheus' }` for the text format. */
  getMetrics (options) {
    return this.#syncCall('getMetrics', [options ?? {}])
  }

  #syncCall (method, args) {
    return unwrap(this.#native.callSync(method, JSON.stringify(args)))
  }
}

/**
 * Upgrade a pg-boss 10 schema (versions 21-24) to 46 in place, or carry on with an upgrade that
 * stopped part way; `{ dryRun: true }` answers the plan and the rows it would move, touching
 * nothing. `config` is what the constructor takes. Answers a report (see index.d.ts).
 */
async function upgradeFromV10 (config, options) {
  if (options !== undefined && (options === null || typeof options !== 'object')) throw assertion('upgradeFromV10: options must be an object')
  return new PgBoss(config)[V10_UPGRADE]('upgradeFromV10', markUndefined(options) ?? {})
}

/** Put back the pg-boss 10 schema an unfinished upgradeFromV10() moved aside, with every job. */
async function rollbackV10Upgrade (config) {
  return new PgBoss(config)[V10_UPGRADE]('rollbackV10Upgrade', {})
}

// v10/v11 style: the module is the class, with the named exports on it.
module.exports = PgBoss
Object.assign(module.exports, {
  PgBoss,
  default: PgBoss,
  UnrecoverableError,
  states,
  policies,
  events,
  scheduleKinds,
  scheduleMissedPolicies,
  previewScheduleMaxCount: recurrence.PREVIEW_MAX_COUNT,
  systemClock,
  TestClock,
  CLOCK_OVERRIDE_SETTING,
  enableClockOverride,
  disableClockOverride,
  getConstructionPlans,
  getMigrationPlans,
  getRollbackPlans,
  getUninstallPlans,
  getIndexBloatPlans,
  upgradeFromV10,
  rollbackV10Upgrade,
  addBins,
  percentile,
  fromKnex,
  fromKysely,
  fromDrizzle,
  fromPrisma,
  fromPglite,
  fromBunSql
})
