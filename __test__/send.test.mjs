// Creating jobs: send() and its variants, insert(), policies, validation — each compared with
// pg-boss 12.38 writing to the same database.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { bothForFile, outcome } from './helpers.mjs'

const SCHEMA = 'pgbn_send_test'
let ours, ref, db
bothForFile(SCHEMA, both => ({ ours, ref, db } = both))

let seq = 0
const unique = (prefix = 's') => `${prefix}-${++seq}`

async function row (id) {
  const { rows } = await db.query(`SELECT * FROM ${SCHEMA}.job WHERE id = $1`, [id])
  assert.equal(rows.length, 1, `job ${id} exists`)
  return rows[0]
}

const TIME_COLUMNS = ['start_after', 'created_on', 'keep_until', 'singleton_on', 'started_on', 'completed_on', 'heartbeat_on']

/** A job row with what differs between two sends of the same input (id, queue, clock) set aside. */
async function comparableRow (id, { times = false } = {}) {
  const r = await row(id)
  const out = { ...r }
  delete out.id
  delete out.name
  for (const c of TIME_COLUMNS) {
    out[c] = r[c] === null ? null : (times ? r[c] : 'set')
  }
  if (r.keep_until && r.start_after) out.retention = Math.round((r.keep_until - r.start_after) / 1000)
  if (r.start_after && r.created_on) out.delay = Math.round((r.start_after - r.created_on) / 1000)
  if (out.dead_letter) out.dead_letter = 'set'
  return out
}

async function twoQueues (options = {}) {
  const a = unique()
  const b = unique()
  await ours.createQueue(a, options)
  await ref.createQueue(b, options)
  return [a, b]
}

test('send(name, data, options) and send({ name, data, options }) both work and return the id', async () => {
  const [a] = await twoQueues()
  const id1 = await ours.send(a, { x: 1 }, { priority: 2 })
  const id2 = await ours.send({ name: a, data: { x: 2 }, options: { priority: 3 } })
  const id3 = await ours.send(a)
  const id4 = await ours.send({ name: a })
  for (const id of [id1, id2, id3, id4]) assert.match(id, /^[0-9a-f-]{36}$/)
  assert.deepEqual((await row(id1)).data, { x: 1 })
  assert.equal((await row(id2)).priority, 3)
  assert.equal((await row(id3)).data, null)
  assert.equal((await row(id4)).data, null)
})

test('every SendOptions field lands in the row exactly as pg-boss writes it', async () => {
  const [dlqA, dlqB] = await twoQueues()
  const queueOptions = [
    {},
    { retryLimit: 7, retryDelay: 4, retryBackoff: true, retryDelayMax: 99, expireInSeconds: 77, retentionSeconds: 5000, deleteAfterSeconds: 33, heartbeatSeconds: 40 },
    { partition: true, policy: 'short' }
  ]
  const sendOptions = [
    {},
    { priority: 5 },
    { retryLimit: 1, retryDelay: 2, retryBackoff: false, expireInSeconds: 10, retentionSeconds: 60, deleteAfterSeconds: 0, heartbeatSeconds: 10 },
    { retryBackoff: true, retryDelayMax: 30 },
    { singletonKey: 'k1' },
    { singletonKey: 'k2', singletonSeconds: 60 },
    { group: { id: 'g1' } },
    { group: { id: 'g2', tier: 'gold' } },
    { deadLetter: 'DLQ' },
    { startAfter: 120 },
    { startAfter: '90' },
    { startAfter: '2 minutes' },
    { startAfter: -5 },
    { startAfter: 0 },
    { heartbeatSeconds: null, retryDelayMax: null },
    { priority: 0, retryLimit: 0 }
  ]
  for (const qo of queueOptions) {
    const [a, b] = await twoQueues(qo)
    for (const so of sendOptions) {
      const data = { so, n: seq }
      const oa = { ...so }
      const ob = { ...so }
      if (so.deadLetter) {
        oa.deadLetter = dlqA
        ob.deadLetter = dlqB
      }
      if (so.singletonKey || qo.policy === 'short') {
        // a short queue holds one queued job per key
        oa.singletonKey = ob.singletonKey = `${so.singletonKey ?? 'k'}-${++seq}`
      }
      const ia = await ours.send(a, data, oa)
      const ib = await ref.send(b, data, ob)
      assert.ok(ia && ib, JSON.stringify(so))
      const ra = await comparableRow(ia)
      const rb = await comparableRow(ib)
      assert.deepEqual(ra, rb, `queue ${JSON.stringify(qo)} send ${JSON.stringify(so)}`)
    }
  }
})

test('startAfter as Date, ISO string, zone-less string and offset string resolves to the same instant as pg-boss', async () => {
  const [a, b] = await twoQueues()
  const at = new Date(Date.now() + 3600_000)
  at.setMilliseconds(0)
  const iso = at.toISOString()
  const zoneless = iso.slice(0, 19)
  const cases = [at, iso, zoneless, zoneless.replace('T', ' '), iso.slice(0, 10), `${zoneless}+02:00`, `${zoneless}.250`]
  for (const startAfter of cases) {
    const ia = await ours.send(a, null, { startAfter })
    const ib = await ref.send(b, null, { startAfter })
    const [ra, rb] = [await row(ia), await row(ib)]
    assert.equal(ra.start_after.getTime(), rb.start_after.getTime(), String(startAfter))
    assert.equal(ra.keep_until.getTime(), rb.keep_until.getTime(), String(startAfter))
  }
  // sendAfter takes the same values
  for (const after of [at, iso, 30, '30']) {
    const ia = await ours.sendAfter(a, { v: 1 }, { priority: 1 }, after)
    const ib = await ref.sendAfter(b, { v: 1 }, { priority: 1 }, after)
    const [ra, rb] = [await comparableRow(ia, { times: false }), await comparableRow(ib, { times: false })]
    assert.deepEqual(ra, rb, String(after))
    if (after === at) assert.equal((await row(ia)).start_after.getTime(), at.getTime())
  }
})

test('sendThrottled: one job per slot, the second send in the slot returns null (as pg-boss)', async () => {
  const [a, b] = await twoQueues()
  const first = await ours.sendThrottled(a, { n: 1 }, null, 3600)
  assert.ok(first)
  assert.equal(await ours.sendThrottled(a, { n: 2 }, null, 3600), null)
  assert.equal(await ref.sendThrottled(a, { n: 3 }, null, 3600), null, 'pg-boss sees our slot taken')
  const keyed = await ours.sendThrottled(a, { n: 4 }, null, 3600, 'key')
  assert.ok(keyed, 'another key has its own slot')
  assert.equal(await ours.sendThrottled(a, { n: 5 }, {}, 3600, 'key'), null)

  const rb = await ref.sendThrottled(b, { n: 1 }, null, 3600)
  assert.deepEqual(await comparableRow(first), await comparableRow(rb))
  assert.equal((await row(first)).singleton_on.getTime(), (await row(rb)).singleton_on.getTime())
  assert.equal(await ours.sendThrottled(b, { n: 2 }, null, 3600), null, 'we see pg-boss slot taken')
})

test('sendDebounced: a second send in the slot lands in the next slot; a third returns null', async () => {
  const [a, b] = await twoQueues()
  const results = []
  for (const [boss, name] of [[ours, a], [ref, b]]) {
    const first = await boss.sendDebounced(name, { n: 1 }, null, 600, 'k')
    const second = await boss.sendDebounced(name, { n: 2 }, null, 600, 'k')
    const third = await boss.sendDebounced(name, { n: 3 }, null, 600, 'k')
    assert.ok(first)
    assert.ok(second)
    assert.equal(third, null)
    const [r1, r2] = [await row(first), await row(second)]
    assert.equal(r2.singleton_on - r1.singleton_on, 600_000, 'next slot')
    assert.ok(r2.start_after > r1.start_after)
    results.push([await comparableRow(first), await comparableRow(second)])
  }
  assert.deepEqual(results[0][0], results[1][0])
  const strip = ({ delay, retention, ...r }) => r
  assert.deepEqual(strip(results[0][1]), strip(results[1][1]))
  assert.ok(Math.abs(results[0][1].delay - results[1][1].delay) <= 2)
})

test('policies: short, singleton, stately, exclusive, key_strict_fifo skip sends as pg-boss does', async () => {
  const scenarios = {
    // [sends (key), then expected ids non-null]
    short: [[null, null, 'a', 'a'], [true, false, true, false]],
    exclusive: [[null, null, 'a', 'a'], [true, false, true, false]],
    singleton: [[null, null, 'a', 'a'], [true, true, true, true]],
    stately: [[null, null, 'a', 'a'], [true, false, true, false]],
    key_strict_fifo: [['a', 'a', 'b'], [true, true, true]],
    standard: [[null, null, 'a', 'a'], [true, true, true, true]]
  }
  for (const [policy, [keys, expected]] of Object.entries(scenarios)) {
    const [a, b] = await twoQueues({ policy })
    for (const [boss, name] of [[ours, a], [ref, b]]) {
      const got = []
      for (const key of keys) got.push((await boss.send(name, { key }, key ? { singletonKey: key } : {})) !== null)
      assert.deepEqual(got, expected, `${policy} (${boss === ours ? 'ours' : 'pg-boss'})`)
    }
    // and each implementation honours the other's jobs
    if (policy !== 'standard' && policy !== 'singleton' && policy !== 'key_strict_fifo') {
      assert.equal(await ours.send(b, {}, { singletonKey: 'a' }), null, policy)
      assert.equal(await ref.send(a, {}, { singletonKey: 'a' }), null, policy)
    }
  }
  const [k] = await twoQueues({ policy: 'key_strict_fifo' })
  for (const args of [[k], [k, {}], [k, {}, { singletonKey: '' }], [k, {}, { priority: 1 }]]) {
    const a = await outcome(() => ours.send(...args))
    const b = await outcome(() => ref.send(...args))
    assert.deepEqual(a, b)
    assert.equal(a.message, 'key_strict_fifo queues require a singletonKey')
  }
  assert.deepEqual(await outcome(() => ours.insert(k, [{ singletonKey: 'x' }, {}])), await outcome(() => ref.insert(k, [{ singletonKey: 'x' }, {}])))
})

test('insert(): bulk rows as pg-boss writes them, returnId, skipped rows dropped, duplicate ids refused', async () => {
  const [a, b] = await twoQueues({ retryLimit: 4 })
  const at = new Date(Date.now() + 60_000)
  const jobs = () => [
    { data: { i: 1 } },
    { data: { i: 2 }, priority: 3, retryLimit: 1, retryDelay: 5, retryBackoff: true, retryDelayMax: 50, expireInSeconds: 20, retentionSeconds: 100, deleteAfterSeconds: 9, heartbeatSeconds: 30 },
    { data: { i: 3 }, startAfter: at },
    { data: { i: 4 }, startAfter: 45 },
    { data: { i: 5 }, startAfter: at.toISOString().slice(0, 19) },
    { data: { i: 6 }, singletonKey: 'sk', singletonSeconds: 300 },
    { data: { i: 7 }, group: { id: 'g', tier: 't' } }
  ]
  const ra = await ours.insert(a, jobs(), { returnId: true })
  const rb = await ref.insert(b, jobs(), { returnId: true })
  assert.equal(ra.length, 7)
  assert.equal(rb.length, 7)
  // Jobs 3 and 5 start at a given instant (`at`, and `at` to the second): compare that instant.
  // Their delay from created_on, rounded to seconds, differs between the two inserts whenever
  // they fall either side of a half second.
  const absolute = new Set([3, 5])
  const byData = async (ids) => {
    const rows = []
    for (const id of ids) {
      const r = await comparableRow(id)
      if (absolute.has(r.data.i)) r.delay = (await row(id)).start_after.toISOString()
      rows.push(r)
    }
    return rows.sort((x, y) => x.data.i - y.data.i)
  }
  assert.deepEqual(await byData(ra), await byData(rb))

  assert.equal(await ours.insert(a, [{ data: 1 }]), null, 'no ids without returnId')
  assert.deepEqual(await outcome(() => ours.insert(a, [{ data: 1 }])), await outcome(() => ref.insert(b, [{ data: 1 }])))
  assert.deepEqual(await outcome(() => ours.insert(a, [])), await outcome(() => ref.insert(b, [])))
  assert.deepEqual(await outcome(() => ours.insert(a, [], { returnId: true })), await outcome(() => ref.insert(b, [], { returnId: true })))

  // an id already present is skipped and left out of the result
  const id = randomUUID()
  const fresh = randomUUID()
  assert.deepEqual(await ours.insert(a, [{ id }], { returnId: true }), [id])
  assert.deepEqual(await ours.insert(a, [{ id }, { id: fresh }], { returnId: true }), [fresh])
  assert.deepEqual(await ref.insert(a, [{ id }], { returnId: true }), null)
  assert.equal(await ours.send(a, {}, { id }), null, 'send with an existing id returns null')

  const dup = randomUUID()
  for (const args of [
    [a, [{ id: dup }, { id: dup }]],
    [a, 'nope'],
    [a, undefined],
    [a, [{ group: { id: '' } }]],
    [a, [{ group: 'g' }]],
    ['no-such-queue', [{}]]
  ]) {
    const x = await outcome(() => ours.insert(...args))
    const y = await outcome(() => ref.insert(...args))
    assert.deepEqual(x, y, JSON.stringify(args))
    assert.ok(x.error, JSON.stringify(args))
  }
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.job WHERE id = $1`, [dup])
  assert.equal(rows[0].n, 0)
})

// send() argument validation, compared one by one
const SEND_CASES = [
  () => [],
  () => [null],
  () => [undefined],
  () => [{}],
  () => [{ data: 1 }],
  () => [{ name: '' }],
  n => [{ name: n }, {}],
  n => [{ name: n, options: 'x' }],
  n => [{ name: n, options: { priority: 1.5 } }],
  n => [n, () => {}],
  n => [n, {}, 'x'],
  n => [n, {}, 5],
  n => [n, {}, null],
  n => [n, {}, []],
  n => [n, {}, { priority: '1' }],
  n => [n, {}, { priority: null }],
  n => [n, {}, { priority: undefined }],
  n => [n, {}, { retryLimit: -1 }],
  n => [n, {}, { retryLimit: undefined }],
  n => [n, {}, { retryDelay: 1.2 }],
  n => [n, {}, { retryBackoff: 1 }],
  n => [n, {}, { retryDelayMax: 3 }],
  n => [n, {}, { retryDelayMax: -3, retryBackoff: true }],
  n => [n, {}, { expireInSeconds: 0 }],
  n => [n, {}, { expireInSeconds: 100000 }],
  n => [n, {}, { retentionSeconds: 0.5 }],
  n => [n, {}, { deleteAfterSeconds: -1 }],
  n => [n, {}, { heartbeatSeconds: 9 }],
  n => [n, {}, { heartbeatSeconds: undefined }],
  n => [n, {}, { group: 'g' }],
  n => [n, {}, { group: {} }],
  n => [n, {}, { group: { id: '' } }],
  n => [n, {}, { group: { id: 'g', tier: '' } }],
  n => [n, {}, { group: { id: 'g', tier: 5 } }],
  n => [n, {}, { group: { id: 'g', tier: undefined } }],
  n => [n, {}, { group: null }],
  n => [n, {}, { group: undefined }],
  n => [n, {}, { startAfter: undefined, singletonKey: undefined }],
  n => [n, {}, { startAfter: 'not a time' }],
  n => [n, {}, { deadLetter: 'no-such-dlq' }],
  n => [n, {}, { id: 'not-a-uuid' }],
  n => [n, 'a string payload'],
  n => [n, [1, 2]],
  () => ['no-such-queue', {}],
  () => ['bad name', {}],
  () => [5, {}]
]

/** Our send's outcome `x` equals pg-boss's `y` for one input: the same row, null or error. */
async function assertSameSend (x, y, label) {
  assert.equal(typeof x.ok, typeof y.ok, label)
  if ('ok' in x && 'ok' in y) {
    if (x.ok && y.ok) assert.deepEqual(await comparableRow(x.ok), await comparableRow(y.ok), label)
    else assert.equal(x.ok, y.ok, label)
    return false
  }
  assert.deepEqual(x, y, label)
  return true
}

test('send() validation: outcome and message equal pg-boss 12.38 for every input', async () => {
  const [a, b] = await twoQueues()
  let rejected = 0
  for (const make of SEND_CASES) {
    const x = await outcome(() => ours.send(...make(a)))
    const y = await outcome(() => ref.send(...make(b)))
    if (await assertSameSend(x, y, String(make))) rejected++
  }
  assert.ok(rejected >= 25, `rejections exercised: ${rejected}`)
  for (const [method, extra] of [['sendAfter', [5]], ['sendThrottled', [5, 'k']], ['sendDebounced', [5]]]) {
    for (const args of [[a, {}, { retryLimit: -1 }], [a, () => {}, null], ['no-such-queue', {}, null]]) {
      const x = await outcome(() => ours[method](...args, ...extra))
      const y = await outcome(() => ref[method](...args.map(v => v === a ? b : v), ...extra))
      assert.deepEqual({ ...x, ok: typeof x.ok }, { ...y, ok: typeof y.ok }, `${method} ${String(args)}`)
    }
  }
})

test('concurrent sends share statements yet each gets the answer it would get alone', async () => {
  const [a, b] = await twoQueues()
  // every case at once on our side (coalesced, some refused by the server), one by one on pg-boss's
  const ourOutcomes = await Promise.all(SEND_CASES.map(make => outcome(() => ours.send(...make(a)))))
  for (const [i, make] of SEND_CASES.entries()) {
    await assertSameSend(ourOutcomes[i], await outcome(() => ref.send(...make(b))), String(make))
  }
})

test('concurrent sends with one singleton key: exactly one is created, the rest return null', async () => {
  const name = unique()
  await ours.createQueue(name, { policy: 'short' })
  const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => ours.send(name, { i }, { singletonKey: 'k' })))
  const created = ids.filter(Boolean)
  assert.equal(created.length, 1)
  const { rows } = await db.query(`SELECT id FROM ${SCHEMA}.job WHERE name = $1`, [name])
  assert.deepEqual(rows.map(r => r.id), created)
  // and many distinct jobs at once all land, each under the id its send returned
  const many = await Promise.all(Array.from({ length: 200 }, (_, i) => ours.send(name, { i }, { singletonKey: `k${i}` })))
  assert.equal(new Set(many).size, 200)
  const { rows: landed } = await db.query(`SELECT id, data FROM ${SCHEMA}.job WHERE name = $1 AND singleton_key <> 'k'`, [name])
  const byId = new Map(landed.map(r => [r.id, r.data.i]))
  many.forEach((id, i) => assert.equal(byId.get(id), i))
})
