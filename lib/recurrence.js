'use strict'
// Schedule expressions: what `schedule()` and `previewSchedule()` accept and what a cron pass finds
// due. pg-boss 12.38 evaluates cron expressions with cron-parser 5 and RFC 5545 rules with
// rrule-temporal, and a mixed fleet only sends each occurrence once if every instance reads an
// expression the same way, so this module drives those same two libraries and refuses what 12.38
// refuses, with its wording. Everything else about a pass (the claim, the due window, the missed
// policy, throttle slots, the send-it queue) is the Rust engine's; it calls `evaluatePass` here.

const assert = require('node:assert')
const { CronExpressionParser } = require('cron-parser')
const { RRuleTemporal } = require('rrule-temporal')

const KINDS = Object.freeze({ cron: 'cron', rrule: 'rrule' })
const MISSED_POLICIES = Object.freeze({ skip: 'skip', once: 'once' })
const PREVIEW_MAX_COUNT = 1000
const PREVIEW_DEFAULT_COUNT = 5
// A preview is synchronous, so a sparse expression (`0 0 29 2 *`) asked for many occurrences would
// block the event loop for seconds; 12.38 gives up after a second of walking.
const PREVIEW_BUDGET_MS = 1000

// ---- telling the two formats apart ----

// A rule carries an iCalendar property name at the start of some line (`DTSTART:`, `RRULE;...`)
// or a FREQ part; no cron field can contain `=`, `:` or `;`.
const PROPERTY_LINE = /^[ \t]*[a-z][a-z0-9-]*[;:]/im
const FREQ_PART = /(?:^|[\s;])FREQ=/im

function isRrule (expression) {
  const text = String(expression)
  return PROPERTY_LINE.test(text) || FREQ_PART.test(text)
}

function kindOf (expression) {
  return isRrule(expression) ? KINDS.rrule : KINDS.cron
}

function assertExpression (expression) {
  assert(typeof expression === 'string' && expression.trim() !== '', 'cron expression must be a non-empty string')
}

// ---- time zones ----

// cron-parser only notices a bad zone once it builds a date in it, so one is built here. The same
// judgement serves rules, whose zone rrule-temporal would otherwise ignore when DTSTART names one.
function assertZone (tz) {
  const shown = typeof tz === 'string' ? `"${tz}"` : String(tz)
  const refusal = `Unknown or unsupported time zone: ${shown}`
  if (typeof tz !== 'string') throw new Error(refusal)
  try {
    CronExpressionParser.parse('* * * * *', { tz, strict: false, currentDate: new Date() })
  } catch {
    throw new Error(refusal)
  }
}

// ---- cron ----

/** The expression judged on its own (in UTC) first, then the zone, then the interval to walk. */
function cronInterval (expression, tz, currentDate) {
  CronExpressionParser.parse(expression, { tz: 'UTC', strict: false })
  assertZone(tz)
  return CronExpressionParser.parse(expression, { tz, strict: false, currentDate })
}

/** The latest occurrence at or before `at` (cron-parser's prev() is strict, hence the +1 ms). */
function cronAtOrBefore (expression, tz, at) {
  const interval = CronExpressionParser.parse(expression, { tz, strict: false, currentDate: new Date(at + 1) })
  return interval.prev().toDate().getTime()
}

// ---- RFC 5545 rules ----

// Without a DTSTART a rule recurs from midnight of 1970-01-01, floating, so the schedule's zone
// places it; every instance and release must pick the same anchor or INTERVAL phases would move.
const DEFAULT_DTSTART = '19700101T000000'
const ALLOWED_PROPERTIES = ['DTSTART', 'RRULE', 'RDATE', 'EXDATE']
// Each recur rule part and the rrule-temporal option it is parsed into (RFC 5545 3.3.10, RFC 7529).
const RULE_PARTS = new Map([
  ['FREQ', 'freq'], ['UNTIL', 'until'], ['COUNT', 'count'], ['INTERVAL', 'interval'],
  ['BYSECOND', 'bySecond'], ['BYMINUTE', 'byMinute'], ['BYHOUR', 'byHour'], ['BYDAY', 'byDay'],
  ['BYMONTHDAY', 'byMonthDay'], ['BYYEARDAY', 'byYearDay'], ['BYWEEKNO', 'byWeekNo'],
  ['BYMONTH', 'byMonth'], ['BYSETPOS', 'bySetPos'], ['WKST', 'wkst'], ['RSCALE', 'rscale'], ['SKIP', 'skip']
])
const LINE_PROPERTY = /^([a-z][a-z0-9-]*)[;:]/i

/**
 * The expression as the iCalendar text rrule-temporal reads, and its RRULE value. Refuses what the
 * parser would silently read past: unknown properties and parts, repeated ones, a COUNT with no
 * DTSTART to count from, RDATE/EXDATE values of another type than DTSTART.
 */
function calendarText (expression) {
  const lines = []
  const dateLists = []
  let start = null
  let recur = null
  // folded lines (a break followed by a space or tab) continue the previous one
  const unfolded = expression.replace(/\r?\n[ \t]/g, '')
  for (const raw of unfolded.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === '') continue
    const named = LINE_PROPERTY.exec(line)
    const property = named ? named[1].toUpperCase() : 'RRULE'
    const value = named ? line.slice(line.indexOf(':') + 1) : line
    assert(property !== 'BEGIN' && property !== 'END', 'rrule expression should be the DTSTART, RRULE, RDATE and EXDATE lines of a calendar entry, without the BEGIN and END lines around them')
    assert(ALLOWED_PROPERTIES.includes(property), `Unsupported property "${property}" in rrule expression. Supported properties: ${ALLOWED_PROPERTIES.join(', ')}`)
    switch (property) {
      case 'DTSTART':
        assert(start === null, 'rrule expression has more than one DTSTART')
        start = value
        break
      case 'RRULE':
        assert(recur === null, 'rrule expression has more than one RRULE')
        recur = value
        checkRuleParts(value)
        break
      default:
        dateLists.push([property, value])
    }
    lines.push(named ? line : `RRULE:${line}`)
  }
  assert(recur !== null, 'rrule expression has no RRULE to recur on')
  if (start === null) {
    assert(!/(^|;)COUNT=/i.test(recur), 'rrule expression uses COUNT, which counts occurrences from DTSTART, so it needs a DTSTART of its own')
    lines.unshift(`DTSTART:${DEFAULT_DTSTART}`)
  }
  checkDateTypes(dateLists, start ?? DEFAULT_DTSTART)
  return { text: lines.join('\n'), recur }
}

function checkRuleParts (recur) {
  const seen = new Set()
  for (const part of recur.split(';')) {
    if (part === '') continue
    const [name, value = ''] = part.toUpperCase().split('=')
    assert(value !== '', `rrule part "${part}" has no value`)
    // X- parts are RFC 5545's extension space: passed to the parser unjudged
    assert(RULE_PARTS.has(name) || name.startsWith('X-'), `Unsupported part "${part}" in rrule expression`)
    assert(!seen.has(name), `rrule expression has more than one ${name} part`)
    seen.add(name)
  }
}

// RDATE/EXDATE must have DTSTART's value type: a bare date next to a date-time DTSTART is read as
// midnight, so an excluded 09:00 occurrence would still be sent.
function checkDateTypes (dateLists, start) {
  const startIsDate = !start.includes('T')
  for (const [property, value] of dateLists) {
    for (const date of value.split(',')) {
      const example = startIsDate ? `a date such as ${date.slice(0, 8)}` : `a date time such as ${date}T090000`
      assert(date.includes('T') !== startIsDate, `rrule ${property} "${date}" must have the same value type as DTSTART: ${example}`)
    }
  }
}

// rrule-temporal drops a part value that is merely out of range (BYHOUR=25, or the 25 of
// BYHOUR=9,25); the options it built then lack the part or some of its values.
function checkPartValues (recur, rule) {
  const built = { ...rule.options() }
  for (const part of recur.split(';')) {
    const [name, value = ''] = part.split('=')
    const option = RULE_PARTS.get(name.toUpperCase())
    if (option === undefined) continue
    const parsed = built[option]
    const refusal = `Unsupported value in rrule part "${part}"`
    assert(parsed !== undefined, refusal)
    if (Array.isArray(parsed)) {
      assert(parsed.length === new Set(value.toUpperCase().split(',')).size, refusal)
    }
  }
}

function ruleFromText (text, tz) {
  // strict: the combinations RFC 5545 forbids are refused rather than evaluated some way
  return new RRuleTemporal({ rruleString: text, tzid: tz, strict: true })
}

function buildRule (expression, tz) {
  return ruleFromText(calendarText(expression).text, tz)
}

function assertRule (expression, tz) {
  const { text, recur } = calendarText(expression)
  checkPartValues(recur, ruleFromText(text, 'UTC'))
  assertZone(tz)
}

const millis = (occurrence) => occurrence.epochMilliseconds

function ruleNextAfter (expression, tz, after) {
  const next = buildRule(expression, tz).next(new Date(after))
  return next === null ? null : millis(next)
}

/** Occurrences in (after, until], in order. */
function ruleBetween (expression, tz, after, until) {
  return buildRule(expression, tz).between(new Date(after), new Date(until + 1)).map(millis)
}

// A catch-up reads backwards from the window in widening steps (an hour, then 4x each step), so
// a long outage costs what the one occurrence it finds costs. rrule-temporal throws when one
// call would generate too many occurrences; such a step is halved and no later step grows past it.
const STEP_MS = 60 * 60 * 1000
const STEP_GROWTH = 4

/** The latest occurrence in (after, until], or null. */
function ruleLatest (expression, tz, after, until) {
  const rule = buildRule(expression, tz)
  let upper = until
  let width = STEP_MS
  let cap = Infinity
  while (upper > after) {
    const lower = Math.max(after, upper - width)
    let found
    try {
      found = rule.between(new Date(lower), new Date(upper + 1))
    } catch (err) {
      if (upper - lower <= STEP_MS) throw err
      cap = Math.max(STEP_MS, Math.floor((upper - lower) / 2))
      width = cap
      continue
    }
    if (found.length > 0) return millis(found[found.length - 1])
    upper = lower
    width = Math.min(width * STEP_GROWTH, cap)
  }
  return null
}

// ---- the public checks and reads ----

/** What schedule() and previewSchedule() refuse, in 12.38's order and words. */
function assertRecurrence (expression, tz, now) {
  assertExpression(expression)
  if (isRrule(expression)) {
    assertRule(expression, tz)
  } else {
    cronInterval(expression, tz, now)
  }
}

/** schedule()'s extra demand on a rule: it must still have an occurrence after `from`. */
function assertRuleSends (expression, tz, from) {
  assert(ruleNextAfter(expression, tz, from) !== null, 'rrule expression has no occurrence left, so the schedule would never send a job')
}

function occurrenceWalker (expression, tz, from) {
  assertExpression(expression)
  if (isRrule(expression)) {
    assertRule(expression, tz)
    const rule = buildRule(expression, tz)
    let after = from
    return () => {
      const next = rule.next(after)
      if (next === null) return null
      after = new Date(millis(next))
      return after
    }
  }
  const interval = cronInterval(expression, tz, from)
  return () => interval.next().toDate()
}

/** previewSchedule(expression, { tz, from, count }); `databaseTime` is the default `from`. */
function preview (expression, options, databaseTime) {
  const { count = PREVIEW_DEFAULT_COUNT } = options
  const tz = options.tz || 'UTC'
  const from = options.from ?? new Date(databaseTime)
  assert(from instanceof Date && !Number.isNaN(from.getTime()), 'from must be a valid Date')
  const next = occurrenceWalker(expression, tz, from)
  assert(Number.isInteger(count) && count >= 1 && count <= PREVIEW_MAX_COUNT, `count must be an integer between 1 and ${PREVIEW_MAX_COUNT}`)
  const deadline = Date.now() + PREVIEW_BUDGET_MS
  const found = []
  while (found.length < count) {
    const occurrence = next()
    if (occurrence === null) break
    found.push(occurrence)
    if (found.length < count && Date.now() > deadline) {
      throw new Error(`Gave up after ${PREVIEW_BUDGET_MS}ms with ${found.length} of ${count} occurrences of "${expression}". Ask for fewer and page with \`from\`.`)
    }
  }
  return found
}

/**
 * Checks schedule()'s expression and zone; answers the kind the row is stored with. `now` is the
 * instance's clock, `databaseTime` its reading of the database's (a spent rule is judged on it).
 */
function checkSchedule (expression, tz, now, databaseTime) {
  const kind = kindOf(expression)
  assertRecurrence(expression, tz, new Date(now))
  if (kind === KINDS.rrule) assertRuleSends(expression, tz, databaseTime)
  return kind
}

// ---- a cron pass ----

/** Occurrences in (windowStart, databaseTime], read as `kind`: a cron expression's latest only. */
function occurrencesDue (expression, kind, tz, windowStart, databaseTime) {
  if (kind === KINDS.rrule) return ruleBetween(expression, tz, windowStart, databaseTime)
  const latest = cronAtOrBefore(expression, tz, databaseTime)
  return latest > windowStart ? [latest] : []
}

/**
 * The stored kind is a hint: a row relabelled by an older release (or a rolled-back migration) can
 * disagree with its expression. When the expression cannot be read as stored but is written the
 * other way, it is read the way it is written, and the pass relabels the row.
 */
function dueWithKind (expression, kind, tz, windowStart, databaseTime) {
  assertExpression(expression)
  try {
    return { kind, occurrences: occurrencesDue(expression, kind, tz, windowStart, databaseTime) }
  } catch (err) {
    const written = kindOf(expression)
    if (written === kind) throw err
    return { kind: written, occurrences: occurrencesDue(expression, written, tz, windowStart, databaseTime) }
  }
}

function latestIn (expression, kind, tz, after, until) {
  if (kind === KINDS.rrule) return ruleLatest(expression, tz, after, until)
  const latest = cronAtOrBefore(expression, tz, until)
  return latest > after ? latest : null
}

/**
 * One pass's arithmetic, called by the engine: for each schedule `{ cron, kind, timezone,
 * missedFrom }` the kind it was read as, its due occurrences (epoch ms) and, when the engine asks
 * with `missedFrom`, the latest missed one in (missedFrom, windowStart]. A schedule that cannot be
 * read answers `error`; a catch-up that cannot, `missedError`: the engine warns for each.
 */
function evaluatePass ({ schedules, windowStart, databaseTime }) {
  return schedules.map(({ cron, kind, timezone, missedFrom }) => {
    let due
    try {
      due = dueWithKind(cron, kind, timezone, windowStart, databaseTime)
    } catch (err) {
      return { error: String(err?.message ?? err) }
    }
    const answer = { kind: due.kind, occurrences: due.occurrences, missed: null }
    if (missedFrom !== null && missedFrom !== undefined) {
      try {
        answer.missed = latestIn(cron, due.kind, timezone, missedFrom, windowStart)
      } catch (err) {
        answer.missedError = String(err?.message ?? err)
      }
    }
    return answer
  })
}

module.exports = {
  KINDS,
  MISSED_POLICIES,
  PREVIEW_MAX_COUNT,
  isRrule,
  checkSchedule,
  preview,
  evaluatePass
}
