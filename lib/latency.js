'use strict'
// Wait and run histograms (`waitBins`, `runBins` on queue stats) and pg-boss 12.38's two helpers
// for them. Slot 0 counts jobs under LATENCY_MIN_SECONDS, slot k (1..46) jobs from MIN·√2^(k-1)
// to MIN·√2^k, the last slot everything past the top edge.
//
// In JavaScript rather than in the engine: the estimate interpolates with `Math.SQRT2 ** x`, and
// V8's pow and the C library's differ in the last bit for some exponents, so only JavaScript
// arithmetic returns the very numbers pg-boss returns. getQueueStats() fills its `percentiles`
// here too (the engine checks the option and lists the percents), so there is one implementation.

const assert = require('node:assert')

const LATENCY_MIN_SECONDS = 0.01

/** `addBins(a, b)`: the two histograms added slot by slot; a missing one counts as empty, two give null. */
function addBins (a, b) {
  if (!b) return a ? [...a] : null
  if (!a) return [...b]
  return a.map((n, i) => n + (b[i] ?? 0))
}

/** `percentile(bins, p)`: the seconds under which p percent (1 to 100) of the jobs fall; null when empty. */
function percentile (bins, p) {
  assert(typeof p === 'number' && p >= 1 && p <= 100, 'percentile: p must be a percent from 1 to 100, such as 95')
  if (!bins) return null
  const total = bins.reduce((sum, n) => sum + n, 0)
  if (total === 0) return null
  const target = p / 100 * total
  let k = 0
  let below = 0
  // the slot holding the target job; the last slot ends the walk whatever the counts say
  while (k < bins.length - 1 && !(bins[k] > 0 && below + bins[k] >= target)) below += bins[k++]
  if (k === 0) return LATENCY_MIN_SECONDS
  const lowerEdge = LATENCY_MIN_SECONDS * Math.SQRT2 ** (k - 1)
  if (k === bins.length - 1) return lowerEdge
  return lowerEdge * Math.SQRT2 ** ((target - below) / bins[k])
}

/** Fills the `percentiles` entries the engine lists (`{ p }`) from each snapshot's own histograms. */
function fillPercentiles (snapshots) {
  for (const snapshot of snapshots) {
    if (!Array.isArray(snapshot?.percentiles)) continue
    snapshot.percentiles = snapshot.percentiles.map(({ p }) => ({
      p,
      waitSeconds: percentile(snapshot.waitBins, p),
      runSeconds: percentile(snapshot.runBins, p)
    }))
  }
  return snapshots
}

module.exports = { addBins, percentile, fillPercentiles }
