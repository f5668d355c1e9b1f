// The workloads. Each runs against one side (pg-boss or pg-boss-native) in its own schema, which
// it drops and recreates first, and returns what it measured. Both sides get the same options.
import { cpuDelta, cpuSnapshot, jobCounts, median, percentile, sleep, untilSettled } from './measure.mjs'

const QUEUE = 'bench'
const QUEUE_OPTIONS = { retryLimit: 0 } // a failed job is failed for good: drains end in completed or failed
const CHUNK = 10_000

/** Drops the side's schema, starts an instance (which installs it) and creates the queue. */
async function freshInstance (ctx, queueOptions = QUEUE_OPTIONS, options = {}) {
  await ctx.db.query(`DROP SCHEMA IF EXISTS ${ctx.schema} CASCADE`)
  const boss = await started(ctx, options)
  await boss.createQueue(QUEUE, queueOptions)
  return boss
}

async function started (ctx, options = {}) {
  const boss = new ctx.PgBoss({ ...ctx.options, ...options })
  boss.on('error', err => console.error(`[${ctx.side}] error event:`, err.message))
  await boss.start()
  return boss
}

/** Inserts jobs `from`..`to`-1 of the queue, in chunks: job `i` is `job(i)`, by default `{ data: { i } }`. */
async function prefill (boss, from, to, job = i => ({ data: { i } })) {
  for (let start = from; start < to; start += CHUNK) {
    const end = Math.min(to, start + CHUNK)
    await boss.insert(QUEUE, Array.from({ length: end - start }, (_, k) => job(start + k)))
  }
}

/**
 * A queue holding `n` ready jobs, made by an instance that is stopped again, so the instance that
 * drains starts with the queue (and its ready count, which burstWhenReadyExceeds reads) cached.
 */
async function prefilled (ctx, n, queueOptions) {
  const boss = await freshInstance(ctx, queueOptions)
  await prefill(boss, 0, n)
  await boss.getQueueStats(QUEUE) // captures the ready count into the queue row
  await boss.stop({ graceful: false })
  await ctx.db.query(`ANALYZE ${ctx.schema}.job`)
}

/**
 * Runs `fn` and returns its wall time, the CPU it cost here and on the server, and the WAL it
 * wrote. A checkpoint first (unless `checkpoint: false`): the server's checkpoints otherwise fall
 * where the WAL volume of earlier runs puts them, and one starting inside a timed part slows that
 * side alone (every page it touches first writes a full image to the WAL); after one, both sides
 * start from the same state and stay well below the next (~1.3 KB of WAL per drained job).
 */
async function measured (ctx, fn, { checkpoint = true } = {}) {
  if (checkpoint) await ctx.db.query('CHECKPOINT').catch(() => {}) // needs superuser or pg_checkpoint
  const lsn = (await ctx.db.query('SELECT pg_current_wal_lsn() AS lsn')).rows[0].lsn
  const before = cpuSnapshot(ctx.postmaster)
  const t0 = performance.now()
  const result = await fn()
  const seconds = (performance.now() - t0) / 1000
  const cpu = cpuDelta(before, cpuSnapshot(ctx.postmaster))
  const wal = (await ctx.db.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::float8 AS bytes', [lsn])).rows[0].bytes
  return { seconds, ...cpu, walBytes: wal, ...result }
}

function verify (counts, expected) {
  const wrong = Object.entries(expected).filter(([k, v]) => counts[k] !== v)
  return wrong.length ? `WRONG: expected ${JSON.stringify(expected)}, database has ${JSON.stringify(counts)}` : 'ok'
}

// ---- enqueue ----

async function sendMany (ctx, senders) {
  const boss = await freshInstance(ctx)
  const n = ctx.n
  let next = 0
  const m = await measured(ctx, () => Promise.all(Array.from({ length: senders }, async () => {
    while (next < n) await boss.send(QUEUE, { i: next++ })
  })))
  const counts = await jobCounts(ctx.db, ctx.schema, QUEUE)
  await boss.stop({ graceful: false })
  return { ...m, n, rate: n / m.seconds, check: verify(counts, { created: n, total: n }) }
}

async function insertMany (ctx, calls) {
  const boss = await freshInstance(ctx)
  const n = ctx.n
  const per = n / calls
  const batches = Array.from({ length: calls }, (_, c) =>
    Array.from({ length: per }, (_, k) => ({ data: { i: c * per + k } })))
  const m = await measured(ctx, async () => { for (const jobs of batches) await boss.insert(QUEUE, jobs) })
  const counts = await jobCounts(ctx.db, ctx.schema, QUEUE)
  await boss.stop({ graceful: false })
  return { ...m, n, rate: n / m.seconds, check: verify(counts, { created: n, total: n }) }
}

// ---- drain ----

const failing = job => job.data.i % 10 === 0 // 10% of jobs

/**
 * Drains a prefilled queue of ctx.n jobs. `subscribe(boss, onSeen)` registers the worker; the time
 * runs from just before it until the database counts every job completed or failed.
 */
async function drain (ctx, subscribe, { failures = false } = {}) {
  const n = ctx.n
  await prefilled(ctx, n)
  const boss = await started(ctx)
  let seen = 0
  const m = await measured(ctx, async () => {
    await subscribe(boss, count => { seen += count })
    return { counts: await untilSettled(ctx.db, ctx.schema, QUEUE, n, () => seen, ctx.limits) }
  })
  await boss.offWork(QUEUE, { wait: false })
  await boss.stop({ graceful: false })
  const failed = failures ? n / 10 : 0
  return { ...m, n, rate: n / m.seconds, check: verify(m.counts, { completed: n - failed, failed }) }
}

const drainWork = options => ctx => drain(ctx, (boss, onSeen) =>
  boss.work(QUEUE, options, async jobs => { onSeen(jobs.length) }))

const BURST = { burstWhenBatchFull: true }

/** batchSize 100, perJobResults: the handler settles each job; 10% fail. */
const drainPerJob = ctx => drain(ctx, (boss, onSeen) =>
  boss.work(QUEUE, { batchSize: 100, perJobResults: true, ...BURST }, async jobs => {
    onSeen(jobs.length)
    return jobs.map(job => ({ id: job.id, status: failing(job) ? 'failed' : 'completed' }))
  }), { failures: true })

/** pg-boss-native's workEach: one job per handler call, 16 at once; 10% throw. */
const drainEach = ctx => drain(ctx, (boss, onSeen) =>
  boss.workEach(QUEUE, { batchSize: 100, concurrency: 16, ...BURST }, async job => {
    onSeen(1)
    if (failing(job)) throw new Error('fails on purpose')
  }), { failures: true })

// ---- latency ----

/**
 * send() → handler start, LISTEN/NOTIFY on. One job at a time: the next is sent once the worker
 * is idle again, so each measures a wake-up, not a queue.
 */
async function latency (ctx) {
  const boss = await freshInstance(ctx, { ...QUEUE_OPTIONS, notify: true }, { useListenNotify: true })
  const n = ctx.n
  const warmup = 5
  const samples = []
  let arrived = () => {}
  await boss.work(QUEUE, { batchSize: 1 }, async ([job]) => {
    samples.push(performance.now() - job.data.sentAt)
    arrived()
  })
  await sleep(500) // first empty fetch done, worker waiting on NOTIFY
  if (ctx.startAt) await sleep(Math.max(0, ctx.startAt - Date.now())) // the other side is set up too
  // no checkpoint: the other side is measuring at this moment (and WAL counts both sides)
  const m = await measured(ctx, async () => {
    for (let k = 0; k < n + warmup; k++) {
      const got = new Promise(resolve => { arrived = resolve })
      await boss.send(QUEUE, { i: k, sentAt: performance.now() })
      const timeout = sleep(10_000).then(() => 'timeout')
      if (await Promise.race([got, timeout]) === 'timeout') throw new Error(`job ${k}: handler not called within 10 s of send()`)
      await sleep(20) // let the worker complete it and go back to waiting
    }
    return { counts: await untilSettled(ctx.db, ctx.schema, QUEUE, n + warmup, () => samples.length, ctx.limits) }
  }, { checkpoint: false })
  await boss.stop({ graceful: false })
  const sorted = samples.slice(warmup).sort((a, b) => a - b)
  return {
    ...m,
    n,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    check: verify(m.counts, { completed: n + warmup })
  }
}

// ---- key_strict_fifo ----

/**
 * A key_strict_fifo queue of ctx.n jobs over ctx.n / 10 keys: 9 fetches of 50 (each completed
 * before the next), timed one by one. The backlog is what such a fetch must not grow with.
 */
async function fifoFetch (ctx) {
  const boss = await freshInstance(ctx, { ...QUEUE_OPTIONS, policy: 'key_strict_fifo' })
  const n = ctx.n
  const keys = Math.max(1, Math.floor(n / 10))
  await prefill(boss, 0, n, i => ({ data: { i }, singletonKey: `k${i % keys}` }))
  await ctx.db.query(`ANALYZE ${ctx.schema}.job`)
  const times = []
  const sizes = []
  const m = await measured(ctx, async () => {
    for (let k = 0; k < 9; k++) {
      const t0 = performance.now()
      const jobs = await boss.fetch(QUEUE, { batchSize: 50 })
      times.push(performance.now() - t0)
      sizes.push(jobs.length)
      await boss.complete(QUEUE, jobs.map(j => j.id))
    }
    return {}
  })
  await boss.stop({ graceful: false })
  const sorted = times.sort((a, b) => a - b)
  const short = sizes.filter(x => x !== 50)
  return {
    ...m,
    n: 9 * 50,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    check: short.length ? `WRONG: fetches returned ${sizes.join(', ')} jobs, expected 50 each` : 'ok'
  }
}

// ---- scale ----

const FETCH_SAMPLES = 15

/**
 * Fills the queue to ctx.n and times a fetch of 100 at a 10,000 backlog and at ctx.n (median of
 * FETCH_SAMPLES: five right after a million-row insert measured noise, not the fetch).
 */
async function scaleFetch (ctx) {
  const boss = await freshInstance(ctx)
  const timeFetches = async () => {
    const times = []
    for (let k = 0; k < FETCH_SAMPLES; k++) {
      const t0 = performance.now()
      const jobs = await boss.fetch(QUEUE, { batchSize: 100 })
      times.push(performance.now() - t0)
      await boss.complete(QUEUE, jobs.map(j => j.id))
    }
    return median(times)
  }
  const small = Math.min(10_000, ctx.n)
  await prefill(boss, 0, small)
  await ctx.db.query(`ANALYZE ${ctx.schema}.job`)
  const fetchSmallMs = await timeFetches()
  const t0 = performance.now()
  await prefill(boss, small, ctx.n)
  const prefillSeconds = (performance.now() - t0) / 1000
  await ctx.db.query(`ANALYZE ${ctx.schema}.job`)
  const fetchLargeMs = await timeFetches()
  await boss.stop({ graceful: false })
  return { n: ctx.n, small, fetchSmallMs, fetchLargeMs, prefillSeconds }
}

/** Drains the queue scaleFetch left (batchSize 100, burstWhenBatchFull), watching this process's RSS. */
async function scaleDrain (ctx) {
  const mb = () => process.memoryUsage().rss / 2 ** 20
  const rssStart = mb()
  let rssPeak = rssStart
  const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, mb()) }, 250)
  const boss = await started(ctx)
  const { created: n, completed: before } = await jobCounts(ctx.db, ctx.schema, QUEUE)
  let seen = 0
  const m = await measured(ctx, async () => {
    await boss.work(QUEUE, { batchSize: 100, ...BURST }, async jobs => { seen += jobs.length })
    return { counts: await untilSettled(ctx.db, ctx.schema, QUEUE, n + before, () => seen + before, ctx.limits) }
  })
  const rssEnd = mb()
  clearInterval(sampler)
  await boss.stop({ graceful: false })
  return { ...m, n, rate: n / m.seconds, rssStart, rssEnd, rssPeak: Math.max(rssPeak, rssEnd), check: verify(m.counts, { completed: n + before }) }
}

const W3_C1 = { batchSize: 1, localConcurrency: 1, burstWhenReadyExceeds: 10, ...BURST }
const W3_C16 = { batchSize: 1, localConcurrency: 16, burstWhenReadyExceeds: 10, ...BURST }
// the jobs each W3 loop holds claimed ahead with `prefetch`: a local queue of that many
const W3_LOCAL_QUEUE = Number(process.env.BENCH_W3_PREFETCH ?? 100)
const W4_B100 = { batchSize: 100, ...BURST }
const W4_B1000 = { batchSize: 1000, ...BURST }

/**
 * A drain row and, beside it, the same drain with pg-boss-native's `prefetch` (native only):
 * `true` (one batch ahead) for batch drains; for batchSize 1, `prefetch` jobs as a local queue
 * (graphile-worker's `localQueue` counterpart, which the peers' W3 rows run with 100).
 */
function withPrefetch (row, options, prefetch = true) {
  const base = { ...row, run: drainWork(options) }
  const title = prefetch === true ? `${row.title}, prefetch` : `${row.title}, prefetch ${prefetch}`
  return [base, { ...base, id: `${row.id}-prefetch`, title, run: drainWork({ ...options, prefetch }), nativeOnly: true }]
}

// quick and full sizes are job counts
export const WORKLOADS = [
  { id: 'W1-send-1', title: 'W1 send(), 1 sender', unit: 'jobs/s', quick: 1_000, full: 5_000, run: ctx => sendMany(ctx, 1) },
  { id: 'W1-send-16', title: 'W1 send(), 16 senders', unit: 'jobs/s', quick: 5_000, full: 50_000, run: ctx => sendMany(ctx, 16) },
  { id: 'W2-insert', title: 'W2 insert() 20,000 in 4 calls', unit: 'jobs/s', quick: 20_000, full: 20_000, run: ctx => insertMany(ctx, 4) },
  // each drain beside the same drain with pg-boss-native's opt-in claim ahead (`prefetch`)
  ...withPrefetch({ id: 'W3-b1-c1', title: 'W3 drain batch 1, localConcurrency 1', unit: 'jobs/s', quick: 1_000, full: 10_000 }, W3_C1, W3_LOCAL_QUEUE),
  ...withPrefetch({ id: 'W3-b1-c16', title: 'W3 drain batch 1, localConcurrency 16', unit: 'jobs/s', quick: 5_000, full: 50_000 }, W3_C16, W3_LOCAL_QUEUE),
  ...withPrefetch({ id: 'W4-b100', title: 'W4 drain batch 100', unit: 'jobs/s', quick: 20_000, full: 200_000 }, W4_B100),
  ...withPrefetch({ id: 'W4-b1000', title: 'W4 drain batch 1000', unit: 'jobs/s', quick: 20_000, full: 200_000 }, W4_B1000),
  { id: 'W5-perjob', title: 'W5 batch 100 perJobResults, 10% fail', unit: 'jobs/s', quick: 10_000, full: 100_000, run: drainPerJob },
  { id: 'W5-each', title: 'W5 workEach batch 100 conc 16, 10% fail', unit: 'jobs/s', quick: 10_000, full: 100_000, run: drainEach, nativeOnly: true },
  { id: 'W6-notify', title: 'W6 send→handler latency, NOTIFY', unit: 'ms', quick: 200, full: 1_000, run: latency, together: true },
  { id: 'K1-fifo', title: 'K1 key_strict_fifo fetch of 50, keys = jobs/10', unit: 'ms', quick: 20_000, full: 100_000, run: fifoFetch }
]

export const SCALE = { fetch: scaleFetch, drain: scaleDrain }

// for the modules beside this one (floors, peers, W7/W8)
export { BURST, QUEUE, QUEUE_OPTIONS, drain, freshInstance, measured, prefill, started, verify }
