// The monitor's throughput counters and latency histograms (persistQueueStats): the same workload
// run through pg-boss-native and pg-boss 12.38, each on its own schema, records the same deltas,
// histograms of the same jobs and the same oldest ready wait; a mixed fleet sharing the monitor
// claim counts every job once; and a job committed behind a counted window is trued up.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { percentile } from '../index.mjs'
import { dropSchema, pool, sleep, startBoss, startPgBoss } from './helpers.mjs'

const OURS = 'dlt_ours'
const REF = 'dlt_ref'
const MIXED = 'dlt_mixed'
const LAG_MS = 10_000 // a pass counts up to 10 s behind it
const options = { persistQueueStats: true, monitorIntervalSeconds: 1 }
let ours, ref, db

before(async () => {
  for (const s of [OURS, REF, MIXED]) await dropSchema(s)
  ours = await startBoss(OURS, options)
  ref = await startPgBoss(REF, options)
  db = pool()
})

after(async () => {
  await ours?.stop()
  await ref?.stop({ graceful: false })
  await db?.end()
  for (const s of [OURS, REF, MIXED]) await dropSchema(s)
})

/** The snapshots of queue `q`, oldest first. */
async function history (boss, q) {
  return (await boss.getQueueStats(q, { percentiles: [50] })).reverse()
}

/** pg-boss 12.38's slot for a duration, in JavaScript: under 10 ms, then bins growing by √2. */
function slotOf (seconds) {
  const raw = Math.floor((Math.log(Math.max(seconds, 0.001)) - Math.log(0.01)) / (Math.log(2) / 2)) + 1
  return Math.min(Math.max(raw, 0), 47)
}

/** The wait and run histograms of the jobs of `q` that finished in [from, to), from the rows. */
async function binsFromRows (schema, q, from, to) {
  const { rows } = await db.query(
    `SELECT date_part('epoch', started_on - greatest(created_on, start_after)) AS wait,
       date_part('epoch', completed_on - started_on) AS run
     FROM ${schema}.job
     WHERE name = $1 AND state IN ('completed', 'failed') AND started_on IS NOT NULL
       AND completed_on >= $2::timestamptz AND completed_on < $3::timestamptz`, [q, from, to])
  const wait = new Array(48).fill(0)
  const run = new Array(48).fill(0)
  for (const r of rows) {
    wait[slotOf(r.wait)]++
    run[slotOf(r.run)]++
  }
  return { wait, run }
}

/** The window ends recorded for `q` (text, microsecond precision), oldest first. */
async function windowEnds (schema, q) {
  const { rows } = await db.query(
    `SELECT delta_on::text AS "deltaOn" FROM ${schema}.queue_stats WHERE name = $1 ORDER BY captured_on`, [q])
  return rows.map(r => r.deltaOn)
}

const sum = bins => bins.reduce((a, n) => a + n, 0)

/**
 * Three counting passes over a workload: sends, a deferred job, jobs that wait about 2 s and run
 * about 1 s, a terminal failure, a cancellation. Returns the times the passes ran.
 */
async function workload (boss, q) {
  await boss.createQueue(q, { retryLimit: 0 })
  const passes = []
  await boss.supervise(q) // opens the window: counts nothing
  passes.push(Date.now())
  const sent = Date.now()
  await boss.insert(q, Array.from({ length: 6 }, (_, i) => ({ data: { i } })))
  await boss.send(q, { deferred: true }, { startAfter: 3600 })
  await sleep(2100)
  const first = await boss.fetch(q, { batchSize: 4 })
  await sleep(1000)
  await boss.complete(q, first.slice(0, 3).map(j => j.id))
  await boss.fail(q, first[3].id, { message: 'no' })
  await sleep(LAG_MS + 1000)
  await boss.supervise(q) // 7 created, 3 completed, 1 failed; 2 ready jobs waiting since `sent`
  passes.push(Date.now())
  const readyWait = (Date.now() - sent) / 1000
  await boss.insert(q, Array.from({ length: 3 }, () => ({ data: {} })))
  const second = await boss.fetch(q, { batchSize: 10 })
  await sleep(1000)
  await boss.complete(q, second.slice(0, 4).map(j => j.id))
  await boss.cancel(q, second[4].id)
  await sleep(LAG_MS + 1000)
  await boss.supervise(q) // 3 created, 4 completed; nothing ready (the deferred job is not)
  passes.push(Date.now())
  return { passes, readyWait, fetched: [first.length, second.length] }
}

test('a workload records the deltas, histograms and oldest ready wait pg-boss 12.38 records for it', async () => {
  const q = 'work'
  const [mine, theirs] = await Promise.all([workload(ours, q), workload(ref, q)])
  assert.deepEqual(mine.fetched, [4, 5])
  assert.deepEqual(theirs.fetched, [4, 5])
  const a = await history(ours, q)
  const b = await history(ref, q)
  assert.equal(a.length, 3)
  assert.equal(b.length, 3)
  const counters = s => [s.createdDelta, s.completedDelta, s.failedDelta]
  assert.deepEqual(a.map(counters), [[0, 0, 0], [7, 3, 1], [3, 4, 0]])
  assert.deepEqual(a.map(counters), b.map(counters))

  // the first pass only opens the window: no seconds, every slot empty, nothing ready yet
  for (const s of [a[0], b[0]]) {
    assert.equal(s.deltaSeconds, null)
    assert.deepEqual(s.waitBins, new Array(48).fill(0))
    assert.deepEqual(s.runBins, new Array(48).fill(0))
    assert.equal(s.readyOldestSeconds, 0)
    assert.deepEqual(s.percentiles, [{ p: 50, waitSeconds: null, runSeconds: null }])
  }
  // each later window runs from the previous pass's end to its own, 10 s behind the pass
  for (const [s, run] of [[a, mine], [b, theirs]]) {
    for (const i of [1, 2]) {
      const gap = (run.passes[i] - run.passes[i - 1]) / 1000
      assert.ok(Math.abs(s[i].deltaSeconds - gap) <= 1.5, `${s[i].deltaSeconds} vs ${gap}`)
      assert.ok(s[i].deltaOn > s[i - 1].deltaOn)
      assert.ok(Math.abs(s[i].capturedOn - s[i].deltaOn - LAG_MS) < 1000)
    }
  }
  // the histograms hold exactly the finished jobs of each window, binned from their rows
  for (const [schema, series] of [[OURS, a], [REF, b]]) {
    const ends = await windowEnds(schema, q)
    for (const i of [1, 2]) {
      const expected = await binsFromRows(schema, q, ends[i - 1], ends[i])
      assert.deepEqual(series[i].waitBins, expected.wait, `${schema} pass ${i} wait`)
      assert.deepEqual(series[i].runBins, expected.run, `${schema} pass ${i} run`)
      assert.equal(sum(series[i].waitBins), series[i].completedDelta + series[i].failedDelta)
      assert.equal(series[i].percentiles[0].waitSeconds, percentile(series[i].waitBins, 50))
    }
  }
  // and read the same times: jobs that waited about 2 s and ran about 1 s
  for (const s of [a[1], b[1]]) {
    const [{ waitSeconds, runSeconds }] = s.percentiles
    assert.ok(waitSeconds >= 1.8 && waitSeconds < 3.7, `wait ${waitSeconds}`)
    assert.ok(runSeconds >= 0.9 && runSeconds < 2.6, `run ${runSeconds}`)
  }
  // the oldest ready job had waited since the first sends; none was ready at the third pass
  for (const [s, run] of [[a, mine], [b, theirs]]) {
    assert.ok(Math.abs(s[1].readyOldestSeconds - run.readyWait) <= 1.5, `${s[1].readyOldestSeconds} vs ${run.readyWait}`)
    assert.equal(s[2].readyOldestSeconds, 0)
  }
  // the queue row carries the last pass's values, empty slots as 0, as 12.38 hands them out
  const [rowA, rowB] = [await ours.getQueue(q), await ref.getQueue(q)]
  for (const [row, s] of [[rowA, a[2]], [rowB, b[2]]]) {
    for (const k of ['createdDelta', 'completedDelta', 'failedDelta', 'deltaSeconds', 'waitBins', 'runBins', 'readyOldestSeconds']) {
      assert.deepEqual(row[k], s[k], k)
    }
    assert.deepEqual(row.deltaOn, s.deltaOn)
  }
  assert.deepEqual((await ours.getQueues([q]))[0].waitBins, rowA.waitBins)
  // a bucket over the whole series sums the counters and histograms in both
  const [bucketA] = await ours.getQueueStats(q, { bucketSeconds: 86400 })
  const [bucketB] = await ref.getQueueStats(q, { bucketSeconds: 86400 })
  assert.deepEqual(counters(bucketA), [10, 7, 1])
  assert.deepEqual(counters(bucketA), counters(bucketB))
  assert.equal(sum(bucketA.runBins), 8)
})

test('a mixed fleet sharing the monitor claim counts each job once, across a pass that does not count', async () => {
  const q = 'fleet'
  const a = await startBoss(MIXED, options)
  const b = await startPgBoss(MIXED, { ...options, migrate: false })
  const plain = await startPgBoss(MIXED, { monitorIntervalSeconds: 1, migrate: false })
  const plainOurs = await startBoss(MIXED, { monitorIntervalSeconds: 1, migrate: false })
  try {
    await a.createQueue(q, { retryLimit: 0 })
    await a.supervise(q) // opens the window
    const started = Date.now()
    for (let round = 0; round < 5; round++) {
      await (round % 2 ? a : b).insert(q, Array.from({ length: 4 }, () => ({ data: {} })))
      const jobs = await (round % 2 ? b : a).fetch(q, { batchSize: 4 })
      await (round % 2 ? b : a).complete(q, jobs.slice(0, 3).map(j => j.id))
      await (round % 2 ? a : b).fail(q, jobs[3].id)
      await sleep(800)
    }
    // passes 10 s on split the work between the instances' windows; the plain ones count nothing
    await sleep(Math.max(0, started + LAG_MS + 500 - Date.now()))
    const order = [a, b, plain, a, plainOurs, b, a, b]
    for (const member of order) {
      await member.supervise(q)
      await sleep(1100)
    }
    await sleep(Math.max(0, started + 4 * 800 + LAG_MS + 1500 - Date.now()))
    await a.supervise(q)
    const series = await a.getQueueStats(q)
    assert.deepEqual(series, await b.getQueueStats(q))
    const total = k => series.reduce((n, s) => n + (s[k] ?? 0), 0)
    assert.equal(total('createdDelta'), 20)
    assert.equal(total('completedDelta'), 15)
    assert.equal(total('failedDelta'), 5)
    // each counting pass wrote one snapshot, and the work landed in more than one of them
    assert.equal(series.length, 1 + (order.length - 2) + 1)
    assert.ok(series.filter(s => s.completedDelta > 0).length >= 2, JSON.stringify(series.map(s => s.completedDelta)))
    // the windows tile: every job finished in exactly one
    const ends = await windowEnds(MIXED, q)
    const { rows: [{ n }] } = await db.query(
      `SELECT count(*)::int AS n FROM ${MIXED}.job WHERE name = $1 AND completed_on >= $2::timestamptz AND completed_on < $3::timestamptz`,
      [q, ends[0], ends.at(-1)])
    assert.equal(n, 20)
  } finally {
    await a.stop()
    await plainOurs.stop()
    await b.stop({ graceful: false })
    await plain.stop({ graceful: false })
  }
})

/** Two passes, then a job committed late into the second pass's window, then a third pass. */
async function lateCommit (boss, schema, q) {
  await boss.createQueue(q)
  await boss.supervise(q)
  await sleep(1100)
  await boss.supervise(q)
  const [, second] = await windowEnds(schema, q)
  // as a transaction that began inside the window and committed after the pass counted it
  await db.query(
    `INSERT INTO ${schema}.job (name, data, created_on, start_after, started_on, completed_on, state)
     VALUES ($1, '{}', $2::timestamptz - interval '0.5 seconds', $2::timestamptz - interval '0.5 seconds',
       $2::timestamptz - interval '0.4 seconds', $2::timestamptz - interval '0.2 seconds', 'completed')`, [q, second])
  await sleep(1100)
  await boss.supervise(q)
  return history(boss, q)
}

test('a job committed after its window was counted is trued up into that window\'s snapshot', async () => {
  const q = 'late'
  const [a, b] = await Promise.all([lateCommit(ours, OURS, q), lateCommit(ref, REF, q)])
  const counters = s => [s.createdDelta, s.completedDelta, s.failedDelta]
  assert.deepEqual(a.map(counters), [[0, 0, 0], [1, 1, 0], [0, 0, 0]])
  assert.deepEqual(a.map(counters), b.map(counters))
  // the histograms are the pass's own and are not revised
  assert.equal(sum(a[1].runBins), 0)
  assert.equal(sum(b[1].runBins), 0)
})
