// The BAM runner: pg-boss-native runs the index builds a migration queued in <schema>.bam, as
// pg-boss 12.38 runs them, alone or in a fleet with 12.38.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connectionString, dropSchema, startBoss, startPgBoss, waitFor, sleep, schemasForFile } from './helpers.mjs'
import { catalog as catalogOf } from './support/catalog.mjs'

const FAST = { bamIntervalSeconds: 1, __test__bypass_bam_interval_check: true }

const { db, schemaName } = schemasForFile('bamr')

/** A schema at 37 made by pg-boss 12.27, with queues partitioned and not, and a job on each. */
async function oldSchema (schema) {
  await dropSchema(schema)
  const { PgBoss: Old } = await import('pgb1227')
  const old = new Old({ connectionString, schema, supervise: false, schedule: false })
  old.on('error', () => {})
  await old.start()
  try {
    for (const policy of ['standard', 'singleton', 'key_strict_fifo']) {
      for (const partition of [false, true]) {
        const name = `${policy}-${partition ? 'p' : 'c'}`
        await old.createQueue(name, { policy, partition })
        await old.send(name, { n: 1 }, { singletonKey: 'k' })
      }
    }
  } finally {
    await old.stop({ graceful: false })
  }
  // the old release's start stamped the pass: let the next start claim it at once
  await db.query(`UPDATE ${schema}.version SET bam_on = NULL`)
}

const catalog = schema => catalogOf(db, schema)

async function bamRows (schema) {
  const { rows } = await db.query(`SELECT name, version, status, queue, table_name, error, started_on IS NOT NULL AS started,
    completed_on IS NOT NULL AS done FROM ${schema}.bam ORDER BY version, created_on, name, table_name`)
  return rows
}

async function allCompleted (boss) {
  const status = await boss.getBamStatus()
  return status.length > 0 && status.every(s => s.status === 'completed')
}

async function queueRow (schema, name, command, table = 'bamr_t') {
  const { rows } = await db.query(`INSERT INTO ${schema}.bam (name, version, status, table_name, command)
    VALUES ($1, 46, 'pending', $2, $3) RETURNING id`, [name, table, command.replaceAll('S.', `${schema}.`)])
  return rows[0].id
}

/** A new schema (made by pg-boss-native, no builds queued) with a plain table to index. */
async function freshSchema (schema, { ref = false } = {}) {
  await dropSchema(schema)
  const boss = ref ? await startPgBoss(schema, { migrate: true }) : await startBoss(schema)
  await boss.stop({ graceful: false })
  await db.query(`CREATE TABLE ${schema}.bamr_t (a int)`)
  await db.query(`INSERT INTO ${schema}.bamr_t SELECT generate_series(1, 1000)`)
  await db.query(`UPDATE ${schema}.version SET bam_on = NULL`)
}

test('after upgrading schema 37, pg-boss-native alone builds every queued index: the catalog is 12.38\'s, no drift', async () => {
  const ours = schemaName('up_ours')
  const twin = schemaName('up_twin')
  await oldSchema(ours)
  await oldSchema(twin)

  const events = []
  const boss = await startBoss(ours, FAST)
  boss.on('bam', e => events.push(e))
  try {
    await waitFor(() => allCompleted(boss), { timeout: 90000, every: 200 })
    await waitFor(() => !boss.isBamWorking(), { timeout: 5000 })
  } finally {
    await boss.stop()
  }
  assert.equal(boss.lastError, undefined, String(boss.lastError))
  const rows = await bamRows(ours)
  assert.ok(rows.length >= 10, `builds queued: ${rows.length}`)
  assert.ok(rows.some(r => r.name && r.table_name === 'job_common'))
  for (const r of rows) assert.deepEqual([r.status, r.error, r.started, r.done], ['completed', null, true, true], JSON.stringify(r))

  // every row: an in_progress event then a completed one, with the row's fields
  const { rows: ids } = await db.query(`SELECT id, name, queue, table_name AS "table" FROM ${ours}.bam`)
  const late = events.filter(e => e.status === 'in_progress').length
  assert.ok(late >= 1)
  for (const row of ids) {
    const mine = events.filter(e => e.id === row.id)
    // the listener is attached after start(): the first build may have begun before it
    if (mine.length === 0) continue
    assert.deepEqual(mine.map(e => e.status).slice(-1), ['completed'])
    for (const e of mine) assert.deepEqual({ id: e.id, name: e.name, queue: e.queue, table: e.table }, row)
  }
  // (events reach JS after the engine raised them, so isBamWorking() is not sampled in the
  // listener; it is checked during a command by the stop() test)

  // the twin: pg-boss 12.38 migrates it and builds
  const ref = await startPgBoss(twin, { bamIntervalSeconds: 10 })
  try {
    await waitFor(() => allCompleted(ref), { timeout: 90000, every: 200 })
  } finally {
    await ref.stop({ graceful: false })
  }
  assert.deepEqual((await bamRows(ours)).map(r => [r.name, r.version, r.table_name, r.status, r.error]),
    (await bamRows(twin)).map(r => [r.name, r.version, r.table_name, r.status, r.error]))
  const built = await catalog(ours)
  assert.ok(built.some(i => i.startsWith('index job_common_i17 ')), 'the v46 builds ran')
  assert.ok(!built.some(i => i.startsWith('index job_i5 ') || i.startsWith('index job_common_i5 ')), 'the old fetch index is dropped')
  assert.deepEqual(built, await catalog(twin))

  // 12.38's view of the result: no drift, nothing building; getBamStatus() the same from both
  const check = await startPgBoss(ours, { migrate: false })
  const again = await startBoss(ours, { migrate: false })
  try {
    const drift = await check.detectSchemaDrift()
    assert.equal(drift.ok, true, JSON.stringify(drift))
    assert.deepEqual(drift.building, [])
    assert.deepEqual(JSON.parse(JSON.stringify(await again.getBamStatus())), JSON.parse(JSON.stringify(await check.getBamStatus())))
    assert.equal(again.isBamWorking(), false)
  } finally {
    await check.stop({ graceful: false })
    await again.stop()
  }
})

test('a failing build is recorded as 12.38 records it: failed, its error, a bam event and an error event', async () => {
  const results = {}
  for (const side of ['ours', 'ref']) {
    const schema = schemaName(`fail_${side}`)
    await freshSchema(schema, { ref: side === 'ref' })
    const id = await queueRow(schema, 'bad_build', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS bamr_bad ON S.bamr_t (no_such_column)')
    const events = []
    const errors = []
    const boss = side === 'ours' ? await startBoss(schema, FAST) : await startPgBoss(schema, { ...FAST, migrate: true })
    boss.on('bam', e => events.push(e))
    boss.on('error', e => errors.push(e))
    try {
      await waitFor(() => events.some(e => e.status === 'failed'), { timeout: 20000 })
    } finally {
      await boss.stop({ graceful: false })
    }
    const { rows } = await db.query(`SELECT status, error, completed_on IS NOT NULL AS done FROM ${schema}.bam WHERE id = $1`, [id])
    const failed = events.find(e => e.status === 'failed')
    results[side] = {
      row: rows[0],
      event: { ...failed, id: failed.id === id },
      error: String((errors[0] ?? boss.lastError)?.message)
    }
  }
  assert.equal(results.ours.row.status, 'failed')
  assert.match(results.ours.row.error, /no_such_column/)
  assert.deepEqual(results.ours, results.ref)
})

test('a mixed fleet (pg-boss 12.38 and pg-boss-native) runs each command once', async () => {
  const schema = schemaName('fleet')
  await freshSchema(schema)
  await db.query(`CREATE TABLE ${schema}.bamr_log (k text, app text)`)
  const keys = []
  for (let i = 0; i < 16; i++) {
    keys.push(`c${i}`)
    await queueRow(schema, `cmd_${i}`, `SELECT pg_sleep(0.2); INSERT INTO S.bamr_log VALUES ('c${i}', current_setting('application_name'))`)
  }
  const fleet = {
    ours1: await startBoss(schema, { ...FAST, application_name: 'ours1' }),
    ref1: await startPgBoss(schema, { ...FAST, migrate: true, application_name: 'ref1' }),
    ours2: await startBoss(schema, { ...FAST, application_name: 'ours2' }),
    ref2: await startPgBoss(schema, { ...FAST, migrate: true, application_name: 'ref2' })
  }
  const ran = async () => (await db.query(`SELECT k, app FROM ${schema}.bamr_log`)).rows
  try {
    // whoever won the pass runs the burst; once a few ran, stop every instance of that
    // implementation (each finishes and records its command) so the other one takes over
    const first = await waitFor(async () => { const r = await ran(); return r.length >= 4 && r[0].app }, { timeout: 30000 })
    const side = first.replace(/\d$/, '')
    for (const [name, boss] of Object.entries(fleet)) {
      if (name.startsWith(side)) await boss.stop({ timeout: 10000 })
    }
    await waitFor(() => allCompleted(fleet[side === 'ours' ? 'ref1' : 'ours1']), { timeout: 60000, every: 100 })
  } finally {
    await Promise.all(Object.values(fleet).map(b => b.stop({ graceful: false })))
  }
  const rows = await ran()
  assert.deepEqual(rows.map(r => r.k).sort(), keys.sort(), 'each command ran once')
  const sides = new Set(rows.map(r => r.app.replace(/\d$/, '')))
  assert.deepEqual([...sides].sort(), ['ours', 'ref'], 'both implementations ran commands')
  for (const b of Object.values(fleet)) assert.equal(b.lastError, undefined, String(b.lastError))
})

test('stop() during a command: waits until its timeout, then cancels it, recorded failed as 12.38 records it', async () => {
  const results = {}
  for (const side of ['ours', 'ref']) {
    const schema = schemaName(`stop_${side}`)
    await freshSchema(schema, { ref: side === 'ref' })
    const id = await queueRow(schema, 'slow', 'SELECT pg_sleep(60)')
    const events = []
    const errors = []
    const boss = side === 'ours' ? await startBoss(schema, FAST) : await startPgBoss(schema, { ...FAST, migrate: true })
    boss.on('bam', e => events.push(e.status))
    boss.on('error', e => errors.push(e))
    await waitFor(async () => {
      const { rows } = await db.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND state = 'active' AND pid <> pg_backend_pid() AND query NOT LIKE '%pg_stat_activity%'`)
      return rows.length > 0
    })
    await sleep(300)
    assert.equal(boss.isBamWorking(), true)
    const began = Date.now()
    await boss.stop({ timeout: 1500 })
    const took = Date.now() - began
    assert.ok(took >= 1400 && took < 8000, `${side}: stop took ${took} ms`)
    const { rows } = await db.query(`SELECT status, error FROM ${schema}.bam WHERE id = $1`, [id])
    results[side] = { row: rows[0], events, errors: errors.map(e => e.message), working: boss.isBamWorking() }
  }
  assert.equal(results.ours.row.status, 'failed')
  assert.deepEqual(results.ours, results.ref)
})

test('stop() during a concurrent build leaves it to the server; the row is not reclaimed while it runs, and completes after', async () => {
  const schema = schemaName('abandon')
  await freshSchema(schema)
  const id = await queueRow(schema, 'cic', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS bamr_t_i ON S.bamr_t (a)')
  // a writer's open transaction keeps the concurrent build waiting (it holds its table lock meanwhile)
  const blocker = await db.connect()
  await blocker.query('BEGIN')
  await blocker.query(`LOCK TABLE ${schema}.bamr_t IN ROW EXCLUSIVE MODE`)
  try {
    const events = []
    const boss = await startBoss(schema, FAST)
    boss.on('bam', e => events.push(e.status))
    await waitFor(async () => {
      const { rows } = await db.query(`SELECT 1 FROM pg_locks WHERE relation = '${schema}.bamr_t'::regclass AND mode = 'ShareUpdateExclusiveLock' AND granted`)
      return rows.length > 0
    })
    const began = Date.now()
    await boss.stop({ graceful: false })
    assert.ok(Date.now() - began < 3000, 'stop() does not wait for the build')
    assert.equal(boss.lastError, undefined, String(boss.lastError))
    let { rows } = await db.query(`SELECT status FROM ${schema}.bam WHERE id = $1`, [id])
    assert.equal(rows[0].status, 'in_progress')

    // past the grace window, but the build still holds its lock: nobody reclaims it
    await db.query(`UPDATE ${schema}.bam SET started_on = now() - interval '1 hour' WHERE id = $1`, [id])
    await db.query(`UPDATE ${schema}.version SET bam_on = NULL`)
    const other = await startBoss(schema, FAST)
    const seen = []
    other.on('bam', e => seen.push(e.status))
    await sleep(2500)
    ;({ rows } = await db.query(`SELECT status FROM ${schema}.bam WHERE id = $1`, [id]))
    assert.equal(rows[0].status, 'in_progress')
    assert.deepEqual(seen, [])

    // the writer ends: the server finishes the build; then the row is reclaimed, found valid and completed
    await blocker.query('COMMIT')
    await waitFor(async () => {
      const { rows } = await db.query(`SELECT status FROM ${schema}.bam WHERE id = $1`, [id])
      return rows[0].status === 'completed'
    }, { timeout: 20000, every: 100 })
    await other.stop()
    assert.equal(other.lastError, undefined, String(other.lastError))
    const { rows: idx } = await db.query(`SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relname = 'bamr_t_i' AND c.relnamespace = $1::text::regnamespace`, [schema])
    assert.deepEqual(idx, [{ indisvalid: true }])
    assert.deepEqual(seen, ['in_progress', 'completed'])
  } finally {
    await blocker.query('ROLLBACK').catch(() => {})
    blocker.release()
  }
})

test('bamIntervalSeconds is validated as in 12.38', async () => {
  const { PgBoss } = await import('../index.mjs')
  assert.throws(() => new PgBoss({ connectionString, bamIntervalSeconds: 5 }), /bamIntervalSeconds must be at least 10 seconds/)
  assert.throws(() => new PgBoss({ connectionString, bamIntervalSeconds: 0.5, __test__bypass_bam_interval_check: true }), /bamIntervalSeconds must be at least 1 seconds/)
  assert.ok(new PgBoss({ connectionString, bamIntervalSeconds: 2, __test__bypass_bam_interval_check: true }))
})

test('with a constructor db the runner claims and builds through its executeSql; one that drops a script\'s rows is refused as 12.38 refuses it', async () => {
  const schema = schemaName('db')
  await freshSchema(schema)
  const id = await queueRow(schema, 'cic', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS bamr_t_db ON S.bamr_t (a)')
  const { pg } = await import('./helpers.mjs')
  const own = new pg.Pool({ connectionString, max: 3 })
  try {
    // only the last statement's result: the claim's rows are lost, which must not pass silently
    const lossy = { executeSql: async (text, values) => { const r = await own.query(text, values); return Array.isArray(r) ? r[r.length - 1] : r } }
    const bad = await startBoss(schema, { ...FAST, db: lossy })
    await waitFor(() => bad.lastError, { timeout: 10000 })
    await bad.stop()
    assert.match(bad.lastError.message, /bam claim returned no lock row/)
    // the claim itself committed (as with 12.38): the row waits out the grace window, which is
    // aged here, and the next claim reclaims it
    let { rows } = await db.query(`SELECT status FROM ${schema}.bam WHERE id = $1`, [id])
    assert.equal(rows[0].status, 'in_progress')
    await db.query(`UPDATE ${schema}.bam SET started_on = now() - interval '1 hour' WHERE id = $1`, [id])

    await db.query(`UPDATE ${schema}.version SET bam_on = NULL`)
    const events = []
    const boss = await startBoss(schema, { ...FAST, db: { executeSql: (text, values) => own.query(text, values) } })
    boss.on('bam', e => events.push(e.status))
    await waitFor(async () => {
      const { rows } = await db.query(`SELECT status FROM ${schema}.bam WHERE id = $1`, [id])
      return rows[0].status === 'completed'
    }, { timeout: 20000 })
    await boss.stop()
    assert.equal(boss.lastError, undefined, String(boss.lastError))
    ;({ rows } = await db.query(`SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relname = 'bamr_t_db' AND c.relnamespace = $1::text::regnamespace`, [schema]))
    assert.deepEqual(rows, [{ indisvalid: true }])
  } finally {
    await own.end()
  }
})

test('a re-attempted concurrent build drops the invalid index an interrupted build left and builds it again', async () => {
  const schema = schemaName('heal')
  await freshSchema(schema)
  // a failed concurrent build leaves its index behind, invalid
  await assert.rejects(db.query(`CREATE UNIQUE INDEX CONCURRENTLY bamr_u ON ${schema}.bamr_t ((a % 2))`))
  const invalid = async () => (await db.query(`SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE c.relname = 'bamr_u' AND c.relnamespace = $1::text::regnamespace`, [schema])).rows
  assert.deepEqual(await invalid(), [{ indisvalid: false }])
  const id = await queueRow(schema, 'unique', 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS bamr_u ON S.bamr_t (a)')
  await db.query(`UPDATE ${schema}.bam SET status = 'failed', error = 'earlier', started_on = now(), completed_on = now() WHERE id = $1`, [id])
  const boss = await startBoss(schema, FAST)
  try {
    await waitFor(async () => (await db.query(`SELECT status FROM ${schema}.bam WHERE id = $1`, [id])).rows[0].status === 'completed', { timeout: 20000 })
  } finally {
    await boss.stop()
  }
  assert.equal(boss.lastError, undefined, String(boss.lastError))
  assert.deepEqual(await invalid(), [{ indisvalid: true }])
  const { rows } = await db.query(`SELECT error FROM ${schema}.bam WHERE id = $1`, [id])
  assert.equal(rows[0].error, null)
  const { rows: def } = await db.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1::text AND indexname = 'bamr_u'`, [schema])
  assert.match(def[0].indexdef, /\(a\)$/)
})
