'use strict'
// The registry's process vitals that only JavaScript can read: the V8 heap, and the event loop's
// delay (p99 and worst, less the sampling resolution) and utilization since the last sample. The
// engine adds CPU and memory against the container's limits (src/vitals.rs). As in pg-boss 12.38
// the loop figures are null on the first sample after start, and anything unreadable is null.

const v8 = require('node:v8')
const { monitorEventLoopDelay, performance } = require('node:perf_hooks')

const RESOLUTION_MS = 20
const round = (n, places) => Math.round(n * 10 ** places) / 10 ** places

class LoopVitals {
  #delay = null
  #utilization = null

  /** One sample; the first starts the event loop monitor and has no loop figures. */
  sample () {
    const first = this.#delay === null
    let loopDelay = null
    let loopDelayMax = null
    if (first) {
      try {
        this.#delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
        this.#delay.enable()
      } catch {
        this.#delay = false
      }
    } else if (this.#delay) {
      if (this.#delay.count > 0) {
        loopDelay = round(Math.max(0, this.#delay.percentile(99) / 1e6 - RESOLUTION_MS), 1)
        loopDelayMax = round(Math.max(0, this.#delay.max / 1e6 - RESOLUTION_MS), 1)
      }
      this.#delay.reset()
    }
    let loopUtilization = null
    try {
      const now = performance.eventLoopUtilization()
      if (now.idle !== 0 || now.active !== 0) {
        if (!first && this.#utilization) loopUtilization = round(performance.eventLoopUtilization(now, this.#utilization).utilization, 3)
        this.#utilization = now
      }
    } catch {}
    let heapUsed = null
    let heapLimit = null
    try {
      const heap = v8.getHeapStatistics()
      heapUsed = heap.used_heap_size
      heapLimit = heap.heap_size_limit
    } catch {}
    return { heapUsed, heapLimit, loopDelay, loopDelayMax, loopUtilization }
  }

  /** The instance stopped: the monitor goes, and the next sample is a first one. */
  stop () {
    if (this.#delay) this.#delay.disable()
    this.#delay = null
    this.#utilization = null
  }
}

module.exports = { LoopVitals }
