// update() and upsert(): both call forms, their checks, responses, rows, NOTIFY wake-ups and errors,
// each compared with pg-boss 12.38 doing the same on its own queue of the same database.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { bothForFile, outcome, pg, connectionString, sleep } from './helpers.mjs'

const SCHEMA = 'ups_upsert_test'
let ours, ref, db
bothForFile(SCHEMA, both => ({ ours, ref, db } = both))

let seq = 0
const unique = (prefix = 'u') => `${prefix}-${++seq}`

/** One queue per implementation, created by it with `options`. */
async function twoQueues (options = {}) {
  const a = unique()
  const b = unique()
  await ours.createQueue(a, options)
  await ref.createQueue(b, options)
  return [a, b]
}

async function row (id) {
  const { rows } = await db.query(`SELECT * FROM ${SCHEMA}.job WHERE id = $1`, [id])
  assert.equal(rows.length, 1, `job ${id} exists`)
  return rows[0]
}

/** A job row with what differs between two implementations doing the same (ids, queue, clock) set aside; the start is compared apart, within a tolerance. */
async function comparable (id) {
  const r = await row(id)
  const out = { ...r }
  for (const c of ['id', 'name', 'created_on', 'start_after', 'keep_until', 'trace_context']) delete out[c]
  out.retention = Math.round((r.keep_until - r.start_after) / 1000)
  if (out.dead_letter) out.dead_letter = 'set'
  return out
}

/** A response with its job ids replaced by their position among `ids` (or 'new'). */
function positions (response, ids) {
  return { ...response, jobs: response.jobs.map(id => ids.includes(id) ? ids.indexOf(id) : 'new').sort() }
}

/** The same call on both implementations (`args(queue)` builds the arguments), compared. */
async function sameOutcome (method, args, [a, b] = ['some-queue', 'some-queue']) {
  const mine = await outcome(() => ours[method](...args(a)))
  const theirs = await outcome(() => ref[method](...args(b)))
  assert.deepEqual(mine, theirs, `${method}(${JSON.stringify(args('q'))})`)
  return mine
}

test('update() and upsert() refuse bad arguments with pg-boss 12.38\'s errors, in its order', async () => {
  const [a, b] = await twoQueues()
  const id = randomUUID()
  const cases = [
    q => [q, { v: 1 }],
    q => [q, { v: 1 }, {}],
    q => [q, { v: 1 }, { id, singletonKey: 'k' }],
    q => [q, { v: 1 }, { id, match: 'all' }],
    q => [q, { v: 1 }, { id, match: undefined }],
    q => [q, { v: 1 }, { singletonKey: 'k', match: 'latest' }],
    q => [q, { v: 1 }, { singletonKey: 'k', match: null }],
    q => [q, () => {}, { id }],
    q => [q, { v: 1 }, { id, priority: 1.5 }],
    q => [q, { v: 1 }, { id, priority: undefined }],
    q => [q, { v: 1 }, { id, retryLimit: -1 }],
    q => [q, { v: 1 }, { id, retryDelay: 'x' }],
    q => [q, { v: 1 }, { id, retryBackoff: 1 }],
    q => [q, { v: 1 }, { id, retryDelayMax: 5 }],
    q => [q, { v: 1 }, { id, retryBackoff: true, retryDelayMax: -1 }],
    q => [q, { v: 1 }, { id, expireInSeconds: 0 }],
    q => [q, { v: 1 }, { id, expireInSeconds: 86401 }],
    q => [q, { v: 1 }, { id, retentionSeconds: 0 }],
    q => [q, { v: 1 }, { id, heartbeatSeconds: 5 }],
    q => [q, { v: 1 }, { id, group: 'g' }],
    q => [q, { v: 1 }, { id, group: { id: '' } }],
    q => [q, { v: 1 }, { id, group: { id: 'g', tier: '' } }],
    q => [q, { v: 1 }, 'id'],
    q => [q, { v: 1 }, 5],
    q => [{ name: q, data: { v: 1 } }],
    q => [{ name: q, data: { v: 1 }, options: { id } }, {}],
    q => [{ data: { v: 1 }, options: { id } }],
    q => [null],
    q => [undefined, { v: 1 }, { id }],
    q => [''],
    q => [5, { v: 1 }, { id }],
    q => [{ name: 5, options: { id } }],
    q => [{ name: 'bad name!', options: { id } }],
    q => ['no-such-queue', { v: 1 }, { id }],
    q => [q, { v: 1 }, { id: 'not-a-uuid' }]
  ]
  for (const method of ['update', 'upsert']) {
    for (const args of cases) {
      const result = await sameOutcome(method, args, [a, b])
      assert.ok(result.error || result.ok, 'an answer either way')
    }
  }
  // an upsert by id on a key_strict_fifo queue needs a key for its insert
  const [fa, fb] = await twoQueues({ policy: 'key_strict_fifo' })
  const r = await sameOutcome('upsert', q => [q, { v: 1 }, { id }], [fa, fb])
  assert.equal(r.message, 'key_strict_fifo queues require a singletonKey')
})

test('update() by id edits only the fields given, in both call forms, as pg-boss writes them', async () => {
  const [a, b] = await twoQueues()
  const [dlqA, dlqB] = await twoQueues()
  const edits = [
    [{ v: 2 }, {}],
    [null, {}],
    [undefined, { priority: 7 }],
    [{ v: 3 }, { retryLimit: 5, retryDelay: 4, retryBackoff: true, retryDelayMax: 60 }],
    [undefined, { expireInSeconds: 120, deleteAfterSeconds: 30, heartbeatSeconds: 20 }],
    [undefined, { startAfter: 600 }],
    [undefined, { startAfter: 0 }],
    [undefined, { startAfter: -30 }],
    [undefined, { startAfter: new Date(Date.now() + 3600_000) }],
    [undefined, { startAfter: '2099-01-01 08:00' }],
    [undefined, { startAfter: 600, retentionSeconds: 100 }],
    [undefined, { retentionSeconds: 7200 }],
    [undefined, { group: { id: 'g1', tier: 'gold' } }],
    [undefined, { retryDelayMax: null, heartbeatSeconds: null }],
    [undefined, { deadLetter: 'DLQ' }],
    [undefined, { deadLetter: null }],
    [undefined, { startAfter: true, singletonKey: undefined }]
  ]
  for (const [form, object] of [['positional', false], ['object', true]]) {
    for (const [data, options] of edits) {
      const before = { priority: 1, startAfter: 300, retryLimit: 1, singletonKey: 'sk', group: { id: 'g0' }, heartbeatSeconds: 30 }
      const idA = await ours.send(a, { v: 1 }, before)
      const idB = await ref.send(b, { v: 1 }, before)
      const call = (boss, q, id, dlq) => {
        const o = { ...options, id }
        if (o.deadLetter === 'DLQ') o.deadLetter = dlq
        if (!object) return boss.update(q, data, o)
        return boss.update(data === undefined ? { name: q, options: o } : { name: q, data, options: o })
      }
      const mine = await call(ours, a, idA, dlqA)
      const theirs = await call(ref, b, idB, dlqB)
      assert.deepEqual(mine, { jobs: [idA], updated: 1 }, `${form} ${JSON.stringify(options)}`)
      assert.deepEqual(theirs, { jobs: [idB], updated: 1 })
      assert.deepEqual(await comparable(idA), await comparable(idB), `${form} ${JSON.stringify([data, options])}`)
      const [ra, rb] = [await row(idA), await row(idB)]
      assert.ok(Math.abs((ra.start_after - ra.created_on) - (rb.start_after - rb.created_on)) < 3000, 'same start')
    }
  }
})

test('update() by singletonKey edits the newest, the oldest or every queued match', async () => {
  for (const match of [undefined, 'newest', 'oldest', 'all']) {
    const [a, b] = await twoQueues()
    const ids = { a: [], b: [] }
    for (let i = 0; i < 3; i++) {
      ids.a.push(await ours.send(a, { i }, { singletonKey: 'k' }))
      ids.b.push(await ref.send(b, { i }, { singletonKey: 'k' }))
      await sleep(5)
    }
    await ours.send(a, { other: true }, { singletonKey: 'other' })
    await ref.send(b, { other: true }, { singletonKey: 'other' })
    const options = match ? { singletonKey: 'k', match } : { singletonKey: 'k' }
    const mine = await ours.update(a, { edited: true }, options)
    const theirs = await ref.update(b, { edited: true }, options)
    assert.deepEqual(positions(mine, ids.a), positions(theirs, ids.b), `match ${match}`)
    assert.equal(mine.updated, match === 'all' ? 3 : 1)
    for (let i = 0; i < 3; i++) assert.deepEqual((await row(ids.a[i])).data, (await row(ids.b[i])).data)
  }
})

test('update() leaves active, finished and missing jobs alone and answers { jobs: [], updated: 0 }', async () => {
  const [a, b] = await twoQueues()
  for (const [boss, q] of [[ours, a], [ref, b]]) {
    const id = await boss.send(q, { v: 1 }, { singletonKey: 'k' })
    await boss.fetch(q)
    assert.deepEqual(await boss.update(q, { v: 2 }, { id }), { jobs: [], updated: 0 })
    assert.deepEqual(await boss.update(q, { v: 2 }, { singletonKey: 'k' }), { jobs: [], updated: 0 })
    assert.deepEqual(await boss.update(q, { v: 2 }, { id: randomUUID() }), { jobs: [], updated: 0 })
    assert.deepEqual((await row(id)).data, { v: 1 })
    assert.equal((await row(id)).state, 'active')
  }
})

test('update() works on a partitioned queue, and a missing dead letter queue fails as in pg-boss', async () => {
  const [a, b] = await twoQueues({ partition: true })
  const idA = await ours.send(a, { v: 1 })
  const idB = await ref.send(b, { v: 1 })
  assert.deepEqual(await ours.update(a, { v: 2 }, { id: idA }), { jobs: [idA], updated: 1 })
  assert.deepEqual(await ref.update(b, { v: 2 }, { id: idB }), { jobs: [idB], updated: 1 })
  assert.deepEqual(await comparable(idA), await comparable(idB))
  const [c, d] = await twoQueues()
  const idC = await ours.send(c, { v: 1 })
  const idD = await ref.send(d, { v: 1 })
  for (const method of ['update', 'upsert']) {
    const mine = await outcome(() => ours[method](c, null, { id: idC, deadLetter: 'no-such-queue' }))
    const theirs = await outcome(() => ref[method](d, null, { id: idD, deadLetter: 'no-such-queue' }))
    assert.deepEqual(mine, theirs, method)
    assert.ok(mine.error, method)
  }
  assert.equal((await row(idC)).dead_letter, null, 'nothing written')
})

test('upsert() inserts when nothing matches, edits in place when a queued job does, as pg-boss does', async () => {
  const [a, b] = await twoQueues()
  const [idA, idB] = [randomUUID(), randomUUID()]
  // by id: insert with the id given, then edit it
  const steps = [
    [(boss, q, id) => boss.upsert(q, { v: 1 }, { id, priority: 2, startAfter: 60 }), { updated: 0, inserted: 1 }],
    [(boss, q, id) => boss.upsert({ name: q, data: { v: 2 }, options: { id, retryLimit: 4 } }), { updated: 1, inserted: 0 }],
    [(boss, q, id) => boss.upsert({ name: q, options: { id, priority: 9 } }), { updated: 1, inserted: 0 }]
  ]
  for (const [step, counts] of steps) {
    const mine = await step(ours, a, idA)
    const theirs = await step(ref, b, idB)
    assert.deepEqual(mine, { jobs: [idA], ...counts })
    assert.deepEqual(theirs, { jobs: [idB], ...counts })
    assert.deepEqual(await comparable(idA), await comparable(idB))
  }
  // by key: insert a new job marked as upserted by its key, then edit it
  const first = [await ours.upsert(a, { k: 1 }, { singletonKey: 'key' }), await ref.upsert(b, { k: 1 }, { singletonKey: 'key' })]
  for (const r of first) assert.equal(r.inserted, 1)
  assert.deepEqual(await comparable(first[0].jobs[0]), await comparable(first[1].jobs[0]))
  assert.equal((await row(first[0].jobs[0])).upsert_by_key, true)
  const second = [await ours.upsert(a, { k: 2 }, { singletonKey: 'key' }), await ref.upsert(b, { k: 2 }, { singletonKey: 'key' })]
  assert.deepEqual(second[0], { jobs: first[0].jobs, updated: 1, inserted: 0 })
  assert.deepEqual(second[1], { jobs: first[1].jobs, updated: 1, inserted: 0 })
  assert.deepEqual(await comparable(first[0].jobs[0]), await comparable(first[1].jobs[0]))
})

test('upsert() across policies: a fresh job beside an active one, a no-op under exclusive, one queued job under short', async () => {
  for (const policy of ['standard', 'short', 'singleton', 'stately', 'exclusive', 'key_strict_fifo']) {
    const [a, b] = await twoQueues({ policy })
    const answers = []
    for (const [boss, q] of [[ours, a], [ref, b]]) {
      const sent = await boss.send(q, { v: 1 }, { singletonKey: 'k' })
      await boss.fetch(q)
      const r1 = await boss.upsert(q, { v: 2 }, { singletonKey: 'k' })
      const r2 = await boss.upsert(q, { v: 3 }, { singletonKey: 'k' })
      const { rows } = await db.query(`SELECT state, data FROM ${SCHEMA}.job WHERE name = $1 ORDER BY created_on`, [q])
      answers.push({
        r1: positions(r1, [sent]),
        r2: { ...r2, jobs: r2.jobs.map(id => id === r1.jobs[0] ? 'r1' : id === sent ? 'sent' : 'other') },
        rows
      })
    }
    assert.deepEqual(answers[0], answers[1], policy)
  }
})

test('concurrent upsert() calls of one key create one job: the others edit it', async () => {
  const [a] = await twoQueues()
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => ours.upsert(a, { i }, { singletonKey: 'race' })))
  assert.equal(results.filter(r => r.inserted === 1).length, 1, JSON.stringify(results))
  for (const r of results) assert.equal(r.updated + r.inserted, 1)
  const { rows } = await db.query(`SELECT id FROM ${SCHEMA}.job WHERE name = $1`, [a])
  assert.equal(rows.length, 1)
  assert.ok(results.every(r => r.jobs[0] === rows[0].id))
})

test('update() and upsert() wake a notify queue\'s listeners when the job they touch is runnable now, as pg-boss does', async () => {
  const [a, b] = await twoQueues({ notify: true })
  const listener = new pg.Client({ connectionString })
  await listener.connect()
  const heard = []
  listener.on('notification', n => heard.push(n.payload))
  // the channel is the one pg-boss's own listener subscribes to; found from a send, which notifies
  const { rows } = await db.query("SELECT 'pgboss_' || left(encode(sha224(convert_to($1, 'UTF8')), 'hex'), 24) AS c", [SCHEMA])
  await listener.query(`LISTEN ${rows[0].c}`)
  try {
    const expectHeard = async (queue, yes, what) => {
      await sleep(300)
      assert.equal(heard.includes(queue), yes, `${what} on ${queue}: ${JSON.stringify(heard)}`)
      heard.length = 0
    }
    for (const [boss, q] of [[ours, a], [ref, b]]) {
      await boss.send(q, { v: 0 }) // a sanity check that the channel is right
      await expectHeard(q, true, 'send')
      const id = await boss.send(q, { v: 1 }, { startAfter: 3600 })
      await expectHeard(q, false, 'deferred send')
      await boss.update(q, { v: 2 }, { id })
      await expectHeard(q, false, 'update of a deferred job')
      await boss.update(q, null, { id, startAfter: 0 })
      await expectHeard(q, true, 'update pulling it forward')
      await boss.upsert(q, { v: 3 }, { singletonKey: 'later', startAfter: 3600 })
      await expectHeard(q, false, 'upsert inserting a deferred job')
      await boss.upsert(q, { v: 4 }, { singletonKey: 'now' })
      await expectHeard(q, true, 'upsert inserting a runnable job')
    }
  } finally {
    await listener.end()
  }
})

test('update() and upsert() with a db run in the caller\'s transaction', async () => {
  const [a] = await twoQueues()
  const id = await ours.send(a, { v: 1 })
  const client = new pg.Client({ connectionString })
  await client.connect()
  const txdb = { executeSql: (text, values) => client.query(text, values) }
  try {
    await client.query('BEGIN')
    assert.deepEqual(await ours.update(a, { v: 2 }, { id, db: txdb }), { jobs: [id], updated: 1 })
    const inserted = await ours.upsert({ name: a, data: { v: 3 }, options: { singletonKey: 'tx', db: txdb } })
    assert.equal(inserted.inserted, 1)
    await client.query('ROLLBACK')
  } finally {
    await client.end()
  }
  assert.deepEqual((await row(id)).data, { v: 1 }, 'the edit rolled back with the transaction')
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.job WHERE name = $1`, [a])
  assert.equal(rows[0].n, 1, 'the insert rolled back too')
})
