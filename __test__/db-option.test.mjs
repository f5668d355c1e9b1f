// The constructor `db` option and the per-call `db` option: our SQL runs in the caller's transaction.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss } from '../index.mjs'
import { connectionString, dropSchema, pg, startBoss, startPgBoss } from './helpers.mjs'

const SCHEMA = 'pgbn_db_option_test'
let boss, client, q

/** An IDatabase over one node-postgres client, so statements share its transaction. */
const wrap = c => ({ executeSql: (text, values) => c.query(text, values) })

async function count (id) {
  const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.job WHERE id = $1`, [id])
  return rows[0].n
}

before(async () => {
  await dropSchema(SCHEMA)
  boss = await startBoss(SCHEMA)
  q = 'db-option'
  await boss.createQueue(q)
  client = new pg.Client({ connectionString })
  await client.connect()
})
after(async () => {
  await boss.stop()
  await client.end()
  await dropSchema(SCHEMA)
})

test('per-call db: send + fetch + complete inside BEGIN ... ROLLBACK leaves no job', async () => {
  const db = wrap(client)
  await client.query('BEGIN')
  const id = await boss.send(q, { tx: 'rollback' }, { db })
  assert.ok(id)
  const [job] = await boss.fetch(q, { db })
  assert.equal(job.id, id)
  const r = await boss.complete(q, id, { ok: 1 }, { db })
  assert.equal(r.affected, 1)
  assert.equal((await boss.findJobs(q, { id, db }))[0].state, 'completed')
  // outside the transaction nothing is visible yet
  assert.deepEqual(await boss.findJobs(q, { id }), [])
  await client.query('ROLLBACK')
  assert.equal(await count(id), 0)
})

test('per-call db: COMMIT keeps the job and its settle', async () => {
  const db = wrap(client)
  await client.query('BEGIN')
  const id = await boss.send({ name: q, data: { tx: 'commit' }, options: { db } })
  const ids = await boss.insert(q, [{ data: { bulk: 1 } }], { db, returnId: true })
  await client.query('COMMIT')
  assert.equal(await count(id), 1)
  assert.equal(await count(ids[0]), 1)
  await client.query('BEGIN')
  const jobs = await boss.fetch(q, { db, batchSize: 5 })
  assert.equal(jobs.length, 2)
  await boss.fail(q, ids[0], new Error('nope'), { db })
  await boss.complete(q, id, null, { db })
  await client.query('COMMIT')
  const [row] = await boss.findJobs(q, { id })
  assert.equal(row.state, 'completed')
  const [failed] = await boss.findJobs(q, { id: ids[0] })
  assert.equal(failed.state, 'retry')
})

test('in a caller transaction the deferred dead letter foreign key fails its COMMIT, as with pg-boss', async () => {
  const db = wrap(client)
  const ref = await startPgBoss(SCHEMA, { migrate: false })
  try {
    for (const sender of [boss, ref]) {
      await client.query('BEGIN')
      const id = await sender.send(q, {}, { db, deadLetter: 'no-such-dlq' })
      assert.ok(id)
      await assert.rejects(client.query('COMMIT'), { code: '23503' })
      assert.equal(await count(id), 0)
    }
  } finally {
    await ref.stop({ graceful: false })
  }
})

test('constructor db: every statement runs through the caller executeSql', async () => {
  const calls = []
  const own = new pg.Pool({ connectionString, max: 2 })
  const db = { executeSql: (text, values) => { calls.push(text); return own.query(text, values) } }
  const viaDb = new PgBoss({ db, schema: SCHEMA, supervise: false, schedule: false })
  viaDb.on('error', () => {})
  await viaDb.start()
  try {
    const id = await viaDb.send(q, { via: 'db' })
    const [job] = await viaDb.fetch(q, { batchSize: 10 }).then(js => js.filter(j => j.id === id))
    assert.ok(job)
    await viaDb.complete(q, id)
    assert.equal((await boss.getJobById(q, id)).state, 'completed')
    assert.ok(calls.length >= 3)
    // a transaction on a client of that pool: rollback undoes a send made through it
    const c = await own.connect()
    try {
      await c.query('BEGIN')
      const rolled = await viaDb.send(q, {}, { db: wrap(c) })
      await c.query('ROLLBACK')
      assert.equal(await count(rolled), 0)
    } finally {
      c.release()
    }
  } finally {
    await viaDb.stop()
    await own.end()
  }
})
