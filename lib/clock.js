'use strict'
// Clocks for the `clock` option, as pg-boss 12.38 exports them. `systemClock` is real time.
// `TestClock` is time a test moves by hand: it only advances through setTime() and tick(), its
// timers only fire inside tick(), and once attached to a schema every session of an instance
// that uses it reads the same time from job_now(), so the schedules a test drives see the
// database agree with JavaScript. Its statements come from the engine (plans/clock.rs).

const native = require('./native.js')

const systemClock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => clearInterval(handle)
})

function toMillis (value) {
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : new Date(value).getTime()
  if (!Number.isFinite(ms)) throw new Error(`TestClock: invalid time ${String(value)}`)
  return ms
}

const nextTurn = () => new Promise(resolve => setImmediate(resolve))

class TestClock {
  #now
  // pending timers, ordered by due time and then by when they were set
  #timers = []
  #order = 0
  #running = null
  // attached instances: { db, schema, idle }
  #targets = []

  constructor (start = Date.now()) {
    this.#now = toMillis(start)
  }

  now () { return this.#now }

  setTimeout (fn, ms) { return this.#add(fn, ms, null) }

  setInterval (fn, ms) { return this.#add(fn, ms, Math.max(ms, 1)) }

  clearTimeout (handle) {
    const at = this.#timers.indexOf(handle)
    if (at !== -1) this.#timers.splice(at, 1)
  }

  clearInterval (handle) { this.clearTimeout(handle) }

  /**
   * Jumps to `time` (either way) without firing anything. Work in flight settles first. A forward
   * jump is elapsed time, so every timer it passed fires once on the next tick; a backward jump
   * leaves timers where they are.
   */
  async setTime (time) {
    this.#begin('setTime')
    try {
      const target = toMillis(time)
      await this.#settle()
      for (const timer of this.#timers) {
        if (timer.due >= target) break
        timer.due = target
      }
      this.#now = target
      await this.#publish()
    } finally {
      this.#running = null
    }
  }

  /**
   * Advances by `ms`, firing each due timer at its own due time, in order, and letting the
   * attached instances finish their statements after each one (not their job handlers).
   */
  async tick (ms) {
    this.#begin('tick')
    try {
      await this.#settle()
      const target = this.#now + ms
      for (;;) {
        const timer = this.#timers[0]
        if (timer && timer.due <= target) {
          this.#timers.shift()
          if (timer.due > this.#now) {
            this.#now = timer.due
            await this.#publish()
          }
          if (timer.interval !== null) {
            timer.due += timer.interval
            timer.order = this.#order++
            this.#insert(timer)
          }
          timer.fn()
        } else if (this.#now < target) {
          this.#now = target
          await this.#publish()
        } else {
          break
        }
        await this.#settle()
      }
    } finally {
      this.#running = null
    }
  }

  /** Takes over `job_now()` in `schema` until the returned handle is disposed. */
  async attach ({ db, schema, idle }) {
    const plans = JSON.parse(native.testClockPlans(schema, this.#now / 1000))
    await db.executeSql(plans.attach)
    const target = { db, schema, idle, set: plans.set }
    this.#targets.push(target)
    let disposed = false
    return {
      [Symbol.asyncDispose]: async () => {
        if (disposed) return
        disposed = true
        this.#targets.splice(this.#targets.indexOf(target), 1)
        // the last instance on a schema gives job_now() back
        if (!this.#targets.some(t => t.schema === schema)) await db.executeSql(plans.restore)
      }
    }
  }

  #begin (method) {
    if (this.#running) throw new Error(`TestClock: ${method}() called while a ${this.#running} is in progress`)
    this.#running = method
  }

  #add (fn, ms, interval) {
    const timer = { fn, due: this.#now + Math.max(ms, 0), order: this.#order++, interval }
    this.#insert(timer)
    return timer
  }

  #insert (timer) {
    let at = this.#timers.length
    while (at > 0) {
      const before = this.#timers[at - 1]
      if (before.due < timer.due || (before.due === timer.due && before.order < timer.order)) break
      at--
    }
    this.#timers.splice(at, 0, timer)
  }

  async #publish () {
    const seconds = this.#now / 1000
    await Promise.all(this.#targets.map(t => t.db.executeSql(t.set, [seconds])))
  }

  // until every attached instance is quiet in the same round: one going quiet can wake another
  async #settle () {
    for (;;) {
      await nextTurn()
      const waited = await Promise.all(this.#targets.map(t => t.idle ? t.idle() : false))
      if (!waited.includes(true)) return
    }
  }
}

module.exports = { systemClock, TestClock }
