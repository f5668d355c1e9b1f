// graphile-worker (a devDependency) on the workloads it can run, in its own schema on the same
// PostgreSQL, with its fastest documented settings (https://worker.graphile.org/docs/performance):
// a local queue (jobs claimed in batches) and batched completions and failures. Counts are read
// from its own job table: a completed job is deleted, a failed one stays with
// attempts = max_attempts, so "completed" is what was created less what remains.
import { Logger, makeWorkerUtils, run } from 'graphile-worker'
import { failing, sendFrom, untilCounted } from './common.mjs'
import { percentile, sleep } from '../measure.mjs'
import { measured, verify } from '../workloads.mjs'

export const SCHEMA = 'bench_graphile'
const TASK = 'bench'
const quiet = new Logger(() => () => {})
const CHUNK = 10_000

/**
 * The settings each drain runs with, printed with the results. W3's local queue (100: its
 * batching at its fastest here) is BENCH_GRAPHILE_W3_LOCAL_QUEUE when set, e.g. 2 or 17 (its docs'
 * "concurrentJobs + 1" starting point) or 1 (off: one job claimed per fetch, pg-boss's loop).
 */
const W3_LOCAL_QUEUE = Number(process.env.BENCH_GRAPHILE_W3_LOCAL_QUEUE || 100)
const DRAIN = {
  'W3-b1-c1': { concurrency: 1, localQueue: W3_LOCAL_QUEUE },
  'W3-b1-c16': { concurrency: 16, localQueue: W3_LOCAL_QUEUE },
  'W4-b100': { concurrency: 16, localQueue: 100 },
  'W4-b1000': { concurrency: 16, localQueue: 1000 },
  'W5-each': { concurrency: 16, localQueue: 100, failures: true }
}
const BATCH_DELAY_MS = 0 // completeJobBatchDelay / failJobBatchDelay: batch what finishes in one tick

export const NOT_RUN = {
  'W5-perjob': 'no batch handler (one job per call): its one-job-per-call run is the W5 workEach row',
  'W7-io-b50': 'no batch handler: a 10 ms wait per job is another workload',
  'K1-fifo': 'no key_strict_fifo policy'
}

export function settings (id) {
  const d = DRAIN[id]
  if (d) return `concurrency ${d.concurrency}, localQueue ${d.localQueue > 1 ? d.localQueue : 'off'}, complete/failJobBatchDelay ${BATCH_DELAY_MS} ms`
  if (id === 'W6-notify') return 'concurrency 1, LISTEN/NOTIFY (its default)'
  if (id === 'W8-queues') return `50 task identifiers with jobs, one runner for them: concurrency ${W8.concurrency}, localQueue ${W8.localQueue} (its tasks share one table: the idle queues have no counterpart); no fetch/settle latencies`
  if (id.startsWith('W2')) return 'addJobs, 4 calls'
  return 'addJob'
}

async function utils (ctx, { fresh = true } = {}) {
  if (fresh) await ctx.db.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)
  const u = await makeWorkerUtils({ connectionString: ctx.connection, schema: SCHEMA, logger: quiet })
  await u.migrate()
  return u
}

async function counts (db) {
  const { rows } = await db.query(
    `SELECT count(*)::int AS total,
            count(*) FILTER (WHERE attempts >= max_attempts AND locked_at IS NULL)::int AS failed
       FROM ${SCHEMA}._private_jobs`)
  return rows[0]
}

function runner (ctx, options, task) {
  return run({
    connectionString: ctx.connection,
    schema: SCHEMA,
    concurrency: options.concurrency,
    maxPoolSize: Math.max(10, options.concurrency + 2), // the documented advice
    noHandleSignals: true,
    logger: quiet,
    crontab: '',
    taskList: { [TASK]: task },
    preset: {
      worker: {
        localQueue: options.localQueue > 1 ? { size: options.localQueue } : undefined,
        completeJobBatchDelay: BATCH_DELAY_MS,
        failJobBatchDelay: BATCH_DELAY_MS
      }
    }
  })
}

async function send (ctx, senders) {
  const u = await utils(ctx)
  const n = ctx.n
  const m = await measured(ctx, () => sendFrom(senders, n, i => u.addJob(TASK, { i }, { maxAttempts: 1 })))
  const c = await counts(ctx.db)
  await u.release()
  return { ...m, n, rate: n / m.seconds, check: verify(c, { total: n, failed: 0 }) }
}

async function insert (ctx, calls) {
  const u = await utils(ctx)
  const n = ctx.n
  const per = n / calls
  const batches = Array.from({ length: calls }, (_, c) =>
    Array.from({ length: per }, (_, k) => ({ identifier: TASK, payload: { i: c * per + k }, maxAttempts: 1 })))
  const m = await measured(ctx, async () => { for (const jobs of batches) await u.addJobs(jobs) })
  const c = await counts(ctx.db)
  await u.release()
  return { ...m, n, rate: n / m.seconds, check: verify(c, { total: n, failed: 0 }) }
}

async function drain (ctx, options) {
  const n = ctx.n
  const u = await utils(ctx)
  for (let start = 0; start < n; start += CHUNK) {
    const jobs = []
    for (let i = start; i < Math.min(n, start + CHUNK); i++) jobs.push({ identifier: TASK, payload: { i }, maxAttempts: 1 })
    await u.addJobs(jobs)
  }
  await u.release()
  await ctx.db.query(`ANALYZE ${SCHEMA}._private_jobs`)
  let seen = 0
  let r
  const m = await measured(ctx, async () => {
    r = await runner(ctx, options, async payload => {
      seen++
      if (options.failures && failing(payload.i)) throw new Error('fails on purpose')
    })
    const settled = async () => { const c = await counts(ctx.db); return { completed: n - c.total, failed: c.failed } }
    return { counts: await untilCounted(settled, n, () => seen, ctx.limits) }
  })
  await r.stop()
  const failed = options.failures ? n / 10 : 0
  return { ...m, n, rate: n / m.seconds, check: verify(m.counts, { completed: n - failed, failed }) }
}

async function latency (ctx) {
  const u = await utils(ctx)
  const n = ctx.n
  const warmup = 5
  const samples = []
  let arrived = () => {}
  const r = await runner(ctx, { concurrency: 1, localQueue: 1 }, async payload => {
    samples.push(performance.now() - payload.sentAt)
    arrived()
  })
  await sleep(500)
  if (ctx.startAt) await sleep(Math.max(0, ctx.startAt - Date.now()))
  const m = await measured(ctx, async () => {
    for (let k = 0; k < n + warmup; k++) {
      const got = new Promise(resolve => { arrived = resolve })
      await u.addJob(TASK, { i: k, sentAt: performance.now() }, { maxAttempts: 1 })
      const timeout = sleep(10_000).then(() => 'timeout')
      if (await Promise.race([got, timeout]) === 'timeout') throw new Error(`job ${k}: task not called within 10 s of addJob()`)
      await sleep(20)
    }
    const settled = async () => { const c = await counts(ctx.db); return { completed: n + warmup - c.total, failed: c.failed } }
    return { counts: await untilCounted(settled, n + warmup, () => samples.length, ctx.limits) }
  }, { checkpoint: false })
  await r.stop()
  await u.release()
  const sorted = samples.slice(warmup).sort((a, b) => a - b)
  return { ...m, n, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), check: verify(m.counts, { completed: n + warmup, failed: 0 }) }
}

const W8 = { concurrency: 16, localQueue: 100, busy: 50 }

/** W8: jobs under 50 task identifiers, one runner with a task for each; timed from run() until its table is empty. */
async function manyTasks (ctx) {
  const perTask = Math.ceil(ctx.n / W8.busy)
  const n = perTask * W8.busy
  const names = Array.from({ length: W8.busy }, (_, k) => `q${String(k).padStart(5, '0')}`)
  const u = await utils(ctx)
  for (const name of names) {
    await u.addJobs(Array.from({ length: perTask }, (_, i) => ({ identifier: name, payload: { i }, maxAttempts: 1 })))
  }
  await u.release()
  await ctx.db.query(`ANALYZE ${SCHEMA}._private_jobs`)
  let seen = 0
  let r
  const m = await measured(ctx, async () => {
    r = await run({
      connectionString: ctx.connection,
      schema: SCHEMA,
      concurrency: W8.concurrency,
      maxPoolSize: W8.concurrency + 2,
      noHandleSignals: true,
      logger: quiet,
      crontab: '',
      taskList: Object.fromEntries(names.map(name => [name, async () => { seen++ }])),
      preset: { worker: { localQueue: { size: W8.localQueue }, completeJobBatchDelay: BATCH_DELAY_MS, failJobBatchDelay: BATCH_DELAY_MS } }
    })
    const settled = async () => { const c = await counts(ctx.db); return { completed: n - c.total, failed: c.failed } }
    return { counts: await untilCounted(settled, n, () => seen, ctx.limits) }
  })
  await r.stop()
  return { ...m, n, rate: n / m.seconds, check: verify(m.counts, { completed: n, failed: 0 }) }
}

export const RUNS = {
  'W8-queues': manyTasks,
  'W1-send-1': ctx => send(ctx, 1),
  'W1-send-16': ctx => send(ctx, 16),
  'W2-insert': ctx => insert(ctx, 4),
  ...Object.fromEntries(Object.entries(DRAIN).map(([id, o]) => [id, ctx => drain(ctx, o)])),
  'W6-notify': latency
}
