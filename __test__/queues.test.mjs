// Queues: create / update / delete / read / stats / bulk deletes, each compared with pg-boss 12.38
// on the same database.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AssertionError } from 'node:assert'
import { bothForFile, outcome } from './helpers.mjs'

const SCHEMA = 'pgbn_queues_test'
let ours, ref, db
bothForFile(SCHEMA, both => ({ ours, ref, db } = both))

let seq = 0
const unique = (prefix = 'q') => `${prefix}-${++seq}`

/** A queue row with what legitimately differs between two queues created alike blanked out. */
function comparable (queue) {
  if (!queue) return queue
  const { name, table, createdOn, updatedOn, deadLetter, ...rest } = queue
  assert.ok(createdOn instanceof Date, 'createdOn is a Date')
  assert.ok(updatedOn instanceof Date, 'updatedOn is a Date')
  return { ...rest, partitionTable: table === 'job_common' ? 'job_common' : table.length, deadLetter: deadLetter ? 'set' : deadLetter }
}

/** An outcome with the queue name it was about replaced, to compare calls made on different queues. */
function named (result, name) {
  if (typeof name !== 'string' || !result.message) return result
  return { ...result, message: result.message.split(name).join('<name>') }
}

const POLICIES = ['standard', 'short', 'singleton', 'stately', 'exclusive', 'key_strict_fifo']

test('createQueue stores every policy and option as pg-boss does, partitioned or not', async () => {
  const dlqA = unique('dlq')
  const dlqB = unique('dlq')
  await ours.createQueue(dlqA)
  await ref.createQueue(dlqB)
  for (const policy of POLICIES) {
    for (const partition of [false, true]) {
      const options = {
        policy,
        partition,
        retryLimit: 5,
        retryDelay: 3,
        retryBackoff: true,
        retryDelayMax: 60,
        expireInSeconds: 120,
        retentionSeconds: 3600,
        deleteAfterSeconds: 0,
        heartbeatSeconds: 30,
        notify: true,
        warningQueueSize: 17
      }
      const a = unique()
      const b = unique()
      await ours.createQueue(a, { ...options, deadLetter: dlqA })
      await ref.createQueue(b, { ...options, deadLetter: dlqB })
      const qa = await ours.getQueue(a)
      const qb = await ref.getQueue(b)
      assert.deepEqual(comparable(qa), comparable(qb), `${policy} partition=${partition}`)
      assert.equal(qa.policy, policy)
      assert.equal(qa.partition, partition)
      assert.equal(qa.deadLetter, dlqA)
      if (partition) {
        const { rows } = await db.query('SELECT to_regclass($1) AS t', [`${SCHEMA}.${qa.table}`])
        assert.ok(rows[0].t, 'partition table exists')
      } else {
        assert.equal(qa.table, 'job_common')
      }
    }
  }
})

test('createQueue with defaults, with options.name, and again with other options (idempotent)', async () => {
  const a = unique()
  const b = unique()
  await ours.createQueue(a)
  await ref.createQueue(b)
  assert.deepEqual(comparable(await ours.getQueue(a)), comparable(await ref.getQueue(b)))

  const c = unique()
  await ours.createQueue(undefined, { name: c, retryLimit: 9 })
  assert.equal((await ours.getQueue(c)).retryLimit, 9)

  const before = await ours.getQueue(a)
  await ours.createQueue(a, { retryLimit: 7, policy: 'short' })
  assert.deepEqual(await ours.getQueue(a), before, 'an existing queue is left unchanged')
  // pg-boss creating our queue again is a no-op too, and vice versa
  await ref.createQueue(a)
  await ours.createQueue(b, { partition: true })
  assert.deepEqual(await ours.getQueue(a), before)
  assert.equal((await ref.getQueue(b)).partition, false)
})

// [label, (name, existing) => [name, options]]: run against both, with fresh names for each.
const CREATE_CASES = [
  ['no name', () => [undefined, {}]],
  ['null name', () => [null, undefined]],
  ['empty name', () => ['', {}]],
  ['numeric name', () => [5, {}]],
  ['object name', () => [{}, {}]],
  ['bad characters', () => ['a b', {}]],
  ['bad characters 2', () => ['a*b', {}]],
  ['unicode', () => ['é', {}]],
  ['ok slashes/dots', n => [`${n}/a.b_c-d`, {}]],
  ['bad policy', n => [n, { policy: 'fifo' }]],
  ['empty policy', n => [n, { policy: '' }]],
  ['null policy', n => [n, { policy: null }]],
  ['numeric policy', n => [n, { policy: 5 }]],
  ['deadLetter number', n => [n, { deadLetter: 5 }]],
  ['deadLetter bad chars', n => [n, { deadLetter: 'a b' }]],
  ['deadLetter empty', n => [n, { deadLetter: '' }]],
  ['deadLetter null', n => [n, { deadLetter: null }]],
  ['deadLetter itself', n => [n, { deadLetter: n }]],
  ['deadLetter missing', n => [n, { deadLetter: `${n}-nope` }]],
  ['deadLetter exists', (n, existing) => [n, { deadLetter: existing }]],
  ['notify string', n => [n, { notify: 'yes' }]],
  ['notify null', n => [n, { notify: null }]],
  ['retryLimit negative', n => [n, { retryLimit: -1 }]],
  ['retryLimit fraction', n => [n, { retryLimit: 1.5 }]],
  ['retryLimit string', n => [n, { retryLimit: '2' }]],
  ['retryLimit null', n => [n, { retryLimit: null }]],
  ['retryDelay negative', n => [n, { retryDelay: -1 }]],
  ['retryDelay string', n => [n, { retryDelay: '1' }]],
  ['retryBackoff string', n => [n, { retryBackoff: 'true' }]],
  ['retryBackoff null', n => [n, { retryBackoff: null }]],
  ['retryDelayMax without backoff', n => [n, { retryDelayMax: 5 }]],
  ['retryDelayMax with backoff false', n => [n, { retryDelayMax: 5, retryBackoff: false }]],
  ['retryDelayMax negative', n => [n, { retryDelayMax: -1, retryBackoff: true }]],
  ['retryDelayMax fraction', n => [n, { retryDelayMax: 1.5, retryBackoff: true }]],
  ['retryDelayMax null', n => [n, { retryDelayMax: null }]],
  ['expireInSeconds 0', n => [n, { expireInSeconds: 0 }]],
  ['expireInSeconds 0.5', n => [n, { expireInSeconds: 0.5 }]],
  ['expireInSeconds 86400', n => [n, { expireInSeconds: 86400 }]],
  ['expireInSeconds 86401', n => [n, { expireInSeconds: 86401 }]],
  ['expireInSeconds string', n => [n, { expireInSeconds: '10' }]],
  ['expireInSeconds bad string', n => [n, { expireInSeconds: 'abc' }]],
  ['expireInSeconds null', n => [n, { expireInSeconds: null }]],
  ['retentionSeconds 0', n => [n, { retentionSeconds: 0 }]],
  ['retentionSeconds null', n => [n, { retentionSeconds: null }]],
  ['deleteAfterSeconds -1', n => [n, { deleteAfterSeconds: -1 }]],
  ['deleteAfterSeconds 0', n => [n, { deleteAfterSeconds: 0 }]],
  ['heartbeatSeconds 5', n => [n, { heartbeatSeconds: 5 }]],
  ['heartbeatSeconds 10.5', n => [n, { heartbeatSeconds: 10.5 }]],
  ['heartbeatSeconds string', n => [n, { heartbeatSeconds: '30' }]],
  ['heartbeatSeconds null', n => [n, { heartbeatSeconds: null }]],
  ['warningQueueSize', n => [n, { warningQueueSize: 5 }]],
  ['undefined retryLimit', n => [n, { retryLimit: undefined }]],
  ['undefined deadLetter', n => [n, { deadLetter: undefined }]],
  ['undefined notify', n => [n, { notify: undefined }]],
  ['undefined heartbeatSeconds', n => [n, { heartbeatSeconds: undefined }]],
  ['undefined retryDelayMax', n => [n, { retryDelayMax: undefined, retryBackoff: true }]],
  ['undefined policy and partition', n => [n, { policy: undefined, partition: undefined }]],
  ['undefined name in options', () => [undefined, { name: undefined }]]
]

test('createQueue validation: outcome and message equal pg-boss 12.38 for every input', async () => {
  const existingA = unique('exists')
  const existingB = unique('exists')
  await ours.createQueue(existingA)
  await ref.createQueue(existingB)
  let failures = 0
  for (const [label, make] of CREATE_CASES) {
    const [na, oa] = make(unique('v'), existingA)
    const [nb, ob] = make(unique('v'), existingB)
    const a = await outcome(() => ours.createQueue(na, oa))
    const b = await outcome(() => ref.createQueue(nb, ob))
    assert.deepEqual(named(a, na), named(b, nb), label)
    if (a.error) {
      failures++
      if (typeof na === 'string') assert.equal(await ours.getQueue(na).catch(() => null), null, `${label}: nothing created`)
    } else {
      assert.deepEqual(comparable(await ours.getQueue(na)), comparable(await ref.getQueue(nb)), `${label}: stored alike`)
    }
  }
  assert.ok(failures > 25, 'the table exercises rejections')
})

test('validation errors are AssertionErrors with pg-boss text', async () => {
  await assert.rejects(ours.createQueue('a b'), err => {
    assert.ok(err instanceof AssertionError)
    assert.equal(err.code, 'ERR_ASSERTION')
    assert.equal(err.message, 'Name can only contain alphanumeric characters, underscores, hyphens, periods, or forward slashes')
    return true
  })
  const n = unique()
  await assert.rejects(ours.createQueue(n, { deadLetter: n }), { name: 'AssertionError', message: 'deadLetter cannot be itself' })
  await assert.rejects(ours.createQueue(n, { deadLetter: 'missing-dlq' }), err => {
    assert.ok(!(err instanceof AssertionError))
    assert.equal(err.message, 'Queue missing-dlq does not exist')
    return true
  })
})

test('updateQueue changes options as pg-boss does, and null clears deadLetter, retryDelayMax, heartbeatSeconds', async () => {
  const dlq = unique('dlq')
  await ours.createQueue(dlq)
  const a = unique()
  const b = unique()
  const initial = { retryBackoff: true, retryDelayMax: 30, heartbeatSeconds: 20, deadLetter: dlq, retryLimit: 4 }
  await ours.createQueue(a, initial)
  await ref.createQueue(b, initial)
  const steps = [
    { retryLimit: 1, retryDelay: 2, expireInSeconds: 60, retentionSeconds: 100, deleteAfterSeconds: 5, notify: true, warningQueueSize: 3 },
    { retryDelayMax: null },
    { heartbeatSeconds: null },
    { deadLetter: null },
    { retryBackoff: false },
    { deadLetter: dlq, heartbeatSeconds: 15 },
    { retryDelayMax: 9, retryBackoff: true },
    { retryLimit: 0, notify: false }
  ]
  for (const step of steps) {
    const ra = await outcome(() => ours.updateQueue(a, step))
    const rb = await outcome(() => ref.updateQueue(b, step))
    assert.deepEqual(ra, rb, JSON.stringify(step))
    const qa = await ours.getQueue(a)
    const qb = await ref.getQueue(b)
    assert.deepEqual(comparable(qa), comparable(qb), JSON.stringify(step))
    assert.ok(qa.updatedOn >= qa.createdOn)
  }
  const q = await ours.getQueue(a)
  assert.equal(q.retryLimit, 0)
  assert.equal(q.retryDelayMax, 9)
  assert.equal(q.heartbeatSeconds, 15)
  assert.equal(q.deadLetter, dlq)
  // each implementation's cache sees the other's update
  await ref.updateQueue(a, { deadLetter: null })
  assert.equal((await ours.getQueue(a)).deadLetter, null)
})

const UPDATE_CASES = [
  ['no options', n => [n, undefined]],
  ['empty options', n => [n, {}]],
  ['policy', n => [n, { policy: 'short' }]],
  ['policy undefined', n => [n, { policy: undefined }]],
  ['partition undefined', n => [n, { partition: undefined }]],
  ['deadLetter undefined', n => [n, { deadLetter: undefined }]],
  ['retryLimit undefined', n => [n, { retryLimit: undefined }]],
  ['partition', n => [n, { partition: true }]],
  ['deadLetter itself', n => [n, { deadLetter: n }]],
  ['deadLetter number', n => [n, { deadLetter: 7 }]],
  ['deadLetter bad chars', n => [n, { deadLetter: 'x y' }]],
  ['retryDelayMax without backoff', n => [n, { retryDelayMax: 5 }]],
  ['retryLimit bad', n => [n, { retryLimit: -2 }]],
  ['expire too long', n => [n, { expireInSeconds: 90000 }]],
  ['heartbeat low', n => [n, { heartbeatSeconds: 1 }]],
  ['notify string', n => [n, { notify: 'no' }]],
  ['bad name', () => ['x y', { retryLimit: 1 }]],
  ['no name', () => [undefined, { retryLimit: 1 }]],
  ['missing queue', () => ['never-created', { retryLimit: 1 }]]
]

test('updateQueue validation: outcome and message equal pg-boss 12.38', async () => {
  const a = unique()
  const b = unique()
  await ours.createQueue(a)
  await ref.createQueue(b)
  for (const [label, make] of UPDATE_CASES) {
    const ra = await outcome(() => ours.updateQueue(...make(a)))
    const rb = await outcome(() => ref.updateQueue(...make(b)))
    assert.deepEqual(named(ra, a), named(rb, b), label)
  }
  assert.deepEqual(comparable(await ours.getQueue(a)), comparable(await ref.getQueue(b)))
})

test('deleteQueue: missing queue is a no-op, jobs go with it, a partitioned queue drops its table', async () => {
  assert.deepEqual(await outcome(() => ours.deleteQueue('never-existed')), await outcome(() => ref.deleteQueue('never-existed')))
  assert.deepEqual(await outcome(() => ours.deleteQueue('bad name')), await outcome(() => ref.deleteQueue('bad name')))
  assert.deepEqual(await outcome(() => ours.deleteQueue()), await outcome(() => ref.deleteQueue()))

  for (const partition of [false, true]) {
    const name = unique('del')
    await ours.createQueue(name, { partition })
    const { table } = await ours.getQueue(name)
    await ours.send(name, { a: 1 })
    await ref.send(name, { a: 2 })
    await ours.deleteQueue(name)
    assert.equal(await ours.getQueue(name), null)
    assert.equal(await ref.getQueue(name), null)
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.job WHERE name = $1`, [name])
    assert.equal(rows[0].n, 0)
    if (partition) {
      const { rows: t } = await db.query('SELECT to_regclass($1) AS t', [`${SCHEMA}.${table}`])
      assert.equal(t[0].t, null, 'partition table dropped')
    }
    // sending to it now fails the same way in both
    assert.deepEqual(await outcome(() => ours.send(name)), await outcome(() => ref.send(name)))
    // and it can be created again
    await ours.createQueue(name, { partition: !partition })
    assert.equal((await ref.getQueue(name)).partition, !partition)
    await ref.deleteQueue(name)
  }
})

test('deleteQueue refuses a queue still used as a dead letter queue, like pg-boss', async () => {
  const dlq = unique('dlq')
  const user = unique()
  await ours.createQueue(dlq)
  await ours.createQueue(user, { deadLetter: dlq })
  await ours.send(dlq, { keep: true })
  const a = await outcome(() => ours.deleteQueue(dlq))
  const b = await outcome(() => ref.deleteQueue(dlq))
  assert.deepEqual(a, b)
  assert.ok(a.error)
  assert.ok(await ours.getQueue(dlq))
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.job WHERE name = $1`, [dlq])
  assert.equal(rows[0].n, 1, 'jobs of a refused queue are kept')
})

test('getQueue / getQueues read identically to pg-boss, field by field and type by type', async () => {
  const names = []
  for (const partition of [false, true]) {
    const n = unique('read')
    names.push(n)
    await ref.createQueue(n, { partition, retryBackoff: true, retryDelayMax: 10 })
    await ours.send(n, { x: 1 })
  }
  // stats written by a pg-boss-only path, so counters are non-zero
  for (const n of names) await ref.getQueueStats(n, { force: true })
  for (const n of names) {
    const qa = await ours.getQueue(n)
    const qb = await ref.getQueue(n)
    assert.deepStrictEqual(qa, qb)
    for (const [k, v] of Object.entries(qb)) {
      assert.equal(Object.prototype.toString.call(qa[k]), Object.prototype.toString.call(v), k)
    }
    assert.deepStrictEqual(Object.keys(qa), Object.keys(qb), 'same key order')
  }
  assert.deepStrictEqual(await ours.getQueue('no-such-queue'), await ref.getQueue('no-such-queue'))
  assert.deepStrictEqual(await ours.getQueues(), await ref.getQueues())
  assert.deepStrictEqual(await ours.getQueues(names), await ref.getQueues(names))
  assert.deepStrictEqual(await ours.getQueues(names[0]), await ref.getQueues(names[0]))
  assert.deepStrictEqual(await ours.getQueues([]), await ref.getQueues([]))
  assert.deepStrictEqual(await ours.getQueues(['no-such-queue']), await ref.getQueues(['no-such-queue']))
  for (const options of [{ limit: 2 }, { limit: 1, after: names[0] }, { after: 'q' }, { limit: 100000 }]) {
    assert.deepStrictEqual(await ours.getQueues(undefined, options), await ref.getQueues(undefined, options), JSON.stringify(options))
    assert.deepStrictEqual(await ours.getQueues(names, options), await ref.getQueues(names, options), JSON.stringify(options))
  }
  // paging walks every queue once
  const all = (await ref.getQueues()).map(q => q.name)
  const paged = []
  let after
  for (;;) {
    const page = await ours.getQueues(undefined, { limit: 3, after })
    if (!page.length) break
    paged.push(...page.map(q => q.name))
    after = page.at(-1).name
  }
  assert.deepEqual(paged, all)
})

test('getQueues / getQueue argument validation equals pg-boss', async () => {
  const cases = [
    [['bad name']],
    [[5]],
    [undefined, { limit: 0 }],
    [undefined, { limit: 1.5 }],
    [undefined, { limit: '5' }],
    [undefined, { limit: 100001 }],
    [undefined, { after: '' }],
    [undefined, { after: 5 }],
    [undefined, { after: null }],
    [undefined, { limit: null }],
    [undefined, { limit: undefined, after: undefined }],
    [null, null],
    [5],
    [{}]
  ]
  for (const args of cases) {
    assert.deepEqual(await outcome(() => ours.getQueues(...args)), await outcome(() => ref.getQueues(...args)), JSON.stringify(args))
  }
  for (const name of [undefined, '', 'bad name', 5]) {
    assert.deepEqual(await outcome(() => ours.getQueue(name)), await outcome(() => ref.getQueue(name)), String(name))
  }
})

test('getQueueStats counts jobs like pg-boss and caches them on the queue row', async () => {
  const n = unique('stats')
  await ours.createQueue(n)
  await ours.send(n, {})
  await ours.send(n, {}, { startAfter: 3600 })
  await ref.send(n, {})
  const [job] = await ours.fetch(n)
  await ours.fail(n, job.id)
  await ours.send(n, {}, { retryLimit: 0, priority: 10 }).then(() => ours.fetch(n)).then(([j]) => ours.fail(n, j.id))

  const a = await ours.getQueueStats(n, { force: true })
  const b = await ref.getQueueStats(n, { force: true })
  assert.equal(a.length, 1)
  const strip = ({ capturedOn, ...rest }) => {
    assert.ok(capturedOn instanceof Date)
    return rest
  }
  assert.deepStrictEqual(a.map(strip), b.map(strip))
  assert.deepStrictEqual(Object.keys(a[0]), Object.keys(b[0]))
  assert.equal(a[0].queuedCount, 3)
  assert.equal(a[0].deferredCount, 1)
  assert.equal(a[0].failedCount, 1)
  assert.equal(a[0].totalCount, 4)
  // a fresh cache is served by both without recounting
  const again = await ours.getQueueStats(n)
  assert.deepStrictEqual(again, await ref.getQueueStats(n))
  const q = await ours.getQueue(n)
  assert.equal(q.queuedCount, 3)

  assert.deepEqual(await outcome(() => ours.getQueueStats('no-such-queue')), await outcome(() => ref.getQueueStats('no-such-queue')))
  assert.deepEqual(await outcome(() => ours.getQueueStats('bad name')), await outcome(() => ref.getQueueStats('bad name')))
  assert.deepEqual(await outcome(() => ours.getQueueStats()), await outcome(() => ref.getQueueStats()))
})

async function fill (name) {
  // 2 created, 1 retry, 1 active, 1 completed, 1 cancelled, 1 failed
  const send = (o = {}) => ours.send(name, {}, o)
  await send({ priority: 9 })
  const [active] = await ours.fetch(name)
  await send({ priority: 8 })
  const [c] = await ours.fetch(name)
  await ours.complete(name, c.id)
  await send({ priority: 7, retryLimit: 1 })
  const [r] = await ours.fetch(name)
  await ours.fail(name, r.id)
  await send({ priority: 10, retryLimit: 0 })
  const [f] = await ours.fetch(name)
  if (f.id === r.id) throw new Error('unexpected order')
  await ours.fail(name, f.id)
  const x = await send()
  await ours.cancel(name, x)
  await send({ startAfter: 600 })
  await send()
  return active
}

async function states (name) {
  const { rows } = await db.query(`SELECT state::text, count(*)::int AS n FROM ${SCHEMA}.job WHERE name = $1 GROUP BY 1 ORDER BY 1`, [name])
  return Object.fromEntries(rows.map(r => [r.state, r.n]))
}

test('deleteQueuedJobs / deleteStoredJobs / deleteAllJobs delete and return counts like pg-boss', async () => {
  for (const partition of [false, true]) {
    for (const method of ['deleteQueuedJobs', 'deleteStoredJobs', 'deleteAllJobs']) {
      const a = unique('bulk')
      const b = unique('bulk')
      await ours.createQueue(a, { partition })
      await ours.createQueue(b, { partition })
      await fill(a)
      await fill(b)
      const before = await states(a)
      assert.deepEqual(before, await states(b))
      // cached counters in place, so what each delete does to them shows
      await ref.getQueueStats(a, { force: true })
      await ref.getQueueStats(b, { force: true })
      const ra = await ours[method](a)
      const rb = await ref[method](b)
      assert.deepStrictEqual(ra, rb, `${method} partition=${partition}`)
      assert.deepEqual(await states(a), await states(b), `${method} partition=${partition}`)
      if (method === 'deleteQueuedJobs') assert.equal(ra, 3)
      if (method === 'deleteStoredJobs') assert.equal(ra, 3)
      if (method === 'deleteAllJobs') assert.equal(ra, partition ? null : 7)
      const qa = await ours.getQueue(a)
      const qb = await ref.getQueue(b)
      assert.deepEqual(comparable(qa), comparable(qb), `${method} partition=${partition}: counters`)
    }
  }
  for (const method of ['deleteQueuedJobs', 'deleteStoredJobs', 'deleteAllJobs']) {
    for (const name of ['no-such-queue', 'bad name']) {
      assert.deepEqual(await outcome(() => ours[method](name)), await outcome(() => ref[method](name)), `${method}(${name})`)
    }
  }
  for (const method of ['deleteQueuedJobs', 'deleteStoredJobs']) {
    assert.deepEqual(await outcome(() => ours[method]()), await outcome(() => ref[method]()), `${method}()`)
  }
})

test('deleteAllJobs() without a name empties every queue and returns null like pg-boss', async () => {
  const n = unique('all')
  await ours.createQueue(n, { partition: true })
  await ours.send(n, {})
  await ref.send(n, {})
  assert.equal(await ours.deleteAllJobs(), null)
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.job`)
  assert.equal(rows[0].n, 0)
  await ours.send(n, {})
  assert.equal(await ref.deleteAllJobs(), null)
  const q = await ours.getQueue(n)
  assert.equal(q.totalCount, 0)
  assert.equal(q.queuedCount, 0)
})
