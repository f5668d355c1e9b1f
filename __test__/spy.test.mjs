// Test spies: __test__enableSpies, getSpy(name), clearSpies(), with pg-boss 12.38's semantics
// (what a spied job carries, when it is recorded relative to the database, which transitions count).
import { test, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { PgBoss, UnrecoverableError } from '../index.mjs'
import { connectionString, dropSchema, pool, sleep, startPgBoss } from './helpers.mjs'

const schema = 'spy_test'
const refSchema = 'spy_test_ref'
const poll = { pollingIntervalSeconds: 0.5 }
let boss
let db
let queueCount = 0

/** A fresh queue (and its spy) per test. */
async function queue (options) {
  const name = `q${++queueCount}`
  await boss.createQueue(name, options)
  return { name, spy: boss.getSpy(name) }
}

/** `promise`, or 'timeout' when it has not settled within `ms`. */
function within (promise, ms = 700) {
  return Promise.race([promise, sleep(ms).then(() => 'timeout')])
}

async function stateOf (id) {
  const { rows } = await db.query(`SELECT state FROM ${schema}.job WHERE id = $1`, [id])
  return rows[0]?.state
}

before(async () => {
  await dropSchema(schema)
  db = pool()
  boss = new PgBoss({ connectionString, schema, supervise: false, schedule: true, cronWorkerIntervalSeconds: 1, __test__enableSpies: true })
  boss.errors = []
  boss.on('error', err => boss.errors.push(err))
  await boss.start()
})

afterEach(async () => {
  for (let i = 1; i <= queueCount; i++) await boss.offWork(`q${i}`).catch(() => {})
})

after(async () => {
  await boss.stop({ graceful: false })
  await db.end()
  await dropSchema(schema)
  await dropSchema(refSchema)
})

test('getSpy() without __test__enableSpies throws pg-boss\'s error; clearSpies() is a no-op', async () => {
  const plain = new PgBoss({ connectionString, schema })
  assert.throws(() => plain.getSpy('x'), {
    constructor: Error,
    message: 'Spy is not enabled. Set __test__enableSpies: true in constructor options to use spies.'
  })
  assert.doesNotThrow(() => plain.clearSpies())
  // any truthy value enables them, as pg-boss reads the option
  assert.equal(typeof new PgBoss({ connectionString, schema, __test__enableSpies: 1 }).getSpy('x').waitForJob, 'function')
})

test('getSpy() returns one spy per queue until clearSpies()', async () => {
  const a = boss.getSpy('same')
  assert.equal(boss.getSpy('same'), a)
  assert.notEqual(boss.getSpy('other'), a)
  boss.clearSpies()
  assert.notEqual(boss.getSpy('same'), a)
})

test('send() records the job as created with the data as given (falsy data as {})', async () => {
  const { name, spy } = await queue()
  const when = new Date(0)
  const id = await boss.send(name, { value: 'test', when })
  const job = await within(spy.waitForJobWithId(id, 'created'))
  assert.deepEqual(job, { id, name, data: { value: 'test', when }, state: 'created', output: undefined })
  assert.ok(job.data.when instanceof Date, 'a structured clone, not JSON')
  const zero = await boss.send(name, 0)
  assert.deepEqual((await within(spy.waitForJobWithId(zero, 'created'))).data, {})
  const byObject = await boss.send({ name, data: { form: 'object' } })
  assert.deepEqual((await within(spy.waitForJobWithId(byObject, 'created'))).data, { form: 'object' })
})

test('the send family is recorded: sendAfter, sendThrottled, and a debounce\'s next slot', async () => {
  const { name, spy } = await queue()
  const after = await boss.sendAfter(name, { v: 'after' }, {}, 60)
  const throttled = await boss.sendThrottled(name, { v: 'throttled' }, {}, 300, 'k1')
  const first = await boss.sendDebounced(name, { v: 'first' }, {}, 300, 'k2')
  const next = await boss.sendDebounced(name, { v: 'next' }, {}, 300, 'k2')
  assert.ok(next && next !== first)
  for (const [id, v] of [[after, 'after'], [throttled, 'throttled'], [first, 'first'], [next, 'next']]) {
    assert.deepEqual((await within(spy.waitForJobWithId(id, 'created'))).data, { v })
  }
  // a throttled send that inserts nothing records nothing
  assert.equal(await boss.sendThrottled(name, { v: 'skipped' }, {}, 300, 'k1'), null)
  assert.equal(await within(spy.waitForJob(d => d.v === 'skipped', 'created')), 'timeout')
})

test('a job created before its queue had a spy is not recorded', async () => {
  const name = `q${++queueCount}`
  await boss.createQueue(name)
  const id = await boss.send(name, { early: true })
  assert.equal(await within(boss.getSpy(name).waitForJobWithId(id, 'created')), 'timeout')
})

test('insert() on a spied queue returns the ids and records each job with its own data', async () => {
  const { name, spy } = await queue()
  const given = randomUUID()
  const ids = await boss.insert(name, [{ id: given, data: { i: 1 } }, { data: { i: 2 } }, {}])
  assert.equal(ids.length, 3)
  assert.equal(ids[0], given)
  const jobs = await Promise.all(ids.map(id => within(spy.waitForJobWithId(id, 'created'))))
  assert.deepEqual(jobs.map(j => j.data), [{ i: 1 }, { i: 2 }, {}])
  // without a spy, ids only with returnId
  await boss.createQueue('unspied')
  assert.equal(await boss.insert('unspied', [{ data: {} }]), null)
})

test('publish() records a created job on each subscribed queue', async () => {
  const a = await queue()
  const b = await queue()
  await boss.subscribe('spy-event', a.name)
  await boss.subscribe('spy-event', b.name)
  await boss.publish('spy-event', { published: 1 })
  for (const { spy, name } of [a, b]) {
    const job = await within(spy.waitForJob(d => d.published === 1, 'created'))
    assert.equal(job.name, name)
  }
})

test('a job the send-it worker creates from a filed occurrence is recorded as created', async () => {
  const { name, spy } = await queue()
  // what the schedule pass files in __pgboss__send-it; the send-it worker sends it
  await boss.insert('__pgboss__send-it', [{ data: { name, key: '', data: { cron: 'fired' }, options: {} } }])
  const job = await within(spy.waitForJob(d => d.cron === 'fired', 'created'), 10000)
  assert.equal(job.name, name)
  assert.equal(await stateOf(job.id), 'created')
})

test('waitForJob() before the job exists resolves when it arrives; after, at once', async () => {
  const { name, spy } = await queue()
  const early = spy.waitForJob(d => d.value === 'awaited', 'completed')
  await boss.send(name, { value: 'other' })
  const id = await boss.send(name, { value: 'awaited' })
  await boss.work(name, poll, async () => {})
  assert.equal((await within(early, 5000)).id, id)
  const started = Date.now()
  assert.equal((await spy.waitForJob(d => d.value === 'awaited', 'completed')).id, id)
  assert.ok(Date.now() - started < 50)
})

test('work(): active while the handler runs, completed with its return value once the database says so', async () => {
  const { name, spy } = await queue()
  const id = await boss.send(name, { value: 'x' })
  let release
  const held = new Promise(resolve => { release = resolve })
  await boss.work(name, poll, async ([job]) => {
    job.data.seen = true // pg-boss records the completed job with the handler's view of its data
    await held
    return { result: 'success' }
  })
  const active = await within(spy.waitForJobWithId(id, 'active'), 5000)
  assert.deepEqual(active.data, { value: 'x' })
  assert.equal(await within(spy.waitForJobWithId(id, 'completed'), 300), 'timeout')
  release()
  const completed = await within(spy.waitForJobWithId(id, 'completed'), 5000)
  assert.equal(await stateOf(id), 'completed', 'recorded after the write-back')
  assert.deepEqual(completed, { id, name, data: { value: 'x', seen: true }, state: 'completed', output: { result: 'success' } })
})

test('work({ transactional }): completed once the transaction with the handler\'s SQL has committed; a rollback is a failure', async () => {
  const { name, spy } = await queue({ retryLimit: 0 })
  const ok = await boss.send(name, { ok: true })
  await boss.work(name, { ...poll, transactional: true }, async ([job], tx) => {
    await tx.executeSql('SELECT 1')
    if (!job.data.ok) throw new Error('rolled back')
    return { done: true }
  })
  const completed = await within(spy.waitForJobWithId(ok, 'completed'), 5000)
  assert.equal(await stateOf(ok), 'completed')
  assert.deepEqual(completed.output, { done: true })
  const bad = await boss.send(name, { ok: false })
  const failed = await within(spy.waitForJobWithId(bad, 'failed'), 5000)
  assert.equal(failed.state, 'failed')
  assert.equal(await stateOf(bad), 'failed')
})

test('work(): a non-object return value is the spied output as returned; a multi-job batch has none', async () => {
  const { name, spy } = await queue()
  const single = await boss.send(name, { n: 0 })
  await boss.work(name, poll, async () => 'abc')
  assert.equal((await within(spy.waitForJobWithId(single, 'completed'), 5000)).output, 'abc')
  await boss.offWork(name)
  const ids = [await boss.send(name, { n: 1 }), await boss.send(name, { n: 2 }), await boss.send(name, { n: 3 })]
  await boss.work(name, { ...poll, batchSize: 3 }, async () => ({ batch: true }))
  const jobs = await Promise.all(ids.map(id => within(spy.waitForJobWithId(id, 'completed'), 5000)))
  assert.deepEqual(jobs.map(j => j.output), [undefined, undefined, undefined])
})

test('work(): a throw with retries left is no spy state; the terminal failure is, with the stored error', async () => {
  const { name, spy } = await queue()
  const id = await boss.send(name, { v: 1 }, { retryLimit: 1, retryDelay: 0 })
  let attempts = 0
  await boss.work(name, poll, async () => {
    attempts++
    throw Object.assign(new Error(`attempt ${attempts}`), { code: 'E_SPY' })
  })
  const failed = await within(spy.waitForJobWithId(id, 'failed'), 10000)
  assert.equal(attempts, 2)
  assert.equal(failed.output.message, 'attempt 2')
  assert.equal(failed.output.code, 'E_SPY')
  assert.equal(await stateOf(id), 'failed')
})

test('work(): a retry that then succeeds is completed and never failed', async () => {
  const { name, spy } = await queue()
  const id = await boss.send(name, {}, { retryLimit: 1, retryDelay: 0 })
  let attempts = 0
  await boss.work(name, poll, async () => {
    if (++attempts === 1) throw new Error('transient')
    return { ok: true }
  })
  assert.deepEqual((await within(spy.waitForJobWithId(id, 'completed'), 10000)).output, { ok: true })
  assert.equal(await within(spy.waitForJobWithId(id, 'failed'), 300), 'timeout')
})

test('work(): an UnrecoverableError fails at once, skipping retries', async () => {
  const { name, spy } = await queue()
  const id = await boss.send(name, {}, { retryLimit: 5 })
  await boss.work(name, poll, async () => { throw new UnrecoverableError('no') })
  assert.equal((await within(spy.waitForJobWithId(id, 'failed'), 5000)).output.message, 'no')
})

test('work(): a job the handler failed itself is recorded as failed, not completed', async () => {
  const { name, spy } = await queue()
  const id = await boss.send(name, {}, { retryLimit: 0 })
  await boss.work(name, poll, async ([job]) => {
    await boss.fail(name, job.id, new Error('validation failed'))
  })
  const failed = await within(spy.waitForJobWithId(id, 'failed'), 5000)
  assert.equal(failed.output.message, 'validation failed')
  assert.equal(await within(spy.waitForJobWithId(id, 'completed'), 300), 'timeout')
})

test('work(): a job the handler completed itself keeps the output it stored', async () => {
  const { name, spy } = await queue()
  const id = await boss.send(name, {})
  await boss.work(name, poll, async ([job]) => {
    await boss.complete(name, job.id, { mine: 1 })
    return { theirs: 1 }
  })
  assert.deepEqual((await within(spy.waitForJobWithId(id, 'completed'), 5000)).output, { mine: 1 })
})

test('work(): a handler past its expiry fails the job', async () => {
  const { name, spy } = await queue()
  const id = await boss.send(name, {}, { retryLimit: 0, expireInSeconds: 1 })
  await boss.work(name, poll, async () => { await sleep(2000) })
  const failed = await within(spy.waitForJobWithId(id, 'failed'), 6000)
  assert.equal(failed.output.message, 'handler execution exceeded 1s')
})

test('work() with localConcurrency: every job is active then completed', async () => {
  const { name, spy } = await queue()
  const ids = []
  for (let i = 0; i < 6; i++) ids.push(await boss.send(name, { i }))
  await boss.work(name, { ...poll, localConcurrency: 3 }, async ([job]) => {
    await sleep(50)
    return { i: job.data.i }
  })
  const completed = await Promise.all(ids.map(id => within(spy.waitForJobWithId(id, 'completed'), 8000)))
  assert.deepEqual(completed.map(j => j.output), [0, 1, 2, 3, 4, 5].map(i => ({ i })))
  const active = await Promise.all(ids.map(id => within(spy.waitForJobWithId(id, 'active'))))
  assert.ok(active.every(j => j.state === 'active'))
})

test('localGroupConcurrency: a job claimed over its group\'s limit and handed back was active too (as in pg-boss 12.38)', async () => {
  async function scenario (instance, name) {
    await instance.createQueue(name)
    const spy = instance.getSpy(name)
    const first = await instance.send(name, { n: 1 }, { group: { id: 'g' } })
    const second = await instance.send(name, { n: 2 }, { group: { id: 'g' } })
    let release
    const held = new Promise(resolve => { release = resolve })
    const handled = []
    await instance.work(name, { ...poll, batchSize: 2, localConcurrency: 2, localGroupConcurrency: 1 }, async (jobs) => {
      handled.push(...jobs.map(j => j.data.n))
      await held
    })
    const active = await Promise.all([first, second].map(id => within(spy.waitForJobWithId(id, 'active'), 5000)))
    await sleep(200)
    // one job in its handler, the other handed back (created again), both spied as active
    const { rows } = await db.query(`SELECT state FROM ${instance === boss ? schema : refSchema}.job WHERE id = ANY($1)`, [[first, second]])
    const seen = { active: active.map(j => j.data.n).sort(), handled: handled.length, states: rows.map(r => r.state).sort() }
    release()
    await instance.offWork(name)
    return seen
  }
  const ref = await startPgBoss(refSchema, { __test__enableSpies: true })
  try {
    const ours = await scenario(boss, `q${++queueCount}`)
    assert.deepEqual(ours, { active: [1, 2], handled: 1, states: ['active', 'created'] })
    assert.deepEqual(await scenario(ref, 'local-group'), ours)
  } finally {
    await ref.stop({ graceful: false })
  }
})

test('a graceful stop() records what its handlers completed before it resolved', async () => {
  const name = `q${++queueCount}`
  await boss.createQueue(name)
  const other = new PgBoss({ connectionString, schema, supervise: false, schedule: false, __test__enableSpies: true })
  await other.start()
  const spy = other.getSpy(name)
  const id = await other.send(name, {})
  let started
  const running = new Promise(resolve => { started = resolve })
  await other.work(name, poll, async () => {
    started()
    await sleep(300)
    return { late: true }
  })
  await running
  await other.stop({ graceful: true, timeout: 5000 })
  assert.equal(await stateOf(id), 'completed')
  assert.deepEqual((await within(spy.waitForJobWithId(id, 'completed'), 1000)).output, { late: true })
})

test('a stop() that fails jobs in hand records the terminal ones as failed, as pg-boss 12.38 does', async () => {
  async function scenario (start, on) {
    const instance = await start()
    await instance.createQueue('stopping')
    const spy = instance.getSpy('stopping')
    const last = await instance.send('stopping', { k: 'last' }, { retryLimit: 0 })
    const retried = await instance.send('stopping', { k: 'retried' }, { retryLimit: 2, retryDelay: 60 })
    let started
    const running = new Promise(resolve => { started = resolve })
    await instance.work('stopping', { ...poll, batchSize: 2 }, async () => {
      started()
      await sleep(2000)
    })
    await running
    await instance.stop({ graceful: true, timeout: 300 })
    const seen = {}
    for (const [k, id] of [['last', last], ['retried', retried]]) {
      for (const state of ['completed', 'failed']) {
        const job = await within(spy.waitForJobWithId(id, state), 500)
        if (job !== 'timeout') seen[`${k}:${state}`] = job.output
      }
    }
    const { rows } = await db.query(`SELECT data->>'k' AS k, state FROM ${on}.job WHERE name = 'stopping' ORDER BY 1`)
    seen.stored = rows
    return seen
  }
  await dropSchema('spy_test_stop')
  await dropSchema('spy_test_stop_ref')
  const ours = await scenario(() => new PgBoss({ connectionString, schema: 'spy_test_stop', supervise: false, schedule: false, __test__enableSpies: true }).start(), 'spy_test_stop')
  assert.deepEqual(ours, {
    'last:failed': { value: 'pg-boss shut down while active' },
    stored: [{ k: 'last', state: 'failed' }, { k: 'retried', state: 'retry' }]
  })
  assert.deepEqual(await scenario(() => startPgBoss('spy_test_stop_ref', { __test__enableSpies: true }), 'spy_test_stop_ref'), ours)
  await dropSchema('spy_test_stop')
  await dropSchema('spy_test_stop_ref')
})

test('workEach(): each job is active, then completed with its own output or failed', async () => {
  const { name, spy } = await queue()
  const ok = await boss.send(name, { fail: false })
  const bad = await boss.send(name, { fail: true }, { retryLimit: 0 })
  await boss.workEach(name, { ...poll, batchSize: 5, concurrency: 2 }, async (job) => {
    if (job.data.fail) throw new Error('each failed')
    return { each: job.id }
  })
  assert.deepEqual((await within(spy.waitForJobWithId(ok, 'completed'), 5000)).output, { each: ok })
  assert.equal((await within(spy.waitForJobWithId(bad, 'failed'), 5000)).output.message, 'each failed')
  assert.equal((await within(spy.waitForJobWithId(bad, 'active'))).state, 'active')
})

test('perJobResults: outputs as the handler gave them; a failed entry counts as failed even with retries left', async () => {
  const { name, spy } = await queue()
  const done = await boss.send(name, { ok: true })
  const retrying = await boss.send(name, { ok: false }, { retryLimit: 3, retryDelay: 60 })
  const omitted = await boss.send(name, { omit: true }, { retryLimit: 0 })
  await boss.work(name, { ...poll, batchSize: 5, perJobResults: true }, async (jobs) => jobs
    .filter(job => !job.data.omit)
    .map(job => job.data.ok
      ? { id: job.id, status: 'completed', output: 7 }
      : { id: job.id, status: 'failed', output: new Error('per job') }))
  assert.equal((await within(spy.waitForJobWithId(done, 'completed'), 5000)).output, 7)
  const failed = await within(spy.waitForJobWithId(retrying, 'failed'), 5000)
  assert.equal(failed.output.message, 'per job')
  assert.equal(await stateOf(retrying), 'retry')
  assert.equal((await within(spy.waitForJobWithId(omitted, 'failed'), 5000)).output.message, 'no disposition returned by handler')
})

test('perJobResults: Promise.allSettled output is recorded by position; a non-array fails the batch', async () => {
  const { name, spy } = await queue()
  const a = await boss.send(name, { n: 1 }, { retryLimit: 0 })
  const b = await boss.send(name, { n: 2 }, { retryLimit: 0 })
  await boss.work(name, { ...poll, batchSize: 2, perJobResults: true }, async (jobs) =>
    Promise.allSettled(jobs.map(async job => {
      if (job.data.n === 2) throw new Error('second')
      return { n: job.data.n }
    })))
  assert.deepEqual((await within(spy.waitForJobWithId(a, 'completed'), 5000)).output, { n: 1 })
  assert.equal((await within(spy.waitForJobWithId(b, 'failed'), 5000)).output.message, 'second')
  await boss.offWork(name)
  const c = await boss.send(name, {}, { retryLimit: 0 })
  await boss.work(name, { ...poll, perJobResults: true }, async () => 'not an array')
  const failed = await within(spy.waitForJobWithId(c, 'failed'), 5000)
  assert.equal(failed.output.message, 'perJobResults handler must resolve with an array of job results')
})

test('fetch(), complete() and fail() outside a worker are not recorded (as in pg-boss 12.38)', async () => {
  async function scenario (instance, name) {
    await instance.createQueue(name)
    const spy = instance.getSpy(name)
    const a = await instance.send(name, {})
    const b = await instance.send(name, {}, { retryLimit: 0 })
    const fetched = await instance.fetch(name, { batchSize: 2 })
    await instance.complete(name, a, { done: true })
    await instance.fail(name, b, new Error('x'))
    return {
      fetched: fetched.length,
      active: await within(spy.waitForJobWithId(a, 'active'), 300),
      completed: await within(spy.waitForJobWithId(a, 'completed'), 300),
      failed: await within(spy.waitForJobWithId(b, 'failed'), 300)
    }
  }
  const ours = await scenario(boss, `q${++queueCount}`)
  assert.deepEqual(ours, { fetched: 2, active: 'timeout', completed: 'timeout', failed: 'timeout' })
  const ref = await startPgBoss(refSchema, { __test__enableSpies: true })
  try {
    assert.deepEqual(await scenario(ref, 'outside-workers'), ours)
  } finally {
    await ref.stop({ graceful: false })
  }
})

test('spied jobs are copies: mutating one changes nothing the spy holds', async () => {
  const { name, spy } = await queue()
  const id = await boss.send(name, { value: 'original' })
  const first = await spy.waitForJobWithId(id, 'created')
  first.data.value = 'mutated'
  assert.equal((await spy.waitForJobWithId(id, 'created')).data.value, 'original')
})

test('clear() forgets what a spy saw and its waiters; clearSpies() drops every spy', async () => {
  const { name, spy } = await queue()
  const id = await boss.send(name, {})
  await spy.waitForJobWithId(id, 'created')
  const waiting = spy.waitForJob(() => false, 'completed')
  spy.clear()
  assert.equal(await within(spy.waitForJobWithId(id, 'created'), 200), 'timeout')
  assert.equal(await within(waiting, 100), 'timeout')
  const again = await boss.send(name, {})
  await spy.waitForJobWithId(again, 'created')
  boss.clearSpies()
  assert.equal(await within(boss.getSpy(name).waitForJobWithId(again, 'created'), 200), 'timeout')
})

test('the spied transitions match pg-boss 12.38 for the same workload', async () => {
  async function scenario (instance) {
    await instance.createQueue('same')
    const spy = instance.getSpy('same')
    const ids = {
      ok: await instance.send('same', { k: 'ok' }),
      text: await instance.send('same', { k: 'text' }),
      retried: await instance.send('same', { k: 'retried' }, { retryLimit: 1, retryDelay: 0 }),
      bad: await instance.send('same', { k: 'bad' }, { retryLimit: 0 })
    }
    const seen = {}
    const attempts = {}
    await instance.work('same', poll, async ([job]) => {
      attempts[job.data.k] = (attempts[job.data.k] ?? 0) + 1
      if (job.data.k === 'bad' || (job.data.k === 'retried' && attempts.retried === 1)) throw new Error(job.data.k)
      return job.data.k === 'text' ? 'plain' : { k: job.data.k }
    })
    // every job settles for good, then whatever each state recorded is there to read
    await Promise.all(Object.values(ids).map(id => within(Promise.race([
      spy.waitForJobWithId(id, 'completed'), spy.waitForJobWithId(id, 'failed')]), 10000)))
    await sleep(300)
    for (const [k, id] of Object.entries(ids)) {
      for (const state of ['created', 'active', 'completed', 'failed']) {
        const job = await within(spy.waitForJobWithId(id, state), 20)
        if (job === 'timeout') continue
        seen[`${k}:${state}`] = { data: job.data, output: job.output?.stack ? { message: job.output.message } : job.output }
      }
    }
    await instance.offWork('same')
    return seen
  }
  const ref = await startPgBoss(refSchema, { __test__enableSpies: true })
  try {
    assert.deepEqual(await scenario(boss), await scenario(ref))
  } finally {
    await ref.stop({ graceful: false })
  }
})

test('no spy bookkeeping error reached the instance', () => {
  assert.deepEqual(boss.errors, [])
})
