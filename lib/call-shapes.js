'use strict'
// The argument shapes of send(), update()/upsert(), redrive() and flow() as JSON carries them to
// the engine: a caller's `db` taken out of the options (it runs the call; it is not sent), and
// what JSON would drop or change marked (see marks.js). Each answers `[args, db]`.

const { FUNCTION } = require('./convert.js')
const { UNDEFINED, DATE, markUndefined, payload, splitDb } = require('./marks.js')

/** send(), sendAfter(), sendThrottled(), sendDebounced(): by name, or one request object. */
function sendArguments (args) {
  let db
  // JSON turns a leading undefined into null, which pg-boss reads differently (typeof null is 'object')
  if (args.length && args[0] === undefined) args = [false, ...args.slice(1)]
  if (typeof args[0] === 'string') {
    const [options, optionsDb] = splitDb(args[2])
    db = optionsDb
    args = [args[0], payload(args[1]), markUndefined(options) ?? null, ...args.slice(3)]
  } else if (args[0] && typeof args[0] === 'object' && args[0].options) {
    const [options, optionsDb] = splitDb(args[0].options)
    db = optionsDb
    args = [{ ...args[0], options: markUndefined(options) }, ...args.slice(1)]
  }
  return [args, db]
}

/**
 * update()/upsert(): `undefined` data and options marked (absent data keeps the job's, `null`
 * clears it), a Date startAfter as its ISO text (an invalid one throws here, as in pg-boss).
 */
function updateArguments (args) {
  let db
  if (args.length && args[0] === undefined) args = [false, ...args.slice(1)]
  const mark = options => {
    const [rest, optionsDb] = splitDb(options)
    db = optionsDb
    if (rest && typeof rest === 'object' && rest.startAfter instanceof Date) {
      return markUndefined({ ...rest, startAfter: rest.startAfter.toISOString() })
    }
    return markUndefined(rest)
  }
  if (typeof args[0] === 'string') {
    const data = args.length > 1 && args[1] === undefined ? UNDEFINED : payload(args[1])
    args = [args[0], ...(args.length > 1 ? [data] : []), ...(args.length > 2 ? [mark(args[2]) ?? null] : []), ...args.slice(3)]
  } else if (args[0] && typeof args[0] === 'object' && !Array.isArray(args[0])) {
    const request = { ...args[0] }
    if ('data' in request) request.data = request.data === undefined ? UNDEFINED : payload(request.data)
    if (request.options) request.options = mark(request.options)
    args = [request, ...args.slice(1)]
  }
  return [args, db]
}

/** redrive()/previewRedrive(): `undefined` and Date filters marked, a data function as a marker. */
function redriveArguments (name, options) {
  const [rest, db] = splitDb(options)
  let marked = markUndefined(rest)
  if (marked && typeof marked === 'object' && marked.createdBefore instanceof Date) {
    const at = marked.createdBefore
    marked = { ...marked, createdBefore: DATE + (Number.isNaN(at.getTime()) ? '' : at.toISOString()) }
  }
  if (marked && typeof marked.data === 'function') marked = { ...marked, data: FUNCTION }
  return [[name ?? null, marked ?? {}], db]
}

/** flow(jobs, options): each job's `undefined` options marked. */
function flowArguments (jobs, options) {
  const [, db] = splitDb(options)
  const marked = Array.isArray(jobs)
    ? jobs.map(job => job && typeof job === 'object'
      ? { ...job, options: markUndefined(job.options) }
      : job)
    : (jobs ?? null)
  return [[marked], db]
}

module.exports = { sendArguments, updateArguments, redriveArguments, flowArguments }
