// Schedules, the API half: previewSchedule() over a table of cron and RRULE expressions, zones and
// instants, schedule()'s refusals, and the rows schedule()/getSchedules()/getSchedule()/
// unschedule() write and read, each compared with pg-boss 12.38 on the same database.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss, previewScheduleMaxCount, scheduleKinds, scheduleMissedPolicies } from '../index.mjs'
import * as reference from 'pg-boss'
import { bothForFile, connectionString, outcome } from './helpers.mjs'

const SCHEMA = 'pgbn_test_schedule'
let ours, ref, db
bothForFile(SCHEMA, both => ({ ours, ref, db } = both))

/** What previewSchedule() answered: ISO instants, or the error's class and message. */
function preview (boss, expression, options) {
  try {
    return { ok: boss.previewSchedule(expression, options).map(d => d.toISOString()) }
  } catch (err) {
    return { error: err?.constructor?.name, message: err?.message }
  }
}

const CRON = [
  '* * * * *', '*/5 * * * *', '0 9 * * 1-5', '0 9 * * MON-FRI', '15 14 1 * *', '0 0 L * *', '0 0 L-2 * *',
  '0 0 * * 5L', '0 0 * * 5#3', '0 0 ? * MON', '0 12 * JAN,JUL *', '*/15 * * * * *', '30 0 9 * * *',
  '0 0 29 2 *', '0 0 15W * *', '0 2 * * *', '30 2 * * *', '30 1 * * *', '0 0 1 1 *', '@daily', '@hourly',
  // refused
  'bad', '60 * * * *', '* * * * * * *', '* 25 * * *', '', '   ', 'x y z'
]

const RRULE = [
  'FREQ=DAILY;BYHOUR=9', 'FREQ=DAILY;BYHOUR=9;BYMINUTE=30', 'FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=8',
  'FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17', 'FREQ=MONTHLY;BYMONTHDAY=-1', 'FREQ=HOURLY;INTERVAL=3',
  'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29', 'RRULE:FREQ=DAILY;BYHOUR=2;BYMINUTE=30',
  'DTSTART;TZID=Europe/Berlin:20260101T090000\nRRULE:FREQ=DAILY',
  'DTSTART:20260301T090000\nRRULE:FREQ=DAILY;COUNT=3', 'DTSTART:20260101T090000\nRRULE:FREQ=DAILY;UNTIL=20260105T090000',
  'DTSTART:20260301T090000\nRRULE:FREQ=DAILY\nEXDATE:20260309T090000,20260310T090000',
  'DTSTART:20260301T090000\r\nRRULE:FREQ=DAILY\r\nRDATE:20260308T120000', 'X-CUSTOM=1;FREQ=DAILY',
  'DTSTART:20260301T090000\nRRULE:FREQ=DAILY\nEXDATE:20260309T09\n 0000',
  // refused
  'FREQ=DAILY;BYHOUR=25', 'FREQ=DAILY;BYHOUR=9,25', 'FREQ=DAILY;BYHOURS=9', 'FREQ=DAILY;BYHOUR=9;BYHOUR=10',
  'FREQ=WEEKLY;BYMONTHDAY=1', 'FREQ=HOURLY;INTERVAL=0', 'FREQ=DAILY;COUNT=3', 'BEGIN:VEVENT\nRRULE:FREQ=DAILY',
  'RDATE:20260101T090000', 'DTSTART:20260101T090000\nDTSTART:20260102T090000\nRRULE:FREQ=DAILY',
  'DTSTART:20260101T090000\nRRULE:FREQ=DAILY\nEXDATE;VALUE=DATE:20260310', 'SUMMARY:x\nRRULE:FREQ=DAILY',
  'FREQ=DAILY;BYDAY=XX', 'FREQ=DAILY;BYHOUR=', 'FREQ=SOMETIMES'
]

const ZONES = [undefined, null, '', 'UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/New_Yrok', 'Mars/Base']

// around both 2026 DST changes in America/New_York and Europe/Berlin, and a plain instant
const FROM = ['2026-03-08T06:30:00Z', '2026-03-29T00:30:00Z', '2026-11-01T05:15:00Z', '2026-12-01T10:15:42.123Z']

test('previewSchedule() gives pg-boss 12.38\'s occurrences and refusals for a table of expressions, zones and instants', () => {
  const reader = new PgBoss({ connectionString, schema: SCHEMA })
  const theirs = new reference.PgBoss({ connectionString, schema: SCHEMA })
  let compared = 0
  for (const expression of [...CRON, ...RRULE]) {
    for (const tz of ZONES) {
      for (const from of FROM) {
        const options = { tz, from: new Date(from), count: 6 }
        const mine = preview(reader, expression, options)
        assert.deepEqual(mine, preview(theirs, expression, options), `${JSON.stringify(expression)} in ${tz} from ${from}`)
        compared++
      }
    }
  }
  assert.ok(compared > 1500)
})

test('previewSchedule() checks from and count as pg-boss does, and pages with from', () => {
  const reader = new PgBoss({ connectionString, schema: SCHEMA })
  const theirs = new reference.PgBoss({ connectionString, schema: SCHEMA })
  const cases = [
    ['* * * * *', { count: 0 }], ['* * * * *', { count: 1001 }], ['* * * * *', { count: 2.5 }], ['* * * * *', { count: '3' }],
    ['* * * * *', { from: 'yesterday' }], ['* * * * *', { from: new Date('x') }], ['bad', { count: 0 }],
    [undefined, {}], [42, {}], [['FREQ=DAILY'], {}]
  ]
  for (const [expression, options] of cases) {
    assert.deepEqual(preview(reader, expression, options), preview(theirs, expression, options), `${expression} ${JSON.stringify(options)}`)
  }
  // a slow walk gives up after a second of walking, as pg-boss's does; whether 1000 leap days
  // take longer than that depends on the machine, so either answer is pg-boss's
  const sparse = ['0 0 29 2 *', { count: previewScheduleMaxCount, from: new Date('2026-01-01T00:00:00Z') }]
  for (const boss of [reader, theirs]) {
    const answer = preview(boss, ...sparse)
    if (answer.ok) {
      assert.equal(answer.ok.length, previewScheduleMaxCount)
      assert.deepEqual(answer.ok.slice(0, 2), ['2028-02-29T00:00:00.000Z', '2032-02-29T00:00:00.000Z'])
    } else {
      assert.match(answer.message, /^Gave up after 1000ms with \d+ of 1000 occurrences of "0 0 29 2 \*"\. Ask for fewer and page with `from`\.$/)
    }
  }
  const first = reader.previewSchedule('FREQ=HOURLY', { from: new Date('2026-12-01T00:00:00Z'), count: 2 })
  const next = reader.previewSchedule('FREQ=HOURLY', { from: first[1], count: 1 })
  assert.deepEqual(next.map(d => d.toISOString()), ['2026-12-01T03:00:00.000Z'])
  // the default `from` is now: the next occurrence of every minute is within a minute
  const [soon] = reader.previewSchedule('* * * * *', { count: 1 })
  assert.ok(soon.getTime() > Date.now() - 1000 && soon.getTime() <= Date.now() + 60000)
  assert.deepEqual(scheduleKinds, reference.scheduleKinds)
  assert.deepEqual(scheduleMissedPolicies, reference.scheduleMissedPolicies)
  assert.equal(previewScheduleMaxCount, reference.previewScheduleMaxCount)
})

test('schedule() refuses what pg-boss refuses, with its messages, and writes nothing then', async () => {
  await ours.createQueue('sched-refusals')
  const calls = [
    [undefined, '* * * * *'], ['', '* * * * *'], [7, '* * * * *'], ['sched-refusals'], ['sched-refusals', ''],
    ['sched-refusals', 'bad'], ['sched-refusals', '61 * * * *'], ['sched-refusals', '* * * * *', {}, { tz: 'Nowhere/Else' }],
    ['sched-refusals', 'FREQ=DAILY;BYHOUR=25'], ['sched-refusals', 'DTSTART:20200101T090000\nRRULE:FREQ=DAILY;COUNT=2'],
    ['sched-refusals', 'DTSTART:20200101T090000\nRRULE:FREQ=DAILY;UNTIL=20200105T090000'],
    ['sched-refusals', '* * * * *', {}, { key: 5 }], ['sched-refusals', '* * * * *', {}, { key: 'has space' }],
    ['sched-refusals', '* * * * *', {}, { missed: 'always' }], ['sched-refusals', '* * * * *', {}, { retryLimit: 'x' }],
    ['sched-refusals', '* * * * *', {}, { priority: 1.5 }], ['sched-refusals', '* * * * *', () => {}],
    ['no-such-queue', '* * * * *'], ['bad name!', '* * * * *']
  ]
  for (const args of calls) {
    const mine = await outcome(() => ours.schedule(...args))
    assert.ok(mine.error, `refused: ${JSON.stringify(args)}`)
    assert.deepEqual(mine, await outcome(() => ref.schedule(...args)), JSON.stringify(args))
  }
  assert.deepEqual(await ours.getSchedules('sched-refusals'), [])
})

test('schedule() writes the row pg-boss writes, and either reads the other\'s', async () => {
  await ours.createQueue('sched-rows')
  const written = [
    ['sched-rows', '0 9 * * *', { report: 'daily' }, { tz: 'Europe/Berlin', retryLimit: 4, singletonSeconds: 30 }],
    ['sched-rows', 'FREQ=WEEKLY;BYDAY=MO;BYHOUR=8', null, { key: 'weekly', missed: 'once' }],
    ['sched-rows', '*/10 * * * *', undefined, { key: 'ten', tz: null, priority: 3 }]
  ]
  const rowsBy = async boss => {
    const rows = await boss.getSchedules('sched-rows')
    return rows.map(({ createdOn, updatedOn, ...row }) => {
      assert.ok(createdOn instanceof Date && updatedOn instanceof Date)
      return row
    })
  }
  for (const args of written) await ours.schedule(...args)
  const mine = await rowsBy(ours)
  assert.equal(mine.length, 3)
  assert.deepEqual(mine.map(r => [r.key, r.kind, r.timezone]), [['', 'cron', 'Europe/Berlin'], ['ten', 'cron', 'UTC'], ['weekly', 'rrule', 'UTC']])
  assert.deepEqual(mine, await rowsBy(ref), 'pg-boss reads our rows as we do')
  for (const args of written) await ours.unschedule('sched-rows', args[3].key)
  assert.deepEqual(await ours.getSchedules('sched-rows'), [])
  for (const args of written) await ref.schedule(...args)
  assert.deepEqual(await rowsBy(ours), mine, 'our reading of pg-boss\'s rows is the same')

  // a replaced schedule keeps its created_on and moves updated_on
  const before = await ours.getSchedule('sched-rows')
  await ours.schedule('sched-rows', '0 10 * * *', { report: 'later' })
  const afterwards = await ours.getSchedule('sched-rows')
  assert.equal(afterwards.cron, '0 10 * * *')
  assert.equal(afterwards.createdOn.getTime(), before.createdOn.getTime())
  assert.ok(afterwards.updatedOn >= before.updatedOn)
  assert.deepEqual(afterwards.options, {})
})

test('getSchedules(), getSchedule() and unschedule() select, page and refuse as pg-boss does', async () => {
  for (const name of ['sched-page-a', 'sched-page-b']) {
    await ours.createQueue(name)
    for (const key of ['', 'k1', 'k2']) await ours.schedule(name, '0 * * * *', null, { key })
  }
  const reads = [
    ['getSchedules', 'sched-page-a'], ['getSchedules', 'sched-page-a', 'k1'], ['getSchedules', 'sched-page-a', ''],
    ['getSchedules', 'sched-page-a', null], ['getSchedules', 'sched-page-a', undefined, { limit: 2 }],
    ['getSchedules', 'sched-page-a', undefined, { limit: 2, after: { name: 'sched-page-a', key: 'k1' } }],
    ['getSchedules', undefined, undefined, { after: { name: 'sched-page-a', key: 'k2' }, limit: 2 }],
    ['getSchedules', 'sched-page-a', undefined, { limit: 0 }], ['getSchedules', undefined, undefined, { limit: 'x' }],
    ['getSchedules', undefined, undefined, { after: 'sched-page-a' }], ['getSchedules', undefined, undefined, { after: { name: 'a' } }],
    ['getSchedule', 'sched-page-b'], ['getSchedule', 'sched-page-b', 'k2'], ['getSchedule', 'sched-page-b', 'nope'],
    ['getSchedule', 'sched-page-b', null], ['getSchedule'], ['getSchedule', 5], ['getSchedule', 'no-such-queue']
  ]
  const shape = rows => rows === null || rows === undefined ? rows : (Array.isArray(rows) ? rows : [rows]).map(r => `${r.name}/${r.key}`)
  for (const [method, ...args] of reads) {
    const mine = await outcome(async () => shape(await ours[method](...args)))
    assert.deepEqual(mine, await outcome(async () => shape(await ref[method](...args))), `${method}(${args.map(a => JSON.stringify(a)).join(', ')})`)
  }
  const all = (await ours.getSchedules()).filter(r => r.name.startsWith('sched-page'))
  assert.equal(all.length, 6)

  await ours.unschedule('sched-page-a', 'k1')
  await ours.unschedule('sched-page-a')
  await ours.unschedule('sched-page-a', 'missing')
  await ours.unschedule('sched-page-a', null)
  assert.deepEqual(shape(await ours.getSchedules('sched-page-a')), ['sched-page-a/k2'])
  // a schedule goes with its queue
  await ours.deleteQueue('sched-page-b')
  assert.deepEqual(await ours.getSchedules('sched-page-b'), [])
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.schedule WHERE name = 'sched-page-b'`)
  assert.equal(rows[0].n, 0)
})
