// Transactional workers (`transactional: true`): the handler's SQL through `tx` and the batch's
// completion commit or roll back together, as in pg-boss 12.38.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss } from '../index.mjs'
import { connectionString, dropSchema, pool, sleep, startPgBoss, waitFor } from './helpers.mjs'

const schema = 'txw_transactional'
const refSchema = 'txw_transactional_ref'
let boss
let db

const poll = { pollingIntervalSeconds: 0.5 }

async function job (s, id) {
  const { rows } = await db.query(`SELECT * FROM ${s}.job WHERE id = $1`, [id])
  return rows[0]
}

async function settled (s, id) {
  return waitFor(async () => {
    const row = await job(s, id)
    return row && row.state !== 'active' && row.state !== 'created' ? row : null
  })
}

async function marks (key) {
  const { rows } = await db.query(`SELECT key FROM ${schema}.side WHERE key = $1`, [key])
  return rows.length
}

before(async () => {
  await dropSchema(schema)
  await dropSchema(refSchema)
  db = pool()
  boss = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
  boss.errors = []
  boss.warnings = []
  boss.on('error', err => boss.errors.push(err))
  boss.on('warning', w => boss.warnings.push(w))
  await boss.start()
  await db.query(`CREATE TABLE ${schema}.side (key text PRIMARY KEY)`)
})

after(async () => {
  await boss.stop({ graceful: false })
  await db.end()
  await dropSchema(schema)
  await dropSchema(refSchema)
})

test('a handler\'s SQL and the job\'s completion commit together', async () => {
  const q = 'tx-commit'
  await boss.createQueue(q)
  const id = await boss.send(q, { key: 'committed' })
  let seenWhileRunning
  await boss.work(q, { ...poll, transactional: true }, async ([j], tx) => {
    await tx.executeSql(`INSERT INTO ${schema}.side (key) VALUES ($1)`, [j.data.key])
    const { rows } = await tx.executeSql(`SELECT count(*)::int AS n FROM ${schema}.side WHERE key = $1`, [j.data.key])
    assert.equal(rows[0].n, 1, 'the handler sees its own write')
    // from another connection, nothing of the transaction is visible yet
    seenWhileRunning = await marks(j.data.key)
    return { done: true }
  })
  const row = await settled(schema, id)
  assert.equal(row.state, 'completed')
  assert.deepEqual(row.output, { done: true })
  assert.equal(seenWhileRunning, 0)
  assert.equal(await marks('committed'), 1)
  await boss.offWork(q, { wait: true })
})

test('a throwing handler rolls its SQL back and the job fails with its error, retries as usual', async () => {
  const q = 'tx-throw'
  await boss.createQueue(q, { retryLimit: 1, retryDelay: 0 })
  const id = await boss.send(q, { key: 'thrown' })
  let calls = 0
  await boss.work(q, { ...poll, transactional: true }, async ([j], tx) => {
    calls++
    await tx.executeSql(`INSERT INTO ${schema}.side (key) VALUES ($1)`, [`${j.data.key}-${calls}`])
    throw new Error(`boom ${calls}`)
  })
  const row = await waitFor(async () => {
    const r = await job(schema, id)
    return r?.state === 'failed' ? r : null
  })
  assert.equal(row.retry_count, 1, 'retried once, then failed')
  assert.equal(row.output.message, 'boom 2')
  assert.equal(await marks('thrown-1'), 0)
  assert.equal(await marks('thrown-2'), 0)
  await boss.offWork(q, { wait: true })
})

test('the job settles as pg-boss 12.38 settles it when a transactional handler throws', async () => {
  const ref = await startPgBoss(refSchema)
  try {
    await db.query(`CREATE TABLE ${refSchema}.side (key text PRIMARY KEY)`)
    const shapes = []
    for (const [b, s] of [[boss, schema], [ref, refSchema]]) {
      const q = 'tx-compare'
      await b.createQueue(q, { retryLimit: 0 })
      const id = await b.send(q, { n: 1 })
      await b.work(q, { ...poll, transactional: true }, async (jobs, tx) => {
        await tx.executeSql(`INSERT INTO ${s}.side (key) VALUES ('x')`)
        throw new Error('nope')
      })
      const row = await settled(s, id)
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${s}.side WHERE key = 'x'`)
      shapes.push({ state: row.state, retryCount: row.retry_count, message: row.output.message, name: row.output.name, side: rows[0].n })
      await b.offWork(q, { wait: true })
    }
    assert.deepEqual(shapes[0], shapes[1])
    assert.deepEqual(shapes[0], { state: 'failed', retryCount: 0, message: 'nope', name: 'Error', side: 0 })
  } finally {
    await ref.stop({ graceful: false })
  }
})

test('a handler may settle its own jobs through tx, and that commits with its SQL', async () => {
  const q = 'tx-self-settle'
  await boss.createQueue(q)
  const id = await boss.send(q, {})
  await boss.work(q, { ...poll, transactional: true }, async ([j], tx) => {
    await tx.executeSql(`INSERT INTO ${schema}.side (key) VALUES ('self-settled')`)
    await boss.complete(q, j.id, { by: 'handler' }, { db: tx })
  })
  const row = await settled(schema, id)
  assert.equal(row.state, 'completed')
  assert.deepEqual(row.output, { by: 'handler' })
  assert.equal(await marks('self-settled'), 1)
  await boss.offWork(q, { wait: true })
})

test('a handler\'s own settles through tx are fenced to the attempt it was handed', async () => {
  const q = 'tx-fence'
  await boss.createQueue(q, { retryLimit: 5 })
  const id = await boss.send(q, {})
  let affected
  await boss.work(q, { ...poll, transactional: true }, async ([j], tx) => {
    await tx.executeSql(`INSERT INTO ${schema}.side (key) VALUES ('fenced')`)
    // meanwhile the claim lapsed and another attempt holds the job
    await db.query(`UPDATE ${schema}.job SET retry_count = retry_count + 1 WHERE id = $1`, [j.id])
    affected = (await boss.complete(q, j.id, { stale: true }, { db: tx })).affected
  })
  await waitFor(() => affected !== undefined)
  await waitFor(async () => boss.getWipData().every(w => w.count === 0))
  await sleep(200)
  assert.equal(affected, 0, 'the stale attempt settled nothing')
  const row = await job(schema, id)
  assert.equal(row.state, 'active', 'the newer attempt still holds the job')
  assert.equal(row.retry_count, 1)
  assert.equal(await marks('fenced'), 0, 'and the handler\'s SQL was rolled back')
  await boss.offWork(q, { wait: true })
  await boss.cancel(q, id)
})

test('jobs a handler sends through { db: tx } exist only if its batch commits', async () => {
  const q = 'tx-send'
  const target = 'tx-send-target'
  await boss.createQueue(q, { retryLimit: 0 })
  await boss.createQueue(target)
  const ok = await boss.send(q, { fail: false })
  const bad = await boss.send(q, { fail: true })
  const sent = {}
  await boss.work(q, { ...poll, transactional: true }, async ([j], tx) => {
    sent[j.id] = await boss.send(target, { from: j.id }, { db: tx })
    if (j.data.fail) throw new Error('rolled back')
  })
  await settled(schema, ok)
  await settled(schema, bad)
  assert.equal((await job(schema, ok)).state, 'completed')
  assert.equal((await job(schema, bad)).state, 'failed')
  assert.ok(await job(schema, sent[ok]), 'the committed batch\'s send is there')
  assert.equal(await job(schema, sent[bad]), undefined, 'the rolled back batch\'s send is not')
  await boss.offWork(q, { wait: true })
})

test('a claim taken away while the handler runs rolls the handler\'s SQL back', async () => {
  const q = 'tx-claim-lost'
  await boss.createQueue(q, { retryLimit: 0 })
  const id = await boss.send(q, {})
  let late
  await boss.work(q, { ...poll, transactional: true }, async (jobs, tx) => {
    await tx.executeSql(`INSERT INTO ${schema}.side (key) VALUES ('claim-lost')`)
    // an operator cancels the job from elsewhere meanwhile
    await boss.cancel(q, id)
    late = () => tx.executeSql('SELECT 1')
  })
  const row = await settled(schema, id)
  assert.equal(row.state, 'cancelled')
  await waitFor(async () => boss.getWipData().every(w => w.count === 0))
  await sleep(200)
  assert.equal(await marks('claim-lost'), 0)
  assert.ok(boss.errors.length === 0, 'a rolled back batch is no worker error')
  await assert.rejects(late(), /Transaction is already settled/)
  await boss.offWork(q, { wait: true })
})

test('a SQL error the handler swallowed leaves the transaction aborted, and the failure says so', async () => {
  const q = 'tx-aborted'
  await boss.createQueue(q, { retryLimit: 0 })
  const id = await boss.send(q, {})
  await boss.work(q, { ...poll, transactional: true }, async (jobs, tx) => {
    await tx.executeSql(`INSERT INTO ${schema}.side (key) VALUES ('aborted')`)
    await tx.executeSql('SELECT * FROM no_such_table').catch(() => {})
  })
  const row = await settled(schema, id)
  assert.equal(row.state, 'failed')
  assert.match(row.output.message, /the handler left its transaction aborted/)
  assert.equal(await marks('aborted'), 0)
  await boss.offWork(q, { wait: true })
})

test('transactionTimeoutSeconds: the database ends a transaction left idle past it, and the job fails', async () => {
  const q = 'tx-timeout'
  await boss.createQueue(q, { retryLimit: 0 })
  const id = await boss.send(q, {})
  let error
  await boss.work(q, { ...poll, transactional: true, transactionTimeoutSeconds: 1 }, async (jobs, tx) => {
    const { rows } = await tx.executeSql("SELECT current_setting('idle_in_transaction_session_timeout') AS t")
    assert.equal(rows[0].t, '1s')
    await tx.executeSql(`INSERT INTO ${schema}.side (key) VALUES ('timed-out')`)
    await sleep(2500)
    try {
      await tx.executeSql('SELECT 1')
    } catch (err) {
      error = err
      throw err
    }
  })
  const row = await settled(schema, id)
  assert.equal(row.state, 'failed')
  assert.ok(error, 'the statement after the bound failed')
  assert.equal(await marks('timed-out'), 0)
  await boss.offWork(q, { wait: true })
})

test('the default bound is the batch\'s expiry plus five seconds; 0 sets none', async () => {
  // one queue per worker: two workers on one queue could both claim the same worker's job
  const seen = {}
  for (const [q, options] of [['tx-default-bound', {}], ['tx-no-bound', { transactionTimeoutSeconds: 0 }]]) {
    await boss.createQueue(q, { expireInSeconds: 7 })
    await boss.work(q, { ...poll, transactional: true, ...options }, async (jobs, tx) => {
      const { rows } = await tx.executeSql("SELECT current_setting('idle_in_transaction_session_timeout') AS t")
      seen[q] = rows[0].t
    })
    await boss.send(q, {})
  }
  await waitFor(() => Object.keys(seen).length === 2)
  assert.deepEqual(seen, { 'tx-default-bound': '12s', 'tx-no-bound': '0' })
  await boss.offWork('tx-default-bound', { wait: true })
  await boss.offWork('tx-no-bound', { wait: true })
})

test('a handler past the job\'s expiry rolls back; its late statements are refused', async () => {
  const q = 'tx-expired'
  await boss.createQueue(q, { retryLimit: 0, expireInSeconds: 1 })
  const id = await boss.send(q, {})
  let late
  await boss.work(q, { ...poll, transactional: true }, async (jobs, tx) => {
    await tx.executeSql(`INSERT INTO ${schema}.side (key) VALUES ('expired')`)
    await sleep(1500)
    late = tx.executeSql(`INSERT INTO ${schema}.side (key) VALUES ('expired-late')`)
    await late.catch(() => {})
  })
  const row = await settled(schema, id)
  assert.equal(row.state, 'failed')
  assert.equal(row.output.message, 'handler execution exceeded 1s')
  await waitFor(() => late !== undefined)
  await assert.rejects(late, /Transaction is already settled/)
  assert.equal(await marks('expired'), 0)
  assert.equal(await marks('expired-late'), 0)
  await boss.offWork(q, { wait: true })
})

test('transactional options are checked as pg-boss 12.38 checks them', async () => {
  await boss.createQueue('tx-options')
  const ref = await startPgBoss(refSchema)
  try {
    await ref.createQueue('tx-options')
    for (const options of [
      { transactionTimeoutSeconds: 5 },
      { transactional: true, transactionTimeoutSeconds: 1.5 },
      { transactional: true, transactionTimeoutSeconds: -1 },
      { transactional: 'yes' },
      { transactional: true, perJobResults: true }
    ]) {
      const messages = []
      for (const b of [boss, ref]) {
        messages.push(await b.work('tx-options', options, async () => {}).then(() => 'accepted', err => `${err.constructor.name}: ${err.message}`))
      }
      assert.equal(messages[0], messages[1], JSON.stringify(options))
      assert.notEqual(messages[0], 'accepted')
    }
  } finally {
    await ref.stop({ graceful: false })
  }
})

test('a pool too small for the transactional handlers is warned about, as pg-boss does', async () => {
  await boss.createQueue('tx-headroom')
  boss.warnings.length = 0
  await boss.work('tx-headroom', { ...poll, transactional: true, localConcurrency: 10 }, async () => {})
  const warning = boss.warnings.find(w => w.data?.type === 'transactional_pool_headroom')
  assert.ok(warning)
  assert.equal(warning.data.max, 10)
  assert.ok(warning.data.transactionalWorkers >= 10)
  await boss.offWork('tx-headroom', { wait: true })
})

/** A node-postgres adapter; with `transactions`, one that implements beginTransaction(). */
function adapter (client, transactions) {
  const db = { executeSql: (text, values) => client.query(text, values) }
  if (transactions) {
    db.beginTransaction = async () => {
      const connection = await client.connect()
      await connection.query('BEGIN')
      let done = false
      const end = async (sql) => {
        if (done) return
        done = true
        try { await connection.query(sql) } finally { connection.release() }
      }
      return {
        db: { executeSql: (text, values) => connection.query(text, values), adapter: true },
        commit: () => end('COMMIT'),
        rollback: () => end('ROLLBACK')
      }
    }
  }
  return db
}

test('a constructor db without beginTransaction() is refused at work() with pg-boss 12.38\'s message', async () => {
  const s = 'txw_transactional_db'
  await dropSchema(s)
  const setup = new PgBoss({ connectionString, schema: s, supervise: false, schedule: false })
  await setup.start()
  await setup.createQueue('q')
  await setup.stop({ graceful: false })
  const client = pool()
  const { PgBoss: Reference } = await import('pg-boss')
  const messages = []
  try {
    for (const Boss of [PgBoss, Reference]) {
      const withDb = new Boss({ schema: s, supervise: false, schedule: false, migrate: false, db: adapter(client, false) })
      withDb.on('error', () => {})
      await withDb.start()
      messages.push(await withDb.work('q', { transactional: true }, async () => {}).then(() => 'accepted', err => `${err.constructor.name}: ${err.message}`))
      await withDb.stop({ graceful: false, close: false })
    }
    assert.equal(messages[0], messages[1])
    assert.match(messages[0], /^AssertionError: transactional workers require a database connection pg-boss can open a transaction on/)
  } finally {
    await client.end()
    await dropSchema(s)
  }
})

test('a constructor db with beginTransaction() carries transactional workers: the handler gets its tx.db', async () => {
  const s = 'txw_transactional_adapter'
  await dropSchema(s)
  const setup = new PgBoss({ connectionString, schema: s, supervise: false, schedule: false })
  await setup.start()
  await setup.createQueue('q', { retryLimit: 0 })
  await setup.stop({ graceful: false })
  await db.query(`CREATE TABLE ${s}.side (key text PRIMARY KEY)`)
  const client = pool()
  const withDb = new PgBoss({ schema: s, supervise: false, schedule: false, migrate: false, db: adapter(client, true) })
  withDb.on('error', () => {})
  try {
    await withDb.start()
    const ok = await withDb.send('q', { key: 'kept' })
    const bad = await withDb.send('q', { key: 'dropped', fail: true })
    const handedAdapterDb = []
    await withDb.work('q', { ...poll, transactional: true }, async ([j], tx) => {
      handedAdapterDb.push(tx.adapter === true)
      await tx.executeSql(`INSERT INTO ${s}.side (key) VALUES ($1)`, [j.data.key])
      if (j.data.fail) throw new Error('adapter rollback')
      return { through: 'adapter' }
    })
    const okRow = await settled(s, ok)
    const badRow = await settled(s, bad)
    assert.equal(okRow.state, 'completed', JSON.stringify(okRow.output))
    assert.deepEqual(okRow.output, { through: 'adapter' })
    assert.equal(badRow.state, 'failed')
    assert.equal(badRow.output.message, 'adapter rollback')
    const { rows } = await db.query(`SELECT key FROM ${s}.side ORDER BY key`)
    assert.deepEqual(rows.map(r => r.key), ['kept'])
    assert.deepEqual(handedAdapterDb, [true, true])
  } finally {
    await withDb.stop({ graceful: false, close: false })
    await client.end()
    await dropSchema(s)
  }
})

test('stop() with a transactional handler still running fails its job and rolls its SQL back', async () => {
  const s = 'txw_transactional_stop'
  await dropSchema(s)
  const own = new PgBoss({ connectionString, schema: s, supervise: false, schedule: false })
  own.on('error', () => {})
  await own.start()
  try {
    await db.query(`CREATE TABLE ${s}.side (key text PRIMARY KEY)`)
    await own.createQueue('q', { retryLimit: 0 })
    const id = await own.send('q', {})
    let running = false
    let late
    await own.work('q', { ...poll, transactional: true }, async (jobs, tx) => {
      await tx.executeSql(`INSERT INTO ${s}.side (key) VALUES ('stopped')`)
      running = true
      await sleep(3000)
      late = tx.executeSql('SELECT 1').then(() => 'ran', err => err.message)
    })
    await waitFor(() => running)
    const t = Date.now()
    await own.stop({ graceful: true, timeout: 1000 })
    assert.ok(Date.now() - t < 2500, 'stop() did not wait for the handler')
    const row = await job(s, id)
    assert.equal(row.state, 'failed')
    assert.deepEqual(row.output, { value: 'pg-boss shut down while active' })
    assert.equal((await db.query(`SELECT count(*)::int AS n FROM ${s}.side`)).rows[0].n, 0)
    await waitFor(() => late, { timeout: 5000 })
    assert.equal(await late, 'Transaction is already settled')
  } finally {
    await own.stop({ graceful: false })
    await dropSchema(s)
  }
})

test('a server that cannot answer the timeout probe is warned about once, and the batch runs unbounded', async () => {
  const s = 'txw_transactional_probe'
  await dropSchema(s)
  const setup = new PgBoss({ connectionString, schema: s, supervise: false, schedule: false })
  await setup.start()
  await setup.createQueue('q')
  await setup.stop({ graceful: false })
  const client = pool()
  const db = adapter(client, true)
  const plain = db.executeSql
  db.executeSql = (text, values) => /current_setting\('transaction_timeout'/.test(text) ? Promise.reject(new Error('no settings here')) : plain(text, values)
  const withDb = new PgBoss({ schema: s, supervise: false, schedule: false, migrate: false, db })
  const warnings = []
  withDb.on('warning', w => warnings.push(w))
  withDb.on('error', () => {})
  try {
    await withDb.start()
    const ids = [await withDb.send('q', {}), await withDb.send('q', {})]
    const bounds = []
    await withDb.work('q', { ...poll, transactional: true }, async (jobs, tx) => {
      const { rows } = await tx.executeSql("SELECT current_setting('idle_in_transaction_session_timeout') AS t")
      bounds.push(rows[0].t)
    })
    for (const id of ids) assert.equal((await settled(s, id)).state, 'completed')
    const probes = warnings.filter(w => w.data?.type === 'transaction_timeout_probe')
    assert.equal(probes.length, 1)
    assert.match(probes[0].message, /^could not ask this server which transaction timeout it supports.*: no settings here$/)
    assert.deepEqual(bounds, ['0', '0'])
  } finally {
    await withDb.stop({ graceful: false, close: false })
    await client.end()
    await dropSchema(s)
  }
})
