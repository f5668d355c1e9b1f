// Dead letter queues and what comes after: the copy a terminal failure leaves there, redrive() and
// previewRedrive() with their filters and policy collisions, and getBlockedKeys() of key_strict_fifo
// queues. Each compared with pg-boss 12.38 doing the same on its own queues of the same database.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { bothForFile, connectionString, outcome, pg, sleep, waitFor } from './helpers.mjs'

const SCHEMA = 'rdv_redrive_test'
let ours, ref, db
bothForFile(SCHEMA, both => ({ ours, ref, db } = both))

let seq = 0
const prefix = () => `r${++seq}`

async function rows (where, values) {
  const { rows } = await db.query(`SELECT * FROM ${SCHEMA}.job WHERE ${where} ORDER BY created_on, id`, values)
  return rows
}

const TIMES = ['start_after', 'created_on', 'keep_until', 'singleton_on', 'started_on', 'completed_on', 'heartbeat_on', 'source_created_on']

/**
 * A job row comparable across the two implementations: queue names (in any column or output) with
 * their prefix `p` replaced by `P`, ids by their role in `ids` (a map of id → role), times by whether they are set, and the
 * retention window (keep_until - start_after) in seconds.
 */
function comparable (r, p, ids) {
  const out = { ...r }
  for (const c of ['id', 'source_id', 'source_root_id']) out[c] = r[c] === null ? null : (ids[r[c]] ?? 'other')
  for (const c of TIMES) out[c] = r[c] === null ? null : 'set'
  out.retention = Math.round((r.keep_until - r.start_after) / 1000)
  delete out.trace_context
  if (out.output?.stack) delete out.output.stack
  if (out.source_output?.stack) delete out.source_output.stack
  return JSON.parse(JSON.stringify(out).replaceAll(`${p}-`, 'P-'))
}

/** The same call on both implementations, `args(p)` built from each one's queue prefix; compared. */
async function sameOutcome (method, args, [pa, pb]) {
  const rename = (value, p) => JSON.parse(JSON.stringify(value ?? null).replaceAll(`"${p}`, '"P'))
  const mine = await outcome(() => ours[method](...args(pa)))
  const theirs = await outcome(() => ref[method](...args(pb)))
  assert.deepEqual(rename(mine, pa), rename(theirs, pb), `${method}(${JSON.stringify(args('P'))})`)
  return mine
}

/** A source queue dead-lettering into `${p}-dlq` at its first failure, and the dead letter queue. */
async function deadLetterPair (boss, p, { source = {}, dlq = {} } = {}) {
  await boss.createQueue(`${p}-dlq`, dlq)
  await boss.createQueue(`${p}-src`, { deadLetter: `${p}-dlq`, retryLimit: 0, ...source })
}

/** Send, claim and fail one job of `queue`: its id. */
async function failOne (boss, queue, data, options = {}, output = { reason: 'boom' }) {
  const id = await boss.send(queue, data, options)
  assert.ok(id, 'sent')
  const jobs = await boss.fetch(queue, { batchSize: 10 })
  assert.ok(jobs.some(j => j.id === id), 'claimed')
  const r = await boss.fail(queue, id, output)
  assert.equal(r.affected, 1)
  return id
}

test('a dead letter copy keeps what pg-boss 12.38 keeps: provenance, key, group, priority; the queue\'s settings', async () => {
  const [pa, pb] = [prefix(), prefix()]
  const setup = { source: { heartbeatSeconds: 30 }, dlq: { retryLimit: 0, expireInSeconds: 600, retentionSeconds: 7200, deleteAfterSeconds: 50, heartbeatSeconds: 15 } }
  const send = { priority: 5, singletonKey: 'sk', group: { id: 'g', tier: 't' }, heartbeatSeconds: 40 }
  const stages = []
  for (const [boss, p] of [[ours, pa], [ref, pb]]) {
    await deadLetterPair(boss, p, setup)
    const original = await failOne(boss, `${p}-src`, { n: 1 }, send, { reason: 'first' })
    const [copy] = await rows('name = $1 AND source_id = $2', [`${p}-dlq`, original])
    assert.ok(copy, 'a copy in the dead letter queue')
    // the copy fails in its own queue (no dead letter of its own): it keeps its provenance
    const [claimed] = await boss.fetch(`${p}-dlq`)
    assert.equal(claimed.id, copy.id)
    await boss.fail(`${p}-dlq`, copy.id, { reason: 'second' })
    // back to the source and dead-lettered again: the chain's first job stays its root
    await boss.retry(`${p}-dlq`, copy.id)
    assert.equal(await boss.redrive(`${p}-dlq`), 1)
    const [again] = await rows("name = $1 AND state = 'created'", [`${p}-src`])
    await boss.fetch(`${p}-src`)
    await boss.fail(`${p}-src`, again.id, { reason: 'third' })
    const ids = { [original]: 'original', [copy.id]: 'copy', [again.id]: 'again' }
    const all = await rows('name LIKE $1', [`${p}-%`])
    stages.push(all.map(r => comparable(r, p, ids)))
  }
  assert.deepEqual(stages[0], stages[1])
  const [dlqCopy] = stages[0].filter(r => r.name === 'P-dlq' && r.source_id === 'again')
  assert.equal(dlqCopy.source_root_id, 'original', 'root tracked across redrives')
  assert.deepEqual(dlqCopy.source_output, { reason: 'third' })
  assert.equal(dlqCopy.output, null)
  assert.equal(dlqCopy.singleton_key, 'sk')
  assert.equal(dlqCopy.heartbeat_seconds, 15, "the dead letter queue's heartbeatSeconds, as 12.38 writes it")
})

test('a deadletter result with attempts left fails the job as 12.38 does: its start moves by its retry delay', async () => {
  const [pa, pb] = [prefix(), prefix()]
  const answers = []
  for (const [boss, p] of [[ours, pa], [ref, pb]]) {
    await deadLetterPair(boss, p, { source: { retryLimit: 3, retryDelay: 3600 } })
    const id = await boss.send(`${p}-src`, { n: 1 })
    await boss.work(`${p}-src`, { perJobResults: true, pollingIntervalSeconds: 0.5 }, async jobs =>
      jobs.map(job => ({ id: job.id, status: 'deadletter', output: { why: 'poison' } })))
    await waitFor(async () => (await rows("name = $1 AND state = 'failed'", [`${p}-src`])).length === 1)
    await boss.offWork(`${p}-src`)
    const [failed] = await rows('name = $1', [`${p}-src`])
    const all = await rows('name LIKE $1', [`${p}-%`])
    answers.push({
      rows: all.map(r => comparable(r, p, { [id]: 'original' })),
      delay: Math.round((failed.start_after - failed.completed_on) / 1000)
    })
  }
  assert.deepEqual(answers[0], answers[1])
  assert.equal(answers[0].delay, 3600)
})

test('redrive round trip: fail into the dead letter queue, preview, redrive back, the job runs again', async () => {
  const answers = []
  for (const [boss, p] of [[ours, prefix()], [ref, prefix()]]) {
    await deadLetterPair(boss, p)
    const original = await failOne(boss, `${p}-src`, { n: 1 }, { priority: 3 })
    const preview = await boss.previewRedrive(`${p}-dlq`)
    const moved = await boss.redrive(`${p}-dlq`)
    const previewAfter = await boss.previewRedrive(`${p}-dlq`)
    const ran = []
    await boss.work(`${p}-src`, { pollingIntervalSeconds: 0.5 }, async ([job]) => { ran.push(job) })
    await waitFor(() => ran.length === 1)
    await waitFor(async () => (await rows("name = $1 AND state = 'completed'", [`${p}-src`])).length === 1)
    await boss.offWork(`${p}-src`)
    const [job] = ran
    assert.notEqual(job.id, original, 'a new job')
    assert.deepEqual(job.data, { n: 1 })
    const [redriven] = await rows('name = $1 AND id = $2', [`${p}-src`, job.id])
    answers.push({
      preview: JSON.parse(JSON.stringify(preview).replaceAll(p, 'P')),
      moved,
      previewAfter,
      left: (await rows('name = $1', [`${p}-dlq`])).length,
      redriven: comparable(redriven, p, { [original]: 'original', [job.id]: 'new' })
    })
  }
  assert.deepEqual(answers[0], answers[1])
  assert.deepEqual(answers[0].preview, { total: 1, destinations: [{ name: 'P-src', count: 1 }], unroutable: 0 })
  assert.equal(answers[0].moved, 1)
  assert.equal(answers[0].left, 0)
  assert.equal(answers[0].redriven.source_root_id, 'original')
  assert.equal(answers[0].redriven.priority, 3)
})

/** Two sources into one dead letter queue, jobs tagged a/b, half of them failed before `cutoff`. */
async function filledDeadLetterQueue (boss, p) {
  await boss.createQueue(`${p}-dlq`)
  await boss.createQueue(`${p}-dest`)
  await boss.createQueue(`${p}-one`, { deadLetter: `${p}-dlq`, retryLimit: 0 })
  await boss.createQueue(`${p}-two`, { deadLetter: `${p}-dlq`, retryLimit: 0 })
  const copies = {}
  const failTagged = async (queue, tag) => {
    const original = await failOne(boss, queue, { tag, queue: queue.slice(p.length) })
    const [copy] = await rows('name = $1 AND source_id = $2', [`${p}-dlq`, original])
    copies[`${tag}${queue.slice(p.length)}`] = copy.id
  }
  await failTagged(`${p}-one`, 'a')
  await failTagged(`${p}-two`, 'b')
  await sleep(20)
  const { rows: [{ now }] } = await db.query('SELECT now()')
  await sleep(20)
  await failTagged(`${p}-one`, 'b')
  await failTagged(`${p}-two`, 'a')
  // a job sent straight to the dead letter queue has no source to go back to
  await boss.send(`${p}-dlq`, { tag: 'a', queue: 'none' })
  return { cutoff: now, copies }
}

test('previewRedrive() and redrive() filters: data, createdBefore, ids, sourceName, destination, limit', async () => {
  const [pa, pb] = [prefix(), prefix()]
  const a = await filledDeadLetterQueue(ours, pa)
  const b = await filledDeadLetterQueue(ref, pb)
  const side = p => p === pa ? a : b
  const filters = [
    p => ({}),
    p => ({ data: { tag: 'a' } }),
    p => ({ data: { tag: 'a', queue: '-one' } }),
    p => ({ createdBefore: side(p).cutoff }),
    p => ({ ids: [side(p).copies['a-one'], side(p).copies['a-two']] }),
    p => ({ sourceName: `${p}-two` }),
    p => ({ destination: `${p}-dest` }),
    p => ({ destination: `${p}-dest`, data: { tag: 'a' } }),
    p => ({ destination: `${p}-gone` }),
    p => ({ limit: 1 }),
    p => ({ limit: 2, sourceName: `${p}-one`, createdBefore: side(p).cutoff, data: { tag: 'a' } }),
    p => ({ ids: [randomUUID()] })
  ]
  for (const f of filters) {
    const preview = await sameOutcome('previewRedrive', p => [`${p}-dlq`, f(p)], [pa, pb])
    assert.ok(preview.ok, JSON.stringify(preview))
  }
  const all = (await sameOutcome('previewRedrive', p => [`${p}-dlq`], [pa, pb])).ok
  assert.deepEqual(all, { total: 5, destinations: [{ name: `${pa}-one`, count: 2 }, { name: `${pa}-two`, count: 2 }], unroutable: 1 })
  // redrives, one filter after another: what each moves, and what is left, as pg-boss does
  const moves = [
    p => ({ ids: [side(p).copies['a-one']] }),
    p => ({ sourceName: `${p}-two`, createdBefore: side(p).cutoff }),
    p => ({ data: { tag: 'a', queue: '-two' }, destination: `${p}-dest` }),
    p => ({ limit: 1 }),
    p => ({})
  ]
  for (const f of moves) {
    const moved = await sameOutcome('redrive', p => [`${p}-dlq`, f(p)], [pa, pb])
    assert.equal(typeof moved.ok, 'number')
    const left = async p => (await rows('name = $1', [`${p}-dlq`])).map(r => r.data)
    assert.deepEqual(await left(pa), await left(pb))
    for (const q of ['one', 'two', 'dest']) {
      const here = async p => (await rows('name = $1', [`${p}-${q}`])).map(r => [r.state, r.data])
      assert.deepEqual(await here(pa), await here(pb), q)
    }
  }
  // only the job without a source is left, and a destination moves it
  assert.deepEqual((await rows('name = $1', [`${pa}-dlq`])).map(r => r.data), [{ tag: 'a', queue: 'none' }])
  assert.equal(await ours.redrive(`${pa}-dlq`), 0)
  assert.equal(await ours.redrive(`${pa}-dlq`, { destination: `${pa}-dest` }), 1)
})

test('redrive() and previewRedrive() refuse bad options with pg-boss 12.38\'s errors, in its order', async () => {
  const [pa, pb] = [prefix(), prefix()]
  await deadLetterPair(ours, pa)
  await deadLetterPair(ref, pb)
  const cases = [
    p => [`${p}-dlq`, { limit: 0 }],
    p => [`${p}-dlq`, { limit: 1.5 }],
    p => [`${p}-dlq`, { limit: null }],
    p => [`${p}-dlq`, { limit: '5' }],
    p => [`${p}-dlq`, { limit: undefined }],
    p => [`${p}-dlq`, { limit: 100001 }],
    p => [`${p}-dlq`, { limit: 0, data: [] }],
    p => [`${p}-dlq`, { destination: '' }],
    p => [`${p}-dlq`, { destination: 'bad name!' }],
    p => [`${p}-dlq`, { destination: 5 }],
    p => [`${p}-dlq`, { destination: undefined, sourceName: undefined }],
    p => [`${p}-dlq`, { sourceName: null }],
    p => [`${p}-dlq`, { data: [] }],
    p => [`${p}-dlq`, { data: 'x' }],
    p => [`${p}-dlq`, { data: null }],
    p => [`${p}-dlq`, { createdBefore: '2020-01-01T00:00:00Z' }],
    p => [`${p}-dlq`, { createdBefore: new Date('nonsense') }],
    p => [`${p}-dlq`, { createdBefore: 5 }],
    p => [`${p}-dlq`, { ids: [] }],
    p => [`${p}-dlq`, { ids: ['a', 1] }],
    p => [`${p}-dlq`, { ids: 'a' }],
    p => [`${p}-dlq`, { ids: ['not-a-uuid'] }],
    p => [`${p}-dlq`, { destination: 'no-such-queue' }],
    p => [undefined],
    p => ['bad name!'],
    p => ['no-such-queue']
  ]
  for (const method of ['redrive', 'previewRedrive']) {
    for (const args of cases) await sameOutcome(method, args, [pa, pb])
  }
})

test('redrive() tolerates policy collisions: the job it cannot re-create is failed in place, saying why', async () => {
  for (const [policy, key] of [['short', undefined], ['short', 'k'], ['stately', 'k'], ['exclusive', 'k']]) {
    const [pa, pb] = [prefix(), prefix()]
    const answers = []
    for (const [boss, p] of [[ours, pa], [ref, pb]]) {
      await deadLetterPair(boss, p, { source: { policy } })
      const first = await failOne(boss, `${p}-src`, { n: 1 }, { singletonKey: key })
      const second = await failOne(boss, `${p}-src`, { n: 2 }, { singletonKey: key })
      const moved = await boss.redrive(`${p}-dlq`)
      const movedAgain = await boss.redrive(`${p}-dlq`)
      const all = await rows('name LIKE $1', [`${p}-%`])
      answers.push({ moved, movedAgain, rows: all.map(r => comparable(r, p, { [first]: 'first', [second]: 'second' })) })
    }
    assert.deepEqual(answers[0], answers[1], `${policy} ${key}`)
    assert.equal(answers[0].moved, 1)
    assert.equal(answers[0].movedAgain, 0)
    const refused = answers[0].rows.find(r => r.name === 'P-dlq')
    assert.equal(refused.state, 'failed')
    assert.equal(refused.output.reason, 'redrive_conflict')
    assert.deepEqual(refused.source_output, { reason: 'boom' })
  }
})

test('redrive() with a db runs in the caller\'s transaction', async () => {
  const p = prefix()
  await deadLetterPair(ours, p)
  await failOne(ours, `${p}-src`, { n: 1 })
  const client = new pg.Client({ connectionString })
  await client.connect()
  const txdb = { executeSql: (text, values) => client.query(text, values) }
  try {
    await client.query('BEGIN')
    assert.deepEqual(await ours.previewRedrive(`${p}-dlq`, { db: txdb }), { total: 1, destinations: [{ name: `${p}-src`, count: 1 }], unroutable: 0 })
    assert.equal(await ours.redrive(`${p}-dlq`, { db: txdb }), 1)
    assert.deepEqual(await ours.previewRedrive(`${p}-dlq`, { db: txdb }), { total: 0, destinations: [], unroutable: 0 })
    await client.query('ROLLBACK')
  } finally {
    await client.end()
  }
  assert.equal((await rows('name = $1', [`${p}-dlq`])).length, 1, 'the move rolled back with the transaction')
})

/** A key_strict_fifo queue with failed jobs holding keys e, c, a, d, b, and an active one holding z. */
async function blockedQueue (boss, p) {
  const q = `${p}-fifo`
  await boss.createQueue(q, { policy: 'key_strict_fifo', retryLimit: 0 })
  for (const key of ['e', 'c', 'a', 'd', 'b']) {
    await failOne(boss, q, { key }, { singletonKey: key })
  }
  await boss.send(q, { key: 'z' }, { singletonKey: 'z' })
  await boss.fetch(q)
  await boss.createQueue(`${p}-plain`)
  return q
}

test('getBlockedKeys() pages the keys failed jobs hold, in order, as pg-boss 12.38 does', async () => {
  const [pa, pb] = [prefix(), prefix()]
  await blockedQueue(ours, pa)
  await blockedQueue(ref, pb)
  const pages = [
    p => [`${p}-fifo`],
    p => [`${p}-fifo`, {}],
    p => [`${p}-fifo`, { limit: 2 }],
    p => [`${p}-fifo`, { limit: 2, after: 'b' }],
    p => [`${p}-fifo`, { limit: 2, after: 'd' }],
    p => [`${p}-fifo`, { after: 'e' }],
    p => [`${p}-fifo`, { after: 'bb' }],
    p => [`${p}-fifo`, { limit: 100000 }]
  ]
  for (const args of pages) await sameOutcome('getBlockedKeys', args, [pa, pb])
  assert.deepEqual(await ours.getBlockedKeys(`${pa}-fifo`), ['a', 'b', 'c', 'd', 'e'])
  assert.deepEqual(await ours.getBlockedKeys(`${pa}-fifo`, { limit: 2, after: 'b' }), ['c', 'd'])
  // walking the pages visits every key once
  const walked = []
  let after
  for (;;) {
    const page = await ours.getBlockedKeys(`${pa}-fifo`, after === undefined ? { limit: 2 } : { limit: 2, after })
    if (!page.length) break
    walked.push(...page)
    after = page.at(-1)
  }
  assert.deepEqual(walked, ['a', 'b', 'c', 'd', 'e'])
  // retrying a failed job unblocks its key
  const [failedC] = await rows("name = $1 AND singleton_key = 'c'", [`${pa}-fifo`])
  await ours.retry(`${pa}-fifo`, failedC.id)
  assert.deepEqual(await ours.getBlockedKeys(`${pa}-fifo`), ['a', 'b', 'd', 'e'])
})

test('getBlockedKeys() refuses other policies and bad paging options as pg-boss 12.38 does', async () => {
  const [pa, pb] = [prefix(), prefix()]
  await blockedQueue(ours, pa)
  await blockedQueue(ref, pb)
  const cases = [
    p => [`${p}-plain`],
    p => [`${p}-fifo`, { limit: 0 }],
    p => [`${p}-fifo`, { limit: 100001 }],
    p => [`${p}-fifo`, { limit: 1.5 }],
    p => [`${p}-fifo`, { limit: null }],
    p => [`${p}-fifo`, { limit: '2' }],
    p => [`${p}-fifo`, { after: '' }],
    p => [`${p}-fifo`, { after: 5 }],
    p => [`${p}-fifo`, { after: null }],
    p => [`${p}-plain`, { limit: 0 }],
    p => ['no-such-queue'],
    p => ['bad name!'],
    p => [undefined]
  ]
  for (const args of cases) {
    const r = await sameOutcome('getBlockedKeys', args, [pa, pb])
    assert.ok(r.error, JSON.stringify(r))
  }
  const r = await outcome(() => ours.getBlockedKeys(`${pa}-plain`))
  assert.deepEqual(r, { error: 'Error', code: undefined, message: 'getBlockedKeys is only available for key_strict_fifo queues' })
})
