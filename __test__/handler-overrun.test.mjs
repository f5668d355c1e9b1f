// A handler that outlives its job's expiry (pg-boss 12.38's handler_overrun): the job fails and
// its signal aborts at the expiry, a warning is raised, and the worker fetches nothing more until
// that handler returns; stopping the worker ends the hold.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss } from '../index.mjs'
import { connectionString, dropSchema, pool, sleep, startPgBoss, waitFor } from './helpers.mjs'

const schema = 'txw_overrun'
const refSchema = 'txw_overrun_ref'
let db

before(async () => {
  await dropSchema(schema)
  await dropSchema(refSchema)
  db = pool()
})

after(async () => {
  await db.end()
  await dropSchema(schema)
  await dropSchema(refSchema)
})

async function start (s, options = {}) {
  const boss = new PgBoss({ connectionString, schema: s, supervise: false, schedule: false, ...options })
  boss.on('error', () => {})
  await boss.start()
  return boss
}

/**
 * Two jobs on a queue expiring after 1 s, a handler ignoring its signal for 2.5 s: what happened,
 * in order, and when (ms from the first handler's start).
 */
async function overrunScenario (boss, s) {
  const q = 'overrun'
  await boss.createQueue(q, { expireInSeconds: 1, retryLimit: 0 })
  const first = await boss.send(q, { n: 1 })
  const events = []
  let t0
  const at = () => Math.round((Date.now() - t0) / 500) * 500
  boss.on('warning', w => { if (w.data?.type === 'handler_overrun') events.push({ what: 'warning', at: at(), data: w.data, message: w.message }) })
  await boss.work(q, { pollingIntervalSeconds: 0.5 }, async ([job]) => {
    if (job.data.n === 1) {
      t0 = Date.now()
      job.signal.addEventListener('abort', () => events.push({ what: 'aborted', at: at() }))
      events.push({ what: 'start 1', at: 0 })
      await boss.send(q, { n: 2 })
      await sleep(2500)
      const { rows } = await db.query(`SELECT state, output FROM ${s}.job WHERE id = $1`, [first])
      events.push({ what: 'end 1', at: at(), state: rows[0].state, message: rows[0].output?.message })
    } else {
      events.push({ what: 'start 2', at: at() })
    }
  })
  await waitFor(() => events.some(e => e.what === 'start 2'), { timeout: 10000 })
  await boss.offWork(q, { wait: true })
  return { events, first }
}

test('a handler past its expiry fails its job, aborts its signal, warns, and holds its worker until it returns', async () => {
  const boss = await start(schema)
  try {
    const { events, first } = await overrunScenario(boss, schema)
    const names = events.map(e => e.what)
    assert.deepEqual(names, ['start 1', 'aborted', 'warning', 'end 1', 'start 2'])
    const byName = Object.fromEntries(events.map(e => [e.what, e]))
    assert.equal(byName.aborted.at, 1000)
    assert.ok(byName['start 2'].at >= 2500, 'the next fetch waits for the overrunning handler')
    assert.equal(byName['end 1'].state, 'failed')
    assert.equal(byName['end 1'].message, 'handler execution exceeded 1s')
    const { data, message } = byName.warning
    assert.deepEqual(Object.keys(data).sort(), ['expireInSeconds', 'instance', 'jobs', 'queue', 'type'])
    assert.deepEqual({ ...data, instance: typeof data.instance }, { type: 'handler_overrun', instance: 'string', queue: 'overrun', jobs: [first], expireInSeconds: 1 })
    assert.equal(message, 'a handler on queue overrun is still running after exceeding 1s. Its jobs were failed and their signals aborted, and this worker fetches nothing until it returns. Stop the handler on job.signal.')
  } finally {
    await boss.stop({ graceful: false })
  }
})

test('the same scenario runs the same way on pg-boss 12.38', async () => {
  const ref = await startPgBoss(refSchema)
  ref.on('error', () => {})
  try {
    const { events } = await overrunScenario(ref, refSchema)
    assert.deepEqual(events.map(e => e.what), ['start 1', 'aborted', 'warning', 'end 1', 'start 2'])
    const byName = Object.fromEntries(events.map(e => [e.what, e]))
    assert.equal(byName.aborted.at, 1000)
    assert.ok(byName['start 2'].at >= 2500)
    assert.deepEqual(Object.keys(byName.warning.data).sort(), ['expireInSeconds', 'instance', 'jobs', 'queue', 'type'])
  } finally {
    await ref.stop({ graceful: false })
  }
})

test('with persistWarnings the first overrun of a queue is stored at once', async () => {
  const s = 'txw_overrun_persist'
  await dropSchema(s)
  const boss = await start(s, { persistWarnings: true })
  try {
    const q = 'persisted'
    await boss.createQueue(q, { expireInSeconds: 1, retryLimit: 0 })
    const id = await boss.send(q, {})
    let release
    await boss.work(q, { pollingIntervalSeconds: 0.5 }, () => new Promise(resolve => { release = resolve }))
    const row = await waitFor(async () => {
      const { rows } = await db.query(`SELECT * FROM ${s}.warning WHERE type = 'handler_overrun'`)
      return rows[0]
    }, { timeout: 10000 })
    assert.equal(row.data.queue, q)
    assert.equal(row.data.count, 1)
    assert.deepEqual(row.data.jobs, [id])
    assert.match(row.message, /^a handler on queue persisted is still running after exceeding 1s/)
    release()
    await boss.offWork(q, { wait: true })
  } finally {
    await boss.stop({ graceful: false })
    await dropSchema(s)
  }
})

test('stopping the worker ends the hold: offWork({ wait }) does not wait for the overrunning handler', async () => {
  const s = 'txw_overrun_stop'
  await dropSchema(s)
  const boss = await start(s)
  try {
    const q = 'stopped'
    await boss.createQueue(q, { expireInSeconds: 1, retryLimit: 0 })
    await boss.send(q, {})
    let warned = false
    boss.on('warning', w => { if (w.data?.type === 'handler_overrun') warned = true })
    let release
    const handlerDone = new Promise(resolve => { release = resolve })
    await boss.work(q, { pollingIntervalSeconds: 0.5 }, () => handlerDone)
    await waitFor(() => warned, { timeout: 10000 })
    const t = Date.now()
    await boss.offWork(q, { wait: true })
    assert.ok(Date.now() - t < 1000, 'offWork returned while the handler was still running')
    release()
  } finally {
    await boss.stop({ graceful: false })
    await dropSchema(s)
  }
})

test('a handler that returns within its expiry raises no overrun warning', async () => {
  const s = 'txw_overrun_none'
  await dropSchema(s)
  const boss = await start(s)
  try {
    const warnings = []
    boss.on('warning', w => warnings.push(w))
    await boss.createQueue('quick', { expireInSeconds: 1 })
    const id = await boss.send('quick', {})
    await boss.work('quick', { pollingIntervalSeconds: 0.5 }, async () => { await sleep(300) })
    await waitFor(async () => (await db.query(`SELECT state FROM ${s}.job WHERE id = $1`, [id])).rows[0]?.state === 'completed')
    await sleep(1200)
    assert.equal(warnings.filter(w => w.data?.type === 'handler_overrun').length, 0)
    await boss.offWork('quick', { wait: true })
  } finally {
    await boss.stop({ graceful: false })
    await dropSchema(s)
  }
})

test('an overrunning handler keeps its group\'s localGroupConcurrency slot until it returns, as in pg-boss 12.38', async () => {
  const s = 'txw_overrun_group'
  const r = 'txw_overrun_group_ref'
  await dropSchema(s)
  await dropSchema(r)
  const ours = await start(s)
  const ref = await startPgBoss(r)
  ref.on('error', () => {})
  try {
    for (const boss of [ours, ref]) {
      const q = 'grouped'
      await boss.createQueue(q, { expireInSeconds: 1, retryLimit: 0 })
      await boss.send(q, { n: 1 }, { group: { id: 'g' } })
      const started = {}
      let t0
      await boss.work(q, { pollingIntervalSeconds: 0.5, localConcurrency: 2, localGroupConcurrency: 1 }, async ([job]) => {
        if (job.data.n === 1) {
          t0 = Date.now()
          started[1] = 0
          await boss.send(q, { n: 2 }, { group: { id: 'g' } })
          await sleep(2500)
        } else {
          started[2] = Date.now() - t0
        }
      })
      await waitFor(() => started[2] !== undefined, { timeout: 10000 })
      assert.ok(started[2] >= 2400, `the group's second job waited for the overrunning handler (${started[2]} ms)`)
      await boss.offWork(q, { wait: true })
    }
  } finally {
    await ours.stop({ graceful: false })
    await ref.stop({ graceful: false })
    await dropSchema(s)
    await dropSchema(r)
  }
})
