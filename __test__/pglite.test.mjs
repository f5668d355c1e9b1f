// A whole pg-boss-native instance on an in-process PGlite (`backend: 'pglite'`, `db: fromPglite()`):
// the install, sends, workers, retries, maintenance and schedules all run through the adapter's
// executeSql, with no native pool and no LISTEN (the instance polls). Each test owns its PGlite,
// so none of this touches DATABASE_URL. Also fromPglite's own routing, against fakes.
import { test, describe, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { PGlite } from '@electric-sql/pglite'
import { PgBoss, TestClock, fromPglite } from '../index.mjs'
import { waitFor } from './helpers.mjs'

const made = []

afterEach(async () => {
  for (const { boss, pglite } of made.splice(0)) {
    await boss.stop({ graceful: false }).catch(() => {})
    await pglite.close().catch(() => {})
  }
})

/**
 * A started instance on a fresh PGlite. `statements` counts what went through the adapter, and
 * `pglite` is there to read the tables straight.
 */
async function startOnPglite (options = {}) {
  const pglite = new PGlite()
  const adapter = fromPglite(pglite)
  const record = { statements: 0, warnings: [], errors: [] }
  const db = {
    ...adapter,
    executeSql: (text, values) => { record.statements++; return adapter.executeSql(text, values) }
  }
  // no connection settings at all: a native pool would have nothing to connect to
  const boss = new PgBoss({ backend: 'pglite', db, ...options })
  boss.on('warning', warning => record.warnings.push(warning))
  boss.on('error', err => record.errors.push(err))
  made.push({ boss, pglite })
  await boss.start()
  return { boss, pglite, db, record }
}

async function blocked (pglite, id) {
  const { rows } = await pglite.query('SELECT blocked FROM pgboss.job WHERE id = $1', [id])
  return rows[0]?.blocked
}

async function stateOf (pglite, id) {
  const { rows } = await pglite.query('SELECT state FROM pgboss.job WHERE id = $1', [id])
  return rows[0]?.state ?? null
}

test('start installs schema 46 in PGlite through the adapter, and getDb() is that adapter', async () => {
  const { boss, pglite, db, record } = await startOnPglite({ supervise: false, schedule: false })
  assert.equal(await boss.isInstalled(), true)
  assert.equal(await boss.schemaVersion(), 46)
  assert.ok(record.statements > 0)
  assert.equal(boss.getDb(), db)
  const { rows } = await pglite.query('SELECT version FROM pgboss.version')
  assert.deepEqual(rows, [{ version: 46 }])
  assert.equal((await boss.detectSchemaDrift()).ok, true)
  assert.deepEqual(record.errors, [])
})

test('send, fetch, complete and fail with retries, on standard and partitioned queues', async () => {
  const { boss, pglite } = await startOnPglite({ supervise: false, schedule: false })
  await boss.createQueue('email')
  await boss.createQueue('partitioned', { partition: true })
  for (const queue of ['email', 'partitioned']) {
    const id = await boss.send(queue, { to: 'ada@example.com' }, { retryLimit: 1, retryDelay: 0 })
    const [job] = await boss.fetch(queue)
    assert.equal(job.id, id)
    assert.deepEqual(job.data, { to: 'ada@example.com' })
    await boss.fail(queue, id, new Error('first try'))
    assert.equal(await stateOf(pglite, id), 'retry')
    const [again] = await boss.fetch(queue)
    assert.equal(again.id, id)
    assert.equal((await boss.complete(queue, id, { sent: true })).affected, 1)
    assert.equal(await stateOf(pglite, id), 'completed')
    assert.deepEqual((await boss.getJobById(queue, id)).output, { sent: true })
    assert.deepEqual(await boss.fetch(queue), [])
  }
})

test('workers drain a queue, handlers that throw are retried then dead-lettered', async () => {
  const { boss, pglite } = await startOnPglite({ supervise: false, schedule: false })
  await boss.createQueue('dead')
  await boss.createQueue('work', { retryLimit: 1, retryDelay: 0, deadLetter: 'dead' })
  const ids = await boss.insert('work', Array.from({ length: 30 }, (_, n) => ({ data: { n, fails: n % 10 === 0 } })), { returnId: true })
  const handled = new Set()
  await boss.work('work', { batchSize: 5, localConcurrency: 2, pollingIntervalSeconds: 0.5 }, async jobs => {
    for (const job of jobs) {
      if (job.data.fails) throw new Error(`job ${job.data.n} fails`)
      handled.add(job.id)
    }
  })
  await waitFor(async () => {
    const { rows } = await pglite.query("SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'work' AND state IN ('completed', 'failed')")
    return rows[0].n === 30
  }, { timeout: 30000 })
  const { rows } = await pglite.query("SELECT state, count(*)::int AS n FROM pgboss.job WHERE name = 'work' GROUP BY state ORDER BY state")
  // a batch with a failing job fails whole (pg-boss's batches are all or nothing)
  const failed = rows.find(r => r.state === 'failed')?.n ?? 0
  assert.ok(failed >= 3, `the three failing jobs fail: ${JSON.stringify(rows)}`)
  assert.equal(rows.reduce((sum, r) => sum + r.n, 0), 30)
  const dead = await boss.findJobs('dead')
  assert.equal(dead.length, failed)
  assert.ok(ids.every(id => typeof id === 'string'))
})

test('maintenance: a supervise pass expires a job its worker held too long and counts the queue', async () => {
  const { boss, pglite } = await startOnPglite({ schedule: false })
  await boss.createQueue('slow', { expireInSeconds: 1, retryLimit: 0 })
  const id = await boss.send('slow', {})
  const [job] = await boss.fetch('slow')
  assert.equal(job.id, id)
  const waiting = await boss.send('slow', {})
  await new Promise(resolve => setTimeout(resolve, 1500))
  await boss.supervise('slow')
  assert.equal(await stateOf(pglite, id), 'failed')
  assert.equal(await stateOf(pglite, waiting), 'created')
  const queue = await boss.getQueue('slow')
  assert.equal(queue.queuedCount, 1)
  assert.equal(queue.totalCount, 2)
})

test('useListenNotify: one warning that the instance polls, and a notify queue is still served', async () => {
  const { boss, record } = await startOnPglite({ supervise: false, schedule: false, useListenNotify: true })
  await boss.createQueue('ping', { notify: true })
  const got = new Promise(resolve => boss.work('ping', { pollingIntervalSeconds: 0.5 }, async ([job]) => resolve(job.data)))
  await boss.send('ping', { hello: 'pglite' })
  assert.deepEqual(await got, { hello: 'pglite' })
  const unavailable = record.warnings.filter(w => w.data?.type === 'listen_notify_unavailable')
  assert.equal(unavailable.length, 1)
  assert.match(unavailable[0].message, /Continuing with polling only/)
  assert.deepEqual(record.errors, [])
})

test('a send inside a PGlite transaction that rolls back leaves no job; one that commits stays', async () => {
  const { boss, pglite } = await startOnPglite({ supervise: false, schedule: false })
  await boss.createQueue('tx')
  let rolledBack
  await assert.rejects(pglite.transaction(async (tx) => {
    rolledBack = await boss.send('tx', { n: 1 }, { db: fromPglite(tx) })
    throw new Error('roll it back')
  }), /roll it back/)
  assert.ok(rolledBack)
  assert.equal(await stateOf(pglite, rolledBack), null)
  const kept = await pglite.transaction(tx => boss.send('tx', { n: 2 }, { db: fromPglite(tx) }))
  assert.equal(await stateOf(pglite, kept), 'created')
})

test('a flow resolves its child once the parent completes', async () => {
  const { boss, pglite } = await startOnPglite({ supervise: false, schedule: false })
  await boss.createQueue('steps')
  const { parent, child } = await boss.flow([
    { ref: 'parent', name: 'steps', data: { step: 1 } },
    { ref: 'child', name: 'steps', data: { step: 2 }, dependsOn: ['parent'] }
  ])
  assert.equal(await blocked(pglite, child), true)
  const [job, other] = await boss.fetch('steps', { batchSize: 2 })
  assert.equal(job.id, parent)
  assert.equal(other, undefined, 'the child waits')
  await boss.complete('steps', parent)
  await boss.resolveFlow()
  assert.equal(await blocked(pglite, child), false)
  assert.deepEqual((await boss.fetch('steps')).map(j => j.id), [child])
})

test('a cron schedule fires on PGlite, driven by a TestClock attached through the adapter', async () => {
  const clock = new TestClock(new Date('2026-06-01T10:00:10Z'))
  const { boss, pglite, record } = await startOnPglite({ supervise: false, clock, cronMonitorIntervalSeconds: 30, cronWorkerIntervalSeconds: 1 })
  await boss.createQueue('report')
  await boss.schedule('report', '*/5 * * * *', { kind: 'report' })
  // six minutes of the clock: the occurrence of the minute it started in (as pg-boss files it, at
  // the first pass) and 10:05
  for (let i = 0; i < 12; i++) await clock.tick(30_000)
  await waitFor(async () => (await boss.findJobs('report')).length === 2, { timeout: 20000 })
  assert.deepEqual((await boss.findJobs('report')).map(job => job.data), [{ kind: 'report' }, { kind: 'report' }])
  // job_now() in PGlite reads the clock: the jobs were made on the clock's morning, not today
  const { rows } = await pglite.query("SELECT to_char(created_on AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS at FROM pgboss.job WHERE name = 'report' ORDER BY created_on")
  assert.equal(rows.length, 2)
  assert.ok(rows.every(r => r.at >= '2026-06-01 10:00' && r.at <= '2026-06-01 10:06'), JSON.stringify(rows))
  assert.ok(rows[1].at >= '2026-06-01 10:05', JSON.stringify(rows))
  assert.deepEqual(record.errors, [])
})

test('stop() ends the background work: no statement reaches PGlite afterwards', async () => {
  const { boss, record } = await startOnPglite({ superviseIntervalSeconds: 1, monitorIntervalSeconds: 1 })
  await boss.createQueue('idle')
  await boss.work('idle', { pollingIntervalSeconds: 0.5 }, async () => {})
  await new Promise(resolve => setTimeout(resolve, 1200))
  await boss.stop()
  const after = record.statements
  await new Promise(resolve => setTimeout(resolve, 1500))
  assert.equal(record.statements, after)
})

describe('fromPglite', () => {
  function fake () {
    const calls = []
    return {
      calls,
      async query (text, params) { calls.push(['query', text, params]); return { rows: [{ id: '1' }] } },
      async exec (text) { calls.push(['exec', text]); return [{ rows: [] }, { rows: [{ last: true }] }, {}] }
    }
  }

  test('a statement with values goes to query(), a parameterless one (or with []) to exec()', async () => {
    const pglite = fake()
    const db = fromPglite(pglite)
    assert.deepEqual(await db.executeSql('SELECT * FROM job WHERE name = $1', ['q']), { rows: [{ id: '1' }] })
    assert.deepEqual(await db.executeSql('BEGIN; SELECT 1; COMMIT'), { rows: [{ last: true }] })
    await db.executeSql('CREATE INDEX i ON job (name)', [])
    assert.deepEqual(pglite.calls.map(c => c[0]), ['query', 'exec', 'exec'])
    assert.deepEqual(pglite.calls[0][2], ['q'])
  })

  test('a failed statement rolls back the one connection before the error is rethrown', async () => {
    const calls = []
    const boom = new Error('boom')
    const db = fromPglite({
      async query (text) { calls.push(text); if (text === 'ROLLBACK') return { rows: [] }; throw boom },
      async exec () { return [] }
    })
    await assert.rejects(db.executeSql('SELECT 1', ['x']), err => err === boom)
    assert.deepEqual(calls, ['SELECT 1', 'ROLLBACK'])
  })

  test('listen is offered only when the instance has it, and calls onReconnect once subscribed', async () => {
    assert.equal(fromPglite(fake()).listen, undefined)
    let registered, closed = false
    const db = fromPglite({ ...fake(), async listen (channel, callback) { registered = { channel, callback }; return async () => { closed = true } } })
    const payloads = []
    let reconnects = 0
    const handle = await db.listen('pgboss_chan', p => payloads.push(p), () => reconnects++)
    assert.equal(registered.channel, 'pgboss_chan')
    assert.equal(reconnects, 1)
    registered.callback('q1')
    assert.deepEqual(payloads, ['q1'])
    await handle.close()
    assert.equal(closed, true)
  })

  test('setSessionStatements runs the statements on the one session', async () => {
    const pglite = fake()
    await fromPglite(pglite).setSessionStatements(["SET pgboss.test_clock = 'on'"])
    assert.deepEqual(pglite.calls, [['exec', "SET pgboss.test_clock = 'on'"]])
  })
})
