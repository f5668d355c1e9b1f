// Claiming ahead (`prefetch`): the next batch is claimed while the handler runs; held jobs are
// bounded, handed back on stop()/offWork() and before their expiry window runs out, and the
// policies that count active jobs keep their limits. Also burstWhenReadyExceeds on a fresh count.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss } from '../index.mjs'
import { connectionString, dropSchema, pool, sleep, waitFor } from './helpers.mjs'

const schema = 'ahead_test'
let boss
let db

const poll = { pollingIntervalSeconds: 0.5 }

async function rowsOf (name) {
  const { rows } = await db.query(
    `SELECT id, state, retry_count, started_on, singleton_key, group_id, data FROM ${schema}.job WHERE name = $1 ORDER BY (data->>'i')::int`,
    [name])
  return rows
}

async function countIn (name, state) {
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${schema}.job WHERE name = $1 AND state = $2`, [name, state])
  return rows[0].n
}

async function sendMany (name, n, options = {}) {
  const ids = []
  for (let i = 0; i < n; i++) ids.push(await boss.send(name, { i }, typeof options === 'function' ? options(i) : options))
  return ids
}

/** A handler that waits on a gate the test opens. */
function gated () {
  let open
  const gate = new Promise(resolve => { open = resolve })
  const seen = []
  return { seen, open: () => open(), handler: async jobs => { seen.push(...jobs.map(j => j.data.i)); await gate } }
}

function newBoss (options = {}) {
  const b = new PgBoss({ connectionString, schema, supervise: false, schedule: false, ...options })
  b.errors = []
  b.on('error', err => b.errors.push(err))
  return b
}

before(async () => {
  await dropSchema(schema)
  db = pool()
  boss = newBoss()
  await boss.start()
})

after(async () => {
  await boss.stop({ graceful: false })
  await dropSchema(schema)
  await db.end()
})

test('prefetch: validation messages, and the combinations it refuses', async () => {
  await boss.createQueue('ahead-valid')
  const noop = async () => {}
  const message = 'configuration assert: prefetch must be a boolean or an integer >= 1'
  for (const prefetch of [0, -1, 1.5, 'yes', null]) {
    await assert.rejects(boss.work('ahead-valid', { prefetch }, noop), { message }, String(prefetch))
  }
  await assert.rejects(boss.workEach('ahead-valid', { prefetch: 0 }, noop), { message })
  await assert.rejects(boss.work('ahead-valid', { prefetch: true, transactional: true }, noop),
    { message: 'prefetch cannot be combined with transactional' })
  for (const policy of ['stately', 'short']) {
    await boss.createQueue(`ahead-valid-${policy}`, { policy })
    const refused = `prefetch is not available on ${policy} queues: a job claimed ahead and handed back could collide with the job of its singleton key queued meanwhile`
    await assert.rejects(boss.work(`ahead-valid-${policy}`, { prefetch: true }, noop), { message: refused })
    await assert.rejects(boss.workEach(`ahead-valid-${policy}`, { prefetch: 4 }, noop), { message: refused })
    // off, as by default, they work as before
    const id = await boss.work(`ahead-valid-${policy}`, { prefetch: false }, noop)
    await boss.offWork(`ahead-valid-${policy}`, { id })
  }
  assert.equal(boss.getWipData().length, 0, 'no refused worker was started')
})

test('default (no prefetch): only the batch being handled is claimed, as in pg-boss', async () => {
  await boss.createQueue('ahead-default')
  await sendMany('ahead-default', 6)
  const g = gated()
  await boss.work('ahead-default', { ...poll, batchSize: 2, burstWhenBatchFull: true }, g.handler)
  await waitFor(() => g.seen.length === 2)
  await sleep(600)
  assert.equal(await countIn('ahead-default', 'active'), 2)
  assert.equal(await countIn('ahead-default', 'created'), 4)
  g.open()
  await waitFor(async () => (await countIn('ahead-default', 'completed')) === 6)
  await boss.offWork('ahead-default', { wait: true })
})

test('prefetch: the next batch is claimed while the handler runs; getWipData counts only started jobs', async () => {
  await boss.createQueue('ahead-on')
  await sendMany('ahead-on', 7)
  const g = gated()
  await boss.work('ahead-on', { ...poll, batchSize: 2, burstWhenBatchFull: true, prefetch: true }, g.handler)
  await waitFor(() => g.seen.length === 2)
  await waitFor(async () => (await countIn('ahead-on', 'active')) === 4)
  await sleep(300)
  assert.equal(await countIn('ahead-on', 'active'), 4, 'one batch ahead at most')
  const [wip] = boss.getWipData()
  assert.equal(wip.count, 2, 'held jobs are not in progress')
  assert.equal(wip.options.prefetch, true)
  g.open()
  await waitFor(async () => (await countIn('ahead-on', 'completed')) === 7)
  assert.deepEqual(g.seen.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6], 'each job ran once')
  const rows = await rowsOf('ahead-on')
  assert.ok(rows.every(r => r.retry_count === 0))
  await boss.offWork('ahead-on', { wait: true })
  assert.deepEqual(boss.errors, [])
})

test('prefetch: a number caps the jobs held ahead below batchSize', async () => {
  await boss.createQueue('ahead-cap')
  await sendMany('ahead-cap', 10)
  const g = gated()
  await boss.work('ahead-cap', { ...poll, batchSize: 4, burstWhenBatchFull: true, prefetch: 1 }, g.handler)
  await waitFor(() => g.seen.length === 4)
  await waitFor(async () => (await countIn('ahead-cap', 'active')) === 5)
  await sleep(300)
  assert.equal(await countIn('ahead-cap', 'active'), 5)
  g.open()
  await waitFor(async () => (await countIn('ahead-cap', 'completed')) === 10)
  await boss.offWork('ahead-cap', { wait: true })
})

test('prefetch beyond batchSize: a local queue of claimed jobs, still batchSize jobs per handler call', async () => {
  const name = 'ahead-local'
  await boss.createQueue(name)
  await sendMany(name, 10)
  const g = gated()
  const sizes = []
  await boss.work(name, { ...poll, batchSize: 1, burstWhenBatchFull: true, prefetch: 4 }, async jobs => {
    sizes.push(jobs.length)
    return g.handler(jobs)
  })
  await waitFor(() => g.seen.length === 1)
  await waitFor(async () => (await countIn(name, 'active')) === 4)
  await sleep(300)
  assert.equal(await countIn(name, 'active'), 4, 'one running, the three after it held: prefetch jobs at most')
  assert.equal(boss.getWipData()[0].count, 1, 'held jobs are not in progress')
  g.open()
  await waitFor(async () => (await countIn(name, 'completed')) === 10)
  assert.deepEqual(g.seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'each job once, in claim order')
  assert.ok(sizes.every(n => n === 1), `handler calls of ${sizes.join(', ')} jobs`)
  assert.ok((await rowsOf(name)).every(r => r.retry_count === 0))
  await boss.offWork(name, { wait: true })
  assert.deepEqual(boss.errors, [])
})

test('prefetch beyond batchSize: a local queue runs its batches one after another, failures settled per batch', async () => {
  const name = 'ahead-local-chain'
  await boss.createQueue(name, { retryLimit: 0 })
  await sendMany(name, 40)
  let running = 0
  let most = 0
  const order = []
  await boss.work(name, { ...poll, batchSize: 2, burstWhenBatchFull: true, prefetch: 12 }, async jobs => {
    running++
    most = Math.max(most, running)
    order.push(...jobs.map(j => j.data.i))
    await sleep(jobs[0].data.i % 3 === 0 ? 5 : 0)
    running--
    if (jobs[0].data.i % 10 === 0) throw new Error(`batch of ${jobs[0].data.i} failed`)
  })
  await waitFor(async () => (await countIn(name, 'completed')) + (await countIn(name, 'failed')) === 40)
  assert.equal(most, 1, 'localConcurrency 1: one handler call at a time')
  assert.deepEqual(order, Array.from({ length: 40 }, (_, i) => i), 'each job once, in claim order')
  const rows = await rowsOf(name)
  for (const r of rows) {
    const failed = Math.floor(r.data.i / 2) * 2 % 10 === 0
    assert.equal(r.state, failed ? 'failed' : 'completed', `job ${r.data.i}`)
  }
  await boss.offWork(name, { wait: true })
  assert.deepEqual(boss.errors, [])
})

test('prefetch beyond batchSize: a batch started after the one before it times out on its jobs\' expiry, from the claim', async () => {
  const name = 'ahead-local-timeout'
  await boss.createQueue(name, { retryLimit: 0 })
  await sendMany(name, 2, { expireInSeconds: 4 })
  const timing = {}
  // prefetch 4: claimed in halves of 2, so job 1 is claimed with job 0 and starts after it
  await boss.work(name, { ...poll, batchSize: 1, prefetch: 4 }, async ([job]) => {
    if (job.data.i === 0) return sleep(600) // job 1 waits claimed meanwhile (its share: 1 s)
    timing.started = Date.now()
    await new Promise(resolve => job.signal.addEventListener('abort', resolve))
    timing.aborted = Date.now()
  })
  await waitFor(async () => (await rowsOf(name))[1]?.state === 'failed', { timeout: 10000 })
  const ran = timing.aborted - timing.started
  // 4 s less the ~0.6 s it waited claimed, not the whole 4 s from its handler's start
  assert.ok(ran > 2900 && ran < 3800, `aborted after ${ran} ms`)
  await boss.offWork(name, { wait: true })
})

test('prefetch beyond batchSize: offWork() hands the local queue back at once, while its handler runs', async () => {
  const name = 'ahead-local-stop'
  await boss.createQueue(name)
  await sendMany(name, 5)
  const g = gated()
  await boss.work(name, { ...poll, batchSize: 1, prefetch: 5 }, g.handler)
  await waitFor(async () => g.seen.length === 1 && (await countIn(name, 'active')) === 5)
  const stopping = boss.offWork(name, { wait: true })
  const back = await waitFor(async () => {
    const rows = (await rowsOf(name)).filter(r => r.state === 'created')
    return rows.length === 4 ? rows : null
  }, { timeout: 5000 })
  assert.deepEqual(g.seen, [0], 'the running handler has not returned')
  for (const r of back) {
    assert.equal(r.retry_count, 0)
    assert.equal(r.started_on, null)
  }
  g.open()
  await stopping
  const rows = await rowsOf(name)
  assert.deepEqual(rows.map(r => r.state), ['completed', 'created', 'created', 'created', 'created'])
  assert.deepEqual(boss.errors, [])
})

test('prefetch beyond batchSize: the local queue goes back once held a quarter of its expiry window', async () => {
  const name = 'ahead-local-expiry'
  await boss.createQueue(name)
  await sendMany(name, 3, { expireInSeconds: 4 })
  const started = []
  await boss.work(name, { ...poll, batchSize: 1, prefetch: 3 }, async ([job]) => {
    started.push(job.data.i)
    if (job.data.i === 0) await sleep(2500)
  })
  await waitFor(async () => started.length === 1 && (await countIn(name, 'active')) === 3, { every: 10 })
  const claimed = Date.now()
  await waitFor(async () => (await countIn(name, 'created')) === 2, { timeout: 2500, every: 20 })
  const heldFor = Date.now() - claimed
  assert.ok(heldFor > 600 && heldFor < 1400, `handed back after ${heldFor} ms (share 1,000 ms)`)
  assert.deepEqual(started, [0], 'before any handler saw them')
  await waitFor(async () => (await countIn(name, 'completed')) === 3, { timeout: 10000 })
  assert.deepEqual(started, [0, 1, 2])
  assert.ok((await rowsOf(name)).every(r => r.retry_count === 0), 'handing back charged no retry')
  await boss.offWork(name, { wait: true })
})

/**
 * Queue `name` (`queueOptions`) with four jobs, worked with prefetch by another instance
 * (`other`): two run in a handler held open until `g.open()`, two are held claimed ahead.
 */
async function runningAndHeld (name, queueOptions) {
  await boss.createQueue(name, queueOptions)
  await sendMany(name, 4)
  const other = newBoss()
  await other.start()
  const g = gated()
  await other.work(name, { ...poll, batchSize: 2, burstWhenBatchFull: true, prefetch: true }, g.handler)
  await waitFor(async () => (await countIn(name, 'active')) === 4)
  const running = new Set(g.seen)
  return { other, g, running }
}

async function heldOnStop (name, stopIt) {
  const { other, g, running } = await runningAndHeld(name)
  const stopping = stopIt(other)
  // held jobs go back at once, while the handler still runs
  const back = await waitFor(async () => {
    const rows = (await rowsOf(name)).filter(r => r.state === 'created')
    return rows.length === 2 ? rows : null
  }, { timeout: 5000 })
  for (const r of back) {
    assert.ok(!running.has(r.data.i), 'a held job, never started')
    assert.equal(r.retry_count, 0)
    assert.equal(r.started_on, null)
  }
  g.open()
  await stopping
  return { running, back, other }
}

test('prefetch: offWork() hands held jobs back unstarted and another worker runs them', async () => {
  const { back, other } = await heldOnStop('ahead-offwork', b => b.offWork('ahead-offwork', { wait: true }))
  // held jobs were fetched and in flight; handed back, they are in flight no more
  const metrics = await waitFor(() => {
    const m = other.getMetrics().queues['ahead-offwork']
    return m && m.inFlight === 0 && m.completed === 2 ? m : null
  }, { timeout: 5000 })
  assert.equal(metrics.fetched, 4)
  await other.stop({ graceful: false })
  const ran = []
  await boss.work('ahead-offwork', { ...poll, batchSize: 2 }, async jobs => { ran.push(...jobs.map(j => j.data.i)) })
  await waitFor(async () => (await countIn('ahead-offwork', 'completed')) === 4)
  assert.deepEqual(ran.sort(), back.map(r => r.data.i).sort())
  assert.ok((await rowsOf('ahead-offwork')).every(r => r.retry_count === 0), 'no retry charged')
  await boss.offWork('ahead-offwork', { wait: true })
})

test('prefetch: a graceful stop() hands held jobs back and lets the running batch finish', async () => {
  let other
  const { running } = await heldOnStop('ahead-stop', b => { other = b; return b.stop({ graceful: true, timeout: 5000 }) })
  const rows = await rowsOf('ahead-stop')
  for (const r of rows) {
    assert.equal(r.state, running.has(r.data.i) ? 'completed' : 'created', `job ${r.data.i}`)
    assert.equal(r.retry_count, 0)
  }
  assert.deepEqual(other.errors, [])
})

test('prefetch: stop({ graceful: false }) fails the running batch but hands held jobs back uncharged', async () => {
  const name = 'ahead-hardstop'
  const { other, g, running } = await runningAndHeld(name, { retryLimit: 2 })
  await other.stop({ graceful: false })
  g.open()
  const rows = await waitFor(async () => {
    const rows = await rowsOf(name)
    return rows.every(r => r.state !== 'active') ? rows : null
  })
  for (const r of rows) {
    if (running.has(r.data.i)) {
      assert.equal(r.state, 'retry', `job ${r.data.i} failed by the shutdown`)
    } else {
      assert.equal(r.state, 'created', `held job ${r.data.i} handed back`)
      assert.equal(r.retry_count, 0)
      assert.equal(r.started_on, null)
    }
  }
})

/**
 * Three jobs with `window` seconds to live (`sendOptions`); the first handler takes `slowMs`,
 * longer than a quarter of the window, so the job claimed ahead must go back before it ends.
 */
async function heldPastTheirShare (name, sendOptions, windowSeconds, slowMs) {
  await boss.createQueue(name)
  await sendMany(name, 3, sendOptions)
  const started = []
  await boss.work(name, { ...poll, batchSize: 1, prefetch: true, burstWhenReadyExceeds: 1 }, async ([job]) => {
    started.push(job.data.i)
    if (job.data.i === 0) await sleep(slowMs)
  })
  await waitFor(async () => (await countIn(name, 'active')) === 2, { timeout: 5000 })
  const claimedAhead = Date.now()
  const share = windowSeconds * 1000 / 4
  await waitFor(async () => (await countIn(name, 'active')) === 1 && (await countIn(name, 'created')) === 2,
    { timeout: slowMs, every: 20 })
  const heldFor = Date.now() - claimedAhead
  assert.ok(heldFor < share + 400, `handed back after ${heldFor} ms (share ${share} ms)`)
  assert.ok(heldFor > share - 400, `held until its share, ${heldFor} ms`)
  assert.deepEqual(started, [0], 'before any handler saw it')
  const rows = await waitFor(async () => {
    const rows = await rowsOf(name)
    return rows.every(r => r.state === 'completed') ? rows : null
  })
  assert.deepEqual(started, [0, 1, 2], 'each ran once, in order')
  assert.ok(rows.every(r => r.retry_count === 0), 'handing back charged no retry')
  await boss.offWork(name, { wait: true })
}

test('prefetch: held jobs never outlive a quarter of their expiry window unstarted, and run later', async () => {
  await heldPastTheirShare('ahead-expiry', { expireInSeconds: 2 }, 2, 1500)
})

test('prefetch: held jobs never outlive a quarter of their heartbeat window unstarted', async () => {
  await heldPastTheirShare('ahead-heartbeat', { expireInSeconds: 60, heartbeatSeconds: 10 }, 10, 3500)
})

test('prefetch: a held batch\'s handler times out when its jobs\' expiry (counted from the claim) runs out', async () => {
  const name = 'ahead-timeout'
  await boss.createQueue(name, { retryLimit: 0 })
  await sendMany(name, 2, { expireInSeconds: 4 })
  const timing = {}
  await boss.work(name, { ...poll, batchSize: 1, prefetch: true, burstWhenReadyExceeds: 1 }, async ([job]) => {
    if (job.data.i === 0) return sleep(600) // job 1 is held meanwhile (its share: 1 s)
    timing.started = Date.now()
    await new Promise(resolve => job.signal.addEventListener('abort', resolve))
    timing.aborted = Date.now()
  })
  const [, row] = await waitFor(async () => {
    const rows = await rowsOf(name)
    return rows[1]?.state === 'failed' ? rows : null
  }, { timeout: 10000 })
  const ran = timing.aborted - timing.started
  // 4 s less the ~0.6 s it was held, not the whole 4 s from its handler's start
  assert.ok(ran > 2900 && ran < 3800, `aborted after ${ran} ms`)
  const { rows: [failed] } = await db.query(`SELECT output FROM ${schema}.job WHERE id = $1`, [row.id])
  assert.equal(failed.output.message, 'handler execution exceeded 4s')
  await boss.offWork(name, { wait: true })
})

/** Samples the database while `until` is false: the most active jobs per key `column` at once. */
async function sampleActive (name, column, until) {
  let most = 0
  while (!(await until())) {
    const { rows } = await db.query(
      `SELECT count(*)::int AS n FROM ${schema}.job WHERE name = $1 AND state = 'active' GROUP BY ${column}`, [name])
    for (const r of rows) most = Math.max(most, r.n)
    await sleep(10)
  }
  return most
}

/** Runs a prefetching worker over `jobs` on a queue; returns the most handlers per key at once and the order per key. */
async function policyRun ({ name, queue = {}, sends, workOptions, column, keyOf }) {
  await boss.createQueue(name, queue)
  for (const [data, options] of sends) await boss.send(name, data, options)
  const running = new Map()
  const order = new Map()
  let mostRunning = 0
  await boss.work(name, { ...poll, batchSize: 1, burstWhenBatchFull: true, burstWhenReadyExceeds: 1, prefetch: true, ...workOptions }, async jobs => {
    for (const j of jobs) {
      const k = keyOf(j)
      running.set(k, (running.get(k) ?? 0) + 1)
      mostRunning = Math.max(mostRunning, running.get(k))
      order.set(k, [...(order.get(k) ?? []), j.data.i])
    }
    await sleep(60)
    for (const j of jobs) running.set(keyOf(j), running.get(keyOf(j)) - 1)
  })
  const total = sends.length
  const mostActive = await sampleActive(name, column, async () => (await countIn(name, 'completed')) === total)
  await boss.offWork(name, { wait: true })
  return { mostActive, mostRunning, order }
}

test('prefetch on a singleton queue: one active job per key, held ones included', async () => {
  const sends = []
  for (let i = 0; i < 8; i++) sends.push([{ i }, { singletonKey: i % 2 ? 'a' : 'b' }])
  const r = await policyRun({ name: 'ahead-singleton', queue: { policy: 'singleton' }, sends, workOptions: { localConcurrency: 3 }, column: 'singleton_key', keyOf: j => (j.data.i % 2 ? 'a' : 'b') })
  assert.equal(r.mostActive, 1)
  assert.equal(r.mostRunning, 1)
})

test('prefetch beyond batchSize on a singleton queue: a local queue keeps one active job per key', async () => {
  const sends = []
  for (let i = 0; i < 8; i++) sends.push([{ i }, { singletonKey: i % 2 ? 'a' : 'b' }])
  const r = await policyRun({ name: 'ahead-local-singleton', queue: { policy: 'singleton' }, sends, workOptions: { localConcurrency: 2, prefetch: 4 }, column: 'singleton_key', keyOf: j => (j.data.i % 2 ? 'a' : 'b') })
  assert.equal(r.mostActive, 1)
  assert.equal(r.mostRunning, 1)
})

test('prefetch on a key_strict_fifo queue: one active per key, in order', async () => {
  const sends = []
  for (let i = 0; i < 8; i++) sends.push([{ i }, { singletonKey: i % 2 ? 'a' : 'b' }])
  const r = await policyRun({ name: 'ahead-fifo', queue: { policy: 'key_strict_fifo' }, sends, workOptions: { localConcurrency: 3 }, column: 'singleton_key', keyOf: j => (j.data.i % 2 ? 'a' : 'b') })
  assert.equal(r.mostActive, 1)
  assert.deepEqual(r.order.get('a'), [1, 3, 5, 7])
  assert.deepEqual(r.order.get('b'), [0, 2, 4, 6])
})

for (const [option, counted] of [['groupConcurrency', 'the group limit counts held jobs (they are active)'], ['localGroupConcurrency', 'held jobs count against the group in this process']]) {
  test(`prefetch with ${option}: ${counted}`, async () => {
    const sends = []
    for (let i = 0; i < 8; i++) sends.push([{ i }, { group: { id: i % 2 ? 'g1' : 'g2' } }])
    const name = option === 'groupConcurrency' ? 'ahead-group' : 'ahead-localgroup'
    const r = await policyRun({ name, sends, workOptions: { localConcurrency: 3, [option]: 1 }, column: 'group_id', keyOf: j => j.groupId })
    assert.equal(r.mostActive, 1)
    assert.equal(r.mostRunning, 1)
  })
}

test('prefetch beyond batchSize with groupConcurrency: a local queue keeps the group limit', async () => {
  const sends = []
  for (let i = 0; i < 8; i++) sends.push([{ i }, { group: { id: i % 2 ? 'g1' : 'g2' } }])
  const r = await policyRun({ name: 'ahead-local-group', sends, workOptions: { localConcurrency: 2, prefetch: 4, groupConcurrency: 1 }, column: 'group_id', keyOf: j => j.groupId })
  assert.equal(r.mostActive, 1)
  assert.equal(r.mostRunning, 1)
})

test('workEach prefetch: false claims the next batch only once every buffered job has started', async () => {
  await boss.createQueue('ahead-each')
  await sendMany('ahead-each', 8)
  const g = gated()
  await boss.workEach('ahead-each', { ...poll, batchSize: 2, concurrency: 4, prefetch: false }, async job => g.handler([job]))
  await waitFor(() => g.seen.length === 4)
  await sleep(400)
  assert.equal(await countIn('ahead-each', 'active'), 4, 'no jobs held beyond the running ones')
  g.open()
  await waitFor(async () => (await countIn('ahead-each', 'completed')) === 8)
  await boss.offWork('ahead-each', { wait: true })
})

test('burstWhenReadyExceeds decides on a fresh count: a worker started on a full queue bursts at once', async () => {
  const name = 'ahead-burst'
  await boss.createQueue(name)
  await sendMany(name, 40)
  // no monitor has run: the queue cache says nothing is ready
  const [queue] = await boss.getQueues([name])
  assert.equal(queue.readyCount, 0)
  const began = Date.now()
  await boss.work(name, { pollingIntervalSeconds: 2, batchSize: 2, burstWhenReadyExceeds: 5 }, async () => {})
  // stale, pg-boss polls every 2 s until a monitor pass: 20 batches would take 40 s
  await waitFor(async () => (await countIn(name, 'completed')) >= 36, { timeout: 4000 })
  assert.ok(Date.now() - began < 4000)
  // and stops bursting once no more than 5 are ready: the last ones wait for their poll
  await sleep(300)
  assert.ok(await countIn(name, 'completed') < 40, 'polls again at its interval once few are ready')
  await boss.offWork(name, { wait: true })
})
