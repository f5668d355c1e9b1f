'use strict'
// What a handler's call comes to, as the engine reads it: its value or error as pg-boss stores a
// job's output (through serialize-error), `perJobResults` entries, and which errors skip retries.

/** An error that fails its job at once: no retries left are used, a dead letter queue gets it. */
class UnrecoverableError extends Error {
  constructor (message, options) {
    super(message, options)
    this.name = 'UnrecoverableError'
    this.retryable = false
  }
}

function isTerminal (err) {
  return err instanceof UnrecoverableError || (err !== null && typeof err === 'object' && err.retryable === false)
}

let serializeErrorModule
/** serialize-error 13 is ESM-only; loaded on first use so `require()` works on Node 20. */
async function loadSerializeError () {
  serializeErrorModule ??= await import('serialize-error')
  return serializeErrorModule
}

async function serializeError (value) {
  return (await loadSerializeError()).serializeError(value)
}

/** `complete()`/`fail()` data as pg-boss stores it. */
async function completionData (data) {
  await loadSerializeError()
  return storedOutput(data)
}

/** `completionData` once serialize-error is loaded: synchronous, for per-job results. */
function storedOutput (data) {
  if (data === null || data === undefined || typeof data === 'function') return null
  const value = (typeof data === 'object' && !Array.isArray(data)) ? data : { value: data }
  return serializeErrorModule.serializeError(value)
}

async function encodeResolved (value, handlerSettled) {
  try {
    return JSON.stringify({ kind: 'resolved', output: await completionData(value), handlerSettled })
  } catch (err) {
    return encodeUnserializable(err)
  }
}

async function encodeRejected (err) {
  try {
    return JSON.stringify({ kind: 'rejected', error: await completionData(err), terminal: isTerminal(err) })
  } catch (inner) {
    return encodeUnserializable(inner)
  }
}

async function encodeUnserializable (err) {
  const error = new Error(`handler output could not be serialized: ${err?.message ?? err}`)
  return JSON.stringify({ kind: 'rejected', error: await serializeError(error), terminal: false })
}

/** `perJobResults`: `JobResult[]`, or `Promise.allSettled` output (index-aligned). */
async function encodeResults (value) {
  if (!Array.isArray(value)) return JSON.stringify({ kind: 'notArray' })
  await loadSerializeError()
  // each entry is stringified once, alone (an output that cannot be stored fails only its job),
  // and the message is put together from those strings
  const parts = value.map(encodeResult)
  return '{"kind":"results","results":[' + parts.join(',') + ']}'
}

/** One `perJobResults` entry as JSON (serialize-error is loaded). */
function encodeResult (item) {
  const settled = item && (item.status === 'fulfilled' || item.status === 'rejected') && !('id' in item)
  try {
    if (settled) {
      return JSON.stringify(item.status === 'fulfilled'
        ? { settled: 'fulfilled', output: storedOutput(item.value) }
        : { settled: 'rejected', output: storedOutput(item.reason), terminal: isTerminal(item.reason) })
    }
    return JSON.stringify({ id: item?.id, status: item?.status, output: storedOutput(item?.output), terminal: isTerminal(item?.output) })
  } catch (err) {
    const error = serializeErrorModule.serializeError(new Error(`handler output could not be serialized: ${err?.message ?? err}`))
    return JSON.stringify(settled ? { settled: 'rejected', output: error } : { id: item?.id, status: 'failed', output: error })
  }
}

module.exports = {
  UnrecoverableError,
  isTerminal,
  serializeError,
  completionData,
  storedOutput,
  encodeResolved,
  encodeRejected,
  encodeUnserializable,
  encodeResults
}
