// The supervise pass's tail, each in a situation that really causes it: bloated job indexes
// (index_bloat warnings, and the background REINDEX pass that rebuilds them), garbage nothing
// vacuums (autovacuum_disabled) and garbage a vacuum could not reclaim because a transaction pins
// the horizon (xmin_horizon). pg-boss 12.38 reads the same state where its answer is comparable.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { connectionString, dropSchema, pg, pool, sleep, startBoss, startPgBoss, waitFor } from './helpers.mjs'

const db = pool()
const schemas = []
after(async () => {
  await db.end()
  for (const s of schemas) await dropSchema(s)
})

async function fresh (schema, options = {}) {
  schemas.push(schema)
  await dropSchema(schema)
  const boss = await startBoss(schema, options)
  boss.warnings = []
  boss.on('warning', w => boss.warnings.push(w))
  return boss
}

/** Fill a queue's table with `n` jobs and delete them all: its indexes keep their pages. */
async function bloat (schema, queue, n = 60000) {
  await db.query(`INSERT INTO ${schema}.job (name, data) SELECT $1, '{}' FROM generate_series(1, ${n})`, [queue])
  await db.query(`DELETE FROM ${schema}.job WHERE name = $1`, [queue])
  await db.query(`VACUUM ANALYZE ${schema}.job_common`)
}

async function pages (schema, index) {
  const { rows } = await db.query(`SELECT relpages FROM pg_class WHERE oid = '${schema}.${index}'::regclass`)
  return rows[0].relpages
}

/** Dead rows in job_common, flushed to the statistics views before it returns. */
async function garbage (schema, queue, n) {
  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    const before = await deadTuples(schema)
    await client.query(`INSERT INTO ${schema}.job (name) SELECT $1 FROM generate_series(1, ${n})`, [queue])
    await client.query(`DELETE FROM ${schema}.job WHERE name = $1`, [queue])
    await client.query('SELECT pg_stat_force_next_flush()')
    await waitFor(async () => (await deadTuples(schema)) >= before + n)
  } finally {
    await client.end()
  }
}

async function deadTuples (schema) {
  const { rows } = await db.query(`SELECT n_dead_tup::int AS n, last_vacuum FROM pg_stat_user_tables
    WHERE relid = '${schema}.job_common'::regclass`)
  return rows[0].n
}

const ofType = (boss, prefix) => boss.warnings.filter(w => w.message.startsWith(prefix))

test('bloated job indexes are reported once per episode with reindex: false, as pg-boss 12.38 reports them', async () => {
  const schema = 'stats_mon_detect'
  const ours = await fresh(schema, { reindex: false })
  await ours.createQueue('drained')
  await bloat(schema, 'drained')
  const before = await pages(schema, 'job_common_pkey')
  assert.ok(before > 128, `job_common_pkey has ${before} pages`)

  await ours.supervise()
  const ourWarnings = ofType(ours, 'Warning: index "')
  assert.ok(ourWarnings.length > 0)
  const pkey = ourWarnings.find(w => w.data.name === 'job_common_pkey')
  assert.match(pkey.message, /^Warning: index "job_common_pkey" is bloated \(\d+ MB across \d+ pages for ~0 live entries\) and was not rebuilt: automatic reindexing is disabled\. See getReindexCommands\(\)$/)
  assert.deepEqual(Object.keys(pkey.data).sort(), ['bytes', 'entries', 'name', 'owned', 'pages', 'table'])
  assert.equal(pkey.data.table, 'job_common')
  assert.equal(await pages(schema, 'job_common_pkey'), before, 'nothing rebuilt')

  const ref = await startPgBoss(schema, { migrate: false, reindex: false })
  const refWarnings = []
  ref.on('warning', w => refWarnings.push(w))
  try {
    await ref.supervise()
    const sorted = list => list.filter(w => w.message.startsWith('Warning: index "')).sort((a, b) => a.data.name.localeCompare(b.data.name))
    assert.deepEqual(sorted(ourWarnings), sorted(refWarnings))
  } finally {
    await ref.stop({ graceful: false })
  }

  // the same episode is not reported again
  await ours.supervise(null, { reindex: false })
  assert.equal(ofType(ours, 'Warning: index "').length, ourWarnings.length)
  await ours.stop()
})

test('the reindex pass rebuilds bloated job indexes once per reindexIntervalSeconds across the cluster', async () => {
  const schema = 'stats_mon_rebuild'
  const ours = await fresh(schema)
  await ours.createQueue('drained')
  await bloat(schema, 'drained')
  const before = await pages(schema, 'job_common_pkey')
  assert.ok((await ours.getReindexCommands()).includes(`REINDEX INDEX CONCURRENTLY ${schema}."job_common_pkey"`))

  await ours.supervise()
  const after = await pages(schema, 'job_common_pkey')
  assert.ok(after < before / 10, `${before} pages before, ${after} after`)
  assert.deepEqual(await ours.getReindexCommands(), [])
  assert.deepEqual(ofType(ours, 'Warning: index "'), [], 'a rebuilt index is not reported')
  const { rows } = await db.query(`SELECT reindex_on FROM ${schema}.version`)
  assert.ok(rows[0].reindex_on instanceof Date)

  // within the interval the claim is taken, so a new episode waits for the next one, unless a
  // supervise() call forces a rebuild
  await bloat(schema, 'drained')
  const again = await pages(schema, 'job_common_pkey')
  await ours.supervise()
  assert.equal(await pages(schema, 'job_common_pkey'), again)
  await ours.supervise(null, { reindex: { force: true } })
  assert.ok(await pages(schema, 'job_common_pkey') < again / 10)
  await ours.stop()
})

test('garbage growing on a table with autovacuum_enabled = false warns autovacuum_disabled on the second pass', async () => {
  const schema = 'stats_mon_autovac'
  const ours = await fresh(schema)
  const quiet = await startBoss(schema, { migrate: false, monitorVacuum: false, reindex: false })
  quiet.warnings = []
  quiet.on('warning', w => quiet.warnings.push(w))
  await ours.createQueue('churn')
  await db.query(`ALTER TABLE ${schema}.job_common SET (autovacuum_enabled = false)`)

  await garbage(schema, 'churn', 500)
  await ours.supervise()
  await quiet.supervise()
  assert.deepEqual(ofType(ours, 'Warning: autovacuum'), [], 'one observation is not evidence')

  await garbage(schema, 'churn', 500)
  await ours.supervise()
  await quiet.supervise()
  const [warning, ...rest] = ofType(ours, 'Warning: autovacuum')
  assert.equal(rest.length, 0)
  assert.match(warning.message, /^Warning: autovacuum is disabled, so nothing is reclaiming completed jobs: job_common has autovacuum_enabled = false, holds \d+ dead rows and is still growing, and has never been vacuumed \(Postgres would vacuum this table at 50\)$/)
  assert.equal(warning.data.table, 'job_common')
  assert.ok(warning.data.deadTuples >= 1000)
  assert.equal(warning.data.vacuumAgeSeconds, null)
  assert.deepEqual(quiet.warnings, [], 'monitorVacuum: false runs no vacuum checks')

  // latched: a third pass of the same episode does not warn again
  await garbage(schema, 'churn', 100)
  await ours.supervise()
  assert.equal(ofType(ours, 'Warning: autovacuum').length, 1)
  await quiet.stop()
  await ours.stop()
})

test('a transaction pinning the horizon across a vacuum warns xmin_horizon and names the holder', async () => {
  const schema = 'stats_mon_xmin'
  const ours = await fresh(schema, { persistWarnings: true })
  await ours.createQueue('churn')
  const holder = new pg.Client({ connectionString, application_name: 'stats-xmin-holder' })
  await holder.connect()
  try {
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ')
    await holder.query('SELECT count(*) FROM pg_class')
    await sleep(1100) // the holder's transaction predates the vacuum by a clear second

    await garbage(schema, 'churn', 500)
    await ours.supervise()
    const vacuumer = new pg.Client({ connectionString })
    await vacuumer.connect()
    await vacuumer.query(`VACUUM ${schema}.job_common`)
    await vacuumer.query('SELECT pg_stat_force_next_flush()')
    await vacuumer.end()
    await waitFor(async () => {
      const { rows } = await db.query(`SELECT last_vacuum FROM pg_stat_user_tables WHERE relid = '${schema}.job_common'::regclass`)
      return rows[0].last_vacuum
    })
    assert.ok(await deadTuples(schema) >= 500, 'the vacuum could not reclaim them')

    await ours.supervise()
    const [warning] = ofType(ours, 'Warning: the database transaction horizon is pinned')
    assert.ok(warning, JSON.stringify(ours.warnings))
    assert.equal(warning.data.table, 'job_common')
    assert.deepEqual(warning.data.tables, ['job_common'])
    assert.ok(warning.data.transactions >= 0)
    assert.ok(['backends', 'slots', 'slotsCatalog', 'standbys', 'prepared'].includes(warning.data.source))
    assert.match(warning.message, /holding it \d+ transactions back\. job_common has \d+ dead rows that a vacuum \d+s ago could not reclaim \(Postgres vacuums this table at 50\)\./)
    if (warning.data.holderApplicationName === 'stats-xmin-holder') {
      assert.match(warning.data.holder, /^another application \(application_name 'stats-xmin-holder', role \w+, pid \d+\) has held a transaction open for \d+s$/)
      assert.equal(warning.data.self, false)
    }
    const { rows } = await db.query(`SELECT type, message FROM ${schema}.warning WHERE type = 'xmin_horizon'`)
    assert.deepEqual(rows, [{ type: 'xmin_horizon', message: warning.message }])
  } finally {
    await holder.query('ROLLBACK').catch(() => {})
    await holder.end()
    await ours.stop()
  }
})

test('stats counts that held the horizon past a tenth of autovacuum_naptime defer the next counts (monitor_backoff)', async () => {
  const schema = 'stats_mon_backoff'
  // one connection, so the second pass runs the count its first pass prepared: a prepared
  // statement takes its table locks when it executes, inside the transaction that holds the snapshot
  const ours = await fresh(schema, { monitorIntervalSeconds: 1, reindex: false, max: 1 })
  await ours.createQueue('counted')
  await ours.send('counted', {})
  await ours.supervise('counted')
  assert.deepEqual(ofType(ours, 'Warning: queue monitoring spent long enough'), [], 'a quick count does not back off')
  await sleep(1100)
  const { rows: [{ naptime }] } = await db.query("SELECT extract(epoch FROM current_setting('autovacuum_naptime')::interval)::float8 AS naptime")
  const hold = naptime * 0.1 + 1
  // the count waits on this lock with its snapshot taken: the horizon is held for `hold` seconds
  const locker = new pg.Client({ connectionString })
  await locker.connect()
  await locker.query('BEGIN')
  await locker.query(`LOCK TABLE ${schema}.job_common IN ACCESS EXCLUSIVE MODE`)
  const pass = ours.supervise('counted')
  await sleep(hold * 1000)
  await locker.query('COMMIT')
  await locker.end()
  await pass

  const [warning, ...rest] = ofType(ours, 'Warning: queue monitoring spent long enough')
  assert.ok(warning, JSON.stringify(ours.warnings))
  assert.equal(rest.length, 0)
  assert.match(warning.message, new RegExp(`: \\d+\\.\\ds of aggregate against an autovacuum_naptime of ${naptime}s\\. Shrink the job table`))
  assert.ok(warning.data.elapsedSeconds >= hold - 0.5 && warning.data.naptimeSeconds === naptime)
  assert.ok(warning.data.backoffSeconds > 2 * naptime - 5)
  const { rows: [version] } = await db.query(`SELECT monitor_backoff_on > now() AS held FROM ${schema}.version`)
  assert.equal(version.held, true)

  // while it holds, a pass claims and expires but does not count, and a forced read serves the cache
  const [before] = await ours.getQueueStats('counted')
  await ours.send('counted', {})
  await sleep(1100)
  await ours.supervise('counted')
  const { rows: [queue] } = await db.query(`SELECT queued_count, monitor_on, monitor_claim_on FROM ${schema}.queue WHERE name = 'counted'`)
  assert.equal(queue.queued_count, 1)
  assert.ok(queue.monitor_claim_on > queue.monitor_on, 'claimed, not counted')
  const [forced] = await ours.getQueueStats('counted', { force: true })
  assert.equal(forced.queuedCount, 1)
  assert.deepEqual(forced.capturedOn, before.capturedOn)
  await ours.stop()
})
