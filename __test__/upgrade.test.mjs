// In-place upgrades: a schema made by a real, older pg-boss release is brought to 46 by
// pg-boss-native's start(), and the result is one pg-boss 12.38 accepts as its own.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss, getMigrationPlans, getRollbackPlans } from '../index.mjs'
import { connectionString, dropSchema, startBoss, startPgBoss, waitFor, rejection, schemasForFile } from './helpers.mjs'
import { catalog as catalogOf } from './support/catalog.mjs'
import { makeOldSchema } from './support/old-schema.mjs'
import { assertBothWork, assertNoDrift, assertRacedStarts } from './support/upgraded.mjs'

// 12.10 (28), 12.36 (44) and 12.37 (45) were never published: those schemas are the release
// below's stepped up by
// pg-boss 12.38's own migrations (its migrationStore, queueing its async builds as it would).
const RELEASES = { 25: 'pgb110', 26: 'pgb125', 27: 'pgb129', 28: 'pgb129', 29: 'pgb1211', 30: 'pgb1218', 31: 'pgb1220', 32: 'pgb1221', 33: 'pgb1222', 34: 'pgb1223', 35: 'pgb1224', 36: 'pgb1225', 37: 'pgb1227', 38: 'pgb1228', 39: 'pgb1229', 40: 'pgb1230', 41: 'pgb1232', 42: 'pgb1234', 43: 'pgb1235', 44: 'pgb1235', 45: 'pgb1235' }
const RELEASE_SCHEMA = { pgb110: 25, pgb111: 26, pgb125: 26, pgb129: 27, pgb1211: 29, pgb1218: 30, pgb1220: 31, pgb1221: 32, pgb1222: 33, pgb1223: 34, pgb1224: 35, pgb1225: 36, pgb1227: 37, pgb1228: 38, pgb1229: 39, pgb1230: 40, pgb1232: 41, pgb1234: 42, pgb1235: 43 }
const RELEASE_VERSION = { pgb110: '11.0.8', pgb111: '11.1.2', pgb125: '12.5.4', pgb129: '12.9.0', pgb1211: '12.11.2', pgb1218: '12.18.3', pgb1220: '12.20.0', pgb1221: '12.21.1', pgb1222: '12.22.0', pgb1223: '12.23.1', pgb1224: '12.24.0', pgb1225: '12.25.1', pgb1227: '12.27.0', pgb1228: '12.28.1', pgb1229: '12.29.0', pgb1230: '12.30.0', pgb1232: '12.32.0', pgb1234: '12.34.0', pgb1235: '12.35.0' }

const { db, schemaName, version } = schemasForFile('upg')

/** pg-boss 12.38's own migration of `schema` from `from` up to `to`, BAM rows queued. */
async function referenceMigrate (schema, from, to) {
  const store = await import('pg-boss/dist/migrationStore.js')
  const steps = store.getAll(schema).filter(m => m.version <= to)
  await db.query(store.migrate(schema, from, steps))
}

/**
 * A schema at `target` made by `release` (by default the one that carries it, or the newest one
 * below it, then stepped up by pg-boss 12.38's migrations), holding queues of every policy, partitioned and not,
 * a job in every state on each, a dead letter queue, schedules and subscriptions
 * (support/old-schema.mjs; a release that needs a newer Node makes it in a child process).
 */
async function oldSchema (schema, target, release = RELEASES[target]) {
  await dropSchema(schema)
  await makeOldSchema(release, schema, connectionString)
  if (target > RELEASE_SCHEMA[release]) await referenceMigrate(schema, RELEASE_SCHEMA[release], target)
  assert.equal(await version(schema), target)
}

/** Every row of the user-visible tables, as JSON, keyed so the two sides line up. */
async function rows (schema) {
  const out = {}
  for (const [table, key] of [['job', 'id'], ['queue', 'name'], ['schedule', "name || '/' || key"], ['subscription', "event || '/' || name"]]) {
    const { rows } = await db.query(`SELECT ${key} AS k, to_jsonb(t) AS row FROM ${schema}.${table} t ORDER BY 1`)
    out[table] = new Map(rows.map(r => [r.k, r.row]))
  }
  return out
}

/** Every row before is there after, each column it had with the same value. */
function assertKept (before, after) {
  for (const table of Object.keys(before)) {
    assert.equal(after[table].size, before[table].size, `${table}: row count`)
    for (const [k, row] of before[table]) {
      const now = after[table].get(k)
      assert.ok(now, `${table} ${k} is still there`)
      for (const [column, value] of Object.entries(row)) {
        assert.deepEqual(now[column], value, `${table} ${k}.${column}`)
      }
    }
  }
}

const catalog = schema => catalogOf(db, schema)

async function bamRows (schema) {
  const { rows } = await db.query(`SELECT name, version, status, queue, table_name, command FROM ${schema}.bam ORDER BY version, name, table_name`)
  return rows.map(r => ({ ...r, command: r.command.replaceAll(schema, 'S') }))
}

/**
 * pg-boss 12.38 with migrate: true runs the queued builds (BAM) at start; wait for all of them.
 * The old release's own start claimed the BAM pass moments ago, so that claim is released first.
 */
async function runBuilds (schema) {
  await db.query(`UPDATE ${schema}.version SET bam_on = NULL`)
  const ref = await startPgBoss(schema, { bamIntervalSeconds: 10 })
  try {
    await waitFor(async () => {
      const status = await ref.getBamStatus()
      return status.every(s => s.status === 'completed')
    }, { timeout: 60000, every: 200 })
  } finally {
    await ref.stop({ graceful: false })
  }
}

// [schema, release]: each version from the release that carries it, and 26 from 11.1 as well as 12.5
const UPGRADES = [45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26]
  .map(from => [from, RELEASES[from]])
  .concat([[26, 'pgb111'], [25, 'pgb110']])
for (const [from, release] of UPGRADES) {
  const line = RELEASE_SCHEMA[release] === from ? RELEASE_VERSION[release] : `${RELEASE_VERSION[release]} stepped to ${from} by 12.38`
  test(`start() upgrades schema ${from} (${line}) to 46 in place: rows kept, 12.38 finds no drift, both work on it`, async () => {
    const label = release === RELEASES[from] ? `from${from}` : `from${from}_${release}`
    const ours = schemaName(label)
    const twin = schemaName(`${label}_ref`)
    await oldSchema(ours, from, release)
    await oldSchema(twin, from, release)
    const before = await rows(ours)
    // 4 policies before 11.1, 6 from 12.10: a partitioned and an unpartitioned queue each, 7 jobs on each
    const filled = [...before.queue.keys()].filter(name => /-[cp]$/.test(name)).length
    assert.ok(filled >= 8 && before.job.size >= 7 * filled, `${filled} queues, ${before.job.size} jobs`)
    assert.ok(before.schedule.size === 2 && before.subscription.size === 2)

    const boss = await startBoss(ours)
    await boss.stop()
    assert.equal(await version(ours), 46)
    assertKept(before, await rows(ours))
    // drift ok while the builds are still queued, as after pg-boss's own migration
    await assertNoDrift(ours)

    // the twin migrated by pg-boss 12.38 (the script its start() runs): the same builds queued,
    // the same catalog once built
    await referenceMigrate(twin, from, 46)
    assert.equal(await version(twin), 46)
    // the same builds queued; ours may have begun running them (its BAM runner starts with it:
    // from 26 no release stamped the pass before)
    const queued = rows => rows.map(({ status, ...row }) => row)
    assert.ok((await bamRows(ours)).some(r => r.version === 46))
    assert.deepEqual(queued(await bamRows(ours)), queued(await bamRows(twin)))

    await runBuilds(ours)
    await runBuilds(twin)
    await assertNoDrift(ours, { built: true })
    const built = await catalog(ours)
    assert.ok(built.some(item => item.startsWith('index job_common_i17 ')), 'the v46 builds ran')
    assert.deepEqual(built, await catalog(twin))
    assertKept(before, await rows(ours))
    await assertBothWork(db, ours, { where: "name LIKE '%-_'", atLeast: 8 })
  })
}

test('pg-boss-native and pg-boss 12.38 starting at once on schema 43 migrate it once', async () => {
  const schema = schemaName('race')
  for (let round = 0; round < 2; round++) {
    await oldSchema(schema, 43)
    const { PgBoss: Reference } = await import('pg-boss')
    const ours = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
    const ref = new Reference({ connectionString, schema, supervise: false, schedule: false })
    ref.on('error', () => {})
    const results = await Promise.allSettled(round ? [ref.start(), ours.start()] : [ours.start(), ref.start()])
    try {
      for (const r of results) assert.equal(r.status, 'fulfilled', String(r.reason?.stack ?? r.reason))
      assert.equal(await version(schema), 46)
      const { rows: dup } = await db.query(`SELECT name, table_name FROM ${schema}.bam GROUP BY 1, 2 HAVING count(*) > 1`)
      assert.deepEqual(dup, [], 'each build queued once')
      const { rows: [{ n }] } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.bam WHERE version > 43`)
      // v45 queues one build per job table, v46 four; v44 none
      const { rows: [{ tables }] } = await db.query(`SELECT 1 + count(*)::int AS tables FROM ${schema}.queue WHERE partition`)
      assert.equal(n, tables * 5)
    } finally {
      await ours.stop()
      await ref.stop({ graceful: false })
    }
  }
})

test('two pg-boss-native instances starting at once on schema 43 migrate it once', async () => {
  const schema = schemaName('race_ours')
  await oldSchema(schema, 43)
  await assertRacedStarts(db, schema, async () => {
    const { rows: dup } = await db.query(`SELECT name, table_name FROM ${schema}.bam GROUP BY 1, 2 HAVING count(*) > 1`)
    assert.deepEqual(dup, [])
  })
})

test('migrate: false on an old schema refuses as pg-boss 12.38 does, and changes nothing', async () => {
  const schema = schemaName('nomigrate')
  await oldSchema(schema, 43)
  const ours = new PgBoss({ connectionString, schema, migrate: false, supervise: false, schedule: false })
  const { PgBoss: Reference } = await import('pg-boss')
  const ref = new Reference({ connectionString, schema, migrate: false, supervise: false, schedule: false })
  ref.on('error', () => {})
  const err = await rejection(ours.start())
  const refErr = await rejection(ref.start())
  assert.equal(err.message, refErr.message)
  assert.equal(err.message, 'pg-boss database requires migrations')
  assert.equal(await version(schema), 43)
})

test('a migration that fails part way rolls back and leaves the old schema usable', async () => {
  const schema = schemaName('failed')
  await oldSchema(schema, 43)
  const before = await catalog(schema)
  // an object of the user's where v44 creates its instance table
  await db.query(`CREATE TABLE ${schema}.instance (note text)`)
  const err = await rejection(startBoss(schema))
  assert.match(err.message, /instance.*already exists/)
  assert.equal(await version(schema), 43)
  await db.query(`DROP TABLE ${schema}.instance`)
  assert.deepEqual(await catalog(schema), before, 'nothing of the migration is left')
  // the release that made it still runs on it
  const { PgBoss: Old } = await import('pgb1235')
  const old = new Old({ connectionString, schema, supervise: false, schedule: false })
  old.on('error', () => {})
  await old.start()
  try {
    const id = await old.send('standard-c', { still: 'works' }, { priority: 10 })
    const [job] = await old.fetch('standard-c')
    assert.equal(job.id, id)
  } finally {
    await old.stop({ graceful: false })
  }
  // and once the obstacle is gone, the upgrade goes through
  const boss = await startBoss(schema)
  await boss.stop()
  assert.equal(await version(schema), 46)
})

test('a schema older than the oldest upgraded in place is refused, naming the versions that are', async () => {
  const schema = schemaName('tooold')
  await oldSchema(schema, 29)
  // 21-24 are pg-boss 10's (__test__/upgrade-v10.test.mjs)
  await db.query(`UPDATE ${schema}.version SET version = 20`)
  const err = await rejection(startBoss(schema))
  assert.match(err.message, /schema upg_tooold is at version 20/)
  assert.match(err.message, /upgrades schema versions 21-24 \(pg-boss 10\) and 25-45 in place/)
  assert.match(err.message, /no pg-boss release migrates this one/)
  assert.equal(await version(schema), 20)
})

/** An exported plan run the way psql runs it: the transaction, then each statement after COMMIT. */
async function runPlan (sql) {
  const end = sql.indexOf('COMMIT;') + 'COMMIT;'.length
  await db.query(sql.slice(0, end))
  for (const statement of sql.slice(end).split(';\n').map(s => s.trim()).filter(Boolean)) {
    await db.query(statement)
  }
}

test('getMigrationPlans() from 37 builds everything inline: 46 with nothing left to build', async () => {
  const schema = schemaName('plan')
  await oldSchema(schema, 37)
  const { rows: parts } = await db.query(`SELECT table_name AS "tableName", policy FROM ${schema}.queue WHERE partition`)
  const sql = getMigrationPlans(schema, 37, { partitionTables: parts })
  assert.match(sql, /CREATE INDEX CONCURRENTLY IF NOT EXISTS job_common_i14/)
  // the key_strict_fifo head index goes to job_common and that policy's partitions only
  const fifo = parts.filter(p => p.policy === 'key_strict_fifo')
  assert.equal(fifo.length, 1)
  assert.equal(sql.match(/IF NOT EXISTS \w+_i10 ON/g).length, 2)
  assert.ok(sql.includes(`${fifo[0].tableName}_i10 ON`))
  await runPlan(sql)
  assert.equal(await version(schema), 46)
  const { rows: [{ n }] } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.bam WHERE version > 37`)
  assert.equal(n, 0, 'nothing queued')
  await assertNoDrift(schema, { built: true })
  // the default is the step from the version before the served one
  assert.equal(getMigrationPlans(schema), getMigrationPlans(schema, 45))
  assert.throws(() => getMigrationPlans(schema, 20), /Version 20 not found/)
  assert.throws(() => getMigrationPlans(schema, 37, { partitionTables: ['jabc'] }), /string\[\] form was removed/)
})

test('getRollbackPlans() steps 46 back one version at a time to 25, each step leaving what 12.38\'s rollback leaves', async () => {
  const schema = schemaName('rollback')
  const ref = schemaName('rollback_ref')
  const store = await import('pg-boss/dist/migrationStore.js')
  await oldSchema(schema, 25)
  await oldSchema(ref, 25)
  // ours upgraded by start() (its builds run by 12.38), the reference by 12.38's exported plan
  const boss = await startBoss(schema)
  await boss.stop()
  await runBuilds(schema)
  const { rows: partitionTables } = await db.query(`SELECT table_name AS "tableName", policy FROM ${ref}.queue WHERE partition`)
  await runPlan(store.migrate(ref, 25, store.getAll(ref), false, { inlineAsync: true, partitionTables }))
  assert.deepEqual(await catalog(schema), await catalog(ref))
  for (let v = 46; v > 25; v--) {
    await db.query(getRollbackPlans(schema, v))
    await db.query(store.rollback(ref, v))
    assert.equal(await version(schema), v - 1)
    if (v > 27) { // 27 brought the bam table
      const { rows: [{ n }] } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.bam WHERE version >= $1 AND status <> 'completed'`, [v])
      assert.equal(n, 0, 'no unfinished build of a rolled-back version is left')
    }
    assert.deepEqual(await catalog(schema), await catalog(ref), `rolled back to ${v - 1}`)
  }
  assert.equal(getRollbackPlans(schema), getRollbackPlans(schema, 46))
  assert.throws(() => getRollbackPlans(schema, 25), /Version 25 not found/)
  // and up again
  const again = await startBoss(schema)
  await again.stop()
  assert.equal(await version(schema), 46)
  await assertNoDrift(schema)
})
