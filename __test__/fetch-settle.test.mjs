// Fetching and settling jobs, compared with pg-boss 12.38 on the same database.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bothForFile, outcome } from './helpers.mjs'

const SCHEMA = 'pgbn_fetch_test'
let ours, ref, db
bothForFile(SCHEMA, both => ({ ours, ref, db } = both))

let seq = 0
const unique = (prefix = 'f') => `${prefix}-${++seq}`

async function row (id) {
  const { rows } = await db.query(`SELECT * FROM ${SCHEMA}.job WHERE id = $1`, [id])
  return rows[0]
}

const typeOf = v => Object.prototype.toString.call(v)

test('fetch returns the same job objects, field types included, as pg-boss fetch', async () => {
  for (const includeMetadata of [false, true]) {
    const q = unique()
    await ours.createQueue(q, { retryLimit: 3 })
    await ours.send(q, { n: 1 }, { group: { id: 'g', tier: 't' }, singletonKey: 'k', heartbeatSeconds: 30 })
    await ours.send(q, { n: 1 }, { group: { id: 'g', tier: 't' }, singletonKey: 'k', heartbeatSeconds: 30 })
    const [a] = await ours.fetch(q, { includeMetadata })
    const [b] = await ref.fetch(q, { includeMetadata })
    assert.deepEqual(Object.keys(a), Object.keys(b))
    for (const k of Object.keys(b)) assert.equal(typeOf(a[k]), typeOf(b[k]), k)
    const strip = ({ id, startedOn, heartbeatOn, createdOn, startAfter, keepUntil, ...rest }) => rest
    assert.deepStrictEqual(strip(a), strip(b))
    if (includeMetadata) {
      assert.ok(a.createdOn instanceof Date)
      assert.equal(a.state, 'active')
    }
    // reads of one job agree
    assert.deepStrictEqual(await ours.getJobById(q, a.id), await ref.getJobById(q, a.id))
    assert.deepStrictEqual(await ours.findJobs(q), await ref.findJobs(q))
  }
})

test('fetch options: batchSize, priority order, min/maxPriority, ignoreStartAfter', async () => {
  const q = unique()
  await ours.createQueue(q)
  for (const p of [1, 5, 3, 5, -2]) await ours.send(q, { p }, { priority: p })
  await ours.send(q, { p: 'later' }, { startAfter: 3600, priority: 100 })
  assert.deepEqual((await ours.fetch(q, { batchSize: 2, minPriority: 4 })).map(j => j.data.p), [5, 5])
  assert.deepEqual((await ours.fetch(q, { maxPriority: 2, batchSize: 10 })).map(j => j.data.p), [1, -2])
  assert.deepEqual((await ours.fetch(q, { batchSize: 10 })).map(j => j.data.p), [3])
  assert.deepEqual(await ours.fetch(q), [])
  assert.deepEqual((await ours.fetch(q, { ignoreStartAfter: true })).map(j => j.data.p), ['later'])
  for (const options of [{ batchSize: 0 }, { batchSize: 1.5 }, { includeMetadata: 1 }, { priority: 'x' }, { ignoreStartAfter: null },
    { minPriority: 1.5 }, { maxPriority: '1' }, { minPriority: 3, maxPriority: 2 }, { minPriority: null }, { batchSize: undefined }]) {
    assert.deepEqual(await outcome(() => ours.fetch(q, options)), await outcome(() => ref.fetch(q, options)), JSON.stringify(options))
  }
  for (const name of [undefined, '', 'no-such-queue']) {
    assert.deepEqual(await outcome(() => ours.fetch(name)), await outcome(() => ref.fetch(name)), String(name))
  }
})

test('singleton / stately / key_strict_fifo fetch one job per key', async () => {
  for (const policy of ['singleton', 'stately']) {
    const q = unique()
    await ours.createQueue(q, { policy })
    await ours.send(q, { i: 1 }, { singletonKey: 'a' })
    if (policy === 'singleton') await ours.send(q, { i: 2 }, { singletonKey: 'a' })
    await ours.send(q, { i: 3 }, { singletonKey: 'b' })
    const first = await ours.fetch(q, { batchSize: 10 })
    assert.equal(first.length, 2, policy)
    assert.deepEqual(await ref.fetch(q, { batchSize: 10 }), [], `${policy}: pg-boss sees the keys busy`)
  }
  const q = unique()
  await ours.createQueue(q, { policy: 'key_strict_fifo', retryLimit: 0 })
  await ours.send(q, { i: 1 }, { singletonKey: 'a' })
  await ours.send(q, { i: 2 }, { singletonKey: 'a' })
  await ours.send(q, { i: 3 }, { singletonKey: 'b' })
  const got = await ours.fetch(q, { batchSize: 10 })
  assert.deepEqual(got.map(j => j.data.i).sort(), [1, 3])
  assert.deepEqual(await ours.fetch(q, { batchSize: 10 }), [])
  await ours.fail(q, got.find(j => j.data.i === 1).id)
  assert.deepEqual(await ref.fetch(q, { batchSize: 10 }), [], 'a failed key stays blocked')
  assert.deepEqual(await ref.getBlockedKeys(q), ['a'], 'pg-boss reads the key our fail blocked')
})

test('key_strict_fifo: fetches offer the same jobs as pg-boss, round after round', async () => {
  // two queues with the same jobs (inserted alike, so the same order), then states set by hand:
  // retries that head their key, a failed key and an active key (both blocked), a job not yet due
  const [qa, qb] = [unique(), unique()]
  const jobs = []
  for (let k = 0; k < 8; k++) {
    for (let n = 0; n < 1 + (k * 5) % 4; n++) jobs.push({ data: { tag: `k${k}-${n}` }, singletonKey: `k${k}`, priority: (k + n) % 3 })
  }
  jobs.push({ data: { tag: 'later' }, singletonKey: 'k8', startAfter: 3600 }, { data: { tag: 'k8-now' }, singletonKey: 'k8' })
  for (const q of [qa, qb]) {
    await ours.createQueue(q, { policy: 'key_strict_fifo', retryLimit: 3 })
    await ours.insert(q, jobs)
    const set = (state, tag, extra = '') => db.query(
      `UPDATE ${SCHEMA}.job SET state = '${state}', started_on = now()${extra} WHERE name = $1 AND data->>'tag' = $2`, [q, tag])
    await set('retry', 'k1-1', ', retry_count = 1') // a retry heads its key even behind an older job
    await set('failed', 'k2-0', ', completed_on = now()')
    await set('active', 'k3-0')
    await set('retry', 'k5-0', ', retry_count = 1')
  }
  const round = async (side, q) => {
    const got = await side.fetch(q, { batchSize: 3 })
    if (got.length) await side.complete(q, got.map(j => j.id))
    return got.map(j => j.data.tag).sort()
  }
  const rounds = []
  for (let r = 0; r < 30; r++) {
    const [a, b] = [await round(ours, qa), await round(ref, qb)]
    assert.deepEqual(a, b, `round ${r}`)
    rounds.push(a)
    if (!a.length) break
  }
  const offered = rounds.flat()
  assert.ok(offered.includes('k1-1') && offered.indexOf('k1-1') < offered.indexOf('k1-0'), 'the retry went first')
  for (const never of ['k2-1', 'k3-1', 'later']) assert.ok(!offered.includes(never), `${never} stays blocked`)
  assert.ok(offered.length > 10, `walked the queue (${offered.length} jobs)`)

  // one long key ahead of the others: the first jobs in claim order hold one head, the other keys'
  // heads come later (our claim then looks past its first look)
  const [la, lb] = [unique(), unique()]
  const long = [
    ...Array.from({ length: 12 }, (_, n) => ({ data: { tag: `a${n}` }, singletonKey: 'a' })),
    ...['b', 'c', 'd'].map(k => ({ data: { tag: `${k}0` }, singletonKey: k }))
  ]
  for (const q of [la, lb]) {
    await ours.createQueue(q, { policy: 'key_strict_fifo' })
    await ours.insert(q, long)
  }
  const first = await ours.fetch(la, { batchSize: 2 })
  assert.deepEqual(first.map(j => j.data.tag), (await ref.fetch(lb, { batchSize: 2 })).map(j => j.data.tag))
  assert.deepEqual(first.map(j => j.data.tag).sort(), ['a0', 'b0'])
})

test('complete / fail / cancel / resume / retry / deleteJob / touch responses equal pg-boss', async () => {
  const q = unique()
  await ours.createQueue(q, { retryLimit: 1 })
  const send = () => ours.send(q, {})
  const ids = [await send(), await send(), await send(), await send()]
  await ours.fetch(q, { batchSize: 4 })
  const sort = r => ({ ...r, settled: r.settled && [...r.settled].sort() })
  // each pair: ours on half the jobs, pg-boss on the other half
  const both = async (method, idsA, idsB, ...rest) => {
    const a = sort(await ours[method](q, idsA, ...rest))
    const b = sort(await ref[method](q, idsB, ...rest))
    const norm = r => ({ ...r, jobs: r.jobs.length, settled: r.settled?.length })
    assert.deepStrictEqual(norm(a), norm(b), method)
    return a
  }
  await both('touch', [ids[0], 'ffffffff-ffff-4fff-8fff-ffffffffffff'], [ids[1], 'ffffffff-ffff-4fff-8fff-ffffffffffff'])
  const done = await both('complete', ids[0], ids[1], { ok: 1 })
  assert.deepEqual(done.settled, [ids[0]])
  assert.deepEqual((await row(ids[0])).output, { ok: 1 })
  await both('complete', ids[0], ids[1])
  await both('fail', ids[2], ids[3], new Error('boom'))
  assert.equal((await row(ids[2])).state, 'retry')
  assert.equal((await row(ids[2])).output.message, 'boom')
  await both('cancel', ids[2], ids[3])
  await both('resume', ids[2], ids[3])
  await both('cancel', [ids[2]], [ids[3]])
  await both('deleteJob', [ids[0], ids[2]], [ids[1], ids[3]])
  assert.equal(await row(ids[0]), undefined)
  const x = await ours.send(q, {}, { retryLimit: 0 })
  const y = await ours.send(q, {}, { retryLimit: 0 })
  await ours.fetch(q, { batchSize: 2 })
  await both('fail', x, y, 'a string')
  assert.deepEqual((await row(x)).output, { value: 'a string' })
  await both('retry', x, y)
  const rx = await row(x)
  assert.equal(rx.state, 'retry')
  assert.equal(rx.retry_limit, 1)
  for (const method of ['complete', 'fail', 'cancel', 'resume', 'retry', 'deleteJob', 'touch']) {
    for (const args of [[q], [q, []], [q, [{ id: x }]], [q, 'not-a-uuid'], [q, [x, 'nope']], ['bad name', x], [undefined, x]]) {
      assert.deepEqual(await outcome(() => ours[method](...args)), await outcome(() => ref[method](...args)), `${method} ${JSON.stringify(args)}`)
    }
  }
})

test('complete includeQueued, retryDelay, backoff with retryDelayMax, exhausted retries and dead letter copy', async () => {
  const dlq = unique('dlq')
  await ours.createQueue(dlq, { retentionSeconds: 500 })
  for (const [boss, other] of [[ours, ref], [ref, ours]]) {
    const q = unique()
    await boss.createQueue(q, { retryLimit: 1, retryDelay: 20, deadLetter: dlq })
    const queued = await boss.send(q, {})
    assert.equal((await other.complete(q, queued, null, { includeQueued: true })).affected, 1)
    assert.equal((await row(queued)).state, 'completed')

    const id = await boss.send(q, { d: 1 }, { priority: 4 })
    await other.fetch(q)
    await other.fail(q, id, { why: 1 })
    const r1 = await row(id)
    assert.equal(r1.state, 'retry')
    assert.ok(Math.abs((r1.start_after - new Date()) / 1000 - 20) < 5)
    await boss.fetch(q, { ignoreStartAfter: true })
    await other.fail(q, id, { why: 2 })
    const r2 = await row(id)
    assert.equal(r2.state, 'failed')
    const { rows } = await db.query(`SELECT * FROM ${SCHEMA}.job WHERE name = $1 AND source_id = $2`, [dlq, id])
    assert.equal(rows.length, 1)
    const d = rows[0]
    assert.equal(d.source_name, q)
    assert.equal(d.source_retry_count, 1)
    assert.deepEqual(d.source_output, { why: 2 })
    assert.equal(d.output, null)
    assert.deepEqual(d.data, { d: 1 })
    assert.equal(d.source_root_id, id)
    assert.equal(d.state, 'created')

    const b = unique()
    await boss.createQueue(b, { retryLimit: 3, retryBackoff: true, retryDelay: 10, retryDelayMax: 12 })
    const bid = await boss.send(b)
    await other.fetch(b)
    await other.fail(b, bid)
    const delay = ((await row(bid)).start_after - new Date()) / 1000
    assert.ok(delay > 8 && delay <= 13, `backoff capped: ${delay}`)
  }
})

test('attempt fencing: a stale { id, retryCount } cannot settle a re-claimed job', async () => {
  const q = unique()
  await ours.createQueue(q, { retryLimit: 5 })
  const id = await ours.send(q)
  const [first] = await ours.fetch(q)
  assert.equal(first.retryCount, 0)
  await ours.fail(q, first.id)
  const [second] = await ref.fetch(q)
  assert.equal(second.retryCount, 1)
  for (const boss of [ours, ref]) {
    const stale = await boss.complete(q, { id, retryCount: first.retryCount })
    assert.equal(stale.affected, 0)
    assert.deepEqual(stale.settled, [])
    assert.equal((await boss.touch(q, [{ id, retryCount: 0 }])).affected, 0)
    assert.equal((await boss.cancel(q, [{ id, retryCount: 0 }])).affected, 0)
  }
  assert.equal((await ours.complete(q, [{ id: id.toUpperCase(), retryCount: 1 }], { ok: true })).affected, 1)
  assert.equal((await row(id)).state, 'completed')
})

test('findJobs filters and pages like pg-boss; getJobById', async () => {
  const q = unique()
  await ours.createQueue(q)
  const ids = []
  for (let i = 0; i < 5; i++) ids.push(await (i % 2 ? ref : ours).send(q, { i, tag: i % 2 ? 'odd' : 'even' }, { singletonKey: `k${i % 2}` }))
  await ours.fetch(q)
  const cases = [{}, { id: ids[2] }, { key: 'k1' }, { data: { tag: 'even' } }, { queued: true }, { limit: 2 }, { limit: 2, after: ids[1] },
    { key: 'k0', queued: true, data: { tag: 'even' } }, { id: ids[0], key: 'k1' }]
  for (const options of cases) {
    assert.deepStrictEqual(await ours.findJobs(q, options), await ref.findJobs(q, options), JSON.stringify(options))
  }
  for (const options of [{ limit: 0 }, { after: 'x' }, { after: '' }, { limit: null }, { after: 'ffffffff-ffff-4fff-8fff-ffffffffffff' }]) {
    assert.deepEqual(await outcome(() => ours.findJobs(q, options)), await outcome(() => ref.findJobs(q, options)), JSON.stringify(options))
  }
  assert.deepStrictEqual(await ours.getJobById(q, ids[3]), await ref.getJobById(q, ids[3]))
  assert.deepStrictEqual(await ours.getJobById(q, 'ffffffff-ffff-4fff-8fff-ffffffffffff'), null)
})
