'use strict'
// What JSON cannot carry across to the engine, marked so that it can: a property set to
// `undefined`, a `Date` where pg-boss checks `instanceof Date`, a function as a job's data, and a
// caller's `db`, which stays on this side.

const { FUNCTION } = require('./convert.js')

// An own property set to `undefined` still counts for pg-boss's `key in options` checks, but
// JSON drops it; the engine reads this marker as that property (see js::UNDEFINED).
const UNDEFINED = '\u0000undefined'
// A Date where pg-boss checks `instanceof Date`: its ISO text after this prefix (see js::DATE).
const DATE = '\u0000date:'

/** `options` with its `undefined` properties (all, or only `keys`) marked so they reach the engine. */
function markUndefined (options, keys) {
  if (!options || typeof options !== 'object' || Array.isArray(options)) return options
  let marked = null
  for (const key of keys ?? Object.keys(options)) {
    if (Object.hasOwn(options, key) && options[key] === undefined) {
      marked ??= { ...options }
      marked[key] = UNDEFINED
    }
  }
  const group = (marked ?? options).group
  if (!keys && group && typeof group === 'object' && Object.hasOwn(group, 'tier') && group.tier === undefined) {
    marked ??= { ...options }
    marked.group = { ...group, tier: UNDEFINED }
  }
  return marked ?? options
}

/** A job's `data` as JSON carries it: a function (which send() refuses) as its marker. */
function payload (data) {
  return typeof data === 'function' ? FUNCTION : (data ?? null)
}

/** `{ db, ...rest }` → [rest, db]: a caller's db cannot cross as JSON. */
function splitDb (options) {
  if (!options || typeof options !== 'object' || !('db' in options)) return [options, undefined]
  const { db, ...rest } = options
  return [rest, db]
}

/** JSON writes Infinity and NaN as null (a default); as text they are refused as pg-boss refuses them. */
function nonFiniteAsText (options) {
  if (!options || typeof options !== 'object') return options
  const nonFinite = ([, v]) => typeof v === 'number' && !Number.isFinite(v)
  if (!Object.entries(options).some(nonFinite)) return options
  return Object.fromEntries(Object.entries(options).map(e => nonFinite(e) ? [e[0], String(e[1])] : e))
}

module.exports = { UNDEFINED, DATE, markUndefined, nonFiniteAsText, payload, splitDb }
