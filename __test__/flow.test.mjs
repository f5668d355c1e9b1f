// Flows: flow(), the dependency reads and the resolver, with pg-boss 12.38 on the same schema
// filing, working and resolving the same flows.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bothForFile, connectionString, outcome, pg, waitFor } from './helpers.mjs'

const SCHEMA = 'pgbn_test_flow'
let ours, ref, db
bothForFile(SCHEMA, both => ({ ours, ref, db } = both))

let seq = 0
const unique = (prefix = 'fl') => `${prefix}-${++seq}`

async function queue (boss = ours, options = {}) {
  const name = unique('q')
  await boss.createQueue(name, options)
  return name
}

async function row (name, id) {
  const { rows } = await db.query(`SELECT * FROM ${SCHEMA}.job WHERE name = $1 AND id = $2`, [name, id])
  return rows[0]
}

/** Every `flow` event `boss` raises while `fn` runs, then `fn`'s value. */
async function flowEvents (boss, fn) {
  const events = []
  const listener = e => events.push(e)
  boss.on('flow', listener)
  try {
    await fn()
  } finally {
    boss.off('flow', listener)
  }
  return events
}

test('flow() refuses bad input with pg-boss 12.38\'s messages', async () => {
  const name = await queue()
  const inputs = [
    undefined, {}, [], [{ ref: 'a', name }],
    [{ ref: '', name }, { ref: 'b', name }],
    [{ ref: 'a', name }, { ref: 'a', name }],
    [{ ref: 'a', name: '' }, { ref: 'b', name }],
    [{ ref: 'a', name: 'bad name!' }, { ref: 'b', name }],
    [{ ref: 'a', name }, { ref: 'b', name }],
    [{ ref: 'a', name }, { ref: 'b', name, dependsOn: 'a' }],
    [{ ref: 'a', name }, { ref: 'b', name, dependsOn: ['a', ''] }],
    [{ ref: 'a', name }, { ref: 'b', name, dependsOn: ['b'] }],
    [{ ref: 'a', name }, { ref: 'b', name, dependsOn: ['c'] }],
    [{ ref: 'a', name, dependsOn: ['c'] }, { ref: 'b', name, dependsOn: ['a'] }, { ref: 'c', name, dependsOn: ['b'] }],
    [{ ref: 'a', name, options: { priority: 1.5 } }, { ref: 'b', name, dependsOn: ['a'] }]
  ]
  for (const jobs of inputs) {
    const mine = await outcome(() => ours.flow(jobs))
    assert.ok(mine.error, JSON.stringify(jobs))
    assert.deepEqual(mine, await outcome(() => ref.flow(jobs)), JSON.stringify(jobs))
  }
  // unlike send(), flow() lets a function through as data, which is stored as null
  for (const boss of [ours, ref]) {
    const ids = await boss.flow([{ ref: 'a', name, data: () => {} }, { ref: 'b', name, dependsOn: ['a'] }])
    assert.equal((await row(name, ids.a)).data, null)
  }
})

test('a child waits, never fetched, until the resolver sees its parents completed', async () => {
  const name = await queue()
  const ids = await ours.flow([
    { ref: 'left', name, data: { side: 'l' } },
    { ref: 'right', name, data: { side: 'r' } },
    { ref: 'join', name, dependsOn: ['left', 'right', 'left'] }
  ])
  assert.deepEqual(Object.keys(ids), ['left', 'right', 'join'])
  const child = await row(name, ids.join)
  assert.equal(child.blocked, true)
  assert.equal(child.pending_dependencies, 2, 'a parent named twice counts once')
  assert.equal((await row(name, ids.left)).blocking, true)

  const parents = await ours.fetch(name, { batchSize: 10 })
  assert.deepEqual(parents.map(j => j.id).sort(), [ids.left, ids.right].sort())
  await ours.complete(name, ids.left)
  await ours.resolveFlow()
  assert.equal((await row(name, ids.join)).pending_dependencies, 1)
  assert.deepEqual(await ours.fetch(name), [], 'one parent left')

  await ours.complete(name, ids.right)
  assert.deepEqual(await ours.fetch(name), [], 'completion alone releases nothing: the resolver does')
  const events = await flowEvents(ours, () => ours.resolveFlow())
  assert.deepEqual(events, [{ table: 'job_common', resolved: 1 }])
  const released = await row(name, ids.join)
  assert.equal(released.blocked, false)
  assert.equal(released.pending_dependencies, 0)
  const [job] = await ours.fetch(name)
  assert.equal(job.id, ids.join)
  assert.equal((await row(name, ids.left)).blocking, false, 'a resolved parent is not counted again')
  assert.deepEqual(await flowEvents(ours, () => ours.resolveFlow()), [])
})

test('flows across a shared and a partitioned queue, filed by one implementation and worked by the other', async () => {
  const shared = await queue(ours)
  const own = await queue(ref, { partition: true })
  for (const [filer, worker] of [[ours, ref], [ref, ours]]) {
    const ids = await filer.flow([
      { ref: 'p', name: shared, data: { n: 1 } },
      { ref: 'c', name: own, data: { n: 2 }, dependsOn: ['p'], options: { priority: 3, retryLimit: 5 } }
    ])
    assert.deepEqual(await worker.getDependencies(own, ids.c), [{ name: shared, id: ids.p }])
    assert.deepEqual(await worker.getDependents(shared, ids.p), [{ name: own, id: ids.c }])
    const [parent] = await worker.fetch(shared)
    assert.equal(parent.id, ids.p)
    assert.deepEqual(await worker.fetch(own), [])
    await worker.complete(shared, parent.id)
    // the resolver of the other implementation releases it
    await filer.resolveFlow()
    const [child] = await worker.fetch(own, { includeMetadata: true })
    assert.equal(child.id, ids.c)
    assert.deepEqual(child.data, { n: 2 })
    assert.equal(child.priority, 3)
    assert.equal(child.retryLimit, 5)
    await worker.complete(own, child.id)
  }
})

test('a mixed fleet resolves each parent once', async () => {
  const name = await queue()
  const flows = []
  for (let i = 0; i < 40; i++) {
    const filer = i % 2 ? ref : ours
    flows.push(await filer.flow([
      { ref: 'a', name }, { ref: 'b', name }, { ref: 'c', name, dependsOn: ['a', 'b'] }
    ]))
  }
  const parents = flows.flatMap(f => [f.a, f.b])
  assert.equal((await ours.fetch(name, { batchSize: 100 })).length, parents.length)
  await ours.complete(name, parents.slice(0, 40))
  await ref.complete(name, parents.slice(40))
  const seen = []
  const listener = e => seen.push(e.resolved)
  ours.on('flow', listener)
  ref.on('flow', listener)
  try {
    await Promise.all([ours.resolveFlow(), ref.resolveFlow(), ours.resolveFlow(), ref.resolveFlow()])
  } finally {
    ours.off('flow', listener)
    ref.off('flow', listener)
  }
  assert.equal(seen.reduce((a, b) => a + b, 0), parents.length, 'every parent resolved exactly once')
  const { rows } = await db.query(
    `SELECT count(*)::int AS n FROM ${SCHEMA}.job WHERE name = $1 AND id = ANY($2::uuid[]) AND NOT blocked AND pending_dependencies = 0`,
    [name, flows.map(f => f.c)])
  assert.equal(rows[0].n, flows.length)
})

test('children released when their parents complete through work(), perJobResults, workEach() and complete()', async () => {
  const settle = {
    work: name => ours.work(name, { pollingIntervalSeconds: 0.5 }, async () => ({ ok: true })),
    perJobResults: name => ours.work(name, { pollingIntervalSeconds: 0.5, perJobResults: true, batchSize: 5 },
      async jobs => jobs.map(j => ({ id: j.id, status: 'completed', output: { each: true } }))),
    workEach: name => ours.workEach(name, { pollingIntervalSeconds: 0.5 }, async () => {})
  }
  for (const kind of ['work', 'perJobResults', 'workEach', 'complete']) {
    const name = await queue()
    const ids = await ours.flow([{ ref: 'p', name }, { ref: 'c', name, dependsOn: ['p'] }])
    if (kind === 'complete') {
      await ours.fetch(name)
      await ours.complete(name, ids.p)
    } else {
      const worker = await settle[kind](name)
      await waitFor(async () => (await row(name, ids.p)).state === 'completed')
      await ours.offWork(name, { id: worker })
    }
    assert.equal((await row(name, ids.c)).blocked, true, kind)
    await ours.resolveFlow()
    assert.equal((await row(name, ids.c)).blocked, false, kind)
    const [child] = await ours.fetch(name)
    assert.equal(child?.id, ids.c, kind)
  }
})

test('a failed or cancelled parent leaves its child waiting; a retried one releases it when it completes', async () => {
  const name = await queue(ours, { retryLimit: 1 })
  const failed = await ours.flow([{ ref: 'p', name }, { ref: 'c', name, dependsOn: ['p'] }])
  const cancelled = await ours.flow([{ ref: 'p', name, options: { retryLimit: 0 } }, { ref: 'c', name, dependsOn: ['p'] }])
  await ours.fetch(name, { batchSize: 2 })
  await ours.fail(name, failed.p, { why: 'first try' })
  await ours.cancel(name, cancelled.p)
  await ours.resolveFlow()
  assert.equal((await row(name, failed.c)).blocked, true)
  assert.equal((await row(name, cancelled.c)).blocked, true)
  const retried = await row(name, failed.p)
  assert.equal(retried.state, 'retry')
  assert.equal(retried.blocking, true, 'the retry keeps its flow flags')
  const [again] = await ours.fetch(name)
  assert.equal(again.id, failed.p)
  await ours.complete(name, again.id)
  await ours.resolveFlow()
  assert.equal((await row(name, failed.c)).blocked, false)
  assert.equal((await row(name, cancelled.c)).blocked, true)
})

test('complete({ includeQueued }) completes a waiting child with its parent', async () => {
  const name = await queue()
  const ids = await ours.flow([{ ref: 'p', name }, { ref: 'c', name, dependsOn: ['p'] }])
  await ours.fetch(name)
  const result = await ours.complete(name, [ids.p, ids.c], null, { includeQueued: true })
  assert.equal(result.affected, 2)
  const child = await row(name, ids.c)
  assert.equal(child.state, 'completed')
  assert.equal(child.blocked, false)
  await ours.resolveFlow()
  assert.equal((await row(name, ids.p)).blocking, false)
})

test('a flow is all or nothing: a refused job, a missing queue, a bad id', async () => {
  const name = await queue(ours, { policy: 'singleton' })
  const other = await queue()
  const taken = await ours.send(other, {}, { id: '00000000-0000-4000-8000-00000000f10f' })
  const before = (await db.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.job`)).rows[0].n
  const refused = [
    [{ ref: 'a', name: other, options: { id: taken } }, { ref: 'b', name: other, dependsOn: ['a'] }],
    [{ ref: 'a', name: other }, { ref: 'b', name: 'no-such-queue', dependsOn: ['a'] }],
    [{ ref: 'a', name: other, options: { id: 'not-a-uuid' } }, { ref: 'b', name: other, dependsOn: ['a'] }]
  ]
  for (const jobs of refused) {
    const mine = await outcome(() => ours.flow(jobs))
    assert.ok(mine.error, JSON.stringify(jobs))
    const theirs = await outcome(() => ref.flow(jobs))
    assert.equal(mine.message, theirs.message, JSON.stringify(jobs))
  }
  assert.equal((await db.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.job`)).rows[0].n, before)
  assert.ok(name)
})

test('a flow in a caller\'s transaction rolls back with it', async () => {
  const name = await queue()
  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    await client.query('BEGIN')
    const ids = await ours.flow([{ ref: 'p', name }, { ref: 'c', name, dependsOn: ['p'] }], {
      db: { executeSql: (text, values) => client.query(text, values) }
    })
    const inside = await client.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.job_dependency WHERE child_id = $1`, [ids.c])
    assert.equal(inside.rows[0].n, 1)
    await client.query('ROLLBACK')
    assert.equal(await row(name, ids.p), undefined)
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.job_dependency WHERE child_id = $1`, [ids.c])
    assert.equal(rows[0].n, 0)
  } finally {
    await client.end()
  }
})

test('getDependencies() and getDependents() page by (name, id) and check their options as pg-boss does', async () => {
  const a = await queue()
  const b = await queue()
  const jobs = [{ ref: 'child', name: a, dependsOn: [] }]
  for (let i = 0; i < 5; i++) {
    jobs.push({ ref: `p${i}`, name: i % 2 ? a : b })
    jobs[0].dependsOn.push(`p${i}`)
  }
  const ids = await ours.flow(jobs)
  const all = await ours.getDependencies(a, ids.child)
  assert.equal(all.length, 5)
  assert.deepEqual(all, await ref.getDependencies(a, ids.child))
  const first = await ours.getDependencies(a, ids.child, { limit: 2 })
  const next = await ours.getDependencies(a, ids.child, { limit: 2, after: first[1] })
  assert.deepEqual([...first, ...next], all.slice(0, 4))
  assert.deepEqual(next, await ref.getDependencies(a, ids.child, { limit: 2, after: first[1] }))
  assert.deepEqual(await ours.getDependents(b, ids.p0), [{ name: a, id: ids.child }])
  for (const options of [{ limit: 0 }, { limit: 1.5 }, { after: 'x' }, { after: { name: a } }, { after: { name: a, id: 'x' } }, { after: null }]) {
    for (const method of ['getDependencies', 'getDependents']) {
      const mine = await outcome(() => ours[method](a, ids.child, options))
      assert.ok(mine.error, `${method} ${JSON.stringify(options)}`)
      assert.deepEqual(mine, await outcome(() => ref[method](a, ids.child, options)), `${method} ${JSON.stringify(options)}`)
    }
  }
  assert.deepEqual(await outcome(() => ours.getDependents()), await outcome(() => ref.getDependents()))
})

test('maintenance drops the edges of deleted jobs', async () => {
  const name = await queue()
  const ids = await ours.flow([{ ref: 'p', name }, { ref: 'c', name, dependsOn: ['p'] }])
  await ours.deleteJob(name, ids.c)
  const edges = async () => (await db.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.job_dependency WHERE parent_id = $1`, [ids.p])).rows[0].n
  assert.equal(await edges(), 1)
  await db.query(`UPDATE ${SCHEMA}.queue SET maintain_on = NULL WHERE name = $1`, [name])
  await ours.supervise(name)
  assert.equal(await edges(), 0)
})

test('isResolvingFlow() reads true only while a pass runs', async () => {
  assert.equal(ours.isResolvingFlow(), false)
  const pass = ours.resolveFlow()
  await pass
  assert.equal(ours.isResolvingFlow(), false)
})
