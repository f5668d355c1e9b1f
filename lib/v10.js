'use strict'
// pg-boss v10 call shapes that 12.38 changed, kept working where a v10 call cannot be mistaken
// for a 12.38 one: each is translated to the 12.38 call that does what v10 did, with a
// DeprecationWarning the first time a kind is used in the process. What the shapes mean, and
// which are not shimmed, is in the README ("Upgrading from pg-boss", "v10 code").

const warned = new Set()

const MESSAGES = {
  INSERT: 'insert(jobs) with a name on each job is the pg-boss v10 form; since v11 it is insert(name, jobs), one queue per call. pg-boss-native groups the jobs by name and inserts each queue\'s in turn.',
  OFF_WORK: 'offWork({ id }) is the pg-boss v10 form; since v11 it is offWork(name, { id }).',
  STOP_WAIT: 'stop({ wait }) is a pg-boss v10 option that pg-boss 12.38 ignores: its stop() always resolves once the instance has stopped. pg-boss-native still honours wait: false (resolve at once, stop in the background, report a failure as an error event).',
  JOB_DEFAULTS: 'job defaults on the constructor ({keys}) are pg-boss v10 options that pg-boss 12.38 ignores. pg-boss-native applies them as v10 did where they still have a place: retry, expiration, retention and deletion as defaults of the queues this instance creates, pollingIntervalSeconds as the default of its work() calls. Set them on createQueue() and work() instead.'
}

/** One DeprecationWarning per kind per process (code PGBOSS_NATIVE_V10_<KIND>). */
function deprecated (kind, detail = {}) {
  if (warned.has(kind)) return
  warned.add(kind)
  const message = MESSAGES[kind].replace(/\{(\w+)\}/g, (_, key) => detail[key] ?? '')
  process.emitWarning(message, { type: 'DeprecationWarning', code: `PGBOSS_NATIVE_V10_${kind}` })
}

/** v10's `insert(jobs, options)`: an array where 12.38 takes the queue name. */
function isV10Insert (name) {
  return Array.isArray(name)
}

/**
 * v10's jobs as 12.38 insert() calls: `[name, jobs]` per queue, in the order each queue first
 * appears, each job without its `name`. A job without a name is refused (v10 dropped it silently).
 */
function insertsByQueue (jobs) {
  const byQueue = new Map()
  for (const job of jobs) {
    const name = job && typeof job === 'object' ? job.name : undefined
    if (typeof name !== 'string' || !name) {
      throw new TypeError('insert(jobs): each job needs a queue name (the pg-boss v10 form), or call insert(name, jobs)')
    }
    const { name: _, ...rest } = job
    if (!byQueue.has(name)) byQueue.set(name, [])
    byQueue.get(name).push(rest)
  }
  return [...byQueue]
}

/** v10's `offWork({ id })`: an object where 12.38 takes the queue name. */
function isV10OffWork (name) {
  return name !== null && typeof name === 'object' && !Array.isArray(name) && 'id' in name
}

module.exports = { deprecated, isV10Insert, insertsByQueue, isV10OffWork }
