// pg-boss v10 calls that pg-boss 12.38 changed: each still does what v10 did, with a one-time
// DeprecationWarning per kind, and the 12.38 forms are unchanged (lib/v10.js, src/v10_defaults.rs).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss } from '../index.mjs'
import { connectionString, dropSchema, pool, sleep, startBoss, startPgBoss, waitFor, rejection } from './helpers.mjs'

const schema = 'v10_compat'
let db
before(async () => {
  await dropSchema(schema)
  db = pool()
})
after(async () => {
  await db.end()
  await dropSchema(schema)
})

const warnings = []
process.on('warning', w => { if (w.name === 'DeprecationWarning') warnings.push(w.code) })

/** The deprecation codes raised while `fn` ran (warnings reach listeners on a later tick). */
async function deprecations (fn) {
  const start = warnings.length
  const value = await fn()
  await new Promise(resolve => setImmediate(resolve))
  return { value, codes: warnings.slice(start) }
}

async function jobsOf (name) {
  const { rows } = await db.query(`SELECT data FROM ${schema}.job WHERE name = $1 ORDER BY (data->>'n')::int`, [name])
  return rows.map(r => r.data)
}

test('insert(jobs) with a name on each job inserts into each queue, warning once', async () => {
  const boss = await startBoss(schema)
  try {
    await boss.createQueue('v10-a')
    await boss.createQueue('v10-b')
    const first = await deprecations(() => boss.insert([
      { name: 'v10-a', data: { n: 1 } },
      { name: 'v10-b', data: { n: 2 }, priority: 5 },
      { name: 'v10-a', data: { n: 3 }, singletonKey: 'k' }
    ]))
    assert.deepEqual(first.codes, ['PGBOSS_NATIVE_V10_INSERT'])
    assert.deepEqual(await jobsOf('v10-a'), [{ n: 1 }, { n: 3 }])
    assert.deepEqual(await jobsOf('v10-b'), [{ n: 2 }])
    const { rows: [b] } = await db.query(`SELECT priority FROM ${schema}.job WHERE name = 'v10-b'`)
    assert.equal(b.priority, 5)

    const second = await deprecations(() => boss.insert([{ name: 'v10-b', data: { n: 4 } }]))
    assert.deepEqual(second.codes, [], 'once per process')
    assert.deepEqual(await jobsOf('v10-b'), [{ n: 2 }, { n: 4 }])

    await assert.rejects(boss.insert([{ data: { n: 5 } }]), /each job needs a queue name/)
    await assert.rejects(boss.insert([{ name: 'v10-missing', data: {} }]), /Queue v10-missing does not exist/)
  } finally {
    await boss.stop()
  }
})

test('insert(name, jobs) is unchanged: no warning, every job goes to the named queue', async () => {
  const boss = await startBoss(schema)
  try {
    await boss.createQueue('v12-insert')
    await boss.createQueue('v12-other')
    const { codes } = await deprecations(() => boss.insert('v12-insert', [
      { data: { n: 1 } },
      // a stray name on a 12.38 job is ignored, as 12.38 ignores it
      { name: 'v12-other', data: { n: 2 } }
    ]))
    assert.deepEqual(codes, [])
    assert.deepEqual(await jobsOf('v12-insert'), [{ n: 1 }, { n: 2 }])
    assert.deepEqual(await jobsOf('v12-other'), [])
  } finally {
    await boss.stop()
  }
})

test('pg-boss 12.38 refuses the v10 shapes of insert() and offWork(), so shimming them changes no 12.38 call', async () => {
  const ref = await startPgBoss(schema, { migrate: false })
  try {
    await assert.rejects(ref.insert([{ name: 'v10-a', data: {} }]), /jobs argument should be an array/)
    await assert.rejects(ref.offWork({ id: 'abc' }), /queue name must be a string/)
  } finally {
    await ref.stop({ graceful: false })
  }
})

test('offWork({ id }) stops that worker, warning once; offWork(name, { id }) is unchanged', async () => {
  const boss = await startBoss(schema)
  try {
    await boss.createQueue('v10-work')
    const handled = []
    const id = await boss.work('v10-work', { pollingIntervalSeconds: 0.5 }, async ([job]) => { handled.push(job.data.n) })
    await boss.send('v10-work', { n: 1 })
    await waitFor(() => handled.length === 1)

    const first = await deprecations(() => boss.offWork({ id }))
    assert.deepEqual(first.codes, ['PGBOSS_NATIVE_V10_OFF_WORK'])
    await waitFor(() => !boss.getWipData().some(w => w.id === id))
    await boss.send('v10-work', { n: 2 })
    await sleep(1500)
    assert.deepEqual(handled, [1], 'the stopped worker takes no more jobs')

    // an id no worker has: nothing to stop, as in v10
    const second = await deprecations(() => boss.offWork({ id: '00000000-0000-0000-0000-000000000000' }))
    assert.deepEqual(second.codes, [], 'once per process')

    const other = await boss.work('v10-work', { pollingIntervalSeconds: 0.5 }, async ([job]) => { handled.push(job.data.n) })
    await waitFor(() => handled.length === 2)
    const third = await deprecations(() => boss.offWork('v10-work', { id: other }))
    assert.deepEqual(third.codes, [])
    assert.ok(!boss.getWipData().some(w => w.id === other))
  } finally {
    await boss.stop()
  }
})

test('stop({ wait: false }) resolves at once and the graceful stop finishes in the background, warning once', async () => {
  const boss = await startBoss(schema)
  await boss.createQueue('v10-stop')
  let release
  const running = new Promise(resolve => { release = resolve })
  let started = false
  await boss.work('v10-stop', { pollingIntervalSeconds: 0.5 }, async () => { started = true; await running })
  await boss.send('v10-stop', {})
  await waitFor(() => started)
  let stopped = false
  boss.on('stopped', () => { stopped = true })

  const { codes } = await deprecations(() => boss.stop({ wait: false, timeout: 10000 }))
  assert.deepEqual(codes, ['PGBOSS_NATIVE_V10_STOP_WAIT'])
  assert.equal(stopped, false, 'resolved while the handler still runs')
  release()
  await waitFor(() => stopped)
  const { rows: [job] } = await db.query(`SELECT state FROM ${schema}.job WHERE name = 'v10-stop'`)
  assert.equal(job.state, 'completed', 'the graceful stop let the handler finish')

  // wait: true is 12.38's stop(), and warns no more
  const again = await startBoss(schema)
  const second = await deprecations(() => again.stop({ wait: true }))
  assert.deepEqual(second.codes, [])
})

test('stop() without wait is unchanged: it resolves once the instance has stopped', async () => {
  const boss = await startBoss(schema)
  let stopped = false
  boss.on('stopped', () => { stopped = true })
  await boss.stop({ graceful: true, timeout: 2000 })
  assert.equal(stopped, true)
})

test('v10 job defaults on the constructor become defaults of the queues the instance creates and of its work() calls, warning once', async () => {
  const options = { connectionString, schema, supervise: false, schedule: false }
  const first = await deprecations(() => new PgBoss({ ...options, retryLimit: 5, retryDelay: 3, retryBackoff: true, expireInMinutes: 2, retentionDays: 3, deleteAfterHours: 1, pollingIntervalSeconds: 1 }))
  assert.deepEqual(first.codes, ['PGBOSS_NATIVE_V10_JOB_DEFAULTS'])
  const boss = first.value
  await boss.start()
  try {
    await boss.createQueue('v10-defaults')
    const q = await boss.getQueue('v10-defaults')
    assert.deepEqual(
      { retryLimit: q.retryLimit, retryDelay: q.retryDelay, retryBackoff: q.retryBackoff, expireInSeconds: q.expireInSeconds, retentionSeconds: q.retentionSeconds, deleteAfterSeconds: q.deleteAfterSeconds },
      { retryLimit: 5, retryDelay: 3, retryBackoff: true, expireInSeconds: 120, retentionSeconds: 3 * 86400, deleteAfterSeconds: 3600 })
    // what createQueue is given wins
    await boss.createQueue('v10-given', { retryLimit: 1, expireInSeconds: 30 })
    const given = await boss.getQueue('v10-given')
    assert.equal(given.retryLimit, 1)
    assert.equal(given.expireInSeconds, 30)
    assert.equal(given.retentionSeconds, 3 * 86400)
    // and a job sent there takes its queue's values
    const id = await boss.send('v10-defaults', {})
    const job = await boss.getJobById('v10-defaults', id)
    assert.equal(job.retryLimit, 5)
    assert.equal(job.expireInSeconds, 120)
    // v10's pollingIntervalSeconds is the default of work(); a call's own wins
    const a = await boss.work('v10-defaults', async () => {})
    const b = await boss.work('v10-defaults', { pollingIntervalSeconds: 3 }, async () => {})
    const polling = id => boss.getWipData().find(w => w.id === id).options.pollingInterval
    assert.equal(polling(a), 1000)
    assert.equal(polling(b), 3000)
  } finally {
    await boss.stop()
  }
  const second = await deprecations(() => new PgBoss({ ...options, retryLimit: 4 }))
  assert.deepEqual(second.codes, [], 'once per process')
})

test('without v10 keys the constructor and createQueue are unchanged', async () => {
  const { value: boss, codes } = await deprecations(() => new PgBoss({ connectionString, schema, supervise: false, schedule: false }))
  assert.deepEqual(codes, [])
  await boss.start()
  try {
    await boss.createQueue('v12-defaults')
    const q = await boss.getQueue('v12-defaults')
    assert.deepEqual([q.retryLimit, q.retryDelay, q.retryBackoff, q.expireInSeconds, q.retentionSeconds, q.deleteAfterSeconds], [2, 0, false, 900, 1209600, 604800])
    const id = await boss.work('v12-defaults', async () => {})
    assert.equal(boss.getWipData().find(w => w.id === id).options.pollingInterval, 2000)
  } finally {
    await boss.stop()
  }
})

test('v10 job defaults are validated as v10 did, and its archive options, which have no 12.38 equivalent, are refused', () => {
  const options = { connectionString, schema }
  assert.throws(() => new PgBoss({ ...options, retryLimit: -1 }), { name: 'AssertionError', message: 'retryLimit must be an integer >= 0' })
  assert.throws(() => new PgBoss({ ...options, retryBackoff: 'yes' }), { message: 'retryBackoff must be either true or false' })
  assert.throws(() => new PgBoss({ ...options, retentionMinutes: 0 }), { message: 'configuration assert: retentionMinutes must be at least every minute' })
  assert.throws(() => new PgBoss({ ...options, expireInHours: 25 }), { message: 'configuration assert: expiration cannot exceed 24 hours' })
  assert.throws(() => new PgBoss({ ...options, deleteAfterDays: 0 }), { message: 'configuration assert: deleteAfterDays must be at least every day' })
  assert.throws(() => new PgBoss({ ...options, pollingIntervalSeconds: 0.1 }), { message: 'configuration assert: pollingIntervalSeconds must be at least every 500ms' })
  assert.throws(() => new PgBoss({ ...options, archiveCompletedAfterSeconds: 3600 }), /archiveCompletedAfterSeconds is a pg-boss v10 option with no equivalent/)
  assert.throws(() => new PgBoss({ ...options, archiveFailedAfterSeconds: 3600 }), /archiveFailedAfterSeconds is a pg-boss v10 option with no equivalent/)
})
