// Schedules, the firing half, driven by test clocks rather than by waiting: occurrences across a
// DST change, the missed-occurrence policy, the clock skew monitor, and a fleet of pg-boss 12.38
// and pg-boss-native instances on one database sending every occurrence exactly once while its
// members stop and start.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss, TestClock } from '../index.mjs'
import * as reference from 'pg-boss'
import { connectionString, dropSchema, entry, pool, runScript, waitFor } from './helpers.mjs'

const MINUTE = 60_000

/** Jobs of `queue` in `schema`, oldest first, with their creation instants (the test clock's). */
async function jobsOf (db, schema, queue) {
  const { rows } = await db.query(`SELECT data, created_on FROM ${schema}.job WHERE name = $1 ORDER BY created_on, id`, [queue])
  return rows
}

/** The occurrences filed in the send-it queue, by schedule and throttle slot (UTC minute). */
async function filed (db, schema) {
  const { rows } = await db.query(`SELECT data->>'name' AS name, data->>'key' AS key, to_char(singleton_on, 'YYYY-MM-DD"T"HH24:MI') AS slot
    FROM ${schema}.job WHERE name = '__pgboss__send-it' ORDER BY singleton_on, 1, 2`)
  return rows.map(r => [r.name, r.key, r.slot])
}

/** Sends owed by filed occurrences happen on the send-it workers (real time): wait for them. */
async function settleSends (db, schema) {
  await waitFor(async () => {
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.job WHERE name = '__pgboss__send-it' AND state IN ('created', 'retry', 'active')`)
    return rows[0].n === 0
  }, { timeout: 30000 })
}

/**
 * Runs `body` on a fresh `schema` with a pool (`db`) and `instance(Implementation, clock, options)`,
 * which makes an instance on that schema recording its errors and warnings. Afterwards every
 * instance made is stopped, the pool closed and the schema dropped, whatever the body did.
 */
async function onSchema (schema, body) {
  await dropSchema(schema)
  const db = pool()
  const made = []
  const instance = (Implementation, clock, options = {}) => {
    const boss = new Implementation({
      connectionString,
      schema,
      clock,
      supervise: false,
      cronMonitorIntervalSeconds: 30,
      cronWorkerIntervalSeconds: 1,
      ...options
    })
    boss.errors = []
    boss.warnings = []
    boss.on('error', err => boss.errors.push(err))
    boss.on('warning', warning => boss.warnings.push(warning))
    made.push(boss)
    return boss
  }
  try {
    await body({ schema, db, instance })
  } finally {
    for (const boss of made) await boss.stop({ graceful: false }).catch(() => {})
    await db.end()
    await dropSchema(schema)
  }
}

test('a schedule fires on time on both sides of a DST change, driven by a TestClock', () => onSchema('pgbn_test_schedule_dst', async ({ schema, db, instance }) => {
  // the installed job_now(), which the clock must give back when its instance stops
  const installer = instance(PgBoss, undefined, { schedule: false })
  await installer.start()
  await installer.stop()
  const jobNowSource = async () => (await db.query(`SELECT prosrc FROM pg_proc WHERE proname = 'job_now' AND pronamespace = $1::regnamespace`, [schema])).rows[0].prosrc
  const installed = await jobNowSource()

  // 2026-03-08: New York moves from UTC-5 to UTC-4 at 02:00 local
  const clock = new TestClock(new Date('2026-03-07T13:58:00Z'))
  const boss = instance(PgBoss, clock)
  await boss.start()
  assert.notEqual(await jobNowSource(), installed, 'attached: job_now() reads the clock')
  await boss.createQueue('standup')
  await boss.schedule('standup', '0 9 * * *', { meeting: 'standup' }, { tz: 'America/New_York' })
  await boss.schedule('standup', 'FREQ=DAILY;BYHOUR=9;BYMINUTE=30', { meeting: 'review' }, { tz: 'America/New_York', key: 'review' })
  const expected = boss.previewSchedule('0 9 * * *', { tz: 'America/New_York', from: new Date(clock.now()), count: 2 })
  assert.deepEqual(expected.map(d => d.toISOString()), ['2026-03-07T14:00:00.000Z', '2026-03-08T13:00:00.000Z'])

  // the morning before the change: 09:00 EST is 14:00Z, 09:30 is 14:30Z
  for (let i = 0; i < 36 * 2; i++) await clock.tick(30_000)
  await settleSends(db, schema)
  assert.deepEqual(await filed(db, schema), [['standup', '', '2026-03-07T14:00'], ['standup', 'review', '2026-03-07T14:30']])
  assert.deepEqual((await jobsOf(db, schema, 'standup')).map(j => j.data.meeting), ['standup', 'review'])

  // the morning after: 09:00 EDT is 13:00Z, and nothing comes due at 14:00Z
  await clock.setTime(new Date('2026-03-08T12:58:00Z'))
  for (let i = 0; i < 6 * 2 + 60 * 2; i++) await clock.tick(30_000)
  await settleSends(db, schema)
  assert.deepEqual((await filed(db, schema)).slice(2), [['standup', '', '2026-03-08T13:00'], ['standup', 'review', '2026-03-08T13:30']])
  assert.deepEqual((await jobsOf(db, schema, 'standup')).map(j => j.data.meeting), ['standup', 'review', 'standup', 'review'])

  const schedule = await boss.getSchedule('standup')
  const { rows } = await db.query(`SELECT id FROM ${schema}.job WHERE name = 'standup' ORDER BY created_on DESC, id LIMIT 2`)
  assert.ok(rows.some(r => r.id === schedule.lastJobId), 'last_job_id names the newest job of the schedule')
  assert.deepEqual(boss.errors, [])
  await boss.stop()
  assert.equal(await jobNowSource(), installed, 'detached: job_now() is the installed one again')
  const { rows: tables } = await db.query(`SELECT to_regclass($1) AS t`, [`${schema}.__pgboss_test_clock`])
  assert.equal(tables[0].t, null)
}))

test("missed: 'once' sends one job for a gap no pass covered; the default sends none", () => onSchema('pgbn_test_schedule_missed', async ({ schema, db, instance }) => {
  const clock = new TestClock(new Date('2026-06-01T10:00:10Z'))
  let boss = instance(PgBoss, clock)
  await boss.start()
  await boss.createQueue('hourly-once')
  await boss.createQueue('hourly-skip')
  await boss.schedule('hourly-once', '0 * * * *', { policy: 'once' }, { missed: 'once' })
  await boss.schedule('hourly-skip', '0 * * * *', { policy: 'skip' })
  await clock.tick(30_000)
  await boss.stop({ graceful: false })

  // five hours with no instance running
  await clock.setTime(new Date('2026-06-01T15:20:00Z'))
  boss = instance(PgBoss, clock)
  await boss.start()
  for (let i = 0; i < 4; i++) await clock.tick(30_000)
  await settleSends(db, schema)
  // 10:00 was due when the schedules were made; of the five hours after it, 'once' owes the
  // latest occurrence (15:00) and the default owes nothing
  const slots = async (queue) => (await filed(db, schema)).filter(([name]) => name === queue).map(([, , slot]) => slot.slice(11))
  assert.deepEqual(await slots('hourly-once'), ['10:00', '15:00'])
  assert.deepEqual(await slots('hourly-skip'), ['10:00'])
  assert.equal((await jobsOf(db, schema, 'hourly-once')).length, 2)
  assert.equal((await jobsOf(db, schema, 'hourly-skip')).length, 1)

  // passes keep running: the next occurrence is sent once, and nothing more is caught up
  await clock.setTime(new Date('2026-06-01T15:59:30Z'))
  for (let i = 0; i < 4; i++) await clock.tick(30_000)
  await settleSends(db, schema)
  assert.deepEqual(await slots('hourly-once'), ['10:00', '15:00', '16:00'])
  assert.deepEqual(await slots('hourly-skip'), ['10:00', '16:00'])
  assert.equal((await jobsOf(db, schema, 'hourly-once')).length, 3)
  assert.deepEqual(boss.errors, [])
}))

test('a broken schedule row is a warning once, and the others keep firing; skew of a minute is a clock_skew warning', () => onSchema('pgbn_test_schedule_warn', async ({ schema, db, instance }) => {
  const clock = new TestClock(new Date('2026-06-01T10:00:10Z'))
  const boss = instance(PgBoss, clock, { persistWarnings: true })
  await boss.start()
  await boss.createQueue('fine')
  await boss.createQueue('broken')
  await boss.schedule('fine', '* * * * *')
  // written past schedule()'s checks, as a row from SQL or an older release can be
  await db.query(`INSERT INTO ${schema}.schedule (name, key, kind, cron, timezone) VALUES ('broken', '', 'cron', '0 9 * * *', 'Not/AZone')`)
  for (let i = 0; i < 6; i++) await clock.tick(30_000)
  await settleSends(db, schema)
  assert.equal((await jobsOf(db, schema, 'fine')).length, 4)
  const invalid = boss.warnings.filter(w => w.data?.queue === 'broken')
  assert.equal(invalid.length, 1, 'warned once, not every pass')
  assert.match(invalid[0].message, /^Warning: schedule for queue "broken" \(key ""\) could not be evaluated and was skipped: /)
  assert.deepEqual(invalid[0].data, { queue: 'broken', key: '', cron: '0 9 * * *', timezone: 'Not/AZone' })
  const { rows } = await db.query(`SELECT type FROM ${schema}.warning ORDER BY created_on`)
  assert.deepEqual(rows.map(r => r.type), ['invalid_schedule'])
  await boss.stop({ graceful: false })

  // a clock that runs two minutes ahead of the database (which this one does not attach to)
  const ahead = { now: () => Date.now() + 2 * MINUTE, setTimeout, clearTimeout, setInterval, clearInterval }
  const skewed = instance(PgBoss, ahead)
  await skewed.start()
  const skew = skewed.warnings.find(w => w.message.startsWith('Warning: Clock skew'))
  assert.ok(skew, 'clock_skew warning at start: ' + JSON.stringify({ w: skewed.warnings, e: skewed.errors.map(e => e.message) }))
  assert.equal(skew.data.direction, 'faster')
  assert.ok(skew.data.seconds > 110 && skew.data.seconds < 130)
  // previewSchedule() reads the database's clock, not the skewed one
  const [next] = skewed.previewSchedule('* * * * *', { count: 1 })
  assert.ok(next.getTime() <= Date.now() + MINUTE)
}))

test('a fleet of pg-boss 12.38 and pg-boss-native instances sends each occurrence exactly once while members stop and start', () => onSchema('pgbn_test_schedule_fleet', async ({ schema, db, instance }) => {
  // pg-boss's own TestClock drives every member, ours included
  const clock = new reference.TestClock(new Date('2026-09-01T08:00:05Z'))
  const members = {
    ours1: instance(PgBoss, clock),
    ref1: instance(reference.PgBoss, clock, { migrate: false }),
    ours2: instance(PgBoss, clock)
  }
  const queues = ['fleet-cron', 'fleet-rrule', 'fleet-seconds']
  const runFor = async (n) => {
    for (let i = 0; i < n * 2; i++) await clock.tick(30_000)
  }
  await members.ours1.start()
  await members.ref1.start()
  await members.ours2.start()
  for (const q of queues) await members.ours1.createQueue(q)
  await members.ours1.schedule('fleet-cron', '* * * * *', { from: 'cron' })
  await members.ref1.schedule('fleet-rrule', 'FREQ=MINUTELY', { from: 'rrule' })
  // several occurrences a minute still send one job per minute (the throttle slot)
  await members.ours2.schedule('fleet-seconds', '*/20 * * * * *', { from: 'seconds' })

  await runFor(3)
  // the instance that may hold the claim goes away mid-interval, then another
  await members.ours1.stop({ graceful: false })
  await clock.tick(15_000)
  await runFor(2)
  await members.ref1.stop({ graceful: false })
  await runFor(2)
  members.ours1 = instance(PgBoss, clock)
  await members.ours1.start()
  await members.ours2.stop({ graceful: false })
  await runFor(2)
  members.ref1 = instance(reference.PgBoss, clock, { migrate: false })
  await members.ref1.start()
  await runFor(2)
  await clock.tick(15_000)

  for (const boss of Object.values(members)) await boss.stop({ graceful: true, timeout: 5000 }).catch(() => {})
  // what is filed and not yet sent is sent by any instance, schedules or not
  await db.query(`DELETE FROM ${schema}.schedule`)
  // the send-it queue drained by whoever ran last; finish what is left with one instance
  const finisher = instance(PgBoss, undefined, { schedule: true, cronWorkerIntervalSeconds: 1, cronMonitorIntervalSeconds: 45 })
  await finisher.start()
  await settleSends(db, schema)
  await finisher.stop({ graceful: false })

  // from 08:00:05 for 11.5 minutes: every minute 08:01 .. 08:11 came due for every schedule,
  // and each was filed once (the slot index) and sent once (a job per filing)
  const minutes = ['08:01', '08:02', '08:03', '08:04', '08:05', '08:06', '08:07', '08:08', '08:09', '08:10', '08:11']
  const occurrences = await filed(db, schema)
  for (const q of queues) {
    const slots = occurrences.filter(([name]) => name === q).map(([, , slot]) => slot.slice(11))
    for (const minute of minutes) assert.ok(slots.includes(minute), `${q}: ${minute} filed (${slots.join(' ')})`)
    assert.ok(slots.every(s => s <= '08:12'), `${q}: nothing filed ahead (${slots.join(' ')})`)
    const jobs = await jobsOf(db, schema, q)
    assert.equal(jobs.length, slots.length, `${q}: one job per filed occurrence`)
  }
  const { rows } = await db.query(`SELECT state, count(*)::int AS n FROM ${schema}.job WHERE name = '__pgboss__send-it' GROUP BY 1`)
  assert.deepEqual(rows, [{ state: 'completed', n: occurrences.length }], 'every filing sent, none failed')
  for (const boss of Object.values(members)) assert.deepEqual(boss.errors, [])
}))

// Real time, as a killed process has no test clock to share: up to a minute for the next occurrence.
test('the instance holding the cron claim killed with SIGKILL: the others send the next occurrence, once, and the last one is not sent again', () => onSchema('pgbn_test_schedule_kill', async ({ schema, db, instance }) => {
  const setup = instance(PgBoss, undefined, { schedule: false })
  await setup.start()
  await setup.createQueue('every-minute')
  await setup.schedule('every-minute', '* * * * *')
  await setup.stop()
  const { child, exited, output } = runScript(`
    import { PgBoss } from ${JSON.stringify(entry)}
    const boss = new PgBoss({ connectionString: process.env.DATABASE_URL, schema: '${schema}', supervise: false, cronMonitorIntervalSeconds: 1, cronWorkerIntervalSeconds: 1 })
    boss.on('error', err => console.error(err))
    await boss.start()
    console.log('started')
  `)
  // the child, alone, holds the claim: it files the current minute and sends it. Killed once its
  // filing is settled: killed between the send and the settle, its send-it job would stay active
  // until it expires, and a retry of it would send the minute twice, which is the at-least-once
  // delivery of any job and not what this test is about.
  await waitFor(async () => (await jobsOf(db, schema, 'every-minute')).length === 1, { timeout: 30000 })
  await waitFor(async () => {
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.job WHERE name = '__pgboss__send-it' AND state = 'completed'`)
    return rows[0].n >= 1
  }, { timeout: 30000 })
  child.kill('SIGKILL')
  const { signal } = await exited
  assert.equal(signal, 'SIGKILL', output())
  const byChild = await filed(db, schema)

  const fleet = [
    instance(PgBoss, undefined, { cronMonitorIntervalSeconds: 1, cronWorkerIntervalSeconds: 1 }),
    instance(reference.PgBoss, undefined, { migrate: false, cronMonitorIntervalSeconds: 1, cronWorkerIntervalSeconds: 1 })
  ]
  for (const boss of fleet) await boss.start()
  await waitFor(async () => (await filed(db, schema)).length > byChild.length, { timeout: 75000, every: 250 })
  // no more filings (a pass under way finishes within its second), then every filing sent
  await db.query(`DELETE FROM ${schema}.schedule`)
  await new Promise(resolve => setTimeout(resolve, 2000))
  await settleSends(db, schema)
  const occurrences = await filed(db, schema)
  assert.deepEqual(occurrences.slice(0, byChild.length), byChild, 'what the killed instance filed is not filed again')
  const minutes = occurrences.map(([, , slot]) => new Date(`${slot}:00Z`).getTime())
  minutes.slice(1).forEach((minute, i) => assert.equal(minute - minutes[i], MINUTE, `consecutive minutes, none skipped or repeated: ${JSON.stringify(occurrences)}`))
  assert.equal((await jobsOf(db, schema, 'every-minute')).length, occurrences.length, 'each sent once')
  for (const boss of fleet) assert.deepEqual(boss.errors, [])
}))

