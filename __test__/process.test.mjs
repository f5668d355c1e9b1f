// Process-level guarantees: a script that starts, works and stops exits on its own; a worker
// killed mid-batch loses no job; a dropped connection is survived; pg-boss workers and ours share
// a queue and process every job exactly once.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss } from '../index.mjs'
import { connectionString, dropSchema, entry, pool, runScript, sleep, startPgBoss, waitFor } from './helpers.mjs'

const schema = 'pgbn_test_process'
let db

async function counts (name) {
  const { rows } = await db.query(`SELECT state, count(*)::int AS n FROM ${schema}.job WHERE name = $1 GROUP BY state`, [name])
  return Object.fromEntries(rows.map(r => [r.state, r.n]))
}

before(async () => {
  await dropSchema(schema)
  db = pool()
  const boss = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
  await boss.start()
  await boss.stop()
})

after(async () => {
  await dropSchema(schema)
  await db.end()
})

test('a script that starts, works and stops exits on its own', async () => {
  const { exited } = runScript(`
    import { PgBoss } from ${JSON.stringify(entry)}
    const boss = new PgBoss({ connectionString: process.env.DATABASE_URL, schema: '${schema}', supervise: false, schedule: false })
    await boss.start()
    await boss.createQueue('exit-q')
    await boss.send('exit-q', {})
    let done
    const handled = new Promise(resolve => { done = resolve })
    await boss.work('exit-q', { pollingIntervalSeconds: 0.5 }, async () => { done() })
    await handled
    await boss.stop()
    console.log('stopped')
  `)
  const result = await Promise.race([exited, sleep(20000).then(() => ({ timedOut: true }))])
  assert.notEqual(result.timedOut, true, 'process did not exit after stop()')
  assert.equal(result.code, 0, result.output)
  assert.match(result.output, /stopped/)
})

test('a worker killed with SIGKILL mid-batch loses no job: its jobs are retried after expiry', async () => {
  const setup = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
  await setup.start()
  await setup.createQueue('killed', { expireInSeconds: 1, retryLimit: 3 })
  const ids = await setup.insert('killed', Array.from({ length: 5 }, (_, i) => ({ data: { i } })), { returnId: true })
  const { child, exited, output } = runScript(`
    import { PgBoss } from ${JSON.stringify(entry)}
    const boss = new PgBoss({ connectionString: process.env.DATABASE_URL, schema: '${schema}', supervise: false, schedule: false })
    await boss.start()
    await boss.work('killed', { batchSize: 5, pollingIntervalSeconds: 0.5 }, () => { console.log('holding'); return new Promise(() => {}) })
  `)
  await waitFor(() => output().includes('holding'))
  child.kill('SIGKILL')
  await exited
  assert.equal((await counts('killed')).active, 5)
  await sleep(1200)
  // a fresh instance supervises (expiry) and works the retries
  const rescuer = new PgBoss({ connectionString, schema, supervise: true, superviseIntervalSeconds: 1, monitorIntervalSeconds: 1, schedule: false })
  rescuer.on('error', () => {})
  await rescuer.start()
  const seen = new Map()
  await rescuer.work('killed', { batchSize: 5, pollingIntervalSeconds: 0.5 }, async jobs => {
    for (const j of jobs) seen.set(j.id, (seen.get(j.id) ?? 0) + 1)
  })
  await waitFor(async () => (await counts('killed')).completed === 5)
  assert.deepEqual([...seen.keys()].sort(), [...ids].sort())
  const { rows } = await db.query(`SELECT retry_count FROM ${schema}.job WHERE id = ANY($1)`, [ids])
  assert.ok(rows.every(r => r.retry_count === 1))
  await rescuer.stop()
  await setup.stop()
})

test('a dropped database connection is survived: an error event, then the worker resumes', async () => {
  const appName = `pgbn_drop_${process.pid}`
  const boss = new PgBoss({ connectionString, schema, supervise: false, schedule: false, application_name: appName })
  const errors = []
  boss.on('error', err => errors.push(err))
  await boss.start()
  try {
    await boss.createQueue('dropped')
    let handled = 0
    await boss.work('dropped', { pollingIntervalSeconds: 0.5 }, async () => { handled++ })
    await boss.send('dropped', {})
    await waitFor(() => handled >= 1)
    const { rows } = await db.query('SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1', [appName])
    assert.ok(rows.length > 0, 'no connection of ours to drop')
    await waitFor(() => errors.length > 0)
    assert.match(errors[0].message, /terminat|connection/i)
    await boss.send('dropped', {})
    await boss.send('dropped', {})
    await waitFor(() => handled >= 3)
    // the last outcome is written back after its handler returns
    await waitFor(async () => (await counts('dropped')).completed === 3, { timeout: 10000 })
    assert.equal((await counts('dropped')).completed, 3)
  } finally {
    await boss.stop({ graceful: false })
  }
})

test('pg-boss 12.38 workers and ours on one queue process every job exactly once', async () => {
  const ours = new PgBoss({ connectionString, schema, supervise: false, schedule: false })
  ours.on('error', () => {})
  await ours.start()
  const theirs = await startPgBoss(schema, { migrate: false })
  await ours.createQueue('shared')
  const total = 200
  const half = Array.from({ length: total / 2 }, (_, i) => ({ data: { i } }))
  await ours.insert('shared', half)
  await theirs.insert('shared', half.map(j => ({ data: { i: j.data.i + total / 2 } })))
  const handledBy = new Map()
  const record = who => async jobs => {
    for (const j of jobs) handledBy.set(j.data.i, [...(handledBy.get(j.data.i) ?? []), who])
  }
  await ours.work('shared', { batchSize: 7, pollingIntervalSeconds: 0.5 }, record('native'))
  await ours.workEach('shared', { batchSize: 5, concurrency: 3, pollingIntervalSeconds: 0.5 }, job => record('native-each')([job]))
  await theirs.work('shared', { batchSize: 6, pollingIntervalSeconds: 0.5 }, record('pg-boss'))
  await waitFor(async () => (await counts('shared')).completed === total)
  assert.equal(handledBy.size, total)
  for (const [i, who] of handledBy) assert.equal(who.length, 1, `job ${i} handled by ${who}`)
  const workers = new Set([...handledBy.values()].flat())
  assert.ok(workers.has('pg-boss') && (workers.has('native') || workers.has('native-each')), [...workers].join())
  await theirs.stop({ graceful: false })
  await ours.stop({ graceful: false })
})
