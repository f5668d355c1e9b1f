// BullMQ (a devDependency) on the machine's Redis (BENCH_REDIS_URL, default
// redis://127.0.0.1:6379), with its fastest documented settings: `addBulk` for bulk inserts and
// worker concurrency. Every run uses its own key prefix, deleted before and after, so runs do not
// share state. Counts are read from Redis (`getJobCounts`); completed and failed jobs are kept
// (BullMQ's defaults), so they can be counted. Redis's own CPU is not measured (server CPU and
// WAL are PostgreSQL's and say nothing here): n/a in the table.
import { Queue, Worker } from 'bullmq'
import IORedis from 'ioredis'
import { failing, sendFrom, untilCounted } from './common.mjs'
import { cpuDelta, cpuSnapshot, percentile, sleep } from '../measure.mjs'

const REDIS = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379'
const NAME = 'bench'
const CHUNK = 1000

const DRAIN = {
  'W3-b1-c1': { concurrency: 1 },
  'W3-b1-c16': { concurrency: 16 },
  'W5-each': { concurrency: 16, failures: true }
}

export const NOT_RUN = {
  'W4-b100': 'no batch handler in open-source BullMQ (batches are BullMQ Pro)',
  'W4-b1000': 'no batch handler in open-source BullMQ (batches are BullMQ Pro)',
  'W5-perjob': 'no batch handler (one job per call): its one-job-per-call run is the W5 workEach row',
  'W7-io-b50': 'no batch handler in open-source BullMQ: a 10 ms wait per job is another workload',
  'K1-fifo': 'no key_strict_fifo policy'
}

export function settings (id) {
  const d = DRAIN[id]
  if (d) return `Worker concurrency ${d.concurrency}`
  if (id === 'W8-queues') return `50 queues with jobs, a Worker of concurrency ${W8_CONCURRENCY} on each (its other queues hold no state in Redis until used); no fetch/settle latencies (no fetch API)`
  if (id === 'W6-notify') return 'Worker concurrency 1 (blocking wait on Redis)'
  if (id.startsWith('W2')) return 'addBulk, 4 calls'
  return 'add'
}

const W8_BUSY = 50
const W8_CONCURRENCY = 10 // the pg-boss sides' batchSize per queue: ten jobs in hand per queue

/** A fresh key prefix for this process, with its keys removed before and after. */
async function store (name = NAME) {
  const prefix = `bench-bullmq-${process.pid}`
  const redis = new IORedis(REDIS, { maxRetriesPerRequest: null })
  const clean = async () => {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length) await redis.del(...keys)
    } while (cursor !== '0')
  }
  await clean()
  const connection = { url: REDIS, maxRetriesPerRequest: null }
  const queue = new Queue(name, { connection, prefix })
  await queue.waitUntilReady()
  return {
    queue,
    connection,
    prefix,
    worker: (processor, concurrency) => new Worker(name, processor, { connection, prefix, concurrency }),
    counts: async () => {
      const c = await queue.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed', 'prioritized')
      return { ...c, total: Object.values(c).reduce((a, b) => a + b, 0) }
    },
    close: async () => { await queue.close(); await clean(); await redis.quit() }
  }
}

/** Wall time and client CPU of `fn` (no PostgreSQL numbers: BullMQ's store is Redis). */
async function timed (fn) {
  const before = cpuSnapshot(null)
  const t0 = performance.now()
  const result = await fn()
  const seconds = (performance.now() - t0) / 1000
  return { seconds, clientCpu: cpuDelta(before, cpuSnapshot(null)).clientCpu, serverCpu: null, walBytes: null, ...result }
}

function expect (counts, expected) {
  const wrong = Object.entries(expected).filter(([k, v]) => counts[k] !== v)
  return wrong.length ? `WRONG: expected ${JSON.stringify(expected)}, Redis has ${JSON.stringify(counts)}` : 'ok'
}

async function send (ctx, senders) {
  const s = await store()
  const n = ctx.n
  const m = await timed(() => sendFrom(senders, n, i => s.queue.add(NAME, { i })))
  const c = await s.counts()
  await s.close()
  return { ...m, n, rate: n / m.seconds, check: expect(c, { waiting: n, total: n }) }
}

async function insert (ctx, calls) {
  const s = await store()
  const n = ctx.n
  const per = n / calls
  const batches = Array.from({ length: calls }, (_, c) =>
    Array.from({ length: per }, (_, k) => ({ name: NAME, data: { i: c * per + k } })))
  const m = await timed(async () => { for (const jobs of batches) await s.queue.addBulk(jobs) })
  const c = await s.counts()
  await s.close()
  return { ...m, n, rate: n / m.seconds, check: expect(c, { waiting: n, total: n }) }
}

async function drain (ctx, options) {
  const s = await store()
  const n = ctx.n
  for (let start = 0; start < n; start += CHUNK) {
    const jobs = []
    for (let i = start; i < Math.min(n, start + CHUNK); i++) jobs.push({ name: NAME, data: { i } })
    await s.queue.addBulk(jobs)
  }
  let seen = 0
  let w
  const m = await timed(async () => {
    w = s.worker(async job => {
      seen++
      if (options.failures && failing(job.data.i)) throw new Error('fails on purpose')
    }, options.concurrency)
    return { counts: await untilCounted(s.counts, n, () => seen, ctx.limits) }
  })
  await w.close()
  const c = await s.counts()
  await s.close()
  const failed = options.failures ? n / 10 : 0
  return { ...m, n, rate: n / m.seconds, check: expect(c, { completed: n - failed, failed, total: n }) }
}

async function latency (ctx) {
  const s = await store()
  const n = ctx.n
  const warmup = 5
  const samples = []
  let arrived = () => {}
  const w = s.worker(async job => {
    samples.push(performance.now() - job.data.sentAt)
    arrived()
  }, 1)
  await w.waitUntilReady()
  await sleep(500)
  if (ctx.startAt) await sleep(Math.max(0, ctx.startAt - Date.now()))
  const m = await timed(async () => {
    for (let k = 0; k < n + warmup; k++) {
      const got = new Promise(resolve => { arrived = resolve })
      await s.queue.add(NAME, { i: k, sentAt: performance.now() })
      const timeout = sleep(10_000).then(() => 'timeout')
      if (await Promise.race([got, timeout]) === 'timeout') throw new Error(`job ${k}: processor not called within 10 s of add()`)
      await sleep(20)
    }
    return { counts: await untilCounted(s.counts, n + warmup, () => samples.length, ctx.limits) }
  })
  await w.close()
  await s.close()
  const sorted = samples.slice(warmup).sort((a, b) => a - b)
  return { ...m, n, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), check: expect(m.counts, { completed: n + warmup, failed: 0 }) }
}

/** W8: jobs on 50 queues, a Worker on each; the time runs from the Workers' start until Redis counts all done. */
async function manyQueues (ctx) {
  const s = await store()
  const perQueue = Math.ceil(ctx.n / W8_BUSY)
  const n = perQueue * W8_BUSY
  const names = Array.from({ length: W8_BUSY }, (_, k) => `q${String(k).padStart(5, '0')}`)
  const queues = names.map(name => new Queue(name, { connection: s.connection, prefix: s.prefix }))
  for (const q of queues) {
    for (let start = 0; start < perQueue; start += CHUNK) {
      const jobs = []
      for (let i = start; i < Math.min(perQueue, start + CHUNK); i++) jobs.push({ name: NAME, data: { i } })
      await q.addBulk(jobs)
    }
  }
  const counts = async () => {
    const all = await Promise.all(queues.map(q => q.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed', 'prioritized')))
    const sum = Object.fromEntries(Object.keys(all[0]).map(k => [k, all.reduce((a, c) => a + c[k], 0)]))
    return { ...sum, total: Object.values(sum).reduce((a, b) => a + b, 0) }
  }
  let seen = 0
  let workers
  const m = await timed(async () => {
    workers = names.map(name => new Worker(name, async () => { seen++ }, { connection: s.connection, prefix: s.prefix, concurrency: W8_CONCURRENCY }))
    return { counts: await untilCounted(counts, n, () => seen, ctx.limits) }
  })
  await Promise.all(workers.map(w => w.close()))
  const c = await counts()
  await Promise.all(queues.map(q => q.close()))
  await s.close()
  return { ...m, n, rate: n / m.seconds, check: expect(c, { completed: n, failed: 0, total: n }) }
}

export const RUNS = {
  'W8-queues': manyQueues,
  'W1-send-1': ctx => send(ctx, 1),
  'W1-send-16': ctx => send(ctx, 16),
  'W2-insert': ctx => insert(ctx, 4),
  ...Object.fromEntries(Object.entries(DRAIN).map(([id, o]) => [id, ctx => drain(ctx, o)])),
  'W6-notify': latency
}
