// One schema, two implementations: pg-boss 12.38 and pg-boss-native process each other's jobs and
// read each other's queues and jobs identically.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bothForFile } from './helpers.mjs'

const SCHEMA = 'pgbn_interop_test'
let ours, ref, db
bothForFile(SCHEMA, both => ({ ours, ref, db } = both))

// resolved once the instances exist: [label, producer, consumer]
const PAIRS = [['pg-boss → native', () => [ref, ours]], ['native → pg-boss', () => [ours, ref]]]

test('each reads the other queues identically', async () => {
  await ref.createQueue('made-by-pgboss', { policy: 'stately', retryLimit: 4, partition: true })
  await ours.createQueue('made-by-native', { policy: 'short', retryBackoff: true, retryDelayMax: 7, heartbeatSeconds: 15 })
  for (const name of ['made-by-pgboss', 'made-by-native']) {
    assert.deepStrictEqual(await ours.getQueue(name), await ref.getQueue(name))
  }
  assert.deepStrictEqual(await ours.getQueues(), await ref.getQueues())
})

for (const [label, roles] of PAIRS) {
  test(`${label}: send, fetch, complete, fail, with identical reads along the way`, async () => {
    const [producer, consumer] = roles()
    const q = `interop-${label.startsWith('pg') ? 'a' : 'b'}`
    await producer.createQueue(q, { retryLimit: 1 })
    const ids = []
    for (let i = 0; i < 4; i++) ids.push(await producer.send(q, { i }, { priority: i, singletonKey: `k${i}`, group: { id: 'g' } }))
    const readBoth = async () => {
      assert.deepStrictEqual(await consumer.findJobs(q), await producer.findJobs(q))
      for (const id of ids) assert.deepStrictEqual(await consumer.getJobById(q, id), await producer.getJobById(q, id))
    }
    await readBoth()
    const jobs = await consumer.fetch(q, { batchSize: 4, includeMetadata: true })
    // the claim's RETURNING order is not the priority order, in either implementation
    jobs.sort((x, y) => y.data.i - x.data.i)
    assert.deepEqual(jobs.map(j => j.data.i), [3, 2, 1, 0])
    await readBoth()
    const c = await consumer.complete(q, jobs.slice(0, 2).map(j => ({ id: j.id, retryCount: j.retryCount })), { done: true })
    assert.equal(c.affected, 2)
    const f = await consumer.fail(q, jobs.slice(2).map(j => j.id), new Error('bad'))
    assert.equal(f.affected, 2)
    await readBoth()
    // the producer sees them retried and can take them on
    const again = await producer.fetch(q, { batchSize: 10 })
    assert.deepEqual(again.map(j => j.data.i).sort(), [0, 1])
    assert.ok(again.every(j => j.retryCount === 1))
    await producer.fail(q, again.map(j => ({ id: j.id, retryCount: j.retryCount })))
    await readBoth()
    const states = (await consumer.findJobs(q)).map(j => [j.data.i, j.state]).sort()
    assert.deepEqual(states, [[0, 'failed'], [1, 'failed'], [2, 'completed'], [3, 'completed']])
    assert.deepStrictEqual(await consumer.getQueueStats(q, { force: true }).then(s => s.map(({ capturedOn, ...r }) => r)),
      await producer.getQueueStats(q).then(s => s.map(({ capturedOn, ...r }) => r)))
  })

  test(`${label}: dead letter and retry produced by one are processed by the other`, async () => {
    const [producer, consumer] = roles()
    const tag = label.startsWith('pg') ? 'a' : 'b'
    const dlq = `interop-dlq-${tag}`
    const q = `interop-src-${tag}`
    await producer.createQueue(dlq)
    await producer.createQueue(q, { retryLimit: 0, deadLetter: dlq })
    const id = await producer.send(q, { payload: tag })
    const [job] = await producer.fetch(q)
    await producer.fail(q, job, { reason: 'x' })
    // the consumer picks the dead letter copy up, with pg-boss's provenance
    const [dead] = await consumer.fetch(dlq, { includeMetadata: true })
    assert.deepEqual(dead.data, { payload: tag })
    assert.equal(dead.sourceName, q)
    assert.equal(dead.sourceId, id)
    assert.deepEqual(dead.sourceOutput, { reason: 'x' })
    assert.equal(dead.sourceRootId, id)
    assert.deepStrictEqual(await producer.findJobs(dlq), await consumer.findJobs(dlq))
    await consumer.complete(dlq, dead.id)
    // the consumer retries the failed original; the producer runs it again
    const r = await consumer.retry(q, id)
    assert.equal(r.affected, 1)
    const [rerun] = await producer.fetch(q)
    assert.equal(rerun.id, id)
    assert.equal(rerun.retryCount, 1)
    await producer.complete(q, rerun)
    assert.equal((await consumer.getJobById(q, id)).state, 'completed')
  })
}

test('a failed job is written back as pg-boss writes it: retried, then failed with a dead letter copy, by fail() and by a worker', async () => {
  // twin queues, one failed by each implementation; their rows must match column for column
  const volatile = ['id', 'name', 'dead_letter', 'source_name', 'source_id', 'source_root_id', 'created_on', 'started_on', 'completed_on', 'start_after', 'keep_until', 'heartbeat_on', 'source_created_on']
  const rowOf = async (name) => {
    const { rows } = await db.query(
      `SELECT to_jsonb(j) - $2::text[] AS row, completed_on IS NULL AS open, start_after > now() + interval '2 seconds' AS delayed,
              heartbeat_on IS NULL AS no_heartbeat
       FROM ${SCHEMA}.job j WHERE name = $1 ORDER BY created_on, (data->>'k')`, [name, volatile])
    return rows
  }
  const viaWorker = async (side, q) => {
    let seen = 0
    await side.work(q, { pollingIntervalSeconds: 0.5, batchSize: 2, perJobResults: true }, async jobs => {
      seen += jobs.length
      return jobs.map(j => ({ id: j.id, status: j.data.k === 'a' ? 'failed' : 'completed', output: { k: j.data.k } }))
    })
    const started = Date.now()
    while (seen < 2 && Date.now() - started < 10_000) await new Promise(resolve => setTimeout(resolve, 50))
    await side.offWork(q)
  }
  const sides = [['ref', ref], ['ours', ours]]
  for (const [tag, side] of sides) {
    await ref.createQueue(`fr-dlq-${tag}`)
    await ref.createQueue(`fr-${tag}`, { retryLimit: 1, retryDelay: 30, retryBackoff: true, retryDelayMax: 60, deadLetter: `fr-dlq-${tag}` })
    await ref.insert(`fr-${tag}`, [
      { data: { k: 'a' }, priority: 3, singletonKey: 'sk', group: { id: 'g', tier: 't' }, heartbeatSeconds: 20 },
      { data: { k: 'b' }, expireInSeconds: 40 }
    ])
    // first attempt: fail() with an output, so the jobs wait to retry (with backoff)
    const first = await side.fetch(`fr-${tag}`, { batchSize: 2 })
    assert.equal(first.length, 2)
    await side.fail(`fr-${tag}`, first.map(j => j.id), { reason: 'first' })
  }
  const retrying = await rowOf('fr-ref')
  assert.deepEqual(retrying.map(r => [r.row.state, r.delayed]), [['retry', true], ['retry', true]])
  assert.deepStrictEqual(await rowOf('fr-ours'), retrying)
  for (const [tag, side] of sides) {
    // second attempt, run early: by a worker, which fails a for good and completes b
    await db.query(`UPDATE ${SCHEMA}.job SET start_after = now() WHERE name = $1`, [`fr-${tag}`])
    await viaWorker(side, `fr-${tag}`)
  }
  const [refRows, ourRows] = [await rowOf('fr-ref'), await rowOf('fr-ours')]
  assert.equal(refRows.length, 2)
  assert.deepStrictEqual(ourRows, refRows)
  assert.deepEqual(refRows.map(r => r.row.state), ['failed', 'completed'])
  const [refDead, ourDead] = [await rowOf('fr-dlq-ref'), await rowOf('fr-dlq-ours')]
  assert.equal(refDead.length, 1)
  assert.deepStrictEqual(ourDead, refDead)
})
