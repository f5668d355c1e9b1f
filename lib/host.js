'use strict'
// An instance's JavaScript side, what the engine asks of it (src/binding/host.rs): expression
// arithmetic for the cron pass, the `clock` option's time, timers and attachment, and the heap
// and event loop figures of the registry's vitals.
//
// Under a clock a test drives (a TestClock), the engine's two timer chains (cron claim, skew
// monitor) wait on that clock's timers. `idle()` tells the clock when a chain it woke has done
// its work: a chain is busy from its wake until it asks for its next timer.

const recurrence = require('./recurrence.js')
const { LoopVitals } = require('./vitals.js')

const realDelay = (ms) => new Promise(resolve => setTimeout(resolve, ms))

class EngineHost {
  #clock
  #timers = new Set()
  #busy = new Set()
  #attachment = null
  #target
  #vitals = new LoopVitals()

  /** `clock` is the constructor's (null for the system clock); `target()` the attach target. */
  constructor (clock, target) {
    this.#clock = clock || null
    this.#target = target
  }

  get attachable () { return typeof this.#clock?.attach === 'function' }
  /** Whether this instance's TestClock holds the schema's job_now() now. */
  get attached () { return this.#attachment !== null }

  now () { return this.#clock ? this.#clock.now() : Date.now() }

  /** What the engine calls with each message (src/binding/host.rs): never rejects. */
  handle = async (messageJson) => {
    try {
      const message = JSON.parse(messageJson)
      return JSON.stringify({ ok: await this.#answer(message) ?? null })
    } catch (err) {
      return JSON.stringify({ err: String(err?.message ?? err) })
    }
  }

  async #answer (message) {
    switch (message.type) {
      case 'evaluate': return recurrence.evaluatePass(message.request)
      case 'now': return this.now()
      case 'sleep': return this.#sleep(message.chain, message.ms)
      case 'attach':
        this.#attachment = await this.#clock.attach(this.#target())
        return null
      case 'detach': {
        const attachment = this.#attachment
        this.#attachment = null
        if (attachment) await attachment[Symbol.asyncDispose]()
        return null
      }
      case 'vitals': return this.#vitals.sample()
      default: throw new Error(`unknown host message ${message.type}`)
    }
  }

  #sleep (chain, ms) {
    this.#busy.delete(chain)
    return new Promise(resolve => {
      const timer = {
        chain,
        resolve,
        handle: this.#clock.setTimeout(() => {
          this.#timers.delete(timer)
          this.#busy.add(chain)
          resolve()
        }, ms)
      }
      this.#timers.add(timer)
    })
  }

  /** start() is about to run both chains' first rounds (a skew reading, a cron pass). */
  starting (scheduling) {
    if (scheduling && this.#clock) {
      this.#busy.add('cron')
      this.#busy.add('skew')
    }
  }

  /** The chains have ended (stop, or a start that failed): their timers go, and the loop monitor. */
  stopped () {
    this.#vitals.stop()
    for (const timer of this.#timers) {
      this.#clock.clearTimeout(timer.handle)
      timer.resolve()
    }
    this.#timers.clear()
    this.#busy.clear()
  }

  /** For a TestClock: waits while a chain it woke is still at work; true if it waited. */
  idle = async () => {
    let waited = false
    while (this.#busy.size > 0) {
      waited = true
      await realDelay(2)
    }
    return waited
  }
}

module.exports = { EngineHost, recurrence }
