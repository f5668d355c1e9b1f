'use strict'
// The constants pg-boss exports beside the class: job states, queue policies, event names, and
// the session setting a TestClock's job_now() reads.

const states = Object.freeze({
  created: 'created',
  retry: 'retry',
  active: 'active',
  completed: 'completed',
  cancelled: 'cancelled',
  failed: 'failed'
})

const policies = Object.freeze({
  standard: 'standard',
  short: 'short',
  singleton: 'singleton',
  stately: 'stately',
  exclusive: 'exclusive',
  key_strict_fifo: 'key_strict_fifo'
})

const events = Object.freeze({
  error: 'error',
  warning: 'warning',
  wip: 'wip',
  stopped: 'stopped',
  bam: 'bam',
  flow: 'flow'
})

// The session setting a TestClock's job_now() reads: sessions opt in, all others keep real time.
const CLOCK_OVERRIDE_SETTING = 'pgboss.test_clock'
function enableClockOverride () { return `SET ${CLOCK_OVERRIDE_SETTING} = 'on'` }
function disableClockOverride () { return `RESET ${CLOCK_OVERRIDE_SETTING}` }

module.exports = { states, policies, events, CLOCK_OVERRIDE_SETTING, enableClockOverride, disableClockOverride }
