// In-place upgrades from pg-boss 10 (schemas 21-24), which pg-boss itself has no path for: a
// schema made by a real v10 release is brought to 46 by start() (or upgradeFromV10()), in
// batches, and the result is one pg-boss 12.38 accepts as its own, with every row kept.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { PgBoss, getMigrationPlans, upgradeFromV10, rollbackV10Upgrade } from '../index.mjs'
import { jobsOn } from './support/old-schema.mjs'
import { assertBothWork, assertNoDrift, assertRacedStarts } from './support/upgraded.mjs'
import { connectionString, dropSchema, startBoss, startPgBoss, entry, waitFor, rejection, schemasForFile } from './helpers.mjs'

const require = createRequire(import.meta.url)
// the release that made each v10 schema version (10.0.6 made 22, 10.1.1 made 23, 10.1.5 made 24)
const RELEASES = { 21: ['pgb100', '10.0.5'], 22: ['pgb1006', '10.0.6'], 23: ['pgb101', '10.1.4'], 24: ['pgb104', '10.4.2'] }
const V10_POLICIES = ['standard', 'short', 'singleton', 'stately']

// an upgrade moves the v10 schema aside as <schema>_v10 (and a rollback the new one as <schema>_v46)
const { db, schemaName, version } = schemasForFile('upg10', { alsoDrop: s => [`${s}_v10`, `${s}_v46`] })

async function schemaExists (schema) {
  const { rows } = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
  return rows.length > 0
}

async function dropAll (schema) {
  await dropSchema(`${schema}_v10`)
  await dropSchema(`${schema}_v46`)
  await dropSchema(schema)
}

/** A v10 instance of `release` on `schema` (not started). */
function v10Boss (release, schema, options = {}) {
  const Old = require(release)
  const old = new Old({ connectionString, schema, supervise: false, schedule: false, ...options })
  old.on('error', () => {})
  return old
}

/**
 * A schema made by the v10 release for `target`: a dead letter queue and a queue of every v10
 * policy (with retry, expiry and retention options) holding a job in every state, archived jobs
 * (by v10's own archive statement), two schedules and two subscriptions.
 */
async function v10Schema (schema, target) {
  await dropAll(schema)
  const [release] = RELEASES[target]
  const old = v10Boss(release, schema)
  await old.start()
  try {
    await old.createQueue('dead')
    for (const policy of V10_POLICIES) {
      const name = `${policy}-q`
      await old.createQueue(name, { policy, deadLetter: 'dead', retryLimit: 1, retryDelay: 5, retryBackoff: true, expireInSeconds: 120, retentionMinutes: 30 })
      const { send, fetchOne } = jobsOn(old, name, policy)
      await send(); const done = await fetchOne(); await old.complete(name, done, { ok: true })
      await send({ retryLimit: 0 }); const failed = await fetchOne(); await old.fail(name, failed, { bad: true })
      await send({ retryLimit: 1, retryDelay: 3600 }); const retry = await fetchOne(); await old.fail(name, retry, { again: true })
      const cancelled = await send(); await old.cancel(name, cancelled)
      await send({ startAfter: 3600 })
      await send({ priority: 0 }); await fetchOne() // active
      await send({ priority: -1 })
      // archived: completed and failed jobs moved by v10's own archive statement
      for (let i = 0; i < 2; i++) {
        await send({ retryLimit: 0 }); const id = await fetchOne()
        await (i ? old.fail(name, id, { archived: i }) : old.complete(name, id, { archived: i }))
      }
    }
    await db.query(require(`${release}/src/plans.js`).archive(schema, '0 seconds'))
    await old.schedule('standard-q', '*/5 * * * *', { every: 5 }, { tz: 'UTC' })
    await old.schedule('short-q', '0 1 * * *', null, { tz: 'Europe/Paris', priority: 3 })
    await old.subscribe('upgrade-event', 'standard-q')
    await old.subscribe('upgrade-event', 'stately-q')
  } finally {
    await old.stop({ graceful: false, wait: true })
  }
  assert.equal(await version(schema), target)
}

const JOB_COLUMNS = 'id, name, priority, data, state::text AS state, retry_limit, retry_count, retry_delay, retry_backoff, start_after, started_on, singleton_key, singleton_on, created_on, completed_on, keep_until, output, dead_letter, policy'

/** v10's rows (job and archive, queues, schedules, subscriptions) as 46 should hold them. */
async function v10Rows (schema) {
  const { rows: jobs } = await db.query(`
    SELECT ${JOB_COLUMNS}, round(EXTRACT(epoch FROM expire_in))::int AS expire_seconds FROM ${schema}.job
    UNION ALL
    SELECT ${JOB_COLUMNS}, round(EXTRACT(epoch FROM expire_in))::int FROM ${schema}.archive ORDER BY id`)
  const { rows: queues } = await db.query(`
    SELECT name, COALESCE(policy, 'standard') AS policy, COALESCE(retry_limit, 2) AS retry_limit, COALESCE(retry_delay, 0) AS retry_delay,
      COALESCE(retry_backoff, false) AS retry_backoff, COALESCE(expire_seconds, 900) AS expire_seconds,
      COALESCE(retention_minutes * 60, 1209600) AS retention_seconds, dead_letter, created_on
    FROM ${schema}.queue ORDER BY name`)
  const { rows: schedules } = await db.query(`SELECT name, '' AS key, cron, timezone, data FROM ${schema}.schedule ORDER BY name`)
  const { rows: subscriptions } = await db.query(`SELECT event, name FROM ${schema}.subscription ORDER BY event, name`)
  return { jobs, queues, schedules, subscriptions }
}

/** The same, read from schema 46. */
async function v46Rows (schema) {
  const { rows: jobs } = await db.query(`SELECT ${JOB_COLUMNS}, expire_seconds FROM ${schema}.job ORDER BY id`)
  const { rows: queues } = await db.query(`
    SELECT name, policy, retry_limit, retry_delay, retry_backoff, expire_seconds, retention_seconds, dead_letter, created_on
    FROM ${schema}.queue ORDER BY name`)
  const { rows: schedules } = await db.query(`SELECT name, key, cron, timezone, data FROM ${schema}.schedule ORDER BY name`)
  const { rows: subscriptions } = await db.query(`SELECT event, name FROM ${schema}.subscription ORDER BY event, name`)
  return { jobs, queues, schedules, subscriptions }
}

for (const from of [21, 22, 23, 24]) {
  const [, release] = RELEASES[from]
  test(`start() upgrades pg-boss ${release}'s schema ${from} to 46 in place: every row kept, 12.38 finds no drift, both work on it`, async () => {
    const schema = schemaName(`from${from}`)
    await v10Schema(schema, from)
    const before = await v10Rows(schema)
    const states = new Set(before.jobs.map(j => j.state))
    assert.deepEqual([...states].sort(), ['active', 'cancelled', 'completed', 'created', 'failed', 'retry'])
    const { rows: [{ archived }] } = await db.query(`SELECT count(*)::int AS archived FROM ${schema}.archive`)
    assert.ok(archived >= 8, 'archived jobs in the fixture')
    assert.equal(before.schedules.length, 2)

    // migrate: false refuses, as pg-boss does, and changes nothing
    const refused = await rejection(startBoss(schema, { migrate: false }))
    assert.equal(refused.message, 'pg-boss database requires migrations')
    assert.equal(await version(schema), from)

    const boss = await startBoss(schema)
    await boss.stop()
    assert.equal(await version(schema), 46)
    assert.equal(await schemaExists(`${schema}_v10`), false, 'the v10 schema is gone once moved')
    const now = await v46Rows(schema)
    assert.deepEqual(now.jobs, before.jobs)
    assert.deepEqual(now.queues, before.queues)
    assert.deepEqual(now.schedules, before.schedules)
    assert.deepEqual(now.subscriptions, before.subscriptions)
    const { rows: [{ partitioned }] } = await db.query(`SELECT count(*)::int AS partitioned FROM ${schema}.queue WHERE partition`)
    assert.equal(partitioned, 0, 'queues land in job_common')
    const { rows: [schedule] } = await db.query(`SELECT options FROM ${schema}.schedule WHERE name = 'short-q'`)
    assert.equal(schedule.options.priority, 3)
    assert.equal(schedule.options.tz, undefined, 'tz lives in the timezone column')

    await assertNoDrift(schema)
    await assertBothWork(db, schema, { where: "name NOT LIKE '\\_\\_%'", atLeast: 5 })
  })
}

test('getMigrationPlans() from 21-24 spells out the v10 upgrade; a dry run answers it with the counts and touches nothing', async () => {
  const schema = schemaName('dry')
  await v10Schema(schema, 24)
  for (const v of [21, 22, 23, 24]) {
    const sql = getMigrationPlans(schema, v)
    assert.match(sql, new RegExp(`ALTER SCHEMA ${schema} RENAME TO ${schema}_v10`))
    assert.match(sql, /CREATE SCHEMA IF NOT EXISTS/)
    assert.match(sql, /WITH moved AS \(\n {2}DELETE FROM \S+\.archive WHERE ctid = ANY/)
    assert.match(sql, /DROP TABLE \S+\.v10_upgrade/)
  }
  assert.throws(() => getMigrationPlans(schema, 20), /Version 20 not found/)
  assert.throws(() => getMigrationPlans(schema, 24, { partitionTables: [{ tableName: 'jabc', policy: 'standard' }] }), /partitionTables does not apply/)
  const before = await v10Rows(schema)
  const report = await upgradeFromV10({ connectionString, schema }, { dryRun: true })
  assert.equal(report.dryRun, true)
  assert.equal(report.fromVersion, 24)
  assert.equal(report.plan, getMigrationPlans(schema, 24))
  assert.equal(report.rowsToMove, before.jobs.length)
  assert.equal(report.counts.queues, before.queues.length)
  assert.equal(report.counts.schedules, 2)
  assert.ok(report.counts.archive.completed >= 4 && report.counts.jobs.active >= 4)
  assert.equal(await version(schema), 24)
  assert.deepEqual(await v10Rows(schema), before)
  await assert.rejects(upgradeFromV10({ connectionString, schema }, { batchSize: 0 }), /batchSize must be an integer/)
  await assert.rejects(upgradeFromV10({ connectionString, schema }, { batch: 5 }), /unknown option batch/)
})

test('an upgrade stopped after some batches carries on at the next start(); sends work meanwhile', async () => {
  const schema = schemaName('resume')
  await v10Schema(schema, 24)
  const before = await v10Rows(schema)
  const first = await upgradeFromV10({ connectionString, schema }, { batchSize: 3, maxBatches: 4 })
  assert.equal(first.began, true)
  assert.equal(first.finished, false)
  assert.equal(first.batches, 4)
  assert.ok(first.moved > 0 && first.moved <= 12)
  assert.equal(await version(schema), 46)
  // the live jobs first: what moved is not completed, cancelled or failed
  const { rows: moved } = await db.query(`SELECT state::text FROM ${schema}.job`)
  assert.equal(moved.length, first.moved)
  assert.ok(moved.every(r => ['created', 'retry', 'active'].includes(r.state)), JSON.stringify(moved))
  // schema 46 serves while the move is unfinished
  const ref = await startPgBoss(schema, { migrate: false })
  const sent = await ref.send('standard-q', { during: 'the move' })
  await ref.stop({ graceful: false })
  // a dry run now describes what is left
  const dry = await upgradeFromV10({ connectionString, schema }, { dryRun: true })
  assert.equal(dry.began, true)
  assert.equal(dry.rowsToMove, before.jobs.length - first.moved)
  const boss = await startBoss(schema)
  await boss.stop()
  assert.equal(await schemaExists(`${schema}_v10`), false)
  const now = await v46Rows(schema)
  assert.deepEqual(now.jobs.filter(j => j.id !== sent), before.jobs)
  assert.ok(now.jobs.some(j => j.id === sent))
  const again = await upgradeFromV10({ connectionString, schema })
  assert.equal(again.alreadyUpgraded, true)
  await assert.rejects(rollbackV10Upgrade({ connectionString, schema }), /nothing to roll back/)
  await assertNoDrift(schema)
})

/** Runs upgradeFromV10 in a child process, batches of one, and SIGKILLs it part way. */
async function killMidMove (schema) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import { upgradeFromV10 } from ${JSON.stringify(entry)}
    await upgradeFromV10({ connectionString: ${JSON.stringify(connectionString)}, schema: ${JSON.stringify(schema)} }, { batchSize: 1 })
  `], { stdio: 'inherit' })
  const exited = new Promise(resolve => child.on('exit', resolve))
  await waitFor(async () => {
    if (!(await schemaExists(`${schema}_v10`))) return false
    const { rows: [{ n }] } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.job`)
    return n > 20
  }, { timeout: 30000, every: 20 })
  child.kill('SIGKILL')
  await exited
  const { rows: [{ left }] } = await db.query(`SELECT count(*)::int AS left FROM ${schema}_v10.job`)
  assert.ok(left > 0, 'killed part way')
}

test('a process killed mid-move: rollback restores v10 and pg-boss 10 runs on it; killed again, the next start() resumes', async () => {
  const schema = schemaName('killed')
  await v10Schema(schema, 24)
  // many rows so the child is still moving when it is killed
  await db.query(`INSERT INTO ${schema}.job (name, data, state, completed_on) SELECT 'standard-q', jsonb_build_object('n', i), 'completed', now() FROM generate_series(1, 3000) i`)
  const before = await v10Rows(schema)
  await killMidMove(schema)

  // rolled back: v10 as it was, every job back, and pg-boss 10 runs on it
  const rolled = await rollbackV10Upgrade({ connectionString, schema })
  assert.equal(rolled.version, 24)
  assert.equal(await schemaExists(`${schema}_v10`), false)
  assert.equal(await schemaExists(`${schema}_v46`), false)
  const back = await v10Rows(schema)
  const key = rows => rows.map(r => JSON.stringify(r)).sort()
  assert.deepEqual(key(back.jobs), key(before.jobs))
  assert.deepEqual(back.queues, before.queues)
  assert.deepEqual(back.schedules, before.schedules)
  const old = v10Boss('pgb104', schema)
  await old.start()
  try {
    const id = await old.send('standard-q', { still: 'v10' })
    const jobs = await old.fetch('standard-q', { batchSize: 50 })
    assert.ok(jobs.some(j => j.id === id))
    const active = await old.getJobById('standard-q', before.jobs.find(j => j.name === 'standard-q' && j.state === 'active').id)
    assert.equal(active.state, 'active')
  } finally {
    await old.stop({ graceful: false, wait: true })
  }

  // upgraded again, killed again, resumed by start()
  const before2 = await v10Rows(schema)
  await killMidMove(schema)
  const boss = await startBoss(schema)
  await boss.stop()
  assert.equal(await schemaExists(`${schema}_v10`), false)
  assert.deepEqual((await v46Rows(schema)).jobs, before2.jobs)
  await assertNoDrift(schema)
})

test('two pg-boss-native instances starting at once on a v10 schema upgrade it once', async () => {
  const schema = schemaName('race')
  await v10Schema(schema, 23)
  const before = await v10Rows(schema)
  await assertRacedStarts(db, schema, async () => {
    assert.equal(await schemaExists(`${schema}_v10`), false)
    assert.deepEqual((await v46Rows(schema)).jobs, before.jobs)
  })
})

test('the upgrade refuses createSchema: false, and a taken name to move the v10 schema to, changing nothing', async () => {
  const schema = schemaName('taken')
  await v10Schema(schema, 22)
  const noCreate = await rejection(startBoss(schema, { createSchema: false }))
  assert.match(noCreate.message, /createSchema: false cannot be honoured by the upgrade from pg-boss 10/)
  assert.equal(await version(schema), 22)
  await db.query(`CREATE SCHEMA ${schema}_v10`)
  const err = await rejection(startBoss(schema))
  assert.match(err.message, /moves it aside as upg10_taken_v10, and a schema by that name exists/)
  assert.equal(await version(schema), 22)
  await db.query(`DROP SCHEMA ${schema}_v10`)
})

test('a v10 job whose unique slot a job sent during the move took is kept aside, not lost; emptied, the next start() finishes', async () => {
  const schema = schemaName('unmoved')
  await v10Schema(schema, 24)
  await upgradeFromV10({ connectionString, schema }, { batchSize: 1, maxBatches: 1 })
  // a created job of the short queue still waiting aside, and a send to 46 taking its key
  const { rows: [waiting] } = await db.query(`SELECT id, singleton_key FROM ${schema}_v10.job WHERE name = 'short-q' AND state = 'created' LIMIT 1`)
  assert.ok(waiting)
  const ref = await startPgBoss(schema, { migrate: false })
  const taken = await ref.send('short-q', { new: true }, { singletonKey: waiting.singleton_key })
  await ref.stop({ graceful: false })
  assert.ok(taken)
  const rest = await upgradeFromV10({ connectionString, schema })
  assert.equal(rest.unmoved, 1)
  assert.equal(rest.finished, false)
  const { rows: kept } = await db.query(`SELECT job->>'id' AS id FROM ${schema}_v10.v10_unmoved`)
  assert.deepEqual(kept.map(r => r.id), [waiting.id])
  const { rows: [{ left }] } = await db.query(`SELECT (SELECT count(*) FROM ${schema}_v10.job) + (SELECT count(*) FROM ${schema}_v10.archive) AS left`)
  assert.equal(Number(left), 0)
  // the start() after keeps it too, until it is dealt with by hand
  const boss = await startBoss(schema)
  await boss.stop()
  assert.equal(await schemaExists(`${schema}_v10`), true)
  await db.query(`DELETE FROM ${schema}_v10.v10_unmoved`)
  const again = await startBoss(schema)
  await again.stop()
  assert.equal(await schemaExists(`${schema}_v10`), false)
})

test('a rollback puts v10\'s own job back first and keeps the one sent since that v10 cannot take', async () => {
  const schema = schemaName('unrestored')
  await v10Schema(schema, 24)
  const before = await v10Rows(schema)
  await upgradeFromV10({ connectionString, schema }, { batchSize: 1, maxBatches: 1 })
  const { rows: [waiting] } = await db.query(`SELECT id, singleton_key FROM ${schema}_v10.job WHERE name = 'short-q' AND state = 'created' LIMIT 1`)
  const ref = await startPgBoss(schema, { migrate: false })
  const taken = await ref.send('short-q', { new: true }, { singletonKey: waiting.singleton_key })
  await ref.stop({ graceful: false })
  const rest = await upgradeFromV10({ connectionString, schema })
  assert.equal(rest.unmoved, 1)
  const rolled = await rollbackV10Upgrade({ connectionString, schema })
  assert.equal(rolled.version, 24)
  assert.equal(rolled.unrestored, 1)
  const key = rows => rows.map(r => JSON.stringify(r)).sort()
  assert.deepEqual(key((await v10Rows(schema)).jobs), key(before.jobs))
  const { rows: kept } = await db.query(`SELECT job->>'id' AS id FROM ${schema}.v46_unrestored`)
  assert.deepEqual(kept.map(r => r.id), [taken])
})

test('two upgradeFromV10() calls at once: one begins it, every row lands once', async () => {
  const schema = schemaName('race_fn')
  await v10Schema(schema, 24)
  await db.query(`INSERT INTO ${schema}.job (name, data, state, completed_on) SELECT 'stately-q', jsonb_build_object('n', i), 'completed', now() FROM generate_series(1, 2000) i`)
  const before = await v10Rows(schema)
  const config = { connectionString, schema }
  const reports = await Promise.all([upgradeFromV10(config, { batchSize: 50 }), upgradeFromV10(config, { batchSize: 50 })])
  assert.deepEqual(reports.map(r => r.began).sort(), [false, true])
  assert.equal(reports[0].moved + reports[1].moved, before.jobs.length)
  assert.ok(reports.some(r => r.finished))
  assert.equal(await schemaExists(`${schema}_v10`), false)
  assert.deepEqual((await v46Rows(schema)).jobs, before.jobs)
})
