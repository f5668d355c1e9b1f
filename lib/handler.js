'use strict'
// What a worker's handler call needs on this side: the message the engine starts a call with
// turned into the handler's jobs (their `signal`, the transactional handler's `tx`), the outcome
// encoded back, the aborts the engine sends, and the settles a handler makes through its `tx`.

const { revive, sqlResult, unwrap } = require('./convert.js')
const { encodeResolved, encodeRejected, encodeResults } = require('./outcome.js')

// the settles a transactional handler may make through its `tx`
const HANDLER_SETTLES = new Set(['complete', 'fail', 'cancel', 'deleteJob'])
// a handler's `tx` → its handlerTransaction()
const handlerTransactions = new WeakMap()

/**
 * A transactional handler's `tx` → what its settles through it need: the ids they settled
 * (complete, fail, ...), and `fence(id)`, which turns ids that are all the batch's into the
 * attempts the batch was claimed at, so a handler whose claim lapsed cannot settle a newer one.
 */
function handlerTransaction (jobs) {
  const claims = new Map(jobs.map(job => [job.id, job.retryCount]))
  return {
    settled: new Set(),
    fence (id) {
      const ids = Array.isArray(id) ? id : [id]
      if (!ids.length || !ids.every(i => typeof i === 'string' && claims.has(i))) return id
      return ids.map(i => ({ id: i, retryCount: claims.get(i) }))
    },
    /** Count the ids a settle's `result` landed toward the batch's completion. */
    record (result) {
      if (!result) return
      const landed = result.settled ?? (result.affected < result.requested ? [] : result.jobs ?? [])
      for (const id of landed) this.settled.add(id)
    }
  }
}

/** The handler transaction a `method` call through `db` settles in, when it is one. */
function settlingHandlerTransaction (method, db) {
  return db && HANDLER_SETTLES.has(method) ? handlerTransactions.get(db) : undefined
}

/**
 * The `tx` a transactional handler gets: `executeSql(text, values)` on the connection its
 * transaction holds (the engine's pool), rows as `getDb().executeSql()` returns them.
 */
function transactionDb (native, id) {
  const db = {
    executeSql: async (text, values) =>
      sqlResult(unwrap(await native.transactionSql(id, String(text), JSON.stringify(Array.isArray(values) ? values : []))))
  }
  return db
}

/**
 * Abort a batch's signal, or, when no handler has read it yet, make it start out aborted. The
 * reason's Error is made only for a signal that exists (an Error captures a stack trace: made
 * after every handler call, it was a measurable share of a fast handler's cost).
 */
function abortBatch (state, reason) {
  if (state.reason !== null) return
  state.reason = reason
  state.controller?.abort(new Error(reason))
}

/**
 * The callbacks a `work()` (`each`: `workEach()`) of queue `name` hands the engine: `run` starts
 * a handler call and reports its outcome with `native.handled`, `abort` aborts a batch's signal.
 * `adapterTransactions`: the constructor `db`'s open transactions, by id.
 */
function handlerCallbacks ({ native, spies, adapterTransactions, name, handler, each, perJobResults }) {
  // batch id → its signal's state: created on first read of `job.signal` (most handlers never
  // read it, and an AbortController per job is a measurable share of a fast handler's cost)
  const batches = new Map()
  // the engine starts a handler call with `run` and learns its outcome from `handled`, which
  // hands back the batch chained after it (a local queue's next batch), started here at once
  const report = (batch, text) => {
    const next = native.handled(batch, text)
    if (next != null) run(next)
  }
  const run = (message) => {
    const parsed = JSON.parse(message)
    handle(parsed).then(
      (text) => report(parsed.batch, text),
      (err) => report(parsed.batch, JSON.stringify({ kind: 'rejected', error: { message: String(err?.message ?? err) }, terminal: false }))
    )
  }
  const handle = async ({ batch, jobs, tx, adapterTx }) => {
    const state = { controller: null, reason: null }
    batches.set(batch, state)
    const signal = {
      enumerable: true,
      configurable: true,
      get () {
        if (!state.controller) {
          state.controller = new AbortController()
          if (state.reason !== null) state.controller.abort(new Error(state.reason))
        }
        return state.controller.signal
      }
    }
    revive.jobs(jobs)
    for (const job of jobs) Object.defineProperty(job, 'signal', signal)
    spies?.claimed(name, batch, jobs, perJobResults && !each)
    let value
    // the handler's tx: the engine's transaction, or the adapter's own transaction db, as pg-boss hands it
    const db = tx != null ? transactionDb(native, tx) : adapterTx != null ? adapterTransactions?.get(adapterTx)?.db : undefined
    if (db) handlerTransactions.set(db, handlerTransaction(jobs))
    try {
      value = await (each ? handler(jobs[0]) : db ? handler(jobs, db) : handler(jobs))
      spies?.handled(batch, value)
    } catch (err) {
      spies?.handled(batch, undefined, err)
      return encodeRejected(err)
    } finally {
      // pg-boss aborts the signal once the handler has settled; the engine only sends an abort
      // for a timeout or a shutdown, so the common path costs one call into JS, not two
      batches.delete(batch)
      abortBatch(state, 'handler settled')
    }
    if (db) return encodeResolved(value, [...handlerTransactions.get(db).settled])
    return (perJobResults && !each) ? encodeResults(value) : encodeResolved(value)
  }
  const abort = (message) => {
    const { batch, reason } = JSON.parse(message)
    const state = batches.get(batch)
    batches.delete(batch)
    if (state) abortBatch(state, reason)
  }
  return { run, abort }
}

module.exports = { handlerCallbacks, settlingHandlerTransaction }
