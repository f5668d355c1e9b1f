// pg-boss's non-partitioned layout (noTablePartitioning), which `backend: 'cockroachdb'` and
// `'yugabytedb'` install: a plain job table with every index on it, queue_stats as one plain table
// pruned by row, no advisory locks. Installed on PostgreSQL here, as pg-boss 12.38 installs it
// there, and compared with 12.38's own install of the same backend.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { PgBoss, getConstructionPlans, getMigrationPlans, getRollbackPlans, getUninstallPlans } from '../index.mjs'
import { connectionString, dropSchema, pool, startBoss, startPgBoss } from './helpers.mjs'
import { catalog as catalogOf } from './support/catalog.mjs'

const db = pool()
const started = []
after(async () => {
  for (const boss of started) await boss.stop({ graceful: false }).catch(() => {})
  await db.end()
})

const BACKENDS = ['cockroachdb', 'yugabytedb']
const poll = { pollingIntervalSeconds: 0.5 }

async function ours (schema, options = {}) {
  const boss = await startBoss(schema, options)
  started.push(boss)
  return boss
}

async function reference (schema, options = {}) {
  const boss = await startPgBoss(schema, options)
  started.push(boss)
  return boss
}

/** A fresh schema with pg-boss-native on it, started with `backend`. */
async function fresh (schema, backend = 'cockroachdb', options = {}) {
  await dropSchema(schema)
  return ours(schema, { backend, ...options })
}

const catalog = schema => catalogOf(db, schema)

async function state (schema, id) {
  const { rows } = await db.query(`SELECT state, retry_count FROM ${schema}.job WHERE id = $1`, [id])
  return rows[0]
}

async function until (what, fn, ms = 10000) {
  const end = Date.now() + ms
  for (;;) {
    const value = await fn()
    if (value) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

for (const backend of BACKENDS) {
  test(`backend ${backend}: the install is the catalog pg-boss 12.38 installs with that backend`, async () => {
    const mine = `flat_cat_ours_${backend.slice(0, 4)}`
    const twin = `flat_cat_ref_${backend.slice(0, 4)}`
    await dropSchema(mine)
    await dropSchema(twin)
    const a = await ours(mine, { backend })
    const b = await reference(twin, { backend })
    for (const boss of [a, b]) {
      await boss.createQueue('plain')
      await boss.createQueue('fifo', { policy: 'key_strict_fifo', partition: true })
    }
    const got = await catalog(mine)
    assert.deepEqual(got, await catalog(twin))
    assert.ok(!got.some(item => item.startsWith('relation job_common')), 'no job_common')
    assert.ok(got.includes('relation job r') && got.includes('relation queue_stats r'), 'plain tables')
    assert.ok(!got.some(item => item.includes('job_table_')), 'no partition helpers')
    // partition: true is accepted and stored false, its jobs in job, as pg-boss does here
    const { rows } = await db.query(`SELECT partition, table_name FROM ${mine}.queue WHERE name = 'fifo'`)
    assert.deepEqual(rows[0], { partition: false, table_name: 'job' })
  })

  test(`backend ${backend}: detectSchemaDrift() is ok on either install, from either implementation`, async () => {
    for (const installer of ['ours', 'ref']) {
      const schema = `flat_drift_${installer}_${backend.slice(0, 4)}`
      await dropSchema(schema)
      const first = installer === 'ours' ? await ours(schema, { backend }) : await reference(schema, { backend })
      const second = installer === 'ours' ? await reference(schema, { backend, migrate: false }) : await ours(schema, { backend })
      await first.createQueue('q', { policy: 'stately' })
      for (const boss of [first, second]) {
        const report = await boss.detectSchemaDrift()
        assert.equal(report.ok, true, `${installer} install, ${boss === first ? 'installer' : 'other'}: ${JSON.stringify(report)}`)
      }
    }
  })
}

/** Entries whose order is the catalog's scan order, sorted. */
function comparable (report) {
  const byName = (x, y) => x.name.localeCompare(y.name)
  return { ...report, missing: [...report.missing].sort(byName), extraIndexes: [...report.extraIndexes].sort(byName), missingFunctions: [...report.missingFunctions].sort(byName), mismatchedFunctions: [...report.mismatchedFunctions].sort(byName) }
}

for (const backend of BACKENDS) {
  test(`backend ${backend}: a tampered flat schema gets pg-boss 12.38's report, entry for entry`, async () => {
    const schema = `flat_drift_tampered_${backend.slice(0, 4)}`
    const boss = await fresh(schema, backend)
    const ref = await reference(schema, { backend, migrate: false })
    await db.query(`DROP INDEX ${schema}.job_i10`)
    await db.query(`DROP INDEX ${schema}.queue_stats_i2`)
    await db.query(`CREATE INDEX job_i99 ON ${schema}.job (priority)`)
    await db.query(`CREATE OR REPLACE FUNCTION ${schema}.delete_queue(queue_name text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM ${schema}.queue WHERE name = queue_name; END; $$`)
    const mine = comparable(await boss.detectSchemaDrift())
    const theirs = comparable(await ref.detectSchemaDrift())
    assert.equal(mine.ok, false)
    assert.deepEqual(mine.missing.map(i => i.name), ['job_i10', 'queue_stats_i2'])
    assert.deepEqual(mine.extraIndexes.map(i => i.name), ['job_i99'])
    assert.deepEqual(mine, theirs)
  })
}

test('send, fetch, complete, fail, retry and dead letter on the flat layout', async () => {
  const schema = 'flat_jobs'
  const boss = await fresh(schema)
  await boss.createQueue('dead')
  await boss.createQueue('work', { retryLimit: 1, deadLetter: 'dead' })

  const done = await boss.send('work', { n: 1 })
  const [a] = await boss.fetch('work')
  assert.equal(a.id, done)
  await boss.complete('work', done, { ok: true })
  assert.equal((await boss.getJobById('work', done)).state, 'completed')

  const failing = await boss.send('work', { n: 2 })
  await boss.fetch('work')
  await boss.fail('work', failing, new Error('first'))
  assert.equal((await state(schema, failing)).state, 'retry')
  const [again] = await boss.fetch('work')
  assert.equal(again.id, failing)
  await boss.fail('work', failing, new Error('last'))
  assert.equal((await state(schema, failing)).state, 'failed')
  const [letter] = await boss.fetch('dead')
  assert.deepEqual(letter.data, { n: 2 })

  const retried = await boss.send('work', { n: 3 }, { retryLimit: 0 })
  await boss.fetch('work')
  await boss.fail('work', retried, new Error('no retries'))
  await boss.retry('work', retried)
  assert.equal((await state(schema, retried)).state, 'retry')

  await boss.deleteQueue('work')
  assert.equal(await boss.getQueue('work'), null)
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.job WHERE name = 'work'`)
  assert.equal(rows[0].n, 0)
})

test('singleton, stately and key_strict_fifo policies hold on the flat layout', async () => {
  const schema = 'flat_policies'
  const boss = await fresh(schema)
  await boss.createQueue('single', { policy: 'singleton' })
  await boss.send('single', { n: 1 })
  await boss.send('single', { n: 2 })
  assert.equal((await boss.fetch('single', { batchSize: 5 })).length, 1, 'one active at a time')

  await boss.createQueue('state', { policy: 'stately' })
  assert.ok(await boss.send('state', { n: 1 }))
  assert.equal(await boss.send('state', { n: 2 }), null, 'one queued per state')

  await boss.createQueue('fifo', { policy: 'key_strict_fifo' })
  const first = await boss.send('fifo', { n: 1 }, { singletonKey: 'k' })
  await boss.send('fifo', { n: 2 }, { singletonKey: 'k' })
  const other = await boss.send('fifo', { n: 3 }, { singletonKey: 'j' })
  const fetched = (await boss.fetch('fifo', { batchSize: 5 })).map(j => j.id).sort()
  assert.deepEqual(fetched, [first, other].sort(), 'one head per key')
  await assert.rejects(boss.send('fifo', { n: 4 }), /singletonKey/)
})

test('groupConcurrency caps active jobs per group on the flat layout', async () => {
  const schema = 'flat_groups'
  const boss = await fresh(schema)
  await boss.createQueue('groups')
  const ids = await boss.insert('groups', [0, 1, 2, 3, 4, 5].map(i => ({ data: { i }, group: { id: 'g' } })), { returnId: true })
  let active = 0
  let peak = 0
  await boss.work('groups', { ...poll, localConcurrency: 3, groupConcurrency: 1 }, async () => {
    active++
    peak = Math.max(peak, active)
    await sleep(100)
    active--
  })
  await until('every job completed', async () => {
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.job WHERE id = ANY($1) AND state = 'completed'`, [ids])
    return rows[0].n === ids.length
  })
  assert.equal(peak, 1)
  await boss.offWork('groups')
})

test('pg-boss 12.38 and pg-boss-native process each other\'s jobs on one flat schema', async () => {
  const schema = 'flat_interop'
  const mine = await fresh(schema)
  const ref = await reference(schema, { backend: 'cockroachdb', migrate: false })
  await ref.createQueue('from-ref')
  await mine.createQueue('from-ours')
  const sentByRef = await ref.send('from-ref', { by: 'ref' })
  const sentByOurs = await mine.send('from-ours', { by: 'ours' })
  const [j1] = await mine.fetch('from-ref')
  assert.equal(j1.id, sentByRef)
  await mine.complete('from-ref', j1.id)
  const [j2] = await ref.fetch('from-ours')
  assert.equal(j2.id, sentByOurs)
  await ref.complete('from-ours', j2.id)
  assert.equal((await ref.getJobById('from-ref', sentByRef)).state, 'completed')
  assert.equal((await mine.getJobById('from-ours', sentByOurs)).state, 'completed')

  // workers of both on one queue: every job once
  await mine.createQueue('shared')
  const ids = await mine.insert('shared', Array.from({ length: 40 }, (_, i) => ({ data: { i } })), { returnId: true })
  const seen = []
  await mine.work('shared', { ...poll, batchSize: 5 }, async jobs => { seen.push(...jobs.map(j => j.id)) })
  await ref.work('shared', { ...poll, batchSize: 5 }, async jobs => { seen.push(...jobs.map(j => j.id)) })
  await until('every shared job completed', async () => {
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.job WHERE name = 'shared' AND state = 'completed'`)
    return rows[0].n === ids.length
  })
  assert.equal(seen.length, ids.length)
  assert.equal(new Set(seen).size, ids.length)
  await mine.offWork('shared')
  await ref.offWork('shared')
})

test('queue stats are recorded in the plain queue_stats table and pruned by row', async () => {
  const schema = 'flat_stats'
  const boss = await fresh(schema, 'cockroachdb', { persistQueueStats: true, queueStatRetentionDays: 7 })
  await boss.createQueue('q')
  await boss.send('q', {})
  await db.query(`INSERT INTO ${schema}.queue_stats (name, captured_on) VALUES ('q', now() - interval '10 days'), ('q', now() - interval '6 days')`)
  await boss.supervise()
  assert.equal(boss.lastError, undefined, String(boss.lastError))
  const { rows } = await db.query(`SELECT (captured_on < now() - interval '8 days') AS old, queued_count FROM ${schema}.queue_stats ORDER BY captured_on`)
  assert.deepEqual(rows.map(r => r.old), [false, false], 'the 10-day-old row is gone, the 6-day-old one and the new snapshot stay')
  assert.equal(rows[1].queued_count, 1, 'the pass recorded a snapshot')
  const { rows: parts } = await db.query(`SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = $1::regnamespace AND relname LIKE 'queue_stats_2%'`, [schema])
  assert.equal(parts[0].n, 0, 'no daily partitions')
  const history = await boss.getQueueStats('q', { limit: 10 })
  assert.equal(history.length, 2)
})

test('retention deletes more rows than one batch holds', async () => {
  const schema = 'flat_stats_many'
  const boss = await fresh(schema, 'yugabytedb', { persistQueueStats: true, queueStatRetentionDays: 1 })
  await db.query(`INSERT INTO ${schema}.queue_stats (name, captured_on)
    SELECT 'gone', now() - interval '3 days' - i * interval '1 second' FROM generate_series(1, 10500) i`)
  await boss.supervise()
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.queue_stats`)
  assert.equal(rows[0].n, 0)
})

/** pg-boss's advisory-lock key for `key` on `schema`, as a SQL expression. */
function lockKey (schema, key) {
  return `('x' || encode(sha224((current_database() || '.pgboss.${schema}${key}')::bytea), 'hex'))::bit(64)::bigint`
}

test('without advisory locks, the install, createQueue, deleteQueue and a stats pass do not wait on them', async () => {
  const schema = 'flat_nolocks'
  await dropSchema(schema)
  const holder = await db.connect()
  try {
    // another session holds every lock these statements would take under the postgres backend
    for (const key of ['', 'create-queue', 'delete-queue', 'queue-stats', 'queue-stats-insert', 'jobfailJobsByTimeout', 'jobdeletion']) {
      await holder.query(`SELECT pg_advisory_lock(${lockKey(schema, key)})`)
    }
    const within = (what, promise) => Promise.race([promise, sleep(5000).then(() => { throw new Error(`${what} waited on a lock`) })])
    const boss = await within('start', ours(schema, { backend: 'yugabytedb', persistQueueStats: true }))
    await within('createQueue', boss.createQueue('q'))
    await boss.send('q', {})
    await within('supervise', boss.supervise())
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.queue_stats`)
    assert.equal(rows[0].n, 1, 'the snapshot was written')
    await within('deleteQueue', boss.deleteQueue('q'))
    assert.equal(await boss.getQueue('q'), null)
  } finally {
    await holder.query('SELECT pg_advisory_unlock_all()')
    holder.release()
  }
})

test('instances starting together on an empty schema without advisory locks all start, on one install', async () => {
  const schema = 'flat_race'
  await dropSchema(schema)
  const bosses = [0, 1, 2].map(() => {
    const boss = new PgBoss({ connectionString, schema, backend: 'yugabytedb', supervise: false, schedule: false })
    boss.on('error', () => {})
    started.push(boss)
    return boss
  })
  const results = await Promise.allSettled(bosses.map(b => b.start()))
  assert.deepEqual(results.map(r => r.status === 'fulfilled' ? 'ok' : r.reason.message), ['ok', 'ok', 'ok'])
  const { rows } = await db.query(`SELECT version FROM ${schema}.version`)
  assert.deepEqual(rows, [{ version: 46 }])
  await bosses[0].createQueue('q')
  assert.ok(await bosses[1].send('q', {}))
})

test('the plan functions take the backend: no advisory locks, its layout, no upgrade steps for it', async () => {
  for (const backend of BACKENDS) {
    const schema = `flat_plans_${backend.slice(0, 4)}`
    await dropSchema(schema)
    const plan = getConstructionPlans(schema, { backend })
    assert.ok(!plan.includes('pg_advisory'), 'no advisory lock')
    assert.ok(!plan.includes('PARTITION'))
    await db.query(plan)
    const boss = await ours(schema, { backend, migrate: false })
    assert.equal((await boss.detectSchemaDrift()).ok, true)
    await boss.stop({ graceful: false })
    await db.query(getUninstallPlans(schema, { backend }))
    const { rows } = await db.query('SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = $1::regnamespace', [schema])
    assert.equal(rows[0].n, 0, 'nothing left')
  }
  const schema = 'flat_plans_noschema'
  await dropSchema(schema)
  assert.ok(!getConstructionPlans(schema, { backend: 'yugabytedb', createSchema: false }).includes('CREATE SCHEMA'))
  assert.ok(getConstructionPlans(schema).includes('pg_advisory_xact_lock'), 'postgres keeps its lock')
  assert.throws(() => getConstructionPlans(schema, { backend: 'mysql' }), /backend must be one of/)
  // our upgrade steps are the partitioned layout's: refused for these backends, not given anyway
  for (const backend of BACKENDS) {
    assert.throws(() => getMigrationPlans(schema, 45, { backend }), /no upgrade steps for the non-partitioned layout/)
    assert.throws(() => getRollbackPlans(schema, 46, { backend }), /no upgrade steps for the non-partitioned layout/)
  }
  assert.ok(getMigrationPlans(schema, 45, { backend: 'citus' }).includes(`${schema}.version`))
  assert.throws(() => getRollbackPlans(schema, 46, { backend: 'mysql' }), /backend must be one of/)
})

test('a schema in the other layout is used as it is, as pg-boss 12.38 uses it', async () => {
  // partitioned schema, cockroachdb backend
  const partitioned = 'flat_other_part'
  await dropSchema(partitioned)
  await (await ours(partitioned)).stop({ graceful: false })
  const crdb = await ours(partitioned, { backend: 'cockroachdb' })
  await crdb.createQueue('q')
  const id = await crdb.send('q', {})
  assert.equal((await crdb.fetch('q'))[0].id, id)
  const { rows } = await db.query('SELECT to_regclass($1) IS NOT NULL AS present', [`${partitioned}.job_common`])
  assert.equal(rows[0].present, true, 'still partitioned')

  // flat schema, postgres backend
  const flat = 'flat_other_flat'
  await dropSchema(flat)
  await (await ours(flat, { backend: 'yugabytedb' })).stop({ graceful: false })
  const plainPg = await ours(flat)
  await plainPg.createQueue('q', { partition: true })
  assert.equal((await plainPg.getQueue('q')).table, 'job')
  const id2 = await plainPg.send('q', {})
  assert.equal((await plainPg.fetch('q'))[0].id, id2)
  assert.equal((await plainPg.detectSchemaDrift()).ok, true, 'drift reads the layout from the database')
})

test('an older schema in the non-partitioned layout is refused, saying how to upgrade it', async () => {
  const schema = 'flat_old'
  await dropSchema(schema)
  const { PgBoss: Old } = await import('pgb1235')
  const old = new Old({ connectionString, schema, backend: 'cockroachdb', supervise: false, schedule: false })
  old.on('error', () => {})
  await old.start()
  await old.stop({ graceful: false })
  const { rows } = await db.query(`SELECT version FROM ${schema}.version`)
  assert.equal(rows[0].version, 43)
  const boss = new PgBoss({ connectionString, schema, backend: 'cockroachdb', supervise: false, schedule: false })
  boss.on('error', () => {})
  await assert.rejects(boss.start(), /version 43 in pg-boss's unpartitioned layout \(noTablePartitioning\).*upgrade it once with pg-boss 12\.38/)
  const { rows: after } = await db.query(`SELECT version FROM ${schema}.version`)
  assert.equal(after[0].version, 43, 'left as it was')
})
