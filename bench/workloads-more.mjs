// W7 (a handler bound by I/O) and W8 (many queues), and W8's --scale phase. Same rules as
// workloads.mjs: each runs on one side in its own schema, dropped and recreated first.
import { median, percentile, sleep } from './measure.mjs'
import { BURST, QUEUE_OPTIONS, drain, measured, started, verify } from './workloads.mjs'
import { untilCounted } from './peers/common.mjs'

// ---- W7: batchSize 50, 10 ms of I/O per batch, localConcurrency 4 ----

const W7 = { batchSize: 50, localConcurrency: 4, ioMs: 10 }
/** The handler-bound ceiling: localConcurrency batches of batchSize, each taking ioMs. */
export const W7_CEILING = W7.localConcurrency * W7.batchSize * 1000 / W7.ioMs

/** The W7 drain, with `extra` worker options (the prefetch row's `prefetch: true`). */
const ioBound = (extra = {}) => async ctx => {
  const r = await drain(ctx, (boss, onSeen) =>
    boss.work('bench', { batchSize: W7.batchSize, localConcurrency: W7.localConcurrency, ...BURST, ...extra }, async jobs => {
      await sleep(W7.ioMs) // the handler's I/O: a timer, not CPU
      onSeen(jobs.length)
    }))
  return { ...r, ceiling: W7_CEILING }
}

// ---- W8: many queues (half partitioned), jobs on 50 of them, workers on those 50 ----

const BUSY = 50
const W8_QUEUES = { quick: 100, full: 1_000 }
const W8_BATCH = 10
const SAMPLES = 200 // timed fetch + complete pairs before the drain

const queueName = k => `q${String(k).padStart(5, '0')}`

/**
 * Drops the schema without one transaction locking every partition (each partition's table and
 * indexes take locks, and hundreds of them overflow max_locks_per_transaction): the partitions
 * first, a few at a time, then the schema.
 */
async function dropSchema (db, schema) {
  const { rows } = await db.query(
    `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace
      WHERE n.nspname = $1 AND p.relname = 'job' AND c.relname <> 'job_common'`, [schema])
  for (let k = 0; k < rows.length; k += 20) {
    await db.query(rows.slice(k, k + 20).map(r => `DROP TABLE ${schema}."${r.relname}"`).join('; '))
  }
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
}

/** `count` queues, every other one partitioned; the first BUSY (half of them partitioned) get jobs. */
async function manyQueues (ctx, count, jobsPerQueue) {
  await dropSchema(ctx.db, ctx.schema)
  const boss = await started(ctx)
  for (let k = 0; k < count; k++) await boss.createQueue(queueName(k), { ...QUEUE_OPTIONS, partition: k % 2 === 1 })
  const busy = Array.from({ length: Math.min(BUSY, count) }, (_, k) => queueName(k))
  for (const name of busy) await boss.insert(name, Array.from({ length: jobsPerQueue }, (_, i) => ({ data: { i } })))
  for (const name of busy) await boss.getQueueStats(name) // the ready counts into the queue rows
  await ctx.db.query(`ANALYZE ${ctx.schema}.job`)
  return { boss, busy }
}

async function busyCounts (db, schema, names) {
  const { rows } = await db.query(
    `SELECT count(*) FILTER (WHERE state = 'completed')::int AS completed,
            count(*) FILTER (WHERE state = 'failed')::int AS failed,
            count(*)::int AS total
       FROM ${schema}.job WHERE name = ANY($1)`, [names])
  return rows[0]
}

/** Times `SAMPLES` fetch(batch W8_BATCH) + complete pairs, round robin over the busy queues. */
async function timeFetchSettle (boss, busy, samples = SAMPLES) {
  const fetchMs = []
  const settleMs = []
  for (let k = 0; k < samples; k++) {
    const name = busy[k % busy.length]
    let t0 = performance.now()
    const jobs = await boss.fetch(name, { batchSize: W8_BATCH })
    fetchMs.push(performance.now() - t0)
    t0 = performance.now()
    await boss.complete(name, jobs.map(j => j.id))
    settleMs.push(performance.now() - t0)
  }
  return { fetchMs, settleMs }
}

const p = (xs, q) => percentile([...xs].sort((a, b) => a - b), q)

async function queuesWorkload (ctx) {
  const count = W8_QUEUES[ctx.mode] ?? W8_QUEUES.full
  const perQueue = Math.ceil(ctx.n / BUSY)
  const n = perQueue * BUSY
  const setup = await manyQueues(ctx, count, perQueue)
  await setup.boss.stop({ graceful: false })
  const boss = await started(ctx) // a fresh instance, as the drains have: queue cache loaded at start()
  const { fetchMs, settleMs } = await timeFetchSettle(boss, setup.busy)
  const fetched = SAMPLES * W8_BATCH
  let seen = fetched
  const m = await measured(ctx, async () => {
    for (const name of setup.busy) {
      await boss.work(name, { batchSize: W8_BATCH, ...BURST }, async jobs => { seen += jobs.length })
    }
    // the database's counts decide, the handlers' tally only when to ask
    return { counts: await untilCounted(() => busyCounts(ctx.db, ctx.schema, setup.busy), n, () => seen, ctx.limits) }
  })
  for (const name of setup.busy) await boss.offWork(name, { wait: false })
  await boss.stop({ graceful: false })
  await dropSchema(ctx.db, ctx.schema)
  const drained = n - fetched
  return {
    ...m,
    n: drained,
    rate: drained / m.seconds,
    queues: count,
    fetchP50: p(fetchMs, 0.5),
    fetchP99: p(fetchMs, 0.99),
    settleP50: p(settleMs, 0.5),
    settleP99: p(settleMs, 0.99),
    check: verify(m.counts, { completed: n, failed: 0, total: n })
  }
}

// ---- --scale: W8's fetch time as the number of queues grows ----

export const SCALE_QUEUE_COUNTS = [100, 1_000, 5_000]

/** ctx.queues queues (half partitioned), 100 jobs on each of 50: fetch of 10, median and p99 of 200. */
async function scaleQueues (ctx) {
  const t0 = performance.now()
  const { boss, busy } = await manyQueues(ctx, ctx.queues, 100)
  const setupSeconds = (performance.now() - t0) / 1000
  await boss.stop({ graceful: false })
  const fresh = await started(ctx)
  const { fetchMs, settleMs } = await timeFetchSettle(fresh, busy)
  await fresh.stop({ graceful: false })
  await dropSchema(ctx.db, ctx.schema)
  return { queues: ctx.queues, setupSeconds, fetchMedianMs: median(fetchMs), fetchP99Ms: p(fetchMs, 0.99), settleMedianMs: median(settleMs) }
}

export const MORE_WORKLOADS = [
  { id: 'W7-io-b50', title: 'W7 batch 50, 10 ms I/O per batch, localConcurrency 4', unit: 'jobs/s', quick: 5_000, full: 50_000, run: ioBound() },
  // the W7 target is with claim ahead on: pg-boss-native's `prefetch` (it has no pg-boss counterpart)
  { id: 'W7-io-b50-prefetch', title: 'W7 batch 50, 10 ms I/O per batch, localConcurrency 4, prefetch', unit: 'jobs/s', quick: 5_000, full: 50_000, run: ioBound({ prefetch: true }), nativeOnly: true },
  { id: 'W8-queues', title: 'W8 1,000 queues (100 with --quick), half partitioned, work on 50', unit: 'jobs/s', quick: 5_000, full: 50_000, run: queuesWorkload }
]

export const MORE_SCALE = { queues: scaleQueues }
