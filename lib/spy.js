'use strict'
// Test spies (`__test__enableSpies`, `getSpy(name)`, `clearSpies()`), with pg-boss 12.38's
// semantics. A spy remembers each job it saw in each state (`created`, `active`, `completed`,
// `failed`) and resolves `waitForJob*()` with a copy of it, at once when already seen. Only a queue
// that has a spy (`getSpy(name)` was called) records anything.
//
// Where the facts come from:
// - `created`: index.js after its send()/insert()/publish() returned the ids (the rows are
//   written); the engine's own creations (a schedule's send-it worker) as a `created` event.
// - `active`: lib/handler.js as it calls a worker's handler with the jobs it claimed; the engine's
//   `active` event for jobs claimed over a `localGroupConcurrency` limit and handed back.
// - `completed` / `failed`: the engine's `settled` event, sent once the write-back statement has
//   returned, paired here with the handler call it settles (its jobs, its return value or error).
//   As in 12.38: a handler that resolved completes its jobs (the output is its return value when
//   the batch held one job); a failure counts only once the job is terminally `failed` (a retry
//   is no spy state), read back from the database; `perJobResults` entries count as written
//   (`failed` for a failed entry whether or not it retries). A job the write-back did not land
//   (the handler settled it itself, or its claim lapsed) is read back, and its stored state counts.
//   Jobs a stop() fails while their handlers run come as the engine read them back (`stored`).

/** One queue's spy: pg-boss's `JobSpyInterface`. */
class JobSpy {
  #seen = new Map() // `${id}:${state}` → job
  #waiting = []

  clear () {
    this.#seen.clear()
    this.#waiting = []
  }

  waitForJobWithId (id, state) {
    return this.waitForJob(() => true, state, id)
  }

  waitForJob (dataSelector, state, id) {
    const matches = (job) => (!id || job.id === id) && dataSelector(job.data)
    for (const job of this.#seen.values()) {
      if (job.state === state && matches(job)) return Promise.resolve(copy(job))
    }
    return new Promise((resolve) => this.#waiting.push({ matches, state, resolve }))
  }

  /** Record `id` in `state`; resolves every waiter it satisfies. */
  addJob (id, name, data, state, output) {
    const job = { id, name, data: structuredClone(data), state, output: output ? structuredClone(output) : undefined }
    this.#seen.set(`${id}:${state}`, job)
    const satisfied = []
    this.#waiting = this.#waiting.filter((w) => {
      if (w.state !== state || !w.matches(job)) return true
      satisfied.push(w)
      return false
    })
    for (const w of satisfied) w.resolve(copy(job))
  }
}

function copy (job) {
  return {
    id: job.id,
    name: job.name,
    data: structuredClone(job.data),
    state: job.state,
    output: job.output ? structuredClone(job.output) : undefined
  }
}

const NOT_ENABLED = 'Spy is not enabled. Set __test__enableSpies: true in constructor options to use spies.'
const NOT_AN_ARRAY = 'perJobResults handler must resolve with an array of job results'
const NO_DISPOSITION = 'no disposition returned by handler'
const DISPOSITIONS = new Set(['completed', 'failed', 'deadletter'])

let serializeError
async function loadSerializeError () {
  serializeError ??= (await import('serialize-error')).serializeError
  return serializeError
}

/** getSpy() when spies are off. */
function notEnabled () {
  throw new Error(NOT_ENABLED)
}

/**
 * The spies of one PgBoss instance (none when spies are off: index.js then calls `notEnabled`).
 * `readJob(name, id)` reads a job back (getJobById); `onError(err)` reports a failure of the
 * spies' own bookkeeping (a selector that throws, a read that fails).
 */
class Spies {
  #spies = new Map()
  // handler calls in flight: batch id → { name, jobs, perJobResults, value, error }
  #calls = new Map()
  #readJob
  #onError

  constructor (readJob, onError) {
    this.#readJob = readJob
    this.#onError = onError
  }

  get (name) {
    let spy = this.#spies.get(name)
    if (!spy) {
      spy = new JobSpy()
      this.#spies.set(name, spy)
    }
    return spy
  }

  clear () {
    for (const spy of this.#spies.values()) spy.clear()
    this.#spies.clear()
  }

  /** Whether `name` has a spy (insert() then needs every job's id). */
  has (name) {
    return this.#spies.has(name)
  }

  /**
   * The hook for everything that creates jobs from JavaScript (send(), insert(), publish(),
   * upsert()): call it once the rows are written, with the ids created and their data as the
   * caller gave it (one value for all, or a function of the id). A null id (nothing inserted) is
   * skipped. pg-boss records a send's data as `data || {}`, an insert's as `data ?? {}`.
   */
  created (name, ids, data) {
    const spy = this.#spies.get(name)
    if (!spy) return
    for (const id of ids) {
      if (id == null) continue
      spy.addJob(id, name, typeof data === 'function' ? data(id) : data, 'created')
    }
  }

  /** A worker's handler is called with `jobs` (batch `batch` of the engine). */
  claimed (name, batch, jobs, perJobResults) {
    this.#calls.set(batch, { name, jobs, perJobResults, value: undefined, error: undefined })
    const spy = this.#spies.get(name)
    // a selector that throws is reported; the handler still runs
    if (spy) for (const job of jobs) this.#guard(() => spy.addJob(job.id, name, job.data, 'active'))
  }

  /** The handler of `batch` settled: resolved with `value`, or threw `error`. */
  handled (batch, value, error) {
    const call = this.#calls.get(batch)
    if (call) {
      call.value = value
      call.error = error
    }
  }

  /** At start(): handler calls a previous shutdown abandoned are never written back. */
  forgetCalls () {
    this.#calls.clear()
  }

  /** An engine `spy` event. */
  onEngineEvent (event) {
    if (event.kind === 'created') {
      const data = new Map(event.jobs.map((job) => [job.id, job.data]))
      // the engine's creations are sends
      this.#guard(() => this.created(event.queue, data.keys(), (id) => data.get(id) || {}))
    } else if (event.kind === 'active') {
      const spy = this.#spies.get(event.queue)
      if (spy) for (const job of event.jobs) this.#guard(() => spy.addJob(job.id, event.queue, job.data, 'active'))
    } else if (event.kind === 'stored') {
      // handler calls a shutdown failed: failed once terminally, as stored
      for (const { batch, jobs: stored } of event.batches) {
        const call = this.#calls.get(batch)
        this.#calls.delete(batch)
        const spy = call && this.#spies.get(call.name)
        if (!spy) continue
        const byId = new Map(call.jobs.map((job) => [job.id, job]))
        for (const { id, state, output } of stored) {
          const job = byId.get(id)
          if (job && state === 'failed') this.#guard(() => spy.addJob(id, call.name, job.data, 'failed', output))
        }
      }
    } else if (event.kind === 'settled') {
      for (const { batch, jobs: rows } of event.batches) {
        const call = this.#calls.get(batch)
        this.#calls.delete(batch)
        if (!call) continue
        this.#settled(call, rows, event.landed).catch(this.#onError)
      }
    }
  }

  /** The job as stored (null when gone), or false when it could not be read (stopped, an outage). */
  async #read (name, id) {
    try {
      return (await this.#readJob(name, id)) ?? null
    } catch {
      return false
    }
  }

  #guard (fn) {
    try {
      fn()
    } catch (err) {
      this.#onError(err)
    }
  }

  /** `rows`: [id, status written] per job of `call`, in its order. */
  async #settled (call, rows, landed) {
    const spy = this.#spies.get(call.name)
    if (!spy) return
    const { name, jobs } = call
    const byId = new Map(jobs.map((job) => [job.id, job]))
    if (call.perJobResults && call.error === undefined && Array.isArray(call.value)) {
      const outputs = await perJobOutputs(jobs, call.value)
      for (const [id, status] of rows) {
        const job = byId.get(id)
        if (!job) continue
        const completed = status === 'completed'
        if (!landed && !await this.#landed(name, job, completed)) continue
        const output = outputs.get(id)
        this.#guard(() => spy.addJob(id, name, job.data, completed ? 'completed' : 'failed', completed ? output : serializeError(output)))
      }
      return
    }
    if (rows.every(([, status]) => status === 'completed')) {
      if (landed) {
        const output = jobs.length === 1 ? call.value : undefined
        for (const job of jobs) this.#guard(() => spy.addJob(job.id, name, job.data, 'completed', output))
        return
      }
      // the handler settled some itself (complete(), fail(), deleteJob()): their stored state counts
      for (const job of jobs) {
        const stored = await this.#read(name, job.id)
        if (stored === false) continue
        if (!stored) {
          this.#guard(() => spy.addJob(job.id, name, job.data, 'completed', undefined))
        } else if (['completed', 'failed', 'active', 'created'].includes(stored.state)) {
          this.#guard(() => spy.addJob(job.id, name, job.data, stored.state, stored.output))
        }
      }
      return
    }
    // the batch failed as a whole (a throw, a timeout, an output that could not be stored, a
    // perJobResults handler that resolved without an array): failed only once retries are spent
    const error = call.perJobResults && call.error === undefined && !Array.isArray(call.value)
      ? new Error(NOT_AN_ARRAY)
      : call.error
    for (const job of jobs) {
      const stored = await this.#read(name, job.id)
      if (stored?.state === 'failed') {
        this.#guard(() => spy.addJob(job.id, name, job.data, 'failed', stored.output ?? { message: error?.message, stack: error?.stack }))
      }
    }
  }

  /**
   * Whether a perJobResults entry the write-back may have skipped took effect, read back: a
   * completion completed the job; a failure failed it, or set it to retry (a later attempt).
   */
  async #landed (name, job, completed) {
    const stored = await this.#read(name, job.id)
    if (!stored) return false
    if (completed) return stored.state === 'completed'
    return stored.state === 'failed' || stored.state === 'retry' || stored.retryCount > job.retryCount
  }
}

/**
 * What a perJobResults handler gave each job, as it gave it: a `JobResult` by id (the last valid
 * entry wins), else a `Promise.allSettled` entry by position, else the missing-disposition error.
 */
async function perJobOutputs (jobs, results) {
  await loadSerializeError()
  const ids = new Set(jobs.map((job) => job.id))
  const byId = new Map()
  const byIndex = new Map()
  results.forEach((item, i) => {
    if (item && (item.status === 'fulfilled' || item.status === 'rejected') && !('id' in item)) {
      byIndex.set(i, item.status === 'fulfilled' ? item.value : item.reason)
    } else if (item && ids.has(item.id) && DISPOSITIONS.has(item.status)) {
      byId.set(item.id, item.output)
    }
  })
  const outputs = new Map()
  jobs.forEach((job, i) => {
    if (byId.has(job.id)) outputs.set(job.id, byId.get(job.id))
    else if (byIndex.has(i)) outputs.set(job.id, byIndex.get(i))
    else outputs.set(job.id, new Error(NO_DISPOSITION))
  })
  return outputs
}

module.exports = { Spies, JobSpy, notEnabled }
