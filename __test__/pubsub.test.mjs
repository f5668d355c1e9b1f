// Pub/sub: subscribe(), unsubscribe() and publish(), each compared with pg-boss 12.38 on the same
// database, and the subscriptions of one honoured by the other.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss } from '../index.mjs'
import { bothForFile, connectionString, outcome, pg, sleep } from './helpers.mjs'

const SCHEMA = 'pgbn_test_pubsub'
let ours, ref, db
bothForFile(SCHEMA, both => ({ ours, ref, db } = both))

let seq = 0
const unique = (prefix = 'ps') => `${prefix}-${++seq}`

/** An IDatabase over one node-postgres client, so statements share its transaction. */
const wrap = client => ({ executeSql: (text, values) => client.query(text, values) })

/** Queues created by `boss`, each subscribed to `event` by `boss`. */
async function subscribedQueues (boss, event, count, options = {}) {
  const names = []
  for (let i = 0; i < count; i++) {
    const name = unique('q')
    await boss.createQueue(name, options)
    await boss.subscribe(event, name)
    names.push(name)
  }
  return names
}

async function jobsIn (name) {
  const { rows } = await db.query(`SELECT * FROM ${SCHEMA}.job WHERE name = $1 ORDER BY created_on, id`, [name])
  return rows
}

async function subscriptionsOf (event) {
  const { rows } = await db.query(`SELECT * FROM ${SCHEMA}.subscription WHERE event = $1 ORDER BY name`, [event])
  return rows
}

/** `outcome()` plus an AggregateError's `errors`. */
async function result (fn) {
  try {
    return { ok: await fn() }
  } catch (err) {
    return { error: err?.constructor?.name, code: err?.code, message: err?.message, errors: err?.errors }
  }
}

test('subscribe(), unsubscribe() and publish() refuse a missing event or queue name as pg-boss does', async () => {
  const calls = [
    ['subscribe'], ['subscribe', 'e'], ['subscribe', undefined, 'q'], ['subscribe', '', 'q'], ['subscribe', 0, 'q'], ['subscribe', 'e', null],
    ['unsubscribe'], ['unsubscribe', 'foo'], ['unsubscribe', null, 'q'], ['unsubscribe', 'e', ''],
    ['publish'], ['publish', ''], ['publish', null, { a: 1 }], ['publish', false]
  ]
  for (const [method, ...args] of calls) {
    const mine = await outcome(() => ours[method](...args))
    assert.deepEqual(mine, { error: 'AssertionError', code: 'ERR_ASSERTION', message: 'Missing required argument' }, `${method}(${args.join(', ')})`)
    assert.deepEqual(mine, await outcome(() => ref[method](...args)), `${method}(${args.join(', ')})`)
  }
})

test('subscribe() writes one subscription row and resolves undefined; subscribing again only moves updated_on', async () => {
  const event = unique('e')
  const name = unique('q')
  await ours.createQueue(name)
  assert.equal(await ours.subscribe(event, name), undefined)
  const [first, ...more] = await subscriptionsOf(event)
  assert.equal(more.length, 0)
  assert.equal(first.name, name)
  assert.equal(+first.created_on, +first.updated_on)
  await sleep(20)
  await ours.subscribe(event, name)
  const [again, ...none] = await subscriptionsOf(event)
  assert.equal(none.length, 0)
  assert.equal(+again.created_on, +first.created_on)
  assert.ok(again.updated_on > first.updated_on)
})

test('subscribe() to a queue that does not exist fails on the foreign key, as with pg-boss, and writes nothing', async () => {
  const event = unique('e')
  const mine = await outcome(() => ours.subscribe(event, 'no-such-queue'))
  assert.equal(mine.code, '23503')
  assert.equal(mine.message, 'insert or update on table "subscription" violates foreign key constraint "subscription_name_fkey"')
  assert.deepEqual(mine, await outcome(() => ref.subscribe(event, 'no-such-queue')))
  assert.deepEqual(await subscriptionsOf(event), [])
})

test('events and queue names that are not strings are stored as node-postgres sends them, as by pg-boss', async () => {
  const [a, b] = [unique('q'), unique('q')]
  await ours.createQueue(a)
  await ours.createQueue(b)
  for (const event of [42, true, { kind: 'order' }, ['x', 'y"z']]) {
    await ours.subscribe(event, a)
    await ref.subscribe(event, b)
  }
  const { rows } = await db.query(`SELECT event, array_agg(name ORDER BY name) AS names FROM ${SCHEMA}.subscription WHERE name IN ($1, $2) GROUP BY event ORDER BY event`, [a, b])
  assert.deepEqual(rows, [
    { event: '42', names: [a, b] },
    { event: 'true', names: [a, b] },
    { event: '{"kind":"order"}', names: [a, b] },
    { event: '{"x","y\\"z"}', names: [a, b] }
  ])
  await ours.publish(42)
  assert.equal((await jobsIn(a)).length, 1)
})

test('publish() with no subscriber resolves undefined and sends nothing, not even to a queue named after the event', async () => {
  const event = unique('e')
  await ours.createQueue(event)
  assert.deepEqual(await outcome(() => ours.publish(event, { a: 1 })), { ok: undefined })
  assert.deepEqual(await outcome(() => ref.publish(event, { a: 1 })), { ok: undefined })
  assert.deepEqual(await jobsIn(event), [])
})

test('publish() to three subscribed queues creates one job in each, with the data and the send options applied as pg-boss applies them', async () => {
  const options = { priority: 3, retryLimit: 5, retryDelay: 2, singletonKey: 'k', startAfter: 60, expireInSeconds: 30, group: { id: 'g', tier: 't' } }
  const sent = {}
  for (const [label, boss] of [['ours', ours], ['ref', ref]]) {
    const event = unique('e')
    // one partitioned queue: its jobs go to its own table
    const queues = [
      ...await subscribedQueues(boss, event, 2),
      ...await subscribedQueues(boss, event, 1, { partition: true, retryBackoff: true })
    ]
    assert.equal(await boss.publish(event, { order: 7 }, options), undefined)
    sent[label] = []
    for (const name of queues) {
      const rows = await jobsIn(name)
      assert.equal(rows.length, 1, `${label}: one job in ${name}`)
      const { id, name: _, created_on: created, start_after: start, keep_until: keep, ...rest } = rows[0]
      assert.equal(Math.round((start - created) / 1000), 60)
      sent[label].push({ ...rest, delay: Math.round((start - created) / 1000) })
    }
  }
  assert.equal(sent.ours[0].priority, 3)
  assert.deepEqual(sent.ours[0].data, { order: 7 })
  assert.equal(sent.ours[2].retry_backoff, true)
  assert.deepEqual(sent.ours, sent.ref)
})

test('unsubscribe() stops delivery to that queue only; unsubscribing what is not subscribed is no error', async () => {
  const event = unique('e')
  const [a, b] = await subscribedQueues(ours, event, 2)
  await ours.publish(event)
  assert.equal(await ours.unsubscribe(event, b), undefined)
  assert.deepEqual((await subscriptionsOf(event)).map(s => s.name), [a])
  await ours.publish(event)
  assert.equal((await jobsIn(a)).length, 2)
  assert.equal((await jobsIn(b)).length, 1)
  assert.deepEqual(await outcome(() => ours.unsubscribe(event, b)), { ok: undefined })
  assert.deepEqual(await outcome(() => ours.unsubscribe(unique('e'), 'no-such-queue')), { ok: undefined })
})

test('a subscription made by pg-boss is honoured by our publish, and ours by its publish (one schema, both fleets)', async () => {
  const event = unique('e')
  const [theirs] = await subscribedQueues(ref, event, 1)
  const [mine] = await subscribedQueues(ours, event, 1)
  await ours.publish(event, { from: 'ours' })
  await ref.publish(event, { from: 'ref' })
  for (const name of [theirs, mine]) {
    assert.deepEqual((await jobsIn(name)).map(j => j.data.from).sort(), ['ours', 'ref'])
  }
  // and an unsubscribe by either removes the other's subscription
  await ref.unsubscribe(event, mine)
  await ours.unsubscribe(event, theirs)
  assert.deepEqual(await subscriptionsOf(event), [])
})

test('one refused send does not stop the others: a key_strict_fifo subscriber without a singletonKey fails alone, in an AggregateError naming it', async () => {
  const event = unique('e')
  const [a, b] = await subscribedQueues(ours, event, 2)
  const [fifo] = await subscribedQueues(ours, event, 1, { policy: 'key_strict_fifo' })
  const mine = await result(() => ours.publish(event, { n: 1 }))
  assert.deepEqual(mine, {
    error: 'AggregateError',
    code: undefined,
    message: `publish('${event}') failed for 1 of 3 subscribed queue(s)`,
    errors: [`${fifo}: key_strict_fifo queues require a singletonKey`]
  })
  assert.deepEqual(mine, await result(() => ref.publish(event, { n: 1 })))
  // one job from each publish in each of the other queues
  assert.equal((await jobsIn(a)).length, 2)
  assert.equal((await jobsIn(b)).length, 2)
  assert.deepEqual(await jobsIn(fifo), [])
})

test('send options every subscriber refuses fail for each of them, as with pg-boss, and for none when nobody is subscribed', async () => {
  const event = unique('e')
  const queues = await subscribedQueues(ours, event, 2)
  const cases = [
    [{}, { priority: 1.5 }],
    [{}, 'not an object'],
    [() => {}, {}],
    [{}, { deadLetter: 'no-such-dlq' }],
    [{}, { retryLimit: -1 }]
  ]
  for (const [data, options] of cases) {
    const mine = await result(() => ours.publish(event, data, options))
    assert.equal(mine.error, 'AggregateError', JSON.stringify(options))
    assert.equal(mine.errors.length, 2)
    assert.deepEqual(mine, await result(() => ref.publish(event, data, options)), JSON.stringify(options))
    assert.deepEqual(await outcome(() => ours.publish(unique('e'), data, options)), { ok: undefined })
  }
  for (const name of queues) assert.deepEqual(await jobsIn(name), [])
})

test('a policy that skips the insert is no failure: a short queue that already has a queued job', async () => {
  const event = unique('e')
  const [plain] = await subscribedQueues(ours, event, 1)
  const [short] = await subscribedQueues(ours, event, 1, { policy: 'short' })
  await ours.publish(event)
  assert.deepEqual(await outcome(() => ours.publish(event)), { ok: undefined })
  assert.deepEqual(await outcome(() => ref.publish(event)), { ok: undefined })
  assert.equal((await jobsIn(plain)).length, 3)
  assert.equal((await jobsIn(short)).length, 1)
})

test('deleting a queue removes its subscriptions, so a publish no longer reaches it', async () => {
  const event = unique('e')
  const [kept, deleted] = await subscribedQueues(ours, event, 2)
  await ours.deleteQueue(deleted)
  assert.deepEqual((await subscriptionsOf(event)).map(s => s.name), [kept])
  assert.deepEqual(await outcome(() => ours.publish(event)), { ok: undefined })
  assert.equal((await jobsIn(kept)).length, 1)
})

test('publish({ db }) sends in the caller\'s transaction (ROLLBACK leaves no job, COMMIT keeps them)', async () => {
  const event = unique('e')
  const queues = await subscribedQueues(ours, event, 2)
  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    await client.query('BEGIN')
    await ours.publish(event, { tx: 'rollback' }, { db: wrap(client) })
    const { rows: inside } = await client.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.job WHERE name = ANY($1)`, [queues])
    assert.equal(inside[0].n, 2)
    for (const name of queues) assert.deepEqual(await jobsIn(name), [], 'not visible outside the transaction')
    await client.query('ROLLBACK')
    for (const name of queues) assert.deepEqual(await jobsIn(name), [])

    await client.query('BEGIN')
    await ours.publish(event, { tx: 'commit' }, { db: wrap(client) })
    await client.query('COMMIT')
    for (const name of queues) assert.deepEqual((await jobsIn(name)).map(j => j.data), [{ tx: 'commit' }])
  } finally {
    await client.end()
  }
})

test('publish({ db }) reads the subscriptions on the instance\'s own connection, as pg-boss does: one made in the caller\'s open transaction is not seen', async () => {
  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    for (const boss of [ours, ref]) {
      const event = unique('e')
      const [committed] = await subscribedQueues(boss, event, 1)
      const pending = unique('q')
      await boss.createQueue(pending)
      await client.query('BEGIN')
      await client.query(`INSERT INTO ${SCHEMA}.subscription (event, name) VALUES ($1, $2)`, [event, pending])
      await boss.publish(event, {}, { db: wrap(client) })
      const { rows } = await client.query(`SELECT name FROM ${SCHEMA}.job WHERE name = ANY($1)`, [[committed, pending]])
      await client.query('COMMIT')
      assert.deepEqual(rows.map(r => r.name), [committed])
    }
  } finally {
    await client.end()
  }
})

test('with the constructor db, subscribe(), unsubscribe() and publish() run through its executeSql', async () => {
  const texts = []
  const own = new pg.Pool({ connectionString, max: 2 })
  const viaDb = new PgBoss({ db: { executeSql: (text, values) => { texts.push(text); return own.query(text, values) } }, schema: SCHEMA, supervise: false, schedule: false })
  viaDb.on('error', () => {})
  await viaDb.start()
  try {
    const event = unique('e')
    const name = unique('q')
    await ours.createQueue(name)
    texts.length = 0
    await viaDb.subscribe(event, name)
    await viaDb.publish(event, { via: 'db' })
    await viaDb.unsubscribe(event, name)
    assert.ok(texts.some(t => /INSERT INTO .*subscription/s.test(t)), 'subscribe through db')
    assert.ok(texts.some(t => /FROM .*subscription/s.test(t) && /SELECT/.test(t)), 'the subscription read through db')
    assert.ok(texts.some(t => /DELETE FROM .*subscription/s.test(t)), 'unsubscribe through db')
    assert.deepEqual((await jobsIn(name)).map(j => j.data), [{ via: 'db' }])
  } finally {
    await viaDb.stop()
    await own.end()
  }
})
